//! Maps as the runtime reads them (keys and per-CPU-combined cells) turned into the
//! printable [`Value`], with upstream's ordering, `top` and `div` rules.
//!
//! Ordering (upstream `format()` for maps):
//! - `count`, `sum` and integer values: by value ascending (signed or unsigned);
//! - `min`/`max`: by value ascending, compared as UNSIGNED 64-bit even for signed maps;
//! - `avg`/`stats`: by the average ascending;
//! - `hist`/`lhist`: by the total of all buckets ascending;
//! - `tseries`: in the order the runtime read the keys (their bytes' order);
//! - anything else: by key (integers as signed of their width, strings bytewise,
//!   tuples field by field over their integer and string fields; other keys keep the
//!   order the runtime read them in).
//!
//! Ties keep the order the runtime read the keys in (upstream's sort is only stable
//! for up to 16 entries, where libstdc++ uses insertion sort).

use std::cmp::Ordering;

use super::hist;
use super::tseries;
use super::value::{Primitive, Value};

/// How keys sort when the values do not decide the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    /// An integer key of this many bytes (1, 2, 4 or 8): compared as signed.
    Int(u8),
    /// A string key: compared bytewise.
    Str,
    /// A tuple key: compared field by field (only integer and string fields count).
    Tuple(Vec<KeyType>),
    /// Anything else (stacks, records, ...): not sorted.
    Other,
}

/// What the map's values are, with the arguments printing needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `count()`.
    Count,
    /// `sum()`.
    Sum {
        /// Signed sum.
        signed: bool,
    },
    /// A plain integer assignment.
    Int {
        /// Signed integer.
        signed: bool,
    },
    /// `min()`.
    Min {
        /// Signed values.
        signed: bool,
    },
    /// `max()`.
    Max {
        /// Signed values.
        signed: bool,
    },
    /// `avg()`.
    Avg {
        /// Signed values.
        signed: bool,
    },
    /// `stats()`.
    Stats {
        /// Signed values.
        signed: bool,
    },
    /// `hist(n, bits)`.
    Hist {
        /// The `bits` argument (0..=5).
        bits: u32,
    },
    /// `lhist(n, min, max, step)`.
    Lhist {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
        /// Bucket width.
        step: i64,
    },
    /// `tseries(n, interval_ns, num_intervals [, agg])`.
    Tseries {
        /// The interval in nanoseconds.
        interval_ns: u64,
        /// How many intervals a series shows at most.
        num_intervals: u64,
        /// Signed values.
        signed: bool,
    },
    /// Any other value (strings, tuples, stacks...): printed as is, sorted by key.
    Other {
        /// What `print(@m)` shows for this scalar map before it was ever set.
        zero: Primitive,
    },
}

/// A map's static description (from the type checker).
#[derive(Debug, Clone, PartialEq)]
pub struct MapInfo {
    /// The name with its `@` (`@` for the anonymous map).
    pub name: String,
    /// A map without keys (`@x = ...`).
    pub scalar: bool,
    /// The key type (ignored for scalar maps).
    pub key: KeyType,
    /// The value type.
    pub value: ValueKind,
}

/// One map value after its per-CPU copies were combined (see the `combine_*` helpers).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// `count`, `sum` or an integer: the 64-bit pattern (signedness from [`ValueKind`]).
    Int(u64),
    /// `min`/`max`: the combined value (0 when no CPU set it).
    MinMax(u64),
    /// `avg`/`stats`: the total (64-bit pattern) and the number of values.
    Avg {
        /// Sum of all values.
        total: u64,
        /// Number of values.
        count: u64,
    },
    /// `hist`/`lhist`: the bucket counts, summed over CPUs.
    Buckets(Vec<u64>),
    /// `tseries`: one key's buckets as `(epoch, value)`, each reduced over CPUs by
    /// [`tseries::reduce`](super::tseries::reduce).
    Tseries(Vec<(u64, u64)>),
    /// Any other value, decoded.
    Value(Primitive),
}

