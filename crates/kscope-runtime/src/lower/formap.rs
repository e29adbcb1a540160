//! `for ($kv : @map) { ... }`: the body becomes a callback subprogram that
//! `bpf_for_each_map_elem` calls for every element, as upstream bpftrace does.
//!
//! The callback receives `(map, key, value, ctx)`; `ctx` points at a context struct on
//! the caller's stack: the probe's context pointer (so builtins that need it still work),
//! a "returned" flag (`return`/`exit()` in the body end the probe), then a copy of every
//! outer scratch variable the body names. The callback copies those in on entry and back
//! out when it returns, and the caller copies them back after the loop, so the body reads
//! and writes the probe's variables. `$kv` is `(key, value)`: the key's bytes (a tuple
//! for a map of several keys), then the value (per-CPU `count`/`sum` values are summed
//! over CPUs, as upstream reads them).

use std::collections::BTreeSet;

use kscope_codegen::ir::{Base, JmpOp, Op, Size};
use kscope_codegen::{Builder, FuncId, Label, Slot, VReg};
use kscope_lang::ast::{Block, Expr, Ident};
use kscope_lang::span::Span;

use super::*;
use crate::plan::{Layout, ValueLayout};

/// `bpf_for_each_map_elem` (Linux 5.13).
const HELPER_FOR_EACH_MAP_ELEM: u32 = 164;
/// Nested `for` loops over maps allowed (each is a BPF call frame; the kernel allows 8).
const MAX_NESTING: u32 = 4;

/// The state of a `for` body being lowered as a callback.
#[derive(Debug, Clone, Copy)]
pub(super) struct Callback {
    /// How many `for` loops over maps enclose it (1 for the outermost).
    depth: u32,
}

/// One outer variable copied through the context struct.
#[derive(Debug, Clone)]
struct Shared {
    name: String,
    /// Offset in the context struct.
    off: u32,
    size: u32,
    tuple: Option<Layout>,
    scalar: Option<Scalar>,
    /// The outer slot.
    slot: Slot,
}

/// Context struct: probe context pointer, returned flag, then the shared variables.
const CTX_PTR: i16 = 0;
const CTX_RETURNED: i16 = 8;
/// Where a `return N` in the body leaves N for a probe whose result it sets (test/bench).
const CTX_RETVAL: i16 = 16;
const CTX_VARS: u32 = 24;

fn jumps_to(b: &Builder, l: Label) -> bool {
    b.function()
        .insts
        .iter()
        .any(|i| matches!(i.op, Op::Jmp { target } | Op::JmpIf { target, .. } if target == l))
}

