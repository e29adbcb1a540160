//! `kscope run` with usdt probes against the real kernel: a C program with SDT sites
//! (tests/run_usdt.c and tests/run_usdt_sem.c, built at -O0 and -O2 so that arguments
//! sit in memory, registers, constants and `sym(%rip)`) fires each probe a known number
//! of times; the counts, argument values and strings are checked exactly, the
//! semaphore-gated probe fires only while traced, the `-l` listing, the errors, and the
//! same maps as bpftrace 0.17.

use std::path::Path;
use std::process::Command;

mod runkit;

use kscope_testkit::{Feature, require_all};
use runkit::{Clean, bpftrace, kscope, lines, text};

/// The program built at optimisation level `opt` (`-O0`: arguments in stack memory;
/// `-O2`: in registers, `sym(%rip)` and `(%base,%index,8)`), one copy per test (`test`):
/// a uprobe fires in every process that maps its file, so tests running at once must not
/// share one.
fn program(opt: &str, test: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let sem = dir.join("run_usdt_sem.c").display().to_string();
    let copy = format!("-DKSCOPE_COPY_{test}");
    kscope_testkit::cprogram::build_once(
        &dir.join("run_usdt.c"),
        &[&format!("-{opt}"), &sem, &copy],
    )
    .display()
    .to_string()
}

/// `kscope run -c "BIN N" -e SCRIPT`: (stdout, stderr), failing on a non-zero exit.
fn run_c(bin: &str, n: u32, script: &str) -> (String, String) {
    let out = kscope(&["-c", &format!("{bin} {n}"), "-e", script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// The script's `usdt:BIN:kscope:` prefix.
fn at(bin: &str, probe: &str) -> String {
    format!("usdt:{bin}:kscope:{probe}")
}

#[test]
fn notes_of_the_test_program_give_sites_and_specs() {
    // No kernel needed: the ELF notes only.
    for opt in ["O0", "O2"] {
        let bin = program(opt, "notes");
        let sites = kscope_runtime::usdt::sites(Path::new(&bin)).expect("sites");
        let names: Vec<String> = sites
            .iter()
            .map(|s| format!("{}:{}", s.provider, s.name))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "kscope:consts",
                "kscope:gated",
                "kscope:ints",
                "kscope:str",
                "kscope:twice",
                "kscope:twice"
            ],
            "{opt}"
        );
        for s in &sites {
            let args = s.args.as_ref().expect("every spec parses");
            assert_eq!(
                s.ref_ctr_offset.is_some(),
                s.name == "gated",
                "{opt}: {}",
                s.name
            );
            let want: Vec<(u8, bool)> = match s.name.as_str() {
                "ints" => vec![
                    (1, true),
                    (1, false),
                    (2, true),
                    (2, false),
                    (4, true),
                    (8, false),
                ],
                "str" => vec![(4, true), (4, true), (8, false)],
                "consts" | "twice" => vec![(4, true), (4, true)],
                _ => vec![(4, true)],
            };
            let got: Vec<(u8, bool)> = args.iter().map(|a| (a.size, a.signed)).collect();
            assert_eq!(got, want, "{opt}: {} {}", s.name, s.spec);
        }
        let twice: Vec<u64> = sites
            .iter()
            .filter(|s| s.name == "twice")
            .map(|s| s.file_offset)
            .collect();
        assert_ne!(twice[0], twice[1], "two sites, two offsets");
    }
}

#[test]
fn arguments_of_every_size_and_sign_counted_exactly() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    for opt in ["O0", "O2"] {
        let clean = Clean::start();
        let b = program(opt, "ints");
        let script = format!(
            "{} {{ @[arg0, arg1, arg2, arg3] = count(); @b[arg4, arg5] = count(); }} \
             {} {{ @c[arg0, arg1] = count(); }}",
            at(&b, "ints"),
            at(&b, "consts")
        );
        let (out, err) = run_c(&b, 12, &script);
        assert_eq!(err, "Attached 2 probes\n", "{opt}");
        // i % 3 and i % 2 over 12 iterations: each of the 6 pairs twice.
        let mut want = vec!["gated 0 letters 9".to_string()];
        for s8 in [0, -1, -2] {
            for (u8v, s16, u16v) in [(200, -1000, 60000), (201, -1001, 60001)] {
                want.push(format!("@[{s8}, {u8v}, {s16}, {u16v}]: 2"));
            }
        }
        want.push("@b[-100000, 4294967296]: 6".into());
        want.push("@b[-200000, 4294967297]: 6".into());
        want.push("@c[42, -7]: 12".into());
        want.sort();
        assert_eq!(lines(&out), want, "{opt}: {out}");
        clean.check();
    }
}

