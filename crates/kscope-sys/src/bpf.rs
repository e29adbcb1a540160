//! Safe wrappers over the `bpf(2)` system call.
//!
//! Only the commands kscope needs today are wrapped: [`map_create`], [`prog_load`],
//! [`obj_get_next_id`] and [`obj_get_info_by_fd`]. Every attribute struct is `#[repr(C)]`,
//! laid out exactly like its member of `union bpf_attr` in `include/uapi/linux/bpf.h`, and
//! zero-initialised before use, so fields a caller does not set are 0 as the kernel
//! requires. The structs stop at the last field this module uses; the kernel accepts a
//! shorter `union bpf_attr` and zero-fills the rest.
//!
//! This layer holds no policy: no retries on verifier failure, no name sanitising, no
//! validation of map shapes. `kscope-bpf` builds those on top.
//!
//! `setrlimit(RLIMIT_MEMLOCK)` is not needed: since Linux 5.11 BPF memory is charged to the
//! memory cgroup.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Numbers of the `bpf(2)` commands (`enum bpf_cmd`) that kscope uses or refers to.
pub mod cmd {
    /// `BPF_MAP_CREATE`: create a map, returns its fd.
    pub const MAP_CREATE: u32 = 0;
    /// `BPF_MAP_LOOKUP_ELEM`: read one element.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `BPF_MAP_UPDATE_ELEM`: write one element.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `BPF_MAP_DELETE_ELEM`: delete one element.
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `BPF_MAP_GET_NEXT_KEY`: iterate over keys.
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    /// `BPF_PROG_LOAD`: verify and load a program, returns its fd.
    pub const PROG_LOAD: u32 = 5;
    /// `BPF_PROG_TEST_RUN`: run a program once on supplied input.
    pub const PROG_TEST_RUN: u32 = 10;
    /// `BPF_PROG_GET_NEXT_ID`: iterate over the ids of loaded programs.
    pub const PROG_GET_NEXT_ID: u32 = 11;
    /// `BPF_MAP_GET_NEXT_ID`: iterate over the ids of existing maps.
    pub const MAP_GET_NEXT_ID: u32 = 12;
    /// `BPF_OBJ_GET_INFO_BY_FD`: fill `bpf_prog_info`/`bpf_map_info`/`bpf_link_info`.
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    /// `BPF_RAW_TRACEPOINT_OPEN`: attach a raw tracepoint program.
    pub const RAW_TRACEPOINT_OPEN: u32 = 17;
    /// `BPF_BTF_LOAD`: load a BTF blob (for a program's `func_info`), returns its fd.
    pub const BTF_LOAD: u32 = 18;
    /// `BPF_BTF_GET_NEXT_ID`: iterate over the ids of loaded BTF objects.
    pub const BTF_GET_NEXT_ID: u32 = 23;
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: read and remove one element.
    pub const MAP_LOOKUP_AND_DELETE_ELEM: u32 = 21;
    /// `BPF_MAP_LOOKUP_BATCH`: read many elements at once (Linux 5.6).
    pub const MAP_LOOKUP_BATCH: u32 = 24;
    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`: read and remove many elements (Linux 5.6).
    pub const MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
    /// `BPF_LINK_CREATE`: attach a program through a link.
    pub const LINK_CREATE: u32 = 28;
    /// `BPF_LINK_GET_NEXT_ID`: iterate over the ids of existing links.
    pub const LINK_GET_NEXT_ID: u32 = 31;
    /// `BPF_ENABLE_STATS`: count program run time and runs while the returned fd is open.
    pub const ENABLE_STATS: u32 = 32;
    /// `BPF_ITER_CREATE`: an fd whose reads run an iterator link's program.
    pub const ITER_CREATE: u32 = 33;
}

/// Program type numbers (`enum bpf_prog_type`).
pub mod prog_type {
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (Linux 3.19).
    pub const SOCKET_FILTER: u32 = 1;
    /// `BPF_PROG_TYPE_KPROBE`, also used for uprobes (Linux 4.1).
    pub const KPROBE: u32 = 2;
    /// `BPF_PROG_TYPE_TRACEPOINT` (Linux 4.7).
    pub const TRACEPOINT: u32 = 5;
    /// `BPF_PROG_TYPE_PERF_EVENT` (Linux 4.9).
    pub const PERF_EVENT: u32 = 7;
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (Linux 4.17).
    pub const RAW_TRACEPOINT: u32 = 17;
    /// `BPF_PROG_TYPE_TRACING`: fentry/fexit/fmod_ret/iter/tp_btf (Linux 5.5).
    pub const TRACING: u32 = 26;
}

/// Map type numbers (`enum bpf_map_type`).
pub mod map_type {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: u32 = 3;
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: u32 = 4;
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: u32 = 5;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    pub const STACK_TRACE: u32 = 7;
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: u32 = 9;
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: u32 = 10;
    /// `BPF_MAP_TYPE_RINGBUF` (Linux 5.8).
    pub const RINGBUF: u32 = 27;
}

/// Attach type numbers (`enum bpf_attach_type`) used as `expected_attach_type` or in links.
pub mod attach_type {
    /// `BPF_TRACE_RAW_TP`: `tp_btf` programs.
    pub const TRACE_RAW_TP: u32 = 23;
    /// `BPF_TRACE_FENTRY`: fentry programs.
    pub const TRACE_FENTRY: u32 = 24;
    /// `BPF_TRACE_FEXIT`: fexit programs.
    pub const TRACE_FEXIT: u32 = 25;
    /// `BPF_MODIFY_RETURN`: fmod_ret programs.
    pub const MODIFY_RETURN: u32 = 26;
    /// `BPF_TRACE_ITER`: BPF iterators.
    pub const TRACE_ITER: u32 = 28;
    /// `BPF_PERF_EVENT`: `BPF_LINK_CREATE` on a perf event fd.
    pub const PERF_EVENT: u32 = 41;
    /// `BPF_TRACE_KPROBE_MULTI`: multi-kprobe links.
    pub const TRACE_KPROBE_MULTI: u32 = 42;
}

/// Verifier log levels for [`ProgLoadArgs::log_level`].
pub mod log_level {
    /// `BPF_LOG_LEVEL1`: the instructions the verifier walked and the reason it stopped.
    pub const LEVEL1: u32 = 1;
    /// `BPF_LOG_LEVEL2`: every state at every instruction (very large).
    pub const LEVEL2: u32 = 2;
    /// `BPF_LOG_STATS`: verification statistics only.
    pub const STATS: u32 = 4;
    /// `BPF_LOG_FIXED`: keep the start of the log instead of rotating to keep its end.
    pub const FIXED: u32 = 8;
}

/// Flags of [`MapFd::update`] (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
pub mod update_flags {
    /// `BPF_ANY`: create a new element or update an existing one.
    pub const ANY: u64 = 0;
    /// `BPF_NOEXIST`: create a new element only; `EEXIST` if the key exists.
    pub const NOEXIST: u64 = 1;
    /// `BPF_EXIST`: update an existing element only; `ENOENT` if the key is absent.
    pub const EXIST: u64 = 2;
}

/// `BPF_F_TEST_RUN_ON_CPU`: run a `BPF_PROG_TEST_RUN` on the CPU given in `cpu`.
pub const F_TEST_RUN_ON_CPU: u32 = 1 << 0;

/// `BPF_PSEUDO_MAP_FD`: `src_reg` of an `ld_imm64` whose immediate is a map fd.
pub const PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`: `src_reg` of an `ld_imm64` that loads a map value address.
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `BPF_OBJ_NAME_LEN`: size of the name field of maps and programs, including the NUL.
pub const OBJ_NAME_LEN: usize = 16;

/// `union bpf_attr` for `BPF_MAP_CREATE`, up to `map_token_fd` (Linux 6.9).
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; OBJ_NAME_LEN],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
    value_type_btf_obj_fd: i32,
    map_token_fd: i32,
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `fd_array_cnt` (Linux 6.14).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_btf_obj_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    log_true_size: u32,
    prog_token_fd: i32,
    fd_array_cnt: u32,
}

