//! The types the checker gives expressions, maps and variables.

use std::fmt;

use super::tseries::TseriesAgg;

/// What an aggregation function keeps per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AggKind {
    /// `count()`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `avg(x)`.
    Avg,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `stats(x)`.
    Stats,
    /// `hist(x [, bits])`: power-of-two buckets, `bits` sub-buckets (0..=5, default 0).
    Hist {
        /// The second argument of `hist`.
        bits: u8,
    },
    /// `lhist(x, min, max, step)`.
    Lhist {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
        /// Bucket width.
        step: i64,
    },
    /// `tseries(x, interval_ns, num_intervals [, agg])`: one value per interval of
    /// `interval_ns` nanoseconds, the last `num_intervals` kept.
    Tseries {
        /// The interval's length in nanoseconds (at least 1).
        interval_ns: u64,
        /// How many intervals are kept (1 to 1000000).
        num_intervals: u64,
        /// How values in one interval combine.
        agg: TseriesAgg,
    },
}

/// Bytes `buf()` keeps at most (its value is a length word and the bytes, in one
/// string-sized slot).
pub const BUF_MAX: u64 = 56;

/// A type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer of `bits` (8, 16, 32, 64) bits.
    Int {
        /// Width.
        bits: u8,
        /// Signedness.
        signed: bool,
    },
    /// `true`/`false`, comparisons and logic.
    Bool,
    /// A string (its buffer size is decided by codegen, `max_strlen` by default).
    Str,
    /// A pointer.
    Ptr(Box<Type>),
    /// A kernel struct, union or enum by name (`struct task_struct`), laid out by BTF later.
    Struct(String),
    /// A value of a C enum (`enum Foo`), the script's or the kernel's (BTF): an
    /// unsigned integer of `bits` that prints as the name of the enumerator it equals
    /// (upstream's symbolization). Enumerators and casts `(enum Foo)x` are 64 bits; a
    /// struct member, argument or tracepoint field has the enum's C size.
    Enum {
        /// Its tagged name (`enum <anon:ID>` for an anonymous kernel enum).
        name: String,
        /// Width.
        bits: u8,
        /// Its index in [`CTypes::enums`](crate::cdefs::CTypes::enums), or
        /// `KERNEL_ENUM | BTF id` for a kernel enum (see
        /// [`KERNEL_ENUM`](crate::cdefs::KERNEL_ENUM)).
        id: u32,
    },
    /// A fixed-size array.
    Array(Box<Type>, u64),
    /// A tuple.
    Tuple(Vec<Type>),
    /// A record: named elements in their stored order (the order of the first record a
    /// variable, map key or map value received; see [`merge`]).
    Record(Vec<(String, Type)>),
    /// The `args` record of the probe (fields from tracepoint formats or BTF).
    Args,
    /// `kstack`.
    Kstack,
    /// `ustack`.
    Ustack,
    /// A kernel symbol (`ksym()`, `func` in kernel probes).
    Ksym,
    /// A user symbol (`usym()`, `func` in user probes).
    Usym,
    /// An IPv4 or IPv6 address (`ntop()`), printed as text.
    Inet,
    /// Raw bytes (`buf()`), printed with `%r` as hex escapes.
    Buf,
    /// `strftime(fmt, ns)`: nanoseconds since boot, printed as local time with the
    /// format [`Checked::timestamp_formats`](super::Checked::timestamp_formats) holds at
    /// this index.
    Timestamp(u32),
    /// `cgroup_path(id)`: a cgroup id, printed as its paths in the mounted hierarchies
    /// the filter [`Checked::cgroup_path_filters`](super::Checked::cgroup_path_filters)
    /// holds at this index selects.
    CgroupPath(u32),
    /// `username`: a uid, printed as its name from /etc/passwd.
    Username,
    /// A map value written by an aggregation function, with the operand's signedness.
    Agg(AggKind, bool),
    /// No value (`printf`, `print`, ...).
    Void,
    /// A kernel value whose type the [`TypeProvider`](super::TypeProvider) could not give;
    /// used like a 64-bit integer or a pointer until BTF resolves it.
    Unknown,
}

