//! `kscope run`'s map layouts against the real kernel: aggregations without keys live in
//! one-entry per-CPU arrays updated in place; what prints must be exact (summed over
//! CPUs) and the same as with the per-CPU hash they replaced (untouched, cleared and
//! zeroed maps included).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kscope_testkit::{Feature, require};

/// The workload binary (tests/run_support.c), compiled once per test process.
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_support.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0"])
    })
}

/// The workload's `comm` (its file name, cut to 15 bytes).
fn workload_comm() -> String {
    let name = workload().file_name().unwrap().to_string_lossy();
    name.chars().take(15).collect()
}

/// Runs `kscope run -c CHILD -e SCRIPT`; returns stdout, failing on a non-zero exit.
fn run_c(script: &str, child: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["run", "-c", child, "-e", script])
        .output()
        .expect("running kscope");
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Online CPUs, from /sys/devices/system/cpu/online ("0-1", "0,2-3").
fn online_cpus() -> Vec<u32> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut cpus = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            cpus.extend(a..=b);
        }
    }
    cpus
}

#[test]
fn keyless_aggregations_sum_exactly_over_cpus() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let cpus = online_cpus();
    if cpus.len() < 2 || Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("skipped: needs two online CPUs and taskset");
        return;
    }
    let (c0, c1) = (cpus[0], cpus[1]);
    // The workload calls getppid 600 times pinned to one CPU, then 400 times on another:
    // each per-CPU copy holds part, what prints is the total.
    let dir = std::env::temp_dir().join(format!("kscope-run-layouts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("two-cpus.sh");
    let w = workload().display();
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntaskset -c {c0} {w} getppid 600\ntaskset -c {c1} {w} getppid 400\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let prog = format!(
        "tracepoint:syscalls:sys_enter_getppid /comm == \"{}\"/ {{ @c = count(); @s = sum(3); \
         @cpu[cpu == {c0} ? 0 : 1] = count(); @hi = max(cpu == {c0} ? 5 : 9); \
         @lo = min(cpu == {c0} ? 5 : 9); @a = avg(cpu == {c0} ? 0 : 10); \
         @h = hist(cpu == {c0} ? 1 : 1000); }}",
        workload_comm()
    );
    let out = run_c(&prog, &script.display().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out,
        "\n\n\
@a: 4\n\
@c: 1000\n\
@cpu[1]: 400\n\
@cpu[0]: 600\n\
@h:\n\
[1]                  600 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[2, 4)                 0 |                                                    |\n\
[4, 8)                 0 |                                                    |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               0 |                                                    |\n\
[32, 64)               0 |                                                    |\n\
[64, 128)              0 |                                                    |\n\
[128, 256)             0 |                                                    |\n\
[256, 512)             0 |                                                    |\n\
[512, 1K)            400 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                  |\n\
\n\
@hi: 9\n\
@lo: 5\n\
@s: 3000\n"
    );
}

#[test]
fn untouched_cleared_and_zeroed_keyless_maps_print_as_before() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    // `sum(0)` is present with 0; a map never written does not print; `clear()` removes
    // the entry, `zero()` keeps it with 0; `print()` mid-run reads the array.
    let child = format!("{} write 4", workload().display());
    let out = run_c(
        "tracepoint:syscalls:sys_enter_write /pid == cpid/ { @h = hist(args.count); \
         @z = sum(0); @n = count(); @gone = count(); } \
         tracepoint:syscalls:sys_enter_getppid /pid == 0/ { @never = count(); @nh = hist(1); } \
         END { print(@n); zero(@n); clear(@gone); }",
        &child,
    );
    assert_eq!(
        out,
        "@n: 10\n\n\n\
@h:\n\
[0]                    1 |@@@@@@@                                             |\n\
[1]                    0 |                                                    |\n\
[2, 4)                 0 |                                                    |\n\
[4, 8)                 0 |                                                    |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               0 |                                                    |\n\
[32, 64)               2 |@@@@@@@@@@@@@@                                      |\n\
[64, 128)              7 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n\
@n: 0\n\
@z: 0\n"
    );
}