/// Sums per-CPU counters (wrapping, as the C++ does).
pub fn combine_sum(per_cpu: &[u64]) -> Cell {
    Cell::Int(per_cpu.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
}

/// Combines per-CPU `(value, is_set)` pairs of `min`/`max`: the first set value, then
/// the smallest (`min`) or largest (`max`), compared signed or unsigned.
pub fn combine_min_max(per_cpu: &[(u64, u64)], is_max: bool, signed: bool) -> Cell {
    let mut best: Option<u64> = None;
    for &(v, set) in per_cpu {
        if set == 0 {
            continue;
        }
        best = Some(match best {
            None => v,
            Some(b) => {
                let ord = if signed {
                    (v as i64).cmp(&(b as i64))
                } else {
                    v.cmp(&b)
                };
                if (is_max && ord == Ordering::Greater) || (!is_max && ord == Ordering::Less) {
                    v
                } else {
                    b
                }
            }
        });
    }
    Cell::MinMax(best.unwrap_or(0))
}

/// Combines per-CPU `(total, count)` pairs of `avg`/`stats`.
pub fn combine_avg(per_cpu: &[(u64, u64)]) -> Cell {
    let (total, count) = per_cpu.iter().fold((0u64, 0u64), |(t, c), &(vt, vc)| {
        (t.wrapping_add(vt), c.wrapping_add(vc))
    });
    Cell::Avg { total, count }
}

/// Sums per-CPU bucket arrays of `hist`/`lhist`.
pub fn combine_buckets(per_cpu: &[Vec<u64>]) -> Cell {
    let len = per_cpu.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u64; len];
    for cpu in per_cpu {
        for (o, v) in out.iter_mut().zip(cpu) {
            *o = o.wrapping_add(*v);
        }
    }
    Cell::Buckets(out)
}

/// The map does not hold what its [`MapInfo`] says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "map {map}: a {found} value where its type says {expected}; the runtime decoded the map with the wrong layout"
)]
pub struct CellMismatch {
    /// The map.
    pub map: String,
    /// What the map's type wants.
    pub expected: &'static str,
    /// What was found.
    pub found: &'static str,
}

fn cell_name(c: &Cell) -> &'static str {
    match c {
        Cell::Int(_) => "integer",
        Cell::MinMax(_) => "min/max",
        Cell::Avg { .. } => "avg/stats",
        Cell::Buckets(_) => "histogram",
        Cell::Tseries(_) => "time series",
        Cell::Value(_) => "decoded",
    }
}

fn expected_name(k: &ValueKind) -> &'static str {
    match k {
        ValueKind::Count | ValueKind::Sum { .. } | ValueKind::Int { .. } => "integer",
        ValueKind::Min { .. } | ValueKind::Max { .. } => "min/max",
        ValueKind::Avg { .. } | ValueKind::Stats { .. } => "avg/stats",
        ValueKind::Hist { .. } | ValueKind::Lhist { .. } => "histogram",
        ValueKind::Tseries { .. } => "time series",
        ValueKind::Other { .. } => "decoded",
    }
}

/// The integer of an `Int`/`MinMax` cell, divided by `div`, typed.
fn int_value(bits: u64, signed: bool, div: u64) -> Primitive {
    if signed {
        Primitive::Int((bits as i64).wrapping_div(div as i64))
    } else {
        Primitive::Uint(bits / div)
    }
}

fn avg_of(total: u64, count: u64, signed: bool) -> u64 {
    if count == 0 {
        return 0;
    }
    if signed {
        (total as i64).wrapping_div(count as i64) as u64
    } else {
        total / count
    }
}