impl Lowerer<'_> {
    /// The key and value layouts of `$kv` for map `mi`, or why it is not built.
    fn kv_layout(&self, mi: usize) -> Result<(Layout, Layout), String> {
        let m = &self.plan.maps[mi];
        let key = match m.keys.as_slice() {
            [] => return Err("`for` over a map without keys".into()),
            [one] => one.clone(),
            many => Layout::Tuple(many.to_vec()),
        };
        let value = match &m.value {
            ValueLayout::Plain(sc) => Layout::Scalar(*sc),
            ValueLayout::Tuple(l) => l.clone(),
            ValueLayout::Sum if self.ctx.ncpus > MAX_SUM_CPUS => {
                return Err(format!(
                    "`for` over a per-CPU map on more than {MAX_SUM_CPUS} CPUs"
                ));
            }
            ValueLayout::Sum => Layout::Scalar(Scalar::Int {
                signed: m.info.value.agg_read().is_some_and(|t| t.is_signed()),
            }),
            _ => return Err(format!("`for` over a map of {}", m.info.value)),
        };
        Ok((key, value))
    }

    pub(super) fn for_map(&mut self, var: &Ident, map: &Expr, body: &Block, span: Span) {
        let depth = self.callback.map_or(1, |c| c.depth + 1);
        if depth > MAX_NESTING {
            self.not_built(
                span,
                format!("more than {MAX_NESTING} nested `for` loops over maps"),
            );
            return;
        }
        let Some((mi, keys)) = self.map_of(map) else {
            return;
        };
        if !keys.is_empty() {
            self.not_built(map.span, "`for` over one element of a map");
            return;
        }
        let (key_l, value_l) = match self.kv_layout(mi) {
            Ok(kv) => kv,
            Err(what) => {
                self.not_built(map.span, what);
                return;
            }
        };
        let m = self.plan.maps[mi].clone();
        let kv_name = var.name.trim_start_matches('$').to_string();

        // The outer variables the body names, in a context struct on this frame.
        let mut names = walk::Names::default();
        names.block(body);
        let mut shared = Vec::new();
        let mut off = CTX_VARS;
        for name in &names.vars {
            if *name == kv_name {
                continue;
            }
            let (slot, size, tuple, scalar) = if let Some((s, l)) = self.tuple_vars.get(name) {
                (*s, l.size(), Some(l.clone()), None)
            } else if let Some(&(s, sc)) = self.vars.get(name) {
                (s, sc.size(), None, Some(sc))
            } else {
                continue;
            };
            shared.push(Shared {
                name: name.clone(),
                off,
                size,
                tuple,
                scalar,
                slot,
            });
            off += size;
        }
        let ctx_size = off;
        let cs = self.b.slot(ctx_size);
        let c = self.b.ctx();
        self.b.store(Size::DW, Base::Slot(cs), CTX_PTR, c);
        self.b.store(Size::DW, Base::Slot(cs), CTX_RETURNED, 0);
        match self.ret {
            Some(r) => self.b.store(Size::DW, Base::Slot(cs), CTX_RETVAL, r),
            None => self.b.store(Size::DW, Base::Slot(cs), CTX_RETVAL, 0),
        }
        for sh in &shared {
            let dst = self.b.slot_addr(cs, sh.off as i16);
            let src = self.b.slot_addr(sh.slot, 0);
            self.copy_bytes(dst, src, sh.size);
        }

        // The callback.
        let func = self.callback_body(&kv_name, &key_l, &value_l, &m, &shared, body, depth, span);
        self.span(span);
        let mp = self.b.map_ptr(m.id);
        let fp = self.b.func_ptr(func);
        let cp = self.b.slot_addr(cs, 0);
        let flags = self.b.imm(0);
        self.b
            .call_void(HELPER_FOR_EACH_MAP_ELEM, &[mp, fp, cp, flags]);
        for sh in &shared {
            let dst = self.b.slot_addr(sh.slot, 0);
            let src = self.b.slot_addr(cs, sh.off as i16);
            self.copy_bytes(dst, src, sh.size);
        }
        let returned = self.b.load(Size::DW, Base::Slot(cs), CTX_RETURNED);
        if let Some(r) = self.ret {
            let v = self.b.load(Size::DW, Base::Slot(cs), CTX_RETVAL);
            self.b.mov(r, v);
        }
        self.b.jmp_if(JmpOp::Ne, returned, 0, self.out);
    }

    /// Lowers `body` into a new callback subprogram; returns its id.
    #[allow(clippy::too_many_arguments)]
    fn callback_body(
        &mut self,
        kv_name: &str,
        key_l: &Layout,
        value_l: &Layout,
        m: &crate::plan::UserMap,
        shared: &[Shared],
        body: &Block,
        depth: u32,
        span: Span,
    ) -> FuncId {
        let mut nb = Builder::subprogram(4);
        nb.set_span(kscope_codegen::Span::new(span.start, span.end));
        let params = nb.params().to_vec();
        let (key_p, value_p, ctxp) = (params[1], params[2], params[3]);
        let probe_ctx = nb.load(Size::DW, Base::Reg(ctxp), CTX_PTR);
        nb.set_ctx(probe_ctx);
        let cont = nb.label();
        let brk = nb.label();
        let ret = nb.label();

        // Swap in the callback's own state.
        let old_b = std::mem::replace(&mut self.b, nb);
        let old_vars = std::mem::take(&mut self.vars);
        let old_tuples = std::mem::take(&mut self.tuple_vars);
        let old_out = std::mem::replace(&mut self.out, ret);
        let old_loops = std::mem::replace(&mut self.loops, vec![(cont, brk)]);
        let old_cb = self.callback.replace(Callback { depth });
        // Slots belong to one function: the body gets its own scratch slot for memory reads.
        let old_read_slot = self.read_slot.take();
        // `return N` sets the callback's own register, left in the context on the way out.
        let old_ret = self.ret;
        self.ret = old_ret.map(|_| self.b.imm(0));

        // Shared variables: local copies.
        let mut locals: Vec<(Slot, u32, u32)> = Vec::new();
        for sh in shared {
            let slot = self.b.slot(sh.size);
            let dst = self.b.slot_addr(slot, 0);
            let src = self.offset(ctxp, sh.off);
            self.copy_bytes(dst, src, sh.size);
            if let Some(l) = &sh.tuple {
                self.tuple_vars.insert(sh.name.clone(), (slot, l.clone()));
            } else if let Some(sc) = sh.scalar {
                self.vars.insert(sh.name.clone(), (slot, sc));
            }
            locals.push((slot, sh.off, sh.size));
        }
        // The body's own variables start zeroed.
        let own: Vec<String> = {
            let mut w = walk::Names::default();
            w.block(body);
            w.vars
                .into_iter()
                .filter(|n| {
                    n != kv_name && !self.vars.contains_key(n) && !self.tuple_vars.contains_key(n)
                })
                .collect()
        };
        for name in own {
            let t = self.checked.probes[self.probe_index]
                .variables
                .get(&name)
                .cloned();
            match t {
                Some(t @ (Type::Tuple(_) | Type::Record(_))) => {
                    self.new_tuple_var(&name, &t, span);
                }
                _ => {
                    self.var_slot(&name, span);
                }
            }
        }
        // $kv = (key, value)
        let kv_l = Layout::Tuple(vec![key_l.clone(), value_l.clone()]);
        let kv = self.b.slot(kv_l.size());
        let kvp = self.b.slot_addr(kv, 0);
        self.copy_bytes(kvp, key_p, key_l.size());
        let vdst = self.offset(kvp, key_l.size());
        match m.value {
            ValueLayout::Sum => {
                let kp = self.b.slot_addr(kv, 0);
                let total = self.percpu_sum(m.id, kp);
                self.b.store(Size::DW, Base::Reg(vdst), 0, total);
            }
            _ => self.copy_bytes(vdst, value_p, value_l.size()),
        }
        self.tuple_vars.insert(kv_name.to_string(), (kv, kv_l));

        self.block(body);

        let copy_out = |l: &mut Self| {
            for &(slot, off, size) in &locals {
                let dst = l.offset(ctxp, off);
                let src = l.b.slot_addr(slot, 0);
                l.copy_bytes(dst, src, size);
            }
        };
        self.b.place(cont);
        copy_out(self);
        self.b.exit(0);
        if jumps_to(&self.b, brk) {
            self.b.place(brk);
            copy_out(self);
            self.b.exit(1);
        }
        if jumps_to(&self.b, ret) {
            self.b.place(ret);
            copy_out(self);
            self.b.store(Size::DW, Base::Reg(ctxp), CTX_RETURNED, 1);
            if let Some(r) = self.ret {
                self.b.store(Size::DW, Base::Reg(ctxp), CTX_RETVAL, r);
            }
            self.b.exit(1);
        }
        self.ret = old_ret;

        // Restore the caller's state.
        let done = std::mem::replace(&mut self.b, old_b);
        self.vars = old_vars;
        self.tuple_vars = old_tuples;
        self.out = old_out;
        self.loops = old_loops;
        self.callback = old_cb;
        self.read_slot = old_read_slot;
        self.subs.push(done.finish());
        FuncId(self.subs.len() as u32)
    }

    /// `len(@map)`: the number of elements, counted by `bpf_for_each_map_elem` with a
    /// callback that only continues.
    pub(super) fn map_len(&mut self, mi: usize) -> VReg {
        let mut nb = Builder::subprogram(4);
        nb.exit(0);
        self.subs.push(nb.finish());
        let func = FuncId(self.subs.len() as u32);
        let id = self.plan.maps[mi].id;
        let mp = self.b.map_ptr(id);
        let fp = self.b.func_ptr(func);
        let cp = self.b.imm(0);
        let flags = self.b.imm(0);
        self.b.call(HELPER_FOR_EACH_MAP_ELEM, &[mp, fp, cp, flags])
    }
}

