//! eBPF instruction encoding, program loading with verifier logs, and maps for kscope.
//!
//! kscope generates BPF instructions at run time (there is no ELF object), so this crate
//! starts at the instruction level:
//!
//! - [`insn`]: the 8-byte [`Insn`], constructors and a verifier-style disassembler;
//! - [`ProgType`] and [`MapType`]: the kernel types kscope uses;
//! - [`Program::load`]: `BPF_PROG_LOAD`, retrying with an exactly-sized verifier log on
//!   failure ([`LoadError`] carries the errno and the log);
//! - [`Map::create`]: `BPF_MAP_CREATE` with each type's shape rules checked first, then
//!   element operations ([`Map::lookup`], [`Map::update`] with [`UpdateFlags`],
//!   [`Map::delete`], [`Map::lookup_and_delete`]), iteration ([`Map::keys`]) and whole-map
//!   reads with batch operations and an iteration fallback ([`Map::entries`],
//!   [`Map::drain`]); per-CPU values are `round_up(value_size, 8) × possible CPUs` bytes
//!   ([`Map::split_percpu`], [`Map::lookup_u64_sum`]);
//! - [`attach`]: one module per attach kind (tracepoint, raw tracepoint, uprobe, kprobe,
//!   sampling perf events, run-once test runs), each attachment an owned value that
//!   detaches on drop;
//! - [`ringbuf::RingBuf`]: the ring buffer consumer; [`stack::stack_addresses`]: stack-trace
//!   map reader; [`ksym::KernelSymbols`]: `/proc/kallsyms` symbolizer;
//! - [`Program::info`] and [`enable_stats`]: run counts and run time per program;
//! - [`loaded_ids`]: every program, map or link id in the kernel, for leak checks.
//!
//! ```no_run
//! use kscope_bpf::{minimal_program, Program, ProgType};
//! let prog = Program::load(&minimal_program(ProgType::Kprobe))?;
//! println!("loaded program id {}", prog.id()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! All system calls go through `kscope_sys::bpf`; this crate has no `unsafe`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attach;
pub mod insn;
pub mod ksym;
mod map;
mod program;
pub mod ringbuf;
pub mod stack;
mod types;

use std::io;
use std::os::fd::BorrowedFd;

pub use insn::Insn;
pub use kscope_sys::bpf::IdKind;
pub use map::{Entry, MAP_F_STACK_BUILD_ID, Map, MapSpec, UpdateFlags};
pub use program::{
    ENOTSUPP, FuncBtf, LoadError, Program, ProgramInfo, ProgramSpec, minimal_program,
};
pub use types::{MapType, ProgType};

/// Errors of map creation and other non-program BPF operations.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The spec breaks a rule of its map type; nothing was sent to the kernel.
    #[error("invalid spec for BPF {map_type} map `{name}`: {reason}; fix the MapSpec")]
    InvalidMapSpec {
        /// The map type.
        map_type: MapType,
        /// The map's name.
        name: String,
        /// The rule that was broken.
        reason: String,
    },
    /// `BPF_MAP_CREATE` failed.
    #[error(
        "creating BPF {map_type} map `{name}` (key {key_size} B, value {value_size} B, \
         {max_entries} entries) failed: {source}; {hint}"
    )]
    MapCreate {
        /// The map type.
        map_type: MapType,
        /// The map's name.
        name: String,
        /// Key size in bytes.
        key_size: u32,
        /// Value size in bytes.
        value_size: u32,
        /// Maximum number of entries.
        max_entries: u32,
        /// What to do about it.
        hint: &'static str,
        /// The errno.
        source: io::Error,
    },
    /// A map element operation failed.
    #[error("{op} BPF map `{name}` (id {id}) failed: {source}")]
    MapOp {
        /// What was being done, e.g. "looking up an element of".
        op: &'static str,
        /// The map's name.
        name: String,
        /// The map's kernel id (0 if unknown).
        id: u32,
        /// The errno, or the size mismatch found before calling the kernel.
        source: io::Error,
    },
}

/// Makes a kernel object name: ASCII alphanumerics, `_` and `.` are kept, any other
/// character becomes `_`, and the result is cut to 15 bytes (the kernel rejects other
/// characters with `EINVAL` and has room for 15 bytes plus a NUL).
pub fn kernel_object_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(kscope_sys::bpf::OBJ_NAME_LEN - 1)
        .collect()
}

/// The kernel id of the program, map, link or BTF object behind `fd`
/// (`BPF_OBJ_GET_INFO_BY_FD`; the id is bytes 4..8 of every `bpf_*_info`).
pub fn object_id(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut info = [0u8; 8];
    let len = kscope_sys::bpf::obj_get_info_by_fd(fd, &mut info)?;
    if len < 8 {
        return Err(io::Error::other(format!(
            "BPF_OBJ_GET_INFO_BY_FD returned {len} bytes, too few to hold an id"
        )));
    }
    Ok(u32::from_ne_bytes([info[4], info[5], info[6], info[7]]))
}

/// Turns on run-time statistics for every BPF program (`BPF_ENABLE_STATS`, Linux 5.8)
/// until the returned fd is dropped; read them with [`Program::info`]. Nothing to undo:
/// closing the fd turns them off again (unless someone else also enabled them).
pub fn enable_stats() -> io::Result<std::os::fd::OwnedFd> {
    kscope_sys::bpf::enable_stats().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("enabling BPF run-time statistics (BPF_ENABLE_STATS) failed: {e}; this needs CAP_SYS_ADMIN and Linux ≥ 5.8"),
        )
    })
}

/// Every id of `kind` currently in the kernel, ascending (`BPF_*_GET_NEXT_ID`).
///
/// Needs `CAP_SYS_ADMIN`. Objects can come and go while the list is read, so it is a
/// snapshot only. Used by tests to check that kscope leaves nothing loaded.
pub fn loaded_ids(kind: IdKind) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut next = 0;
    while let Some(id) = kscope_sys::bpf::obj_get_next_id(kind, next).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "listing BPF {} ids after id {next} failed: {e}; this needs CAP_SYS_ADMIN",
                kind.name()
            ),
        )
    })? {
        ids.push(id);
        next = id;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_sanitised_and_cut() {
        assert_eq!(kernel_object_name("kprobe:vfs_read"), "kprobe_vfs_read");
        assert_eq!(kernel_object_name("a.b_c9"), "a.b_c9");
        assert_eq!(kernel_object_name("élan"), "_lan");
        assert_eq!(kernel_object_name("0123456789abcdefXYZ"), "0123456789abcde");
    }
}
