//! Tuples: literals, `$t.N`, tuple variables and tuple map values (records, in
//! [`super::records`], reuse all of it). A tuple lives in a
//! stack slot laid out by [`Layout`]; code that needs one asks [`Lowerer::tuple_value`]
//! for its address.

use kscope_codegen::VReg;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg};
use kscope_lang::ast::{Block, Expr, ExprKind, UnOp};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::formap::walk;
use super::*;
use crate::plan::{Layout, STR_SIZE, ValueLayout};

impl Lowerer<'_> {
    /// Zeroed slots at entry for the probe's tuple variables (except `for` variables over
    /// maps, which live in their loop's callback).
    pub(super) fn tuple_slots_at_entry(&mut self, body: &Block, span: Span) {
        let mut w = walk::Names::default();
        w.block(body);
        let tuples: Vec<(String, Type)> = self.checked.probes[self.probe_index]
            .variables
            .iter()
            .filter(|(n, t)| {
                matches!(t, Type::Tuple(_) | Type::Record(_)) && !w.loop_vars.contains(*n)
            })
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        for (name, t) in tuples {
            self.new_tuple_var(&name, &t, span);
        }
    }

    /// A zeroed slot for tuple variable `name` of type `t`.
    pub(super) fn new_tuple_var(&mut self, name: &str, t: &Type, span: Span) -> Option<()> {
        let Some(layout) = Layout::of(t) else {
            self.not_built_value(span, format!("a variable of type {t}"), t);
            return None;
        };
        let slot = self.b.slot(layout.size());
        self.b.zero_slot(slot, 0, layout.size());
        self.tuple_vars.insert(name.to_string(), (slot, layout));
        Some(())
    }

    /// Copies `size` bytes (a multiple of 8) from `src` to `dst`.
    pub(super) fn copy_bytes(&mut self, dst: VReg, src: VReg, size: u32) {
        for off in (0..size as i16).step_by(8) {
            let w = self.b.load(Size::DW, Base::Reg(src), off);
            self.b.store(Size::DW, Base::Reg(dst), off, w);
        }
    }

    /// `p + off` (a new register).
    pub(super) fn offset(&mut self, p: VReg, off: u32) -> VReg {
        if off == 0 {
            return p;
        }
        self.b.binop(AluOp::Add, p, off as i32)
    }

    /// Writes the string `e` at `dst` ([`STR_SIZE`] bytes), straight into place for a
    /// literal or `comm` (no stack temporary).
    pub(super) fn store_str(&mut self, dst: VReg, e: &Expr) {
        match &e.kind {
            ExprKind::Str(bytes) => {
                let n = bytes.len().min(STR_SIZE as usize - 1);
                let mut padded = bytes[..n].to_vec();
                padded.resize(STR_SIZE as usize, 0);
                for (i, chunk) in padded.chunks(8).enumerate() {
                    let w = i64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
                    match i32::try_from(w) {
                        Ok(v) => self.b.store(Size::DW, Base::Reg(dst), (i * 8) as i16, v),
                        Err(_) => {
                            let v = self.b.imm(w);
                            self.b.store(Size::DW, Base::Reg(dst), (i * 8) as i16, v);
                        }
                    }
                }
            }
            ExprKind::Ident(n) if n == "comm" => {
                for off in (0..STR_SIZE as i16).step_by(8) {
                    self.b.store(Size::DW, Base::Reg(dst), off, 0);
                }
                cg::comm_into(&mut self.b, dst);
            }
            _ => {
                let p = self.string(e);
                self.copy_str(dst, p);
            }
        }
    }

    /// Writes the value of `e` (of layout `l`) at `dst`.
    pub(super) fn store_layout(&mut self, dst: VReg, e: &Expr, l: &Layout) {
        if let (ExprKind::Tuple(items), Layout::Tuple(_)) = (&e.kind, l) {
            for (i, item) in items.iter().enumerate() {
                let Some((off, el)) = l.element(i) else {
                    return;
                };
                let el = el.clone();
                let at = self.offset(dst, off);
                self.store_layout(at, item, &el);
            }
            return;
        }
        if let (ExprKind::Record(fields), Layout::Record(_)) = (&e.kind, l) {
            self.store_record_literal(dst, fields, l, e.span);
            return;
        }
        match l {
            Layout::Scalar(Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. }) => {
                self.store_str(dst, e)
            }
            Layout::Scalar(sc) => {
                let v = self.int(e);
                self.b.store(Size::DW, Base::Reg(dst), 0, v);
                // A user stack or symbol names the process it was taken in.
                if sc.has_pid() {
                    self.store_pid(Base::Reg(dst), 8);
                }
            }
            Layout::Tuple(_) | Layout::Record(_) => {
                if let Some((p, have)) = self.tuple_value(e) {
                    if have.size() == l.size() {
                        self.copy_reordered(dst, l, p, &have, e.span);
                    } else {
                        self.not_built(e.span, "a tuple of another shape here");
                    }
                }
            }
        }
    }

    /// The address and layout of a tuple-typed expression.
    pub(super) fn tuple_value(&mut self, e: &Expr) -> Option<(VReg, Layout)> {
        self.span(e.span);
        if let Some(record) = self.checked.struct_value(e).cloned() {
            return self.struct_record_value(e, &record);
        }
        match &e.kind {
            ExprKind::Var(name) => match self.tuple_vars.get(name.trim_start_matches('$')) {
                Some((slot, l)) => {
                    let (slot, l) = (*slot, l.clone());
                    Some((self.b.slot_addr(slot, 0), l))
                }
                None => {
                    self.not_built(e.span, "this tuple variable here");
                    None
                }
            },
            ExprKind::Tuple(items) => {
                let (slot, l) = self.zeroed_slot_for(e)?;
                let base = self.b.slot_addr(slot, 0);
                for (i, item) in items.iter().enumerate() {
                    let (off, el) = l.element(i)?;
                    let el = el.clone();
                    let dst = self.offset(base, off);
                    self.store_layout(dst, item, &el);
                }
                self.span(e.span);
                Some((self.b.slot_addr(slot, 0), l))
            }
            ExprKind::Record(fields) => self.record_literal_value(e, fields),
            ExprKind::Block {
                block,
                value: Some(value),
            } => {
                self.block(block);
                self.tuple_value(value)
            }
            // `*&$t` is `$t`.
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } if matches!(&expr.kind, ExprKind::Unary { op: UnOp::AddrOf, expr: v }
                if matches!(v.kind, ExprKind::Var(_))) =>
            {
                let ExprKind::Unary { expr: v, .. } = &expr.kind else {
                    return None;
                };
                self.tuple_value(v)
            }
            // `*$p` with `$p = &$t`: a tuple pointer only ever holds a variable's stack
            // address (no other expression gives one), laid out as its type says; the
            // bytes are copied (kernel memory, as `*` reads it).
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } if matches!(self.ty(expr), Type::Ptr(_)) => {
                let (slot, l) = self.zeroed_slot_for(e)?;
                let src = self.int(expr);
                let dst = self.b.slot_addr(slot, 0);
                let n = self.b.imm(i64::from(l.size()));
                self.b
                    .call_void(kscope_codegen::helper::PROBE_READ_KERNEL, &[dst, n, src]);
                self.span(e.span);
                Some((self.b.slot_addr(slot, 0), l))
            }
            // `c ? (a, b) : (x, y)`: each branch stores its tuple in one slot of the
            // expression's type (the checker merged both sides' element types).
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let (slot, l) = self.zeroed_slot_for(e)?;
                let c = self.int(cond);
                let else_l = self.b.label();
                let end = self.b.label();
                self.b.jmp_if(JmpOp::Eq, c, 0, else_l);
                let dst = self.b.slot_addr(slot, 0);
                self.store_layout(dst, then, &l);
                self.b.jmp(end);
                self.b.place(else_l);
                let dst = self.b.slot_addr(slot, 0);
                self.store_layout(dst, otherwise, &l);
                self.b.place(end);
                self.span(e.span);
                Some((self.b.slot_addr(slot, 0), l))
            }
            ExprKind::Field { expr, field, .. } if self.is_record(expr) => {
                let (p, l) = self.tuple_value(expr)?;
                let (off, el) = l.field(&field.name)?;
                let el = el.clone();
                if !el.is_aggregate() {
                    self.not_built(e.span, "a record field used as a tuple");
                    return None;
                }
                Some((self.offset(p, off), el))
            }
            ExprKind::TupleIndex { expr, index } => {
                let (p, l) = self.tuple_value(expr)?;
                let (off, el) = l.element(*index as usize)?;
                let el = el.clone();
                if !el.is_aggregate() {
                    self.not_built(e.span, "a tuple element used as a tuple");
                    return None;
                }
                Some((self.offset(p, off), el))
            }
            ExprKind::Map { .. } => {
                let (mi, keys) = self.map_of(e)?;
                let m = self.plan.maps[mi].clone();
                let ValueLayout::Tuple(l) = &m.value else {
                    self.not_built(e.span, "this map read as a tuple");
                    return None;
                };
                let key = self.map_key(mi, &keys, e.span);
                let slot = self.b.slot(l.size());
                self.b.zero_slot(slot, 0, l.size());
                let dst = self.b.slot_addr(slot, 0);
                let done = self.b.label();
                let p = cg::lookup(&mut self.b, m.id, key);
                self.b.jmp_if(JmpOp::Eq, p, 0, done);
                self.copy_bytes(dst, p, l.size());
                self.b.place(done);
                Some((self.b.slot_addr(slot, 0), l.clone()))
            }
            _ => {
                self.not_built(e.span, "a tuple computed this way");
                None
            }
        }
    }

    /// A zeroed stack slot laid out for the tuple-typed expression `e`.
    fn zeroed_slot_for(&mut self, e: &Expr) -> Option<(kscope_codegen::Slot, Layout)> {
        let t = self.ty(e);
        let Some(l) = Layout::of(&t) else {
            self.not_built_value(e.span, format!("a tuple of type {t}"), &t);
            return None;
        };
        let slot = self.b.slot(l.size());
        self.b.zero_slot(slot, 0, l.size());
        Some((slot, l))
    }

    /// The `Tuple`, `TupleIndex` and record `Field` arms of [`Lowerer::expr`]: a scalar
    /// element of a tuple or record (a whole one is only read through
    /// [`Lowerer::tuple_value`]).
    pub(super) fn tuple_expr(&mut self, e: &Expr) -> Option<V> {
        let (p, off, el) = match &e.kind {
            ExprKind::TupleIndex { expr, index } => {
                let (p, l) = self.tuple_value(expr)?;
                let (off, el) = l.element(*index as usize)?;
                let el = el.clone();
                (p, off, el)
            }
            ExprKind::Field { expr, field, .. } => {
                let (p, l) = self.tuple_value(expr)?;
                let (off, el) = l.field(&field.name)?;
                let el = el.clone();
                (p, off, el)
            }
            _ => {
                self.not_built(e.span, "a tuple or record used as a single value");
                return None;
            }
        };
        self.span(e.span);
        match el {
            Layout::Scalar(Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. }) => {
                Some(V::Str(self.offset(p, off)))
            }
            Layout::Scalar(_) => Some(V::Int(self.b.load(Size::DW, Base::Reg(p), off as i16))),
            Layout::Tuple(_) | Layout::Record(_) => {
                self.not_built(e.span, "a tuple or record used as a single value");
                None
            }
        }
    }

    /// `a == b` / `a != b` on tuples: equal when their storage is, byte for byte (every
    /// element is 8-byte words: integers widened, strings NUL padded).
    pub(super) fn tuple_compare(
        &mut self,
        eq: bool,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Option<V> {
        let (a, b, la) = self.compare_operands(lhs, rhs, span)?;
        self.span(span);
        let res = self.b.imm(if eq { 0 } else { 1 });
        let differ = self.b.label();
        for off in (0..la.size() as i16).step_by(8) {
            let x = self.b.load(Size::DW, Base::Reg(a), off);
            let y = self.b.load(Size::DW, Base::Reg(b), off);
            self.b.jmp_if(JmpOp::Ne, x, y, differ);
        }
        self.b.mov(res, if eq { 1 } else { 0 });
        self.b.place(differ);
        Some(V::Int(res))
    }

    /// `$t = tuple` (`name` is a tuple variable).
    pub(super) fn assign_tuple_var(&mut self, name: &str, value: &Expr, span: Span) {
        let Some((slot, l)) = self.tuple_vars.get(name).cloned() else {
            self.not_built(span, "this tuple variable here");
            return;
        };
        // `$t = ($t.1, $t.0)`: build the new value aside, so that no element reads one
        // already overwritten.
        let mut w = walk::Names::default();
        w.expr(value);
        if w.vars.contains(name) && matches!(value.kind, ExprKind::Tuple(_) | ExprKind::Record(_)) {
            let tmp = self.b.slot(l.size());
            self.b.zero_slot(tmp, 0, l.size());
            let t = self.b.slot_addr(tmp, 0);
            self.store_layout(t, value, &l);
            let (dst, t) = (self.b.slot_addr(slot, 0), self.b.slot_addr(tmp, 0));
            self.copy_bytes(dst, t, l.size());
            return;
        }
        let dst = self.b.slot_addr(slot, 0);
        self.store_layout(dst, value, &l);
    }

    /// `@m[k] = tuple` for a map of tuple values.
    pub(super) fn assign_map_tuple(&mut self, mi: usize, key: VReg, value: &Expr) {
        let m = self.plan.maps[mi].clone();
        let ValueLayout::Tuple(l) = &m.value else {
            return;
        };
        let slot = self.b.slot(l.size());
        let dst = self.b.slot_addr(slot, 0);
        self.store_layout(dst, value, l);
        let p = self.b.slot_addr(slot, 0);
        cg::update(&mut self.b, m.id, key, p, 0);
    }
}
