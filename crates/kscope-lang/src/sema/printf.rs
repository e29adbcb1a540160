//! `printf` format strings: the conversions and the argument kinds they take.

use crate::output::printf::Accepts;

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

/// Splits a format string into its conversions as the output formatter reads it (text
/// that is no conversion stays literal, as upstream); the error names a conversion
/// upstream refuses (`%f`, `%n`, …).
pub fn conversions(fmt: &[u8]) -> Result<Vec<Conversion>, String> {
    let fmt = String::from_utf8_lossy(fmt);
    crate::output::printf::conversions(&fmt)
        .into_iter()
        .map(|(range, spec)| {
            let text = fmt[range.clone()].to_string();
            let kind = match spec.accepts() {
                Accepts::Integer if spec.specifier == "p" => ArgKind::Pointer,
                Accepts::Integer => ArgKind::Integer,
                Accepts::Buffer => ArgKind::Buffer,
                Accepts::Any => ArgKind::Text,
                Accepts::Unsupported => {
                    return Err(format!(
                        "unsupported conversion `{text}` (use %d, %u, %x, %s, %c, %p, %r, or \
                         %% for a percent sign)"
                    ));
                }
            };
            Ok(Conversion {
                text,
                kind,
                offset: range.start,
            })
        })
        .collect()
}
