//! Upstream's NDJSON (`-f json`): one `{"type": ..., "data": ...}` object per line.
//!
//! Spacing is upstream's: objects are written `{"a": 1, "b": 2}` (a space after `:` and
//! `,`), arrays `[1,2]` (no spaces).

use std::fmt::Write as _;

use super::text;
use super::value::{Histogram, Primitive, Value};

/// A JSON string literal. Escapes `"`, `\`, `\n`, `\r`, `\t` and other control
/// characters as `\u00XX`; other characters are written as they are.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) <= 0x1f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A signed integer: a number, or a string when a double cannot hold it exactly.
pub fn int(v: i64) -> String {
    if (v as f64) as i64 != v || v == i64::MAX {
        string(&v.to_string())
    } else {
        v.to_string()
    }
}

/// An unsigned integer: a number, or a string when a double cannot hold it exactly.
pub fn uint(v: u64) -> String {
    if (v as f64) as u64 != v || v == u64::MAX {
        string(&v.to_string())
    } else {
        v.to_string()
    }
}

/// The JSON of a primitive.
pub fn primitive(p: &Primitive) -> String {
    match p {
        Primitive::None => "null".into(),
        Primitive::Bool(b) => if *b { "true" } else { "false" }.into(),
        Primitive::Int(v) => int(*v),
        Primitive::Uint(v) => uint(*v),
        Primitive::Str(s) => string(s),
        Primitive::Symbolic { numeric, .. } => uint(*numeric),
        // Upstream writes each byte as a (signed) char number.
        Primitive::Buffer(b) => array(b.iter().map(|&c| (c as i8).to_string())),
        Primitive::Array(items) | Primitive::Tuple(items) => array(items.iter().map(primitive)),
        Primitive::Record(fields) => object(fields.iter().map(|(k, v)| (k.clone(), primitive(v)))),
    }
}

fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

fn object(items: impl Iterator<Item = (String, String)>) -> String {
    let body: Vec<String> = items.map(|(k, v)| format!("{}: {v}", string(&k))).collect();
    format!("{{{}}}", body.join(", "))
}

/// A map key as a JSON object key: its text form without outer parentheses and with
/// every space removed (`(1, "a b")` becomes `"1,ab"`).
pub fn map_key(k: &Primitive) -> String {
    text::map_key(k).replace(' ', "")
}

/// `one less` than a bucket's exclusive upper bound: JSON buckets are closed.
fn one_less(p: &Primitive) -> Option<i64> {
    match p {
        Primitive::Int(v) => Some(v.wrapping_sub(1)),
        Primitive::Uint(v) | Primitive::Symbolic { numeric: v, .. } => {
            Some(if *v == 0 { -1 } else { (v - 1) as i64 })
        }
        _ => None,
    }
}

/// A histogram: `[{"min": 2, "max": 3, "count": 1},...]`; the negative bucket has no
/// `min`, the open last bucket no `max`.
pub fn histogram(h: &Histogram) -> String {
    let mut items = Vec::with_capacity(h.counts.len());
    for (i, count) in h.counts.iter().enumerate() {
        let mut s = String::from("{");
        if i == 0 {
            if let Some(lb) = &h.lower_bound {
                let _ = write!(s, "\"min\": {}, ", primitive(lb));
            }
        } else {
            let _ = write!(s, "\"min\": {}, ", primitive(&h.labels[i - 1]));
        }
        if let Some(label) = h.labels.get(i) {
            let max = one_less(label).map_or_else(|| primitive(label), int);
            let _ = write!(s, "\"max\": {max}, ");
        }
        let _ = write!(s, "\"count\": {count}}}");
        items.push(s);
    }
    format!("[{}]", items.join(","))
}

/// The JSON of any value.
pub fn value(v: &Value) -> String {
    match v {
        Value::Primitive(p) => primitive(p),
        Value::Histogram(h) => histogram(h),
        Value::Stats(inner) => value(inner),
        Value::Tseries(s) => super::tseries::json(s),
        Value::OrderedMap(entries) => object(entries.iter().map(|(k, v)| (map_key(k), value(v)))),
    }
}

/// One NDJSON line: `{"type": "T", "data": DATA}` or, named,
/// `{"type": "T", "data": {"NAME": DATA}}`, with its newline.
pub fn event(kind: &str, name: Option<&str>, data: &str) -> String {
    match name {
        Some(n) => format!(
            "{{\"type\": {}, \"data\": {{{}: {data}}}}}\n",
            string(kind),
            string(n)
        ),
        None => format!("{{\"type\": {}, \"data\": {data}}}\n", string(kind)),
    }
}

/// The type of a map's line: `stats` for avg/stats maps, `tseries` for time series,
/// `hist` for histograms (or maps of them), else `map`.
pub fn map_type(v: &Value) -> &'static str {
    let first = match v {
        Value::OrderedMap(e) => e.first().map(|(_, v)| v),
        other => Some(other),
    };
    match first {
        Some(Value::Stats(_)) => "stats",
        Some(Value::Tseries(_)) => "tseries",
        Some(Value::Histogram(_)) => "hist",
        _ => "map",
    }
}

/// A map's line; an empty keyed map prints nothing (as upstream).
pub fn map(name: &str, v: &Value) -> String {
    if matches!(v, Value::OrderedMap(e) if e.is_empty()) {
        return String::new();
    }
    event(map_type(v), Some(name), &value(v))
}
