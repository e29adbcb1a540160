//! printf-style format strings: splitting into pieces, and number/string formatting with
//! the kernel's `vsnprintf` rules (or glibc's, for trace-cmd's output).

use super::ast::{ConvKind, ConvSpec, Count, FormatPiece, Length};

/// Splits a format string into literal text and conversions, as the kernel's
/// `format_decode` reads it. Errors carry a byte offset into the format string.
pub(crate) fn parse_format(fmt: &[u8]) -> Result<Vec<FormatPiece>, (usize, String)> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if c != b'%' {
            literal.push(c);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            literal.push(b'%');
            i += 1;
            continue;
        }
        let mut spec = ConvSpec {
            left: false,
            plus: false,
            space: false,
            alt: false,
            zero: false,
            width: None,
            precision: None,
            length: Length::Default,
            kind: ConvKind::Signed,
            text: String::new(),
        };
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => spec.left = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alt = true,
                b'0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if fmt.get(i) == Some(&b'*') {
            spec.width = Some(Count::Arg);
            i += 1;
        } else if let Some(n) = digits(fmt, &mut i) {
            spec.width = Some(Count::Fixed(n));
        }
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            if fmt.get(i) == Some(&b'*') {
                spec.precision = Some(Count::Arg);
                i += 1;
            } else {
                spec.precision = Some(Count::Fixed(digits(fmt, &mut i).unwrap_or(0)));
            }
        }
        spec.length = match fmt.get(i) {
            Some(b'h') if fmt.get(i + 1) == Some(&b'h') => {
                i += 2;
                Length::Char
            }
            Some(b'h') => {
                i += 1;
                Length::Short
            }
            Some(b'l') if fmt.get(i + 1) == Some(&b'l') => {
                i += 2;
                Length::LongLong
            }
            Some(b'l') => {
                i += 1;
                Length::Long
            }
            Some(b'L') => {
                i += 1;
                Length::LongLong
            }
            Some(b'z' | b'Z') => {
                i += 1;
                Length::Size
            }
            Some(b't') => {
                i += 1;
                Length::PtrDiff
            }
            Some(b'j') => {
                i += 1;
                Length::IntMax
            }
            _ => Length::Default,
        };
        let Some(&conv) = fmt.get(i) else {
            flush(&mut pieces, &mut literal);
            pieces.push(FormatPiece::Invalid(lossy(&fmt[start..])));
            return Ok(pieces);
        };
        i += 1;
        spec.kind = match conv {
            b'd' | b'i' => ConvKind::Signed,
            b'u' => ConvKind::Unsigned,
            b'o' => ConvKind::Octal,
            b'x' => ConvKind::Hex { upper: false },
            b'X' => ConvKind::Hex { upper: true },
            b'c' => ConvKind::Char,
            b's' => ConvKind::Str,
            b'p' => {
                let ext_start = i;
                while fmt.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    i += 1;
                }
                ConvKind::Pointer(lossy(&fmt[ext_start..i]))
            }
            _ => {
                flush(&mut pieces, &mut literal);
                pieces.push(FormatPiece::Invalid(lossy(&fmt[start..i])));
                // The kernel stops formatting at an invalid conversion; keep the rest as
                // text only for display.
                literal.extend_from_slice(&fmt[i..]);
                if !literal.is_empty() {
                    pieces.push(FormatPiece::Literal(std::mem::take(&mut literal)));
                }
                return Ok(pieces);
            }
        };
        spec.text = lossy(&fmt[start..i]);
        flush(&mut pieces, &mut literal);
        pieces.push(FormatPiece::Conversion(spec));
    }
    flush(&mut pieces, &mut literal);
    Ok(pieces)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn flush(pieces: &mut Vec<FormatPiece>, literal: &mut Vec<u8>) {
    if !literal.is_empty() {
        pieces.push(FormatPiece::Literal(std::mem::take(literal)));
    }
}

fn digits(fmt: &[u8], i: &mut usize) -> Option<u32> {
    let start = *i;
    let mut n: u32 = 0;
    while let Some(d @ b'0'..=b'9') = fmt.get(*i) {
        n = n.saturating_mul(10).saturating_add((d - b'0') as u32);
        *i += 1;
    }
    (*i > start).then_some(n)
}

/// The largest width or precision honoured (the kernel's trace_seq is one page).
pub(crate) const MAX_WIDTH: i64 = 4096;

/// Resolved flags, width and precision of one conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
    /// -1 when absent.
    pub width: i64,
    /// -1 when absent.
    pub precision: i64,
}

