//! BTF (BPF Type Format) parsing and type lookup for kscope.
//!
//! [`Btf::parse`] validates the header and walks the type section once, recording the byte
//! offset of every type, so that [`Btf::kind`], [`Btf::name`] and [`Btf::raw_type`] are O(1).
//! [`Btf::open_sys_vmlinux`] maps the kernel's BTF privately instead of reading it. The
//! first [`Btf::find_by_name`] builds a hash index of the names (a few ms for vmlinux);
//! later lookups are O(1). Every malformed input is an error naming the byte offset or type
//! id at which it was found; nothing panics.
//!
//! On top of the raw types: [`layout`] resolves typedef/modifier chains, sizes and
//! alignment, struct members (through anonymous structs and unions, with bitfields),
//! arrays, enumerators and function prototypes, including raw tracepoint arguments
//! ([`Btf::raw_tracepoint_args`]); [`mod@print`] writes a type as C (`struct task_struct *`).
//!
//! Type ids start at 1; id 0 is `void`. Split BTF (kernel modules under
//! `/sys/kernel/btf/<module>`, whose type ids and string offsets continue those of vmlinux)
//! is parsed by [`Btf::parse_split`]; lookups in it see the base types too.
//!
//! ```no_run
//! use kscope_btf::{Btf, Kind};
//! let btf = Btf::from_sys_vmlinux()?;
//! let id = btf.find_by_name(Kind::Struct, "task_struct").expect("no task_struct");
//! println!("struct task_struct is type {id} of {}", btf.type_count());
//! # Ok::<(), kscope_btf::BtfError>(())
//! ```
//!
//! The layout follows `include/uapi/linux/btf.h` and `Documentation/bpf/btf.rst`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::path::Path;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, OnceLock};

mod error;
mod index;
mod kind;
pub mod layout;
mod lookup;
pub mod print;

pub use error::BtfError;
pub use kind::Kind;

pub use layout::{Array, Enumerator, FuncProto, Member, Param};

/// `BTF_MAGIC`, read in the blob's own byte order.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// Where the running kernel exposes its own BTF (`CONFIG_DEBUG_INFO_BTF=y`).
pub const SYS_VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// Size of `struct btf_header` in version 1.
const HEADER_LEN: usize = 24;
/// Size of `struct btf_type`.
const TYPE_LEN: usize = 12;
/// Name lookups answered by scanning before [`Btf::find_by_name`] (or
/// [`Btf::enum_value`]) builds a hash index: a scan of vmlinux costs about 0.15 ms, an
/// index about 12 ms.
pub const SCANS_BEFORE_INDEX: u32 = 64;

/// The common 12-byte head of one type (`struct btf_type`), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawType {
    /// The type id.
    pub id: u32,
    /// The kind.
    pub kind: Kind,
    /// Offset of the name in the string section (0: anonymous).
    pub name_off: u32,
    /// Number of trailing entries (members, enumerators, parameters…); linkage for FUNC.
    pub vlen: u16,
    /// The kind flag (bitfield members, union forward declarations, signed enums…).
    pub kind_flag: bool,
    /// `size` for INT, ENUM, STRUCT, UNION, DATASEC, FLOAT, ENUM64; `type` for the others.
    pub size_or_type: u32,
    /// Byte offset of the type in the blob; its trailing data starts 12 bytes later.
    pub offset: usize,
}

/// Where the bytes of a [`Btf`] live: a `Vec<u8>`, or a private memory mapping.
type Storage = Box<dyn AsRef<[u8]> + Send + Sync>;

/// A parsed BTF blob: the bytes plus an index of every type's offset. Cloning is cheap
/// (everything is shared, including the lazily built name index).
#[derive(Clone)]
pub struct Btf {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    data: Storage,
    /// The blob is in the opposite byte order to this machine's.
    swapped: bool,
    strs_start: usize,
    strs_end: usize,
    /// `offsets[id - first_id]` is the byte offset of type `id`.
    offsets: Vec<u32>,
    /// Whether the bytes are a memory mapping of the file (else a copy).
    mapped: bool,
    /// The BTF this one extends (split BTF), whose ids and strings come first.
    base: Option<Btf>,
    /// The first id of this blob's own types: 1, or the base's last id + 1.
    first_id: u32,
    /// The first string offset of this blob's own string section: 0, or the base's total.
    str_base: u32,
    /// Name → type ids of this blob's own types, built once lookups become frequent.
    pub(crate) names: OnceLock<index::NameIndex>,
    /// Name lookups answered by scanning so far (see `find_by_name`).
    scans: AtomicU32,
    /// Enumerator lookups answered by scanning so far.
    pub(crate) enum_scans: AtomicU32,
    /// Enumerator name → (type id, index), built on first use.
    pub(crate) enumerators: OnceLock<index::EnumIndex>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.bytes().len())
            .field("first_id", &self.inner.first_id)
            .field("types", &self.type_count())
            .field("swapped", &self.inner.swapped)
            .finish()
    }
}

