//! `kscope probe add|list|del` against the kernel: uprobes on programs compiled at test
//! time (PIE and non-PIE) recorded with `kscope record` and counted exactly, return values
//! and arguments as fetched, the kernel's own explanation of a rejected definition, probes
//! in use, and `kscope reset` leaving persistent probes alone. The `lab_probe_*` tests do
//! the same with kprobes, which this machine lacks (they run in the guest-kernel lab).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require};

/// `kscope_probe_target(i % 7)` is called N times (N = argv[1]); it returns 2x+1. Then
/// `kscope_probe_string(argv[2])` is called once.
const SOURCE: &str = r#"
#include <stdlib.h>
__attribute__((noinline, noclone, used)) int kscope_probe_target(int x) {
    __asm__ volatile("");
    return x * 2 + 1;
}
__attribute__((noinline, noclone, used)) int kscope_probe_string(const char *s) {
    __asm__ volatile("");
    return s[0];
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;
    for (int i = 0; i < n; i++) s += kscope_probe_target(i % 7);
    s += kscope_probe_string(argc > 2 ? argv[2] : "none");
    return s == -1;
}
"#;

const CALLS: usize = 1000;

/// How many of the CALLS calls get the argument `x`.
fn calls_with(x: usize) -> usize {
    (0..CALLS).filter(|i| i % 7 == x).count()
}

/// A temporary directory holding the test program compiled as PIE and non-PIE.
struct Programs {
    dir: PathBuf,
}

