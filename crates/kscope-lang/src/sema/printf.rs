//! `printf` format strings: the conversions and the argument kinds they take.

/// The argument kind a conversion takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `%d %i %u %x %X %o %c %gr` and friends.
    Integer,
    /// `%p`: an integer or a pointer.
    Pointer,
    /// `%s`: anything printable.
    Text,
    /// `%r %rh %rx`: a buffer or string.
    Buffer,
}

/// One conversion of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The whole specifier as written (`%-6d`).
    pub text: String,
    /// What argument it takes.
    pub kind: ArgKind,
    /// Byte offset of the `%` in the decoded format string.
    pub offset: usize,
}

/// Splits a format string into its conversions; the error names the bad specifier.
pub fn conversions(fmt: &[u8]) -> Result<Vec<Conversion>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < fmt.len() && b"-+ #0".contains(&fmt[i]) {
            i += 1;
        }
        while i < fmt.len() && fmt[i].is_ascii_digit() {
            i += 1;
        }
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            while i < fmt.len() && fmt[i].is_ascii_digit() {
                i += 1;
            }
        }
        while i < fmt.len() && b"hljzt".contains(&fmt[i]) {
            i += 1;
        }
        let text =
            |end: usize| String::from_utf8_lossy(&fmt[start..end.min(fmt.len())]).into_owned();
        let Some(&c) = fmt.get(i) else {
            return Err(format!(
                "the format ends inside the specifier `{}`",
                text(i)
            ));
        };
        i += 1;
        let kind = match c {
            b'd' | b'i' | b'u' | b'x' | b'X' | b'o' | b'c' => ArgKind::Integer,
            b'p' => ArgKind::Pointer,
            b's' => ArgKind::Text,
            b'r' => {
                if matches!(fmt.get(i), Some(b'h' | b'x')) {
                    i += 1;
                }
                ArgKind::Buffer
            }
            b'g' if fmt.get(i) == Some(&b'r') => {
                i += 1;
                ArgKind::Integer
            }
            _ => {
                return Err(format!(
                    "unknown conversion `{}` (use %d, %u, %x, %s, %c, %p, %r, or %% for a percent sign)",
                    text(i)
                ));
            }
        };
        out.push(Conversion {
            text: text(i),
            kind,
            offset: start,
        });
    }
    Ok(out)
}
