//! Creating maps with `BPF_MAP_CREATE`, with the shape rules of each map type checked first.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use kscope_sys::bpf::{self as sys, MapCreateArgs};

use crate::types::MapType;
use crate::{BpfError, kernel_object_name};

/// `BPF_F_STACK_BUILD_ID`: a stack-trace map that stores build ids and file offsets.
pub const MAP_F_STACK_BUILD_ID: u32 = 1 << 5;

/// The shape of a map to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes (4 for arrays, stack traces and perf event arrays; 0 for ringbufs).
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps; 0 for ringbufs).
    pub value_size: u32,
    /// Maximum number of entries; for a ringbuf, its size in bytes.
    pub max_entries: u32,
    /// `BPF_F_*` flags, e.g. `BPF_F_NO_PREALLOC` (1) for hashes.
    pub flags: u32,
    /// The name shown by `bpftool map`; sanitised with [`kernel_object_name`] on create.
    pub name: String,
}

impl MapSpec {
    /// A map of `map_type` with the given sizes, no flags, named `kscope`.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
        MapSpec {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            name: "kscope".to_string(),
        }
    }

    /// A ring buffer of `size_bytes` (a power-of-two multiple of the page size).
    pub fn ringbuf(size_bytes: u32) -> MapSpec {
        MapSpec::new(MapType::Ringbuf, 0, 0, size_bytes)
    }

    /// A stack-trace map holding `max_entries` stacks of up to `max_depth` frames
    /// (the kernel caps the depth at `kernel.perf_event_max_stack`, 127 by default).
    pub fn stack_trace(max_depth: u32, max_entries: u32) -> MapSpec {
        MapSpec::new(
            MapType::StackTrace,
            4,
            max_depth.saturating_mul(8),
            max_entries,
        )
    }

    /// A stack-trace map of `BPF_F_STACK_BUILD_ID` ([`MAP_F_STACK_BUILD_ID`]): each frame a
    /// 32-byte `struct bpf_stack_build_id` (the build id of the file and the offset in it,
    /// see [`crate::stack::BuildIdFrame`]) instead of an address. User stacks only; the
    /// kernel reads each file's build id note from the page cache (Linux ≥ 4.17).
    pub fn build_id_stack_trace(max_depth: u32, max_entries: u32) -> MapSpec {
        MapSpec::new(
            MapType::StackTrace,
            4,
            max_depth.saturating_mul(crate::stack::BUILD_ID_FRAME_SIZE as u32),
            max_entries,
        )
        .with_flags(MAP_F_STACK_BUILD_ID)
    }

    /// A perf event array with one slot per possible CPU.
    pub fn perf_event_array() -> MapSpec {
        let cpus = kscope_sys::process::possible_cpus();
        MapSpec::new(
            MapType::PerfEventArray,
            4,
            4,
            u32::try_from(cpus).unwrap_or(u32::MAX),
        )
    }

    /// The same spec with another name.
    pub fn with_name(mut self, name: impl Into<String>) -> MapSpec {
        self.name = name.into();
        self
    }

    /// The same spec with `BPF_F_*` flags.
    pub fn with_flags(mut self, flags: u32) -> MapSpec {
        self.flags = flags;
        self
    }

    /// Checks the rules the kernel enforces for this map type, so that a wrong shape gets
    /// a message saying which rule instead of a bare `EINVAL`.
    pub fn validate(&self) -> Result<(), BpfError> {
        let bad = |reason: String| {
            Err(BpfError::InvalidMapSpec {
                map_type: self.map_type,
                name: self.name.clone(),
                reason,
            })
        };
        let (k, v, n) = (self.key_size, self.value_size, self.max_entries);
        match self.map_type {
            MapType::Ringbuf => {
                let page = sys::page_size() as u64;
                if k != 0 || v != 0 {
                    return bad(format!(
                        "key_size and value_size must be 0 (got {k} and {v})"
                    ));
                }
                if !(n as u64).is_power_of_two()
                    || (n as u64) < page
                    || !(n as u64).is_multiple_of(page)
                {
                    return bad(format!(
                        "max_entries is the ring size in bytes and must be a power-of-two \
                         multiple of the page size ({page}); got {n}"
                    ));
                }
            }
            MapType::StackTrace => {
                if k != 4 {
                    return bad(format!("key_size must be 4 (a u32 stack id); got {k}"));
                }
                if v == 0 || !v.is_multiple_of(8) {
                    return bad(format!(
                        "value_size must be a non-zero multiple of 8 (8 bytes per frame); got {v}"
                    ));
                }
                // Frames are 32-byte `struct bpf_stack_build_id`s.
                if self.flags & MAP_F_STACK_BUILD_ID != 0 && !v.is_multiple_of(32) {
                    return bad(format!(
                        "value_size must be a multiple of 32 (32 bytes per build-id frame); got {v}"
                    ));
                }
            }
            MapType::PerfEventArray => {
                if k != 4 || v != 4 {
                    return bad(format!(
                        "key_size and value_size must both be 4 (CPU index, perf fd); got {k} and {v}"
                    ));
                }
            }
            MapType::Array | MapType::PercpuArray => {
                if k != 4 {
                    return bad(format!("key_size must be 4 (a u32 index); got {k}"));
                }
                if v == 0 {
                    return bad("value_size must not be 0".to_string());
                }
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash => {
                if k == 0 || v == 0 {
                    return bad(format!(
                        "key_size and value_size must not be 0 (got {k} and {v})"
                    ));
                }
            }
        }
        if n == 0 {
            return bad("max_entries must not be 0".to_string());
        }
        Ok(())
    }
}

