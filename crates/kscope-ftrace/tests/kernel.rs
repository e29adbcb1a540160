//! tracefs control against the real kernel: instances, event enabling, dynamic events and
//! the kernel's `error_log` on a rejected command.

use kscope_ftrace::Tracefs;
use kscope_ftrace::TracefsError;
use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_ftrace::select::{self, EventSpec};
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require, require_all};

#[test]
fn an_instance_is_created_used_and_removed() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    let name = format!("kscope-{}-ftrace_test", std::process::id());
    let instance = tracefs.create_instance(&name).unwrap();
    assert!(tracefs.instance_names().unwrap().contains(&name));
    instance
        .set_event_enabled("sched", "sched_switch", true)
        .unwrap();
    assert_eq!(instance.read("set_event").unwrap(), "sched:sched_switch\n");
    // The top-level buffer is untouched.
    assert_eq!(tracefs.read("set_event").unwrap(), before.set_event);
    tracefs.remove_instance(&name).unwrap();
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_rejected_probe_definition_carries_the_kernels_error_log_with_a_caret() {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Uprobes]) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    let definition = format!(
        "p:kscope/pid{}_bad /proc/self/exe:0x10 x=%nosuchreg",
        std::process::id()
    );
    let err = dynevent::add(&tracefs, ProbeKind::Uprobe, &definition).unwrap_err();
    let TracefsError::Rejected {
        error_log, source, ..
    } = &err
    else {
        panic!("expected a rejection, got {err}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput, "EINVAL");
    let log = error_log
        .as_deref()
        .expect("the kernel wrote an error_log entry");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].ends_with("trace_uprobe: error: Invalid register name"),
        "{log}"
    );
    assert!(
        lines[1].trim_start().starts_with("Command: p:kscope/"),
        "{log}"
    );
    // The caret points at the bad argument.
    let caret = lines[2].find('^').expect("a caret line");
    assert_eq!(&lines[1][caret..], "%nosuchreg", "{log}");
    assert!(err.to_string().contains("Invalid register name"));
    assert_eq!(KernelState::capture(), before);
}

/// A private instance removed on drop, for the tests below.
struct TestInstance {
    tracefs: Tracefs,
    instance: kscope_ftrace::Instance,
}

impl TestInstance {
    fn new(purpose: &str) -> TestInstance {
        let tracefs = Tracefs::require().unwrap();
        let name = format!("kscope-{}-{purpose}", std::process::id());
        let instance = tracefs.create_instance(&name).unwrap();
        TestInstance { tracefs, instance }
    }
}

impl Drop for TestInstance {
    fn drop(&mut self) {
        let _ = self.tracefs.remove_instance(self.instance.name());
    }
}

fn event_lines(instance: &kscope_ftrace::Instance, needle: &str) -> usize {
    instance
        .read("trace")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(needle))
        .count()
}

#[test]
fn a_kernel_filter_on_the_callers_pid_counts_exactly_its_syscalls() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    {
        let t = TestInstance::new("filter_count");
        let events = select::list_events(&t.instance.path("events")).unwrap();
        let chosen =
            select::resolve(&events, &[EventSpec::parse("syscalls:sys_enter_getppid")]).unwrap();
        assert_eq!(chosen.len(), 1);
        t.instance
            .set_filter(
                &chosen[0],
                &format!("common_pid == {}", kscope_testkit::gettid()),
            )
            .unwrap();
        t.instance
            .set_event_enabled("syscalls", "sys_enter_getppid", true)
            .unwrap();
        for _ in 0..1000 {
            std::hint::black_box(std::os::unix::process::parent_id());
        }
        t.instance.set_tracing_on(false).unwrap();
        assert_eq!(event_lines(&t.instance, "sys_getppid("), 1000);
    }
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn a_rejected_filter_is_explained_with_the_kernels_caret_and_cleared() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let t = TestInstance::new("filter_error");
    let event = select::EventId {
        system: "sched".into(),
        name: "sched_switch".into(),
    };
    let err = t.instance.set_filter(&event, "prev_pid > > 0").unwrap_err();
    let TracefsError::FilterRejected { explanation, .. } = &err else {
        panic!("expected FilterRejected, got {err}");
    };
    assert_eq!(explanation.filter, "prev_pid > > 0");
    let caret = explanation
        .caret
        .as_deref()
        .unwrap_or_else(|| panic!("no caret in {err}"));
    assert_eq!(
        explanation.filter[caret.find('^').unwrap()..].trim_start(),
        "0"
    );
    assert!(explanation.message.starts_with("parse_error: "), "{err}");
    assert!(err.to_string().contains("sched:sched_switch"));
    assert_eq!(
        t.instance.read("events/sched/sched_switch/filter").unwrap(),
        "none\n"
    );
    let err = t
        .instance
        .set_filter(&event, "no_such_field == 1")
        .unwrap_err();
    assert!(err.to_string().contains("Field not found"), "{err}");
}

#[test]
fn pid_filtering_follows_forks() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let t = TestInstance::new("fork_follow");
    t.instance
        .set_event_pids(&[kscope_testkit::gettid()], true)
        .unwrap();
    t.instance
        .set_event_enabled("sched", "sched_process_fork", true)
        .unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("0.2")
        .spawn()
        .unwrap();
    let pids = t.instance.read("set_event_pid").unwrap();
    child.wait().unwrap();
    let pids: Vec<u32> = pids
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.contains(&kscope_testkit::gettid()), "{pids:?}");
    assert!(
        pids.contains(&child.id()),
        "the forked child {} is followed: {pids:?}",
        child.id()
    );
}

#[test]
fn clock_buffer_size_and_markers_are_per_instance() {
    let Some(_kernel) = require(Feature::Tracefs) else {
        return;
    };
    let before = KernelState::capture();
    {
        let t = TestInstance::new("settings");
        let (clocks, selected) = t.instance.trace_clocks().unwrap();
        assert!(clocks.iter().any(|c| c == "mono"), "{clocks:?}");
        assert_eq!(selected.as_deref(), Some("local"));
        t.instance.set_trace_clock("mono").unwrap();
        assert_eq!(
            t.instance.trace_clocks().unwrap().1.as_deref(),
            Some("mono")
        );
        t.instance.set_buffer_size_kb(64).unwrap();
        // The kernel rounds up to whole sub-buffers.
        let kb: u64 = t
            .instance
            .read("buffer_size_kb")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((64..80).contains(&kb), "buffer_size_kb = {kb}");
        t.instance.mark("kscope marker test").unwrap();
        assert_eq!(event_lines(&t.instance, "kscope marker test"), 1);
        let err = t.instance.set_trace_clock("no_such_clock").unwrap_err();
        assert!(matches!(err, TracefsError::Rejected { .. }), "{err}");
    }
    // The top-level buffer kept its clock and size.
    assert_eq!(KernelState::capture(), before);
}
