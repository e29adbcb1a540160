//! A fast path for the commonest `print fmt` shape: literal text and `%lx`/`%lu`/`%ld`
//! (optionally `0`-padded to a width) of 8-byte fields, possibly cast to `(unsigned)
//! long` — every syscall event's format. The general renderer evaluates an expression
//! tree and goes through printf-like formatting for each record; a plan reads the fields
//! and writes digits.
//!
//! A plan is only an optimisation, so it is checked: the decoding thread renders the
//! first [`CHECKS`] records of each event both ways, and drops the plan for good at the
//! first difference.

use kscope_ftrace::format::{
    ConvKind, Count, EventFormat, ExprKind, FieldKind, FormatPiece, Length, RenderContext,
};

use crate::num::{push_hex, push_u64, push_u64_right};

/// Records of each event rendered both ways before the plan is trusted.
pub(crate) const CHECKS: u32 = 64;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Signed,
    Unsigned,
    Hex,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(Vec<u8>),
    Num {
        offset: usize,
        kind: Kind,
        width: usize,
        zero: bool,
    },
}

/// A compiled simple `print fmt`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pieces: Vec<Piece>,
}

/// The plan for `fmt`, when its `print fmt` has the simple shape.
pub(crate) fn plan(fmt: &EventFormat, ctx: &RenderContext) -> Option<Plan> {
    if ctx.big_endian || ctx.long_size != 8 {
        return None;
    }
    let print = fmt.print.as_ref().ok()?;
    let mut args = print.args.iter();
    let mut pieces = Vec::new();
    for piece in &print.format.pieces {
        match piece {
            FormatPiece::Literal(text) => pieces.push(Piece::Lit(text.clone())),
            FormatPiece::Invalid(_) => return None,
            FormatPiece::Conversion(c) => {
                if c.left || c.plus || c.space || c.alt || c.precision.is_some() {
                    return None;
                }
                if !matches!(c.length, Length::Long | Length::LongLong) {
                    return None;
                }
                let kind = match c.kind {
                    ConvKind::Signed => Kind::Signed,
                    ConvKind::Unsigned => Kind::Unsigned,
                    ConvKind::Hex { upper: false } => Kind::Hex,
                    _ => return None,
                };
                let width = match c.width {
                    None => 0,
                    Some(Count::Fixed(n)) if n <= 64 => n as usize,
                    Some(_) => return None,
                };
                let mut arg = args.next()?;
                while let ExprKind::Cast(ty, inner) = &arg.kind {
                    let long = matches!(
                        ty.text.as_str(),
                        "unsigned long" | "long" | "unsigned long long" | "long long"
                    );
                    if !long || ty.pointer != 0 {
                        return None;
                    }
                    arg = inner;
                }
                let ExprKind::Field(name) = &arg.kind else {
                    return None;
                };
                let field = fmt.field(name)?;
                let int_or_pointer = matches!(
                    field.kind,
                    FieldKind::Int { size: 8, .. } | FieldKind::Pointer
                );
                if field.size != 8 || !int_or_pointer {
                    return None;
                }
                pieces.push(Piece::Num {
                    offset: field.offset,
                    kind,
                    width,
                    zero: c.zero,
                });
            }
        }
    }
    if args.next().is_some() {
        return None;
    }
    Some(Plan { pieces })
}

impl Plan {
    /// Renders `p` into `out`; false (with `out` unchanged) when the record is too short.
    pub(crate) fn render(&self, p: &[u8], out: &mut Vec<u8>) -> bool {
        let start = out.len();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(text) => out.extend_from_slice(text),
                &Piece::Num {
                    offset,
                    kind,
                    width,
                    zero,
                } => {
                    let Some(b) = p.get(offset..offset + 8) else {
                        out.truncate(start);
                        return false;
                    };
                    let v = u64::from_le_bytes(b.try_into().unwrap_or_default());
                    let fill = if zero { b'0' } else { b' ' };
                    match kind {
                        Kind::Hex if zero => push_hex(out, v, width),
                        Kind::Hex => {
                            let at = out.len();
                            push_hex(out, v, 0);
                            pad_front(out, at, width, b' ');
                        }
                        Kind::Unsigned => push_u64_right(out, v, width, fill),
                        Kind::Signed => {
                            let at = out.len();
                            let s = v as i64;
                            if s < 0 {
                                out.push(b'-');
                            }
                            push_u64(out, s.unsigned_abs());
                            pad_front(out, at, width, fill);
                        }
                    }
                }
            }
        }
        true
    }
}

/// Right-aligns `out[at..]` in `width` columns. With `0`, zeros go after a sign, as in
/// printf.
fn pad_front(out: &mut Vec<u8>, at: usize, width: usize, fill: u8) {
    let len = out.len() - at;
    if len >= width {
        return;
    }
    let n = width - len;
    let insert_at = if fill == b'0' && out.get(at) == Some(&b'-') {
        at + 1
    } else {
        at
    };
    out.splice(insert_at..insert_at, std::iter::repeat_n(fill, n));
}

#[cfg(test)]
mod tests {
    use super::*;
    use kscope_ftrace::format::Dialect;

    const ENTER_READ: &str = "name: sys_enter_read
ID: 700
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:char * buf;\toffset:24;\tsize:8;\tsigned:0;
\tfield:size_t count;\toffset:32;\tsize:8;\tsigned:0;

print fmt: \"fd: 0x%08lx, buf: 0x%08lx, count: 0x%08lx\", ((unsigned long)(REC->fd)), ((unsigned long)(REC->buf)), ((unsigned long)(REC->count))
";

    const EXIT_READ: &str = "name: sys_exit_read
ID: 699
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;

print fmt: \"0x%lx\", REC->ret
";

    fn record(values: &[u64]) -> Vec<u8> {
        let mut p = vec![0u8; 16];
        for v in values {
            p.extend_from_slice(&v.to_le_bytes());
        }
        p
    }

    #[test]
    fn plans_render_what_the_renderer_renders() {
        let ctx = RenderContext::new().with_dialect(Dialect::TraceCmd);
        let enter = EventFormat::parse(ENTER_READ).unwrap();
        let exit = EventFormat::parse(EXIT_READ).unwrap();
        let (pe, px) = (plan(&enter, &ctx).unwrap(), plan(&exit, &ctx).unwrap());
        let values = [
            0,
            1,
            0x1234_5678,
            0xffff_ffff,
            1 << 40,
            u64::MAX,
            (-13i64) as u64,
        ];
        for &a in &values {
            for &b in &values {
                for (fmt, plan, p) in [
                    (&enter, &pe, record(&[a, b, a ^ b])),
                    (&exit, &px, record(&[a])),
                ] {
                    let mut out = Vec::new();
                    assert!(plan.render(&p, &mut out));
                    assert_eq!(String::from_utf8(out).unwrap(), fmt.render(&p, &ctx));
                }
            }
        }
        let mut out = Vec::new();
        assert!(!pe.render(&record(&[1]), &mut out), "a short record");
        assert!(out.is_empty());
    }

    #[test]
    fn other_shapes_have_no_plan() {
        let ctx = RenderContext::new().with_dialect(Dialect::TraceCmd);
        let text = EXIT_READ.replace("\"0x%lx\", REC->ret", "\"%s\", __get_str(x)");
        let fmt = EventFormat::parse_lenient(&text).unwrap();
        assert!(plan(&fmt, &ctx).is_none());
        let text = EXIT_READ.replace("\"0x%lx\"", "\"0x%x\"");
        let fmt = EventFormat::parse(&text).unwrap();
        assert!(plan(&fmt, &ctx).is_none());
    }
}
