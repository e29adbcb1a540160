//! `field:` lines of `format`, `header_page` and similar files.

use super::FormatError;

/// One field of an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name, e.g. `prev_comm`.
    pub name: String,
    /// The C type as written, without the name: `int`, `char[16]`, `__data_loc char[]`,
    /// `const char *`.
    pub type_name: String,
    /// Byte offset from the start of the record.
    pub offset: usize,
    /// Size in bytes (0 for a flexible array that runs to the end of the record).
    pub size: usize,
    /// The `signed:` flag (inferred from the type on kernels that do not print it).
    pub signed: bool,
    /// What the field holds.
    pub kind: FieldKind,
    /// Whether this is one of the common fields shared by all events (`common_type`, …).
    pub is_common: bool,
}

/// The classified shape of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer of 1, 2, 4 or 8 bytes.
    Int {
        /// Size in bytes.
        size: u8,
        /// Signedness.
        signed: bool,
    },
    /// A pointer (its value, `long`-sized).
    Pointer,
    /// `char name[N]`: a NUL-padded string (`len` 0 for `char name[]`, which runs to the
    /// end of the record).
    CharArray {
        /// N.
        len: usize,
    },
    /// `type name[N]`: a fixed array of integers (`len` 0 for a flexible array).
    Array {
        /// N (0 for `name[]`).
        len: usize,
        /// Size of one element in bytes.
        elem_size: usize,
        /// Whether the elements are signed.
        elem_signed: bool,
    },
    /// `__data_loc type[] name`: a u32 `offset | len << 16`, the offset counted from the
    /// start of the record.
    DataLoc {
        /// Whether the data is a string (`char[]`).
        string: bool,
        /// Size of one element (1 for strings and byte arrays; 0 when unknown, e.g.
        /// `cpumask_t`).
        elem_size: usize,
    },
    /// `__rel_loc type[] name`: like [`FieldKind::DataLoc`] but the offset counts from the
    /// end of this field.
    RelLoc {
        /// Whether the data is a string (`char[]`).
        string: bool,
        /// Size of one element (see [`FieldKind::DataLoc`]).
        elem_size: usize,
    },
    /// Anything else (a struct by value, an integer of unusual size).
    Other,
}

impl Field {
    pub(crate) fn is_common_name(&self) -> bool {
        self.name.starts_with("common_")
    }

    /// Whether this is a `__data_loc` or `__rel_loc` field.
    pub fn is_dynamic(&self) -> bool {
        matches!(
            self.kind,
            FieldKind::DataLoc { .. } | FieldKind::RelLoc { .. }
        )
    }

    /// The `(offset, len)` of a dynamic field's data in `record`, already bounded by the
    /// record; `None` for other fields or a truncated record.
    pub fn dynamic_range(&self, record: &[u8], big_endian: bool) -> Option<(usize, usize)> {
        let relative = match self.kind {
            FieldKind::DataLoc { .. } => false,
            FieldKind::RelLoc { .. } => true,
            _ => return None,
        };
        let raw = read_uint(record, self.offset, self.size, big_endian)?;
        let (mut off, len) = if self.size == 2 {
            // The old format: a bare u16 offset, the string's length by strlen.
            let off = raw as usize;
            let len = record.get(off..).map_or(0, |s| {
                s.iter().position(|&b| b == 0).map_or(s.len(), |p| p + 1)
            });
            (off, len)
        } else {
            ((raw & 0xffff) as usize, ((raw >> 16) & 0xffff) as usize)
        };
        if relative {
            off += self.offset + self.size;
        }
        if off > record.len() {
            return Some((record.len(), 0));
        }
        Some((off, len.min(record.len() - off)))
    }
}

