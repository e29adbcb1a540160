//! Kprobes and kretprobes through the `kprobe` PMU.
//!
//! # Minimum kernel version
//!
//! Linux 4.17 (the `kprobe` PMU; `BPF_PROG_TYPE_KPROBE` programs since 4.1). The BPF link
//! path needs 5.15; older kernels use `PERF_EVENT_IOC_SET_BPF`.
//!
//! Kernels without the PMU but with `kprobe_events` are not handled here yet: attaching
//! there fails with a message saying so. kprobes are absent on the kscope development VM;
//! the `lab_bpf_*` tests exercise this module on guest kernels.

use kscope_sys::perf;

use super::{AttachError, PerfLink, attach_perf_event, check_type, error, perf_open_hint};
use crate::{ProgType, Program};

/// A program attached to a kprobe; dropping it detaches and removes the probe.
#[derive(Debug)]
pub struct KprobeLink {
    /// The attachment.
    pub link: PerfLink,
}

/// Attaches a [`ProgType::Kprobe`] program to kernel function `func` at byte `offset`
/// (0 for the entry), or to its return with `retprobe`.
pub fn attach(
    prog: &Program,
    func: &str,
    offset: u64,
    retprobe: bool,
) -> Result<KprobeLink, AttachError> {
    let kind = if retprobe { "kretprobe" } else { "kprobe" };
    let target = format!("{kind} {func}+{offset}");
    check_type(prog, &[ProgType::Kprobe], &target)?;
    let pmu = perf::pmu_type("kprobe").map_err(|e| {
        error(
            prog,
            &target,
            "reading the kprobe PMU type",
            e,
            "this kernel has no kprobe PMU; attaching through kprobe_events is not built \
             yet: see `kscope doctor` (kprobes)",
        )
    })?;
    let event = perf::open_kprobe_ext(pmu, func, offset, retprobe, super::first_online_cpu())
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::ENOENT | libc::EINVAL) => {
                    "no such probeable kernel function: it may be inlined, static and renamed, \
                 or on the kprobe blacklist"
                }
                _ => perf_open_hint(&e),
            };
            error(prog, &target, "opening the kprobe perf event", e, hint)
        })?;
    Ok(KprobeLink {
        link: attach_perf_event(prog, event, &target)?,
    })
}
