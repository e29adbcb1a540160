//! `perf_event_open(2)`: counting events and the dynamic PMUs (kprobe, uprobe).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// perf's software events by the names bpftrace gives them (`software:NAME:COUNT`), with
/// the short alias, the `PERF_COUNT_SW_*` config and the sample period bpftrace uses
/// when the probe names no count.
pub const SOFTWARE_EVENTS: [(&str, &str, u64, u64); 11] = [
    (
        "alignment-faults",
        "",
        sys::PERF_COUNT_SW_ALIGNMENT_FAULTS as u64,
        1,
    ),
    ("bpf-output", "", sys::PERF_COUNT_SW_BPF_OUTPUT as u64, 1),
    (
        "context-switches",
        "cs",
        sys::PERF_COUNT_SW_CONTEXT_SWITCHES as u64,
        1000,
    ),
    (
        "cpu-clock",
        "cpu",
        sys::PERF_COUNT_SW_CPU_CLOCK as u64,
        1_000_000,
    ),
    (
        "cpu-migrations",
        "",
        sys::PERF_COUNT_SW_CPU_MIGRATIONS as u64,
        1,
    ),
    ("dummy", "", sys::PERF_COUNT_SW_DUMMY as u64, 1),
    (
        "emulation-faults",
        "",
        sys::PERF_COUNT_SW_EMULATION_FAULTS as u64,
        1,
    ),
    (
        "major-faults",
        "",
        sys::PERF_COUNT_SW_PAGE_FAULTS_MAJ as u64,
        1,
    ),
    (
        "minor-faults",
        "",
        sys::PERF_COUNT_SW_PAGE_FAULTS_MIN as u64,
        100,
    ),
    (
        "page-faults",
        "faults",
        sys::PERF_COUNT_SW_PAGE_FAULTS as u64,
        100,
    ),
    ("task-clock", "", sys::PERF_COUNT_SW_TASK_CLOCK as u64, 1),
];

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

/// Opens a uprobe or uretprobe through the `uprobe` PMU: like [`open_uprobe`], with
/// `retprobe` setting config bit 0 (the PMU's `format/retprobe` is `config:0`).
pub fn open_uprobe_ext(
    pmu_type: u32,
    path: &Path,
    offset: u64,
    retprobe: bool,
    pid: i32,
    cpu: i32,
) -> io::Result<OwnedFd> {
    open_uprobe_config(pmu_type, u64::from(retprobe), path, offset, pid, cpu)
}

/// [`open_uprobe_ext`] with the whole `config` given: bit 0 makes a uretprobe, and the
/// bits of the PMU's `ref_ctr_offset` format field (32..63) hold the file offset of a
/// USDT semaphore the kernel increments while the probe is installed (Linux ≥ 4.20).
pub fn open_uprobe_config(
    pmu_type: u32,
    config: u64,
    path: &Path,
    offset: u64,
    pid: i32,
    cpu: i32,
) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut attr = new_attr(pmu_type, config);
    attr.set_disabled(1);
    attr.__bindgen_anon_3.uprobe_path = c_path.as_ptr() as u64;
    attr.__bindgen_anon_4.probe_offset = offset;
    open(&mut attr, pid, cpu)
}

/// Opens a kprobe or kretprobe through the `kprobe` PMU on `func`+`offset`, every process,
/// on CPU `cpu`; `retprobe` sets config bit 0.
pub fn open_kprobe_ext(
    pmu_type: u32,
    func: &str,
    offset: u64,
    retprobe: bool,
    cpu: i32,
) -> io::Result<OwnedFd> {
    let c_func = CString::new(func)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in function name"))?;
    let mut attr = new_attr(pmu_type, u64::from(retprobe));
    attr.set_disabled(1);
    attr.__bindgen_anon_3.kprobe_func = c_func.as_ptr() as u64;
    attr.__bindgen_anon_4.probe_offset = offset;
    open(&mut attr, -1, cpu)
}

