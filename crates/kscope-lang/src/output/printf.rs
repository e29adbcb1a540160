//! bpftrace's `printf` format strings: parsing into literal fragments and conversion
//! specs, and formatting decoded arguments exactly as upstream does.
//!
//! Upstream formats each conversion with a C++ iostream, not with C's `printf`, and
//! this module reproduces that behaviour:
//! - the precision only applies to floating-point conversions (`%.3s` does not cut);
//! - the space flag is accepted and ignored;
//! - `0` pads with zeros on the left of the whole field, sign included (`%05d` of -5 is
//!   `000-5`), and on the right when combined with `-` (`%-05d` of 5 is `50000`);
//! - `+` shows the sign of signed conversions only;
//! - `#` adds `0x`/`0X`/`0` to non-zero hexadecimal and octal values;
//! - a conversion that cannot format its argument writes `!{reason}`.

use super::text;
use super::value::Primitive;

/// One conversion (`%-10s`, `%llu`, `%rx`...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatSpec {
    /// `-`: align left.
    pub left_align: bool,
    /// `+`: show the sign.
    pub show_sign: bool,
    /// ` `: accepted, no effect.
    pub space_prefix: bool,
    /// `#`: base prefix.
    pub alternate_form: bool,
    /// `0`: pad with zeros.
    pub lead_zeros: bool,
    /// Field width (`*` counts as 0: upstream takes no argument for it).
    pub width: usize,
    /// Precision, for floating-point conversions.
    pub precision: Option<usize>,
    /// `h`, `hh`, `l`, `ll`, `j`, `z`, `t`, `L`...
    pub length_modifier: String,
    /// `d`, `s`, `x`, `rx`, `gr`...
    pub specifier: String,
}

/// A parsed format string: `fragments` is one longer than `specs`, and the output is
/// fragment, spec, fragment, ..., spec, fragment. `%%` is folded into the fragments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatString {
    /// Literal text around the conversions.
    pub fragments: Vec<String>,
    /// The conversions, one argument each.
    pub specs: Vec<FormatSpec>,
}

const SINGLE: &[u8] = b"diouxXeEfFGaAcspn%";

/// Tries to read one conversion at `s[0] == '%'`; returns it and its length.
fn parse_spec(s: &[u8]) -> Option<(FormatSpec, usize)> {
    let mut i = 1;
    let mut spec = FormatSpec::default();
    let flag = |i: &mut usize, c: u8| -> bool {
        if s.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    spec.left_align = flag(&mut i, b'-');
    spec.show_sign = flag(&mut i, b'+');
    spec.space_prefix = flag(&mut i, b' ');
    spec.alternate_form = flag(&mut i, b'#');
    spec.lead_zeros = flag(&mut i, b'0');
    let number = |i: &mut usize| -> Option<Option<usize>> {
        if s.get(*i) == Some(&b'*') {
            *i += 1;
            return Some(None);
        }
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        let digits = std::str::from_utf8(&s[start..*i]).ok()?;
        Some(Some(digits.parse().unwrap_or(usize::MAX)))
    };
    if let Some(w) = number(&mut i) {
        spec.width = w.unwrap_or(0);
    }
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        if let Some(p) = number(&mut j) {
            spec.precision = p;
            i = j;
        }
    }
    let start = i;
    while s.get(i).is_some_and(|c| b"hlLjzt".contains(c)) {
        i += 1;
    }
    spec.length_modifier = String::from_utf8_lossy(&s[start..i]).into_owned();
    let rest = &s[i..];
    let conv: &str = match rest.first()? {
        c if SINGLE.contains(c) => std::str::from_utf8(&rest[..1]).ok()?,
        b'g' if rest.get(1) == Some(&b'r') => "gr",
        b'g' => "g",
        b'r' if rest.get(1) == Some(&b'h') => "rh",
        b'r' if rest.get(1) == Some(&b'x') => "rx",
        b'r' => "r",
        _ => return None,
    };
    spec.specifier = conv.to_string();
    Some((spec, i + conv.len()))
}

