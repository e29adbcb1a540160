//! The maps and output messages a script needs, decided once from the checked program:
//! their BPF layouts (lowering writes them) and how user space reads them back.

use kscope_bpf::{MapSpec, MapType};
use kscope_codegen::MapId;
use kscope_codegen::lower::{MINMAX_VALUE_SIZE, STATS_VALUE_SIZE, hist_buckets, lhist_buckets};
use kscope_lang::output::FormatString;
use kscope_lang::sema::{AggKind, Checked, Type};

/// Bytes of a string value (map keys, values, variables, printf arguments). Strings are
/// NUL padded to this size so that equal strings are equal byte for byte.
pub const STR_SIZE: u32 = 64;
/// Entries of a map (upstream's default `max_map_keys`).
pub const MAP_ENTRIES: u32 = 4096;
/// Frames kept per stack (upstream's default `max_stack_depth`... of perf: 127).
pub const STACK_DEPTH: u32 = 127;
/// Bytes of the output ring buffer (its pages count in the resident set twice: the
/// consumer maps the data area twice to read records that wrap).
pub const RINGBUF_BYTES: u32 = 1 << 19;

/// How one scalar (a key part, a variable, a plain map value) is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// 8 bytes, sign- or zero-extended from its type.
    Int {
        /// Whether the type is signed.
        signed: bool,
    },
    /// [`STR_SIZE`] bytes, NUL padded.
    Str,
    /// `kstack`: the 8-byte id `bpf_get_stackid` returned (negative: no stack).
    Kstack,
    /// `ksym(addr)`, `func` in kernel probes: the 8-byte address, named in user space.
    Ksym,
}

impl Scalar {
    /// The storage of a value of type `t`, if it has one.
    pub fn of(t: &Type) -> Option<Scalar> {
        match t {
            Type::Int { signed, .. } => Some(Scalar::Int { signed: *signed }),
            // A kernel value the checker could not type reads as int64, as upstream's.
            Type::Unknown => Some(Scalar::Int { signed: true }),
            Type::Bool | Type::Ptr(_) => Some(Scalar::Int { signed: false }),
            Type::Str => Some(Scalar::Str),
            Type::Kstack => Some(Scalar::Kstack),
            Type::Ksym => Some(Scalar::Ksym),
            _ => None,
        }
    }

    /// Its size in bytes.
    pub fn size(self) -> u32 {
        match self {
            Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym => 8,
            Scalar::Str => STR_SIZE,
        }
    }
}

/// What a map's value holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueLayout {
    /// `count()` / `sum()`: a per-CPU u64.
    Sum,
    /// `min()` / `max()`: per-CPU `{value, is_set}`.
    MinMax {
        /// `max` (else `min`).
        max: bool,
        /// Compare signed.
        signed: bool,
    },
    /// `avg()` / `stats()`: per-CPU `{count, sum}`.
    AvgStats,
    /// `hist()` / `lhist()`: a per-CPU array of bucket counters.
    Buckets {
        /// Number of buckets.
        n: u32,
        /// `hist` bits, or `None` for `lhist`.
        hist_bits: Option<u32>,
        /// `lhist` (min, max, step).
        lhist: Option<(i64, i64, i64)>,
    },
    /// A plain value (`@x = expr`).
    Plain(Scalar),
}

/// One `@map` of the script.
#[derive(Debug, Clone)]
pub struct UserMap {
    /// Its name without `@` (`""` for `@`).
    pub name: String,
    /// The checker's facts.
    pub info: kscope_lang::sema::MapInfo,
    /// The key parts (empty for a scalar map, which uses one zero key: 8 bytes for a
    /// hash, 4 for an array, see [`UserMap::is_array`]).
    pub keys: Vec<Scalar>,
    /// The value.
    pub value: ValueLayout,
    /// Its id in the program.
    pub id: MapId,
}

impl UserMap {
    /// Whether the map is a per-CPU array of one entry (key 0) rather than a hash: an
    /// aggregation without keys (`@ = count()`, `@x = hist(v)`). Its value is the
    /// aggregation's ([`UserMap::value_size`]) followed by an 8-byte "present" word at
    /// [`UserMap::present_offset`] that every update sets to 1: an entry whose CPUs
    /// all hold 0 there was never written (or was cleared), as a missing hash key.
    pub fn is_array(&self) -> bool {
        self.keys.is_empty() && !matches!(self.value, ValueLayout::Plain(_))
    }

    /// The offset of the "present" word in an array map's value ([`UserMap::is_array`]).
    pub fn present_offset(&self) -> u32 {
        self.value_size()
    }

    /// The key size in bytes (4 for an array, whose only key is 0).
    pub fn key_size(&self) -> u32 {
        if self.is_array() {
            4
        } else if self.keys.is_empty() {
            8
        } else {
            self.keys.iter().map(|k| k.size()).sum()
        }
    }

    /// The value size in bytes (one CPU's).
    pub fn value_size(&self) -> u32 {
        match &self.value {
            ValueLayout::Sum => 8,
            ValueLayout::MinMax { .. } => MINMAX_VALUE_SIZE,
            ValueLayout::AvgStats => STATS_VALUE_SIZE,
            ValueLayout::Buckets { n, .. } => n * 8,
            ValueLayout::Plain(s) => s.size(),
        }
    }

