//! Creating maps with `BPF_MAP_CREATE`, with the shape rules of each map type checked first.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use kscope_sys::bpf::{self as sys, MapCreateArgs};

use crate::types::MapType;
use crate::{BpfError, kernel_object_name, object_id};

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

/// A created map. Dropping it closes its fd; the kernel frees the map when no fd, pin or
/// loaded program refers to it any more (programs release their maps asynchronously).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
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
        Ok(Map {
            fd,
            spec: spec.clone(),
        })
    }

    /// The map's fd, e.g. for [`crate::insn::Insn::ld_map_fd`] (use `as_raw_fd()`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The spec the map was created from.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The kernel's id of this map (as in `bpftool map show id N`), read with
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn id(&self) -> io::Result<u32> {
        object_id(self.fd())
    }

    /// Gives up ownership of the fd (the map lives while the fd is open).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
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