/// `union bpf_attr` for `BPF_BTF_LOAD`, up to `btf_log_true_size` (Linux 6.4).
#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
}

/// `union bpf_attr` for the `BPF_*_GET_NEXT_ID` commands.
#[repr(C)]
#[derive(Default)]
struct GetNextIdAttr {
    start_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
struct ObjInfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `union bpf_attr` for the `BPF_MAP_*_ELEM` commands and `BPF_MAP_GET_NEXT_KEY`.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value`, or `next_key` for `BPF_MAP_GET_NEXT_KEY`.
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for the `BPF_MAP_*_BATCH` commands.
#[repr(C)]
#[derive(Default)]
struct MapBatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `union bpf_attr` for `BPF_PROG_TEST_RUN`, up to `batch_size` (Linux 5.18).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit tail padding: the kernel rejects non-zero bytes past the last field, and
    /// implicit padding would be left uninitialised.
    _pad: u32,
}

/// `union bpf_attr` for `BPF_RAW_TRACEPOINT_OPEN`, up to `cookie` (Linux 6.10).
#[repr(C)]
#[derive(Default)]
struct RawTracepointAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    cookie: u64,
}

/// `union bpf_attr` for `BPF_LINK_CREATE`, up to `perf_event.bpf_cookie`.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    /// The first union member: `target_btf_id`, or `perf_event.bpf_cookie`.
    cookie: u64,
}

// The layouts must match the kernel's offsets exactly.
const _: () = {
    assert!(std::mem::offset_of!(MapElemAttr, key) == 8);
    assert!(std::mem::offset_of!(MapElemAttr, flags) == 24);
    assert!(std::mem::size_of::<MapBatchAttr>() == 56);
    assert!(std::mem::offset_of!(TestRunAttr, ctx_in) == 48);
    assert!(std::mem::offset_of!(TestRunAttr, batch_size) == 72);
    assert!(std::mem::size_of::<TestRunAttr>() == 80);
    assert!(std::mem::size_of::<MapElemAttr>() == 32);
    assert!(std::mem::size_of::<RawTracepointAttr>() == 24);
    assert!(std::mem::size_of::<LinkCreateAttr>() == 24);
    assert!(std::mem::offset_of!(RawTracepointAttr, cookie) == 16);
    assert!(std::mem::offset_of!(LinkCreateAttr, cookie) == 16);
    assert!(std::mem::offset_of!(MapCreateAttr, map_name) == 28);
    assert!(std::mem::offset_of!(MapCreateAttr, map_extra) == 64);
    assert!(std::mem::size_of::<MapCreateAttr>() == 80);
    assert!(std::mem::offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(std::mem::offset_of!(ProgLoadAttr, attach_btf_id) == 108);
    assert!(std::mem::offset_of!(ProgLoadAttr, fd_array) == 120);
    assert!(std::mem::offset_of!(ProgLoadAttr, log_true_size) == 140);
    assert!(std::mem::size_of::<ProgLoadAttr>() == 152);
    assert!(std::mem::size_of::<GetNextIdAttr>() == 12);
    assert!(std::mem::size_of::<BtfLoadAttr>() == 32);
    assert!(std::mem::size_of::<ObjInfoAttr>() == 16);
};

/// Issues `bpf(cmd, attr, sizeof *attr)` and returns the non-negative result.
///
/// Callers pass only the attribute structs of this module, whose pointer fields (if any)
/// point at memory that outlives the call.
fn sys_bpf<T>(cmd: u32, attr: &mut T) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<T>() as libc::c_long;
    // SAFETY: `attr` is a valid, initialised `#[repr(C)]` struct of `size` bytes that the
    // kernel reads and may partly write back (e.g. `log_true_size`). Any user pointers
    // inside it were set by the callers below from live borrows with matching lengths.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut T as libc::c_long,
            size,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a file descriptor number returned by a successful `bpf(2)` call.
fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| {
        io::Error::other(format!(
            "bpf(2) returned {ret}, which is not a file descriptor"
        ))
    })?;
    // SAFETY: the kernel just created this descriptor for us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Copies `name` into a kernel object-name field: at most 15 bytes, NUL-terminated.
