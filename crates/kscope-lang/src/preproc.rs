//! The C preprocessor subset of a script's preamble, as upstream's tools use it:
//! `#include` (kernel types come from BTF; a few headers' stable integer macros such as
//! `AF_INET` come from [`crate::header_constants`]), `#define NAME VALUE` with one integer or
//! string literal (substituted for `NAME` in expressions), `#undef`, and
//! `#ifdef`/`#ifndef`/`#else`/`#endif` with `BPFTRACE_HAVE_BTF` defined (kscope always has
//! BTF), so that the branch holding C struct definitions for kernels without BTF is
//! skipped.

use crate::diag::Diagnostic;
use crate::lexer::{Token, parse_int, tokenize, unescape};
use crate::span::Span;

/// The name that is always defined.
pub const HAVE_BTF: &str = "BPFTRACE_HAVE_BTF";

/// A `#define NAME VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDefine {
    /// The macro name.
    pub name: String,
    /// Where the name is.
    pub name_span: Span,
    /// The value.
    pub value: DefineValue,
    /// Where the value is.
    pub value_span: Span,
}

/// The value of a `#define`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefineValue {
    /// An integer literal.
    Int(u64),
    /// A string literal (escapes decoded).
    Str(Vec<u8>),
}

/// One conditional being processed.
struct Cond {
    span: Span,
    in_else: bool,
}

/// Runs the preamble's directives starting at `pos` (a `#`). Returns the defines and the
/// byte offset where the script continues (the first line that is not a directive and not
/// in a skipped branch).
pub fn preamble(src: &str, mut pos: usize) -> Result<(Vec<RawDefine>, usize), Diagnostic> {
    let mut defines: Vec<RawDefine> = Vec::new();
    let mut stack: Vec<Cond> = Vec::new();
    loop {
        let (tok, span) = crate::lexer::next_token(src, pos);
        if tok != Token::Hash {
            if let Some(open) = stack.last() {
                let what = if tok == Token::Eof {
                    Diagnostic::error(
                        "unterminated conditional",
                        open.span,
                        "this has no matching `#endif`",
                    )
                } else {
                    Diagnostic::error(
                        "C definitions are not supported yet",
                        span,
                        "inside a preprocessor conditional that kscope keeps",
                    )
                    .with_help("kscope reads kernel types from BTF: remove the definitions")
                };
                return Err(what);
            }
            return Ok((defines, span.start as usize));
        }
        let start = span.start as usize;
        let end = line_end(src, start);
        let line = &src[start..end];
        pos = end;
        let body = line[1..].trim_start();
        let word_len = body
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(body.len());
        let word = &body[..word_len];
        let rest_at = start + (line.len() - body.len()) + word_len;
        let rest = &src[rest_at..end];
        let line_span = Span::new(start, end);
        match word {
            "include" => {
                let header = rest.trim().trim_matches(['<', '>', '"']).trim();
                // Only the names the script mentions: the tree stays readable.
                let used = crate::header_constants::constants(header)
                    .iter()
                    .filter(|(name, _)| src.contains(name));
                for &(name, value) in used {
                    defines.push(RawDefine {
                        name: name.to_string(),
                        name_span: line_span,
                        value: DefineValue::Int(value),
                        value_span: line_span,
                    });
                }
            }
            "define" => defines.push(define(src, rest_at, rest, line_span)?),
            "undef" => {
                let name = rest.trim();
                defines.retain(|d| d.name != name);
            }
            "ifdef" | "ifndef" => {
                let name = rest.trim();
                let defined = name == HAVE_BTF || defines.iter().any(|d| d.name == name);
                let take = defined == (word == "ifdef");
                stack.push(Cond {
                    span: line_span,
                    in_else: false,
                });
                if !take {
                    let (found, after) = skip(src, pos, true, line_span)?;
                    pos = after;
                    if found == "endif" {
                        stack.pop();
                    } else {
                        stack.last_mut().expect("pushed").in_else = true;
                    }
                }
            }
            "else" => {
                let Some(top) = stack.last() else {
                    return Err(unmatched(line_span, "#else"));
                };
                if top.in_else {
                    return Err(Diagnostic::error(
                        "a second `#else`",
                        line_span,
                        "this conditional already had one",
                    ));
                }
                // The taken branch ends here: skip the rest up to `#endif`.
                let (_, after) = skip(src, pos, false, top.span)?;
                pos = after;
                stack.pop();
            }
            "endif" => {
                if stack.pop().is_none() {
                    return Err(unmatched(line_span, "#endif"));
                }
            }
            _ => {
                return Err(Diagnostic::error(
                    format!("the preprocessor directive `#{word}` is not supported"),
                    line_span,
                    "not supported",
                )
                .with_help(
                    "kscope supports #include (ignored), #define NAME VALUE, #undef, #ifdef, #ifndef, #else and #endif",
                ));
            }
        }
    }
}

