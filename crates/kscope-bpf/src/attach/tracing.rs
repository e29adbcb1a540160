//! fentry/fexit (`fentry:FUNC`, `fexit:FUNC`): programs of [`ProgType::Tracing`] loaded
//! against a kernel function's BTF id, called through a BPF trampoline with the function's
//! arguments as a `u64` array (fexit: the return value after them).
//!
//! # Minimum kernel version
//!
//! Linux 5.5 (`BPF_PROG_TYPE_TRACING`, BPF trampolines), x86-64 first; the target was fixed
//! when the program was loaded, so attaching is `BPF_RAW_TRACEPOINT_OPEN` without a name.
//! Kernels without `CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS` (or that forbid it, like the
//! kscope development VM) refuse the program at load time: `kscope doctor` (bpf_tracing).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{AttachError, check_type, error};
use crate::{ProgType, Program};

/// A tracing program attached to its function; dropping it detaches.
#[derive(Debug)]
pub struct TracingLink {
    link: OwnedFd,
    target: String,
}

impl TracingLink {
    /// What the program traces, e.g. `fentry:vfs_read`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The kernel id of the link.
    pub fn link_id(&self) -> io::Result<u32> {
        crate::object_id(self.link.as_fd())
    }
}

/// Attaches a [`ProgType::Tracing`] program (loaded with its target's `attach_btf_id`)
/// to that target; `target` names it in errors.
pub fn attach(prog: &Program, target: &str) -> Result<TracingLink, AttachError> {
    check_type(prog, &[ProgType::Tracing], target)?;
    let link = kscope_sys::bpf::tracing_open(prog.fd()).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EBUSY) => "the function already has the most trampolines the kernel allows",
            // 524 is the kernel-internal ENOTSUPP that some attach paths leak.
            Some(libc::EOPNOTSUPP | 524) => {
                "this kernel cannot attach a trampoline to that function"
            }
            _ => "see `kscope doctor` (bpf_tracing)",
        };
        error(prog, target, "attaching the trampoline", e, hint)
    })?;
    Ok(TracingLink {
        link,
        target: target.to_string(),
    })
}
