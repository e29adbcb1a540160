//! Rendering records through `print fmt`, and trace-cmd's `field=value` fallback.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::ast::{ConvKind, ConvSpec, Count, FormatPiece, Length};
use super::eval::{Evaluator, Val, bitmap_hex, bitmap_list};
use super::fields::{FieldKind, extend, read_uint};
use super::printf::{self, Spec};
use super::symbols::SymbolLookup;
use super::{EventFormat, FormatError};

/// Whose output to reproduce where the kernel and trace-cmd differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// The kernel's `trace` file, read with the `hash-ptr` option off: `%p` prints
    /// `%px`-style 16 hex digits, `%pS` prints `func+0xoff/0xsize [module]`, numbers follow
    /// the kernel's `vsnprintf` (`%#x` of 0 is `0x0`), `__print_flags` follows
    /// `trace_print_flags_seq`. Unknown enum names in flag tables make the event fall back.
    #[default]
    Kernel,
    /// trace-cmd's libtraceevent (checked against 1.7.1, the one trace-cmd 3.1.6 uses):
    /// `%p` prints `0x…` (glibc), `%pS` prints `func+0xoff`, numbers follow glibc,
    /// cpumasks print as lists, values are `unsigned long long` (fields zero-extended,
    /// casts mask without sign extension), operator chains group to the right and a
    /// parenthesised right operand is rotated (`x & (a | b)` is `(x & a) | b`), unknown
    /// names read as 0 (as -1 in flag tables), statement expressions fail. Not
    /// reproduced: its `%c` and `%.*s` handling, its failure on `sizeof(u64)` and on
    /// string concatenation in tables, and reads past the end of a field.
    TraceCmd,
}

/// What the renderer needs besides the record: symbols, byte order, `long` size, enum
/// values and the output dialect.
#[derive(Clone)]
pub struct RenderContext {
    /// Kernel symbols for `%pS`, `%ps`, `%pB` (without them, addresses print as `0x…`).
    pub symbols: Option<Arc<dyn SymbolLookup + Send + Sync>>,
    /// Values of enum constants left as names in `print fmt` (for example
    /// `HRTIMER_MODE_ABS` in `hrtimer_start`), usually taken from BTF.
    pub enums: HashMap<String, i64>,
    /// Whether records are big-endian (default: little-endian).
    pub big_endian: bool,
    /// The kernel's `sizeof(long)`: 8 (default) or 4.
    pub long_size: u8,
    /// Whose output to reproduce.
    pub dialect: Dialect,
    /// Constant kernel strings by address (`printk_formats`), for `%s` of a `const char *`
    /// field that points at one (`rcu_utilization`, `bprint`'s format).
    pub strings: HashMap<u64, String>,
}

impl Default for RenderContext {
    fn default() -> Self {
        RenderContext {
            symbols: None,
            strings: HashMap::new(),
            enums: HashMap::new(),
            big_endian: false,
            long_size: 8,
            dialect: Dialect::Kernel,
        }
    }
}

impl fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderContext")
            .field("symbols", &self.symbols.is_some())
            .field("enums", &self.enums.len())
            .field("strings", &self.strings.len())
            .field("big_endian", &self.big_endian)
            .field("long_size", &self.long_size)
            .field("dialect", &self.dialect)
            .finish()
    }
}

/// Enum constants that some kernels leave unconverted in `print fmt` (the same small table
/// trace-cmd knows): softirq vectors and hrtimer restart values.
const BUILTIN_ENUMS: &[(&str, i64)] = &[
    ("HI_SOFTIRQ", 0),
    ("TIMER_SOFTIRQ", 1),
    ("NET_TX_SOFTIRQ", 2),
    ("NET_RX_SOFTIRQ", 3),
    ("BLOCK_SOFTIRQ", 4),
    ("IRQ_POLL_SOFTIRQ", 5),
    ("TASKLET_SOFTIRQ", 6),
    ("SCHED_SOFTIRQ", 7),
    ("HRTIMER_SOFTIRQ", 8),
    ("RCU_SOFTIRQ", 9),
    ("HRTIMER_NORESTART", 0),
    ("HRTIMER_RESTART", 1),
];

impl RenderContext {
    /// The default context: little-endian, 8-byte `long`, kernel dialect, no symbols.
    pub fn new() -> Self {
        RenderContext::default()
    }

