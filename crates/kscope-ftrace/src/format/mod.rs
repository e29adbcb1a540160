//! Event `format` files: parsing, the `print fmt` renderer and a typed field reader.
//!
//! A tracefs event directory (`events/<system>/<event>/format`) describes the binary layout
//! of the event's records and the `TP_printk()` arguments the kernel formats them with.
//! [`EventFormat::parse`] reads that text into fields (with a classified [`FieldKind`]) and
//! parses `print fmt` into an AST ([`PrintFmt`]): the format string with its conversion
//! specifications and the argument expressions.
//!
//! [`EventFormat::render`] turns one record (the event payload, starting at
//! `common_type`) into the text the kernel prints in `trace` after `<event>: `. When an
//! argument cannot be evaluated (a helper we do not know, a kernel pointer we cannot
//! dereference), the whole event falls back to trace-cmd's `[FAILED TO PARSE] field=value`
//! form. Nothing here panics on any input.
//!
//! ```
//! use kscope_ftrace::format::{EventFormat, RenderContext};
//!
//! let text = "name: demo\nID: 7\nformat:\n\
//!     \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
//!     \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
//!     \tfield:int value;\toffset:8;\tsize:4;\tsigned:1;\n\n\
//!     print fmt: \"value=%d%s\", REC->value, REC->value < 0 ? \" (neg)\" : \"\"\n";
//! let event = EventFormat::parse(text).unwrap();
//! let mut record = vec![0u8; 12];
//! record[8..12].copy_from_slice(&(-5i32).to_le_bytes());
//! assert_eq!(event.render(&record, &RenderContext::default()), "value=-5 (neg)");
//! ```

mod ast;
mod eval;
mod fields;
mod header;
mod lexer;
mod parser;
mod printf;
mod render;
mod symbols;
mod tracecmd;
mod value;

pub use ast::{
    BinaryOp, CType, ConvKind, ConvSpec, Count, Expr, ExprKind, FlagEntry, FormatPiece,
    FormatString, Length, PrintFmt, Stmt, UnaryOp,
};
pub use fields::{Field, FieldKind};
pub use header::{HeaderEvent, HeaderField, HeaderPage};
pub use render::{Dialect, RenderContext, RenderError};
pub use symbols::{Kallsyms, Symbol, SymbolLookup};
pub use value::Value;

use std::fmt;

