//! The lexer: bpftrace tokens from script text (`logos`), plus the literal decoders for
//! integers and strings. Attach points are not lexed here: the parser scans them as raw
//! text (they hold paths, wildcards and dashes), then resumes lexing after them.

use crate::span::Span;
use logos::Logos;

/// One token. Comments and whitespace are skipped.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip r"//[^\n]*")]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
pub enum Token {
    /// An identifier, builtin or function name.
    #[regex(r"[_a-zA-Z][_a-zA-Z0-9]*")]
    Ident,
    /// A scratch variable `$name`.
    #[regex(r"\$[_a-zA-Z][_a-zA-Z0-9]*")]
    Var,
    /// A positional parameter `$1`.
    #[regex(r"\$[0-9]+")]
    Positional,
    /// The positional parameter count `$#`.
    #[token("$#")]
    ParamCount,
    /// A map `@name`, or the anonymous map `@`.
    #[regex(r"@([_a-zA-Z][_a-zA-Z0-9]*)?")]
    Map,
    /// An integer literal with any suffix (checked by [`parse_int`]).
    #[regex(r"[0-9][a-zA-Z0-9_]*")]
    Int,
    /// A string literal (escapes decoded by [`unescape`]).
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str,
    /// A string literal missing its closing quote.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    UnterminatedStr,
    /// A block comment missing its `*/`.
    #[regex(r"/\*([^*]|\*+[^*/])*\**")]
    UnterminatedComment,
    /// `if`
    #[token("if")]
    If,
    /// `else`
    #[token("else")]
    Else,
    /// `unroll`
    #[token("unroll")]
    Unroll,
    /// `for`
    #[token("for")]
    For,
    /// `while`
    #[token("while")]
    While,
    /// `return`
    #[token("return")]
    Return,
    /// `break`
    #[token("break")]
    Break,
    /// `continue`
    #[token("continue")]
    Continue,
    /// `let`
    #[token("let")]
    Let,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `,`
    #[token(",")]
    Comma,
    /// `;`
    #[token(";")]
    Semi,
    /// `:`
    #[token(":")]
    Colon,
    /// `?`
    #[token("?")]
    Question,
    /// `.`
    #[token(".")]
    Dot,
    /// `..`
    #[token("..")]
    DotDot,
    /// `->`
    #[token("->")]
    Arrow,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
    /// `%`
    #[token("%")]
    Percent,
    /// `&`
    #[token("&")]
    Amp,
    /// `|`
    #[token("|")]
    Pipe,
    /// `^`
    #[token("^")]
    Caret,
    /// `~`
    #[token("~")]
    Tilde,
    /// `!`
    #[token("!")]
    Bang,
    /// `<`
    #[token("<")]
    Lt,
    /// `>`
    #[token(">")]
    Gt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    Ne,
    /// `<<`
    #[token("<<")]
    Shl,
    /// `>>`
    #[token(">>")]
    Shr,
    /// `&&`
    #[token("&&")]
    AndAnd,
    /// `||`
    #[token("||")]
    OrOr,
    /// `=`
    #[token("=")]
    Assign,
    /// `+=`
    #[token("+=")]
    PlusAssign,
    /// `-=`
    #[token("-=")]
    MinusAssign,
    /// `*=`
    #[token("*=")]
    StarAssign,
    /// `/=`
    #[token("/=")]
    SlashAssign,
    /// `%=`
    #[token("%=")]
    PercentAssign,
    /// `&=`
    #[token("&=")]
    AmpAssign,
    /// `|=`
    #[token("|=")]
    PipeAssign,
    /// `^=`
    #[token("^=")]
    CaretAssign,
    /// `<<=`
    #[token("<<=")]
    ShlAssign,
    /// `>>=`
    #[token(">>=")]
    ShrAssign,
    /// `++`
    #[token("++")]
    PlusPlus,
    /// `--`
    #[token("--")]
    MinusMinus,
    /// `#`, which starts C preprocessor lines (not supported yet).
    #[token("#")]
    Hash,
    /// A character that starts no token.
    Error,
    /// End of input.
    Eof,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(self) -> &'static str {
        use Token::*;
        match self {
            Ident => "an identifier",
            Var => "a variable",
            Positional => "a positional parameter",
            ParamCount => "`$#`",
            Map => "a map",
            Int => "an integer",
            Str | UnterminatedStr => "a string",
            UnterminatedComment => "a comment",
            If => "`if`",
            Else => "`else`",
            Unroll => "`unroll`",
            For => "`for`",
            While => "`while`",
            Return => "`return`",
            Break => "`break`",
            Continue => "`continue`",
            Let => "`let`",
            True => "`true`",
            False => "`false`",
            LBrace => "`{`",
            RBrace => "`}`",
            LParen => "`(`",
            RParen => "`)`",
            LBracket => "`[`",
            RBracket => "`]`",
            Comma => "`,`",
            Semi => "`;`",
            Colon => "`:`",
            Question => "`?`",
            Dot => "`.`",
            DotDot => "`..`",
            Arrow => "`->`",
            Plus => "`+`",
            Minus => "`-`",
            Star => "`*`",
            Slash => "`/`",
            Percent => "`%`",
            Amp => "`&`",
            Pipe => "`|`",
            Caret => "`^`",
            Tilde => "`~`",
            Bang => "`!`",
            Lt => "`<`",
            Gt => "`>`",
            Le => "`<=`",
            Ge => "`>=`",
            EqEq => "`==`",
            Ne => "`!=`",
            Shl => "`<<`",
            Shr => "`>>`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            Assign => "`=`",
            PlusAssign => "`+=`",
            MinusAssign => "`-=`",
            StarAssign => "`*=`",
            SlashAssign => "`/=`",
            PercentAssign => "`%=`",
            AmpAssign => "`&=`",
            PipeAssign => "`|=`",
            CaretAssign => "`^=`",
            ShlAssign => "`<<=`",
            ShrAssign => "`>>=`",
            PlusPlus => "`++`",
            MinusMinus => "`--`",
            Hash => "`#`",
            Error => "an unexpected character",
            Eof => "the end of the script",
        }
    }
}