/// How [`Map::update`] treats an existing or missing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateFlags {
    /// `BPF_ANY`: create or overwrite.
    #[default]
    Any,
    /// `BPF_NOEXIST`: create only; an existing key is an error (`EEXIST`).
    NoExist,
    /// `BPF_EXIST`: overwrite only; a missing key is an error (`ENOENT`).
    Exist,
}

impl UpdateFlags {
    fn raw(self) -> u64 {
        match self {
            UpdateFlags::Any => sys::update_flags::ANY,
            UpdateFlags::NoExist => sys::update_flags::NOEXIST,
            UpdateFlags::Exist => sys::update_flags::EXIST,
        }
    }
}

/// A key and its value as read from a map (per-CPU values are all CPUs' values in a row,
/// see [`Map::split_percpu`]).
pub type Entry = (Vec<u8>, Vec<u8>);

/// A created map. Dropping it closes its fd; the kernel frees the map when no fd, pin or
/// loaded program refers to it any more (programs release their maps asynchronously).
///
/// Element operations work on byte slices of exactly the map's key size and value length
/// ([`Map::value_len`]); other sizes are refused before the kernel is called.
#[derive(Debug)]
pub struct Map {
    fd: sys::MapFd,
    spec: MapSpec,
}

impl Map {
    /// Validates `spec` (see [`MapSpec::validate`]) and creates the map.
    pub fn create(spec: &MapSpec) -> Result<Map, BpfError> {
        spec.validate()?;
        let name = kernel_object_name(&spec.name);
        let fd = sys::map_create(&MapCreateArgs {
            map_type: spec.map_type.kernel_id(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            name: &name,
        })
        .map_err(|source| BpfError::MapCreate {
            map_type: spec.map_type,
            name: spec.name.clone(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            hint: map_hint(&source),
            source,
        })?;
        let fd = sys::MapFd::new(fd)
            .map_err(|source| map_op_error("reading info of", &spec.name, 0, source))?;
        Ok(Map {
            fd,
            spec: spec.clone(),
        })
    }

    /// Wraps the fd of an existing map of a type kscope knows (its shape is read from the
    /// kernel); `name` is used in messages.
    pub fn from_fd(fd: OwnedFd, name: &str) -> Result<Map, BpfError> {
        let fd = sys::MapFd::new(fd)
            .map_err(|source| map_op_error("reading info of", name, 0, source))?;
        let info = fd.info();
        let map_type = MapType::from_kernel_id(info.map_type).ok_or_else(|| {
            map_op_error(
                "wrapping",
                name,
                info.id,
                io::Error::other(format!("unknown map type {}", info.map_type)),
            )
        })?;
        let spec = MapSpec {
            map_type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.map_flags,
            name: name.to_string(),
        };
        Ok(Map { fd, spec })
    }

    /// The map's fd, e.g. for [`crate::insn::Insn::ld_map_fd`] (use `as_raw_fd()`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The spec the map was created from.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The kernel's view of the map (type, id, sizes, flags), read once at creation.
    pub fn info(&self) -> sys::MapInfo {
        self.fd.info()
    }

    /// The kernel's id of this map (as in `bpftool map show id N`).
    pub fn id(&self) -> io::Result<u32> {
        Ok(self.fd.info().id)
    }

    /// Gives up ownership of the fd (the map lives while the fd is open).
    pub fn into_fd(self) -> OwnedFd {
        self.fd.into_fd()
    }

    /// Whether values are per CPU (per-CPU hash and array maps).
    pub fn is_percpu(&self) -> bool {
        sys::is_percpu_map(self.spec.map_type.kernel_id())
    }

    /// The bytes one value takes in user space: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8) × possible CPUs`.
    pub fn value_len(&self) -> usize {
        self.fd.value_len()
    }

    /// Splits a per-CPU value buffer into one `value_size` slice per possible CPU (for a
    /// map that is not per CPU: the one value).
    pub fn split_percpu<'a>(&self, value: &'a [u8]) -> Vec<&'a [u8]> {
        if !self.is_percpu() {
            return vec![value];
        }
        let stride = (self.spec.value_size as usize).next_multiple_of(8);
        value
            .chunks(stride)
            .map(|c| &c[..(self.spec.value_size as usize).min(c.len())])
            .collect()
    }

