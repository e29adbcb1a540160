//! Records (`(a=1, b="x")`): stored as tuples of their fields in the order of the slot's
//! type ([`Layout::Record`]), with the tuple code in [`super::tuple`] doing the rest.
//!
//! A record literal is evaluated in the order it is written and each field is stored at
//! its place in the target's order; a whole record of another field order is copied
//! field by field by name ([`Lowerer::copy_reordered`]), so that storing and `==` do not
//! depend on the order a record was written in.

use kscope_codegen::VReg;
use kscope_lang::ast::{Expr, ExprKind, RecordField};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::plan::Layout;

impl Lowerer<'_> {
    /// Whether `e` has a record type (so `e.name` is a field of it, not of a struct).
    pub(super) fn is_record(&self, e: &Expr) -> bool {
        matches!(self.ty(e), Type::Record(_))
    }

    /// Writes the record literal `fields` at `dst`, laid out by `l` (a record with the
    /// same field names, maybe in another order), evaluating the fields as written.
    pub(super) fn store_record_literal(
        &mut self,
        dst: VReg,
        fields: &[RecordField],
        l: &Layout,
        span: Span,
    ) {
        for f in fields {
            let Some((off, el)) = l.field(&f.name.name) else {
                self.not_built(span, "a record with other fields here");
                return;
            };
            let el = el.clone();
            let at = self.offset(dst, off);
            self.store_layout(at, &f.value, &el);
        }
    }

    /// A record literal in a fresh zeroed slot, in its own field order.
    pub(super) fn record_literal_value(
        &mut self,
        e: &Expr,
        fields: &[RecordField],
    ) -> Option<(VReg, Layout)> {
        let t = self.ty(e);
        let Some(l) = Layout::of(&t) else {
            self.not_built_value(e.span, format!("a record of type {t}"), &t);
            return None;
        };
        let slot = self.b.slot(l.size());
        self.b.zero_slot(slot, 0, l.size());
        let base = self.b.slot_addr(slot, 0);
        self.store_record_literal(base, fields, &l, e.span);
        self.span(e.span);
        Some((self.b.slot_addr(slot, 0), l))
    }

    /// Copies a value of layout `src_l` at `src` to `dst` in layout `dst_l` (the same
    /// shape, records possibly in another field order): record fields go by name,
    /// everything else byte for byte.
    pub(super) fn copy_reordered(
        &mut self,
        dst: VReg,
        dst_l: &Layout,
        src: VReg,
        src_l: &Layout,
        span: Span,
    ) {
        if same_order(dst_l, src_l) {
            self.copy_bytes(dst, src, dst_l.size());
            return;
        }
        match (dst_l, src_l) {
            (Layout::Record(fields), Layout::Record(_)) => {
                for (i, (name, d)) in fields.iter().enumerate() {
                    let (Some((doff, _)), Some((soff, s))) = (dst_l.element(i), src_l.field(name))
                    else {
                        self.not_built(span, "a record with other fields here");
                        return;
                    };
                    let s = s.clone();
                    let (at, from) = (self.offset(dst, doff), self.offset(src, soff));
                    self.copy_reordered(at, d, from, &s, span);
                }
            }
            (Layout::Tuple(ds), Layout::Tuple(ss)) if ds.len() == ss.len() => {
                for (i, (d, s)) in ds.iter().zip(ss).enumerate() {
                    let (Some((doff, _)), Some((soff, _))) = (dst_l.element(i), src_l.element(i))
                    else {
                        return;
                    };
                    let (at, from) = (self.offset(dst, doff), self.offset(src, soff));
                    self.copy_reordered(at, d, from, s, span);
                }
            }
            _ => self.copy_bytes(dst, src, dst_l.size()),
        }
    }

    /// The two sides of a tuple or record `==`/`!=` in one layout (records compare by
    /// field name): their addresses and that layout. A literal compared with a variable
    /// is written straight in the variable's layout (one slot instead of two).
    pub(super) fn compare_operands(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Option<(VReg, VReg, Layout)> {
        let literal = |e: &Expr| matches!(e.kind, ExprKind::Tuple(_) | ExprKind::Record(_));
        let var = |e: &Expr| matches!(e.kind, ExprKind::Var(_));
        if (literal(lhs) && var(rhs)) || (var(lhs) && literal(rhs)) {
            let (v, lit) = if var(lhs) { (lhs, rhs) } else { (rhs, lhs) };
            let (p, l) = self.tuple_value(v)?;
            let slot = self.b.slot(l.size());
            self.b.zero_slot(slot, 0, l.size());
            let dst = self.b.slot_addr(slot, 0);
            self.store_layout(dst, lit, &l);
            self.span(span);
            let q = self.b.slot_addr(slot, 0);
            return Some((p, q, l));
        }
        let (a, la) = self.tuple_value(lhs)?;
        let (b, lb) = self.tuple_value(rhs)?;
        if la.size() != lb.size() {
            self.not_built(span, "comparing tuples of different shapes");
            return None;
        }
        let b = self.in_layout_of(&la, b, &lb, span);
        Some((a, b, la))
    }

    /// `src` (of layout `src_l`) in `l`'s order: `src` itself when the orders agree, else
    /// a copy in a fresh slot.
    pub(super) fn in_layout_of(
        &mut self,
        l: &Layout,
        src: VReg,
        src_l: &Layout,
        span: Span,
    ) -> VReg {
        if same_order(l, src_l) {
            return src;
        }
        let slot = self.b.slot(l.size());
        self.b.zero_slot(slot, 0, l.size());
        let dst = self.b.slot_addr(slot, 0);
        self.copy_reordered(dst, l, src, src_l, span);
        self.b.slot_addr(slot, 0)
    }
}

/// Whether two layouts of the same shape store their record fields in the same order (so
/// their bytes line up).
fn same_order(a: &Layout, b: &Layout) -> bool {
    match (a, b) {
        (Layout::Record(x), Layout::Record(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((n, l), (m, k))| n == m && same_order(l, k))
        }
        (Layout::Tuple(x), Layout::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, k)| same_order(l, k))
        }
        (Layout::Scalar(_), Layout::Scalar(_)) => true,
        _ => false,
    }
}
