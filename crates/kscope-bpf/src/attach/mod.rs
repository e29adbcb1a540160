//! Attaching loaded programs to kernel events, one module per kind.
//!
//! Every attachment is an owned value whose `Drop` detaches the program and closes the
//! kernel objects behind it (links, perf events, probe events created through a PMU), so
//! nothing outlives the process that created it. The program itself may be dropped after
//! attaching: the link or perf event keeps a reference to it.
//!
//! | kind | module | kernel objects | minimum kernel |
//! |---|---|---|---|
//! | tracepoint | [`tracepoint`] | perf event (`PERF_TYPE_TRACEPOINT`) + link or `SET_BPF` | 4.7 |
//! | raw tracepoint | [`raw_tracepoint`] | `BPF_RAW_TRACEPOINT_OPEN` link | 4.17 |
//! | uprobe/uretprobe | [`uprobe`] | `uprobe` PMU perf event + link or `SET_BPF` | 4.17 |
//! | kprobe/kretprobe | [`kprobe`] | `kprobe` PMU perf event + link or `SET_BPF` | 4.17 |
//! | sampling (profile, interval, software) | [`perf_event`] | one perf event per CPU | 4.9 |
//! | run once (BEGIN/END) | [`test_run`] | none: `BPF_PROG_TEST_RUN` | 5.10 |

pub mod breakpoint;
pub mod iter;
pub mod kprobe;
pub mod perf_event;
pub mod raw_tracepoint;
pub mod test_run;
pub mod tracepoint;
pub mod tracing;
pub mod uprobe;

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use kscope_sys::perf;

use crate::{ProgType, Program};

/// An attach that failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "attaching BPF {prog_type} program `{program}` to {target} failed while {step}: {source}; {hint}"
)]
pub struct AttachError {
    /// The program's type.
    pub prog_type: ProgType,
    /// The program's name.
    pub program: String,
    /// The attach point, e.g. `tracepoint syscalls:sys_enter_getppid`.
    pub target: String,
    /// The step that failed, e.g. "opening the perf event".
    pub step: &'static str,
    /// What to do about it.
    pub hint: String,
    /// The errno.
    pub source: io::Error,
}

impl AttachError {
    /// The raw errno, e.g. `libc::ENOENT`.
    pub fn raw_errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub(crate) fn error(
    prog: &Program,
    target: &str,
    step: &'static str,
    source: io::Error,
    hint: impl Into<String>,
) -> AttachError {
    AttachError {
        prog_type: prog.prog_type(),
        program: prog.name().to_string(),
        target: target.to_string(),
        step,
        hint: hint.into(),
        source,
    }
}

/// Refuses a program of the wrong type before the kernel answers with a bare `EINVAL`.
pub(crate) fn check_type(
    prog: &Program,
    want: &[ProgType],
    target: &str,
) -> Result<(), AttachError> {
    if want.contains(&prog.prog_type()) {
        return Ok(());
    }
    let names: Vec<&str> = want.iter().map(|t| t.name()).collect();
    Err(error(
        prog,
        target,
        "checking the program type",
        io::Error::from_raw_os_error(libc::EINVAL),
        format!("this attach point needs a {} program", names.join(" or ")),
    ))
}

/// How a program is attached to a perf event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfAttachMethod {
    /// `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (Linux 5.15).
    Link,
    /// `PERF_EVENT_IOC_SET_BPF` (older kernels).
    Ioctl,
}

/// A program attached to one perf event. Dropping it disables the event and closes the
/// link (if any) and the event, which detaches the program and removes a PMU probe.
#[derive(Debug)]
pub struct PerfLink {
    // Field order is drop order: the link goes before the event.
    link: Option<OwnedFd>,
    event: OwnedFd,
}

impl PerfLink {
    /// How the program was attached.
    pub fn method(&self) -> PerfAttachMethod {
        if self.link.is_some() {
            PerfAttachMethod::Link
        } else {
            PerfAttachMethod::Ioctl
        }
    }

    /// The kernel id of the BPF link, when attached through one.
    pub fn link_id(&self) -> Option<u32> {
        self.link
            .as_ref()
            .and_then(|l| crate::object_id(l.as_fd()).ok())
    }
}

impl Drop for PerfLink {
    fn drop(&mut self) {
        // Stop delivery first; closing the fds below then detaches and frees everything.
        let _ = perf::disable(self.event.as_fd());
    }
}

/// Attaches `prog` to the perf event `event` (opened disabled) and enables it: through a
/// BPF link where the kernel has `BPF_LINK_CREATE` for perf events, else with
/// `PERF_EVENT_IOC_SET_BPF`.
pub(crate) fn attach_perf_event(
    prog: &Program,
    event: OwnedFd,
    target: &str,
) -> Result<PerfLink, AttachError> {
    attach_perf_event_with(prog, event, target, PerfAttachMethod::Link)
}

/// [`attach_perf_event`] starting with `method`: `Ioctl` skips the link attempt (the path
/// kernels before 5.15 take).
pub(crate) fn attach_perf_event_with(
    prog: &Program,
    event: OwnedFd,
    target: &str,
    method: PerfAttachMethod,
) -> Result<PerfLink, AttachError> {
    let first = match method {
        PerfAttachMethod::Link => {
            kscope_sys::bpf::link_create_perf_event(prog.fd(), event.as_fd(), 0)
        }
        PerfAttachMethod::Ioctl => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let link = match first {
        Ok(link) => Some(link),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::EOPNOTSUPP | libc::E2BIG | crate::ENOTSUPP)
            ) =>
        {
            perf::set_bpf(event.as_fd(), prog.fd()).map_err(|e| {
                error(
                    prog,
                    target,
                    "attaching with PERF_EVENT_IOC_SET_BPF",
                    e,
                    "check that the program type matches the event (tracepoint programs for \
                     tracepoints, kprobe programs for kprobes and uprobes, perf_event programs \
                     for sampling events)",
                )
            })?;
            None
        }
        Err(e) => {
            return Err(error(
                prog,
                target,
                "creating a BPF link on the perf event",
                e,
                "check that the program type matches the event",
            ));
        }
    };
    let linked = PerfLink { link, event };
    perf::enable(linked.event.as_fd()).map_err(|e| {
        error(
            prog,
            target,
            "enabling the perf event",
            e,
            "see `kscope doctor`",
        )
    })?;
    Ok(linked)
}

/// The CPU for events that only need to exist once (tracepoints, probes): the first online
/// CPU, or 0 if the list cannot be read.
pub(crate) fn first_online_cpu() -> i32 {
    perf_event::online_cpus()
        .ok()
        .and_then(|c| c.first().copied())
        .map_or(0, |c| c as i32)
}

/// Hint for a failed `perf_event_open`.
pub(crate) fn perf_open_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            "run as root, or grant CAP_PERFMON (kernel.perf_event_paranoid restricts others)"
        }
        Some(libc::ENOENT) => "the event does not exist on this kernel: list it with `kscope list`",
        Some(libc::EMFILE) => "too many open files: raise the fd limit (ulimit -n)",
        _ => "see `kscope doctor` for what this kernel supports",
    }
}
