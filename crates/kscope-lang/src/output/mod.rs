//! The user-space output layer of `kscope run`: what upstream bpftrace prints, in text
//! and in NDJSON (`-f json`), given decoded values. Independent of the kernel.
//!
//! - [`value`]: the value model ([`Primitive`], [`Value`], stacks, histograms);
//! - [`map`]: maps as read from the kernel ([`MapInfo`], [`Cell`], per-CPU
//!   `combine_*` helpers) into ordered printable values ([`format_map`]);
//! - [`hist`]: `hist`/`lhist` bucket arrays into labelled histograms;
//! - [`tseries`]: `tseries` buckets into series, their chart and JSON;
//! - [`printf`]: format strings (parse once, format per event);
//! - [`time`]: `time()`'s strftime;
//! - [`sema_bridge`]: the type checker's map types as [`MapInfo`];
//! - [`text`], [`json`]: the two renderings;
//! - [`Output`]: the printer the runtime drives, one method per kind of event.
//!
//! ```
//! use kscope_lang::output::*;
//! let info = MapInfo { name: "@c".into(), scalar: false, key: KeyType::Int(8),
//!     value: ValueKind::Count };
//! let entries = vec![(Primitive::Int(1), Cell::Int(5)), (Primitive::Int(2), Cell::Int(3))];
//! let v = format_map(&info, &entries, 0, 1).unwrap();
//! assert_eq!(text::map("@c", &v), "@c[2]: 3\n@c[1]: 5\n");
//! ```

pub mod hist;
pub mod json;
pub mod map;
pub mod printf;
pub mod sema_bridge;
pub mod text;
pub mod time;
pub mod tseries;
pub mod value;

use std::io::{self, Write};

pub use map::{
    Cell, CellMismatch, KeyType, MapInfo, ValueKind, combine_avg, combine_buckets, combine_min_max,
    combine_sum, empty_scalar, format_map,
};
pub use printf::{Accepts, FormatSpec, FormatString};
pub use value::{BuildIdFrame, Frame, Histogram, Primitive, StackMode, Value};

/// The output format (`-f text|json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable text (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A map read from the kernel, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct MapData {
    /// Its description.
    pub info: MapInfo,
    /// Its keys and combined values, in the order the runtime read them.
    pub entries: Vec<(Primitive, Cell)>,
}

/// The printer: program output (printf, print, maps, time) goes to `out`; the
/// `Attached N probes` and lost-event messages of text mode go to `err`.
pub struct Output<'a> {
    format: Format,
    out: Box<dyn Write + 'a>,
    err: Box<dyn Write + 'a>,
}

impl<'a> Output<'a> {
    /// A printer over two writers.
    pub fn new(format: Format, out: impl Write + 'a, err: impl Write + 'a) -> Self {
        Output {
            format,
            out: Box::new(out),
            err: Box::new(err),
        }
    }

    /// The format in use.
    pub fn format(&self) -> Format {
        self.format
    }

    fn text_or_json(&mut self, text: &str, json: impl FnOnce() -> String) -> io::Result<()> {
        match self.format {
            Format::Text => self.out.write_all(text.as_bytes()),
            Format::Json => self.out.write_all(json().as_bytes()),
        }
    }

    /// `Attached 1 probe` / `Attached N probes` (stderr in text mode; not printed with
    /// `-q`, which is the caller's choice).
    pub fn attached_probes(&mut self, n: u64) -> io::Result<()> {
        match self.format {
            Format::Text => {
                let s = if n == 1 { "" } else { "s" };
                writeln!(self.err, "Attached {n} probe{s}")
            }
            Format::Json => writeln!(
                self.out,
                "{{\"type\": \"attached_probes\", \"count\": {n}, \"data\": {{\"probes\": {n}}}}}"
            ),
        }
    }

