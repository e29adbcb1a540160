//! `kscope stream` against the kernel: an exact line count for a known workload, the
//! text `kscope report` prints, and nothing left behind.

use std::process::{Command, Stdio};

use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require};

const WORKLOAD_VAR: &str = "KSCOPE_TEST_WORKLOAD_GETPPID";

/// The workload: run as a child of `kscope stream`, it calls getppid(2) N times.
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

fn stream(args: &[&str], reader: &str) -> (String, String, bool) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("stream")
        .args(["--reader", reader])
        .args(args)
        .arg("--")
        .arg(exe)
        .args(["workload", "--exact", "--ignored", "--quiet"])
        .env(WORKLOAD_VAR, "1000")
        .stdin(Stdio::null())
        .output()
        .expect("running kscope stream");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn check_exact_count(reader: &str) {
    let (stdout, stderr, ok) = stream(&["-e", "syscalls:sys_enter_getppid"], reader);
    assert!(ok, "{reader}: {stderr}");
    // The traced command shares stdout: its own lines (libtest's) are not events.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(" [")).collect();
    assert_eq!(lines.len(), 1000, "{reader}: {stderr}");
    let pid_column = |l: &str| {
        l.split_whitespace()
            .next()
            .and_then(|c| c.rsplit_once('-'))
            .map(|(_, pid)| pid.to_string())
    };
    let first = pid_column(lines[0]);
    for line in &lines {
        // `COMM-PID [CPU] SECS.USECS: sys_enter_getppid:` and no fields.
        assert!(line.contains("] "), "{line}");
        assert!(line.trim_end().ends_with(": sys_enter_getppid:"), "{line}");
        assert_eq!(pid_column(line), first, "one task made every call: {line}");
    }
    assert!(
        stderr.starts_with("kscope stream: 1000 events on "),
        "{stderr}"
    );
    assert!(stderr.contains("(command exited)"), "{stderr}");
}

#[test]
fn a_traced_command_s_getppid_calls_stream_as_exactly_1000_lines() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    check_exact_count("auto");
    check_exact_count("read");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn stream_lines_are_report_lines() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    // The same workload recorded and streamed: both print 1000 lines whose text after
    // the time stamp is the same.
    let (stdout, stderr, ok) = stream(&["-e", "syscalls:sys_enter_getppid"], "auto");
    assert!(ok, "{stderr}");
    let file = std::env::temp_dir().join(format!("kscope-stream-test-{}.dat", std::process::id()));
    let exe = std::env::current_exe().unwrap();
    let rec = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["record", "-e", "syscalls:sys_enter_getppid", "-o"])
        .arg(&file)
        .arg("--")
        .arg(&exe)
        .args(["workload", "--exact", "--ignored", "--quiet"])
        .env(WORKLOAD_VAR, "1000")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(rec.status.success());
    let report = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("report")
        .arg(&file)
        .output()
        .unwrap();
    assert!(report.status.success());
    // The text after the time stamp.
    let tail = |l: &str| {
        l.split_once(']')
            .and_then(|(_, t)| t.split_once(": "))
            .map(|(_, r)| r.to_string())
    };
    let streamed: Vec<_> = stdout
        .lines()
        .filter(|l| l.contains(" ["))
        .map(tail)
        .collect();
    let reported: Vec<_> = String::from_utf8_lossy(&report.stdout)
        .lines()
        .filter(|l| !l.starts_with("cpus="))
        .map(tail)
        .collect();
    assert_eq!(streamed.len(), 1000);
    assert!(streamed == reported, "stream and report texts differ");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn sigint_stops_a_stream_and_leaves_nothing_behind() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let child = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["stream", "-e", "sched"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(send_signal(child.id(), libc::SIGINT), 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(interrupted)"), "{stderr}");
    assert!(!out.stdout.is_empty(), "a busy system's scheduler events");
    assert_eq!(KernelState::capture(), before);
}

/// kill(1) on our own child (tests hold no unsafe code): 0 when it was sent.
fn send_signal(pid: u32, signal: i32) -> i32 {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    if status.success() { 0 } else { 1 }
}

#[test]
fn a_stream_ends_at_its_duration_or_on_sigterm() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["stream", "-e", "sched:sched_switch", "--duration", "0.5"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(duration reached)"), "{stderr}");
    let lines = String::from_utf8_lossy(&out.stdout);
    assert!(
        lines.lines().all(|l| l.contains(": sched_switch: ")),
        "only the selected event"
    );

    let child = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["stream", "-e", "sched:sched_switch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(send_signal(child.id(), libc::SIGTERM), 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(interrupted)"), "{stderr}");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn lab_record_stream_shows_the_function_tracer_s_getppid_entries_exactly() {
    let Some(_kernel) = require(Feature::FunctionTracer) else {
        return;
    };
    let before = KernelState::capture();
    let available =
        std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions").unwrap();
    let function = ["__do_sys_getppid", "__x64_sys_getppid", "sys_getppid"]
        .into_iter()
        .find(|f| {
            available
                .lines()
                .any(|l| l.split_whitespace().next() == Some(*f))
        })
        .expect("a traceable getppid function");
    let (stdout, stderr, ok) = stream(&["-p", "function", "-l", function, "-b", "8192"], "auto");
    assert!(ok, "{stderr}");
    let entries = stdout
        .lines()
        .filter(|l| l.contains(": function: ") && l.contains(function))
        .count();
    assert_eq!(entries, 1000, "{stderr}");
    assert_eq!(KernelState::capture(), before);
}
