//! From the type checker's map types to the printer's [`MapInfo`].

use super::map::{KeyType, MapInfo, ValueKind};
use super::value::Primitive;
use crate::sema::{self, AggKind, Type};

/// How a key of type `t` sorts (upstream sorts integer, string and tuple keys only;
/// a bool is not an integer there).
pub fn key_type(t: &Type) -> KeyType {
    match t {
        Type::Int { bits, .. } | Type::Enum { bits, .. } => KeyType::Int(bits / 8),
        Type::Str => KeyType::Str,
        Type::Tuple(items) => KeyType::Tuple(items.iter().map(key_type).collect()),
        _ => KeyType::Other,
    }
}

/// What a never-written value of type `t` prints as (upstream formats zeroed memory).
pub fn zero_value(t: &Type) -> Primitive {
    match t {
        Type::Int { signed: true, .. } | Type::Unknown => Primitive::Int(0),
        Type::Int { signed: false, .. } | Type::Enum { .. } => Primitive::Uint(0),
        Type::Bool => Primitive::Bool(false),
        Type::Str => Primitive::Str(String::new()),
        Type::Ptr(_) => Primitive::pointer(0),
        Type::Array(elem, n) => Primitive::Array((0..*n).map(|_| zero_value(elem)).collect()),
        Type::Tuple(items) => Primitive::Tuple(items.iter().map(zero_value).collect()),
        Type::Record(fields) => Primitive::Record(
            fields
                .iter()
                .map(|(n, t)| (n.clone(), zero_value(t)))
                .collect(),
        ),
        Type::Kstack | Type::Ustack => Primitive::Str("\n".into()),
        Type::Ksym | Type::Usym => Primitive::Str("0".into()),
        Type::Inet => Primitive::Str(String::new()),
        Type::Buf => Primitive::Buffer(Vec::new()),
        _ => Primitive::None,
    }
}

/// The value kind of a map whose values have type `t`.
pub fn value_kind(t: &Type) -> ValueKind {
    match t {
        Type::Agg(kind, signed) => {
            let signed = *signed;
            match kind {
                AggKind::Count => ValueKind::Count,
                AggKind::Sum => ValueKind::Sum { signed },
                AggKind::Avg => ValueKind::Avg { signed },
                AggKind::Min => ValueKind::Min { signed },
                AggKind::Max => ValueKind::Max { signed },
                AggKind::Stats => ValueKind::Stats { signed },
                AggKind::Hist { bits } => ValueKind::Hist {
                    bits: u32::from(*bits),
                },
                AggKind::Lhist { min, max, step } => ValueKind::Lhist {
                    min: *min,
                    max: *max,
                    step: *step,
                },
                AggKind::Tseries {
                    interval_ns,
                    num_intervals,
                    ..
                } => ValueKind::Tseries {
                    interval_ns: *interval_ns,
                    num_intervals: *num_intervals,
                    signed,
                },
            }
        }
        Type::Int { signed, .. } => ValueKind::Int { signed: *signed },
        other => ValueKind::Other {
            zero: zero_value(other),
        },
    }
}

/// The printer's description of map `name` (as [`sema::Checked::maps`] names it,
/// without `@`; the anonymous map is `""`).
pub fn map_info(name: &str, info: &sema::MapInfo) -> MapInfo {
    let key = match info.keys.as_slice() {
        [] => KeyType::Other,
        [one] => key_type(one),
        many => KeyType::Tuple(many.iter().map(key_type).collect()),
    };
    MapInfo {
        name: if name.starts_with('@') {
            name.to_string()
        } else {
            format!("@{name}")
        },
        scalar: info.keys.is_empty(),
        key,
        value: value_kind(&info.value),
    }
}