/// Formats an integer. `num` is the value's bits (already sign-extended to 64 bits when
/// `signed`), `base` 8, 10 or 16. `glibc` selects glibc's rules over the kernel's.
pub(crate) fn number(
    out: &mut Vec<u8>,
    num: u64,
    signed: bool,
    base: u32,
    upper: bool,
    spec: Spec,
    glibc: bool,
) {
    let mut zero = spec.zero && !spec.left;
    if glibc && spec.precision >= 0 {
        zero = false;
    }
    let negative = signed && (num as i64) < 0;
    let magnitude = if negative {
        (num as i64).unsigned_abs()
    } else {
        num
    };
    let is_zero = magnitude == 0;
    let sign: &[u8] = if signed {
        if negative {
            b"-"
        } else if spec.plus {
            b"+"
        } else if spec.space {
            b" "
        } else {
            b""
        }
    } else {
        b""
    };
    let mut digits = Vec::with_capacity(24);
    if glibc && is_zero && spec.precision == 0 {
        // glibc prints no digits for a zero with precision 0.
    } else {
        let mut n = magnitude;
        loop {
            let d = (n % base as u64) as u8;
            digits.push(match d {
                0..=9 => b'0' + d,
                _ if upper => b'A' + d - 10,
                _ => b'a' + d - 10,
            });
            n /= base as u64;
            if n == 0 {
                break;
            }
        }
        digits.reverse();
    }
    let prefix: &[u8] = if spec.alt && base != 10 {
        if base == 16 {
            if glibc && is_zero {
                b""
            } else if upper {
                b"0X"
            } else {
                b"0x"
            }
        } else if is_zero && (!glibc || !digits.is_empty()) {
            // Kernel: no extra 0 for zero. glibc: "0" already there.
            b""
        } else if glibc && spec.precision > digits.len() as i64 {
            // glibc: the precision's zeros already lead.
            b""
        } else {
            b"0"
        }
    } else {
        b""
    };
    let precision = spec.precision.max(digits.len() as i64);
    let zeros = precision - digits.len() as i64;
    let body = sign.len() as i64 + prefix.len() as i64 + precision;
    let pad = (spec.width.min(MAX_WIDTH) - body).max(0) as usize;
    if !spec.left && !zero {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
    out.extend_from_slice(sign);
    out.extend_from_slice(prefix);
    if !spec.left && zero {
        out.extend(std::iter::repeat_n(b'0', pad));
    }
    out.extend(std::iter::repeat_n(
        b'0',
        zeros.clamp(0, MAX_WIDTH) as usize,
    ));
    out.extend_from_slice(&digits);
    if spec.left {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
}

/// Formats a string with width and precision (spaces for padding, as both the kernel and
/// glibc do for `%s`).
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8], spec: Spec) {
    let s = if spec.precision >= 0 {
        &s[..s.len().min(spec.precision as usize)]
    } else {
        s
    };
    let pad = (spec.width.min(MAX_WIDTH) - s.len() as i64).max(0) as usize;
    if !spec.left {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
    out.extend_from_slice(s);
    if spec.left {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
}

/// The kernel's `%px`: 16 (or 8) zero-padded hex digits unless a width is given.
pub(crate) fn pointer_hex(out: &mut Vec<u8>, value: u64, mut spec: Spec, long_size: u8) {
    spec.alt = false;
    spec.plus = false;
    spec.space = false;
    if spec.width < 0 {
        spec.width = 2 * long_size as i64;
        spec.zero = true;
    }
    number(out, value, false, 16, false, spec, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(num: i64, signed: bool, base: u32, f: &str) -> String {
        let pieces = parse_format(f.as_bytes()).unwrap();
        let FormatPiece::Conversion(c) = &pieces[0] else {
            panic!()
        };
        let spec = Spec {
            left: c.left,
            plus: c.plus,
            space: c.space,
            alt: c.alt,
            zero: c.zero,
            width: match c.width {
                Some(Count::Fixed(n)) => n as i64,
                _ => -1,
            },
            precision: match c.precision {
                Some(Count::Fixed(n)) => n as i64,
                _ => -1,
            },
        };
        let mut out = Vec::new();
        let upper = matches!(c.kind, ConvKind::Hex { upper: true });
        number(&mut out, num as u64, signed, base, upper, spec, false);
        let kernel = String::from_utf8(out).unwrap();
        let mut out = Vec::new();
        number(&mut out, num as u64, signed, base, upper, spec, true);
        let glibc = String::from_utf8(out).unwrap();
        format!("{kernel}|{glibc}")
    }

    #[test]
    fn numbers_follow_the_kernel_and_glibc() {
        assert_eq!(k(42, true, 10, "%d"), "42|42");
        assert_eq!(k(-42, true, 10, "%5d"), "  -42|  -42");
        assert_eq!(k(-42, true, 10, "%05d"), "-0042|-0042");
        assert_eq!(k(-42, true, 10, "%-5d|"), "-42  |-42  ");
        assert_eq!(k(42, true, 10, "%+d"), "+42|+42");
        assert_eq!(k(0, false, 16, "%#x"), "0x0|0");
        assert_eq!(k(255, false, 16, "%#x"), "0xff|0xff");
        assert_eq!(k(255, false, 16, "%#06x"), "0x00ff|0x00ff");
        assert_eq!(k(255, false, 16, "%08X"), "000000FF|000000FF");
        assert_eq!(k(8, false, 8, "%#o"), "010|010");
        assert_eq!(k(0, false, 8, "%#o"), "0|0");
        assert_eq!(k(0, true, 10, "%.0d"), "0|");
        assert_eq!(k(5, true, 10, "%.3d"), "005|005");
        assert_eq!(k(5, true, 10, "%06.3d"), "000005|   005");
        assert_eq!(k(7, true, 10, "%-1d"), "7|7");
        assert_eq!(k(3, true, 10, "%03d"), "003|003");
    }

    #[test]
    fn format_strings_split_into_pieces() {
        let p = parse_format(b"a=%d b=%-08.3lx %pISpc:%s%% %*pbl %.*s %c").unwrap();
        let convs: Vec<String> = p
            .iter()
            .filter_map(|x| match x {
                FormatPiece::Conversion(c) => Some(c.text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            convs,
            ["%d", "%-08.3lx", "%pISpc", "%s", "%*pbl", "%.*s", "%c"]
        );
        let p = parse_format(b"x %k y").unwrap();
        assert!(matches!(p[1], FormatPiece::Invalid(_)));
        let p = parse_format(b"trailing %").unwrap();
        assert!(matches!(p.last(), Some(FormatPiece::Invalid(_))));
    }
}