/// Formats one cell as the value upstream prints.
fn cell_value(info: &MapInfo, cell: &Cell, div: u64) -> Result<Value, CellMismatch> {
    let mismatch = || CellMismatch {
        map: info.name.clone(),
        expected: expected_name(&info.value),
        found: cell_name(cell),
    };
    Ok(match (&info.value, cell) {
        (ValueKind::Count, Cell::Int(v)) => Primitive::Uint(v / div).into(),
        (ValueKind::Sum { signed } | ValueKind::Int { signed }, Cell::Int(v))
        | (ValueKind::Min { signed } | ValueKind::Max { signed }, Cell::MinMax(v)) => {
            int_value(*v, *signed, div).into()
        }
        (ValueKind::Avg { signed }, Cell::Avg { total, count }) => {
            int_value(avg_of(*total, *count, *signed), *signed, div).into()
        }
        (ValueKind::Stats { signed }, Cell::Avg { total, count }) => {
            let avg = int_value(avg_of(*total, *count, *signed), *signed, div);
            let (count, total) = if *signed {
                (Primitive::Int(*count as i64), Primitive::Int(*total as i64))
            } else {
                (Primitive::Uint(*count), Primitive::Uint(*total))
            };
            Primitive::Record(vec![
                ("count".into(), count),
                ("average".into(), avg),
                ("total".into(), total),
            ])
            .into()
        }
        (ValueKind::Hist { bits }, Cell::Buckets(b)) => Value::Histogram(hist::log2(b, *bits, div)),
        (ValueKind::Lhist { min, max, step }, Cell::Buckets(b)) => {
            Value::Histogram(hist::linear(b, *min, *max, *step))
        }
        (ValueKind::Other { .. }, Cell::Value(p)) => p.clone().into(),
        _ => return Err(mismatch()),
    })
}

/// The number a cell sorts by, and whether it compares signed.
fn sort_number(kind: &ValueKind, cell: &Cell) -> Option<(u64, bool)> {
    match (kind, cell) {
        (ValueKind::Count, Cell::Int(v)) => Some((*v, false)),
        (ValueKind::Sum { signed } | ValueKind::Int { signed }, Cell::Int(v)) => {
            Some((*v, *signed))
        }
        (ValueKind::Min { .. } | ValueKind::Max { .. }, Cell::MinMax(v)) => Some((*v, false)),
        (ValueKind::Avg { signed } | ValueKind::Stats { signed }, Cell::Avg { total, count }) => {
            Some((avg_of(*total, *count, *signed), *signed))
        }
        (ValueKind::Hist { .. } | ValueKind::Lhist { .. }, Cell::Buckets(b)) => {
            Some((b.iter().fold(0u64, |a, &v| a.wrapping_add(v)), false))
        }
        _ => None,
    }
}

fn cmp_int_key(a: &Primitive, b: &Primitive, size: u8) -> Ordering {
    let ext = |p: &Primitive| -> i64 {
        let bits = p.as_bits().unwrap_or(0);
        match size {
            1 => bits as i8 as i64,
            2 => bits as i16 as i64,
            4 => bits as i32 as i64,
            _ => bits as i64,
        }
    };
    ext(a).cmp(&ext(b))
}

fn str_bytes(p: &Primitive) -> &[u8] {
    match p {
        Primitive::Str(s) => s.as_bytes(),
        _ => &[],
    }
}