    /// The kernel map spec.
    pub fn spec(&self) -> MapSpec {
        let name = format!("ks_{}", sanitize(&self.name));
        if self.is_array() {
            let size = self.present_offset() + 8;
            return MapSpec::new(MapType::PercpuArray, 4, size, 1).with_name(name);
        }
        let t = match self.value {
            ValueLayout::Plain(_) => MapType::Hash,
            _ => MapType::PercpuHash,
        };
        MapSpec::new(t, self.key_size(), self.value_size(), MAP_ENTRIES).with_name(name)
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(11)
        .collect();
    if s.is_empty() { "anon".into() } else { s }
}

/// A record kind sent through the ring buffer, by its id (the index in
/// [`Plan::messages`]).
#[derive(Debug, Clone)]
pub enum Message {
    /// `printf(fmt, args...)`: the arguments follow packed, each [`Scalar::size`] bytes.
    Printf {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
    },
    /// `system(fmt, args...)` (`--unsafe`): the command line is formatted like printf.
    System {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
    },
    /// `print(value)` of a non-map value.
    PrintValue {
        /// The value's layout.
        layout: Scalar,
    },
    /// `exit()`.
    Exit,
    /// `print(@m)` of user map index `map`.
    Print {
        /// Index in [`Plan::maps`].
        map: usize,
    },
    /// `clear(@m)` (`zero == false`) or `zero(@m)`.
    Clear {
        /// Index in [`Plan::maps`].
        map: usize,
        /// Keep the keys and zero the values.
        zero: bool,
    },
    /// `time(fmt)`.
    Time {
        /// The strftime format.
        format: String,
    },
}

/// The maps and messages of a script.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The script's maps, by name order.
    pub maps: Vec<UserMap>,
    /// The output ring buffer.
    pub ringbuf: MapId,
    /// The per-CPU lost-record counter.
    pub loss: MapId,
    /// An all-zero per-CPU array for inserting bucket arrays (when a map with keys has buckets).
    pub zero: Option<(MapId, u32)>,
    /// The stack trace map (when the script uses `kstack`).
    pub stacks: Option<MapId>,
    /// The ring buffer record kinds; lowering appends to it.
    pub messages: Vec<Message>,
}

/// The map a plan could not lay out: its name and why.
#[derive(Debug, Clone)]
pub struct Unsupported {
    /// The map's name.
    pub map: String,
    /// What is not built yet.
    pub what: String,
}

impl Plan {
    /// Lays out every map of `checked`.
    pub fn new(checked: &Checked) -> Result<Plan, Unsupported> {
        let mut maps = Vec::new();
        let mut zero_size = 0u32;
        for (i, (name, info)) in checked.maps.iter().enumerate() {
            let mut keys = Vec::new();
            for k in &info.keys {
                keys.push(Scalar::of(k).ok_or_else(|| Unsupported {
                    map: name.clone(),
                    what: format!("map keys of type {k} are not built yet"),
                })?);
            }
            let value = match &info.value {
                Type::Agg(kind, signed) => match kind {
                    AggKind::Count | AggKind::Sum => ValueLayout::Sum,
                    AggKind::Min => ValueLayout::MinMax {
                        max: false,
                        signed: *signed,
                    },
                    AggKind::Max => ValueLayout::MinMax {
                        max: true,
                        signed: *signed,
                    },
                    AggKind::Avg | AggKind::Stats => ValueLayout::AvgStats,
                    AggKind::Hist { bits } => ValueLayout::Buckets {
                        n: hist_buckets(u32::from(*bits)),
                        hist_bits: Some(u32::from(*bits)),
                        lhist: None,
                    },
                    AggKind::Lhist { min, max, step } => ValueLayout::Buckets {
                        n: lhist_buckets(*min, *max, *step),
                        hist_bits: None,
                        lhist: Some((*min, *max, *step)),
                    },
                },
                t => ValueLayout::Plain(Scalar::of(t).ok_or_else(|| Unsupported {
                    map: name.clone(),
                    what: format!("map values of type {t} are not built yet"),
                })?),
            };
            // Keyed bucket maps insert missing keys from the zero map (arrays need none).
            if let ValueLayout::Buckets { n, .. } = value
                && !keys.is_empty()
            {
                zero_size = zero_size.max(n * 8);
            }
            maps.push(UserMap {
                name: name.clone(),
                info: info.clone(),
                keys,
                value,
                id: MapId(i as u32),
            });
        }
        let n = maps.len() as u32;
        let zero = (zero_size > 0).then_some((MapId(n + 2), zero_size));
        let next = n + 2 + u32::from(zero.is_some());
        let stacks = checked.types.contains(&Type::Kstack).then_some(MapId(next));
        Ok(Plan {
            maps,
            ringbuf: MapId(n),
            loss: MapId(n + 1),
            zero,
            stacks,
            messages: Vec::new(),
        })
    }

    /// Every map spec, indexed by [`MapId`].
    pub fn specs(&self) -> Vec<MapSpec> {
        let mut out: Vec<MapSpec> = self.maps.iter().map(UserMap::spec).collect();
        out.push(MapSpec::ringbuf(RINGBUF_BYTES).with_name("ks_ringbuf"));
        out.push(MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("ks_lost"));
        if let Some((_, size)) = self.zero {
            out.push(MapSpec::new(MapType::PercpuArray, 4, size, 1).with_name("ks_zero"));
        }
        if self.stacks.is_some() {
            out.push(MapSpec::stack_trace(STACK_DEPTH, MAP_ENTRIES).with_name("ks_stacks"));
        }
        out
    }

    /// The user map named `name`.
    pub fn map(&self, name: &str) -> Option<(usize, &UserMap)> {
        self.maps.iter().enumerate().find(|(_, m)| m.name == name)
    }
}
