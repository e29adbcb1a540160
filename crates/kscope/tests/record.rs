//! `kscope record` against the kernel and against trace-cmd, the peer that must read its
//! files: exact event counts, the three file variants, interruption and cleanup.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require};

const WORKLOAD_VAR: &str = "KSCOPE_TEST_WORKLOAD_GETPPID";

/// The workload: run as a child of `kscope record`, it calls getppid(2) N times.
#[test]
#[ignore = "run by the other tests of this file as the traced command"]
fn workload() {
    let Ok(n) = std::env::var(WORKLOAD_VAR) else {
        return;
    };
    for _ in 0..n.parse::<u32>().unwrap() {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
}

fn workload_command() -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    vec![
        exe.display().to_string(),
        "workload".into(),
        "--exact".into(),
        "--ignored".into(),
        "--quiet".into(),
    ]
}

fn kscope(args: &[&str], extra: &[String], env: Option<(&str, String)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kscope"));
    cmd.args(args).args(extra).stdin(Stdio::null());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().expect("running kscope")
}

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "kscope-record-test-{}-{name}.dat",
        std::process::id()
    ))
}

/// `trace-cmd report` of a file: (exit ok, event lines).
fn trace_cmd_report(file: &std::path::Path) -> Option<Vec<String>> {
    let out = match Command::new("trace-cmd").arg("report").arg(file).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(
                !kscope_testkit::kernel_required(),
                "trace-cmd is not installed ({e}); CI installs it"
            );
            eprintln!("skipped the trace-cmd check: trace-cmd is not installed ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "trace-cmd report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("cpus="))
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn a_traced_command_s_syscalls_are_counted_exactly_and_trace_cmd_reads_the_file() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    for (variant, flags) in [
        ("v7", vec![]),
        ("v7zstd", vec!["--compress", "zstd"]),
        ("v6", vec!["--file-version", "6"]),
    ] {
        let file = temp_file(variant);
        let mut args = vec!["record", "-e", "syscalls:sys_enter_getppid", "-o"];
        let file_arg = file.display().to_string();
        args.push(&file_arg);
        args.extend(flags.iter().copied());
        args.push("--");
        let out = kscope(
            &args,
            &workload_command(),
            Some((WORKLOAD_VAR, "1000".into())),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{variant}: {stderr}");
        assert!(
            stderr.starts_with("kscope record: 1000 events on "),
            "{variant}: {stderr}"
        );
        assert!(stderr.contains("(command exited)"), "{stderr}");
        if let Some(lines) = trace_cmd_report(&file) {
            let getppid = lines
                .iter()
                .filter(|l| l.contains("sys_enter_getppid"))
                .count();
            assert_eq!(getppid, 1000, "{variant}: trace-cmd sees the 1000 calls");
            assert_eq!(lines.len(), 1000, "{variant}: and nothing else");
        }
        std::fs::remove_file(&file).unwrap();
    }
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_busy_system_recording_has_the_same_event_count_in_kscope_and_trace_cmd() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let file = temp_file("busy");
    let load = std::thread::spawn(|| {
        // A bounded load: 20,000 reads of a small file, spread over about a second.
        for i in 0..20_000 {
            let _ = std::fs::read_to_string("/proc/self/stat");
            if i % 200 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let out = kscope(
        &[
            "record",
            "-e",
            "sched",
            "-e",
            "syscalls",
            "--duration",
            "1.5",
            "-o",
            &file.display().to_string(),
        ],
        &[],
        None,
    );
    load.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let recorded: u64 = stderr
        .strip_prefix("kscope record: ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {stderr}"));
    assert!(
        recorded > 1000,
        "a busy 2 s should give many events: {stderr}"
    );
    assert!(stderr.contains("(duration reached)"));
    if let Some(theirs) = trace_cmd_report(&file) {
        // Lost-event notices are lines of their own in trace-cmd's report.
        let events = theirs
            .iter()
            .filter(|l| !l.contains("EVENTS DROPPED"))
            .count();
        assert_eq!(events as u64, recorded);
        // Ours read by us: `kscope report` prints what trace-cmd prints, line for line
        // (plugin rewrites such as futex's included).
        let out = kscope(&["report", &file.display().to_string()], &[], None);
        assert!(out.status.success());
        let ours: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("cpus="))
            .map(str::to_string)
            .collect();
        assert_eq!(ours.len(), theirs.len());
        let differing: Vec<(&String, &String)> =
            ours.iter().zip(&theirs).filter(|(a, b)| a != b).collect();
        assert!(
            differing.is_empty(),
            "{} lines differ from trace-cmd's, e.g.\nours:   {}\ntheirs: {}",
            differing.len(),
            differing[0].0,
            differing[0].1
        );
    }
    std::fs::remove_file(&file).unwrap();
    assert_eq!(KernelState::capture(), before);
}

fn spawn_record(file: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["record", "-e", "sched", "--duration", "60", "-o"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_instance(pid: u32) {
    let name = format!("kscope-{pid}-record");
    for _ in 0..200 {
        if KernelState::capture().instances.contains(&name) {
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("kscope record never created {name}");
}

#[test]
fn sigint_finishes_a_valid_file_and_leaves_nothing_behind() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let file = temp_file("sigint");
    let child = spawn_record(&file);
    wait_for_instance(child.id());
    kscope_sys::process::send_signal(child.id(), libc::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(interrupted)"), "{stderr}");
    if let Some(lines) = trace_cmd_report(&file) {
        assert!(!lines.is_empty());
    }
    std::fs::remove_file(&file).unwrap();
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn sigkill_then_reset_restores_everything() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let file = temp_file("sigkill");
    let mut child = spawn_record(&file);
    let pid = child.id();
    wait_for_instance(pid);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        KernelState::capture()
            .instances
            .contains(&format!("kscope-{pid}-record"))
    );
    let out = kscope(&["reset"], &[], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("removed tracefs instance kscope-{pid}-record (owner pid {pid}, gone)\n")
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn bad_selections_and_filters_are_explained() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let out = kscope(
        &["record", "-e", "sched:sched_swich", "-o", "/dev/null"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "kscope: error: no event matches \"sched:sched_swich\"; did you mean sched:sched_switch"
        ),
        "{stderr}"
    );
    let out = kscope(
        &[
            "record",
            "-e",
            "sched:sched_switch",
            "-f",
            "prev_pid > > 0",
            "-o",
            "/dev/null",
        ],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("parse_error"), "{stderr}");
    assert!(stderr.contains("\n              ^\n"), "{stderr}");
    let out = kscope(
        &["record", "-f", "x > 1", "-e", "sched", "-o", "/dev/null"],
        &[],
        None,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must follow the -e"),
        "a filter before any -e"
    );
    assert_eq!(KernelState::capture(), before);
}

/// Records the workload's 1000 getppid calls with `--reader KIND`: exactly 1000 events.
fn record_getppid_with(reader: &str) {
    let file = temp_file(&format!("reader-{reader}"));
    let file_arg = file.display().to_string();
    let out = kscope(
        &[
            "record",
            "--reader",
            reader,
            "-e",
            "syscalls:sys_enter_getppid",
            "-o",
            &file_arg,
            "--",
        ],
        &workload_command(),
        Some((WORKLOAD_VAR, "1000".into())),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{reader}: {stderr}");
    assert!(
        stderr.starts_with("kscope record: 1000 events on "),
        "{reader}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("(read with {reader})")),
        "{stderr}"
    );
    if let Some(lines) = trace_cmd_report(&file) {
        assert_eq!(lines.len(), 1000, "{reader}: trace-cmd sees the 1000 calls");
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn the_splice_and_read_fallbacks_record_the_exact_count() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    record_getppid_with("splice");
    record_getppid_with("read");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn the_ring_buffer_mapping_records_the_exact_count() {
    let Some(_kernel) = require(Feature::RingBufferMmap) else {
        return;
    };
    let before = KernelState::capture();
    record_getppid_with("mmap");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_refused_tracer_or_filter_is_explained() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let file = temp_file("no-tracer");
    let file_arg = file.display().to_string();
    let out = kscope(
        &[
            "record",
            "-p",
            "function",
            "-l",
            "kscope_no_such_function_xyz",
            "-o",
            &file_arg,
            "--",
            "true",
        ],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let function_tracer = kscope_testkit::doctor_report()
        .get("function_tracer")
        .is_some_and(|c| c.available);
    if function_tracer {
        assert!(
            stderr.contains("-l kscope_no_such_function_xyz: matches no traceable function"),
            "{stderr}"
        );
    } else {
        assert!(
            stderr.contains("the function tracer is not available")
                && stderr.contains("kscope doctor (function_tracer): "),
            "{stderr}"
        );
    }
    let out = kscope(
        &["record", "-p", "kscope_no_such_tracer", "-o", &file_arg],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the kscope_no_such_tracer tracer is not available: this kernel's available_tracers lists only: "),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(KernelState::capture(), before);
}

/// Records the workload's 1000 getppid calls under a tracer and counts, with kscope's
/// own trace.dat reader, the records of `event` whose `field` is the getppid function.
fn tracer_round_trip(tracer: &str, filter_flag: &str, event: &str, field: &str) {
    use kscope_ftrace::format::Value;
    use kscope_ftrace::tracedat::read::{Item, TraceFile};

    let function = kscope_testkit::getppid_function();
    let file = temp_file(tracer);
    let file_arg = file.display().to_string();
    let out = kscope(
        &[
            "record",
            "-p",
            tracer,
            filter_flag,
            &function,
            "-b",
            "8192",
            "-o",
            &file_arg,
            "--",
        ],
        &workload_command(),
        Some((WORKLOAD_VAR, "1000".into())),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let trace = TraceFile::open(&file).unwrap();
    let events = trace.event_table();
    let symbols = kscope_ftrace::format::Kallsyms::parse(trace.kallsyms());
    let mut hits = 0;
    let mut others = Vec::new();
    for item in trace.all_records() {
        let Item::Record(r) = item.unwrap() else {
            continue;
        };
        let id = u16::from_ne_bytes([r.payload[0], r.payload[1]]);
        let entry = events.get(id.into()).expect("a known event");
        if entry.format.name != event {
            others.push(entry.format.name.clone());
            continue;
        }
        let Some(Value::Unsigned(ip)) = entry.format.field_value_by_name(&r.payload, field) else {
            panic!("{event} without {field}");
        };
        use kscope_ftrace::format::SymbolLookup;
        let name = symbols.lookup(ip).map(|s| s.name.to_string());
        if name.as_deref() == Some(function.as_str()) {
            hits += 1;
        } else {
            // function_graph also shows what the graphed function calls.
            others.push(format!("{event} {name:?}"));
        }
    }
    assert_eq!(hits, 1000, "{tracer}: {stderr}");
    if tracer == "function" {
        assert!(others.is_empty(), "only the filtered function: {others:?}");
    }
    // The round trip through `kscope report`: trace-cmd's text, line for line, for the
    // function tracer; for function_graph (whose entries trace-cmd 3.1.6 may fold with a
    // return on another CPU) each call on a line of its own.
    let report = kscope(&["report", &file_arg], &[], None);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let ours: Vec<String> = String::from_utf8_lossy(&report.stdout)
        .lines()
        .filter(|l| !l.starts_with("cpus="))
        .map(str::to_string)
        .collect();
    let calls = ours
        .iter()
        .filter(|l| l.contains(function.as_str()))
        .count();
    assert_eq!(
        calls, 1000,
        "{tracer}: lines naming {function} in kscope report"
    );
    if tracer == "function"
        && let Some(theirs) = trace_cmd_report(&file)
    {
        assert_eq!(ours, theirs, "kscope report and trace-cmd report differ");
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn lab_record_function_tracer_counts_a_command_s_getppid_entries_exactly() {
    let Some(_kernel) = require(Feature::FunctionTracer) else {
        return;
    };
    let before = KernelState::capture();
    tracer_round_trip("function", "-l", "function", "ip");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn lab_record_function_graph_tracer_counts_a_command_s_getppid_entries_exactly() {
    let Some(_kernel) = require(Feature::FunctionGraphTracer) else {
        return;
    };
    let before = KernelState::capture();
    // -l, not -g: the kernel sources create set_graph_function only at the top level.
    tracer_round_trip("function_graph", "-l", "funcgraph_entry", "func");
    assert_eq!(KernelState::capture(), before);
}