///
/// The kernel rejects names with characters other than ASCII alphanumerics, `_` and `.`
/// with `EINVAL`; this function does not filter them.
fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    let bytes = name.as_bytes();
    let n = bytes.len().min(OBJ_NAME_LEN - 1);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Arguments of [`map_create`].
#[derive(Debug, Clone, Default)]
pub struct MapCreateArgs<'a> {
    /// One of the [`map_type`] numbers.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (for a ring buffer: its size in bytes).
    pub max_entries: u32,
    /// `BPF_F_*` map flags.
    pub map_flags: u32,
    /// Map name as shown by `bpftool map`; truncated to 15 bytes. Only ASCII alphanumerics,
    /// `_` and `.` are accepted by the kernel.
    pub name: &'a str,
}

/// Creates a map with `BPF_MAP_CREATE`.
///
/// Returns the map's file descriptor; the map lives until the last reference (fd, pin or
/// program using it) goes away. Errors are the raw errno: `EINVAL` for a shape the map type
/// does not accept, `EPERM` without `CAP_BPF`, `ENOMEM` when the memory cgroup is full.
pub fn map_create(args: &MapCreateArgs<'_>) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: args.map_type,
        key_size: args.key_size,
        value_size: args.value_size,
        max_entries: args.max_entries,
        map_flags: args.map_flags,
        map_name: obj_name(args.name),
        ..MapCreateAttr::default()
    };
    owned_fd(sys_bpf(cmd::MAP_CREATE, &mut attr)?)
}