#[test]
fn string_and_rip_relative_arguments() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    for opt in ["O0", "O2"] {
        let clean = Clean::start();
        let b = program(opt, "str");
        let script = format!(
            "{} {{ @[arg0, arg1, str(arg2)] = count(); printf(\"%s %d|\", str(arg2), arg1); }}",
            at(&b, "str")
        );
        let (out, _) = run_c(&b, 4, &script);
        assert!(
            out.contains("alpha 7|beta 8|alpha 7|beta 8|"),
            "{opt}: {out}"
        );
        assert!(out.contains("@[0, 7, alpha]: 2\n"), "{opt}: {out}");
        assert!(out.contains("@[1, 8, beta]: 2\n"), "{opt}: {out}");
        clean.check();
    }
}

#[test]
fn one_probe_at_two_sites_attaches_two_uprobes() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let clean = Clean::start();
    let b = program("O2", "sites");
    // `usdt:BIN:NAME` (the name is unique), a wildcard name and an empty provider
    // (upstream's `usdt:BIN::NAME`, any provider) give the same probe.
    for probe in [
        format!("usdt:{b}:twice"),
        format!("usdt:{b}:kscope:tw*"),
        format!("usdt:{b}::*wice"),
    ] {
        let (out, err) = run_c(&b, 5, &format!("{probe} {{ @[arg0, probe] = count(); }}"));
        assert_eq!(err, "Attached 2 probes\n");
        let name = at(&b, "twice");
        assert_eq!(
            lines(&out),
            [
                format!("@[1, {name}]: 5"),
                format!("@[2, {name}]: 5"),
                "gated 0 letters 9".into(),
            ],
            "{out}"
        );
    }
    clean.check();
}

/// A glob over files in a usdt binary (upstream's `usdt:./testprogs/usdt_test*::*`)
/// attaches to the sites of each matching file.
#[test]
fn usdt_on_a_glob_of_binaries_attaches_to_each_file() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = program("O2", "sites");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("usdt_glob");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["ku_a", "ku_b"] {
        std::fs::copy(&b, dir.join(name)).unwrap();
    }
    let a = dir.join("ku_a").display().to_string();
    let glob = dir.join("ku_*").display().to_string();
    let (out, err) = run_c(
        &a,
        3,
        &format!("usdt:{glob}::twice {{ @[probe] = count(); }}"),
    );
    // Two sites in each of the two files; only ku_a runs.
    assert_eq!(err, "Attached 4 probes\n");
    assert!(
        out.contains(&format!("@[usdt:{a}:kscope:twice]: 6\n")),
        "{out}"
    );
    assert!(!out.contains("ku_b"), "{out}");
}

#[test]
fn semaphore_probe_fires_only_while_traced() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    if kscope_bpf::attach::uprobe::ref_ctr_shift().is_none() {
        eprintln!("skip: this kernel's uprobe PMU has no ref_ctr_offset (Linux ≥ 4.20)");
        return;
    }
    let b = program("O0", "sem");
    let alone = Command::new(&b)
        .arg("9")
        .output()
        .expect("running the program");
    assert_eq!(text(&alone.stdout), "gated 0 letters 9\n");
    let clean = Clean::start();
    let (out, err) = run_c(
        &b,
        9,
        &format!("{} {{ @ = count(); @s = sum(arg0); }}", at(&b, "gated")),
    );
    assert_eq!(err, "Attached 1 probe\n");
    // arg0 is i: 0 + 1 + ... + 8 = 36.
    assert_eq!(
        lines(&out),
        ["@: 9", "@s: 36", "gated 9 letters 9"],
        "{out}"
    );
    clean.check();
    // The kernel lowered the semaphore again: a later run is not gated.
    let after = Command::new(&b)
        .arg("3")
        .output()
        .expect("running the program");
    assert_eq!(text(&after.stdout), "gated 0 letters 9\n");
}

