//! `time(fmt)`: C `strftime` formatting of the current local time (bpftrace's default
//! format is `%H:%M:%S\n`).
//!
//! Each conversion is formatted on its own by `jiff`'s strftime; a conversion it does
//! not know is copied as written (glibc does the same with unknown conversions).

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// bpftrace's default `time()` format.
pub const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S\n";

/// The conversion characters glibc's strftime knows (others are copied as written).
const GLIBC: &[u8] = b"aAbBCdeFgGhHIjklmMnpPRsStTuUVwWyYzZ%";

/// The length of the conversion starting at `s[0] == '%'` (flags, width, `E`/`O`,
/// `:`-prefixed zone forms, the conversion character).
fn conversion_len(s: &[u8]) -> usize {
    let mut i = 1;
    while i < s.len() && b"_-0^#".contains(&s[i]) {
        i += 1;
    }
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    while i < s.len() && (s[i] == b'E' || s[i] == b'O' || s[i] == b':') {
        i += 1;
    }
    // One (ASCII) conversion character, if any.
    if i < s.len() && s[i].is_ascii() {
        i += 1;
    }
    i
}

/// Formats `zoned` with a C strftime format.
pub fn strftime(fmt: &str, zoned: &Zoned) -> String {
    let bytes = fmt.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        out.push_str(&fmt[last..i]);
        let len = conversion_len(&bytes[i..]);
        let token = &fmt[i..i + len];
        let conv = token.as_bytes().last().copied().unwrap_or(b'%');
        let expanded = match conv {
            // The C locale's forms, spelled out so they do not depend on jiff's choice.
            b'c' => Some("%a %b %e %H:%M:%S %Y"),
            b'x' => Some("%m/%d/%y"),
            b'X' => Some("%H:%M:%S"),
            b'r' => Some("%I:%M:%S %p"),
            b'D' => Some("%m/%d/%y"),
            _ => None,
        };
        match expanded {
            Some(f) => out.push_str(&strftime(f, zoned)),
            None if GLIBC.contains(&conv) => match jiff::fmt::strtime::format(token, zoned) {
                Ok(s) => out.push_str(&s),
                Err(_) => out.push_str(token),
            },
            None => out.push_str(token),
        }
        i += len;
        last = i;
    }
    out.push_str(&fmt[last..]);
    out
}

/// `strftime()`'s formatting of a moment (nanoseconds since the Unix epoch) in the
/// system's time zone: C strftime plus upstream bpftrace's `%f`, the microseconds.
pub fn strftime_local(fmt: &str, unix_nanos: i128) -> String {
    strftime_ns(fmt, unix_nanos, TimeZone::system())
}

/// [`strftime_local`] in time zone `tz`.
pub fn strftime_ns(fmt: &str, unix_nanos: i128, tz: TimeZone) -> String {
    let micros = format!("{:06}", unix_nanos.rem_euclid(1_000_000_000) / 1000);
    let mut expanded = String::with_capacity(fmt.len());
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => expanded.push_str(&micros),
            Some(n) => {
                expanded.push('%');
                expanded.push(n);
            }
            None => expanded.push('%'),
        }
    }
    strftime_at(&expanded, unix_nanos, tz)
}

/// Formats a moment (nanoseconds since the Unix epoch) in time zone `tz`.
pub fn strftime_at(fmt: &str, unix_nanos: i128, tz: TimeZone) -> String {
    let ts = Timestamp::from_nanosecond(unix_nanos).unwrap_or(Timestamp::UNIX_EPOCH);
    strftime(fmt, &ts.to_zoned(tz))
}

/// Formats the current time in the system's time zone (`TZ`, else `/etc/localtime`),
/// which is what `time()` prints.
pub fn strftime_now(fmt: &str) -> String {
    strftime(fmt, &Zoned::now())
}

/// `strftime(fmt, ts)`: the builtin's value, for a moment already converted to
/// nanoseconds since the Unix epoch. bpftrace's extensions are replaced first, anywhere
/// in the format (even after `%%`, as upstream does): `%f` microseconds (6 digits), `%k`
/// nanoseconds (9), `%l` milliseconds (3) of the second. The epoch itself and an empty
/// result print `(?)`.
pub fn strftime_extended(fmt: &str, unix_nanos: i128, tz: TimeZone) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    if secs == 0 {
        return "(?)".into();
    }
    let ns = unix_nanos.rem_euclid(1_000_000_000);
    let fmt = fmt
        .replace("%f", &format!("{:06}", ns / 1000))
        .replace("%k", &format!("{ns:09}"))
        .replace("%l", &format!("{:03}", ns / 1_000_000));
    let s = strftime_at(&fmt, unix_nanos, tz);
    if s.is_empty() { "(?)".into() } else { s }
}
