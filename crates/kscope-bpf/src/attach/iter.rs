//! BPF iterators (`iter:task`, `iter:task_file`, `iter:task_vma`): a [`ProgType::Tracing`]
//! program loaded against the target's `bpf_iter_TARGET` BTF function runs once per object
//! while an iterator instance of its link is read.
//!
//! # Minimum kernel version
//!
//! Linux 5.8 (`BPF_TRACE_ITER`, `BPF_ITER_CREATE`); `task_vma` needs 5.12.

use std::io::Read;
use std::os::fd::AsFd;

use super::{AttachError, check_type, error};
use crate::{ProgType, Program};

/// Runs the iterator program `prog` over every object of its target: links it, opens an
/// iterator instance and reads it to the end. Returns what the program wrote to the
/// iterator's seq file (empty for programs that print through a ring buffer). The link
/// and the instance are closed before this returns.
pub fn run(prog: &Program, target: &str) -> Result<Vec<u8>, AttachError> {
    check_type(prog, &[ProgType::Tracing], target)?;
    let link = kscope_sys::bpf::link_create_iter(prog.fd()).map_err(|e| {
        error(
            prog,
            target,
            "linking the iterator",
            e,
            "see `kscope doctor` (bpf_tracing); iterators need Linux 5.8",
        )
    })?;
    let iter = kscope_sys::bpf::iter_create(link.as_fd())
        .map_err(|e| error(prog, target, "creating the iterator", e, ""))?;
    let mut out = Vec::new();
    std::fs::File::from(iter)
        .read_to_end(&mut out)
        .map_err(|e| error(prog, target, "reading the iterator", e, ""))?;
    Ok(out)
}