fn cmp_key(a: &Primitive, b: &Primitive, ty: &KeyType) -> Ordering {
    match ty {
        KeyType::Int(size) => cmp_int_key(a, b, *size),
        KeyType::Str => str_bytes(a).cmp(str_bytes(b)),
        KeyType::Tuple(fields) => {
            let (Primitive::Tuple(xa), Primitive::Tuple(xb)) = (a, b) else {
                return Ordering::Equal;
            };
            for ((fa, fb), ft) in xa.iter().zip(xb).zip(fields) {
                let o = match ft {
                    KeyType::Int(_) | KeyType::Str => cmp_key(fa, fb, ft),
                    _ => Ordering::Equal,
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }
        KeyType::Other => Ordering::Equal,
    }
}

/// Formats a map for printing: sorted, cut to the `top` largest entries (0: all) and
/// divided by `div` (0 counts as 1; linear histograms ignore it).
///
/// A scalar map gives its single value (a histogram, a primitive or `Stats`); an empty
/// scalar map gives an empty `OrderedMap` (nothing is printed at exit).
pub fn format_map(
    info: &MapInfo,
    entries: &[(Primitive, Cell)],
    top: usize,
    div: u64,
) -> Result<Value, CellMismatch> {
    if let ValueKind::Tseries {
        interval_ns,
        num_intervals,
        signed,
    } = info.value
    {
        return format_tseries(info, entries, interval_ns, num_intervals, signed);
    }
    let div = div.max(1);
    let mut order: Vec<&(Primitive, Cell)> = entries.iter().collect();
    let by_value = entries
        .first()
        .is_some_and(|(_, c)| sort_number(&info.value, c).is_some());
    if by_value {
        let mut keyed = Vec::with_capacity(order.len());
        for e in order {
            let Some(n) = sort_number(&info.value, &e.1) else {
                return Err(CellMismatch {
                    map: info.name.clone(),
                    expected: expected_name(&info.value),
                    found: cell_name(&e.1),
                });
            };
            keyed.push((n, e));
        }
        keyed.sort_by(|((a, sa), _), ((b, _), _)| {
            if *sa {
                (*a as i64).cmp(&(*b as i64))
            } else {
                a.cmp(b)
            }
        });
        order = keyed.into_iter().map(|(_, e)| e).collect();
    } else {
        order.sort_by(|a, b| cmp_key(&a.0, &b.0, &info.key));
    }
    let stats = matches!(info.value, ValueKind::Avg { .. } | ValueKind::Stats { .. });
    let skip = if top > 0 && order.len() > top {
        order.len() - top
    } else {
        0
    };
    let mut out = Vec::new();
    for (key, cell) in order.into_iter().skip(skip) {
        let v = cell_value(info, cell, div)?;
        if info.scalar {
            return Ok(if stats { Value::Stats(Box::new(v)) } else { v });
        }
        out.push((key.clone(), v));
    }
    let map = Value::OrderedMap(out);
    Ok(if stats {
        Value::Stats(Box::new(map))
    } else {
        map
    })
}

/// A `tseries` map (upstream ignores `top` and `div` for these): every key's series
/// over the window ending at the latest epoch of any key, keys in the order given
/// (the runtime reads them in the order of their bytes, as upstream prints them).
fn format_tseries(
    info: &MapInfo,
    entries: &[(Primitive, Cell)],
    interval_ns: u64,
    num_intervals: u64,
    signed: bool,
) -> Result<Value, CellMismatch> {
    let mut keyed = Vec::with_capacity(entries.len());
    for (k, c) in entries {
        let Cell::Tseries(b) = c else {
            return Err(CellMismatch {
                map: info.name.clone(),
                expected: expected_name(&info.value),
                found: cell_name(c),
            });
        };
        keyed.push((k, b));
    }
    let last = keyed
        .iter()
        .map(|(_, b)| tseries::latest_epoch(b))
        .max()
        .unwrap_or(u64::MAX);
    let window = tseries::window(last, num_intervals);
    let mut out = Vec::with_capacity(keyed.len());
    for (k, b) in keyed {
        let s = Value::Tseries(tseries::series(b, window, interval_ns, signed));
        if info.scalar {
            return Ok(s);
        }
        out.push((k.clone(), s));
    }
    Ok(Value::OrderedMap(out))
}

/// What `print(@m)` shows for a scalar map that holds nothing yet (`@x: 0`,
/// `@s: { .count = 0, ... }`); `None` for histograms (nothing printed).
pub fn empty_scalar(info: &MapInfo) -> Option<Value> {
    let cell = match &info.value {
        ValueKind::Count | ValueKind::Sum { .. } | ValueKind::Int { .. } => Cell::Int(0),
        ValueKind::Min { .. } | ValueKind::Max { .. } => Cell::MinMax(0),
        ValueKind::Avg { .. } | ValueKind::Stats { .. } => Cell::Avg { total: 0, count: 0 },
        ValueKind::Hist { .. } | ValueKind::Lhist { .. } | ValueKind::Tseries { .. } => {
            return None;
        }
        ValueKind::Other { zero } => Cell::Value(zero.clone()),
    };
    let v = cell_value(info, &cell, 1).ok()?;
    Some(
        if matches!(info.value, ValueKind::Avg { .. } | ValueKind::Stats { .. }) {
            Value::Stats(Box::new(v))
        } else {
            v
        },
    )
}