    /// Events the ring buffer dropped since the last report: `Lost N events`.
    pub fn lost_events(&mut self, n: u64) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.err, "Lost {n} events"),
            Format::Json => writeln!(
                self.out,
                "{{\"type\": \"lost_events\", \"count\": {n}, \"data\": {{\"events\": {n}}}}}"
            ),
        }
    }

    /// The warning printed on stderr at exit when any event was lost (both formats).
    pub fn total_lost_warning(&mut self, n: u64) -> io::Result<()> {
        writeln!(self.err, "WARNING: Total lost event count: {n}")
    }

    /// A run-time error that does not end the run (`cat()` of a file that cannot be
    /// opened), on stderr in both formats.
    pub fn runtime_error(&mut self, message: &str) -> io::Result<()> {
        writeln!(self.err, "ERROR: {message}")
    }

    /// `errorf()` (`error`) or `warnf()`: in text, `FILE:LINE:COL-END: ERROR: msg` on
    /// stderr; in JSON, an `errorf`/`warnf` record with the message and the location.
    pub fn report(&mut self, error: bool, msg: &str, at: &SourceLocation<'_>) -> io::Result<()> {
        match self.format {
            Format::Text => {
                let level = if error { "ERROR" } else { "WARNING" };
                writeln!(
                    self.err,
                    "{}:{}:{}-{}: {level}: {msg}",
                    at.file, at.line, at.col, at.end_col
                )
            }
            Format::Json => writeln!(
                self.out,
                "{{\"type\": \"{}\", \"msg\": {}, \"filename\": {}, \"line\": {}, \"col\": {}}}",
                if error { "errorf" } else { "warnf" },
                json::string(msg),
                json::string(at.file),
                at.line,
                at.col
            ),
        }
    }

    /// The text of one `printf` event (already formatted with [`FormatString::format`]).
    pub fn printf(&mut self, s: &str) -> io::Result<()> {
        self.text_or_json(s, || json::event("printf", None, &json::string(s)))
    }

    /// The text of one `time()` event (see [`time::strftime_now`]).
    pub fn time(&mut self, s: &str) -> io::Result<()> {
        self.text_or_json(s, || json::event("time", None, &json::string(s)))
    }

    /// The output of `system()`: a newline is added in text mode.
    pub fn syscall(&mut self, s: &str) -> io::Result<()> {
        let t = format!("{s}\n");
        self.text_or_json(&t, || json::event("syscall", None, &json::string(s)))
    }

    /// `cat()`: the file's contents as they are.
    pub fn cat(&mut self, s: &str) -> io::Result<()> {
        self.text_or_json(s, || json::event("cat", None, &json::string(s)))
    }

    /// `join()`: a newline is added in text mode.
    pub fn join(&mut self, s: &str) -> io::Result<()> {
        let t = format!("{s}\n");
        self.text_or_json(&t, || json::event("join", None, &json::string(s)))
    }

    /// `print(value)` of a non-map value: its text and a newline.
    pub fn value(&mut self, v: &Value) -> io::Result<()> {
        let t = format!("{}\n", text::value(v));
        self.text_or_json(&t, || json::event("value", None, &json::value(v)))
    }

    /// Prints a formatted map value (see [`format_map`]).
    pub fn map_value(&mut self, name: &str, v: &Value) -> io::Result<()> {
        self.text_or_json(&text::map(name, v), || json::map(name, v))
    }

    /// `print(@m, top, div)`: a scalar map that holds nothing yet prints its zero
    /// (`@x: 0`); an empty keyed map prints nothing.
    pub fn print_map(&mut self, map: &MapData, top: usize, div: u64) -> Result<(), OutputError> {
        let v = format_map(&map.info, &map.entries, top, div)?;
        let empty = match &v {
            Value::OrderedMap(e) => e.is_empty(),
            Value::Stats(inner) => matches!(inner.as_ref(), Value::OrderedMap(e) if e.is_empty()),
            _ => false,
        };
        let v = if map.info.scalar && empty {
            match empty_scalar(&map.info) {
                Some(z) => z,
                None => v,
            }
        } else {
            v
        };
        self.map_value(&map.info.name, &v)?;
        Ok(())
    }

    /// The end of the run (after the last event, before the maps): two newlines in
    /// text mode, nothing in JSON.
    pub fn end(&mut self) -> io::Result<()> {
        match self.format {
            Format::Text => self.out.write_all(b"\n\n"),
            Format::Json => Ok(()),
        }
    }

    /// Prints every map at exit, in upstream's order (by name, bytewise: `@` < `@a` <
    /// `@b`); empty maps print nothing.
    pub fn maps_at_exit(&mut self, maps: &[MapData]) -> Result<(), OutputError> {
        let mut order: Vec<&MapData> = maps.iter().collect();
        order.sort_by(|a, b| a.info.name.as_bytes().cmp(b.info.name.as_bytes()));
        for m in order {
            let v = format_map(&m.info, &m.entries, 0, 1)?;
            self.map_value(&m.info.name, &v)?;
        }
        Ok(())
    }

    /// Flushes both writers.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}

/// Printing failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The map's contents do not match its type.
    #[error(transparent)]
    Mismatch(#[from] CellMismatch),
    /// Writing failed (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Io(#[from] io::Error),
}

/// Where in the script an `errorf()`/`warnf()` call is (one-based; `end_col` is the
/// column after its last character, as upstream prints locations).
#[derive(Debug, Clone, Copy)]
pub struct SourceLocation<'a> {
    /// The script's name.
    pub file: &'a str,
    /// The line.
    pub line: usize,
    /// The first column.
    pub col: usize,
    /// The column after the last.
    pub end_col: usize,
}