/// Arguments of [`prog_load`].
#[derive(Debug)]
pub struct ProgLoadArgs<'a> {
    /// One of the [`prog_type`] numbers.
    pub prog_type: u32,
    /// The instructions, each the 8 bytes of a `struct bpf_insn` read as a native-endian `u64`.
    pub insns: &'a [u64],
    /// Licence string; `"GPL"` (or a GPL-compatible one) unlocks GPL-only helpers.
    pub license: &'a CStr,
    /// One of the [`attach_type`] numbers, or 0 when the program type needs none.
    pub expected_attach_type: u32,
    /// BTF type id of the attach target (a `FUNC` in vmlinux BTF for fentry/fexit), or 0.
    pub attach_btf_id: u32,
    /// Program name as shown by `bpftool prog`; truncated to 15 bytes. Only ASCII
    /// alphanumerics, `_` and `.` are accepted by the kernel.
    pub name: &'a str,
    /// Verifier log level: 0 for none, or a combination of [`log_level`] flags.
    pub log_level: u32,
    /// Buffer for the verifier log, or `None`. With `log_level != 0` and no buffer, Linux
    /// ≥ 6.4 still computes the log and reports its size in [`ProgLoadError::log_true_size`].
    pub log_buf: Option<&'a mut [u8]>,
    /// The program's own BTF ([`btf_load`]) and its `struct bpf_func_info` records (8
    /// bytes each: instruction offset, `FUNC` type id), one per function; needed for
    /// programs whose subprograms are helper callbacks. `None` for plain programs.
    pub func_info: Option<(BorrowedFd<'a>, &'a [u8])>,
}

/// A failed `BPF_PROG_LOAD`: the errno and the size the verifier log needed.
#[derive(Debug, thiserror::Error)]
#[error(
    "BPF_PROG_LOAD failed: {errno} (verifier log size needed: {log_true_size} bytes); \
     load again with log_level 1 and a log buffer of that size to read why"
)]
pub struct ProgLoadError {
    /// The errno: `EACCES` for a verifier rejection, `EINVAL` for bad attributes, `EPERM`
    /// without privileges, `ENOSPC` when the log buffer was too small, `E2BIG` for a too
    /// large program, 524 (`ENOTSUPP`) for a feature the kernel build lacks.
    pub errno: io::Error,
    /// The whole log's size including its NUL, as filled in by Linux ≥ 6.4 when
    /// `log_level != 0`; 0 on older kernels or without logging.
    pub log_true_size: u32,
}

