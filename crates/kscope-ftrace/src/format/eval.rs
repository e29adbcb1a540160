//! Evaluation of `print fmt` argument expressions against a record, with C's integer
//! types, promotions and usual arithmetic conversions (LP64).

use std::borrow::Cow;

use super::EventFormat;
use super::ast::{BinaryOp, CType, Expr, ExprKind, FlagEntry, Stmt, UnaryOp};
use super::fields::{Field, FieldKind, extend, read_uint, scalar_type_size};
use super::render::{Dialect, RenderContext, RenderError};

/// A value during evaluation.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// An integer: `bits` holds the value truncated to `size` bytes and sign- or
    /// zero-extended to 64 bits.
    Int { bits: u64, size: u8, signed: bool },
    /// A pointer into the record: `len` bytes from `off` belong to the object, whose
    /// elements are `elem` bytes (`0` when unknown) and signed or not.
    Ptr {
        off: usize,
        len: usize,
        elem: u8,
        elem_signed: bool,
    },
    /// A string made while evaluating (a literal or a helper's output).
    Bytes(Cow<'a, [u8]>),
    /// trace-cmd's `__print_flags`/`__print_symbolic` output: names (`true`: printed
    /// through the conversion, with its width) and raw text (delimiters, leftover hex).
    Pieces(Vec<(bool, Vec<u8>)>),
}

impl Val<'_> {
    pub(crate) fn int(bits: u64, size: u8, signed: bool) -> Val<'static> {
        Val::Int {
            bits: extend(bits, size as usize, signed),
            size,
            signed,
        }
    }

    fn boolean(b: bool) -> Val<'static> {
        Val::int(b as u64, 4, true)
    }
}

/// Integer type facts of a C type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeInfo {
    Int {
        size: u8,
        signed: bool,
    },
    Bool,
    Pointer {
        elem: u8,
        elem_signed: bool,
    },
    /// A typedef we do not know, or `typeof`: conversion keeps the value.
    Keep,
    Void,
    /// A struct or union by value.
    Aggregate,
}

/// What a C type is, as far as evaluation cares.
pub(crate) fn type_info(ty: &CType, long_size: u8) -> TypeInfo {
    if ty.pointer > 0 {
        let elem = if ty.pointer > 1 {
            long_size
        } else {
            scalar_type_size(&ty.text).map_or(0, |s| s as u8)
        };
        let elem_signed = ty.pointer == 1 && base_int(&ty.text, long_size).is_some_and(|(_, s)| s);
        return TypeInfo::Pointer { elem, elem_signed };
    }
    let first = ty.text.split(' ').next().unwrap_or("");
    if matches!(first, "struct" | "union") {
        return TypeInfo::Aggregate;
    }
    if ty.text == "void" {
        return TypeInfo::Void;
    }
    if matches!(ty.text.as_str(), "bool" | "_Bool") {
        return TypeInfo::Bool;
    }
    match base_int(&ty.text, long_size) {
        Some((size, signed)) => TypeInfo::Int { size, signed },
        None => TypeInfo::Keep,
    }
}

/// (size, signed) of an integer type name.
fn base_int(text: &str, long_size: u8) -> Option<(u8, bool)> {
    let words: Vec<&str> = text.split(' ').collect();
    let unsigned = words.contains(&"unsigned");
    let signed_kw = words.contains(&"signed");
    let longs = words.iter().filter(|w| **w == "long").count();
    let core: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "long" | "int"))
        .collect();
    if core.is_empty() {
        let size = match longs {
            0 => 4,
            1 => long_size,
            _ => 8,
        };
        return Some((size, !unsigned));
    }
    if let ["enum", ..] = core.as_slice() {
        return Some((4, false));
    }
    Some(match core.as_slice() {
        ["char"] => (1, !unsigned || signed_kw),
        ["short"] => (2, !unsigned),
        ["u8" | "__u8" | "uint8_t" | "u_char" | "uchar"] => (1, false),
        ["s8" | "__s8" | "int8_t"] => (1, true),
        ["u16" | "__u16" | "uint16_t" | "__le16" | "__be16" | "umode_t" | "u_short" | "ushort"] => {
            (2, false)
        }
        ["s16" | "__s16" | "int16_t"] => (2, true),
        [
            "u32" | "__u32" | "uint32_t" | "__le32" | "__be32" | "gfp_t" | "blk_opf_t" | "dev_t"
            | "fmode_t" | "uid_t" | "gid_t" | "u_int" | "uint" | "slab_flags_t" | "xfs_agnumber_t"
            | "xfs_agblock_t" | "xfs_extlen_t" | "blk_status_t" | "vm_fault_t" | "zap_flags_t",
        ] => (4, false),
        ["s32" | "__s32" | "int32_t" | "pid_t" | "clockid_t" | "ssize32_t"] => (4, true),
        [
            "u64" | "__u64" | "uint64_t" | "__le64" | "__be64" | "sector_t" | "blkcnt_t"
            | "dma_addr_t" | "phys_addr_t" | "resource_size_t" | "xfs_ino_t" | "xfs_fsblock_t"
            | "xfs_fileoff_t" | "xfs_daddr_t",
        ] => (8, false),
        ["s64" | "__s64" | "int64_t" | "loff_t" | "ktime_t" | "time64_t" | "xfs_off_t"] => {
            (8, true)
        }
        ["size_t" | "uintptr_t" | "ulong" | "pgoff_t" | "u_long"] => (long_size, false),
        ["ssize_t" | "intptr_t" | "ptrdiff_t" | "off_t" | "time_t" | "clock_t"] => {
            (long_size, true)
        }
        _ => return None,
    })
}

