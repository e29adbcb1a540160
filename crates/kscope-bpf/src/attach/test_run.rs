//! Running a program exactly once, now, for `BEGIN` and `END` probes
//! (`BPF_PROG_TEST_RUN`).
//!
//! # Minimum kernel version
//!
//! Linux 5.10 for raw tracepoint programs (`bpf_prog_test_run_raw_tp`), the type to use.
//! `BPF_F_TEST_RUN_ON_CPU` also arrived in 5.10.
//!
//! # Which program types can be test-run (checked on Linux 6.18)
//!
//! The tracing types kscope loads: only `raw_tracepoint` runs as is (its context is up to
//! 12 `u64` arguments; `data_in`, `repeat` and `duration` must be 0). `tracepoint`,
//! `kprobe` and `perf_event` have no test-run support (`ENOTSUPP`, errno 524: see the
//! `test_run_support` kernel test). `tracing` programs (fentry/fexit) only test-run
//! attached, by calling a kernel test function. Networking types (socket filter, XDP, tc)
//! and `syscall` programs can be test-run but lack the tracing helpers a bpftrace `BEGIN`
//! block uses. ply (a C compiler straight to BPF) likewise loads `BEGIN`/`END` as raw
//! tracepoint programs and test-runs them once.
//!
//! The program runs in the calling thread's context, so `pid`, `comm` and friends are
//! kscope's own, as in bpftrace.

use std::io;

pub use kscope_sys::bpf::TestRunOutput;

use super::{AttachError, check_type, error};
use crate::{ProgType, Program};

/// Runs `prog` once with `args` as its raw tracepoint arguments (may be empty), on the
/// current CPU. Returns the program's return value.
pub fn run_once(prog: &Program, args: &[u64]) -> Result<TestRunOutput, AttachError> {
    let target = "a single test run";
    check_type(prog, &[ProgType::RawTracepoint], target)?;
    if args.len() > 12 {
        return Err(error(
            prog,
            target,
            "checking the arguments",
            io::Error::from_raw_os_error(libc::E2BIG),
            "a raw tracepoint has at most 12 arguments",
        ));
    }
    let ctx: Vec<u8> = args.iter().flat_map(|a| a.to_ne_bytes()).collect();
    kscope_sys::bpf::prog_test_run(prog.fd(), &ctx, None).map_err(|e| {
        let hint = if matches!(e.raw_os_error(), Some(crate::ENOTSUPP | libc::EINVAL)) {
            "this kernel cannot test-run raw tracepoint programs (needs Linux ≥ 5.10)"
        } else {
            "see `kscope doctor`"
        };
        error(prog, target, "running it with BPF_PROG_TEST_RUN", e, hint)
    })
}

/// Runs any program once with a raw context, for probing which types support
/// `BPF_PROG_TEST_RUN`; returns the raw errno on failure.
pub fn try_run_raw(prog: &Program, ctx: &[u8]) -> io::Result<TestRunOutput> {
    kscope_sys::bpf::prog_test_run(prog.fd(), ctx, None)
}