#[test]
fn pid_filter_and_semaphore_of_a_running_process() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    if kscope_bpf::attach::uprobe::ref_ctr_shift().is_none() {
        eprintln!("skip: this kernel's uprobe PMU has no ref_ctr_offset (Linux ≥ 4.20)");
        return;
    }
    let b = program("O2", "pid");
    let clean = Clean::start();
    // The process maps the file before the probes exist: the kernel raises the
    // semaphore in its memory when the probe is installed; the run ends with the process.
    let traced = Command::new(&b)
        .args(["6", "3000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the program");
    let pid = traced.id().to_string();
    let script = format!(
        "{} {{ @g = count(); }} {} {{ @[arg0] = count(); }}",
        at(&b, "gated"),
        at(&b, "ints")
    );
    let out = kscope(&["-p", &pid, "-e", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "Attached 2 probes\n");
    assert_eq!(
        lines(&text(&out.stdout)),
        ["@[-1]: 2", "@[-2]: 2", "@[0]: 2", "@g: 6"],
        "{}",
        text(&out.stdout)
    );
    let done = traced.wait_with_output().expect("the program's end");
    assert_eq!(text(&done.stdout), "gated 6 letters 9\n");
    clean.check();
}

#[test]
fn list_names_every_probe_once() {
    let b = program("O0", "list");
    let want: Vec<String> = ["consts", "gated", "ints", "str", "twice"]
        .iter()
        .map(|p| at(&b, p))
        .collect();
    let listed = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["list", &format!("usdt:{b}:*")])
        .output()
        .expect("kscope list");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert_eq!(text(&listed.stdout).lines().collect::<Vec<_>>(), want);
    let out = kscope(&["-l", &format!("usdt:{b}:kscope:t*")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}\n", at(&b, "twice")));
}

#[test]
fn errors_name_the_attach_point_or_the_argument() {
    let b = program("O0", "errors");
    let fails = |script: &str| {
        let out = kscope(&["--dry-run", "-e", script]);
        assert!(!out.status.success(), "{script} should fail");
        text(&out.stderr)
    };
    let e = fails(&format!("usdt:{b}:kscope:twise {{ }}"));
    assert!(
        e.contains(&format!(
            "error: no usdt probe `kscope:twise` in {b}: did you mean `kscope:twice`?"
        )),
        "{e}"
    );
    assert!(e.contains(" --> -e:1:1"), "{e}");
    let e = fails(&format!("{} {{ @ = arg2; }}", at(&b, "twice")));
    assert!(
        e.contains("`arg2` is beyond the arguments of usdt:")
            && e.contains("it has 2 arguments (arg0..arg1)"),
        "{e}"
    );
    // Both sites say the same: one message.
    assert_eq!(e.matches("is beyond").count(), 1, "{e}");
    let col = format!("{} {{ @ = ", at(&b, "twice")).len() + 1;
    assert!(e.contains(&format!(" --> -e:1:{col}")), "{e}");
    let e = fails("usdt:/bin/true:a:b { }");
    assert!(
        e.contains("has no USDT probes (no .note.stapsdt section)"),
        "{e}"
    );
    let e = fails("usdt:/nonexistent/prog:a:b { }");
    assert!(e.contains("/nonexistent/prog"), "{e}");
}

#[test]
fn same_maps_as_bpftrace() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    // bpftrace 0.17 reads neither `sym(%rip)` nor strings of these sites right: the
    // integer arguments in memory, registers and constants, and the two sites, are
    // compared.
    let b = program("O0", "diff");
    let script = format!(
        "{} {{ @[arg0, arg1, arg2, arg3] = count(); @b[arg4, arg5] = count(); }} \
         {} {{ @c[arg0, arg1] = count(); }} \
         {} {{ @t[arg0] = count(); @n[arg1] = sum(arg1); }} \
         {} {{ @g = count(); }}",
        at(&b, "ints"),
        at(&b, "consts"),
        at(&b, "twice"),
        at(&b, "gated")
    );
    let cmd = format!("{b} 10");
    let Some(theirs) = bpftrace(&script, Some(&cmd)) else {
        eprintln!("skip: bpftrace is not installed");
        return;
    };
    let (ours, err) = run_c(&b, 10, &script);
    assert_eq!(err, "Attached 5 probes\n");
    assert_eq!(
        lines(&ours),
        lines(&theirs),
        "kscope:\n{ours}\nbpftrace:\n{theirs}"
    );
    assert!(ours.contains("@g: 10\n"), "{ours}");
}