/// Reads an unsigned integer of `size` (1, 2, 4, 8) bytes at `offset`.
pub(crate) fn read_uint(
    record: &[u8],
    offset: usize,
    size: usize,
    big_endian: bool,
) -> Option<u64> {
    let bytes = record.get(offset..offset.checked_add(size)?)?;
    Some(match size {
        1 => bytes[0] as u64,
        2 => {
            let b = [bytes[0], bytes[1]];
            if big_endian {
                u16::from_be_bytes(b) as u64
            } else {
                u16::from_le_bytes(b) as u64
            }
        }
        4 => {
            let b = [bytes[0], bytes[1], bytes[2], bytes[3]];
            if big_endian {
                u32::from_be_bytes(b) as u64
            } else {
                u32::from_le_bytes(b) as u64
            }
        }
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            if big_endian {
                u64::from_be_bytes(b)
            } else {
                u64::from_le_bytes(b)
            }
        }
        _ => return None,
    })
}

/// Sign- or zero-extends the low `size` bytes of `raw` to 64 bits.
pub(crate) fn extend(raw: u64, size: usize, signed: bool) -> u64 {
    if size >= 8 || size == 0 {
        return raw;
    }
    let bits = size * 8;
    let masked = raw & ((1u64 << bits) - 1);
    if signed && masked & (1u64 << (bits - 1)) != 0 {
        masked | !((1u64 << bits) - 1)
    } else {
        masked
    }
}

/// The size of a C scalar type by name, for element types whose size the file does not
/// state (flexible arrays, `__data_loc` arrays). `long` is taken as 8 bytes.
pub(crate) fn scalar_type_size(ty: &str) -> Option<usize> {
    let words: Vec<&str> = ty
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile" | "signed" | "unsigned"))
        .collect();
    if ty.contains('*') {
        return Some(8);
    }
    let size = match words.as_slice() {
        [] => 4, // bare `unsigned` / `signed`
        ["char"] | ["u8"] | ["s8"] | ["__u8"] | ["__s8"] | ["bool"] | ["_Bool"] => 1,
        ["short"]
        | ["short", "int"]
        | ["u16"]
        | ["s16"]
        | ["__u16"]
        | ["__s16"]
        | ["__le16"]
        | ["__be16"] => 2,
        ["int"]
        | ["u32"]
        | ["s32"]
        | ["__u32"]
        | ["__s32"]
        | ["__le32"]
        | ["__be32"]
        | ["pid_t"]
        | ["gfp_t"] => 4,
        ["long"]
        | ["long", "int"]
        | ["long", "long"]
        | ["long", "long", "int"]
        | ["u64"]
        | ["s64"]
        | ["__u64"]
        | ["__s64"]
        | ["__le64"]
        | ["__be64"]
        | ["size_t"]
        | ["ssize_t"]
        | ["loff_t"]
        | ["dma_addr_t"]
        | ["phys_addr_t"]
        | ["sector_t"] => 8,
        _ => return None,
    };
    Some(size)
}

