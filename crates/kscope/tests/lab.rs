//! Kernel features this project's own machines lack (kprobes, the function tracer, hist
//! triggers, /proc/kcore), exercised through kscope's own code. On a kernel without them
//! these tests skip with doctor's reason; the guest-kernel lab (`scripts/lab`) runs them on
//! stock Debian kernels, where `KSCOPE_REQUIRE_KERNEL=1` makes them run for real.

use kscope_ftrace::Tracefs;
use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_session::Session;
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require, require_all};

/// Lines of an instance's `trace` output that are events, not `#` comments.
fn trace_lines(instance: &kscope_ftrace::Instance) -> Vec<String> {
    instance
        .read("trace")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The lab's self-test selects this test with `KSCOPE_LAB_CANARY=1` in the guest to prove
/// that a failing guest test makes `scripts/lab` fail. Without the variable it has nothing
/// to check.
#[test]
fn lab_canary_must_fail() {
    if std::env::var("KSCOPE_LAB_CANARY").is_ok_and(|v| v == "1") {
        panic!("deliberate failure: the lab self-test checks that this fails the lab run");
    }
}

/// Opens `/proc/self/stat` `n` times: `n` openat(2) calls from this thread.
fn open_files(n: usize) {
    for _ in 0..n {
        drop(std::fs::File::open("/proc/self/stat").unwrap());
    }
}

#[test]
fn lab_kprobe_and_kretprobe_events_are_created_hit_and_removed() {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Kprobes]) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    {
        let session = Session::new();
        let entry = session
            .add_dynamic_event(
                &tracefs,
                ProbeKind::Kprobe,
                'p',
                "openat",
                "__x64_sys_openat",
            )
            .unwrap();
        let exit = session
            .add_dynamic_event(
                &tracefs,
                ProbeKind::Kprobe,
                'r',
                "openat_ret",
                "__x64_sys_openat ret=$retval",
            )
            .unwrap();
        let listed: Vec<String> = dynevent::list(&tracefs)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == ProbeKind::Kprobe)
            .map(|e| format!("{}:{}/{}", e.letter, e.group, e.name))
            .collect();
        assert!(
            listed.contains(&format!("p:kscope/{}", entry.name())),
            "{listed:?}"
        );
        assert!(
            listed.contains(&format!("r:kscope/{}", exit.name())),
            "{listed:?}"
        );

        let instance = session.create_instance(&tracefs, "lab_kprobe").unwrap();
        instance.set_tracing_on(false).unwrap();
        let tid = kscope_testkit::gettid();
        for event in [entry.name(), exit.name()] {
            instance
                .write(
                    &format!("events/kscope/{event}/filter"),
                    &format!("common_pid == {tid}"),
                )
                .unwrap();
            instance.set_event_enabled("kscope", event, true).unwrap();
        }
        // Switch tracing on and off through one descriptor opened beforehand: opening a
        // control file is itself an openat(2) the probes would count.
        let mut tracing_on = std::fs::OpenOptions::new()
            .write(true)
            .open(instance.path("tracing_on"))
            .unwrap();
        use std::io::Write;
        tracing_on.write_all(b"1").unwrap();
        open_files(100);
        tracing_on.write_all(b"0").unwrap();
        let lines = trace_lines(&instance);
        let hits = |name: &str| {
            lines
                .iter()
                .filter(|l| l.contains(&format!(" {name}:")))
                .count()
        };
        assert_eq!(
            hits(entry.name()),
            100,
            "kprobe hits:\n{}",
            lines.join("\n")
        );
        assert_eq!(
            hits(exit.name()),
            100,
            "kretprobe hits:\n{}",
            lines.join("\n")
        );
        // Every return value is a file descriptor.
        for line in lines
            .iter()
            .filter(|l| l.contains(&format!(" {}:", exit.name())))
        {
            let ret = line.rsplit("ret=").next().unwrap().trim();
            let ret = match ret.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).unwrap(),
                None => ret.parse().unwrap(),
            };
            assert!((0..1024).contains(&ret), "openat returned {ret}: {line}");
        }
        // Dropping the session removes the instance first, then the events.
    }
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn lab_function_tracer_in_a_kscope_instance_sees_function_entries() {
    let Some(_kernel) = require(Feature::FunctionTracer) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    {
        let session = Session::new();
        let instance = session.create_instance(&tracefs, "lab_function").unwrap();
        // Room for everything this thread does, in case the kernel traces more than the
        // filter asks for: nothing may be overwritten.
        instance.set_buffer_size_kb(32 * 1024).unwrap();
        // Only the getppid syscall function, only this thread: an exact count. Its name
        // depends on the kernel (6.12 calls __do_sys_getppid from x64_sys_call), and a
        // filter that matches nothing traces everything, so check it took.
        let function = kscope_testkit::getppid_function();
        let function = function.as_str();
        instance.write("set_ftrace_filter", function).unwrap();
        assert_eq!(instance.read("set_ftrace_filter").unwrap().trim(), function);
        instance
            .write("set_ftrace_pid", &kscope_testkit::gettid().to_string())
            .unwrap();
        instance.set_tracer("function").unwrap();
        for _ in 0..1000 {
            std::hint::black_box(std::os::unix::process::parent_id());
        }
        instance.write("tracing_on", "0").unwrap();
        let lines = trace_lines(&instance);
        let entry = format!(": {function} <-");
        let hits = lines.iter().filter(|l| l.contains(&entry)).count();
        assert_eq!(hits, 1000, "function tracer entries:\n{}", lines.join("\n"));
        assert_eq!(hits, lines.len(), "only the filtered function is traced");
        instance.set_tracer("nop").unwrap();
    }
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn lab_doctor_reports_what_stock_kernels_have() {
    let Some(_kernel) = require_all(&[
        Feature::Kprobes,
        Feature::FunctionTracer,
        Feature::HistTriggers,
        Feature::Kcore,
    ]) else {
        return;
    };
    // require_all ran the doctor's probes: on a stock kernel all four are present. Check
    // the reasons say how each was proven, not only that it was.
    let report = kscope_testkit::doctor_report();
    let reason = |n: &str| report.get(n).unwrap().reason.clone();
    assert!(
        reason("kprobes").contains("probed"),
        "{}",
        reason("kprobes")
    );
    assert!(reason("function_tracer").contains("selected function"));
    assert!(reason("hist_triggers").contains("hist trigger"));
    assert!(reason("kcore").contains("/proc/kcore"));
}
