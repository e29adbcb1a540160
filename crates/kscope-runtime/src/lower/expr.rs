//! Expressions: literals, variables, operators, ternaries and casts.

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::{VReg, Width};
use kscope_lang::ast::{BinOp, Expr, ExprKind, UnOp};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::plan::{STR_SIZE, Scalar};

impl Lowerer<'_> {
    pub(super) fn expr(&mut self, e: &Expr) -> Option<V> {
        self.span(e.span);
        let t = self.ty(e);
        Some(match &e.kind {
            ExprKind::Int(v) => V::Int(self.b.imm(*v as i64)),
            ExprKind::Bool(v) => V::Int(self.b.imm(*v as i64)),
            ExprKind::Str(s) => V::Str(self.str_literal(s)),
            ExprKind::Positional(i) => {
                let p = self.checked_param(*i).unwrap_or_default();
                match t {
                    Type::Str => V::Str(self.str_literal(p.as_bytes())),
                    _ => V::Int(self.b.imm(parse_int(&p))),
                }
            }
            ExprKind::ParamCount => V::Int(self.b.imm(self.ctx.params.len() as i64)),
            ExprKind::Var(name) => {
                let (slot, sc) = self.var_slot(name, e.span)?;
                match sc {
                    Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. } => {
                        V::Str(self.b.slot_addr(slot, 0))
                    }
                    // Every other kind keeps its (first) 8-byte word in a register.
                    _ => V::Int(self.b.load(Size::DW, Base::Slot(slot), 0)),
                }
            }
            ExprKind::Ident(name) => return self.builtin(name, e),
            ExprKind::Map { .. } => return self.map_read(e),
            ExprKind::Call { name, args } => return self.call(&name.name, args, e),
            ExprKind::Unary { op, expr } => {
                if *op == UnOp::Deref {
                    return self.btf_value(e);
                }
                if *op == UnOp::AddrOf {
                    if let ExprKind::Var(name) = &expr.kind {
                        return self.var_address(name, expr.span);
                    }
                    return self.btf_address(expr);
                }
                let v = self.int(expr);
                match op {
                    UnOp::Not => V::Int(self.bool_of(JmpOp::Eq, v, None)),
                    UnOp::BitNot => V::Int(self.b.binop(AluOp::Xor, v, -1)),
                    UnOp::Neg => {
                        let z = self.b.imm(0);
                        V::Int(self.b.binop(AluOp::Sub, z, v))
                    }
                    UnOp::Deref | UnOp::AddrOf => {
                        self.not_built(e.span, format!("unary `{}`", op.symbol()));
                        return None;
                    }
                }
            }
            ExprKind::IncDec {
                increment,
                prefix,
                target,
            } => return self.inc_dec(*increment, *prefix, target),
            ExprKind::Binary { op, lhs, rhs } => return self.binary(*op, lhs, rhs, e.span),
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let c = self.int(cond);
                let else_l = self.b.label();
                let end = self.b.label();
                if matches!(t, Type::Str | Type::Inet | Type::Buf) {
                    let (_, res) = self.str_slot();
                    self.b.jmp_if(JmpOp::Eq, c, 0, else_l);
                    let a = self.string(then);
                    self.copy_str(res, a);
                    self.b.jmp(end);
                    self.b.place(else_l);
                    let z = self.string(otherwise);
                    self.copy_str(res, z);
                    self.b.place(end);
                    V::Str(res)
                } else {
                    let res = self.b.vreg(Width::W64);
                    self.b.jmp_if(JmpOp::Eq, c, 0, else_l);
                    let a = self.int(then);
                    self.b.mov(res, a);
                    self.b.jmp(end);
                    self.b.place(else_l);
                    let z = self.int(otherwise);
                    self.b.mov(res, z);
                    self.b.place(end);
                    V::Int(res)
                }
            }
            ExprKind::Cast { expr, .. } if t == Type::Bool && self.ty(expr) == Type::Str => {
                let p = self.string(expr);
                let first = self.b.load(Size::B, Base::Reg(p), 0);
                V::Int(self.bool_of(JmpOp::Ne, first, None))
            }
            ExprKind::Cast { ty, expr } => {
                if matches!(self.ty(expr), Type::Array(..))
                    && ty.array.is_empty()
                    && ty.pointer == 0
                {
                    return self.array_cast(expr, &t);
                }
                if !ty.array.is_empty() && ty.pointer == 0 && self.ty(expr).is_integer_like() {
                    return self.int_to_array(expr, &t, e.span);
                }
                if let (false, ExprKind::Str(bytes)) = (ty.array.is_empty(), &expr.kind) {
                    // `(int8[6])"hello"`: the literal's bytes and its NUL (the checker
                    // matched the sizes); the slot is zero padded.
                    return Some(V::Str(self.str_literal(bytes)));
                }
                let v = self.int(expr);
                if !ty.array.is_empty() {
                    self.not_built(e.span, "an array cast");
                    return None;
                }
                if ty.pointer > 0 {
                    // A pointer is its 64-bit address; what it points to is in the type.
                    return Some(V::Int(v));
                }
                V::Int(self.extend(v, &t))
            }
            ExprKind::Field { expr, .. } if self.is_record(expr) => return self.tuple_expr(e),
            ExprKind::Field { expr, field, .. } => {
                if matches!(&expr.kind, ExprKind::Ident(n) if n == "args")
                    && self.ctx.args != ArgSource::Raw
                {
                    return self.args_field(&field.name, &t, e.span);
                }
                return self.btf_value(e);
            }
            ExprKind::TupleIndex { .. } | ExprKind::Tuple(_) | ExprKind::Record(_) => {
                return self.tuple_expr(e);
            }
            ExprKind::Index { expr, index } if self.ty(expr) == Type::Str => {
                return self.string_byte(expr, index);
            }
            ExprKind::Index { .. } => return self.btf_value(e),
            ExprKind::Type(_) => {
                self.not_built(e.span, "a type used as a value");
                return None;
            }
            ExprKind::Block { block, value } => {
                self.block(block);
                return value.as_ref().and_then(|v| self.expr(v));
            }
        })
    }

    /// A 0/1 register: `a op b` (or `a op 0`).
    pub(super) fn bool_of(&mut self, op: JmpOp, a: VReg, b: Option<VReg>) -> VReg {
        let res = self.b.imm(1);
        let done = self.b.label();
        match b {
            Some(b) => self.b.jmp_if(op, a, b, done),
            None => self.b.jmp_if(op, a, 0, done),
        }
        self.b.mov(res, 0);
        self.b.place(done);
        res
    }

    pub(super) fn arith(&mut self, op: BinOp, a: VReg, b: VReg, signed: bool, span: Span) -> VReg {
        let alu = match op {
            BinOp::Add => AluOp::Add,
            BinOp::Sub => AluOp::Sub,
            BinOp::Mul => AluOp::Mul,
            BinOp::Div => AluOp::Div,
            BinOp::Mod => AluOp::Mod,
            BinOp::BitAnd => AluOp::And,
            BinOp::BitOr => AluOp::Or,
            BinOp::BitXor => AluOp::Xor,
            BinOp::Shl => AluOp::Lsh,
            BinOp::Shr if signed => AluOp::Arsh,
            BinOp::Shr => AluOp::Rsh,
            _ => {
                self.not_built(span, format!("operator `{}` here", op.symbol()));
                return a;
            }
        };
        self.b.binop(alu, a, b)
    }

    pub(super) fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> Option<V> {
        if matches!(op, BinOp::LogAnd | BinOp::LogOr) {
            let res = self.b.imm(if op == BinOp::LogOr { 1 } else { 0 });
            let done = self.b.label();
            let a = self.int(lhs);
            if op == BinOp::LogOr {
                self.b.jmp_if(JmpOp::Ne, a, 0, done);
            } else {
                self.b.jmp_if(JmpOp::Eq, a, 0, done);
            }
            let b = self.int(rhs);
            let bv = self.bool_of(JmpOp::Ne, b, None);
            self.b.mov(res, bv);
            self.b.place(done);
            return Some(V::Int(res));
        }
        let lt = self.ty(lhs);
        let rt = self.ty(rhs);
        if let (
            Type::Tuple(_) | Type::Record(_),
            Type::Tuple(_) | Type::Record(_),
            BinOp::Eq | BinOp::Ne,
        ) = (&lt, &rt, op)
        {
            return self.tuple_compare(op == BinOp::Eq, lhs, rhs, span);
        }
        if matches!((&lt, &rt), (Type::Array(..), Type::Array(..))) {
            return self.array_eq(op, lhs, rhs);
        }
        // Buffers compare as strings do: length word and NUL-padded bytes.
        let buffers = lt == Type::Buf && rt == Type::Buf;
        if lt == Type::Str || rt == Type::Str || buffers {
            if !matches!(op, BinOp::Eq | BinOp::Ne) {
                self.not_built(span, format!("string operator `{}`", op.symbol()));
                return None;
            }
            if let Some(r) = self.str_cmp_literal(op, lhs, rhs) {
                return Some(V::Int(r));
            }
            // Against a literal of length L only the words holding bytes 0..=L can
            // differ (both sides are NUL padded).
            let literal = [lhs, rhs].iter().find_map(|e| match &e.kind {
                ExprKind::Str(l) => Some(l.len()),
                _ => None,
            });
            let len = literal.map_or(STR_SIZE, |l| ((l as u32 + 1).div_ceil(8) * 8).min(STR_SIZE));
            let a = self.string(lhs);
            let b = self.string(rhs);
            let res = self.b.imm(if op == BinOp::Eq { 0 } else { 1 });
            let differ = self.b.label();
            for off in (0..len as i16).step_by(8) {
                let x = self.b.load(Size::DW, Base::Reg(a), off);
                let y = self.b.load(Size::DW, Base::Reg(b), off);
                self.b.jmp_if(JmpOp::Ne, x, y, differ);
            }
            self.b.mov(res, if op == BinOp::Eq { 1 } else { 0 });
            self.b.place(differ);
            return Some(V::Int(res));
        }
        let a = self.int(lhs);
        let mut b = self.int(rhs);
        if let (BinOp::Add | BinOp::Sub, Type::Ptr(inner), false) =
            (op, &lt, matches!(rt, Type::Ptr(_)))
        {
            b = self.scaled_index(b, inner, rhs.span)?;
        } else if let (BinOp::Add, false, Type::Ptr(inner)) = (op, matches!(lt, Type::Ptr(_)), &rt)
        {
            let a = self.scaled_index(a, inner, lhs.span)?;
            return Some(V::Int(self.arith(op, a, b, false, span)));
        }
        let signed = lt.is_signed() && rt.is_signed();
        let cmp = match op {
            BinOp::Eq => Some(JmpOp::Eq),
            BinOp::Ne => Some(JmpOp::Ne),
            BinOp::Lt => Some(if signed { JmpOp::Slt } else { JmpOp::Lt }),
            BinOp::Le => Some(if signed { JmpOp::Sle } else { JmpOp::Le }),
            BinOp::Gt => Some(if signed { JmpOp::Sgt } else { JmpOp::Gt }),
            BinOp::Ge => Some(if signed { JmpOp::Sge } else { JmpOp::Ge }),
            _ => None,
        };
        Some(V::Int(match cmp {
            Some(j) => self.bool_of(j, a, Some(b)),
            None => self.arith(op, a, b, lt.is_signed(), span),
        }))
    }

    /// `n` times the size of what the pointer points to, for pointer arithmetic.
    fn scaled_index(&mut self, n: VReg, inner: &Type, span: Span) -> Option<VReg> {
        let size = self.pointee_size(inner, span)?;
        if size == 1 {
            return Some(n);
        }
        let k = self.b.imm(size as i64);
        Some(self.arith(BinOp::Mul, n, k, false, span))
    }

    /// `s[i]`: byte `i` of a string (0 past its buffer), sign-extended as a `char`.
    fn string_byte(&mut self, s: &Expr, index: &Expr) -> Option<V> {
        let p = self.string(s);
        let i = self.int(index);
        let out = self.b.imm(0);
        let done = self.b.label();
        self.b.jmp_if(JmpOp::Ge, i, STR_SIZE as i32, done);
        let at = self.b.binop(AluOp::Add, p, i);
        let c = self.b.load(Size::B, Base::Reg(at), 0);
        let c = self.b.sext(c, Width::W8);
        self.b.mov(out, c);
        self.b.place(done);
        Some(V::Int(out))
    }
}