/// Loads a program with `BPF_PROG_LOAD`.
///
/// `EAGAIN` (the verifier was interrupted) is retried up to five times, as libbpf does.
/// Nothing else is retried: on failure the caller decides whether to load again with a log.
/// The log in `args.log_buf` is NUL-terminated by the kernel.
pub fn prog_load(args: ProgLoadArgs<'_>) -> Result<OwnedFd, ProgLoadError> {
    let insn_cnt = u32::try_from(args.insns.len()).map_err(|_| ProgLoadError {
        errno: io::Error::from_raw_os_error(libc::E2BIG),
        log_true_size: 0,
    })?;
    let (log_buf, log_size) = match args.log_buf {
        Some(buf) if !buf.is_empty() => (
            buf.as_mut_ptr() as u64,
            u32::try_from(buf.len()).unwrap_or(u32::MAX),
        ),
        _ => (0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: args.prog_type,
        insn_cnt,
        insns: args.insns.as_ptr() as u64,
        license: args.license.as_ptr() as u64,
        log_level: args.log_level,
        log_size,
        log_buf,
        prog_name: obj_name(args.name),
        expected_attach_type: args.expected_attach_type,
        attach_btf_id: args.attach_btf_id,
        ..ProgLoadAttr::default()
    };
    if let Some((btf, records)) = args.func_info {
        attr.prog_btf_fd = btf.as_raw_fd() as u32;
        attr.func_info_rec_size = FUNC_INFO_REC_SIZE;
        attr.func_info = records.as_ptr() as u64;
        attr.func_info_cnt = (records.len() / FUNC_INFO_REC_SIZE as usize) as u32;
    }
    let mut attempts = 0;
    loop {
        attr.log_true_size = 0;
        match sys_bpf(cmd::PROG_LOAD, &mut attr) {
            Ok(ret) => {
                return owned_fd(ret).map_err(|errno| ProgLoadError {
                    errno,
                    log_true_size: 0,
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && attempts < 5 => attempts += 1,
            Err(errno) => {
                return Err(ProgLoadError {
                    errno,
                    log_true_size: attr.log_true_size,
                });
            }
        }
    }
}

/// Bytes of one `struct bpf_func_info` record (`insn_off`, `type_id`).
pub const FUNC_INFO_REC_SIZE: u32 = 8;

/// Loads a BTF blob (header, types, strings) with `BPF_BTF_LOAD`; on failure the error
/// carries the kernel's BTF log.
pub fn btf_load(blob: &[u8]) -> io::Result<OwnedFd> {
    let size = u32::try_from(blob.len()).map_err(|_| invalid("BTF blob over 4 GiB".into()))?;
    let mut attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_size: size,
        ..BtfLoadAttr::default()
    };
    match sys_bpf(cmd::BTF_LOAD, &mut attr) {
        Ok(ret) => owned_fd(ret),
        Err(first) => {
            let mut log = vec![0u8; 64 << 10];
            let mut attr = BtfLoadAttr {
                btf: blob.as_ptr() as u64,
                btf_size: size,
                btf_log_buf: log.as_mut_ptr() as u64,
                btf_log_size: log.len() as u32,
                btf_log_level: 1,
                ..BtfLoadAttr::default()
            };
            let _ = sys_bpf(cmd::BTF_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                first.kind(),
                format!("BPF_BTF_LOAD failed: {first}; BTF log: {}", text.trim()),
            ))
        }
    }
}

/// The kind of kernel BPF object an id refers to, for [`obj_get_next_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// Programs (`BPF_PROG_GET_NEXT_ID`).
    Prog,
    /// Maps (`BPF_MAP_GET_NEXT_ID`).
    Map,
    /// Links (`BPF_LINK_GET_NEXT_ID`, Linux 5.8).
    Link,
    /// BTF objects (`BPF_BTF_GET_NEXT_ID`).
    Btf,
}

impl IdKind {
    /// The `bpf(2)` command that iterates over this kind's ids.
    pub const fn next_id_cmd(self) -> u32 {
        match self {
            IdKind::Prog => cmd::PROG_GET_NEXT_ID,
            IdKind::Map => cmd::MAP_GET_NEXT_ID,
            IdKind::Link => cmd::LINK_GET_NEXT_ID,
            IdKind::Btf => cmd::BTF_GET_NEXT_ID,
        }
    }

    /// Lower-case name: `prog`, `map`, `link` or `btf`.
    pub const fn name(self) -> &'static str {
        match self {
            IdKind::Prog => "prog",
            IdKind::Map => "map",
            IdKind::Link => "link",
            IdKind::Btf => "btf",
        }
    }
}

/// Returns the smallest id of `kind` greater than `start_id`, or `None` past the last one.
///
/// Needs `CAP_SYS_ADMIN` (`EPERM` otherwise). Start with 0 to get the first id.
pub fn obj_get_next_id(kind: IdKind, start_id: u32) -> io::Result<Option<u32>> {
    let mut attr = GetNextIdAttr {
        start_id,
        ..GetNextIdAttr::default()
    };
    match sys_bpf(kind.next_id_cmd(), &mut attr) {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fills `info` with the start of the object's `bpf_prog_info`, `bpf_map_info`,
/// `bpf_link_info` or `bpf_btf_info` (`BPF_OBJ_GET_INFO_BY_FD`) and returns how many bytes
/// the kernel wrote.
///
/// `info` should be zeroed: the kernel reads pointer fields of `bpf_prog_info` from it.
/// For programs and maps, bytes 0..4 are the type and bytes 4..8 the id (native endian).
pub fn obj_get_info_by_fd(fd: BorrowedFd<'_>, info: &mut [u8]) -> io::Result<usize> {
    let mut attr = ObjInfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: u32::try_from(info.len()).unwrap_or(u32::MAX),
        info: info.as_mut_ptr() as u64,
    };
    sys_bpf(cmd::OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(attr.info_len as usize)
}

/// The start of `struct bpf_map_info`, as read by [`MapFd::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapInfo {
    /// The map type number (see [`map_type`]).
    pub map_type: u32,
    /// The map's kernel id.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags the map was created with.
    pub map_flags: u32,
}

/// Whether map type `t` keeps one value per possible CPU, so that lookups and updates from
/// user space move `round_up(value_size, 8) * possible CPUs` bytes.
pub const fn is_percpu_map(t: u32) -> bool {
    // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE.
    matches!(t, 5 | 6 | 10 | 21)
}

/// A map fd together with its shape, read from the kernel once. Every element operation
/// checks the caller's buffers against that shape before the kernel sees them, so a wrong
/// buffer size is an `InvalidInput` error, never an out-of-bounds kernel write.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    info: MapInfo,
    value_len: usize,
}