fn unmatched(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!("`{what}` without `#ifdef` or `#ifndef`"),
        span,
        "no conditional is open",
    )
}

/// The end of the directive line starting at `start` (before the newline; a line ending in
/// `\` continues on the next).
fn line_end(src: &str, start: usize) -> usize {
    let bytes = src.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            if i > start && bytes[i - 1] == b'\\' {
                i += 1;
                continue;
            }
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// Skips lines from `pos` up to the `#endif` (or, with `stop_at_else`, the `#else`) that
/// matches the open conditional, nested conditionals included. Returns which was found and
/// the offset after its line.
fn skip(
    src: &str,
    mut pos: usize,
    stop_at_else: bool,
    open: Span,
) -> Result<(&'static str, usize), Diagnostic> {
    let mut depth = 0u32;
    while pos < src.len() {
        let end = src[pos..].find('\n').map(|i| pos + i).unwrap_or(src.len());
        let line = src[pos..end].trim_start();
        pos = (end + 1).min(src.len());
        let Some(directive) = line.strip_prefix('#') else {
            continue;
        };
        let directive = directive.trim_start();
        let word: String = directive
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match word.as_str() {
            "if" | "ifdef" | "ifndef" => depth += 1,
            "endif" if depth == 0 => return Ok(("endif", pos)),
            "endif" => depth -= 1,
            "else" if depth == 0 && stop_at_else => return Ok(("else", pos)),
            _ => {}
        }
    }
    Err(Diagnostic::error(
        "unterminated conditional",
        open,
        "this has no matching `#endif`",
    ))
}

/// `#define NAME VALUE` with `rest` the text after `define` (at byte `at`).
fn define(src: &str, at: usize, rest: &str, line: Span) -> Result<RawDefine, Diagnostic> {
    let toks = tokenize(rest);
    let shift = |s: Span| Span::new(at + s.start as usize, at + s.end as usize);
    let unsupported = |why: &str| {
        Diagnostic::error("this `#define` is not supported", line, why.to_string())
            .with_help("kscope supports `#define NAME VALUE` with one integer or string literal")
    };
    let Some(&(Token::Ident, name_span)) = toks.first() else {
        return Err(unsupported("expected a macro name"));
    };
    let name_span = shift(name_span);
    let name = src[name_span.range()].to_string();
    // A function-like macro has `(` right after the name.
    if src[name_span.end as usize..].starts_with('(') {
        return Err(unsupported("function-like macros are not supported"));
    }
    let (value, value_span) = match &toks[1..] {
        [(Token::Int, s)] => {
            let s = shift(*s);
            let v = parse_int(&src[s.range()])
                .map_err(|m| Diagnostic::error(m, s, "invalid integer"))?;
            (DefineValue::Int(v), s)
        }
        [(Token::Str, s)] => {
            let s = shift(*s);
            let body = &src[s.start as usize + 1..s.end as usize - 1];
            let bytes =
                unescape(body).map_err(|(_, m)| Diagnostic::error(m, s, "invalid escape"))?;
            (DefineValue::Str(bytes), s)
        }
        _ => {
            return Err(unsupported(
                "the value must be one integer or string literal",
            ));
        }
    };
    Ok(RawDefine {
        name,
        name_span,
        value,
        value_span,
    })
}
