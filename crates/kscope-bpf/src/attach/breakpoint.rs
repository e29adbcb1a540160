//! Hardware breakpoints (`watchpoint:ADDR:LEN:MODE`): a `BPF_PROG_TYPE_PERF_EVENT`
//! program run on each access of the watched bytes, through a `PERF_TYPE_BREAKPOINT`
//! event per thread of the watched process (inherited by the threads it creates), or
//! per online CPU for every task (a kernel address).
//!
//! # Minimum kernel version
//!
//! Linux 4.9 (`BPF_PROG_TYPE_PERF_EVENT` on breakpoint events). x86 has four debug
//! registers per CPU: a fifth watch of one task is `ENOSPC`.

use kscope_sys::perf::{self, BreakpointKind};

use super::{AttachError, PerfLink, attach_perf_event, check_type, error, perf_open_hint};
use crate::{ProgType, Program};

/// What to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakpoint {
    /// The first byte's address.
    pub addr: u64,
    /// 1, 2, 4 or 8 bytes.
    pub len: u64,
    /// Reads, writes, execution.
    pub kind: BreakpointKind,
}

/// Whose accesses fire it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// These threads (and the threads they create).
    Threads(Vec<i32>),
    /// Every task, on every online CPU.
    AllCpus,
}

/// A program attached to breakpoint events; dropping it closes them all.
#[derive(Debug)]
pub struct BreakpointLinks {
    /// One attachment per thread or CPU.
    pub links: Vec<PerfLink>,
}

/// Opens the breakpoint events and attaches a [`ProgType::PerfEvent`] program. A thread
/// that exits meanwhile is skipped; the attachment fails only when none could be made.
pub fn attach(
    prog: &Program,
    bp: &Breakpoint,
    watched: &Watched,
) -> Result<BreakpointLinks, AttachError> {
    let target = format!("watchpoint on {} bytes at {:#x}", bp.len, bp.addr);
    check_type(prog, &[ProgType::PerfEvent], &target)?;
    let targets: Vec<(i32, i32)> = match watched {
        Watched::Threads(tids) => tids.iter().map(|&t| (t, -1)).collect(),
        Watched::AllCpus => super::perf_event::online_cpus()
            .map_err(|e| {
                error(
                    prog,
                    &target,
                    "reading the online CPUs",
                    e,
                    "is /sys mounted?",
                )
            })?
            .into_iter()
            .map(|c| (-1, c as i32))
            .collect(),
    };
    let mut links = Vec::with_capacity(targets.len());
    let mut first_error = None;
    for (pid, cpu) in targets {
        match perf::open_breakpoint(bp.addr, bp.len, bp.kind, pid, cpu) {
            Ok(event) => links.push(attach_perf_event(prog, event, &target)?),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) && pid != -1 => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if links.is_empty() {
        let e = first_error.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ESRCH));
        let hint = match e.raw_os_error() {
            Some(libc::ENOSPC) => "no debug register left: x86 has four per CPU",
            Some(libc::EINVAL) => {
                "the address, length or mode is not one this CPU can watch (x86: aligned to the length; rw, w or x)"
            }
            Some(libc::ENOENT | libc::EOPNOTSUPP) => {
                "this kernel or CPU has no hardware breakpoints"
            }
            Some(libc::ESRCH) => "the process is gone",
            _ => perf_open_hint(&e),
        };
        return Err(error(
            prog,
            &target,
            "opening a breakpoint perf event",
            e,
            hint,
        ));
    }
    Ok(BreakpointLinks { links })
}