fn is_char_type(ty: &str) -> bool {
    let words: Vec<&str> = ty
        .split_whitespace()
        .filter(|w| !matches!(*w, "const" | "volatile" | "signed" | "unsigned"))
        .collect();
    words == ["char"]
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses one `field:` line (`trimmed` starts at `field`, `at` is its offset in `text`).
pub(crate) fn parse_field_line(text: &str, at: usize, trimmed: &str) -> Result<Field, FormatError> {
    let err = |rel: usize, msg: String| FormatError::at(text, at + rel, msg);
    let colon = trimmed
        .find(':')
        .ok_or_else(|| err(0, "expected `field:`".into()))?;
    let decl_start = colon + 1;
    let semi = trimmed[decl_start..]
        .find(';')
        .map(|i| i + decl_start)
        .ok_or_else(|| {
            err(
                decl_start,
                "expected `;` after the field declaration".into(),
            )
        })?;
    let decl = &trimmed[decl_start..semi];
    let decl_lead = decl.len() - decl.trim_start().len();
    let (name, type_name, array) = split_decl(decl.trim())
        .ok_or_else(|| err(decl_start + decl_lead, format!("no field name in {decl:?}")))?;

    let mut offset = None;
    let mut size = None;
    let mut signed = None;
    let mut pos = semi + 1;
    for part in trimmed[semi + 1..].split(';') {
        let part_at = pos;
        pos += part.len() + 1;
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let lead = part.len() - part.trim_start().len();
        let Some((key, value)) = p.split_once(':') else {
            return Err(err(
                part_at + lead,
                format!("expected `key:value`, found {p:?}"),
            ));
        };
        let value_at = part_at + lead + key.len() + 1;
        let number = parse_c_uint(value.trim())
            .ok_or_else(|| err(value_at, format!("bad number {:?}", value.trim())))?;
        match key.trim() {
            "offset" => offset = Some(number as usize),
            "size" => size = Some(number as usize),
            "signed" => signed = Some(number != 0),
            _ => {} // tolerate keys added by future kernels
        }
    }
    let offset = offset.ok_or_else(|| err(semi, format!("field {name} has no offset")))?;
    let size = size.ok_or_else(|| err(semi, format!("field {name} has no size")))?;
    let signed = signed.unwrap_or_else(|| infer_signed(&type_name));
    let kind = classify(&type_name, array.as_deref(), size, signed);
    let type_name = match &array {
        Some(len) => format!("{type_name}[{len}]"),
        None => type_name,
    };
    Ok(Field {
        name,
        type_name,
        offset,
        size,
        signed,
        kind,
        is_common: false,
    })
}

/// Splits `type name[N]` into (name, type, array length text).
fn split_decl(decl: &str) -> Option<(String, String, Option<String>)> {
    let mut d = decl.trim_end();
    let mut array = None;
    if d.ends_with(']') {
        let open = d.rfind('[')?;
        array = Some(d[open + 1..d.len() - 1].trim().to_string());
        d = d[..open].trim_end();
    }
    let bytes = d.as_bytes();
    let mut start = bytes.len();
    while start > 0 && is_ident_byte(bytes[start - 1]) {
        start -= 1;
    }
    if start == bytes.len() {
        return None;
    }
    let name = d[start..].to_string();
    let ty = d[..start].trim().to_string();
    if ty.is_empty() {
        return None;
    }
    Some((name, ty, array))
}

fn infer_signed(ty: &str) -> bool {
    if ty.contains('*') || ty.contains("unsigned") {
        return false;
    }
    let last = ty.split_whitespace().last().unwrap_or("");
    matches!(
        last,
        "int" | "long" | "short" | "s8" | "s16" | "s32" | "s64" | "pid_t"
    ) || ty.starts_with("signed")
}

fn classify(ty: &str, array: Option<&str>, size: usize, signed: bool) -> FieldKind {
    for (prefix, relative) in [("__data_loc", false), ("__rel_loc", true)] {
        if let Some(rest) = ty.strip_prefix(prefix) {
            let elem = rest.trim().trim_end_matches("[]").trim();
            let string = is_char_type(elem);
            let elem_size = if string {
                1
            } else {
                scalar_type_size(elem).unwrap_or(0)
            };
            return if relative {
                FieldKind::RelLoc { string, elem_size }
            } else {
                FieldKind::DataLoc { string, elem_size }
            };
        }
    }
    if let Some(len_text) = array {
        let len = parse_c_uint(len_text).map_or(0, |n| n as usize);
        if is_char_type(ty) {
            return FieldKind::CharArray { len };
        }
        let elem_size = if len > 0 && size.is_multiple_of(len) && size > 0 {
            size / len
        } else {
            scalar_type_size(ty).unwrap_or(1)
        };
        let len = if len == 0 && elem_size > 0 {
            size / elem_size
        } else {
            len
        };
        return FieldKind::Array {
            len,
            elem_size,
            elem_signed: signed,
        };
    }
    if ty.contains('*') {
        return FieldKind::Pointer;
    }
    match size {
        1 | 2 | 4 | 8 => FieldKind::Int {
            size: size as u8,
            signed,
        },
        _ => FieldKind::Other,
    }
}

/// Parses a C unsigned integer (decimal, `0x` hex or `0` octal).
pub(crate) fn parse_c_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}