/// Lexes `src` starting at byte `from`: one token and its span (`Eof` at the end).
pub fn next_token(src: &str, from: usize) -> (Token, Span) {
    let mut lex = Token::lexer(&src[from..]);
    match lex.next() {
        None => (Token::Eof, Span::new(src.len(), src.len())),
        Some(res) => {
            let r = lex.span();
            let span = Span::new(from + r.start, from + r.end);
            (res.unwrap_or(Token::Error), span)
        }
    }
}

/// All tokens of `src` up to the end (without `Eof`); for tests and tools.
pub fn tokenize(src: &str) -> Vec<(Token, Span)> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let (tok, span) = next_token(src, pos);
        if tok == Token::Eof {
            return out;
        }
        pos = span.end as usize;
        out.push((tok, span));
    }
}

/// Decodes an integer literal: decimal, octal (`0123`), hex (`0x1f`), scientific (`2e3`),
/// `_` separators, C suffixes (`U`, `L`, `UL`, `LL`, `ULL`, which do not change the value)
/// and duration suffixes (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`: the value in nanoseconds).
/// The error says what is wrong with the literal.
pub fn parse_int(text: &str) -> Result<u64, String> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let overflow = || format!("integer `{text}` does not fit in 64 bits");
    let (radix, body) = if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        (16, hex)
    } else {
        (10, clean.as_str())
    };
    let digits_end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    let (digits, mut suffix) = body.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("integer `{text}` has no digits"));
    }
    let mut value = if radix == 16 {
        u64::from_str_radix(digits, 16).map_err(|_| overflow())?
    } else if digits.len() > 1 && digits.starts_with('0') {
        if digits.chars().any(|c| c == '8' || c == '9') {
            return Err(format!("octal integer `{text}` has a digit 8 or 9"));
        }
        u64::from_str_radix(digits, 8).map_err(|_| overflow())?
    } else {
        digits.parse::<u64>().map_err(|_| overflow())?
    };
    if radix == 10 && (suffix.starts_with('e') || suffix.starts_with('E')) {
        let exp_end = suffix[1..]
            .find(|c: char| !c.is_ascii_digit())
            .map(|i| i + 1)
            .unwrap_or(suffix.len());
        let exp: u32 = suffix[1..exp_end]
            .parse()
            .map_err(|_| format!("scientific integer `{text}` needs digits after `e`"))?;
        let scale = 10u64.checked_pow(exp).ok_or_else(overflow)?;
        value = value.checked_mul(scale).ok_or_else(overflow)?;
        suffix = &suffix[exp_end..];
    }
    let lower = suffix.to_ascii_lowercase();
    let scale: u64 = match lower.as_str() {
        "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu" => 1,
        "ns" if radix == 10 => 1,
        "us" if radix == 10 => 1_000,
        "ms" if radix == 10 => 1_000_000,
        "s" if radix == 10 => 1_000_000_000,
        "m" if radix == 10 => 60_000_000_000,
        "h" if radix == 10 => 3_600_000_000_000,
        "d" if radix == 10 => 86_400_000_000_000,
        _ => {
            return Err(format!(
                "integer `{text}` has an unknown suffix `{suffix}` (allowed: U, L, UL, LL, ULL, ns, us, ms, s, m, h, d)"
            ));
        }
    };
    value.checked_mul(scale).ok_or_else(overflow)
}

/// Decodes the escapes of a string literal's body (without the quotes): `\n`, `\t`, `\r`,
/// `\\`, `\"`, `\'`, `\0nn`/`\nnn` octal and `\xnn` hex. The error gives the byte offset of the
/// bad escape inside `body` and a message.
pub fn unescape(body: &str) -> Result<Vec<u8>, (usize, String)> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let Some(&c) = bytes.get(i + 1) else {
            return Err((i, "a string cannot end with a lone `\\`".into()));
        };
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'\'' => out.push(b'\''),
            b'0'..=b'7' => {
                let n = bytes[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|b| (b'0'..=b'7').contains(b))
                    .count();
                let text = &body[i + 1..i + 1 + n];
                let v = u32::from_str_radix(text, 8).unwrap_or(256);
                if v > 255 {
                    return Err((i, format!("octal escape `\\{text}` is above 255")));
                }
                out.push(v as u8);
                i += 1 + n;
                continue;
            }
            b'x' => {
                let n = bytes[i + 2..]
                    .iter()
                    .take(2)
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count();
                if n == 0 {
                    return Err((i, "`\\x` needs one or two hex digits".into()));
                }
                let v = u8::from_str_radix(&body[i + 2..i + 2 + n], 16).unwrap_or(0);
                out.push(v);
                i += 2 + n;
                continue;
            }
            _ => {
                let ch = body[i + 1..].chars().next().unwrap_or('?');
                return Err((i, format!("unknown escape `\\{ch}`")));
            }
        }
        i += 2;
    }
    Ok(out)
}