/// Reads a u32 at `off`, in the blob's byte order, if 4 bytes are there.
fn read_u32(data: &[u8], off: usize, swapped: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(off..off.checked_add(4)?)?.try_into().ok()?;
    let v = u32::from_ne_bytes(b);
    Some(if swapped { v.swap_bytes() } else { v })
}

/// What `Btf::index` found: byte order, string section bounds, type offsets.
struct Sections {
    swapped: bool,
    strs_start: usize,
    strs_end: usize,
    offsets: Vec<u32>,
}

impl Btf {
    /// Reads and parses a raw BTF file (such as `/sys/kernel/btf/vmlinux`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Btf::parse(data)
    }

    /// Reads and parses the running kernel's BTF from [`SYS_VMLINUX`].
    pub fn from_sys_vmlinux() -> Result<Btf, BtfError> {
        Btf::from_file(SYS_VMLINUX)
    }

    /// Maps a raw BTF file privately and read-only (no copy) and parses it. Linux ≥ 6.16
    /// allows `MAP_PRIVATE` mappings of `/sys/kernel/btf/*`; where the mapping fails, the
    /// file is read instead.
    pub fn open(path: impl AsRef<Path>) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        match kscope_sys::mmap_private::PrivateMapping::open(path) {
            Ok(map) => Btf::build(Box::new(map), None, true),
            Err(_) => Btf::from_file(path),
        }
    }

    /// [`Btf::open`] on [`SYS_VMLINUX`]: the running kernel's BTF, mapped.
    pub fn open_sys_vmlinux() -> Result<Btf, BtfError> {
        Btf::open(SYS_VMLINUX)
    }

    /// The split BTF of a loaded kernel module, `/sys/kernel/btf/<module>`, on top of
    /// `base` (the kernel's BTF). Fails with [`BtfError::Io`] when the module has no BTF.
    pub fn open_sys_module(module: &str, base: &Btf) -> Result<Btf, BtfError> {
        Btf::open_split(Path::new("/sys/kernel/btf").join(module), base)
    }

    /// Maps (or reads) a split BTF file and parses it on top of `base`.
    pub fn open_split(path: impl AsRef<Path>, base: &Btf) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        let (data, mapped): (Storage, bool) =
            match kscope_sys::mmap_private::PrivateMapping::open(path) {
                Ok(map) => (Box::new(map), true),
                Err(_) => (
                    Box::new(std::fs::read(path).map_err(|source| BtfError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?),
                    false,
                ),
            };
        Btf::build(data, Some(base.clone()), mapped)
    }

    /// Validates the header and the section bounds, and indexes every type.
    pub fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        Btf::parse_from(data)
    }

    /// Like [`Btf::parse`] for bytes held elsewhere, e.g. a read-only mapping.
    pub fn parse_from(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<Btf, BtfError> {
        Btf::build(Box::new(data), None, false)
    }

    /// Parses split BTF (a kernel module's) whose type ids continue after `base`'s last id
    /// and whose string offsets continue after `base`'s strings.
    pub fn parse_split(
        data: impl AsRef<[u8]> + Send + Sync + 'static,
        base: &Btf,
    ) -> Result<Btf, BtfError> {
        Btf::build(Box::new(data), Some(base.clone()), false)
    }

    fn build(data: Storage, base: Option<Btf>, mapped: bool) -> Result<Btf, BtfError> {
        let (first_id, str_base) = match &base {
            Some(b) => (b.type_count() + 1, b.str_total()),
            None => (1, 0),
        };
        let s = Btf::index((*data).as_ref(), first_id, str_base)?;
        Ok(Btf {
            inner: Arc::new(Inner {
                data,
                swapped: s.swapped,
                strs_start: s.strs_start,
                strs_end: s.strs_end,
                offsets: s.offsets,
                mapped,
                base,
                first_id,
                str_base,
                names: OnceLock::new(),
                scans: AtomicU32::new(0),
                enum_scans: AtomicU32::new(0),
                enumerators: OnceLock::new(),
            }),
        })
    }

    /// Total length of the string sections of this blob and its bases.
    fn str_total(&self) -> u32 {
        self.inner.str_base + (self.inner.strs_end - self.inner.strs_start) as u32
    }

    /// Validates `data`; `first_id`/`str_base` are 1/0 unless it is split BTF.
    fn index(data: &[u8], first_id: u32, str_base: u32) -> Result<Sections, BtfError> {
        let split = first_id > 1 || str_base > 0;
        let len = data.len();
        if len < HEADER_LEN {
            return Err(BtfError::Truncated {
                offset: 0,
                what: "the BTF header".into(),
                need: HEADER_LEN,
                available: len,
            });
        }
        let magic_le = u16::from_le_bytes([data[0], data[1]]);
        let big_endian = match magic_le {
            BTF_MAGIC => false,
            m if m == BTF_MAGIC.swap_bytes() => true,
            found => return Err(BtfError::BadMagic { found }),
        };
        let swapped = big_endian != cfg!(target_endian = "big");
        if data[2] != 1 {
            return Err(BtfError::UnsupportedVersion { version: data[2] });
        }
        let field = |off: usize| read_u32(data, off, swapped).unwrap_or(0) as usize;
        let hdr_len = field(4);
        if hdr_len < HEADER_LEN || hdr_len > len {
            return Err(BtfError::BadHeader {
                offset: 4,
                reason: format!(
                    "hdr_len is {hdr_len}, but must be at least {HEADER_LEN} and at most the \
                     blob's {len} bytes"
                ),
            });
        }
        let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
        if !type_off.is_multiple_of(4) {
            return Err(BtfError::BadHeader {
                offset: 8,
                reason: format!("type_off {type_off} is not a multiple of 4"),
            });
        }
        let section = |off: usize, sec_len: usize, field_off: usize, name: &str| {
            let start = hdr_len + off;
            match start.checked_add(sec_len) {
                Some(end) if end <= len => Ok((start, end)),
                _ => Err(BtfError::BadHeader {
                    offset: field_off,
                    reason: format!(
                        "the {name} section (offset {off}, length {sec_len} after the \
                         {hdr_len}-byte header) ends beyond the blob's {len} bytes"
                    ),
                }),
            }
        };
        let (types_start, types_end) = section(type_off, type_len, 8, "type")?;
        let (strs_start, strs_end) = section(str_off, str_len, 16, "string")?;
        if types_start < strs_end && strs_start < types_end {
            return Err(BtfError::BadHeader {
                offset: 16,
                reason: format!(
                    "the type section ({types_start}..{types_end}) and the string section \
                     ({strs_start}..{strs_end}) overlap"
                ),
            });
        }
        // Split BTF's own strings need not start with the empty string (the base has it).
        if !split && (str_len == 0 || data[strs_start] != 0) {
            return Err(BtfError::BadString {
                offset: strs_start,
                reason: "the string section must start with the empty string (a NUL byte)",
            });
        }
        if str_len > 0 && data[strs_end - 1] != 0 {
            return Err(BtfError::BadString {
                offset: strs_end - 1,
                reason: "the string section does not end with a NUL byte",
            });
        }
        let names_end = str_base as usize + str_len;

        // One pass over the type section; about 12 bytes of header per type are read.
        let mut offsets = Vec::with_capacity(type_len / 32);
        let mut off = types_start;
        while off < types_end {
            let id = first_id + offsets.len() as u32;
            if types_end - off < TYPE_LEN {
                return Err(BtfError::Truncated {
                    offset: off,
                    what: format!("the header of type {id}"),
                    need: TYPE_LEN,
                    available: types_end - off,
                });
            }
            let name_off = read_u32(data, off, swapped).unwrap_or(0);
            let info = read_u32(data, off + 4, swapped).unwrap_or(0);
            let kind_no = ((info >> 24) & 0x1f) as u8;
            let kind = match Kind::from_u8(kind_no) {
                Some(Kind::Void) | None => {
                    return Err(BtfError::BadKind {
                        offset: off,
                        id,
                        kind: kind_no,
                    });
                }
                Some(k) => k,
            };
            if name_off as usize >= names_end.max(1) {
                return Err(BtfError::BadNameOffset {
                    offset: off,
                    id,
                    name_off,
                    str_len: names_end,
                });
            }
            let need = TYPE_LEN + kind.trailing_len(info as u16);
            if types_end - off < need {
                return Err(BtfError::Truncated {
                    offset: off,
                    what: format!("type {id} ({kind} with vlen {})", info as u16),
                    need,
                    available: types_end - off,
                });
            }
            let Ok(off32) = u32::try_from(off) else {
                return Err(BtfError::BadHeader {
                    offset: 12,
                    reason: "the type section extends beyond 4 GiB".into(),
                });
            };
            offsets.push(off32);
            off += need;
        }
        Ok(Sections {
            swapped,
            strs_start,
            strs_end,
            offsets,
        })
    }

    /// The last valid type id (the number of types, counting a split BTF's base); valid
    /// ids are 1 to this, and 0 for `void`.
    pub fn type_count(&self) -> u32 {
        self.inner.first_id - 1 + self.inner.offsets.len() as u32
    }

    /// The first id of this blob's own types: 1, or for split BTF the base's last id + 1.
    pub fn first_id(&self) -> u32 {
        self.inner.first_id
    }

    /// Whether [`Btf::open`] (or [`Btf::open_split`]) mapped the file rather than read it
    /// (kernels before 6.16 refuse mappings of `/sys/kernel/btf/*`).
    pub fn is_mapped(&self) -> bool {
        self.inner.mapped
    }

    /// The base BTF of split BTF.
    pub fn base(&self) -> Option<&Btf> {
        self.inner.base.as_ref()
    }

    /// The raw bytes of this blob (not its base's).
    pub fn bytes(&self) -> &[u8] {
        (*self.inner.data).as_ref()
    }

    /// The blob (this one or a base) holding type `id`, and the type's byte offset in it.
    fn locate(&self, id: u32) -> Result<(&Btf, usize), BtfError> {
        if id < self.inner.first_id
            && let Some(base) = &self.inner.base
        {
            return base.locate(id);
        }
        id.checked_sub(self.inner.first_id)
            .and_then(|i| self.inner.offsets.get(i as usize))
            .map(|&o| (self, o as usize))
            .ok_or(BtfError::UnknownType {
                id,
                count: self.type_count(),
            })
    }

    /// The u32 at `off` in this blob; offsets handed to this were bounds-checked by `index`.
    fn u32_at(&self, off: usize) -> u32 {
        read_u32(self.bytes(), off, self.inner.swapped).unwrap_or(0)
    }

    /// The `i`-th u32 of the trailing data of type `id` (bounds checked by `index`).
    pub(crate) fn trailing_u32(&self, id: u32, i: usize) -> Result<u32, BtfError> {
        let (blob, off) = self.locate(id)?;
        Ok(blob.u32_at(off + TYPE_LEN + 4 * i))
    }

    /// The decoded head of type `id`. Id 0 gives an anonymous [`Kind::Void`]. `offset` is
    /// relative to the blob holding the type (a base for low ids of split BTF).
    pub fn raw_type(&self, id: u32) -> Result<RawType, BtfError> {
        if id == 0 {
            return Ok(RawType {
                id: 0,
                kind: Kind::Void,
                name_off: 0,
                vlen: 0,
                kind_flag: false,
                size_or_type: 0,
                offset: 0,
            });
        }
        let (blob, offset) = self.locate(id)?;
        let info = blob.u32_at(offset + 4);
        Ok(RawType {
            id,
            kind: Kind::from_u8(((info >> 24) & 0x1f) as u8).unwrap_or(Kind::Void),
            name_off: blob.u32_at(offset),
            vlen: info as u16,
            kind_flag: info >> 31 != 0,
            size_or_type: blob.u32_at(offset + 8),
            offset,
        })
    }

    /// The kind of type `id` ([`Kind::Void`] for 0).
    pub fn kind(&self, id: u32) -> Result<Kind, BtfError> {
        Ok(self.raw_type(id)?.kind)
    }

    /// The name of type `id`: `""` for anonymous types and for `void` (id 0).
    pub fn name(&self, id: u32) -> Result<&str, BtfError> {
        let t = self.raw_type(id)?;
        self.string_at(t.name_off)
    }

    /// The NUL-terminated string at `name_off` (offsets below this blob's own string
    /// section belong to the base of split BTF).
    pub fn string_at(&self, name_off: u32) -> Result<&str, BtfError> {
        if name_off < self.inner.str_base
            && let Some(base) = &self.inner.base
        {
            return base.string_at(name_off);
        }
        let inner = &self.inner;
        let strs = &self.bytes()[inner.strs_start..inner.strs_end];
        let start = (name_off - inner.str_base) as usize;
        let offset = inner.strs_start + start;
        let rest = strs.get(start..).ok_or(BtfError::BadString {
            offset,
            reason: "the name offset is outside the string section",
        })?;
        // `index` checked that the section ends with a NUL.
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).map_err(|_| BtfError::BadString {
            offset,
            reason: "the name is not valid UTF-8",
        })
    }

    /// The raw name bytes of own type number `i` (id `first_id + i`), without UTF-8 checks.
    fn own_name_bytes(&self, i: usize) -> &[u8] {
        let inner = &self.inner;
        let off = inner.offsets[i] as usize;
        let name_off = self.u32_at(off);
        if name_off < inner.str_base {
            return match &inner.base {
                Some(b) => b.string_at(name_off).map(str::as_bytes).unwrap_or(b""),
                None => b"",
            };
        }
        let strs = &self.bytes()[inner.strs_start..inner.strs_end];
        let rest = strs
            .get((name_off - inner.str_base) as usize..)
            .unwrap_or(b"");
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        &rest[..end]
    }

    /// The kind number of own type at index `i`.
    fn own_kind_no(&self, i: usize) -> u32 {
        (self.u32_at(self.inner.offsets[i] as usize + 4) >> 24) & 0x1f
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_layout;
