//! Decimal and hex formatting straight into a byte buffer, for the per-line hot path
//! (`format!` and `write!` cost more than the rest of a line's work).

/// The decimal digits of `v`, in a stack buffer: (buffer, index of the first digit).
fn digits(mut v: u64) -> ([u8; 20], usize) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    (buf, i)
}

/// Appends `v` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    let (buf, i) = digits(v);
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` in decimal, right-aligned to `width` with `fill` (`b' '` or `b'0'`), as
/// printf's `%5lu` / `%06lu` do.
pub(crate) fn push_u64_right(out: &mut Vec<u8>, v: u64, width: usize, fill: u8) {
    let (buf, i) = digits(v);
    let n = buf.len() - i;
    out.resize(out.len() + width.saturating_sub(n), fill);
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` in decimal, left-aligned in `width` columns (printf's `%-5d`).
pub(crate) fn push_i64_left(out: &mut Vec<u8>, v: i64, width: usize) {
    let start = out.len();
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
    let n = out.len() - start;
    out.resize(out.len() + width.saturating_sub(n), b' ');
}

/// Appends `v` in lower-case hex, zero-padded to at least `width` digits (`%08llx`).
pub(crate) fn push_hex(out: &mut Vec<u8>, v: u64, width: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = HEX[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    let n = buf.len() - i;
    out.resize(out.len() + width.saturating_sub(n), b'0');
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn like_printf() {
        assert_eq!(s(|o| push_u64(o, 0)), "0");
        assert_eq!(s(|o| push_u64(o, u64::MAX)), u64::MAX.to_string());
        assert_eq!(s(|o| push_u64_right(o, 42, 5, b' ')), "   42");
        assert_eq!(s(|o| push_u64_right(o, 42, 6, b'0')), "000042");
        assert_eq!(s(|o| push_u64_right(o, 1234567, 3, b'0')), "1234567");
        assert_eq!(s(|o| push_i64_left(o, 17, 5)), "17   ");
        assert_eq!(s(|o| push_i64_left(o, -1, 5)), "-1   ");
        assert_eq!(s(|o| push_i64_left(o, 1234567, 5)), "1234567");
        assert_eq!(s(|o| push_hex(o, 0x1f, 8)), "0000001f");
        assert_eq!(s(|o| push_hex(o, 0, 0)), "0");
        assert_eq!(s(|o| push_hex(o, u64::MAX, 8)), "ffffffffffffffff");
    }
}
