//! `tseries()` maps: per-CPU buckets reduced to one value per interval, the window of
//! intervals a map prints, and upstream's ASCII chart and JSON array.
//!
//! A `tseries` map holds one entry per key and bucket (`epoch % num_intervals`, where
//! `epoch` is the timestamp divided by the interval); each CPU's copy is a [`Slot`].
//! [`reduce`] turns the copies of one entry into `(epoch, value)`; [`series`] lays the
//! entries of one key out over the window that ends at the map's latest epoch.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::time::strftime_at;
use super::value::Primitive;
use crate::sema::TseriesAgg;

/// Bytes of one CPU's copy of a bucket: `{u64 value, u64 meta, u64 epoch}`.
pub const SLOT_SIZE: u32 = 24;

/// The chart's width between and including its two `|` borders.
const GRAPH_WIDTH: usize = 53;
/// The width of the minimum's column in the chart's header and footer.
const PADDING: usize = 21;

/// One CPU's copy of one bucket, as BPF writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slot {
    /// The value (a sum for `avg`/`sum`), as a 64-bit pattern.
    pub value: u64,
    /// Last value: the time it was written; `avg`: the number of values; `min`/`max`:
    /// 1 once set; `sum`: unused.
    pub meta: u64,
    /// The interval the bucket holds (0: never written).
    pub epoch: u64,
}

