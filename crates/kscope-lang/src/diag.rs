//! Diagnostics rendered in rustc's style: message, location, the source line and an
//! underline at the exact span, then notes and a `help:` line. Plain text, no colour.

use crate::span::{SourceFile, Span};
use std::fmt::Write;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The script cannot run.
    Error,
    /// The script runs, but probably not as meant.
    Warning,
}

/// A span with a short text printed beside its underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub text: String,
}

/// One error or warning about a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The one-line headline.
    pub message: String,
    /// The span the diagnostic is about, underlined with `^`.
    pub primary: Label,
    /// Further places (for example the first use of a map), underlined with `-`.
    pub notes: Vec<(String, Label)>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span, label)
        }
    }

    /// Adds a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a note pointing at another place.
    pub fn with_note(
        mut self,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        self.notes.push((
            message.into(),
            Label {
                span,
                text: label.into(),
            },
        ));
        self
    }

    /// Renders the diagnostic against its source as plain text (ends with a newline).
    pub fn render(&self, src: &SourceFile) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", self.message);
        let mut spans: Vec<usize> = vec![self.primary.span.start as usize];
        spans.extend(self.notes.iter().map(|(_, l)| l.span.start as usize));
        let width = spans
            .iter()
            .map(|&o| src.line_col(o).0.to_string().len())
            .max()
            .unwrap_or(1);
        snippet(&mut out, src, &self.primary, '^', width);
        for (message, label) in &self.notes {
            let _ = writeln!(out, "note: {message}");
            snippet(&mut out, src, label, '-', width);
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{:width$} = help: {help}", "");
        }
        out
    }
}

/// Writes ` --> file:line:col`, the source line and the underline.
fn snippet(out: &mut String, src: &SourceFile, label: &Label, mark: char, width: usize) {
    let start = src.floor_char(label.span.start as usize);
    let (line, col) = src.line_col(start);
    let _ = writeln!(out, "{:width$}--> {}:{line}:{col}", "", src.name_at(start));
    let _ = writeln!(out, "{:width$} |", "");
    let index = src.line_index(start);
    let text = src.line_text(index);
    let line_start = src.line_start(index);
    let (shown, cols) = expand_tabs(text);
    let source_line = format!("{line:>width$} | {}", shown.trim_end());
    let _ = writeln!(out, "{}", source_line.trim_end());
    // Underline the span's part on this line; an empty span (end of input) gets one mark.
    let from = start - line_start;
    let to = (label.span.end as usize)
        .min(line_start + text.len())
        .max(start)
        .saturating_sub(line_start);
    let from_col = cols[char_index(text, from)];
    let to_col = cols[char_index(text, to)];
    let marks = (to_col - from_col).max(1);
    let mut underline = format!(
        "{:width$} | {}{}",
        "",
        " ".repeat(from_col),
        mark.to_string().repeat(marks)
    );
    if !label.text.is_empty() {
        underline.push(' ');
        underline.push_str(&label.text);
    }
    let _ = writeln!(out, "{underline}");
}

/// The line with tabs expanded to 4 columns, and the display column of each character
/// boundary (one entry per character plus one for the end).
fn expand_tabs(text: &str) -> (String, Vec<usize>) {
    let mut shown = String::new();
    let mut cols = Vec::new();
    let mut col = 0;
    for c in text.chars() {
        cols.push(col);
        if c == '\t' {
            shown.push_str("    ");
            col += 4;
        } else if c.is_control() {
            shown.push(' ');
            col += 1;
        } else {
            shown.push(c);
            col += 1;
        }
    }
    cols.push(col);
    (shown, cols)
}

/// Index of the character that starts at or contains byte `byte` of `text`.
fn char_index(text: &str, byte: usize) -> usize {
    text.char_indices().take_while(|(i, _)| *i < byte).count()
}

/// Renders every diagnostic, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], src: &SourceFile) -> String {
    diags
        .iter()
        .map(|d| d.render(src))
        .collect::<Vec<_>>()
        .join("\n")
}
