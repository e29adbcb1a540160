//! Statements: assignments to variables, control flow and loops.

use kscope_codegen::Slot;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_lang::ast::{BinOp, Block, Expr, ExprKind, Stmt, StmtKind};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::plan::Scalar;

impl Lowerer<'_> {
    pub(super) fn block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    pub(super) fn stmt(&mut self, s: &Stmt) {
        self.span(s.span);
        match &s.kind {
            // A bare `args` or struct value computes nothing anyone sees.
            StmtKind::Expr(e)
                if matches!(self.ty(e), Type::Args | Type::Struct(_))
                    && matches!(e.kind, ExprKind::Ident(_) | ExprKind::Var(_)) => {}
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::Let { var, value, .. } => {
                let name = var.name.trim_start_matches('$').to_string();
                match value {
                    Some(v) => self.assign_var(&name, None, v, s.span),
                    None if self.tuple_vars.contains_key(&name) => {
                        let (slot, l) = self.tuple_vars[&name].clone();
                        self.b.zero_slot(slot, 0, l.size());
                    }
                    None => {
                        if let Some((slot, sc)) = self.var_slot(&name, s.span) {
                            self.b.zero_slot(slot, 0, sc.size());
                        }
                    }
                }
            }
            StmtKind::AssignVar { var, op, value } => {
                let name = var.name.trim_start_matches('$').to_string();
                self.assign_var(&name, *op, value, s.span);
            }
            StmtKind::AssignMap { map, op, value } => self.assign_map(map, *op, value),
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let else_l = self.b.label();
                let end = self.b.label();
                self.jump_unless(cond, else_l);
                self.block(then);
                self.b.jmp(end);
                self.b.place(else_l);
                if let Some(o) = otherwise {
                    self.block(o);
                }
                self.b.place(end);
            }
            StmtKind::Unroll { count, body } => {
                let n = match &count.kind {
                    ExprKind::Int(n) => Some(*n),
                    ExprKind::Positional(i) => {
                        self.checked_param(*i).and_then(|p| p.parse::<u64>().ok())
                    }
                    _ => None,
                };
                match n {
                    Some(n) if n <= 100 => {
                        for _ in 0..n {
                            self.block(body);
                        }
                    }
                    _ => self.not_built(count.span, "an unroll count other than 0..=100"),
                }
            }
            StmtKind::Return(v) => {
                if let (Some(r), Some(v)) = (self.ret, v) {
                    let x = self.int(v);
                    self.b.mov(r, x);
                }
                self.leave();
            }
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => {
                let name = var.name.trim_start_matches('$').to_string();
                let Some((slot, _)) = self.var_slot(&name, var.span) else {
                    return;
                };
                let first = self.int(start);
                self.b.store(Size::DW, Base::Slot(slot), 0, first);
                let last = self.int(end);
                let stop = self.b.slot(8);
                self.b.store(Size::DW, Base::Slot(stop), 0, last);
                let head = self.b.label();
                let next = self.b.label();
                let exit = self.b.label();
                self.b.place(head);
                let i = self.b.load(Size::DW, Base::Slot(slot), 0);
                let e = self.b.load(Size::DW, Base::Slot(stop), 0);
                self.b.jmp_if(JmpOp::Sge, i, e, exit);
                self.loops.push((next, exit));
                self.block(body);
                self.loops.pop();
                self.b.place(next);
                let i = self.b.load(Size::DW, Base::Slot(slot), 0);
                self.b.alu(AluOp::Add, i, 1);
                self.b.store(Size::DW, Base::Slot(slot), 0, i);
                self.b.jmp(head);
                self.b.place(exit);
            }
            StmtKind::While { cond, body } => {
                let head = self.b.label();
                let exit = self.b.label();
                self.b.place(head);
                let c = self.int(cond);
                self.b.jmp_if(JmpOp::Eq, c, 0, exit);
                self.loops.push((head, exit));
                self.block(body);
                self.loops.pop();
                self.b.jmp(head);
                self.b.place(exit);
            }
            StmtKind::Break | StmtKind::Continue => match self.loops.last().copied() {
                Some((next, exit)) => {
                    let target = if matches!(s.kind, StmtKind::Break) {
                        exit
                    } else {
                        next
                    };
                    let one = self.b.imm(1);
                    self.b.jmp_if(JmpOp::Ne, one, 0, target);
                }
                None => self.not_built(s.span, "`break`/`continue` outside a loop"),
            },
            StmtKind::ForMap { var, map, body } => self.for_map(var, map, body, s.span),
        }
    }

    /// Ends the probe here. A conditional jump keeps the code after it reachable in the
    /// control-flow graph (the verifier refuses unreachable instructions); the condition
    /// is always true.
    /// Jumps to `l` when `cond` (an `if` condition or a predicate) is false. An integer comparison is one conditional jump
    /// (against an immediate when the right side is a literal), which is shorter than a
    /// 0/1 value tested again, and is how the verifier learns from `if ($p != 0)` that a
    /// maybe-NULL pointer is not NULL (it does so only for a jump against immediate 0).
    pub(super) fn jump_unless(&mut self, cond: &Expr, l: kscope_codegen::Label) {
        if let ExprKind::Binary { op, lhs, rhs } = &cond.kind
            && let Some(signed) = self.int_comparison(lhs, rhs)
            && let Some(jump) = negated_jump(*op, signed)
        {
            let a = self.int(lhs);
            match literal_i32(rhs) {
                Some(imm) => self.b.jmp_if(jump, a, imm, l),
                None => {
                    let b = self.int(rhs);
                    self.b.jmp_if(jump, a, b, l);
                }
            }
            return;
        }
        let c = self.int(cond);
        self.b.jmp_if(JmpOp::Eq, c, 0, l);
    }

    /// For a comparison of two integer-like operands (integers, bools, pointers), whether
    /// it is signed (as [`Lowerer::binary`] decides); `None` for strings, tuples, arrays.
    fn int_comparison(&self, lhs: &Expr, rhs: &Expr) -> Option<bool> {
        let lt = self.ty(lhs);
        let rt = self.ty(rhs);
        let plain = |t: &Type| {
            matches!(
                t,
                Type::Int { .. } | Type::Enum { .. } | Type::Bool | Type::Ptr(_) | Type::Unknown
            )
        };
        (plain(&lt) && plain(&rt)).then(|| lt.is_signed() && rt.is_signed())
    }

    pub(super) fn leave(&mut self) {
        let one = self.b.imm(1);
        self.b.jmp_if(JmpOp::Ne, one, 0, self.out);
    }

    pub(super) fn checked_param(&self, i: u32) -> Option<String> {
        self.ctx.params.get(i as usize - 1).cloned()
    }

    pub(super) fn var_slot(&mut self, name: &str, span: Span) -> Option<(Slot, Scalar)> {
        if let Some(v) = self.vars.get(name) {
            return Some(*v);
        }
        let t = self.checked.probes[self.probe_index]
            .variables
            .get(name)
            .cloned()
            .unwrap_or(Type::INT64);
        let Some(sc) = Scalar::of(&t) else {
            self.not_built_value(span, format!("a variable of type {t}"), &t);
            return None;
        };
        let slot = self.b.slot(sc.size());
        self.b.zero_slot(slot, 0, sc.size());
        self.vars.insert(name.to_string(), (slot, sc));
        Some((slot, sc))
    }

    pub(super) fn assign_var(&mut self, name: &str, op: Option<BinOp>, value: &Expr, span: Span) {
        if self.tuple_vars.contains_key(name) {
            if op.is_some() {
                self.not_built(span, "a compound assignment to a tuple");
                return;
            }
            self.assign_tuple_var(name, value, span);
            return;
        }
        let Some((slot, sc)) = self.var_slot(name, span) else {
            return;
        };
        match sc {
            Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. } => {
                if op.is_some() {
                    self.not_built(span, "a compound assignment to a string");
                    return;
                }
                let dst = self.b.slot_addr(slot, 0);
                self.store_str(dst, value);
            }
            // Every other kind: its (first) 8-byte word.
            _ => {
                let v = self.int(value);
                let v = match op {
                    None => v,
                    Some(op) => {
                        let old = self.b.load(Size::DW, Base::Slot(slot), 0);
                        let signed = self.ty(value).is_signed();
                        self.arith(op, old, v, signed, span)
                    }
                };
                // A value converts to a narrower declared type (`let $x: uint8`), as a
                // cast; an inferred type is never narrower than what is stored.
                let var_t = self.checked.probes[self.probe_index].variables.get(name);
                let v = match var_t {
                    Some(t @ Type::Int { bits, .. })
                        if *bits < 64 && (op.is_some() || self.ty(value) != *t) =>
                    {
                        let t = t.clone();
                        self.extend(v, &t)
                    }
                    _ => v,
                };
                self.b.store(Size::DW, Base::Slot(slot), 0, v);
            }
        }
    }
}

/// The jump taken when `op` is false (`None` for operators that are not comparisons).
fn negated_jump(op: BinOp, signed: bool) -> Option<JmpOp> {
    Some(match (op, signed) {
        (BinOp::Eq, _) => JmpOp::Ne,
        (BinOp::Ne, _) => JmpOp::Eq,
        (BinOp::Lt, false) => JmpOp::Ge,
        (BinOp::Lt, true) => JmpOp::Sge,
        (BinOp::Le, false) => JmpOp::Gt,
        (BinOp::Le, true) => JmpOp::Sgt,
        (BinOp::Gt, false) => JmpOp::Le,
        (BinOp::Gt, true) => JmpOp::Sle,
        (BinOp::Ge, false) => JmpOp::Lt,
        (BinOp::Ge, true) => JmpOp::Slt,
        _ => return None,
    })
}

/// A non-negative integer literal that fits a jump's 32-bit immediate.
fn literal_i32(e: &Expr) -> Option<i32> {
    match e.kind {
        ExprKind::Int(n) => i32::try_from(n).ok(),
        _ => None,
    }
}
