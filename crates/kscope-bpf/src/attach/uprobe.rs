//! Uprobes and uretprobes through the `uprobe` PMU.
//!
//! # Minimum kernel version
//!
//! Linux 4.17 (the `uprobe` PMU; `BPF_PROG_TYPE_KPROBE` programs). The BPF link path needs
//! 5.15; older kernels use `PERF_EVENT_IOC_SET_BPF`.
//!
//! The probe address is a **file offset** in the ELF file, not a virtual address: the
//! caller converts a symbol's address with the program headers of its `PT_LOAD` segment
//! (`offset = addr - p_vaddr + p_offset`). That is also what makes PIE executables and
//! shared libraries work: the file offset does not depend on where they are loaded.

use std::path::Path;

use kscope_sys::perf;

use super::{AttachError, PerfLink, attach_perf_event, check_type, error, perf_open_hint};
use crate::{ProgType, Program};

/// Where and when a uprobe fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UprobeOptions {
    /// `true` for a uretprobe (fires on return from the function at the offset).
    pub retprobe: bool,
    /// Only this process (`-p PID`), or `None` for every process that maps the file.
    pub pid: Option<i32>,
}

/// A program attached to a uprobe; dropping it detaches and removes the probe.
#[derive(Debug)]
pub struct UprobeLink {
    /// The attachment.
    pub link: PerfLink,
}

/// Attaches a [`ProgType::Kprobe`] program to `path` at ELF file offset `offset`.
pub fn attach(
    prog: &Program,
    path: &Path,
    offset: u64,
    opts: UprobeOptions,
) -> Result<UprobeLink, AttachError> {
    attach_with_ref_ctr(prog, path, offset, None, opts)
}

/// The bit where the uprobe PMU's `config` takes a reference counter's file offset
/// (`ref_ctr_offset`, from sysfs `format/ref_ctr_offset`: `config:32-63`), or `None` when
/// the kernel has none (before Linux 4.20).
pub fn ref_ctr_shift() -> Option<u32> {
    let text =
        std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset")
            .ok()?;
    let bits = text.trim().strip_prefix("config:")?;
    bits.split('-').next()?.parse().ok()
}

/// [`attach`] with a reference counter: the kernel increments the 2-byte counter at file
/// offset `ref_ctr_offset` of `path` (a USDT semaphore) in every process where the probe
/// is installed, and decrements it when the probe goes. Linux ≥ 4.20.
pub fn attach_with_ref_ctr(
    prog: &Program,
    path: &Path,
    offset: u64,
    ref_ctr_offset: Option<u64>,
    opts: UprobeOptions,
) -> Result<UprobeLink, AttachError> {
    let kind = if opts.retprobe { "uretprobe" } else { "uprobe" };
    let target = format!("{kind} {}:{offset:#x}", path.display());
    check_type(prog, &[ProgType::Kprobe], &target)?;
    let pmu = perf::pmu_type("uprobe").map_err(|e| {
        error(
            prog,
            &target,
            "reading the uprobe PMU type",
            e,
            "this kernel has no uprobe PMU (CONFIG_UPROBE_EVENTS, Linux ≥ 4.17)",
        )
    })?;
    // A process filter needs "this pid, any CPU"; every process needs "any pid, one CPU"
    // (the program still runs on every CPU: the uprobe is shared).
    let (pid, cpu) = match opts.pid {
        Some(p) => (p, -1),
        None => (-1, super::first_online_cpu()),
    };
    let mut config = u64::from(opts.retprobe);
    if let Some(r) = ref_ctr_offset {
        let shift = ref_ctr_shift().ok_or_else(|| {
            error(
                prog,
                &target,
                "passing the semaphore's offset to the uprobe PMU",
                std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
                "this kernel's uprobe PMU has no ref_ctr_offset (Linux ≥ 4.20): it cannot \
                 raise a USDT semaphore",
            )
        })?;
        config |= r << shift;
    }
    let event = perf::open_uprobe_config(pmu, config, path, offset, pid, cpu).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::ENOENT) => "the file does not exist".to_string(),
            Some(libc::EINVAL) => {
                "the offset is not inside an executable mapping of the file: give a file \
                 offset (symbol address - p_vaddr + p_offset), not a virtual address"
                    .to_string()
            }
            Some(libc::ESRCH) => "no such process".to_string(),
            _ => perf_open_hint(&e).to_string(),
        };
        error(prog, &target, "opening the uprobe perf event", e, hint)
    })?;
    Ok(UprobeLink {
        link: attach_perf_event(prog, event, &target)?,
    })
}