impl AggKind {
    /// The name upstream gives the type of a map this aggregation writes (`count_t`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AggKind::Count => "count_t",
            AggKind::Sum => "sum_t",
            AggKind::Avg => "avg_t",
            AggKind::Min => "min_t",
            AggKind::Max => "max_t",
            AggKind::Stats => "stats_t",
            AggKind::Hist { .. } => "hist_t",
            AggKind::Lhist { .. } => "lhist_t",
            AggKind::Tseries { .. } => "tseries_t",
        }
    }
}

impl Type {
    /// `int64`.
    pub const INT64: Type = Type::Int {
        bits: 64,
        signed: true,
    };
    /// `uint64`.
    pub const UINT64: Type = Type::Int {
        bits: 64,
        signed: false,
    };
    /// `uint32`.
    pub const UINT32: Type = Type::Int {
        bits: 32,
        signed: false,
    };

    /// An integer type.
    pub fn int(bits: u8, signed: bool) -> Type {
        Type::Int { bits, signed }
    }

    /// Whether a pointer to this type says nothing of what it points at (`void *`, or a
    /// kernel type not resolved).
    pub fn is_opaque_pointee(&self) -> bool {
        matches!(self, Type::Void | Type::Unknown)
    }

    /// Whether the value works as an integer operand (ints, bools, unknown kernel values).
    pub fn is_integer_like(&self) -> bool {
        matches!(
            self,
            Type::Int { .. } | Type::Enum { .. } | Type::Bool | Type::Unknown
        )
    }

    /// The width and signedness of an integer or enum value (an enum is unsigned).
    pub fn int_parts(&self) -> Option<(u8, bool)> {
        match self {
            Type::Int { bits, signed } => Some((*bits, *signed)),
            Type::Enum { bits, .. } => Some((*bits, false)),
            _ => None,
        }
    }

    /// An enum value as the plain integer it holds (arithmetic drops the enum, as
    /// upstream's); any other type unchanged.
    pub fn without_enum(self) -> Type {
        match self {
            Type::Enum { bits, .. } => Type::int(bits, false),
            t => t,
        }
    }

    /// Whether the value can be a condition (integers, bools, pointers).
    pub fn is_truthy(&self) -> bool {
        self.is_integer_like() || matches!(self, Type::Ptr(_))
    }

    /// Whether it is signed (false for non-integers).
    pub fn is_signed(&self) -> bool {
        matches!(self, Type::Int { signed: true, .. } | Type::Unknown)
    }

    /// The type a map of this aggregation reads as in an expression, if it can be read.
    pub fn agg_read(&self) -> Option<Type> {
        match self {
            Type::Agg(AggKind::Count, _) => Some(Type::UINT64),
            Type::Agg(AggKind::Sum | AggKind::Avg | AggKind::Min | AggKind::Max, signed) => {
                Some(Type::int(64, *signed))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int { bits, signed } => {
                write!(f, "{}int{bits}", if *signed { "" } else { "u" })
            }
            Type::Bool => f.write_str("bool"),
            Type::Str => f.write_str("string"),
            Type::Ptr(t) => match **t {
                Type::Ptr(_) => write!(f, "{t}*"),
                _ => write!(f, "{t} *"),
            },
            Type::Struct(n) | Type::Enum { name: n, .. } => f.write_str(n),
            // As upstream names it: each `[N]` wraps the type before it, so C's
            // `int x[2][3]` (two arrays of three) is `int32[3][2]`.
            Type::Array(t, n) => write!(f, "{t}[{n}]"),
            Type::Tuple(ts) => {
                f.write_str("(")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str(")")
            }
            // As upstream names them: `record { .a = int8, .b = string }`.
            Type::Record(fs) if fs.is_empty() => f.write_str("record {}"),
            Type::Record(fs) => {
                f.write_str("record { ")?;
                for (i, (n, t)) in fs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, ".{n} = {t}")?;
                }
                f.write_str(" }")
            }
            Type::Args => f.write_str("args"),
            Type::Kstack => f.write_str("kstack"),
            Type::Ustack => f.write_str("ustack"),
            Type::Ksym => f.write_str("ksym_t"),
            Type::Usym => f.write_str("usym_t"),
            Type::Inet => f.write_str("inet"),
            Type::Buf => f.write_str("buffer"),
            Type::Timestamp(_) => f.write_str("timestamp"),
            Type::CgroupPath(_) => f.write_str("cgroup_path_t"),
            Type::Username => f.write_str("username"),
            Type::Agg(k, _) => f.write_str(k.type_name()),
            Type::Void => f.write_str("void"),
            Type::Unknown => f.write_str("kernel value"),
        }
    }
}