impl Lowerer<'_> {
    /// `(int8[8])n`, `(bool[2])(uint16)1`: the integer's first bytes (as many as the
    /// array has, at most 8) in the machine's byte order, as an array value; the rest of
    /// the slot stays zero, so that equal arrays are equal byte for byte.
    fn int_to_array(&mut self, expr: &Expr, t: &Type, span: Span) -> Option<V> {
        let bytes = kscope_lang::sema::byte_size(t).unwrap_or(0);
        if !(1..=8).contains(&bytes) {
            self.not_built(span, format!("a cast of an integer to `{t}`"));
            return None;
        }
        let v = self.int(expr);
        let (s, p) = self.str_slot();
        self.b.store(Size::DW, Base::Slot(s), 0, v);
        if bytes < 8 {
            self.b.zero_slot(s, bytes as i16, 8 - bytes as u32);
        }
        Some(V::Str(p))
    }
}

impl Lowerer<'_> {
    /// `&$x`: the address of the variable's stack slot (read back through it as kernel
    /// memory: `*$p`).
    fn var_address(&mut self, name: &str, span: Span) -> Option<V> {
        if let Some((slot, _)) = self.tuple_vars.get(name.trim_start_matches('$')).cloned() {
            return Some(V::Int(self.b.slot_addr(slot, 0)));
        }
        let (slot, _) = self.var_slot(name, span)?;
        Some(V::Int(self.b.slot_addr(slot, 0)))
    }
}