    fn err(&self, op: &'static str, source: io::Error) -> BpfError {
        map_op_error(op, &self.spec.name, self.fd.info().id, source)
    }

    /// Reads the value of `key` (`BPF_MAP_LOOKUP_ELEM`); `None` when absent.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BpfError> {
        let mut value = vec![0u8; self.value_len()];
        match self.fd.lookup(key, &mut value) {
            Ok(true) => Ok(Some(value)),
            Ok(false) => Ok(None),
            Err(e) => Err(self.err("looking up an element of", e)),
        }
    }

    /// Reads a `u64` value (the first 8 bytes) of `key`, summed over CPUs for per-CPU maps;
    /// `None` when absent.
    pub fn lookup_u64_sum(&self, key: &[u8]) -> Result<Option<u64>, BpfError> {
        Ok(self.lookup(key)?.map(|v| {
            self.split_percpu(&v)
                .iter()
                .map(|c| {
                    let mut b = [0u8; 8];
                    let n = c.len().min(8);
                    b[..n].copy_from_slice(&c[..n]);
                    u64::from_ne_bytes(b)
                })
                .fold(0u64, u64::wrapping_add)
        }))
    }

    /// Writes `value` for `key` (`BPF_MAP_UPDATE_ELEM`).
    pub fn update(&self, key: &[u8], value: &[u8], flags: UpdateFlags) -> Result<(), BpfError> {
        self.fd
            .update(key, value, flags.raw())
            .map_err(|e| self.err("updating an element of", e))
    }

    /// Deletes `key` (`BPF_MAP_DELETE_ELEM`); `false` when it was absent. Arrays refuse
    /// deletion with `EINVAL`.
    pub fn delete(&self, key: &[u8]) -> Result<bool, BpfError> {
        self.fd
            .delete(key)
            .map_err(|e| self.err("deleting an element of", e))
    }

    /// Reads and removes `key` (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`, hash maps since Linux
    /// 5.14); `None` when absent. On older kernels falls back to lookup then delete.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BpfError> {
        let mut value = vec![0u8; self.value_len()];
        match self.fd.lookup_and_delete(key, &mut value) {
            Ok(true) => Ok(Some(value)),
            Ok(false) => Ok(None),
            Err(e) if unsupported(&e) => {
                let v = self.lookup(key)?;
                if v.is_some() {
                    self.delete(key)?;
                }
                Ok(v)
            }
            Err(e) => Err(self.err("looking up and deleting an element of", e)),
        }
    }

    /// The key after `key` (the first key for `None`), or `None` past the last
    /// (`BPF_MAP_GET_NEXT_KEY`).
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, BpfError> {
        let mut next = vec![0u8; self.spec.key_size as usize];
        match self.fd.next_key(key, &mut next) {
            Ok(true) => Ok(Some(next)),
            Ok(false) => Ok(None),
            Err(e) => Err(self.err("iterating over the keys of", e)),
        }
    }

    /// Every key, by `BPF_MAP_GET_NEXT_KEY` iteration. Concurrent deletions by programs can
    /// make a hash iteration restart from the first key; the result has no duplicates.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, BpfError> {
        let mut keys = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut cur: Option<Vec<u8>> = None;
        while let Some(next) = self.next_key(cur.as_deref())? {
            if seen.insert(next.clone()) {
                keys.push(next.clone());
            } else if keys.len() >= self.spec.max_entries as usize {
                break;
            }
            cur = Some(next);
        }
        Ok(keys)
    }

    /// Every entry. Uses `BPF_MAP_LOOKUP_BATCH` (Linux 5.6) and falls back to key
    /// iteration with lookups where the kernel or map type has no batch operations.
    pub fn entries(&self) -> Result<Vec<Entry>, BpfError> {
        match self.entries_by_batch()? {
            Some(e) => Ok(e),
            None => self.entries_by_iteration(),
        }
    }

    /// Every entry read by key iteration and single lookups (no batch operations).
    pub fn entries_by_iteration(&self) -> Result<Vec<Entry>, BpfError> {
        let mut out = Vec::new();
        for key in self.keys()? {
            if let Some(v) = self.lookup(&key)? {
                out.push((key, v));
            }
        }
        Ok(out)
    }

    /// Reads and removes every entry, e.g. to print and clear a map. Uses
    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH` and falls back to iteration.
    pub fn drain(&self) -> Result<Vec<Entry>, BpfError> {
        match self.drain_by_batch()? {
            Some(e) => Ok(e),
            None => self.drain_by_iteration(),
        }
    }

    /// [`Map::drain`] with single-element operations only.
    pub fn drain_by_iteration(&self) -> Result<Vec<Entry>, BpfError> {
        let mut out = Vec::new();
        while let Some(key) = self.next_key(None)? {
            if let Some(v) = self.lookup_and_delete(&key)? {
                out.push((key, v));
            }
        }
        Ok(out)
    }

    /// Every entry by `BPF_MAP_LOOKUP_BATCH` only; `None` where batches are not supported.
    pub fn entries_by_batch(&self) -> Result<Option<Vec<Entry>>, BpfError> {
        self.batch_all(false)
    }

    /// [`Map::drain`] by `BPF_MAP_LOOKUP_AND_DELETE_BATCH` only; `None` where not supported.
    pub fn drain_by_batch(&self) -> Result<Option<Vec<Entry>>, BpfError> {
        self.batch_all(true)
    }

    /// Batch operation over the whole map; `Ok(None)` when batches are not supported.
    fn batch_all(&self, delete: bool) -> Result<Option<Vec<Entry>>, BpfError> {
        let op = if delete {
            "batch lookup-and-delete on"
        } else {
            "batch lookup on"
        };
        let ks = self.spec.key_size as usize;
        let vl = self.value_len();
        let token = self.fd.batch_token_len();
        let mut count = (self.spec.max_entries as usize).clamp(1, 4096);
        let mut in_batch: Option<Vec<u8>> = None;
        let mut out = Vec::new();
        loop {
            let mut out_batch = vec![0u8; token];
            let mut keys = vec![0u8; count * ks];
            let mut values = vec![0u8; count * vl];
            match self.fd.batch(
                delete,
                in_batch.as_deref(),
                &mut out_batch,
                &mut keys,
                &mut values,
            ) {
                Ok((n, done)) => {
                    for i in 0..n {
                        out.push((
                            keys[i * ks..(i + 1) * ks].to_vec(),
                            values[i * vl..(i + 1) * vl].to_vec(),
                        ));
                    }
                    if done {
                        return Ok(Some(out));
                    }
                    in_batch = Some(out_batch);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && count < 1 << 20 => {
                    count *= 2;
                }
                Err(e) if unsupported(&e) && out.is_empty() && in_batch.is_none() => {
                    return Ok(None);
                }
                Err(e) => return Err(self.err(op, e)),
            }
        }
    }
}

/// Whether an errno says "this operation does not exist here" (old kernel, map type
/// without it).
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::EOPNOTSUPP | crate::ENOTSUPP)
    )
}

fn map_op_error(op: &'static str, name: &str, id: u32, source: io::Error) -> BpfError {
    BpfError::MapOp {
        op,
        name: name.to_string(),
        id,
        source,
    }
}

/// A short "what to do" for a map-creation errno.
fn map_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) => "run as root, or grant CAP_BPF",
        Some(libc::ENOMEM) => {
            "the memory cgroup limit was reached: lower max_entries or value_size"
        }
        Some(libc::EINVAL) => {
            "the kernel rejected this shape or flag for this map type, or does not know the type"
        }
        Some(libc::E2BIG) => "the map is too large: lower max_entries or value_size",
        _ => "check the map spec and the kernel's support for this map type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        assert!(MapSpec::ringbuf(4096 * 4).validate().is_ok());
        assert!(MapSpec::ringbuf(4096 * 3).validate().is_err());
        assert!(MapSpec::ringbuf(1024).validate().is_err());
        assert!(
            MapSpec::new(MapType::Ringbuf, 4, 0, 4096)
                .validate()
                .is_err()
        );
        assert!(MapSpec::stack_trace(127, 1024).validate().is_ok());
        let b = MapSpec::build_id_stack_trace(127, 1024);
        assert_eq!((b.value_size, b.flags), (127 * 32, 1 << 5));
        assert!(b.validate().is_ok());
        assert!(
            MapSpec::stack_trace(3, 1024)
                .with_flags(MAP_F_STACK_BUILD_ID)
                .validate()
                .is_err()
        );
        assert!(
            MapSpec::new(MapType::StackTrace, 4, 12, 8)
                .validate()
                .is_err()
        );
        assert!(MapSpec::perf_event_array().validate().is_ok());
        assert!(
            MapSpec::new(MapType::PerfEventArray, 4, 8, 2)
                .validate()
                .is_err()
        );
        assert!(MapSpec::new(MapType::Array, 8, 8, 1).validate().is_err());
        assert!(MapSpec::new(MapType::Hash, 8, 8, 0).validate().is_err());
        assert!(MapSpec::new(MapType::LruHash, 0, 8, 10).validate().is_err());
        let err = MapSpec::ringbuf(100)
            .with_name("events")
            .validate()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ringbuf map `events`"), "{text}");
        assert!(text.contains("power-of-two"), "{text}");
    }
}