/// The integer type that holds both `a` and `b` (bpftrace's upcast for variables and map
/// slots): the wider width when the signs agree, otherwise a signed type wide enough for
/// both (at most `int64`).
pub fn merge_int(a: (u8, bool), b: (u8, bool)) -> (u8, bool) {
    let (ab, asg) = a;
    let (bb, bsg) = b;
    if asg == bsg {
        return (ab.max(bb), asg);
    }
    let (ub, sb) = if asg { (bb, ab) } else { (ab, bb) };
    if sb > ub {
        (sb, true)
    } else {
        ((ub * 2).min(64), true)
    }
}

/// Combines the type already stored in a slot (variable, map key or value) with a new one;
/// `None` means they conflict.
pub fn merge(old: &Type, new: &Type) -> Option<Type> {
    match (old, new) {
        (Type::Unknown, t) | (t, Type::Unknown) => Some(t.clone()),
        (
            Type::Int {
                bits: ab,
                signed: asg,
            },
            Type::Int {
                bits: bb,
                signed: bsg,
            },
        ) => {
            let (bits, signed) = merge_int((*ab, *asg), (*bb, *bsg));
            Some(Type::Int { bits, signed })
        }
        (
            Type::Enum {
                id: a, bits: ab, ..
            },
            Type::Enum {
                id: b, bits: bb, ..
            },
        ) if a == b => {
            let mut t = old.clone();
            if let Type::Enum { bits, .. } = &mut t {
                *bits = (*ab).max(*bb);
            }
            Some(t)
        }
        // An enum and a plain integer in one slot: the slot holds plain integers (the
        // first value stored decides, as upstream's).
        (Type::Enum { .. }, Type::Int { .. }) | (Type::Int { .. }, Type::Enum { .. }) => {
            merge(&old.clone().without_enum(), &new.clone().without_enum())
        }
        (Type::Int { .. }, Type::Bool) => Some(old.clone()),
        (Type::Bool, Type::Int { .. }) => Some(new.clone()),
        (Type::Tuple(a), Type::Tuple(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .map(|(x, y)| merge(x, y))
            .collect::<Option<Vec<_>>>()
            .map(Type::Tuple),
        (Type::Record(a), Type::Record(b)) => super::records::merge_records(a, b),
        // `void *` takes any pointer, as in C; the slot keeps the type it had unless that
        // pointed at nothing known.
        (Type::Ptr(a), Type::Ptr(b)) if a.is_opaque_pointee() || b.is_opaque_pointee() => {
            Some(if a.is_opaque_pointee() { new } else { old }.clone())
        }
        (Type::Agg(a, asg), Type::Agg(b, bsg)) if a == b => {
            Some(Type::Agg(a.clone(), *asg || *bsg))
        }
        (a, b) if a == b => Some(a.clone()),
        _ => None,
    }
}

/// The smallest signed integer type holding `v` (`int64` at most).
pub fn literal_type(v: i128) -> Type {
    for bits in [8u8, 16, 32, 64] {
        let min = -(1i128 << (bits - 1));
        let max = (1i128 << (bits - 1)) - 1;
        if v >= min && v <= max {
            return Type::int(bits, true);
        }
    }
    Type::UINT64
}
