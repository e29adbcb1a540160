//! Tracepoints (`tracepoint:SYSTEM:EVENT`) through `PERF_TYPE_TRACEPOINT` perf events.
//!
//! # Minimum kernel version
//!
//! Linux 4.7 (`BPF_PROG_TYPE_TRACEPOINT`); the BPF link path needs 5.15, older kernels use
//! `PERF_EVENT_IOC_SET_BPF`. The event id comes from tracefs `events/SYSTEM/EVENT/id`.
//! One perf event (any process, CPU 0) is enough: the program runs wherever the
//! tracepoint fires, on every CPU.

use std::io;
use std::path::PathBuf;

use kscope_sys::perf;

use super::{
    AttachError, PerfAttachMethod, PerfLink, attach_perf_event_with, check_type, error,
    perf_open_hint,
};
use crate::{ProgType, Program};

/// The tracefs mount point: the first mounted tracefs, else `/sys/kernel/tracing`
/// (looked up once per process: attaching many tracepoints read the mount table each).
pub fn tracefs_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        kscope_sys::mounts::find_fstype("tracefs")
            .ok()
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| PathBuf::from("/sys/kernel/tracing"))
    })
    .clone()
}

/// The id of tracepoint `system:event` from tracefs `events/SYSTEM/EVENT/id`.
pub fn tracepoint_id(system: &str, event: &str) -> io::Result<u64> {
    if system.contains(['/', '.'])
        || event.contains(['/', '.'])
        || system.is_empty()
        || event.is_empty()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{system}:{event}` is not a tracepoint name"),
        ));
    }
    let path = tracefs_root()
        .join("events")
        .join(system)
        .join(event)
        .join("id");
    // The error keeps its errno (ENOENT: no such event); callers name the path.
    let text = kscope_sys::fs::read_small(&path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds {:?}, not an id", path.display(), text.trim()),
        )
    })
}

/// A tracepoint program attached to `system:event`; dropping it detaches.
#[derive(Debug)]
pub struct TracepointLink {
    /// The attachment.
    pub link: PerfLink,
    /// The tracepoint's id.
    pub id: u64,
}

/// Attaches a [`ProgType::Tracepoint`] program to `system:event`.
pub fn attach(prog: &Program, system: &str, event: &str) -> Result<TracepointLink, AttachError> {
    attach_with(prog, system, event, PerfAttachMethod::Link)
}

/// [`attach`] with a chosen method: [`PerfAttachMethod::Ioctl`] forces
/// `PERF_EVENT_IOC_SET_BPF`, the path of kernels before 5.15 (`Link` falls back to it).
pub fn attach_with(
    prog: &Program,
    system: &str,
    event: &str,
    method: PerfAttachMethod,
) -> Result<TracepointLink, AttachError> {
    let target = format!("tracepoint {system}:{event}");
    check_type(prog, &[ProgType::Tracepoint], &target)?;
    let id = tracepoint_id(system, event).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            format!(
                "no such tracepoint ({} is missing): list them with `kscope list 'tracepoint:*'`",
                tracefs_root()
                    .join("events")
                    .join(system)
                    .join(event)
                    .join("id")
                    .display()
            )
        } else {
            "check that tracefs is mounted and readable".to_string()
        };
        error(prog, &target, "reading the tracepoint id", e, hint)
    })?;
    let event_fd = perf::open_tracepoint(id, super::first_online_cpu()).map_err(|e| {
        let hint = perf_open_hint(&e);
        error(prog, &target, "opening the perf event", e, hint)
    })?;
    let link = attach_perf_event_with(prog, event_fd, &target, method)?;
    Ok(TracepointLink { link, id })
}
