//! `kscope list` against the kernel's own lists.

use std::collections::BTreeSet;
use std::process::Command;

use kscope_testkit::{Feature, require};

fn kscope(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn tracefs() -> kscope_ftrace::Tracefs {
    kscope_ftrace::Tracefs::require().unwrap()
}

#[test]
fn every_tracepoint_in_available_events_is_listed_once() {
    let Some(_kernel) = require(Feature::Tracefs) else {
        return;
    };
    let available: BTreeSet<String> = tracefs()
        .read("available_events")
        .unwrap()
        .lines()
        .map(|l| format!("tracepoint:{l}"))
        .collect();
    let (code, out, _) = kscope(&["list", "tracepoint:*"]);
    assert_eq!(code, 0);
    let listed: Vec<&str> = out.lines().collect();
    let listed_set: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed.len(), listed_set.len(), "duplicates in the listing");
    let missing: Vec<_> = available.difference(&listed_set).collect();
    let extra: Vec<_> = listed_set.difference(&available).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn verbose_listing_shows_the_fields_of_the_format_file() {
    let Some(_kernel) = require(Feature::Tracefs) else {
        return;
    };
    let format = tracefs()
        .read("events/sched/sched_process_exec/format")
        .unwrap();
    // The event's own fields, from the `field:` lines after the common ones (an independent,
    // simple reading of the file: `field:TYPE NAME;` or `field:TYPE NAME[N];`).
    let expected: Vec<String> = format
        .lines()
        .filter_map(|l| l.trim().strip_prefix("field:"))
        .map(|f| f.split(';').next().unwrap().to_string())
        .filter(|decl| !decl.contains(" common_"))
        .map(|decl| format!("    {decl}"))
        .collect();
    assert!(!expected.is_empty());
    let (code, out, _) = kscope(&["list", "-v", "sched:sched_process_exec"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("tracepoint:sched:sched_process_exec"));
    let fields: Vec<&str> = lines.collect();
    assert_eq!(fields, expected);
}

#[test]
fn tracers_options_software_and_self_probes_are_listed_and_a_miss_is_an_error() {
    let Some(_kernel) = require(Feature::Tracefs) else {
        return;
    };
    let tracers = tracefs().read("available_tracers").unwrap();
    let (_, out, _) = kscope(&["list", "tracer:*"]);
    let expected: Vec<String> = tracers
        .split_whitespace()
        .map(|t| format!("tracer:{t}"))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    let (_, out, _) = kscope(&["list", "option:event-fork"]);
    assert_eq!(out, "option:event-fork\n");
    let (_, out, _) = kscope(&["list", "software:*"]);
    assert!(out.lines().any(|l| l == "software:cpu-clock:"));
    let (_, out, _) = kscope(&["list", "self:*"]);
    assert_eq!(out, "self:signal:SIGUSR1\n");
    let (code, out, err) = kscope(&["list", "no_such_probe_anywhere"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "kscope list: no probe matches \"no_such_probe_anywhere\"\n"
    );
}

#[test]
fn raw_tracepoints_are_the_btf_trace_typedefs_that_bpftool_shows() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    // An independent reading of vmlinux BTF: bpftool's raw dump, one line per type.
    let dump = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        .output()
        .expect("bpftool (CI installs it)");
    assert!(dump.status.success());
    let expected: BTreeSet<String> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .filter_map(|l| l.split_once("TYPEDEF 'btf_trace_"))
        .filter_map(|(_, rest)| rest.split_once('\''))
        .map(|(name, _)| format!("rawtracepoint:vmlinux:{name}"))
        .collect();
    assert!(expected.len() > 100, "{}", expected.len());
    let (code, out, _) = kscope(&["list", "rawtracepoint:*"]);
    assert_eq!(code, 0);
    let listed: BTreeSet<String> = out.lines().map(str::to_string).collect();
    assert_eq!(listed, expected);

    // Arguments come from the tracepoint's BTF prototype, as C declarations.
    let (code, out, _) = kscope(&["list", "-v", "rawtracepoint:sys_enter"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "rawtracepoint:vmlinux:sys_enter\n    struct pt_regs *regs\n    long int id\n"
    );
}

#[test]
fn uprobe_globs_list_the_same_functions_as_run_dash_l() {
    let Some(_kernel) = require(Feature::Uprobes) else {
        return;
    };
    if !std::path::Path::new("/bin/bash").exists() {
        // The guest-kernel lab's initramfs has busybox, not bash.
        eprintln!("skipped: /bin/bash is not installed here");
        return;
    }
    let pattern = "uprobe:/bin/bash:readl*";
    let (code, listed, _) = kscope(&["list", pattern]);
    assert_eq!(code, 0);
    let (code, from_run, _) = kscope(&["run", "-l", pattern]);
    assert_eq!(code, 0);
    assert_eq!(listed, from_run);
    assert!(
        listed.lines().any(|l| l == "uprobe:/bin/bash:readline"),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .all(|l| l.starts_with("uprobe:/bin/bash:readl"))
    );
}

/// fentry/fexit functions are listed where the kernel loads fentry programs (the lab),
/// with `-v` their parameters and fexit's `retval` as C declarations; elsewhere none are.
#[test]
fn lab_fentry_and_fexit_functions_are_listed_with_their_prototypes() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let report = kscope_testkit::doctor_report();
    let supported = report.get("bpf_tracing").is_some_and(|c| c.available);
    let (code, out, err) = kscope(&["list", "-v", "f*:__sys_bpf"]);
    if !supported {
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        return;
    }
    assert_eq!(code, 0, "{err}");
    // Linux 6.1 declares `int cmd`, later kernels `enum bpf_cmd cmd`.
    assert_eq!(
        out.replace("enum bpf_cmd cmd", "int cmd"),
        "fentry:vmlinux:__sys_bpf\n    int cmd\n    bpfptr_t uattr\n    unsigned int size\n\
         fexit:vmlinux:__sys_bpf\n    int cmd\n    bpfptr_t uattr\n    unsigned int size\n    \
         int retval\n"
    );
    let (_, run_l, _) = kscope(&["run", "-l", "fentry:vfs_rea?"]);
    assert_eq!(run_l, "fentry:vmlinux:vfs_read\n");
}

/// BPF iterators are listed from BTF (`bpf_iter_TARGET` functions), with `-v` the
/// members of their `ctx` other than `meta`.
#[test]
fn iterators_are_listed_with_their_context() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let (code, out, err) = kscope(&["list", "-v", "iter:task_*"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "iter:task_file\n    struct task_struct *task\n    u32 fd\n    struct file *file\n\
         iter:task_vma\n    struct task_struct *task\n    struct vm_area_struct *vma\n"
    );
}
