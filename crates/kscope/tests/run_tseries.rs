//! `tseries()` under `kscope run` on the real kernel.
//!
//! - upstream's runtime tests (tests/runtime/call, json-output, other), whose scripts
//!   move the clock themselves through `BPFTRACE_DUMMY_TS_MAP=@ts`: the charts and JSON
//!   are exact (expected charts: kscope-lang's tests/data/tseries, upstream's outputs
//!   with the hour written for UTC). Their bodies run in `BEGIN` here rather than in
//!   upstream's `i:ms:1`: that probe fires again until the asynchronous `exit()` and
//!   `clear(@ts)` take effect, and each extra firing moves `@ts` on by a second, so
//!   upstream's form passes only when user space is quick;
//! - the real clock (`CLOCK_TAI`) with intervals so long that a run never crosses one
//!   (1e5 s): exact values and the chart's shape, several CPUs' copies combined.

mod runkit;

use std::process::Command;

use kscope_testkit::{Feature, require_all};
use runkit::{child, text};

/// stdout of `kscope run [EXTRA...] -e SCRIPT` in UTC with `env`, failing on an error.
fn run_env(env: &[(&str, &str)], extra: &[&str], script: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("run")
        .args(extra)
        .args(["-e", script])
        .env("TZ", "UTC")
        .envs(env.iter().copied())
        .output()
        .expect("running kscope");
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn expected(name: &str) -> String {
    let path = format!(
        "{}/../kscope-lang/tests/data/tseries/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The output's lines without the empty ones (upstream's harness compares that way).
fn nonempty(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.is_empty()).collect()
}

const DUMMY: &[(&str, &str)] = &[("BPFTRACE_DUMMY_TS_MAP", "@ts")];

/// upstream's `tseries`, `tseries_min`, `tseries_max`, `tseries_avg`: 100 values
/// `$i % 10`, the clock moved 10 ms before each, 5 intervals of 100 ms.
fn hundred_values(agg: &str) -> String {
    format!(
        "BEGIN {{ @ts = (uint64)0; $us = (uint64)1000; $ms = 1000*$us; \
         $s = 1000*$ms; $i = (uint64)0; $interval = 100 * $ms; @ts /= $interval; \
         @ts *= $interval; while ($i < 100) {{ @a = tseries($i % 10, 100ms, 5{agg}); \
         @ts += 10 * $ms; $i++; }} clear(@ts); exit(); }}"
    )
}

const MULTIPLE: &str = "BEGIN { @ts = (uint64)0; $us = (uint64)1000; \
    $ms = 1000*$us; $s = 1000*$ms; $i = (uint64)0; $interval = 100 * $ms; @ts /= $interval; \
    @ts *= $interval; while ($i < 5) { @a[\"one\"] = tseries(5, 100ms, 10); \
    @ts += 100 * $ms; $i++; } $i = 0; while($i < 5) { @a[\"two\"] = tseries(4, 100ms, 10); \
    @ts += 100 * $ms; $i++; } clear(@ts); exit(); }";

const ZIGZAG: &str = "BEGIN { @dir = 1; @c = -5; @ts = (uint64)100ms; $i = 0; \
    while ($i < 20) { @ = tseries(@c, 100ms, 20); @ts += 100ms; @c += @dir; $i++; \
    if (@c > 5) { @dir = -1; @c = 4 } else if (@c < -5) { @dir = 1; @c = -4; } } \
    clear(@ts); clear(@c); clear(@dir); exit(); }";

fn interval_probes() -> Option<kscope_testkit::KernelGuard> {
    require_all(&[
        Feature::BpfRawTracepoint,
        Feature::BpfPerfEvent,
        Feature::PerfSw,
    ])
}

#[test]
fn upstream_runtime_charts_are_exact() {
    let Some(_kernel) = interval_probes() else {
        return;
    };
    for (agg, file) in [
        ("", "tseries.txt"),
        (", \"min\"", "tseries_min.txt"),
        (", \"max\"", "tseries.txt"),
        (", \"avg\"", "tseries_avg.txt"),
    ] {
        let out = run_env(DUMMY, &[], &hundred_values(agg));
        assert_eq!(nonempty(&out), nonempty(&expected(file)), "agg {agg:?}");
    }
    let out = run_env(DUMMY, &[], MULTIPLE);
    assert_eq!(nonempty(&out), nonempty(&expected("tseries_multiple.txt")));
    let out = run_env(DUMMY, &[], ZIGZAG);
    assert_eq!(nonempty(&out), nonempty(&expected("tseries_zigzag.txt")));
}

#[test]
fn upstream_json_runtime_tests_are_exact() {
    let Some(_kernel) = interval_probes() else {
        return;
    };
    let series = |values: &[(u32, u32)]| {
        let items: Vec<String> = values
            .iter()
            .map(|(ms, v)| {
                format!(
                    "{{\"interval_start\":\"1970-01-01 00:00:00.{ms:03}000000\",\"value\":{v}}}"
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let out = run_env(DUMMY, &["-f", "json"], &hundred_values(""));
    let nine: Vec<(u32, u32)> = (5..10).map(|i| (i * 100, 9)).collect();
    let line = format!(
        "{{\"type\": \"tseries\", \"data\": {{\"@a\": {}}}}}",
        series(&nine)
    );
    assert!(out.lines().any(|l| l == line), "{out}");
    let out = run_env(DUMMY, &["-f", "json"], MULTIPLE);
    let one: Vec<(u32, u32)> = [(0, 0), (100, 5), (200, 5), (300, 5), (400, 5)].into();
    let two: Vec<(u32, u32)> = (5..10).map(|i| (i * 100, 4)).collect();
    let line = format!(
        "{{\"type\": \"tseries\", \"data\": {{\"@a\": {{\"one\": {}, \"two\": {}}}}}}}",
        series(&one),
        series(&two)
    );
    assert!(out.lines().any(|l| l == line), "{out}");
    // tseries_zero: zero() leaves every bucket at epoch 0, an empty series.
    let zero = hundred_values(", \"avg\"").replace("clear(@ts);", "clear(@ts); zero(@a);");
    let out = run_env(DUMMY, &["-f", "json"], &zero);
    assert!(
        out.lines()
            .any(|l| l == "{\"type\": \"tseries\", \"data\": {\"@a\": []}}"),
        "{out}"
    );
}

#[test]
fn begin_scripts_from_upstream_print_their_maps() {
    let Some(_kernel) = require_all(&[Feature::BpfRawTracepoint]) else {
        return;
    };
    // tests/runtime/call tseries_*_scratch_buf, other "positional tseries" and
    // "tseries can be cleared".
    let out = run_env(
        &[],
        &[],
        "BEGIN { @[\"ok_key\"] = tseries(2,1s,1); exit() }",
    );
    assert!(out.contains("@[ok_key]:\n"), "{out}");
    let out = run_env(&[], &[], "BEGIN { @ = tseries(2,1s,2); exit() }");
    assert!(out.contains("@:\n"), "{out}");
    let out = run_env(&[], &[], "BEGIN { @ = tseries($1, 1ms, 1); exit()}");
    assert!(out.contains("@:\n"), "{out}");
    let out = run_env(
        &[],
        &[],
        "BEGIN { @[1] = tseries(1, 1ms, 5); clear(@); exit() }",
    );
    assert!(!out.contains('@'), "{out}");
}

/// The interval lines of the charts in `out` (`HH:MM:SS[.frac] |...| value`): where the
/// `*` is in the 53 columns between and including the borders, and the value.
fn chart_values(out: &str) -> Vec<(usize, String)> {
    out.lines()
        .filter(|l| l.len() > 9 && l.as_bytes()[0].is_ascii_digit() && l.as_bytes()[2] == b':')
        .map(|l| {
            let at = l.find(' ').expect("a time") + 1;
            let graph = &l[at..at + 53];
            let star = graph.find('*').unwrap_or(usize::MAX);
            (star, l[at + 53..].trim().to_string())
        })
        .collect()
}

#[test]
fn real_clock_values_are_exact_over_cpus() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::BpfRawTracepoint]) else {
        return;
    };
    // 1000 getppid calls from the child (which may move between CPUs); every CPU's
    // copy of the one interval is combined.
    let script = "config = { unstable_tseries = enable } \
        tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
        @sum = tseries(2, 100000s, 3, \"sum\"); @avg = tseries(7, 100000s, 3, \"avg\"); \
        @min[1] = tseries(pid == cpid ? 4 : 9, 100000s, 3, \"min\"); \
        @max[\"x\"] = tseries(-3, 100000s, 3, \"max\"); @last = tseries(5, 100000s, 3); }";
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["run", "-c", &child("getppid 1000"), "-e", script])
        .env("TZ", "UTC")
        .output()
        .expect("running kscope");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    let maps: Vec<&str> = out.lines().filter(|l| l.starts_with('@')).collect();
    assert_eq!(
        maps,
        ["@avg:", "@last:", "@max[x]:", "@min[1]:", "@sum:"],
        "{out}"
    );
    // One interval each, the `*` in the middle of bounds one below and one above.
    let values: Vec<String> = chart_values(&out)
        .into_iter()
        .map(|(star, v)| {
            assert_eq!(star, 26, "{out}");
            v
        })
        .collect();
    assert_eq!(values, ["7", "5", "-3", "4", "2000"], "{out}");
    for (lo, hi) in [
        ("6", "8"),
        ("4", "6"),
        ("-4", "-2"),
        ("3", "5"),
        ("1999", "2001"),
    ] {
        // One interval: its length is 0, so the times show nanoseconds.
        let bounds = format!("{}{lo:<21}{hi:>32}", " ".repeat(19));
        assert_eq!(
            out.matches(&format!("{bounds}\n")).count(),
            2,
            "{bounds}\n{out}"
        );
    }
    assert_eq!(out.matches("hh:mm:ss.ns        |").count(), 5, "{out}");
}

#[test]
fn print_then_clear_and_zero() {
    let Some(_kernel) = require_all(&[Feature::BpfRawTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let out = run_env(
        &[],
        &[],
        "BEGIN { @a = tseries(5, 100000s, 3, \"sum\"); @a = tseries(6, 100000s, 3, \"sum\"); \
         print(@a); clear(@a); @b[2] = tseries(1, 100000s, 2); zero(@b); exit() }",
    );
    let values: Vec<String> = chart_values(&out).into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, ["11"], "{out}");
    assert_eq!(out.matches("@a:\n").count(), 1, "{out}");
    assert!(out.ends_with("@b[2]:\n<no data>\n"), "{out}");
}