/// The kernel's number of possible CPUs, which sizes per-CPU values: the highest index in
/// `/sys/devices/system/cpu/possible` plus one (an over-count for a sparse list, which only
/// makes buffers larger than needed, never smaller).
pub fn possible_cpu_count() -> io::Result<usize> {
    let path = "/sys/devices/system/cpu/possible";
    let text = std::fs::read_to_string(path)?;
    crate::process::parse_cpu_list(text.trim()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot parse {path}: {:?}", text.trim()),
        )
    })
}

/// How many bytes one value of a per-CPU map of `value_size` occupies in user space:
/// `round_up(value_size, 8) × possible CPUs`.
pub fn percpu_value_len(value_size: u32) -> io::Result<usize> {
    Ok((value_size as usize).next_multiple_of(8) * possible_cpu_count()?)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl MapFd {
    /// Reads the map's shape with `BPF_OBJ_GET_INFO_BY_FD` and takes ownership of `fd`.
    pub fn new(fd: OwnedFd) -> io::Result<MapFd> {
        let mut raw = [0u8; 24];
        let len = obj_get_info_by_fd(fd.as_fd(), &mut raw)?;
        if len < 24 {
            return Err(io::Error::other(format!(
                "BPF_OBJ_GET_INFO_BY_FD returned {len} bytes of bpf_map_info, expected 24"
            )));
        }
        let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let info = MapInfo {
            map_type: word(0),
            id: word(4),
            key_size: word(8),
            value_size: word(12),
            max_entries: word(16),
            map_flags: word(20),
        };
        let value_len = if is_percpu_map(info.map_type) {
            // Without the exact count the kernel could write past our buffers: refuse.
            percpu_value_len(info.value_size).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("sizing the per-CPU values of BPF map id {}: {e}", info.id),
                )
            })?
        } else {
            info.value_size as usize
        };
        Ok(MapFd {
            fd,
            info,
            value_len,
        })
    }

    /// The map's shape as the kernel reported it.
    pub fn info(&self) -> MapInfo {
        self.info
    }

    /// The size of a value buffer for this map: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8) * possible CPUs`.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// The map's fd.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives up the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn check_key(&self, key: &[u8]) -> io::Result<()> {
        if key.len() != self.info.key_size as usize {
            return Err(invalid(format!(
                "key of {} bytes for BPF map id {} whose keys are {} bytes",
                key.len(),
                self.info.id,
                self.info.key_size
            )));
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> io::Result<()> {
        if value.len() != self.value_len {
            return Err(invalid(format!(
                "value buffer of {} bytes for BPF map id {} whose values take {} bytes",
                value.len(),
                self.info.id,
                self.value_len
            )));
        }
        Ok(())
    }

    fn elem(&self, cmd: u32, key: u64, value: u64, flags: u64) -> io::Result<()> {
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            key,
            value,
            flags,
            ..MapElemAttr::default()
        };
        sys_bpf(cmd, &mut attr).map(|_| ())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`; `Ok(false)` when the
    /// key is absent (`ENOENT`).
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
        self.check_key(key)?;
        self.check_value(value)?;
        match self.elem(
            cmd::MAP_LOOKUP_ELEM,
            key.as_ptr() as u64,
            value.as_mut_ptr() as u64,
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` with one of the [`update_flags`].
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
        self.check_key(key)?;
        self.check_value(value)?;
        self.elem(
            cmd::MAP_UPDATE_ELEM,
            key.as_ptr() as u64,
            value.as_ptr() as u64,
            flags,
        )
    }

    /// `BPF_MAP_DELETE_ELEM`; `Ok(false)` when the key was absent.
    pub fn delete(&self, key: &[u8]) -> io::Result<bool> {
        self.check_key(key)?;
        match self.elem(cmd::MAP_DELETE_ELEM, key.as_ptr() as u64, 0, 0) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (hash maps since Linux 5.14, queues and stacks
    /// since 4.20); `Ok(false)` when the key was absent.
    pub fn lookup_and_delete(&self, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
        self.check_key(key)?;
        self.check_value(value)?;
        match self.elem(
            cmd::MAP_LOOKUP_AND_DELETE_ELEM,
            key.as_ptr() as u64,
            value.as_mut_ptr() as u64,
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: writes the key after `key` (the first key for `None`) into
    /// `next`; `Ok(false)` past the last key.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        self.check_key(next)?;
        let key_ptr = key.map_or(0, |k| k.as_ptr() as u64);
        match self.elem(cmd::MAP_GET_NEXT_KEY, key_ptr, next.as_mut_ptr() as u64, 0) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One `BPF_MAP_LOOKUP_BATCH` (or `..._AND_DELETE_BATCH` with `delete`) call.
    ///
    /// `in_batch` is `None` for the first call, then the previous call's `out_batch`; both
    /// must be [`MapFd::batch_token_len`] bytes. `keys` and `values` hold room for `count`
    /// elements. Returns how many elements were written and whether the map is exhausted
    /// (the kernel's `ENOENT`). `ENOSPC` means one hash bucket holds more than `count`
    /// elements: retry with more room. `EINVAL`/`ENOTSUPP` mean the map type has no batch
    /// operations (e.g. before Linux 5.6).
    pub fn batch(
        &self,
        delete: bool,
        in_batch: Option<&[u8]>,
        out_batch: &mut [u8],
        keys: &mut [u8],
        values: &mut [u8],
    ) -> io::Result<(usize, bool)> {
        let token = self.batch_token_len();
        if in_batch.is_some_and(|b| b.len() != token) || out_batch.len() != token {
            return Err(invalid(format!(
                "batch tokens must be {token} bytes for BPF map id {}",
                self.info.id
            )));
        }
        let ks = (self.info.key_size as usize).max(1);
        let count = keys.len() / ks;
        if count == 0 || keys.len() != count * ks || values.len() != count * self.value_len {
            return Err(invalid(format!(
                "batch buffers of {} key bytes and {} value bytes do not hold a whole, \
                 equal number of {}-byte keys and {}-byte values",
                keys.len(),
                values.len(),
                self.info.key_size,
                self.value_len
            )));
        }
        let mut attr = MapBatchAttr {
            in_batch: in_batch.map_or(0, |b| b.as_ptr() as u64),
            out_batch: out_batch.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            map_fd: self.fd.as_raw_fd() as u32,
            ..MapBatchAttr::default()
        };
        let cmd = if delete {
            cmd::MAP_LOOKUP_AND_DELETE_BATCH
        } else {
            cmd::MAP_LOOKUP_BATCH
        };
        match sys_bpf(cmd, &mut attr) {
            Ok(_) => Ok((attr.count as usize, false)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok((attr.count as usize, true)),
            Err(e) => Err(e),
        }
    }

    /// The size of a batch position token: hash maps use a `u32` bucket index, arrays a
    /// key; the kernel copies at most `max(key_size, 4)` bytes.
    pub fn batch_token_len(&self) -> usize {
        (self.info.key_size as usize).max(8)
    }
}

/// The outcome of [`prog_test_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value (`r0`).
    pub retval: u32,
    /// Run time in nanoseconds as measured by the kernel (0 for types that do not time).
    pub duration_ns: u32,
}

/// Runs a program once with `BPF_PROG_TEST_RUN`, with `ctx` as its context (raw tracepoint
/// programs: the `u64` arguments, at most 12 of them, may be empty). `cpu` asks for
/// `BPF_F_TEST_RUN_ON_CPU` (raw tracepoints only).
///
/// Program types without test-run support fail with `ENOTSUPP` (524) or `EINVAL`.
pub fn prog_test_run(
    prog: BorrowedFd<'_>,
    ctx: &[u8],
    cpu: Option<u32>,
) -> io::Result<TestRunOutput> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: u32::try_from(ctx.len()).map_err(|_| invalid("context too large".into()))?,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_ptr() as u64
        },
        flags: if cpu.is_some() { F_TEST_RUN_ON_CPU } else { 0 },
        cpu: cpu.unwrap_or(0),
        ..TestRunAttr::default()
    };
    sys_bpf(cmd::PROG_TEST_RUN, &mut attr)?;
    Ok(TestRunOutput {
        retval: attr.retval,
        duration_ns: attr.duration,
    })
}