/// Folds an expression that needs no record and no enum table to an `unsigned long`.
pub(crate) fn const_eval(e: &Expr) -> Option<u64> {
    let ctx = RenderContext::default();
    let fields: [Field; 0] = [];
    let mut ev = Evaluator {
        record: &[],
        fields: &fields,
        ctx: &ctx,
        locals: Vec::new(),
        constant_only: true,
        depth: 0,
        ltev: false,
    };
    match ev.eval(e).ok()? {
        Val::Int { bits, .. } => Some(bits),
        _ => None,
    }
}

/// Evaluates expressions of one event against one record.
pub(crate) struct Evaluator<'a> {
    pub record: &'a [u8],
    pub fields: &'a [Field],
    pub ctx: &'a RenderContext,
    locals: Vec<(String, Val<'a>)>,
    /// Refuse identifiers (for constant folding at parse time).
    constant_only: bool,
    depth: usize,
    /// libtraceevent's model: every integer is an `unsigned long long`.
    ltev: bool,
}

const MAX_EVAL_DEPTH: usize = 1000;

type R<'a> = Result<Val<'a>, RenderError>;

impl<'a> Evaluator<'a> {
    pub(crate) fn new(event: &'a EventFormat, record: &'a [u8], ctx: &'a RenderContext) -> Self {
        Evaluator {
            record,
            fields: &event.fields,
            ctx,
            locals: Vec::new(),
            constant_only: false,
            depth: 0,
            ltev: ctx.dialect == Dialect::TraceCmd,
        }
    }