impl Drop for Programs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Programs {
    fn build(tag: &str) -> Programs {
        let dir = std::env::temp_dir().join(format!("kscope-probe-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        std::fs::write(dir.join("t.c"), SOURCE).unwrap();
        for (name, flags) in [
            ("pie", ["-fPIE", "-pie"]),
            ("nopie", ["-fno-pie", "-no-pie"]),
        ] {
            let flags = [&["-O1"][..], &flags[..]].concat();
            kscope_testkit::cprogram::compile(&dir.join("t.c"), &dir.join(name), &flags);
        }
        Programs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn kscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running kscope")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn kscope_ok(args: &[&str]) -> String {
    let out = kscope(args);
    assert!(
        out.status.success(),
        "kscope {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Records `events` while `command` runs; returns the event lines of `kscope report`.
fn record(events: &[&str], command: &[&str], expected_events: usize) -> Vec<String> {
    let file = std::env::temp_dir().join(format!(
        "kscope-probe-test-{}-{}.dat",
        std::process::id(),
        events.join("_").replace(':', "_")
    ));
    let file_arg = file.display().to_string();
    let mut args = vec!["record"];
    for e in events {
        args.extend(["-e", e]);
    }
    args.extend(["-o", &file_arg, "--"]);
    args.extend(command);
    let out = kscope(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with(&format!("kscope record: {expected_events} events on ")),
        "{stderr}"
    );
    let report = kscope_ok(&["report", &file_arg]);
    std::fs::remove_file(&file).unwrap();
    report
        .lines()
        .filter(|l| !l.starts_with("cpus="))
        .map(str::to_string)
        .collect()
}

/// The value of `field=` in each line of `event`.
fn field_values(lines: &[String], event: &str, field: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(&format!(" {event}: ")))
        .map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{field}=")))
                .unwrap_or_else(|| panic!("no {field}= in {l}"))
                .to_string()
        })
        .collect()
}

fn count(values: &[String], value: &str) -> usize {
    values.iter().filter(|v| *v == value).count()
}

#[test]
fn a_uprobe_counts_every_call_with_its_argument_in_pie_and_non_pie_programs() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("entry");
    let before = KernelState::capture();
    let dynamic_events = || std::fs::read_to_string("/sys/kernel/tracing/dynamic_events").ok();
    let dynamic_events_before = dynamic_events();
    // `argN` becomes the ABI's register; `NAME=%reg:TYPE` goes through as the kernel's syntax.
    for (variant, arg) in [("pie", "arg1:s32"), ("nopie", "arg1=%di:s32")] {
        let name = format!("kt_entry_{variant}");
        let bin = programs.path(variant);
        let out = kscope_ok(&[
            "probe",
            "add",
            "--name",
            &name,
            &format!("{bin}:kscope_probe_target"),
            arg,
        ]);
        assert!(
            out.starts_with(&format!(
                "added kscope:{name} (uprobe on kscope_probe_target at file offset 0x"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("kscope record -e kscope:{name}")),
            "{out}"
        );
        let lines = record(&[&format!("kscope:{name}")], &[&bin, "1000"], CALLS);
        let args = field_values(&lines, &name, "arg1");
        assert_eq!(args.len(), CALLS, "{variant}");
        for x in 0..7 {
            assert_eq!(
                count(&args, &x.to_string()),
                calls_with(x),
                "{variant} arg {x}"
            );
        }
        assert_eq!(
            kscope_ok(&["probe", "del", &name]),
            format!("deleted kscope:{name}\n")
        );
    }
    assert_eq!(dynamic_events(), dynamic_events_before);
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_uprobe_fetches_a_string_through_a_pointer_argument() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("string");
    let before = KernelState::capture();
    let bin = programs.path("pie");
    kscope_ok(&[
        "probe",
        "add",
        "--name",
        "kt_string",
        &format!("{bin}:kscope_probe_string"),
        "s=+0(%di):string",
    ]);
    let lines = record(&["kscope:kt_string"], &[&bin, "3", "hello-kscope"], 1);
    assert_eq!(field_values(&lines, "kt_string", "s"), ["\"hello-kscope\""]);
    kscope_ok(&["probe", "del", "kt_string"]);
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_uretprobe_fetches_every_return_value() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("ret");
    let before = KernelState::capture();
    // `-r` on the PIE program, perf's `%return` suffix on the non-PIE one; both get perf's
    // default name.
    for (variant, flag, suffix) in [
        ("pie", "-r", ""),
        ("nopie", "--name=kscope_probe_target__return", "%return"),
    ] {
        let bin = programs.path(variant);
        let spec = format!("{bin}:kscope_probe_target{suffix}");
        let out = kscope_ok(&["probe", "add", flag, &spec, "v=$retval:s32"]);
        assert!(
            out.starts_with("added kscope:kscope_probe_target__return (uretprobe on "),
            "{out}"
        );
        let event = "kscope_probe_target__return";
        let lines = record(&[&format!("kscope:{event}")], &[&bin, "1000"], CALLS);
        let values = field_values(&lines, event, "v");
        assert_eq!(values.len(), CALLS);
        for x in 0..7 {
            assert_eq!(
                count(&values, &(2 * x + 1).to_string()),
                calls_with(x),
                "{variant}"
            );
        }
        kscope_ok(&["probe", "del", event]);
    }
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn probe_list_shows_type_name_and_definition_and_reset_leaves_persistent_probes() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("list");
    let before = KernelState::capture();
    let bin = programs.path("pie");
    kscope_ok(&["probe", "add", &format!("{bin}:kscope_probe_target")]);
    kscope_ok(&["probe", "add", "-r", &format!("{bin}:kscope_probe_target")]);
    let offset = kscope_ftrace::probe::elf::ElfImage::open(Path::new(&bin))
        .unwrap()
        .resolve("kscope_probe_target", 0)
        .unwrap()
        .file_offset;
    let list = kscope_ok(&["probe", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let location = format!("{bin}:{offset:#018x}");
    assert_eq!(rows[0], ["TYPE", "EVENT", "DEFINITION"]);
    assert!(
        rows.contains(&vec!["uprobe", "kscope:kscope_probe_target", &location]),
        "{list}"
    );
    assert!(
        rows.contains(&vec![
            "uretprobe",
            "kscope:kscope_probe_target__return",
            &location
        ]),
        "{list}"
    );
    // Plain reset removes only probes of dead kscope processes: these stay.
    let reset = kscope_ok(&["reset"]);
    assert!(!reset.contains("kscope_probe_target"), "{reset}");
    assert_eq!(kscope_ok(&["probe", "list"]), list);
    // reset --all would remove them (only a dry run here: other kscope processes may run).
    let all = kscope_ok(&["reset", "--all", "-n"]);
    for name in ["kscope_probe_target", "kscope_probe_target__return"] {
        assert!(
            all.contains(&format!(
                "would remove uprobe event kscope/{name} (no owner)\n"
            )),
            "{all}"
        );
    }
    // A glob deletes both; a same-named probe of another group is not touched.
    let tracefs = kscope_ftrace::Tracefs::require().unwrap();
    let foreign = format!("p:kscope_foreign/kscope_probe_target {location}");
    dynevent::add(&tracefs, ProbeKind::Uprobe, &foreign).unwrap();
    let deleted = kscope_ok(&["probe", "del", "kscope:kscope_probe_*"]);
    assert_eq!(
        deleted,
        "deleted kscope:kscope_probe_target\ndeleted kscope:kscope_probe_target__return\n"
    );
    assert_eq!(
        kscope_ok(&["probe", "del", "--all"]),
        "no probes in the group kscope\n"
    );
    let still: Vec<String> = dynevent::list(&tracefs)
        .unwrap()
        .into_iter()
        .map(|e| format!("{}/{}", e.group, e.name))
        .collect();
    assert!(
        still.contains(&"kscope_foreign/kscope_probe_target".to_string()),
        "{still:?}"
    );
    dynevent::remove(
        &tracefs,
        ProbeKind::Uprobe,
        "kscope_foreign",
        "kscope_probe_target",
    )
    .unwrap();
    assert_eq!(KernelState::capture(), before);
    let out = kscope(&["probe", "del", "kscope_probe_target"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "kscope: error: no kscope probe matches \"kscope_probe_target\"; `kscope probe list` shows them\n"
    );
}

#[test]
fn bad_probes_are_explained_and_leave_nothing() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("errors");
    let before = KernelState::capture();
    let bin = programs.path("pie");
    let fails = |args: &[&str]| {
        let out = kscope(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
    };
    assert_eq!(
        fails(&["probe", "add", &format!("{bin}:kscope_probe_targt")]),
        format!(
            "kscope: error: {bin}: no function named \"kscope_probe_targt\"; did you mean kscope_probe_target, kscope_probe_string?\n"
        )
    );
    let missing = programs.path("missing");
    assert_eq!(
        fails(&["probe", "add", &format!("{missing}:main")]),
        format!(
            "kscope: error: cannot open the binary {missing}: No such file or directory (os error 2)\n"
        )
    );
    assert!(
        fails(&["probe", "add", "kscope-no-such-program:main"])
            .starts_with("kscope: error: kscope-no-such-program: no such program in $PATH;")
    );
    if !Path::new("/sys/kernel/tracing/kprobe_events").exists() {
        assert_eq!(
            fails(&["probe", "add", "do_sys_openat2"]),
            "kscope: error: this kernel cannot create kprobes: kprobe_events is missing from tracefs (kernel built without CONFIG_KPROBE_EVENTS?)\n"
        );
    }
    // The kernel rejects the register name: its error_log entry is shown, caret under it.
    let err = fails(&[
        "probe",
        "add",
        "--name",
        "kt_bad",
        &format!("{bin}:kscope_probe_target"),
        "%zz",
    ]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "kscope: error: the kernel rejected the probe `p:kscope/kt_bad {bin}:0x"
        )) && lines[0].ends_with(" %zz`: Invalid argument (os error 22)"),
        "{err}"
    );
    let command = lines
        .iter()
        .find(|l| l.trim_start().starts_with("Command: p:kscope/kt_bad "))
        .unwrap_or_else(|| panic!("no error_log command in {err}"));
    let caret = lines
        .iter()
        .find(|l| l.trim() == "^")
        .unwrap_or_else(|| panic!("no caret in {err}"));
    assert_eq!(caret.find('^'), command.find("%zz"), "{err}");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_probe_in_use_is_not_deleted_and_says_where_it_is_used() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    let programs = Programs::build("busy");
    let before = KernelState::capture();
    let bin = programs.path("pie");
    kscope_ok(&[
        "probe",
        "add",
        "--name",
        "kt_busy",
        &format!("{bin}:kscope_probe_target"),
    ]);
    let file = std::env::temp_dir().join(format!("kscope-probe-busy-{}.dat", std::process::id()));
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["record", "-e", "kscope:kt_busy", "--duration", "60", "-o"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tracefs = kscope_ftrace::Tracefs::require().unwrap();
    let instance = format!("kscope-{}-record", recorder.id());
    let enable = format!("instances/{instance}/events/kscope/kt_busy/enable");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tracefs.read(&enable).is_ok_and(|v| v.trim() == "1") {
        assert!(
            Instant::now() < deadline,
            "the recorder never enabled kt_busy"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = kscope(&["probe", "del", "kt_busy"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "kscope: error: kscope:kt_busy is in use (enabled in tracefs instance {instance}), so the kernel keeps it; stop that first, then delete it again\n"
        )
    );
    kscope_sys::process::send_signal(recorder.id(), libc::SIGINT).unwrap();
    assert!(recorder.wait().unwrap().success());
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        kscope_ok(&["probe", "del", "kt_busy"]),
        "deleted kscope:kt_busy\n"
    );
    assert_eq!(KernelState::capture(), before);
}

const WORKLOAD_VAR: &str = "KSCOPE_TEST_PROBE_GETPPID";

/// The kprobe workload: run as the command of `kscope record`, it calls getppid(2) N times.
#[test]
#[ignore = "run by the lab_probe tests as the traced command"]
fn workload() {
    let Ok(n) = std::env::var(WORKLOAD_VAR) else {
        return;
    };
    for _ in 0..n.parse::<u32>().unwrap() {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
}

#[test]
fn lab_probe_kprobe_and_kretprobe_count_a_child_s_getppid_calls_exactly() {
    let Some(_kernel) = require(Feature::Kprobes) else {
        return;
    };
    let before = KernelState::capture();
    let function = kscope_testkit::getppid_function();
    let out = kscope_ok(&["probe", "add", "--name", "kt_k", &function]);
    assert!(out.starts_with("added kscope:kt_k (kprobe)\n"), "{out}");
    let out = kscope_ok(&[
        "probe",
        "add",
        "-r",
        "--name",
        "kt_kr",
        &function,
        "ret=$retval:s32",
    ]);
    assert!(out.starts_with("added kscope:kt_kr (kretprobe)\n"), "{out}");
    let list = kscope_ok(&["probe", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // The kernel lists a symbol location as `SYMBOL` or `SYMBOL+0`, by version.
    let at_function = |location: &str| {
        location == function || location.strip_suffix("+0") == Some(function.as_str())
    };
    assert!(
        rows.iter()
            .any(|r| r.len() == 3 && r[..2] == ["kprobe", "kscope:kt_k"] && at_function(r[2])),
        "{list}"
    );
    assert!(
        rows.iter().any(|r| r.len() == 4
            && r[..2] == ["kretprobe", "kscope:kt_kr"]
            && at_function(r[2])
            && r[3] == "ret=$retval:s32"),
        "{list}"
    );

    let file = std::env::temp_dir().join(format!("kscope-probe-lab-{}.dat", std::process::id()));
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["record", "-e", "kscope:kt_k", "-e", "kscope:kt_kr", "-o"])
        .arg(&file)
        .arg("--")
        .arg(exe)
        .args(["workload", "--exact", "--ignored", "--quiet"])
        .env(WORKLOAD_VAR, CALLS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let kscope_pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with(&format!("kscope record: {} events on ", 2 * CALLS)),
        "{stderr}"
    );
    let report = kscope_ok(&["report", &file.display().to_string()]);
    std::fs::remove_file(&file).unwrap();
    let lines: Vec<String> = report.lines().map(str::to_string).collect();
    let entries = lines.iter().filter(|l| l.contains(" kt_k: ")).count();
    assert_eq!(entries, CALLS, "{report}");
    // The workload's parent is the recording kscope: every return value is its pid.
    let returns = field_values(&lines, "kt_kr", "ret");
    assert_eq!(returns.len(), CALLS);
    assert_eq!(count(&returns, &kscope_pid.to_string()), CALLS, "{report}");
    assert_eq!(
        kscope_ok(&["probe", "del", "kt_*"]),
        "deleted kscope:kt_k\ndeleted kscope:kt_kr\n"
    );
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn lab_probe_unknown_kernel_symbol_gets_the_nearest_names() {
    let Some(_kernel) = require(Feature::Kprobes) else {
        return;
    };
    let before = KernelState::capture();
    let function = kscope_testkit::getppid_function();
    let typo = format!("{function}x");
    let out = kscope(&["probe", "add", &typo]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "kscope: error: the kernel rejected the probe `p:kscope/{typo} {typo}`: "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "help: {typo} is not a kernel function in /proc/kallsyms; did you mean {function}"
        )),
        "{stderr}"
    );
    assert_eq!(KernelState::capture(), before);
}