/// Every `%…` the format string holds that upstream's pattern takes for a conversion
/// (`%%` included), with its byte range; other `%` text is literal.
fn scan(fmt: &str) -> Vec<(std::ops::Range<usize>, FormatSpec)> {
    let bytes = fmt.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        match parse_spec(&bytes[i..]) {
            Some((spec, len)) => {
                out.push((i..i + len, spec));
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// The conversions of a format string (not `%%`) with their byte ranges, exactly those
/// [`FormatString::parse`] takes arguments for: the type checker counts and checks
/// arguments with them.
pub fn conversions(fmt: &str) -> Vec<(std::ops::Range<usize>, FormatSpec)> {
    scan(fmt)
        .into_iter()
        .filter(|(_, spec)| spec.specifier != "%")
        .collect()
}

/// What argument a conversion accepts (upstream's `FormatString::check` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// `d i u o x X c p gr`: an integer, a bool or a pointer.
    Integer,
    /// `r rx rh`: a buffer.
    Buffer,
    /// `s`: anything printable.
    Any,
    /// Parsed but refused by upstream (`%f`, `%e`, `%g`, `%n`, `%a`...).
    Unsupported,
}

impl FormatSpec {
    /// What argument this conversion accepts.
    pub fn accepts(&self) -> Accepts {
        match self.specifier.as_str() {
            "d" | "i" | "u" | "o" | "x" | "X" | "c" | "p" | "gr" => Accepts::Integer,
            "r" | "rx" | "rh" => Accepts::Buffer,
            "s" => Accepts::Any,
            _ => Accepts::Unsupported,
        }
    }
}

impl FormatString {
    /// Upstream's argument checks, in its words: the count first, then each
    /// conversion's support (the per-type check needs the checker's types).
    pub fn check_count(&self, args: usize) -> Result<(), String> {
        let n = self.specs.len();
        if args < n {
            return Err(format!(
                "not enough arguments for format string ({args} supplied, {n} expected)"
            ));
        }
        if args > n {
            return Err(format!(
                "too many arguments for format string ({args} supplied, {n} expected)"
            ));
        }
        match self
            .specs
            .iter()
            .find(|s| s.accepts() == Accepts::Unsupported)
        {
            Some(s) => Err(format!("unsupported format specifier: {}", s.specifier)),
            None => Ok(()),
        }
    }

    /// Parses a (decoded) format string. Text that does not form a conversion stays
    /// literal, as upstream's pattern search leaves it.
    pub fn parse(fmt: &str) -> Self {
        let mut out = FormatString::default();
        let mut fragment = String::new();
        let mut last = 0;
        for (range, spec) in scan(fmt) {
            fragment.push_str(&fmt[last..range.start]);
            last = range.end;
            if spec.specifier == "%" {
                fragment.push('%');
                continue;
            }
            out.fragments.push(std::mem::take(&mut fragment));
            out.specs.push(spec);
        }
        fragment.push_str(&fmt[last..]);
        out.fragments.push(fragment);
        out
    }

    /// Formats the arguments (one per spec); missing arguments drop the rest of the
    /// format except its last fragment, as upstream does.
    pub fn format(&self, args: &[Primitive]) -> String {
        let mut out = String::new();
        for (i, (arg, spec)) in args.iter().zip(&self.specs).enumerate() {
            out.push_str(&self.fragments[i]);
            match spec.apply(arg) {
                Ok(s) => out.push_str(&s),
                Err(e) => {
                    out.push_str("!{");
                    out.push_str(&e);
                    out.push('}');
                }
            }
        }
        if let Some(last) = self.fragments.last() {
            out.push_str(last);
        }
        out
    }
}

/// Casts an integer to the width a length modifier names (C's `int` by default),
/// sign-extending for signed conversions.
fn cast(bits: u64, modifier: &str, signed: bool, default_bits: u32) -> u64 {
    let width = match modifier {
        "hh" => 8,
        "h" => 16,
        "l" | "ll" | "j" | "z" | "t" => 64,
        _ => default_bits,
    };
    if width == 64 {
        return bits;
    }
    let mask = (1u64 << width) - 1;
    let low = bits & mask;
    if signed && low >> (width - 1) == 1 {
        low | !mask
    } else {
        low
    }
}

fn number_of(p: &Primitive) -> Result<u64, String> {
    p.as_bits()
        .ok_or_else(|| format!("invalid integer conversion: {}", text::primitive(p)))
}

impl FormatSpec {
    /// Pads to the field width, counted in bytes as iostream does.
    fn pad(&self, s: &str) -> String {
        let len = s.len();
        if len >= self.width {
            return s.to_string();
        }
        let fill = if self.lead_zeros { "0" } else { " " }.repeat(self.width - len);
        if self.left_align {
            format!("{s}{fill}")
        } else {
            format!("{fill}{s}")
        }
    }

    fn signed(&self, v: i64) -> String {
        if self.show_sign && v >= 0 {
            format!("+{v}")
        } else {
            v.to_string()
        }
    }

    fn unsigned(&self, v: u64, base: &str) -> String {
        match base {
            "o" if self.alternate_form && v != 0 => format!("0{v:o}"),
            "o" => format!("{v:o}"),
            "x" if self.alternate_form && v != 0 => format!("0x{v:x}"),
            "x" => format!("{v:x}"),
            "X" if self.alternate_form && v != 0 => format!("0X{v:X}"),
            "X" => format!("{v:X}"),
            _ => v.to_string(),
        }
    }

    fn float(&self, v: f64) -> String {
        let s = match (self.specifier.as_str(), self.precision) {
            ("f" | "F", Some(p)) => format!("{v:.p$}"),
            ("e" | "E", Some(p)) => c_exp(v, p),
            (_, p) => general(v, p.unwrap_or(6)),
        };
        if self.show_sign && v >= 0.0 {
            format!("+{s}")
        } else {
            s
        }
    }

    /// Formats one argument.
    pub fn apply(&self, p: &Primitive) -> Result<String, String> {
        let spec = self.specifier.as_str();
        let body = match spec {
            "d" | "i" => {
                let v = cast(number_of(p)?, &self.length_modifier, true, 32);
                self.signed(v as i64)
            }
            "u" | "o" | "x" | "X" => {
                let v = cast(number_of(p)?, &self.length_modifier, false, 32);
                self.unsigned(v, spec)
            }
            "c" => {
                let v = cast(number_of(p)?, "", true, 32);
                char::from(v as u8).to_string()
            }
            "p" => {
                let v = number_of(p)?;
                if v == 0 {
                    "0".to_string()
                } else {
                    format!("0x{v:x}")
                }
            }
            "f" | "F" | "e" | "E" | "g" | "G" | "a" | "A" => {
                let v = match p {
                    Primitive::Int(v) => *v as f64,
                    _ => number_of(p)? as f64,
                };
                self.float(v)
            }
            "r" | "rx" | "rh" => match p {
                Primitive::Buffer(b) => text::hex_format_buffer(b, spec == "r", spec != "rh"),
                other => return Ok(self.string(other)),
            },
            "gr" => return Err("%gr (GFP flags) is not built yet in kscope".into()),
            _ => return Ok(self.string(p)),
        };
        Ok(self.pad(&body))
    }

    /// `%s` and friends: the text form, the width applying to its first token only.
    fn string(&self, p: &Primitive) -> String {
        let mut out = String::new();
        let mut first = true;
        let mut pad = |t: &str| {
            if std::mem::take(&mut first) {
                let t = match p {
                    Primitive::Int(v) => self.signed(*v),
                    _ => t.to_string(),
                };
                self.pad(&t)
            } else {
                t.to_string()
            }
        };
        text::primitive_tokens(&mut out, p, &mut pad);
        out
    }
}

/// C's `%.*e`: mantissa, `e`, sign and at least two exponent digits.
fn c_exp(v: f64, p: usize) -> String {
    let s = format!("{v:.p$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// iostream's default float form (C's `%g`): `p` significant digits, trailing zeros
/// removed, scientific when the exponent is below -4 or at least `p`.
fn general(v: f64, p: usize) -> String {
    let p = p.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let strip = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if exp < -4 || exp >= p as i32 {
        let s = c_exp(v, p - 1);
        let (m, e) = s.split_once('e').unwrap_or((&s, ""));
        format!("{}e{e}", strip(m.to_string()))
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip(format!("{v:.decimals$}"))
    }
}
