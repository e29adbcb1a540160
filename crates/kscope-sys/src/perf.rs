//! `perf_event_open(2)`: counting events and the dynamic PMUs (kprobe, uprobe).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use perf_event_open_sys::bindings as sys;

pub use sys::perf_event_attr;

/// `PERF_TYPE_HARDWARE`.
pub const TYPE_HARDWARE: u32 = sys::PERF_TYPE_HARDWARE;
/// `PERF_TYPE_SOFTWARE`.
pub const TYPE_SOFTWARE: u32 = sys::PERF_TYPE_SOFTWARE;
/// `PERF_TYPE_TRACEPOINT`.
pub const TYPE_TRACEPOINT: u32 = sys::PERF_TYPE_TRACEPOINT;
/// `PERF_COUNT_HW_CPU_CYCLES`.
pub const HW_CPU_CYCLES: u64 = sys::PERF_COUNT_HW_CPU_CYCLES as u64;
/// `PERF_COUNT_SW_CPU_CLOCK`.
pub const SW_CPU_CLOCK: u64 = sys::PERF_COUNT_SW_CPU_CLOCK as u64;

/// A zeroed attribute with `size` set, for the caller to fill in.
pub fn new_attr(type_: u32, config: u64) -> perf_event_attr {
    let mut attr = perf_event_attr {
        type_,
        config,
        ..Default::default()
    };
    attr.size = std::mem::size_of::<perf_event_attr>() as u32;
    attr
}

/// Calls perf_event_open with `PERF_FLAG_FD_CLOEXEC`.
pub fn open(attr: &mut perf_event_attr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid, fully initialised attribute that outlives the call.
    let fd = unsafe {
        perf_event_open_sys::perf_event_open(attr, pid, cpu, -1, sys::PERF_FLAG_FD_CLOEXEC as _)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a disabled counting event of `type_`/`config` on the calling thread (any CPU),
/// excluding the hypervisor. Used to learn whether a counter exists.
pub fn open_counter(type_: u32, config: u64) -> io::Result<OwnedFd> {
    let mut attr = new_attr(type_, config);
    attr.set_disabled(1);
    attr.set_exclude_hv(1);
    open(&mut attr, 0, -1)
}

/// The dynamic type number of a PMU from `/sys/bus/event_source/devices/<pmu>/type`.
pub fn pmu_type(pmu: &str) -> io::Result<u32> {
    let text = std::fs::read_to_string(format!("/sys/bus/event_source/devices/{pmu}/type"))?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad {pmu} PMU type")))
}

/// Opens a uprobe through the `uprobe` PMU on `path` at file offset `offset`, for process
/// `pid` (0 = the caller, -1 = every process, then `cpu` must be a CPU) on `cpu` (-1 = any).
/// The probe exists as long as the descriptor does.
pub fn open_uprobe(
    pmu_type: u32,
    path: &Path,
    offset: u64,
    pid: i32,
    cpu: i32,
) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut attr = new_attr(pmu_type, 0);
    attr.set_disabled(1);
    attr.__bindgen_anon_3.uprobe_path = c_path.as_ptr() as u64;
    attr.__bindgen_anon_4.probe_offset = offset;
    open(&mut attr, pid, cpu)
}

/// Opens a kprobe through the `kprobe` PMU on function `func` at `offset`, on CPU `cpu`.
pub fn open_kprobe(pmu_type: u32, func: &str, offset: u64, cpu: i32) -> io::Result<OwnedFd> {
    let c_func = CString::new(func)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in function name"))?;
    let mut attr = new_attr(pmu_type, 0);
    attr.set_disabled(1);
    attr.__bindgen_anon_3.kprobe_func = c_func.as_ptr() as u64;
    attr.__bindgen_anon_4.probe_offset = offset;
    open(&mut attr, -1, cpu)
}
