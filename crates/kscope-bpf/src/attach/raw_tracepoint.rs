//! Raw tracepoints (`rawtracepoint:NAME`): the tracepoint's raw arguments as `u64`s.
//!
//! # Minimum kernel version
//!
//! Linux 4.17 (`BPF_PROG_TYPE_RAW_TRACEPOINT` and `BPF_RAW_TRACEPOINT_OPEN`); since 5.7 the
//! fd that command returns is a BPF link. `BPF_LINK_CREATE` has no field for a tracepoint
//! name, so raw tracepoint programs are attached with `BPF_RAW_TRACEPOINT_OPEN` on every
//! kernel (libbpf does the same).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{AttachError, check_type, error};
use crate::{ProgType, Program};

/// A raw tracepoint program attached to a tracepoint; dropping it detaches.
#[derive(Debug)]
pub struct RawTracepointLink {
    link: OwnedFd,
    name: String,
}

impl RawTracepointLink {
    /// The tracepoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel id of the link (Linux ≥ 5.7).
    pub fn link_id(&self) -> io::Result<u32> {
        crate::object_id(self.link.as_fd())
    }
}

/// Attaches a [`ProgType::RawTracepoint`] program to the tracepoint `name` (e.g.
/// `sys_enter`, `sched_switch`: the event name without its system).
pub fn attach(prog: &Program, name: &str) -> Result<RawTracepointLink, AttachError> {
    let target = format!("raw tracepoint {name}");
    check_type(prog, &[ProgType::RawTracepoint], &target)?;
    let c_name = CString::new(name).map_err(|_| {
        error(
            prog,
            &target,
            "checking the name",
            io::Error::from_raw_os_error(libc::EINVAL),
            "the name contains a NUL byte",
        )
    })?;
    let link = kscope_sys::bpf::raw_tracepoint_open(&c_name, prog.fd()).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::ENOENT) {
            "no such tracepoint: raw tracepoints are named without their system (sys_enter, \
             not raw_syscalls:sys_enter)"
        } else {
            "see `kscope doctor` (bpf_raw_tracepoint)"
        };
        error(prog, &target, "opening the raw tracepoint", e, hint)
    })?;
    Ok(RawTracepointLink {
        link,
        name: name.to_string(),
    })
}