impl Slot {
    /// A slot from its 24 bytes (native endianness); missing bytes read as 0.
    pub fn from_bytes(b: &[u8]) -> Slot {
        let word = |i: usize| {
            b.get(i * 8..i * 8 + 8)
                .and_then(|w| w.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        Slot {
            value: word(0),
            meta: word(1),
            epoch: word(2),
        }
    }
}

/// A time series ready to print: the start of each interval (nanoseconds since the Unix
/// epoch) and its value, `None` for an interval nothing was written in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The intervals, oldest first.
    pub points: Vec<(u64, Option<Primitive>)>,
}

fn greater(a: u64, b: u64, signed: bool) -> bool {
    if signed {
        (a as i64) > (b as i64)
    } else {
        a > b
    }
}

/// Combines the per-CPU copies of one bucket: copies of the latest epoch among them
/// are combined by `agg` (the last value by its write time, `avg` by summing values and
/// counts, `min`/`max`, `sum`), older ones are ignored. Gives `(epoch, value)`, `(0, 0)`
/// when no CPU wrote the bucket (upstream keeps such a bucket at epoch 0).
pub fn reduce(per_cpu: &[Slot], agg: TseriesAgg, signed: bool) -> (u64, u64) {
    let latest = per_cpu.iter().map(|s| s.epoch).max().unwrap_or(0);
    if latest == 0 {
        return (0, 0);
    }
    let mut acc: Option<Slot> = None;
    for s in per_cpu.iter().filter(|s| s.epoch == latest) {
        let Some(cur) = acc.as_mut() else {
            acc = Some(*s);
            continue;
        };
        match agg {
            TseriesAgg::Last => {
                if s.meta > cur.meta {
                    cur.value = s.value;
                    cur.meta = s.meta;
                }
            }
            TseriesAgg::Avg => {
                cur.value = cur.value.wrapping_add(s.value);
                cur.meta = cur.meta.wrapping_add(s.meta);
            }
            TseriesAgg::Sum => cur.value = cur.value.wrapping_add(s.value),
            TseriesAgg::Max => {
                if greater(s.value, cur.value, signed) {
                    cur.value = s.value;
                }
            }
            TseriesAgg::Min => {
                if greater(cur.value, s.value, signed) {
                    cur.value = s.value;
                }
            }
        }
    }
    let s = acc.unwrap_or_default();
    let value = match agg {
        TseriesAgg::Avg if s.meta == 0 => 0,
        TseriesAgg::Avg if signed => (s.value as i64).wrapping_div(s.meta as i64) as u64,
        TseriesAgg::Avg => s.value / s.meta,
        _ => s.value,
    };
    (latest, value)
}

/// The latest epoch among one key's buckets (0 when none).
pub fn latest_epoch(buckets: &[(u64, u64)]) -> u64 {
    buckets.iter().map(|b| b.0).max().unwrap_or(0)
}

/// The window a map prints: the `num_intervals` epochs ending at `last` (the latest
/// epoch of any key), as upstream computes it (wrapping, so a map whose buckets are all
/// at epoch 0 has an empty window).
pub fn window(last: u64, num_intervals: u64) -> (u64, u64) {
    (last.wrapping_sub(num_intervals).wrapping_add(1), last)
}

/// One key's buckets (`(epoch, value)` from [`reduce`]) over `window`: from the key's
/// oldest epoch inside the window to the window's end, intervals without a bucket
/// `None`. Values are `Int` when `signed`, else `Uint`.
pub fn series(
    buckets: &[(u64, u64)],
    window: (u64, u64),
    interval_ns: u64,
    signed: bool,
) -> Series {
    let (start, end) = window;
    let mut first = end;
    for &(epoch, _) in buckets {
        if epoch >= start {
            first = first.min(epoch);
        }
    }
    let mut points = Vec::new();
    if start <= end {
        for epoch in start.max(first)..=end {
            // The first bucket written for an epoch is kept (as std::map::emplace).
            let v = buckets.iter().find(|b| b.0 == epoch).map(|&(_, v)| {
                if signed {
                    Primitive::Int(v as i64)
                } else {
                    Primitive::Uint(v)
                }
            });
            points.push((epoch.wrapping_mul(interval_ns), v));
        }
    }
    Series { points }
}

/// The value as a wide integer, for comparisons.
fn wide(p: &Primitive) -> i128 {
    match p {
        Primitive::Int(v) => i128::from(*v),
        Primitive::Uint(v) => i128::from(*v),
        _ => 0,
    }
}

/// `p - other` as upstream's chart computes it (64-bit, wrapping).
fn distance(p: &Primitive, other: &Primitive) -> i64 {
    let o = match other {
        Primitive::Int(v) => *v,
        Primitive::Uint(v) => *v as i64,
        _ => return 0,
    };
    match p {
        Primitive::Int(v) => v.wrapping_sub(o),
        Primitive::Uint(v) if o < 0 => o.unsigned_abs().wrapping_add(*v) as i64,
        Primitive::Uint(v) if *v > o as u64 => v.wrapping_sub(o as u64) as i64,
        Primitive::Uint(v) => (o as u64).wrapping_sub(*v).wrapping_neg() as i64,
        _ => 0,
    }
}

/// One step down (`dec`) or up, unless at the type's bound.
fn step(p: &mut Primitive, dec: bool) {
    match p {
        Primitive::Int(v) if dec && *v > i64::MIN => *v -= 1,
        Primitive::Int(v) if !dec && *v < i64::MAX => *v += 1,
        Primitive::Uint(v) if dec && *v > 0 => *v -= 1,
        Primitive::Uint(v) if !dec && *v < u64::MAX => *v += 1,
        _ => {}
    }
}

/// The display unit of an interval: its name and the digits of the second it shows.
fn unit(interval_ns: u64) -> (&'static str, usize) {
    if interval_ns >= 1_000_000_000 {
        ("s", 0)
    } else if interval_ns >= 1_000_000 {
        ("ms", 3)
    } else if interval_ns >= 1_000 {
        ("μs", 6)
    } else {
        ("ns", 9)
    }
}

fn pad(out: &mut String, bytes: usize) {
    out.extend(std::iter::repeat_n(' ', bytes));
}

/// A value's text (`null` for none).
fn text_of(p: &Option<Primitive>) -> String {
    p.as_ref()
        .map_or_else(|| "null".into(), super::text::primitive)
}

/// The header and footer line of numbers: the minimum left-aligned in 21 columns, the
/// maximum right-aligned in the remaining 32.
fn bounds_line(out: &mut String, indent: usize, min: &str, max: &str) {
    pad(out, indent);
    let _ = writeln!(
        out,
        "{min:<PADDING$}{max:>width$}",
        width = GRAPH_WIDTH - PADDING
    );
}

/// Upstream's chart of a series, in time zone `tz`: the bounds, a `hh:mm:ss.ms` ruler,
/// one line per interval (local time, a `*` between `|` borders scaled from the minimum
/// to the maximum, a `.` column at zero when the range crosses it, the value or `-`),
/// and the bounds again. An empty series is `<no data>` (no newline).
pub fn text(s: &Series, tz: &TimeZone) -> String {
    let Some((first_ts, first_v)) = s.points.first() else {
        return "<no data>".into();
    };
    let mut min = first_v.clone();
    let mut max = first_v.clone();
    for (_, v) in &s.points {
        let Some(v) = v else { continue };
        if min.as_ref().is_none_or(|m| wide(v) < wide(m)) {
            min = Some(v.clone());
        }
        if max.as_ref().is_none_or(|m| wide(v) > wide(m)) {
            max = Some(v.clone());
        }
    }
    if min == max {
        if let Some(m) = min.as_mut() {
            step(m, true);
        }
        if let Some(m) = max.as_mut() {
            step(m, false);
        }
    }
    let last_ts = s.points.last().map_or(*first_ts, |p| p.0);
    let n = s.points.len() as u64;
    let interval = last_ts.wrapping_sub(*first_ts) / if n > 1 { n - 1 } else { 1 };
    let (unit_name, digits) = unit(interval);
    let mut ruler = String::from("hh:mm:ss");
    let mut time_size = ruler.len();
    if digits > 0 {
        ruler.push('.');
        ruler.push_str(unit_name);
        time_size += 1 + digits;
    }
    let (min_text, max_text) = (text_of(&min), text_of(&max));
    let mut out = String::new();
    bounds_line(&mut out, time_size + 1, &min_text, &max_text);
    // Padded by bytes, as iostream pads (`μs` is two bytes).
    out.push_str(&ruler);
    pad(&mut out, (time_size + 1).saturating_sub(ruler.len()));
    let _ = writeln!(out, "|{}|", "_".repeat(GRAPH_WIDTH - 2));

    let zero = Primitive::Int(0);
    let span = match (&min, &max) {
        (Some(lo), Some(hi)) => Some((lo.clone(), hi.clone())),
        _ => None,
    };
    let mut zero_offset = 0i64;
    if let Some((lo, hi)) = &span
        && distance(lo, &zero) < 0
        && distance(&zero, hi) < 0
    {
        zero_offset =
            (GRAPH_WIDTH as f32 * distance(lo, &zero) as f32 / distance(lo, hi) as f32) as i64;
    }
    for (ts, v) in &s.points {
        let secs = (*ts / 1_000_000_000) as i128;
        let ns = ts % 1_000_000_000;
        out.push_str(&strftime_at("%H:%M:%S", secs * 1_000_000_000, tz.clone()));
        match digits {
            9 => {
                let _ = write!(out, ".{ns:09}");
            }
            6 => {
                let _ = write!(out, ".{:06}", ns / 1_000);
            }
            3 => {
                let _ = write!(out, ".{:03}", ns / 1_000_000);
            }
            _ => {}
        }
        out.push(' ');
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero_offset > 0 {
            line[(zero_offset as usize).min(GRAPH_WIDTH - 1)] = b'.';
        }
        match v {
            Some(v) => {
                let mut at = (GRAPH_WIDTH / 2) as i64;
                if let Some((lo, hi)) = &span
                    && lo != hi
                {
                    at = ((GRAPH_WIDTH - 1) as f32 * distance(lo, v) as f32
                        / distance(lo, hi) as f32) as i64;
                }
                line[at.clamp(0, GRAPH_WIDTH as i64 - 1) as usize] = b'*';
                out.push_str(&String::from_utf8_lossy(&line));
                out.push(' ');
                out.push_str(&super::text::primitive(v));
            }
            None => {
                out.push_str(&String::from_utf8_lossy(&line));
                out.push_str(" -");
            }
        }
        out.push('\n');
    }
    pad(&mut out, time_size + 1);
    let _ = writeln!(out, "v{}v", "_".repeat(GRAPH_WIDTH - 2));
    bounds_line(&mut out, time_size + 1, &min_text, &max_text);
    out
}

/// Upstream's JSON of a series: `[{"interval_start":"1970-01-01 00:00:00.500000000",
/// "value":9},...]` (UTC, nanoseconds; values in their text form; intervals without a
/// value left out).
pub fn json(s: &Series) -> String {
    let mut items = Vec::new();
    for (ts, v) in &s.points {
        let Some(v) = v else { continue };
        let stamp = strftime_at(
            "%Y-%m-%d %H:%M:%S",
            (*ts / 1_000_000_000) as i128 * 1_000_000_000,
            TimeZone::UTC,
        );
        items.push(format!(
            "{{\"interval_start\":\"{stamp}.{:09}\",\"value\":{}}}",
            ts % 1_000_000_000,
            super::text::primitive(v)
        ));
    }
    format!("[{}]", items.join(","))
}
