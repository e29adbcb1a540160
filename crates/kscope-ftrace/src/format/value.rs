//! Typed field values, for JSON output and filters.

use std::fmt;

use super::fields::{Field, FieldKind, extend, read_uint};

/// The typed value of one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A signed integer.
    Signed(i64),
    /// An unsigned integer or a pointer.
    Unsigned(u64),
    /// A string (`char[N]` up to its NUL, or a `__data_loc char[]`); bytes that are not
    /// UTF-8 are replaced.
    Str(String),
    /// Raw bytes (`u8[N]`, `__data_loc u8[]`, bitmasks, structs).
    Bytes(Vec<u8>),
    /// An array of signed integers.
    SignedArray(Vec<i64>),
    /// An array of unsigned integers.
    UnsignedArray(Vec<u64>),
    /// The record is too short to hold the field.
    Unavailable,
}

impl fmt::Display for Value {
    /// Numbers in decimal, strings as is, bytes in hex, arrays as `[a, b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Signed(v) => write!(f, "{v}"),
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => {
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
            Value::SignedArray(a) => write!(f, "{a:?}"),
            Value::UnsignedArray(a) => write!(f, "{a:?}"),
            Value::Unavailable => f.write_str("<unavailable>"),
        }
    }
}

fn string(bytes: &[u8]) -> Value {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Value::Str(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

fn array(bytes: &[u8], elem: usize, signed: bool, big_endian: bool) -> Value {
    if elem == 1 && !signed {
        return Value::Bytes(bytes.to_vec());
    }
    if !matches!(elem, 1 | 2 | 4 | 8) {
        return Value::Bytes(bytes.to_vec());
    }
    let items = bytes
        .chunks_exact(elem)
        .map(|c| read_uint(c, 0, elem, big_endian).unwrap_or(0));
    if signed {
        Value::SignedArray(items.map(|v| extend(v, elem, true) as i64).collect())
    } else {
        Value::UnsignedArray(items.collect())
    }
}

pub(crate) fn field_value(record: &[u8], field: &Field, big_endian: bool, long_size: u8) -> Value {
    let Some(end) = field.offset.checked_add(field.size) else {
        return Value::Unavailable;
    };
    if end > record.len() {
        return Value::Unavailable;
    }
    // Flexible arrays (size 0) run to the end of the record.
    let data = if field.size == 0 {
        &record[field.offset..]
    } else {
        &record[field.offset..end]
    };
    match field.kind {
        FieldKind::Int { size, signed } => {
            let raw = read_uint(record, field.offset, size as usize, big_endian).unwrap_or(0);
            if signed {
                Value::Signed(extend(raw, size as usize, true) as i64)
            } else {
                Value::Unsigned(raw)
            }
        }
        FieldKind::Pointer => {
            let size = if field.size == 4 || long_size == 4 {
                4
            } else {
                8
            };
            match read_uint(
                record,
                field.offset,
                size.min(field.size.max(1)),
                big_endian,
            ) {
                Some(v) => Value::Unsigned(v),
                None => Value::Bytes(data.to_vec()),
            }
        }
        FieldKind::CharArray { .. } => string(data),
        FieldKind::Array {
            elem_size,
            elem_signed,
            ..
        } => array(data, elem_size, elem_signed, big_endian),
        FieldKind::DataLoc {
            string: s,
            elem_size,
        }
        | FieldKind::RelLoc {
            string: s,
            elem_size,
        } => {
            let Some((off, len)) = field.dynamic_range(record, big_endian) else {
                return Value::Unavailable;
            };
            let bytes = &record[off..off + len];
            if s {
                string(bytes)
            } else if elem_size == 0 {
                Value::Bytes(bytes.to_vec())
            } else {
                array(bytes, elem_size, field.signed, big_endian)
            }
        }
        FieldKind::Other => Value::Bytes(data.to_vec()),
    }
}