/// Attaches a raw tracepoint program to tracepoint `name` (e.g. `sys_enter`) with
/// `BPF_RAW_TRACEPOINT_OPEN` (Linux 4.17). The returned fd is a BPF link since Linux 5.7;
/// closing it detaches the program.
pub fn raw_tracepoint_open(name: &CStr, prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = RawTracepointAttr {
        name: name.as_ptr() as u64,
        prog_fd: prog.as_raw_fd() as u32,
        ..RawTracepointAttr::default()
    };
    owned_fd(sys_bpf(cmd::RAW_TRACEPOINT_OPEN, &mut attr)?)
}

/// Attaches a tracing program (fentry/fexit, loaded with its target's BTF id) to that
/// target with `BPF_RAW_TRACEPOINT_OPEN` and no name (Linux 5.5; libbpf does the same on
/// kernels without `BPF_LINK_CREATE` for tracing). Closing the returned link detaches it.
pub fn tracing_open(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = RawTracepointAttr {
        name: 0,
        prog_fd: prog.as_raw_fd() as u32,
        ..RawTracepointAttr::default()
    };
    owned_fd(sys_bpf(cmd::RAW_TRACEPOINT_OPEN, &mut attr)?)
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_ITER` (Linux 5.8): links an iterator program (loaded
/// against its target's `bpf_iter_*` BTF function) with no iterator parameters (e.g. every
/// task); [`iter_create`] then opens a readable instance of it.
pub fn link_create_iter(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: 0,
        attach_type: attach_type::TRACE_ITER,
        flags: 0,
        cookie: 0, // iter_info: none
    };
    owned_fd(sys_bpf(cmd::LINK_CREATE, &mut attr)?)
}

/// `BPF_ITER_CREATE` (Linux 5.8): an fd on the iterator `link`; each `read(2)` runs the
/// program over the next objects, and end of file means every object was seen.
pub fn iter_create(link: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr: [u32; 2] = [link.as_raw_fd() as u32, 0]; // link_fd, flags
    owned_fd(sys_bpf(cmd::ITER_CREATE, &mut attr)?)
}

/// `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (Linux 5.15): attaches `prog` to the perf event
/// `perf_fd` (a tracepoint, kprobe, uprobe or sampling event) through a link; closing the
/// link detaches it. `cookie` is what `bpf_get_attach_cookie` returns in the program.
pub fn link_create_perf_event(
    prog: BorrowedFd<'_>,
    perf_fd: BorrowedFd<'_>,
    cookie: u64,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: perf_fd.as_raw_fd() as u32,
        attach_type: attach_type::PERF_EVENT,
        flags: 0,
        cookie,
    };
    owned_fd(sys_bpf(cmd::LINK_CREATE, &mut attr)?)
}

