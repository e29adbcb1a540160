//! A C tokenizer for `print fmt` arguments.

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// An integer literal: value, and whether it had `u`, how many `l`, and whether it was
    /// decimal (for C's literal typing rules).
    Int {
        value: u64,
        unsigned: bool,
        longs: u8,
        decimal: bool,
    },
    /// A character constant (an `int`).
    Char(u64),
    Str(Vec<u8>),
    Punct(&'static str),
    Eof,
}

/// A token and the byte offset of its start in the file text.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

/// A tokenizing error at a byte offset.
#[derive(Debug)]
pub(crate) struct LexError {
    pub offset: usize,
    pub message: String,
}

const PUNCTS: [&str; 43] = [
    "...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=",
    "-=", "*=", "/=", "%=", "&=", "|=", "^=", "##", "(", ")", "[", "]", "{", "}", ",", ";", "?",
    ":", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~",
];
const PUNCTS1: [&str; 5] = ["<", ">", ".", "=", "#"];

/// Tokenizes `src`, which starts at byte `base` of the file text.
pub(crate) fn tokenize(src: &str, base: usize) -> Result<Vec<Token>, LexError> {
    let bytes = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let offset = base + start;
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(src[start..i].to_string()),
                offset,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            let tok = parse_number(&src[start..i]).ok_or_else(|| LexError {
                offset,
                message: format!("bad number {:?}", &src[start..i]),
            })?;
            out.push(Token { tok, offset });
            continue;
        }
        if c == b'"' {
            let (s, next) = lex_quoted(bytes, i, b'"', base)?;
            i = next;
            out.push(Token {
                tok: Tok::Str(s),
                offset,
            });
            continue;
        }
        if c == b'\'' {
            let (s, next) = lex_quoted(bytes, i, b'\'', base)?;
            i = next;
            // Multi-character constants pack bytes big-endian like GCC does.
            let mut v: u64 = 0;
            for b in &s {
                v = (v << 8) | *b as u64;
            }
            if s.len() == 1 {
                // A plain `char` is signed on x86.
                v = s[0] as i8 as i64 as u64;
            }
            out.push(Token {
                tok: Tok::Char(v),
                offset,
            });
            continue;
        }
        let rest = &src[i..];
        if let Some(p) = PUNCTS
            .iter()
            .chain(PUNCTS1.iter())
            .find(|p| rest.starts_with(**p))
        {
            i += p.len();
            out.push(Token {
                tok: Tok::Punct(p),
                offset,
            });
            continue;
        }
        let ch = rest.chars().next().unwrap_or('?');
        return Err(LexError {
            offset,
            message: format!("unexpected character {ch:?}"),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        offset: base + bytes.len(),
    });
    Ok(out)
}

fn parse_number(text: &str) -> Option<Tok> {
    let lower = text.to_ascii_lowercase();
    let mut body = lower.as_str();
    let mut unsigned = false;
    let mut longs = 0u8;
    loop {
        if let Some(b) = body.strip_suffix('u') {
            if unsigned {
                return None;
            }
            unsigned = true;
            body = b;
        } else if let Some(b) = body.strip_suffix('l') {
            longs += 1;
            body = b;
            if longs > 2 {
                return None;
            }
        } else {
            break;
        }
    }
    let (digits, radix, decimal) = if let Some(h) = body.strip_prefix("0x") {
        (h, 16, false)
    } else if let Some(b) = body.strip_prefix("0b") {
        (b, 2, false)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8, false)
    } else {
        (body, 10, true)
    };
    if digits.is_empty() {
        return None;
    }
    let value = u64::from_str_radix(digits, radix).ok()?;
    Some(Tok::Int {
        value,
        unsigned,
        longs,
        decimal,
    })
}

/// Decodes a quoted C literal starting at `bytes[start]` (the quote); returns its bytes
/// and the index after the closing quote.
fn lex_quoted(
    bytes: &[u8],
    start: usize,
    quote: u8,
    base: usize,
) -> Result<(Vec<u8>, usize), LexError> {
    let mut out = Vec::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(LexError {
                offset: base + start,
                message: "unterminated literal".into(),
            });
        };
        i += 1;
        if c == quote {
            return Ok((out, i));
        }
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = bytes.get(i) else {
            return Err(LexError {
                offset: base + i,
                message: "unterminated escape".into(),
            });
        };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'e' => out.push(27),
            b'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while let Some(d) = bytes.get(i).and_then(|b| (*b as char).to_digit(16)) {
                    v = (v << 4) | d;
                    i += 1;
                    n += 1;
                }
                if n == 0 {
                    return Err(LexError {
                        offset: base + i,
                        message: "\\x with no hex digits".into(),
                    });
                }
                out.push(v as u8);
            }
            b'0'..=b'7' => {
                let mut v: u32 = (e - b'0') as u32;
                let mut n = 1;
                while n < 3 {
                    match bytes.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
}