    /// Uses `symbols` for `%pS`/`%ps`/`%pB`.
    pub fn with_symbols(mut self, symbols: Arc<dyn SymbolLookup + Send + Sync>) -> Self {
        self.symbols = Some(symbols);
        self
    }

    /// Adds enum constant values.
    pub fn with_enums<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = (S, i64)>,
        S: Into<String>,
    {
        self.enums
            .extend(values.into_iter().map(|(k, v)| (k.into(), v)));
        self
    }

    /// Adds the constant strings of a `printk_formats` file (`0xADDR : "text"` per line).
    pub fn with_printk_formats(mut self, text: &str) -> Self {
        for line in text.lines() {
            let Some((addr, rest)) = line.split_once(" : ") else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr.trim().trim_start_matches("0x"), 16) else {
                continue;
            };
            let rest = rest.trim_end();
            let quoted = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(rest);
            self.strings.insert(addr, unescape(quoted));
        }
        self
    }

    /// Selects the output dialect.
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The value of an enum constant: from [`RenderContext::enums`], else from a small
    /// built-in table.
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        self.enums.get(name).copied().or_else(|| {
            BUILTIN_ENUMS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
        })
    }
}

/// Decodes the escapes `printk_formats` writes (`\n`, `\t`, `\\`, `\"`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Why a record could not be rendered through `print fmt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// `print fmt` itself did not parse.
    #[error("print fmt did not parse: {0}")]
    NoPrintFmt(FormatError),
    /// `REC->name` names no field of the event.
    #[error("the event has no field {0}")]
    UnknownField(String),
    /// An identifier with no known value (an enum constant missing from the context).
    #[error("unknown identifier {0}")]
    UnknownIdentifier(String),
    /// A function or helper the renderer does not implement.
    #[error("unsupported function {0}")]
    UnsupportedFunction(String),
    /// An expression or conversion that cannot be evaluated from the record alone.
    #[error("cannot evaluate {0}")]
    Unsupported(String),
    /// The record is too short for a field or an array.
    #[error("the record is too short for {0}")]
    Truncated(String),
    /// Division or remainder by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// The format string has more conversions than there are arguments.
    #[error("the format string has more conversions than arguments")]
    MissingArgument,
    /// An argument does not suit its conversion.
    #[error("argument {index} does not suit {conversion}: {why}")]
    BadArgument {
        /// 0-based argument index.
        index: usize,
        /// The conversion, e.g. `%d`.
        conversion: String,
        /// What was wrong.
        why: String,
    },
}