/// Opens a disabled tracepoint event (`PERF_TYPE_TRACEPOINT`, `config` = the id from
/// tracefs `events/SYSTEM/EVENT/id`) for every process on `cpu`, with period 1 so that
/// every hit is delivered (what a BPF program attached to it needs).
pub fn open_tracepoint(id: u64, cpu: i32) -> io::Result<OwnedFd> {
    let mut attr = new_attr(TYPE_TRACEPOINT, id);
    attr.set_disabled(1);
    attr.__bindgen_anon_1.sample_period = 1;
    attr.__bindgen_anon_2.wakeup_events = 1;
    open(&mut attr, -1, cpu)
}

/// How often a sampling event fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRate {
    /// `freq = 1`: this many samples per second (the kernel adapts the period).
    Frequency(u64),
    /// Every this many events (nanoseconds for the clock events).
    Period(u64),
}

/// Opens a disabled sampling event of `type_`/`config` (e.g. [`TYPE_SOFTWARE`] /
/// [`SW_CPU_CLOCK`]) for every process on `cpu`.
pub fn open_sampling(type_: u32, config: u64, rate: SampleRate, cpu: i32) -> io::Result<OwnedFd> {
    let mut attr = new_attr(type_, config);
    attr.set_disabled(1);
    match rate {
        SampleRate::Frequency(hz) => {
            attr.set_freq(1);
            attr.__bindgen_anon_1.sample_freq = hz;
        }
        SampleRate::Period(p) => attr.__bindgen_anon_1.sample_period = p,
    }
    open(&mut attr, -1, cpu)
}

/// What a hardware breakpoint fires on (`HW_BREAKPOINT_R`/`W`/`X` bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakpointKind {
    /// A read of the watched bytes.
    pub read: bool,
    /// A write.
    pub write: bool,
    /// Executing the instruction there.
    pub execute: bool,
}

/// Opens a disabled hardware breakpoint (`PERF_TYPE_BREAKPOINT`) on `len` bytes at `addr`,
/// sampling every hit, for thread `pid` (and the threads it creates: `inherit`) on any
/// CPU, or with `pid` -1 for every task on `cpu`. An execute breakpoint spans a `long`,
/// as perf_event_open(2) requires.
pub fn open_breakpoint(
    addr: u64,
    len: u64,
    kind: BreakpointKind,
    pid: i32,
    cpu: i32,
) -> io::Result<OwnedFd> {
    let mut attr = new_attr(sys::PERF_TYPE_BREAKPOINT, 0);
    attr.set_disabled(1);
    attr.set_inherit(u64::from(pid != -1));
    let mut bp_type = 0;
    if kind.read {
        bp_type |= sys::HW_BREAKPOINT_R;
    }
    if kind.write {
        bp_type |= sys::HW_BREAKPOINT_W;
    }
    if kind.execute {
        bp_type |= sys::HW_BREAKPOINT_X;
    }
    attr.bp_type = bp_type;
    attr.__bindgen_anon_3.bp_addr = addr;
    attr.__bindgen_anon_4.bp_len = if kind.execute {
        std::mem::size_of::<libc::c_long>() as u64
    } else {
        len
    };
    attr.__bindgen_anon_1.sample_period = 1;
    open(&mut attr, pid, cpu)
}

fn ioctl_result(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PERF_EVENT_IOC_SET_BPF`: attaches the BPF program `prog` to the perf event (Linux 4.1
/// for kprobes, 4.7 tracepoints, 4.9 sampling events). Closing the event detaches it.
pub fn set_bpf(event: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain ioctl on descriptors we borrow for the duration of the call.
    ioctl_result(unsafe {
        perf_event_open_sys::ioctls::SET_BPF(event.as_raw_fd(), prog.as_raw_fd() as u32)
    })
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn enable(event: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain ioctl on a borrowed descriptor; the argument is unused.
    ioctl_result(unsafe { perf_event_open_sys::ioctls::ENABLE(event.as_raw_fd(), 0) })
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn disable(event: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain ioctl on a borrowed descriptor; the argument is unused.
    ioctl_result(unsafe { perf_event_open_sys::ioctls::DISABLE(event.as_raw_fd(), 0) })
}