    /// An integer as this dialect holds it.
    fn num(&self, bits: u64, size: u8, signed: bool) -> Val<'a> {
        if self.ltev {
            Val::int(bits, 8, false)
        } else {
            Val::int(bits, size, signed)
        }
    }

    fn long(&self) -> u8 {
        if self.ctx.long_size == 4 { 4 } else { 8 }
    }

    pub(crate) fn field(&self, name: &str) -> Result<&'a Field, RenderError> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| RenderError::UnknownField(name.to_string()))
    }

    fn read(&self, off: usize, size: usize, what: &str) -> Result<u64, RenderError> {
        read_uint(self.record, off, size, self.ctx.big_endian)
            .ok_or_else(|| RenderError::Truncated(what.to_string()))
    }

    /// The value of `REC->name`.
    fn field_val(&self, name: &str) -> R<'a> {
        let f = self.field(name)?;
        let end = f.offset.saturating_add(f.size);
        if end > self.record.len() {
            return Err(RenderError::Truncated(name.to_string()));
        }
        match f.kind {
            FieldKind::Int { size, signed } => {
                let raw = self.read(f.offset, size as usize, name)?;
                Ok(self.num(raw, size, signed))
            }
            FieldKind::Pointer => {
                let size = f.size.clamp(1, 8);
                let raw = self.read(f.offset, size, name)?;
                Ok(Val::int(raw, 8, false))
            }
            FieldKind::CharArray { .. } => Ok(Val::Ptr {
                off: f.offset,
                len: if f.size == 0 {
                    self.record.len() - f.offset
                } else {
                    f.size
                },
                elem: 1,
                elem_signed: true,
            }),
            FieldKind::Array {
                elem_size,
                elem_signed,
                ..
            } => Ok(Val::Ptr {
                off: f.offset,
                len: if f.size == 0 {
                    self.record.len() - f.offset
                } else {
                    f.size
                },
                elem: elem_size.min(8) as u8,
                elem_signed,
            }),
            FieldKind::DataLoc { .. } | FieldKind::RelLoc { .. } => {
                let size = f.size.clamp(1, 8);
                let raw = self.read(f.offset, size, name)?;
                Ok(Val::int(raw, size as u8, false))
            }
            FieldKind::Other => Err(RenderError::Unsupported(format!(
                "field {name} of type {}",
                f.type_name
            ))),
        }
    }

    /// The data of a dynamic field, as a pointer value.
    fn dynamic(&self, arg: &'a Expr, helper: &str) -> R<'a> {
        let name = field_name(arg).ok_or_else(|| {
            RenderError::Unsupported(format!("{helper} of something other than a field"))
        })?;
        let f = self.field(name)?;
        let (off, len) = f
            .dynamic_range(self.record, self.ctx.big_endian)
            .ok_or_else(|| match f.kind {
                FieldKind::DataLoc { .. } | FieldKind::RelLoc { .. } => {
                    RenderError::Truncated(name.to_string())
                }
                _ => RenderError::Unsupported(format!("{helper}({name}): not a dynamic field")),
            })?;
        let (elem, elem_signed) = match f.kind {
            FieldKind::DataLoc { string: true, .. } | FieldKind::RelLoc { string: true, .. } => {
                (1, true)
            }
            FieldKind::DataLoc { elem_size, .. } | FieldKind::RelLoc { elem_size, .. } => {
                (elem_size.min(8) as u8, f.signed)
            }
            _ => (0, false),
        };
        Ok(Val::Ptr {
            off,
            len,
            elem,
            elem_signed,
        })
    }

    pub(crate) fn eval(&mut self, e: &'a Expr) -> R<'a> {
        self.depth += 1;
        if self.depth > MAX_EVAL_DEPTH {
            self.depth -= 1;
            return Err(RenderError::Unsupported(
                "expression nested too deeply".into(),
            ));
        }
        let r = self.eval_inner(e);
        self.depth -= 1;
        r
    }

    fn eval_inner(&mut self, e: &'a Expr) -> R<'a> {
        match &e.kind {
            ExprKind::Int {
                value,
                size,
                signed,
            } => Ok(self.num(*value, *size, *signed)),
            ExprKind::Str(s) => Ok(Val::Bytes(Cow::Borrowed(s))),
            ExprKind::Field(name) => {
                if self.constant_only {
                    return Err(RenderError::Unsupported("field in a constant".into()));
                }
                self.field_val(name)
            }
            ExprKind::Ident(name) => self.ident(name),
            ExprKind::Member { .. } => Err(RenderError::Unsupported(format!("member access {e}"))),
            ExprKind::Index(base, index) => {
                let base = self.eval(base)?;
                let index = self.int(index)?;
                self.index(base, index as i64)
            }
            ExprKind::Unary(op, inner) => self.unary(*op, inner),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::Ternary(c, a, b) => {
                let cond = self.eval(c)?;
                if self.truthy(&cond) {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            ExprKind::Cast(ty, inner) => {
                let v = self.eval(inner)?;
                self.cast(ty, v)
            }
            ExprKind::SizeofType(ty) => {
                let size = match type_info(ty, self.long()) {
                    TypeInfo::Int { size, .. } => size as u64,
                    TypeInfo::Bool => 1,
                    TypeInfo::Pointer { .. } => self.long() as u64,
                    _ => {
                        return Err(RenderError::Unsupported(format!("sizeof({ty})")));
                    }
                };
                Ok(Val::int(size, 8, false))
            }
            ExprKind::SizeofExpr(inner) => {
                if let ExprKind::Field(name) = &inner.kind {
                    let f = self.field(name)?;
                    return Ok(Val::int(f.size as u64, 8, false));
                }
                match self.eval(inner)? {
                    Val::Int { size, .. } => Ok(Val::int(size as u64, 8, false)),
                    _ => Err(RenderError::Unsupported(format!("sizeof {inner}"))),
                }
            }
            ExprKind::PrintFlags {
                value,
                delim,
                entries,
            } => self.print_flags(value, delim, entries),
            ExprKind::PrintSymbolic { value, entries } => self.print_symbolic(value, entries),
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Braced(_) => Err(RenderError::Unsupported("a brace list as a value".into())),
            ExprKind::StmtExpr(stmts) => self.stmt_expr(stmts),
        }
    }

    fn ident(&mut self, name: &str) -> R<'a> {
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        if self.constant_only {
            return Err(RenderError::UnknownIdentifier(name.to_string()));
        }
        if let Some(v) = self.ctx.enum_value(name) {
            let size = if i32::try_from(v).is_ok() { 4 } else { 8 };
            return Ok(self.num(v as u64, size, true));
        }
        match name {
            "NULL" => Ok(Val::int(0, 8, false)),
            "true" => Ok(Val::int(1, 4, true)),
            "false" => Ok(Val::int(0, 4, true)),
            // libtraceevent reads a name it does not know as 0.
            _ if self.ctx.dialect == Dialect::TraceCmd => Ok(Val::int(0, 8, false)),
            _ => Err(RenderError::UnknownIdentifier(name.to_string())),
        }
    }

    pub(crate) fn truthy(&self, v: &Val) -> bool {
        match v {
            Val::Int { bits, .. } => *bits != 0,
            Val::Ptr { .. } | Val::Bytes(_) | Val::Pieces(_) => true,
        }
    }

    /// Evaluates to an integer (as i64/u64 bits).
    pub(crate) fn int(&mut self, e: &'a Expr) -> Result<u64, RenderError> {
        match self.eval(e)? {
            Val::Int { bits, .. } => Ok(bits),
            _ => Err(RenderError::Unsupported(format!("{e} is not an integer"))),
        }
    }

    fn index(&self, base: Val<'a>, index: i64) -> R<'a> {
        let Val::Ptr {
            off,
            len,
            elem,
            elem_signed,
        } = base
        else {
            return Err(RenderError::Unsupported("indexing a non-array".into()));
        };
        let elem = if elem == 0 { 1 } else { elem };
        let start = index
            .checked_mul(elem as i64)
            .and_then(|o| o.checked_add(off as i64))
            .filter(|&s| s >= 0)
            .ok_or_else(|| RenderError::Truncated("array index".into()))?
            as usize;
        if start + elem as usize > off + len.max(elem as usize)
            || start + elem as usize > self.record.len()
        {
            return Err(RenderError::Truncated(format!("array element {index}")));
        }
        let raw = self.read(start, elem as usize, "array element")?;
        Ok(self.num(raw, elem, elem_signed))
    }

    fn unary(&mut self, op: UnaryOp, inner: &'a Expr) -> R<'a> {
        match op {
            UnaryOp::AddrOf => match &inner.kind {
                ExprKind::Field(name) => {
                    let f = self.field(name)?;
                    let (elem, elem_signed) = match f.kind {
                        FieldKind::Int { size, signed } => (size, signed),
                        FieldKind::Array {
                            elem_size,
                            elem_signed,
                            ..
                        } => (elem_size.min(8) as u8, elem_signed),
                        FieldKind::CharArray { .. } => (1, true),
                        _ => (0, false),
                    };
                    Ok(Val::Ptr {
                        off: f.offset,
                        len: f.size,
                        elem,
                        elem_signed,
                    })
                }
                ExprKind::Index(base, index) => {
                    let base = self.eval(base)?;
                    let index = self.int(index)? as i64;
                    match base {
                        Val::Ptr {
                            off,
                            len,
                            elem,
                            elem_signed,
                        } => {
                            let step = elem.max(1) as i64;
                            let new = (off as i64).saturating_add(index.saturating_mul(step));
                            if new < 0 || new as usize > off + len {
                                return Err(RenderError::Truncated("&array[index]".into()));
                            }
                            Ok(Val::Ptr {
                                off: new as usize,
                                len: off + len - new as usize,
                                elem,
                                elem_signed,
                            })
                        }
                        _ => Err(RenderError::Unsupported("& of a non-array".into())),
                    }
                }
                _ => Err(RenderError::Unsupported(format!("&{inner}"))),
            },
            UnaryOp::Deref => {
                let v = self.eval(inner)?;
                self.index(v, 0)
            }
            UnaryOp::Not => {
                let v = self.eval(inner)?;
                Ok(Val::boolean(!self.truthy(&v)))
            }
            UnaryOp::Neg | UnaryOp::Plus | UnaryOp::BitNot => {
                let (bits, size, signed) = promote(self.eval(inner)?)?;
                let r = match op {
                    UnaryOp::Neg => bits.wrapping_neg(),
                    UnaryOp::BitNot => !bits,
                    _ => bits,
                };
                Ok(Val::int(r, size, signed))
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &'a Expr, b: &'a Expr) -> R<'a> {
        match op {
            BinaryOp::And => {
                let l = self.eval(a)?;
                if !self.truthy(&l) {
                    return Ok(Val::boolean(false));
                }
                let r = self.eval(b)?;
                return Ok(Val::boolean(self.truthy(&r)));
            }
            BinaryOp::Or => {
                let l = self.eval(a)?;
                if self.truthy(&l) {
                    return Ok(Val::boolean(true));
                }
                let r = self.eval(b)?;
                return Ok(Val::boolean(self.truthy(&r)));
            }
            BinaryOp::Comma => {
                self.eval(a)?;
                return self.eval(b);
            }
            _ => {}
        }
        // Arithmetic on a kernel address cast to `T *` scales by sizeof(T).
        let scale = if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
            match (self.pointee_size(a)?, self.pointee_size(b)?) {
                (Some(n), None) => Some((n, true)),
                (None, Some(n)) if op == BinaryOp::Add => Some((n, false)),
                (Some(_), Some(_)) | (None, Some(_)) => {
                    return Err(RenderError::Unsupported(format!(
                        "pointer arithmetic {a} {} {b}",
                        op.symbol()
                    )));
                }
                (None, None) => None,
            }
        } else {
            None
        };
        let l = self.eval(a)?;
        let r = self.eval(b)?;
        if let (Some((n, left_is_pointer)), Val::Int { bits: x, .. }, Val::Int { bits: y, .. }) =
            (scale, &l, &r)
        {
            let (base, index) = if left_is_pointer { (*x, *y) } else { (*y, *x) };
            let delta = index.wrapping_mul(n);
            let v = if op == BinaryOp::Sub {
                base.wrapping_sub(delta)
            } else {
                base.wrapping_add(delta)
            };
            return Ok(Val::int(v, self.long(), false));
        }
        // Pointer arithmetic into the record: ptr + n, ptr - n.
        if let (
            Val::Ptr {
                off,
                len,
                elem,
                elem_signed,
            },
            Val::Int { bits, .. },
        ) = (&l, &r)
            && matches!(op, BinaryOp::Add | BinaryOp::Sub)
        {
            let step = (*elem).max(1) as i64;
            let delta = (*bits as i64).wrapping_mul(step);
            let delta = if op == BinaryOp::Sub {
                delta.wrapping_neg()
            } else {
                delta
            };
            let new = (*off as i64).saturating_add(delta);
            if new < 0 || new as usize > off + len {
                return Err(RenderError::Truncated("pointer arithmetic".into()));
            }
            return Ok(Val::Ptr {
                off: new as usize,
                len: off + len - new as usize,
                elem: *elem,
                elem_signed: *elem_signed,
            });
        }
        let (lb, ls, lsg) = promote(l)?;
        let (rb, rs, rsg) = promote(r)?;
        if matches!(op, BinaryOp::Shl | BinaryOp::Shr) {
            let n = (rb as u32) & (ls as u32 * 8 - 1);
            let v = match op {
                BinaryOp::Shl => lb.wrapping_shl(n),
                _ if lsg => ((lb as i64) >> n) as u64,
                _ => lb >> n,
            };
            return Ok(Val::int(v, ls, lsg));
        }
        let (size, signed) = common(ls, lsg, rs, rsg);
        let x = extend(lb, size as usize, signed);
        let y = extend(rb, size as usize, signed);
        let ord = if signed {
            (x as i64).cmp(&(y as i64))
        } else {
            x.cmp(&y)
        };
        use std::cmp::Ordering::*;
        let v = match op {
            BinaryOp::Add => x.wrapping_add(y),
            BinaryOp::Sub => x.wrapping_sub(y),
            BinaryOp::Mul => x.wrapping_mul(y),
            BinaryOp::Div | BinaryOp::Rem => {
                if y == 0 {
                    return Err(RenderError::DivisionByZero);
                }
                match (op, signed) {
                    (BinaryOp::Div, true) => (x as i64).wrapping_div(y as i64) as u64,
                    (BinaryOp::Div, false) => x / y,
                    (_, true) => (x as i64).wrapping_rem(y as i64) as u64,
                    (_, false) => x % y,
                }
            }
            BinaryOp::BitAnd => x & y,
            BinaryOp::BitOr => x | y,
            BinaryOp::BitXor => x ^ y,
            BinaryOp::Lt => return Ok(Val::boolean(ord == Less)),
            BinaryOp::Le => return Ok(Val::boolean(ord != Greater)),
            BinaryOp::Gt => return Ok(Val::boolean(ord == Greater)),
            BinaryOp::Ge => return Ok(Val::boolean(ord != Less)),
            BinaryOp::Eq => return Ok(Val::boolean(ord == Equal)),
            BinaryOp::Ne => return Ok(Val::boolean(ord != Equal)),
            BinaryOp::Shl | BinaryOp::Shr | BinaryOp::And | BinaryOp::Or | BinaryOp::Comma => 0,
        };
        Ok(Val::int(v, size, signed))
    }

    /// For `(T *)x`, sizeof(T); `None` when `e` is not such a cast. Errors when T's size
    /// is unknown (a struct).
    fn pointee_size(&self, e: &'a Expr) -> Result<Option<u64>, RenderError> {
        let ExprKind::Cast(ty, _) = &e.kind else {
            return Ok(None);
        };
        if self.ltev {
            // libtraceevent adds addresses as plain numbers.
            return Ok(None);
        }
        if ty.pointer == 0 {
            return Ok(None);
        }
        if ty.pointer > 1 {
            return Ok(Some(self.long() as u64));
        }
        if ty.text == "void" {
            return Ok(Some(1));
        }
        match base_int(&ty.text, self.long()) {
            Some((size, _)) => Ok(Some(size as u64)),
            None => Err(RenderError::Unsupported(format!(
                "pointer arithmetic on {ty} (its size is unknown)"
            ))),
        }
    }

    fn cast(&self, ty: &CType, v: Val<'a>) -> R<'a> {
        if self.ltev
            && let Val::Int { bits, .. } = v
        {
            return Ok(Val::int(super::tracecmd::cast(bits, ty), 8, false));
        }
        match type_info(ty, self.long()) {
            TypeInfo::Int { size, signed } => match v {
                Val::Int { bits, .. } => Ok(Val::int(bits, size, signed)),
                _ => Err(RenderError::Unsupported(format!(
                    "cast of a pointer into the record to {ty}"
                ))),
            },
            TypeInfo::Bool => Ok(Val::boolean(self.truthy(&v)).retype(1, false)),
            TypeInfo::Pointer { elem, elem_signed } => match v {
                Val::Int { bits, .. } => Ok(Val::int(bits, self.long(), false)),
                Val::Ptr { off, len, .. } => Ok(Val::Ptr {
                    off,
                    len,
                    elem,
                    elem_signed,
                }),
                other => Ok(other),
            },
            TypeInfo::Keep | TypeInfo::Void => Ok(v),
            TypeInfo::Aggregate => Err(RenderError::Unsupported(format!("cast to {ty}"))),
        }
    }

    fn stmt_expr(&mut self, stmts: &'a [Stmt]) -> R<'a> {
        if self.ltev {
            // libtraceevent cannot parse statement expressions.
            return Err(RenderError::Unsupported(
                "a statement expression (trace-cmd fails on it)".into(),
            ));
        }
        let saved = self.locals.len();
        let mut last = None;
        let result = (|| {
            for s in stmts {
                match s {
                    Stmt::Decl { ty, name, init } => {
                        let v = match init {
                            Some(init) => {
                                let v = self.eval(init)?;
                                self.cast(ty, v)?
                            }
                            None => Val::int(0, 4, true),
                        };
                        self.locals.push((name.clone(), v));
                        last = None;
                    }
                    Stmt::Expr(e) => last = Some(self.eval(e)?),
                    Stmt::Opaque(text) => {
                        return Err(RenderError::Unsupported(format!("statement `{text}`")));
                    }
                }
            }
            last.ok_or_else(|| {
                RenderError::Unsupported("statement expression without value".into())
            })
        })();
        self.locals.truncate(saved);
        result
    }

    /// `unsigned long` value of a flag table entry.
    fn entry_value(&mut self, entry: &'a FlagEntry) -> Result<Option<u64>, RenderError> {
        if let Some(c) = entry.constant {
            // libtraceevent keeps table values as text and reads a leading `-` as an
            // unknown name: every negative value becomes -1.
            if self.ltev && (c as i64) < 0 {
                return Ok(None);
            }
            return Ok(Some(c));
        }
        // libtraceevent gives a flag name it does not know the value -1.
        if let ExprKind::Ident(name) = &entry.value.kind
            && self.ctx.dialect == Dialect::TraceCmd
            && self.ctx.enum_value(name).is_none()
            && !self.locals.iter().any(|(n, _)| n == name)
        {
            return Ok(None);
        }
        match self.eval(&entry.value) {
            Ok(Val::Int { bits, .. }) => Ok(Some(bits)),
            Ok(_) => Err(RenderError::Unsupported("a non-integer flag value".into())),
            Err(RenderError::UnknownIdentifier(_)) if self.ctx.dialect == Dialect::TraceCmd => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn print_flags(&mut self, value: &'a Expr, delim: &'a Expr, entries: &'a [FlagEntry]) -> R<'a> {
        let mut flags = self.int(value)?;
        let delim = match self.eval(delim)? {
            Val::Bytes(b) => b.into_owned(),
            Val::Int { bits: 0, .. } => Vec::new(),
            _ => return Err(RenderError::Unsupported("__print_flags delimiter".into())),
        };
        let mut out = Vec::new();
        let mut first = true;
        match self.ctx.dialect {
            Dialect::Kernel => {
                for entry in entries {
                    let Some(name) = &entry.name else { break };
                    if flags == 0 {
                        break;
                    }
                    let mask = self
                        .entry_value(entry)?
                        .ok_or_else(|| RenderError::UnknownIdentifier(entry.value.to_string()))?;
                    if flags & mask != mask {
                        continue;
                    }
                    flags &= !mask;
                    if !first {
                        out.extend_from_slice(&delim);
                    }
                    first = false;
                    out.extend_from_slice(name);
                }
            }
            Dialect::TraceCmd => {
                // Names go through the conversion one by one (with its width); the
                // delimiters and the leftover hex do not.
                let mut pieces: Vec<(bool, Vec<u8>)> = Vec::new();
                for entry in entries {
                    let Some(name) = &entry.name else { break };
                    let mask = self.entry_value(entry)?.map(|m| m as i64).unwrap_or(-1);
                    if flags == 0 && mask < 0 {
                        pieces.push((true, name.clone()));
                        first = false;
                        break;
                    }
                    if mask > 0 && flags & mask as u64 == mask as u64 {
                        if !first {
                            pieces.push((false, delim.clone()));
                        }
                        first = false;
                        pieces.push((true, name.clone()));
                        flags &= !(mask as u64);
                    }
                }
                if flags != 0 {
                    if !first {
                        pieces.push((false, delim.clone()));
                    }
                    pieces.push((false, format!("0x{flags:x}").into_bytes()));
                }
                return Ok(Val::Pieces(pieces));
            }
        }
        if flags != 0 {
            if !first {
                out.extend_from_slice(&delim);
            }
            out.extend_from_slice(format!("0x{flags:x}").as_bytes());
        }
        Ok(Val::Bytes(Cow::Owned(out)))
    }

    fn print_symbolic(&mut self, value: &'a Expr, entries: &'a [FlagEntry]) -> R<'a> {
        let v = self.int(value)?;
        for entry in entries {
            let Some(name) = &entry.name else { break };
            let mask = self.entry_value(entry)?;
            match (self.ctx.dialect, mask) {
                (Dialect::Kernel, Some(m)) if m == v => {
                    return Ok(Val::Bytes(Cow::Borrowed(name)));
                }
                (Dialect::Kernel, None) => {
                    return Err(RenderError::UnknownIdentifier(entry.value.to_string()));
                }
                // libtraceevent: an unknown name is -1, and -1 matches it.
                (Dialect::TraceCmd, m) if m.unwrap_or(u64::MAX) == v => {
                    return Ok(Val::Pieces(vec![(true, name.clone())]));
                }
                _ => {}
            }
        }
        let text = format!("0x{v:x}").into_bytes();
        match self.ctx.dialect {
            Dialect::Kernel => Ok(Val::Bytes(Cow::Owned(text))),
            Dialect::TraceCmd => Ok(Val::Pieces(vec![(false, text)])),
        }
    }

    fn call(&mut self, name: &str, args: &'a [Expr]) -> R<'a> {
        if self.constant_only {
            return Err(RenderError::Unsupported("call in a constant".into()));
        }
        let arg = |i: usize| {
            args.get(i).ok_or_else(|| {
                RenderError::Unsupported(format!("{name} needs at least {} arguments", i + 1))
            })
        };
        match name {
            "__get_str"
            | "__get_rel_str"
            | "__get_dynamic_array"
            | "__get_rel_dynamic_array"
            | "__get_sockaddr"
            | "__get_rel_sockaddr" => self.dynamic(arg(0)?, name),
            "__get_dynamic_array_len" | "__get_rel_dynamic_array_len" => {
                match self.dynamic(arg(0)?, name)? {
                    Val::Ptr { len, .. } => Ok(Val::int(len as u64, 4, false)),
                    _ => Err(RenderError::Unsupported(name.to_string())),
                }
            }
            "__get_bitmask" | "__get_rel_bitmask" | "__get_cpumask" | "__get_rel_cpumask" => {
                let Val::Ptr { off, len, .. } = self.dynamic(arg(0)?, name)? else {
                    return Err(RenderError::Unsupported(name.to_string()));
                };
                let bytes = &self.record[off..off + len];
                let cpumask = name.contains("cpumask");
                let text = if cpumask && self.ctx.dialect == Dialect::TraceCmd {
                    bitmap_list(bytes, bytes.len() * 8, self.ctx)
                } else {
                    bitmap_hex(bytes, bytes.len() * 8, self.ctx)
                };
                Ok(Val::Bytes(Cow::Owned(text.into_bytes())))
            }
            "__print_hex" | "__print_hex_str" => {
                let buf = self.eval(arg(0)?)?;
                let len = self.int(arg(1)?)? as i64;
                let bytes = self.ptr_bytes(&buf, len.max(0) as usize, name)?;
                let sep = if name == "__print_hex" { " " } else { "" };
                let text: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Ok(Val::Bytes(Cow::Owned(text.join(sep).into_bytes())))
            }
            "__print_array" => {
                let buf = self.eval(arg(0)?)?;
                let count = self.int(arg(1)?)? as i64;
                let el_size = self.int(arg(2)?)? as i64;
                self.print_array(&buf, count.max(0) as usize, el_size)
            }
            "__builtin_expect" | "likely" | "unlikely" => self.eval(arg(0)?),
            "__builtin_constant_p" => Ok(Val::int(0, 4, true)),
            _ => Err(RenderError::UnsupportedFunction(name.to_string())),
        }
    }

    /// `len` bytes at a pointer into the record.
    pub(crate) fn ptr_bytes(
        &self,
        v: &Val,
        len: usize,
        what: &str,
    ) -> Result<&'a [u8], RenderError> {
        match v {
            Val::Ptr { off, .. } => self
                .record
                .get(*off..off.saturating_add(len))
                .ok_or_else(|| RenderError::Truncated(what.to_string())),
            _ => Err(RenderError::Unsupported(format!(
                "{what} needs a pointer into the record"
            ))),
        }
    }

    fn print_array(&self, buf: &Val, count: usize, el_size: i64) -> R<'a> {
        let mut out = String::from("{");
        let mut pos = 0usize;
        let base = match buf {
            Val::Ptr { off, .. } => *off,
            _ => {
                return Err(RenderError::Unsupported(
                    "__print_array needs a pointer into the record".into(),
                ));
            }
        };
        let total = (count as u64).saturating_mul(el_size.max(0) as u64);
        if total > self.record.len() as u64 {
            return Err(RenderError::Truncated("__print_array".into()));
        }
        let mut el = el_size;
        let end = base as u64 + total;
        let mut first = true;
        while ((base + pos) as u64) < end {
            if !first {
                out.push(',');
            }
            first = false;
            let at = base + pos;
            match el {
                1 | 2 | 4 | 8 => {
                    let v = self.read(at, el as usize, "__print_array")?;
                    out.push_str(&format!("0x{v:x}"));
                }
                _ => {
                    let v = self.read(at, 1, "__print_array")?;
                    out.push_str(&format!("BAD SIZE:{el} 0x{v:x}"));
                    el = 1;
                }
            }
            pos += el as usize;
        }
        out.push('}');
        Ok(Val::Bytes(Cow::Owned(out.into_bytes())))
    }
}

impl Val<'_> {
    fn retype(self, size: u8, signed: bool) -> Self {
        match self {
            Val::Int { bits, .. } => Val::int(bits, size, signed),
            other => other,
        }
    }
}

fn field_name(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Field(n) | ExprKind::Ident(n) => Some(n),
        _ => None,
    }
}

/// Integer promotion: (bits, size, signed) with size at least 4.
fn promote(v: Val) -> Result<(u64, u8, bool), RenderError> {
    match v {
        Val::Int { bits, size, signed } => {
            if size < 4 {
                Ok((bits, 4, true))
            } else {
                Ok((bits, size, signed))
            }
        }
        _ => Err(RenderError::Unsupported(
            "arithmetic on a string or a pointer into the record".into(),
        )),
    }
}

/// The usual arithmetic conversions of two promoted integer types.
fn common(ls: u8, lsg: bool, rs: u8, rsg: bool) -> (u8, bool) {
    if lsg == rsg {
        return (ls.max(rs), lsg);
    }
    let (us, ss) = if lsg { (rs, ls) } else { (ls, rs) };
    if us >= ss { (us, false) } else { (ss, true) }
}

/// Bit `k` of a bitmap stored as `long` words in the record's byte order.
fn bit(bytes: &[u8], k: usize, ctx: &RenderContext) -> bool {
    let long = if ctx.long_size == 4 { 4 } else { 8 };
    let byte = if ctx.big_endian {
        let word = k / (long * 8);
        let in_word = (k % (long * 8)) / 8;
        word * long + (long - 1 - in_word)
    } else {
        k / 8
    };
    bytes.get(byte).is_some_and(|b| b & (1 << (k % 8)) != 0)
}

/// The kernel's `%*pb`: 32-bit hex chunks, most significant first, comma-separated.
pub(crate) fn bitmap_hex(bytes: &[u8], nr_bits: usize, ctx: &RenderContext) -> String {
    let nr_bits = nr_bits.min(bytes.len() * 8);
    let mut out = String::new();
    if nr_bits == 0 {
        return out;
    }
    let mut chunk = nr_bits % 32;
    if chunk == 0 {
        chunk = 32;
    }
    let mut start = nr_bits.div_ceil(32) * 32 - 32;
    loop {
        let mut v: u32 = 0;
        for b in 0..chunk {
            if bit(bytes, start + b, ctx) {
                v |= 1 << b;
            }
        }
        if !out.is_empty() {
            out.push(',');
        }
        let w = chunk.div_ceil(4);
        out.push_str(&format!("{v:0w$x}"));
        chunk = 32;
        if start == 0 {
            break;
        }
        start -= 32;
    }
    out
}

/// The kernel's `%*pbl`: ranges of set bits, `0-3,5`.
pub(crate) fn bitmap_list(bytes: &[u8], nr_bits: usize, ctx: &RenderContext) -> String {
    let nr_bits = nr_bits.min(bytes.len() * 8);
    let mut out = String::new();
    let mut k = 0;
    while k < nr_bits {
        if !bit(bytes, k, ctx) {
            k += 1;
            continue;
        }
        let start = k;
        while k < nr_bits && bit(bytes, k, ctx) {
            k += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if k - 1 > start {
            out.push_str(&format!("{start}-{}", k - 1));
        } else {
            out.push_str(&start.to_string());
        }
    }
    out
}