pub(crate) fn render_print_fmt(
    event: &EventFormat,
    record: &[u8],
    ctx: &RenderContext,
) -> Result<String, RenderError> {
    let print = event
        .print
        .as_ref()
        .map_err(|e| RenderError::NoPrintFmt(e.clone()))?;
    let mut ev = Evaluator::new(event, record, ctx);
    let mut out: Vec<u8> = Vec::with_capacity(128);
    let glibc = ctx.dialect == Dialect::TraceCmd;
    let args = if glibc {
        &print.tracecmd_args
    } else {
        &print.args
    };
    let mut args = args.iter().enumerate();
    for piece in &print.format.pieces {
        match piece {
            FormatPiece::Literal(text) => out.extend_from_slice(text),
            FormatPiece::Invalid(_) => break,
            FormatPiece::Conversion(conv) => {
                let mut spec = Spec {
                    left: conv.left,
                    plus: conv.plus,
                    space: conv.space,
                    alt: conv.alt,
                    zero: conv.zero,
                    width: -1,
                    precision: -1,
                };
                match conv.width {
                    Some(Count::Fixed(n)) => spec.width = n as i64,
                    Some(Count::Arg) => {
                        let (_, e) = args.next().ok_or(RenderError::MissingArgument)?;
                        let w = ev.int(e)? as i32 as i64;
                        if w < 0 {
                            spec.left = true;
                        }
                        spec.width = w.abs();
                    }
                    None => {}
                }
                match conv.precision {
                    Some(Count::Fixed(n)) => spec.precision = n as i64,
                    Some(Count::Arg) => {
                        let (_, e) = args.next().ok_or(RenderError::MissingArgument)?;
                        let p = ev.int(e)? as i32 as i64;
                        spec.precision = if p >= 0 {
                            p
                        } else if glibc {
                            -1
                        } else {
                            0
                        };
                    }
                    None => {}
                }
                spec.width = spec.width.min(printf::MAX_WIDTH);
                spec.precision = spec.precision.min(printf::MAX_WIDTH);
                let (index, arg) = args.next().ok_or(RenderError::MissingArgument)?;
                let value = ev.eval(arg)?;
                convert(&mut out, conv, spec, value, &ev, ctx).map_err(|why| match why {
                    Bad::Arg(why) => RenderError::BadArgument {
                        index,
                        conversion: conv.text.clone(),
                        why,
                    },
                    Bad::Render(e) => e,
                })?;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

enum Bad {
    Arg(String),
    Render(RenderError),
}

impl From<RenderError> for Bad {
    fn from(e: RenderError) -> Self {
        Bad::Render(e)
    }
}

fn convert(
    out: &mut Vec<u8>,
    conv: &ConvSpec,
    spec: Spec,
    value: Val,
    ev: &Evaluator,
    ctx: &RenderContext,
) -> Result<(), Bad> {
    let glibc = ctx.dialect == Dialect::TraceCmd;
    let long_bits: u32 = if ctx.long_size == 4 { 32 } else { 64 };
    match &conv.kind {
        ConvKind::Signed | ConvKind::Unsigned | ConvKind::Octal | ConvKind::Hex { .. } => {
            let Val::Int { bits, size, .. } = value else {
                return Err(Bad::Arg("not an integer".into()));
            };
            // As passed through varargs: values narrower than 64 bits travel as 32-bit
            // ints, so reading them as 64 bits sees the 32 bits zero-extended.
            let passed = if size <= 4 { bits & 0xffff_ffff } else { bits };
            let conv_bits = match conv.length {
                Length::Char => 8,
                Length::Short => 16,
                Length::Default => 32,
                Length::Long | Length::Size | Length::PtrDiff => long_bits,
                Length::LongLong | Length::IntMax => 64,
            };
            let signed = conv.kind == ConvKind::Signed;
            let v = extend(passed, (conv_bits / 8) as usize, signed);
            let v = if signed {
                v
            } else {
                extend(v, (conv_bits / 8) as usize, false)
            };
            let (base, upper) = match conv.kind {
                ConvKind::Octal => (8, false),
                ConvKind::Hex { upper } => (16, upper),
                _ => (10, false),
            };
            printf::number(out, v, signed, base, upper, spec, glibc);
        }
        ConvKind::Char => {
            let Val::Int { bits, .. } = value else {
                return Err(Bad::Arg("not an integer".into()));
            };
            let mut s = spec;
            s.precision = -1;
            printf::string(out, &[bits as u8], s);
        }
        ConvKind::Str => {
            if let Val::Pieces(pieces) = &value {
                for (formatted, text) in pieces {
                    if *formatted {
                        printf::string(out, text, spec);
                    } else {
                        out.extend_from_slice(text);
                    }
                }
                return Ok(());
            }
            if let (true, Val::Int { bits, .. }) = (glibc, &value)
                && !ctx.strings.contains_key(bits)
            {
                // libtraceevent prints an address it cannot resolve as bare hex.
                out.extend_from_slice(format!("{bits:x}").as_bytes());
                return Ok(());
            }
            let bytes: Vec<u8> = match &value {
                Val::Pieces(_) => Vec::new(),
                Val::Bytes(b) => until_nul(b).to_vec(),
                Val::Ptr { off, .. } => until_nul(ev.record.get(*off..).unwrap_or(&[])).to_vec(),
                Val::Int { bits: 0, .. } => b"(null)".to_vec(),
                Val::Int { bits, .. } if ctx.strings.contains_key(bits) => {
                    ctx.strings[bits].as_bytes().to_vec()
                }
                Val::Int { bits, .. } if glibc => format!("{bits:x}").into_bytes(),
                Val::Int { .. } => {
                    return Err(Bad::Arg("a kernel pointer cannot be read".into()));
                }
            };
            printf::string(out, &bytes, spec);
        }
        ConvKind::Pointer(ext) => pointer(out, ext, spec, value, ev, ctx)?,
    }
    Ok(())
}

fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn pointer(
    out: &mut Vec<u8>,
    ext: &str,
    spec: Spec,
    value: Val,
    ev: &Evaluator,
    ctx: &RenderContext,
) -> Result<(), Bad> {
    let glibc = ctx.dialect == Dialect::TraceCmd;
    let e = ext.as_bytes();
    let int = |v: &Val| match v {
        Val::Int { bits, .. } => Ok(*bits),
        _ => Err(Bad::Arg("not an address".into())),
    };
    if glibc
        && !matches!(
            e.first(),
            None | Some(b'F' | b'f' | b'S' | b's' | b'M' | b'm' | b'I' | b'i' | b'U' | b'h')
        )
    {
        // libtraceevent prints an extension it does not know as a plain %p followed by
        // the letters.
        let addr = match value {
            Val::Int { bits, .. } => bits,
            _ => 0,
        };
        let text = if addr == 0 {
            "(nil)".to_string()
        } else {
            format!("0x{addr:x}")
        };
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(e);
        return Ok(());
    }
    match e.first().copied() {
        None | Some(b'x' | b'K') => {
            let addr = int(&value)?;
            if glibc && e.is_empty() {
                let text = if addr == 0 {
                    "(nil)".to_string()
                } else {
                    format!("0x{addr:x}")
                };
                printf::string(out, text.as_bytes(), spec);
            } else {
                printf::pointer_hex(out, addr, spec, ctx.long_size);
            }
        }
        Some(c @ (b'S' | b's' | b'F' | b'f' | b'B')) => {
            let addr = int(&value)?;
            let text = symbol_text(addr, c, ctx);
            if glibc {
                out.extend_from_slice(text.as_bytes());
            } else {
                printf::string(out, text.as_bytes(), spec);
            }
        }
        Some(b'I' | b'i') => {
            let text = ip_text(e, &value, ev, ctx)?;
            printf::string(out, text.as_bytes(), spec);
        }
        Some(b'M' | b'm') => {
            let bytes = ev.ptr_bytes(&value, 6, "%pM")?;
            let reversed = e.contains(&b'R');
            let sep = if e[0] == b'm' {
                ""
            } else if e.get(1) == Some(&b'F') {
                "-"
            } else {
                ":"
            };
            let mut parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if reversed {
                parts.reverse();
            }
            printf::string(out, parts.join(sep).as_bytes(), spec);
        }
        Some(b'U') => {
            let bytes = ev.ptr_bytes(&value, 16, "%pU")?;
            let variant = e.get(1).copied().unwrap_or(b'b');
            let upper = matches!(variant, b'B' | b'L');
            let order: [usize; 16] = if matches!(variant, b'l' | b'L') {
                [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
            } else {
                [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
            };
            let mut text = String::with_capacity(36);
            for (i, &idx) in order.iter().enumerate() {
                if upper {
                    text.push_str(&format!("{:02X}", bytes[idx]));
                } else {
                    text.push_str(&format!("{:02x}", bytes[idx]));
                }
                if matches!(i, 3 | 5 | 7 | 9) {
                    text.push('-');
                }
            }
            printf::string(out, text.as_bytes(), spec);
        }
        Some(b'h') => {
            if spec.width == 0 {
                return Ok(());
            }
            let len = if spec.width < 0 {
                1
            } else {
                spec.width.min(64) as usize
            };
            let bytes = ev.ptr_bytes(&value, len, "%ph")?;
            let sep = match e.get(1) {
                Some(b'C') => ":",
                Some(b'D') => "-",
                Some(b'N') => "",
                _ => " ",
            };
            let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            out.extend_from_slice(parts.join(sep).as_bytes());
        }
        Some(b'b') => {
            let nr_bits = spec.width.max(0) as usize;
            let bytes = ev.ptr_bytes(&value, nr_bits.div_ceil(8), "%pb")?;
            let text = if e.get(1) == Some(&b'l') {
                bitmap_list(bytes, nr_bits, ctx)
            } else {
                bitmap_hex(bytes, nr_bits, ctx)
            };
            out.extend_from_slice(text.as_bytes());
        }
        Some(b'a') => {
            let bytes = ev.ptr_bytes(&value, 8, "%pa")?;
            let v = read_uint(bytes, 0, 8, ctx.big_endian).unwrap_or(0);
            out.extend_from_slice(format!("0x{v:016x}").as_bytes());
        }
        _ => {
            return Err(Bad::Render(RenderError::Unsupported(format!("%p{ext}"))));
        }
    }
    Ok(())
}

/// `%pS`-family text for an address.
fn symbol_text(addr: u64, kind: u8, ctx: &RenderContext) -> String {
    let glibc = ctx.dialect == Dialect::TraceCmd;
    let backtrace = kind == b'B' && !glibc;
    let lookup_addr = if backtrace {
        addr.wrapping_sub(1)
    } else {
        addr
    };
    let found = ctx.symbols.as_ref().and_then(|s| {
        s.lookup(lookup_addr).map(|sym| {
            (
                sym.name.to_string(),
                sym.start,
                sym.size,
                sym.module.map(str::to_string),
            )
        })
    });
    let Some((name, start, size, module)) = found else {
        return format!("0x{addr:x}");
    };
    let mut text = name;
    let with_offset = matches!(kind, b'S' | b'F' | b'B');
    if glibc {
        if matches!(kind, b'S' | b'F') {
            text.push_str(&format!("+0x{:x}", addr.wrapping_sub(start)));
        }
        return text;
    }
    if with_offset {
        let offset = lookup_addr
            .wrapping_sub(start)
            .wrapping_add(u64::from(backtrace));
        text.push_str(&format!("+{offset:#x}/{size:#x}"));
    }
    if let Some(m) = module {
        text.push_str(&format!(" [{m}]"));
    }
    text
}

fn ip4(b: &[u8], leading_zeros: bool) -> String {
    if leading_zeros {
        format!("{:03}.{:03}.{:03}.{:03}", b[0], b[1], b[2], b[3])
    } else {
        format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    }
}

fn ip6_full(b: &[u8], colons: bool) -> String {
    let mut s = String::with_capacity(39);
    for (i, pair) in b.chunks(2).enumerate() {
        if colons && i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{:02x}{:02x}", pair[0], pair[1]));
    }
    s
}

/// RFC 5952 text as the kernel's `%pI6c` prints it.
fn ip6_compressed(b: &[u8]) -> String {
    let words: Vec<u16> = b
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    let v4_mapped = words[..5].iter().all(|&w| w == 0) && words[5] == 0xffff;
    let isatap = (u32::from_be_bytes([b[8], b[9], b[10], b[11]]) | 0x0200_0000) == 0x0200_5efe;
    let use_v4 = v4_mapped || isatap;
    let range = if use_v4 { 6 } else { 8 };
    // The longest run of zero words (the first of equal length); a single 0 stays.
    let mut best = (usize::MAX, 0usize);
    let mut i = 0;
    while i < range {
        if words[i] == 0 {
            let start = i;
            while i < range && words[i] == 0 {
                i += 1;
            }
            if i - start > best.1 {
                best = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best.1 <= 1 {
        best = (usize::MAX, 0);
    }
    let mut s = String::new();
    let mut need_colon = false;
    let mut i = 0;
    while i < range {
        if i == best.0 {
            if need_colon || i == 0 {
                s.push(':');
            }
            s.push(':');
            need_colon = false;
            i += best.1;
            continue;
        }
        if need_colon {
            s.push(':');
        }
        s.push_str(&format!("{:x}", words[i]));
        need_colon = true;
        i += 1;
    }
    if use_v4 {
        if need_colon {
            s.push(':');
        }
        s.push_str(&ip4(&b[12..16], false));
    }
    s
}

fn ip_text(e: &[u8], value: &Val, ev: &Evaluator, ctx: &RenderContext) -> Result<String, Bad> {
    let leading_zeros = e[0] == b'i';
    let rest = &e[2.min(e.len())..];
    match e.get(1) {
        Some(b'4') => Ok(ip4(ev.ptr_bytes(value, 4, "%pI4")?, leading_zeros)),
        Some(b'6') => {
            let b = ev.ptr_bytes(value, 16, "%pI6")?;
            Ok(if e[0] == b'I' && rest.contains(&b'c') {
                ip6_compressed(b)
            } else {
                ip6_full(b, e[0] == b'I')
            })
        }
        Some(b'S') => {
            let head = ev.ptr_bytes(value, 2, "%pIS")?;
            let family = read_uint(head, 0, 2, ctx.big_endian).unwrap_or(0);
            let have_p = rest.contains(&b'p');
            let have_s = rest.contains(&b's');
            let have_f = rest.contains(&b'f');
            let have_c = rest.contains(&b'c');
            match family {
                2 => {
                    let b = ev.ptr_bytes(value, 8, "%pIS")?;
                    let mut s = ip4(&b[4..8], leading_zeros);
                    if have_p {
                        s.push_str(&format!(":{}", u16::from_be_bytes([b[2], b[3]])));
                    }
                    Ok(s)
                }
                10 => {
                    let b = ev.ptr_bytes(value, 28, "%pIS")?;
                    let addr = &b[8..24];
                    let bracket = have_p || have_s || have_f;
                    let mut s = String::new();
                    if bracket {
                        s.push('[');
                    }
                    if e[0] == b'I' && have_c {
                        s.push_str(&ip6_compressed(addr));
                    } else {
                        s.push_str(&ip6_full(addr, e[0] == b'I'));
                    }
                    if bracket {
                        s.push(']');
                    }
                    if have_p {
                        s.push_str(&format!(":{}", u16::from_be_bytes([b[2], b[3]])));
                    }
                    if have_f {
                        let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) & 0x000f_ffff;
                        s.push_str(&format!("/{flow:#x}"));
                    }
                    if have_s {
                        let scope = read_uint(b, 24, 4, ctx.big_endian).unwrap_or(0);
                        s.push_str(&format!("%{scope}"));
                    }
                    Ok(s)
                }
                // libtraceevent prints nothing for a family it does not know.
                _ if ctx.dialect == Dialect::TraceCmd => Ok(String::new()),
                _ => Ok("(einval)".to_string()),
            }
        }
        _ => Err(Bad::Render(RenderError::Unsupported(format!(
            "%p{}",
            String::from_utf8_lossy(e)
        )))),
    }
}

/// Whether libtraceevent would print these bytes as a string: every byte before the first
/// NUL is printable or white space (C locale).
fn printable(b: &[u8]) -> bool {
    b.iter()
        .take_while(|&&c| c != 0)
        .all(|&c| (0x20..=0x7e).contains(&c) || matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
}

/// trace-cmd's raw field printing: ` name=value` for each of the event's own fields.
pub(crate) fn render_fields_into(
    out: &mut String,
    event: &EventFormat,
    record: &[u8],
    ctx: &RenderContext,
) {
    for f in event.event_fields() {
        out.push(' ');
        out.push_str(&f.name);
        out.push('=');
        let ty = f.type_name.as_str();
        let dynamic = f.is_dynamic();
        let array = ty.contains('[') || (dynamic && f.size == 2);
        let string = (ty.contains('[')
            && (ty.contains("char") || ty.contains("u8") || ty.contains("s8")))
            || (dynamic && f.size == 2);
        if array {
            let (off, len) = if dynamic {
                f.dynamic_range(record, ctx.big_endian).unwrap_or((0, 0))
            } else {
                let off = f.offset.min(record.len());
                (off, f.size.min(record.len() - off))
            };
            let data = &record[off..off + len];
            if string && printable(data) {
                // Printed as a C string from the offset: up to the NUL.
                let tail = record.get(off..).unwrap_or(&[]);
                out.push_str(&String::from_utf8_lossy(until_nul(tail)));
            } else {
                out.push_str("ARRAY[");
                for (i, b) in data.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("{b:02x}"));
                }
                out.push(']');
            }
            continue;
        }
        let val = read_uint(record, f.offset, f.size, ctx.big_endian).unwrap_or(0);
        let long = ty.contains("long");
        if ty.contains('*') || matches!(f.kind, FieldKind::Pointer) {
            out.push_str(&format!("0x{val:x}"));
        } else if f.signed {
            match f.size {
                4 if long => out.push_str(&format!("0x{:x}", val as u32)),
                4 => out.push_str(&format!("{}", val as u32 as i32)),
                2 => out.push_str(&format!("{:2}", val as u16 as i16)),
                1 => out.push_str(&format!("{}", val as u8 as i8)),
                _ => out.push_str(&format!("{}", val as i64)),
            }
        } else if long {
            out.push_str(&format!("0x{val:x}"));
        } else {
            out.push_str(&format!("{val}"));
        }
    }
}
