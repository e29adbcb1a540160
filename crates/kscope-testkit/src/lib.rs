//! The helper every kscope kernel test uses to decide "run, or skip with a reason".
//!
//! ```no_run
//! use kscope_testkit::{Feature, require};
//!
//! let Some(_kernel) = require(Feature::Uprobes) else {
//!     return; // skipped, and the reason was printed
//! };
//! // ... the test, holding the kernel-test lock ...
//! ```
//!
//! [`require`] asks `kscope doctor`'s probes (run once per test process). When the feature
//! is available it returns a [`KernelGuard`], which also serialises kernel tests across
//! threads and processes (they compare global kernel state). When it is not, the test
//! prints why and skips — except under `KSCOPE_REQUIRE_KERNEL=1` (set by CI), where a skip
//! is a failure unless doctor reports the feature absent or blocked on this kernel.

pub mod cprogram;
pub mod snapshot;

use std::path::Path;
use std::sync::OnceLock;

use kscope_doctor::{Report, State};
use kscope_sys::lock::FileLock;

/// A kernel feature a test can require; each maps to one doctor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// tracefs mounted and private instances work.
    Tracefs,
    /// Tracepoint events can be enabled.
    Tracepoints,
    /// Memory-mapping a tracefs ring buffer (Linux ≥ 6.10).
    RingBufferMmap,
    /// Changing the ring buffer's sub-buffer size (`buffer_subbuf_size_kb`, Linux ≥ 6.8).
    SubbufSize,
    /// The function tracer.
    FunctionTracer,
    /// The function_graph tracer.
    FunctionGraphTracer,
    /// Hist triggers.
    HistTriggers,
    /// kprobes (kprobe_events or the kprobe PMU).
    Kprobes,
    /// uprobes (uprobe_events and/or the uprobe PMU).
    Uprobes,
    /// The bpf(2) syscall.
    Bpf,
    /// BPF tracepoint programs.
    BpfTracepoint,
    /// BPF raw tracepoint programs.
    BpfRawTracepoint,
    /// BPF kprobe-type programs (also used for uprobes).
    BpfKprobe,
    /// BPF perf_event programs.
    BpfPerfEvent,
    /// BPF tracing (fentry/fexit) programs.
    BpfTracing,
    /// BPF ring buffer maps.
    Ringbuf,
    /// vmlinux BTF.
    Btf,
    /// Software perf events.
    PerfSw,
    /// Hardware perf counters.
    PerfHw,
    /// Hardware breakpoints (`watchpoint:` probes).
    PerfBreakpoint,
    /// /dev/kmsg.
    Kmsg,
    /// /proc/kcore.
    Kcore,
    /// Data symbols in /proc/kallsyms.
    KallsymsAll,
}

impl Feature {
    /// The doctor check that decides this feature.
    pub fn check_name(self) -> &'static str {
        match self {
            Feature::Tracefs => "tracefs",
            Feature::Tracepoints => "tracepoints",
            Feature::RingBufferMmap => "ring_buffer_mmap",
            Feature::SubbufSize => "ring_buffer_subbuf_size",
            Feature::FunctionTracer => "function_tracer",
            Feature::FunctionGraphTracer => "function_graph_tracer",
            Feature::HistTriggers => "hist_triggers",
            Feature::Kprobes => "kprobes",
            Feature::Uprobes => "uprobes",
            Feature::Bpf => "bpf",
            Feature::BpfTracepoint => "bpf_tracepoint",
            Feature::BpfRawTracepoint => "bpf_raw_tracepoint",
            Feature::BpfKprobe => "bpf_kprobe",
            Feature::BpfPerfEvent => "bpf_perf_event",
            Feature::BpfTracing => "bpf_tracing",
            Feature::Ringbuf => "ringbuf",
            Feature::Btf => "btf",
            Feature::PerfSw => "perf_sw",
            Feature::PerfHw => "perf_hw",
            Feature::PerfBreakpoint => "perf_breakpoint",
            Feature::Kmsg => "kmsg",
            Feature::Kcore => "kcore",
            Feature::KallsymsAll => "kallsyms_all",
        }
    }
}

/// Held by a kernel test while it runs: an exclusive lock shared by all kscope kernel tests
/// on this machine.
#[derive(Debug)]
pub struct KernelGuard {
    _lock: FileLock,
}

