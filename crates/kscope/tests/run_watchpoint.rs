//! `kscope run` watchpoints (`watchpoint:ADDRESS:LENGTH:MODE`, hardware breakpoints)
//! against the real kernel: the -c command's writes, reads and calls counted exactly
//! (the same counts as bpftrace 0.17), a running process watched with -p, and
//! upstream's checks of the attach point.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require_all};
use runkit::{bpftrace, kscope, text};

/// The workload, built position-dependent so that its symbols' addresses are where the
/// process has them.
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_watchpoint.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-no-pie", "-fno-pie"])
    })
}

/// The address of `symbol` in the workload, as `0x…`.
fn address(symbol: &str) -> String {
    let data = std::fs::read(workload()).unwrap();
    let file = object::File::parse(&*data).unwrap();
    use object::{Object, ObjectSymbol};
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok(symbol))
        .unwrap_or_else(|| panic!("no symbol {symbol} in the workload"));
    format!("{:#x}", sym.address())
}

/// 1000 writes, 500 reads and 250 calls: `w` counts the writes, `rw` both, `x` the calls.
/// One data watch per run: two on one address fire once per access under QEMU's
/// emulation (Firecracker's CPUs report both).
#[test]
fn watchpoints_count_the_commands_accesses_exactly() {
    let Some(_kernel) = require_all(&[Feature::BpfPerfEvent, Feature::PerfBreakpoint]) else {
        return;
    };
    let (v, f) = (address("kscope_watched"), address("kscope_hit"));
    let cmd = format!("{} count 1000", workload().display());
    let both = format!("watchpoint:{v}:8:w {{ @w = count(); }} w:{f}:1:x {{ @x = count(); }}");
    let out = kscope(&["-c", &cmd, "-e", &both]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n\n@w: 1000\n@x: 250\n");
    assert_eq!(text(&out.stderr), "Attached 2 probes\n");
    // bpftrace 0.17 counts the same writes, and reads and writes (it cannot watch
    // execution with a length of 1: it passes the 1 to the kernel, which wants a long's).
    for (script, want) in [
        (
            format!("watchpoint:{v}:8:w {{ @w = count(); }}"),
            "\n\n@w: 1000\n",
        ),
        (
            format!("watchpoint:{v}:8:rw {{ @rw = count(); }}"),
            "\n\n@rw: 1500\n",
        ),
    ] {
        let ours = kscope(&["-c", &cmd, "-e", &script]);
        assert_eq!(text(&ours.stdout), want, "{}", text(&ours.stderr));
        if let Some(theirs) = bpftrace(&script, Some(&cmd)) {
            assert_eq!(theirs, want, "bpftrace 0.17 on {script}");
        }
    }
}

/// `-p PID` watches a process that is already running (each of its threads).
#[test]
fn a_watchpoint_on_a_running_process_fires() {
    let Some(_kernel) = require_all(&[Feature::BpfPerfEvent, Feature::PerfBreakpoint]) else {
        return;
    };
    let mut child = Command::new(workload()).arg("spin").spawn().unwrap();
    let pid = child.id().to_string();
    let v = address("kscope_watched");
    let out = kscope(&[
        "-p",
        &pid,
        "-e",
        &format!("watchpoint:{v}:8:w {{ printf(\"hit %d\\n\", pid == {pid}); exit(); }}"),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hit 1\n\n\n");
}

/// Upstream's checks: a non-zero address, 1/2/4/8 bytes, r/w/x without repeats, and on
/// x86 only rw, w or x.
#[test]
fn watchpoint_attach_points_are_checked_as_upstream() {
    for (ap, message) in [
        (
            "watchpoint:0:8:w",
            "watchpoint must be attached to a non-zero address",
        ),
        (
            "watchpoint:0x1000:3:w",
            "watchpoint length must be one of (1,2,4,8)",
        ),
        (
            "watchpoint:0x1000:8:wq",
            "watchpoint mode must be combination of (r,w,x)",
        ),
        (
            "watchpoint:0x1000:8:ww",
            "watchpoint modes may not be duplicated",
        ),
        ("watchpoint:0x1000:8:r", "invalid watchpoint mode: r"),
        (
            "watchpoint:0x1000:8",
            "invalid watchpoint attach point: missing parts",
        ),
    ] {
        let out = kscope(&["--dry-run", "-e", &format!("{ap} {{ }}")]);
        assert!(!out.status.success(), "{ap}");
        assert!(
            text(&out.stderr).contains(message),
            "{ap}: {}",
            text(&out.stderr)
        );
    }
    // `wr` is upstream's `rw`.
    let out = kscope(&["--dry-run", "-e", "w:0x1000:4:wr { }"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("watchpoint:0x1000:4:rw"),
        "{}",
        text(&out.stdout)
    );
}