/// A walk over a block collecting the scratch variables it names.
pub(super) mod walk {
    use super::*;
    use kscope_lang::ast::{ExprKind, Stmt, StmtKind};

    /// Variable names (without `$`) a block reads or writes, and the variables of its
    /// `for` loops over maps.
    #[derive(Debug, Default)]
    pub struct Names {
        /// Every scratch variable named.
        pub vars: BTreeSet<String>,
        /// The loop variables of `for (... : @map)`.
        pub loop_vars: BTreeSet<String>,
        /// Variables given (by `=` or `let`) the address of a variable, `&$x` (cast or
        /// not), at least once.
        pub given_address: BTreeSet<String>,
        /// Variables given anything else at least once (`op=` counts).
        pub given_other: BTreeSet<String>,
    }

    fn bare(n: &str) -> String {
        n.trim_start_matches('$').to_string()
    }

    /// Whether `e` is `&$x`, perhaps cast.
    fn variable_address(e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Cast { expr, .. } => variable_address(expr),
            ExprKind::Unary {
                op: kscope_lang::ast::UnOp::AddrOf,
                expr,
            } => matches!(expr.kind, ExprKind::Var(_)),
            _ => false,
        }
    }

    impl Names {
        /// The variables that only ever hold the address of a variable (a stack slot).
        pub fn stack_pointers(&self) -> BTreeSet<String> {
            self.given_address
                .difference(&self.given_other)
                .cloned()
                .collect()
        }

        fn given(&mut self, var: &str, value: Option<&Expr>, plain: bool) {
            let set = match value {
                Some(v) if plain && variable_address(v) => &mut self.given_address,
                _ => &mut self.given_other,
            };
            set.insert(bare(var));
        }

        /// Walks `b`.
        pub fn block(&mut self, b: &Block) {
            for s in &b.stmts {
                self.stmt(s);
            }
        }

        fn stmt(&mut self, s: &Stmt) {
            match &s.kind {
                StmtKind::Expr(e) => self.expr(e),
                StmtKind::Let { var, value, .. } => {
                    self.vars.insert(bare(&var.name));
                    if let Some(v) = value {
                        self.given(&var.name, Some(v), true);
                        self.expr(v);
                    }
                }
                StmtKind::AssignVar { var, value, op } => {
                    self.vars.insert(bare(&var.name));
                    self.given(&var.name, Some(value), op.is_none());
                    self.expr(value);
                }
                StmtKind::AssignMap { map, value, .. } => {
                    self.expr(map);
                    self.expr(value);
                }
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.expr(cond);
                    self.block(then);
                    if let Some(o) = otherwise {
                        self.block(o);
                    }
                }
                StmtKind::Unroll { count, body } => {
                    self.expr(count);
                    self.block(body);
                }
                StmtKind::ForRange {
                    var,
                    start,
                    end,
                    body,
                } => {
                    self.vars.insert(bare(&var.name));
                    self.expr(start);
                    self.expr(end);
                    self.block(body);
                }
                StmtKind::ForMap { var, map, body } => {
                    self.vars.insert(bare(&var.name));
                    self.loop_vars.insert(bare(&var.name));
                    self.expr(map);
                    self.block(body);
                }
                StmtKind::While { cond, body } => {
                    self.expr(cond);
                    self.block(body);
                }
                StmtKind::Return(v) => {
                    if let Some(v) = v {
                        self.expr(v);
                    }
                }
                StmtKind::Break | StmtKind::Continue => {}
            }
        }

        /// Walks `e`.
        pub fn expr(&mut self, e: &Expr) {
            match &e.kind {
                ExprKind::Var(n) => {
                    self.vars.insert(bare(n));
                }
                ExprKind::Map { keys, .. } => keys.iter().for_each(|k| self.expr(k)),
                ExprKind::Call { args, .. } => args.iter().for_each(|a| self.expr(a)),
                ExprKind::Tuple(items) => items.iter().for_each(|a| self.expr(a)),
                ExprKind::Record(fields) => fields.iter().for_each(|f| self.expr(&f.value)),
                ExprKind::Unary { expr, .. }
                | ExprKind::Cast { expr, .. }
                | ExprKind::Field { expr, .. }
                | ExprKind::TupleIndex { expr, .. } => self.expr(expr),
                ExprKind::IncDec { target, .. } => self.expr(target),
                ExprKind::Binary { lhs, rhs, .. } => {
                    self.expr(lhs);
                    self.expr(rhs);
                }
                ExprKind::Ternary {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.expr(cond);
                    self.expr(then);
                    self.expr(otherwise);
                }
                ExprKind::Index { expr, index } => {
                    self.expr(expr);
                    self.expr(index);
                }
                ExprKind::Block { block, value } => {
                    self.block(block);
                    if let Some(v) = value {
                        self.expr(v);
                    }
                }
                ExprKind::Int(_)
                | ExprKind::Type(_)
                | ExprKind::Str(_)
                | ExprKind::Bool(_)
                | ExprKind::Ident(_)
                | ExprKind::Positional(_)
                | ExprKind::ParamCount => {}
            }
        }
    }
}
