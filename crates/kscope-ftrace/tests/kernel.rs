//! tracefs control against the real kernel: instances, event enabling, dynamic events and
//! the kernel's `error_log` on a rejected command.

use kscope_ftrace::Tracefs;
use kscope_ftrace::TracefsError;
use kscope_ftrace::dynevent::{self, ProbeKind};
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
