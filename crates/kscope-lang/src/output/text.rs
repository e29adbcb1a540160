//! The text renderings upstream bpftrace prints (`-f text`, the default).

use std::fmt::Write as _;

use super::value::{Histogram, Primitive, Value};

/// The width of a histogram bar at its largest bucket.
pub const BAR_WIDTH: usize = 52;

/// Upstream's escaped form of a buffer: printable ASCII as is (when `keep_ascii`),
/// other bytes as `\xNN` (when `escape_hex`) or as space-separated `NN`.
pub fn hex_format_buffer(data: &[u8], keep_ascii: bool, escape_hex: bool) -> String {
    let mut s = String::with_capacity(data.len() * 4);
    for (i, &b) in data.iter().enumerate() {
        if keep_ascii && (32..=126).contains(&b) {
            s.push(b as char);
        } else if escape_hex {
            let _ = write!(s, "\\x{b:02x}");
        } else if i == data.len() - 1 {
            let _ = write!(s, "{b:02x}");
        } else {
            let _ = write!(s, "{b:02x} ");
        }
    }
    s
}

/// Appends the text form of `p`; `first` receives the first token separately so that
/// printf's field width can pad just that token, as iostream does.
pub(crate) fn primitive_tokens(
    out: &mut String,
    p: &Primitive,
    first: &mut dyn FnMut(&str) -> String,
) {
    match p {
        Primitive::None => out.push_str(&first("null")),
        Primitive::Bool(b) => out.push_str(&first(if *b { "true" } else { "false" })),
        Primitive::Int(v) => out.push_str(&first(&v.to_string())),
        Primitive::Uint(v) => out.push_str(&first(&v.to_string())),
        Primitive::Str(s) => out.push_str(&first(s)),
        Primitive::Symbolic { symbol, .. } => out.push_str(&first(symbol)),
        Primitive::Buffer(b) => out.push_str(&first(&hex_format_buffer(b, true, true))),
        Primitive::Array(items) => {
            out.push_str(&first("["));
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&primitive(it));
            }
            out.push(']');
        }
        Primitive::Tuple(items) => {
            out.push_str(&first("("));
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&primitive(it));
            }
            out.push(')');
        }
        Primitive::Record(fields) => {
            if fields.is_empty() {
                out.push_str(&first("{}"));
                return;
            }
            out.push_str(&first("{ "));
            for (i, (name, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('.');
                out.push_str(name);
                out.push_str(" = ");
                out.push_str(&primitive(v));
            }
            out.push_str(" }");
        }
    }
}

/// The text form of a primitive: strings unquoted, tuples `(1, a)`, arrays `[1,2]`,
/// records `{ .a = 1, .b = 2 }`, symbolic values by name.
pub fn primitive(p: &Primitive) -> String {
    let mut s = String::new();
    primitive_tokens(&mut s, p, &mut |t| t.to_string());
    s
}

fn adjacent(a: &Primitive, b: &Primitive) -> bool {
    match (a, b) {
        (Primitive::Int(x), Primitive::Int(y)) => x.checked_add(1) == Some(*y),
        (Primitive::Uint(x), Primitive::Uint(y)) => x.checked_add(1) == Some(*y),
        _ => false,
    }
}

fn bucket_header(h: &Histogram, i: usize) -> String {
    let p = primitive;
    if i == 0 {
        match &h.lower_bound {
            None => format!("(..., {})", p(&h.labels[0])),
            Some(lb) if h.labels.is_empty() => format!("[{}, ...)", p(lb)),
            Some(lb) if adjacent(lb, &h.labels[0]) => format!("[{}]", p(lb)),
            Some(lb) => format!("[{}, {})", p(lb), p(&h.labels[0])),
        }
    } else if i >= h.labels.len() {
        format!("[{}, ...)", p(&h.labels[i - 1]))
    } else if adjacent(&h.labels[i - 1], &h.labels[i]) {
        format!("[{}]", p(&h.labels[i - 1]))
    } else {
        format!("[{}, {})", p(&h.labels[i - 1]), p(&h.labels[i]))
    }
}

/// The lines of a histogram: a 16-wide left-aligned bucket label, an 8-wide count and a
/// bar of `@` scaled so that the largest bucket fills 52 columns (single-precision
/// arithmetic, truncated, as upstream computes it).
pub fn histogram(h: &Histogram) -> String {
    let max = h.counts.iter().copied().max().unwrap_or(0);
    let mut out = String::new();
    for (i, &count) in h.counts.iter().enumerate() {
        let bar = if max == 0 {
            0
        } else {
            ((count as f32 / max as f32) * BAR_WIDTH as f32) as usize
        };
        let _ = writeln!(
            out,
            "{:<16}{:>8} |{:<width$}|",
            bucket_header(h, i),
            count,
            "@".repeat(bar.min(BAR_WIDTH)),
            width = BAR_WIDTH
        );
    }
    out
}

/// The text of any value (maps inside values print as `[key]: value` lines).
pub fn value(v: &Value) -> String {
    match v {
        Value::Primitive(p) => primitive(p),
        Value::Histogram(h) => histogram(h),
        Value::Stats(inner) => value(inner),
        Value::Tseries(s) => super::tseries::text(s, &jiff::tz::TimeZone::system()),
        Value::OrderedMap(entries) => {
            let mut s = String::new();
            for (k, v) in entries {
                let _ = writeln!(s, "[{}]: {}", primitive(k), value(v));
            }
            s
        }
    }
}

/// A key as printed between the brackets of `@name[...]`: a tuple loses its outer
/// parentheses (so does any key whose text starts with `(` and ends with `)`).
pub fn map_key(k: &Primitive) -> String {
    let s = primitive(k);
    if s.len() >= 2 && s.starts_with('(') && s.ends_with(')') {
        s[1..s.len() - 1].to_string()
    } else {
        s
    }
}

fn keyed_map(out: &mut String, name: &str, entries: &[(Primitive, Value)]) {
    for (k, v) in entries {
        let _ = write!(out, "{name}[{}]", map_key(k));
        if matches!(v, Value::Primitive(_)) {
            out.push_str(": ");
        } else {
            out.push_str(":\n");
        }
        out.push_str(&value(v));
        out.push('\n');
    }
}

/// A map as printed at exit or by `print(@m)`: `@x: 5`, `@m[k]: v` lines, histograms
/// and time series under a `@h:` / `@h[k]:` header followed by an empty line (an empty
/// series prints `<no data>` and no empty line). An empty map prints
/// nothing.
pub fn map(name: &str, v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Histogram(_) | Value::Tseries(_) => {
            let _ = writeln!(out, "{name}:");
            out.push_str(&value(v));
            out.push('\n');
        }
        Value::Stats(inner) => match inner.as_ref() {
            Value::OrderedMap(entries) => keyed_map(&mut out, name, entries),
            other => {
                let _ = writeln!(out, "{name}: {}", value(other));
            }
        },
        Value::OrderedMap(entries) => keyed_map(&mut out, name, entries),
        Value::Primitive(_) => {
            let _ = writeln!(out, "{name}: {}", value(v));
        }
    }
    out
}