/// `BPF_ENABLE_STATS` with `BPF_STATS_RUN_TIME` (Linux 5.8): programs' `run_time_ns` and
/// `run_cnt` (in `bpf_prog_info`) count while the returned fd is open, like the
/// `kernel.bpf_stats_enabled` sysctl but released automatically when the fd closes.
pub fn enable_stats() -> io::Result<OwnedFd> {
    let mut attr: u32 = 0; // enable_stats.type = BPF_STATS_RUN_TIME (0)
    owned_fd(sys_bpf(cmd::ENABLE_STATS, &mut attr)?)
}

/// The system page size in bytes (`sysconf(_SC_PAGESIZE)`); a ring buffer's size must be a
/// power-of-two multiple of it.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obj_name_truncates_and_terminates() {
        let n = obj_name("a_very_long_program_name");
        assert_eq!(&n[..15], b"a_very_long_pro");
        assert_eq!(n[15], 0);
        assert_eq!(&obj_name("x")[..2], b"x\0");
    }

    #[test]
    fn id_kind_commands() {
        assert_eq!(IdKind::Prog.next_id_cmd(), 11);
        assert_eq!(IdKind::Map.next_id_cmd(), 12);
        assert_eq!(IdKind::Link.next_id_cmd(), 31);
        assert_eq!(IdKind::Btf.next_id_cmd(), 23);
    }

    #[test]
    fn page_size_is_power_of_two() {
        assert!(page_size().is_power_of_two());
    }
}