/// True when `KSCOPE_REQUIRE_KERNEL=1`: skips for reasons other than a feature the kernel
/// lacks become failures.
pub fn kernel_required() -> bool {
    std::env::var("KSCOPE_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

const LOCK_PATH: &str = "/tmp/kscope-kernel-tests.lock";

fn lock() -> FileLock {
    FileLock::exclusive(Path::new(LOCK_PATH))
        .unwrap_or_else(|e| panic!("locking {LOCK_PATH} for a kernel test: {e}"))
}

/// Names a file holding `kscope doctor --json` for the running boot; when set, tests read
/// it instead of probing (the guest-kernel lab probes once per boot: under emulation one
/// doctor run costs seconds, and every test executable would repeat it).
pub const SAVED_REPORT_ENV: &str = "KSCOPE_DOCTOR_REPORT";

/// The doctor report for this kernel: the saved one named by [`SAVED_REPORT_ENV`], or
/// probed once per test process (under the lock).
pub fn doctor_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        if let Some(path) = std::env::var_os(SAVED_REPORT_ENV) {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "reading the saved doctor report {}: {e}",
                    Path::new(&path).display()
                )
            });
            return Report::from_json(&text).unwrap_or_else(|e| {
                panic!(
                    "parsing the saved doctor report {}: {e}",
                    Path::new(&path).display()
                )
            });
        }
        let _guard = lock();
        kscope_doctor::run()
    })
}

/// The calling thread's id: event filters (`common_pid`), `set_event_pid` and
/// `set_ftrace_pid` match thread ids, not the process id.
pub fn gettid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("reading /proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("/proc/thread-self names the thread id")
}

/// The kernel function behind getppid(2) that kprobes and the function tracer can hit on
/// this kernel, from `available_filter_functions`: 6.12 calls `__do_sys_getppid` from
/// `x64_sys_call`, 6.1 enters `__x64_sys_getppid`. A function filter that matches nothing
/// traces everything, so tests must ask.
pub fn getppid_function() -> String {
    let tracefs = kscope_ftrace::Tracefs::require().expect("tracefs is mounted");
    let available = tracefs
        .read("available_filter_functions")
        .expect("reading available_filter_functions");
    ["__do_sys_getppid", "__x64_sys_getppid", "sys_getppid"]
        .into_iter()
        .find(|f| {
            available
                .lines()
                .any(|l| l.split_whitespace().next() == Some(*f))
        })
        .expect("a traceable getppid function")
        .to_string()
}

/// Whether the tests run as root (kernel tests need it).
pub fn is_root() -> bool {
    kscope_sys::process::is_root()
}

/// Whether a skip must fail the test instead: under `KSCOPE_REQUIRE_KERNEL=1`, unless
/// doctor found the feature absent or blocked on this kernel (`doctor_state`), a skip hides
/// a test that should have run.
pub fn skip_is_failure(kernel_required: bool, doctor_state: Option<State>) -> bool {
    kernel_required && !matches!(doctor_state, Some(State::Absent | State::Blocked))
}

/// Skips (returns `None`, printing why) or fails a test that cannot run; see the crate docs.
fn skip(reason: String, doctor_state: Option<State>) -> Option<KernelGuard> {
    if skip_is_failure(kernel_required(), doctor_state) {
        panic!("KSCOPE_REQUIRE_KERNEL=1, but this kernel test would skip: {reason}");
    }
    eprintln!("skipped: {reason}");
    None
}

/// Returns a guard when every feature is available; otherwise prints the reason and
/// returns `None` (or panics under `KSCOPE_REQUIRE_KERNEL=1`, see the crate docs).
pub fn require_all(features: &[Feature]) -> Option<KernelGuard> {
    if !is_root() {
        return skip("kernel tests need root".into(), None);
    }
    let report = doctor_report();
    for feature in features {
        let name = feature.check_name();
        let Some(check) = report.get(name) else {
            return skip(format!("doctor has no check named {name}"), None);
        };
        if !check.available {
            return skip(
                format!(
                    "{name} is {:?} on this kernel: {}",
                    check.state, check.reason
                ),
                Some(check.state),
            );
        }
    }
    Some(KernelGuard { _lock: lock() })
}

/// [`require_all`] for one feature.
pub fn require(feature: Feature) -> Option<KernelGuard> {
    require_all(&[feature])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_fails_under_require_unless_doctor_says_the_kernel_lacks_it() {
        assert!(!skip_is_failure(false, None));
        assert!(!skip_is_failure(false, Some(State::Unknown)));
        assert!(skip_is_failure(true, None), "not root, or no such check");
        assert!(skip_is_failure(true, Some(State::Unknown)));
        assert!(!skip_is_failure(true, Some(State::Absent)));
        assert!(!skip_is_failure(true, Some(State::Blocked)));
    }
}