/// A syntax error in a `format`, `header_page` or `header_event` file, with the 1-based
/// line and column where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct FormatError {
    /// 1-based line in the parsed text.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl FormatError {
    pub(crate) fn at(text: &str, offset: usize, message: impl Into<String>) -> FormatError {
        let (line, column) = line_col(text, offset);
        FormatError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// One event's `format` file: its name, id, fields and `print fmt`.
#[derive(Debug, Clone)]
pub struct EventFormat {
    /// The event name (`name:` line), e.g. `sched_switch`.
    pub name: String,
    /// The event id (`ID:` line): the value of `common_type` in its records.
    pub id: u32,
    /// All fields in file order: the common fields first, then the event's own.
    pub fields: Vec<Field>,
    /// The raw text after `print fmt: `.
    pub print_fmt: String,
    /// `print fmt` parsed into an AST, or why it could not be parsed.
    pub print: Result<PrintFmt, FormatError>,
}

impl EventFormat {
    /// Parses the text of a `format` file. Fails on a malformed header, field line or
    /// `print fmt`; see [`EventFormat::parse_lenient`] to keep the fields of an event whose
    /// `print fmt` does not parse.
    pub fn parse(text: &str) -> Result<EventFormat, FormatError> {
        let event = EventFormat::parse_lenient(text)?;
        if let Err(e) = &event.print {
            return Err(e.clone());
        }
        Ok(event)
    }

    /// Parses the text of a `format` file, keeping a `print fmt` syntax error in
    /// [`EventFormat::print`] instead of failing (rendering then falls back to
    /// `field=value`).
    pub fn parse_lenient(text: &str) -> Result<EventFormat, FormatError> {
        let mut name = None;
        let mut id = None;
        let mut fields = Vec::new();
        let mut print = None;
        let mut in_common = true;
        let mut seen_format = false;
        let mut offset = 0usize;
        for line in text.split_inclusive('\n') {
            let line_start = offset;
            offset += line.len();
            let body = line.trim_end_matches(['\n', '\r']);
            let trimmed = body.trim_start();
            let indent = body.len() - trimmed.len();
            if let Some(rest) = trimmed.strip_prefix("name:") {
                name = Some(rest.trim().to_string());
            } else if let Some(rest) = trimmed.strip_prefix("ID:") {
                let rest = rest.trim();
                id = Some(rest.parse::<u32>().map_err(|_| {
                    FormatError::at(
                        text,
                        line_start + indent + 3,
                        format!("bad event id {rest:?}"),
                    )
                })?);
            } else if trimmed.starts_with("format:") {
                seen_format = true;
            } else if trimmed.starts_with("field:") || trimmed.starts_with("field ") {
                let mut field = fields::parse_field_line(text, line_start + indent, trimmed)?;
                field.is_common = in_common && (fields.is_empty() || field.is_common_name());
                if !field.is_common {
                    in_common = false;
                }
                fields.push(field);
            } else if trimmed.is_empty() {
                if !fields.is_empty() {
                    in_common = false;
                }
            } else if let Some(rest) = trimmed.strip_prefix("print fmt:") {
                let start = line_start + indent + "print fmt:".len();
                let skipped = rest.len() - rest.trim_start().len();
                // `print fmt` is the rest of the file (normally one line).
                let raw_start = start + skipped;
                let raw = text[raw_start..].trim_end_matches(['\n', '\r']);
                print = Some((raw_start, raw.to_string()));
                break;
            } else {
                return Err(FormatError::at(
                    text,
                    line_start + indent,
                    format!("unexpected line {trimmed:?}"),
                ));
            }
        }
        let name = name.ok_or_else(|| FormatError::at(text, 0, "no `name:` line"))?;
        let id = id.ok_or_else(|| FormatError::at(text, 0, "no `ID:` line"))?;
        if !seen_format && fields.is_empty() {
            return Err(FormatError::at(text, 0, "no `format:` section"));
        }
        let (print_fmt, print) = match print {
            Some((start, raw)) => {
                let parsed = parser::parse_print_fmt(text, start, &raw);
                (raw, parsed)
            }
            None => (
                String::new(),
                Err(FormatError::at(text, text.len(), "no `print fmt:` line")),
            ),
        };
        Ok(EventFormat {
            name,
            id,
            fields,
            print_fmt,
            print,
        })
    }

    /// The field called `name` (common or not).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The common fields (`common_type`, `common_flags`, …).
    pub fn common_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.is_common)
    }

    /// The event's own fields, without the common ones.
    pub fn event_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.is_common)
    }

    /// Renders a record (the event payload, starting at `common_type`) as the kernel
    /// prints it after `<event>: `. Falls back to trace-cmd's `[FAILED TO PARSE]
    /// field=value …` form when `print fmt` cannot be evaluated for this record.
    pub fn render(&self, record: &[u8], ctx: &RenderContext) -> String {
        match self.try_render(record, ctx) {
            Ok(text) => text,
            Err(_) => self.render_failed(record, ctx),
        }
    }

    /// Renders a record through `print fmt`, or says why it cannot be (no fallback).
    pub fn try_render(&self, record: &[u8], ctx: &RenderContext) -> Result<String, RenderError> {
        render::render_print_fmt(self, record, ctx)
    }

    /// trace-cmd's form for an event it cannot format: `[FAILED TO PARSE]` followed by
    /// ` name=value` for each of the event's own fields.
    pub fn render_failed(&self, record: &[u8], ctx: &RenderContext) -> String {
        let mut out = String::from("[FAILED TO PARSE]");
        render::render_fields_into(&mut out, self, record, ctx);
        out
    }

    /// The event's own fields as ` name=value` pairs (space-separated, with a leading
    /// space), the way trace-cmd prints them when it cannot use `print fmt`.
    pub fn render_fields(&self, record: &[u8], ctx: &RenderContext) -> String {
        let mut out = String::new();
        render::render_fields_into(&mut out, self, record, ctx);
        out
    }

    /// Reads one field of a little-endian record as a typed value.
    pub fn field_value(&self, record: &[u8], field: &Field) -> Value {
        value::field_value(record, field, false, 8)
    }

    /// Reads one field of a record whose byte order and `long` size are given by `ctx`.
    pub fn field_value_with(&self, record: &[u8], field: &Field, ctx: &RenderContext) -> Value {
        value::field_value(record, field, ctx.big_endian, ctx.long_size)
    }

    /// Reads the field called `name` of a little-endian record.
    pub fn field_value_by_name(&self, record: &[u8], name: &str) -> Option<Value> {
        self.field(name).map(|f| self.field_value(record, f))
    }
}

impl fmt::Display for EventFormat {
    /// A short summary: `name (id N, K fields)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (id {}, {} fields)",
            self.name,
            self.id,
            self.fields.len()
        )
    }
}

#[cfg(test)]
mod tests;
