//! `kscope report` against trace-cmd 3.1.6 on the trace-cmd-made files of
//! kscope-ftrace's test corpus: stored `trace-cmd report -t` output, and trace-cmd run live
//! (skipped when it is missing, unless KSCOPE_REQUIRE_KERNEL=1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FILES: &[&str] = &[
    "v6.dat",
    "v6-2buf.dat",
    "v7-lost.dat",
    "v7-none.dat",
    "v7-zstd.dat",
    "v7-zstd-2buf.dat",
];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kscope-ftrace/tests/data/tracedat")
        .join(name)
}

fn kscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("report")
        .args(args)
        .output()
        .expect("run kscope")
}

fn text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

/// Panics at the first differing line.
fn same_lines(what: &str, ours: &str, theirs: &str) {
    let a: Vec<&str> = ours.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        panic!(
            "{what}: line {} differs ({} vs {} lines):\n ours   {:?}\n theirs {:?}",
            i + 1,
            a.len(),
            b.len(),
            a.get(i),
            b.get(i)
        );
    }
}

fn gunzip(path: &Path) -> String {
    let o = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("run gzip");
    assert!(o.status.success(), "gzip -dc {}", path.display());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn nanoseconds_equal_the_stored_trace_cmd_report() {
    for name in FILES {
        let file = data(name);
        let o = kscope(&["-t", file.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = gunzip(&data(&format!("{name}.report.txt.gz")));
        same_lines(name, &text(&o), &theirs);
    }
}

/// `trace-cmd report ARGS FILE`, or None (with the reason printed) when trace-cmd is
/// missing or crashes (3.1.6 segfaults on -F with two-buffer files).
fn trace_cmd(args: &[&str], file: &Path) -> Option<String> {
    let o = match Command::new("trace-cmd")
        .arg("report")
        .args(args)
        .arg(file)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            if std::env::var("KSCOPE_REQUIRE_KERNEL").as_deref() == Ok("1") {
                panic!("trace-cmd is required (KSCOPE_REQUIRE_KERNEL=1): {e}");
            }
            eprintln!("skipped: trace-cmd cannot run: {e}");
            return None;
        }
    };
    if !o.status.success() {
        eprintln!(
            "skipped: trace-cmd report {args:?} {} failed ({})",
            file.display(),
            o.status
        );
        return None;
    }
    Some(String::from_utf8(o.stdout).expect("utf-8"))
}

fn compare_live(args: &[&str]) {
    for name in FILES {
        let file = data(name);
        let Some(theirs) = trace_cmd(args, &file) else {
            continue;
        };
        let mut all = args.to_vec();
        all.push(file.to_str().unwrap());
        let o = kscope(&all);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        same_lines(&format!("{name} {args:?}"), &text(&o), &theirs);
    }
}

#[test]
fn microseconds_equal_live_trace_cmd() {
    compare_live(&[]);
}

#[test]
fn cpu_selection_equals_trace_cmd() {
    compare_live(&["--cpu", "0"]);
    compare_live(&["--cpu", "1"]);
}

#[test]
fn event_filters_equal_trace_cmd() {
    compare_live(&["-F", "sched_switch"]);
    compare_live(&["-F", "sched_switch:prev_pid==0"]);
    compare_live(&["-F", "sched_wakeup", "-F", "timer_start"]);
    compare_live(&["-F", "sys_enter_read:count>0x100"]);
}

#[test]
fn event_globs_select_by_name() {
    let file = data("v6.dat");
    let o = kscope(&["-F", "sched_wake*", file.to_str().unwrap()]);
    assert!(o.status.success());
    let out = text(&o);
    let events: Vec<&str> = out.lines().skip(1).collect();
    assert!(!events.is_empty());
    for l in &events {
        assert!(
            l.contains(" sched_wakeup: ") || l.contains(" sched_wakeup_new: "),
            "{l}"
        );
    }
    let o = kscope(&["-F", "sched_switch:(prev_pid == 1)", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not supported"));
}

#[test]
fn json_has_one_typed_object_per_event() {
    let file = data("v7-zstd.dat");
    let txt = text(&kscope(&[file.to_str().unwrap()]));
    let o = kscope(&["--json", file.to_str().unwrap()]);
    assert!(o.status.success());
    let out = text(&o);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    let events = objs.iter().filter(|o| o.get("event").is_some()).count();
    let event_lines = txt
        .lines()
        .skip(1)
        .filter(|l| !l.contains("EVENTS DROPPED"))
        .count();
    assert_eq!(events, event_lines);
    let sw = objs
        .iter()
        .find(|o| o["event"] == "sched_switch")
        .expect("a sched_switch");
    assert_eq!(sw["system"], "sched");
    assert!(sw["fields"]["prev_pid"].is_i64(), "{sw}");
    assert!(sw["fields"]["prev_comm"].is_string(), "{sw}");
    assert!(sw["ts"].is_u64() && sw["cpu"].is_u64() && sw["pid"].is_i64());
    assert!(sw["comm"].is_string());
}

#[test]
fn json_reports_lost_events() {
    let file = data("v7-lost.dat");
    let txt = text(&kscope(&[file.to_str().unwrap()]));
    let dropped = txt.lines().filter(|l| l.contains("EVENTS DROPPED")).count();
    let out = text(&kscope(&["--json", file.to_str().unwrap()]));
    let lost = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| o.get("lost").is_some())
        .count();
    assert!(dropped > 0);
    assert_eq!(lost, dropped);
}

#[test]
fn stat_counts_events_per_cpu() {
    let file = data("v7-lost.dat");
    let o = kscope(&["--stat", file.to_str().unwrap()]);
    assert!(o.status.success());
    let out = text(&o);
    assert!(out.contains("version: 7"), "{out}");
    assert!(out.contains("compression: zstd"), "{out}");
    let txt = text(&kscope(&[file.to_str().unwrap()]));
    let events = txt
        .lines()
        .skip(1)
        .filter(|l| !l.contains("EVENTS DROPPED"))
        .count();
    let total = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("total: events "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("a total line");
    assert_eq!(total, events, "{out}");
}

#[test]
fn truncated_files_fail_with_an_offset() {
    for name in ["v6.dat", "v7-zstd.dat", "v7-none.dat"] {
        let bytes = std::fs::read(data(name)).unwrap();
        let dir = std::env::temp_dir().join(format!("kscope-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for cut in [10, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 100] {
            let path = dir.join(format!("{name}.{cut}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let o = kscope(&[path.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{name} cut at {cut}: {err}");
            assert!(!err.contains("panicked"), "{name} cut at {cut}: {err}");
            assert!(err.contains("offset"), "{name} cut at {cut}: {err}");
            std::fs::remove_file(&path).unwrap();
        }
        let _ = std::fs::remove_dir(&dir);
    }
}
