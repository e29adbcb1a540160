//! AST + types → kscope-codegen IR, one function per attach point.
//!
//! Every integer lives in a 64-bit virtual register, sign- or zero-extended from its type;
//! every string is a pointer to [`STR_SIZE`] NUL-padded bytes in a stack slot. Anything
//! not lowered yet is recorded as a "not built yet" error at its span (never wrong code).

mod context;

use std::collections::HashMap;

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Field};
use kscope_codegen::{Builder, Function, Slot, VReg, Width};
use kscope_lang::ast::{BinOp, Block, Expr, ExprKind, Probe, Provider, Stmt, StmtKind, UnOp};
use kscope_lang::output::FormatString;
use kscope_lang::sema::{Checked, Type};
use kscope_lang::span::Span;

pub use context::{ArgSource, ProbeContext};

use crate::plan::{Message, Plan, STR_SIZE, Scalar, ValueLayout};

/// `bpf_map_lookup_percpu_elem` (Linux 5.19).
const HELPER_MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
/// Reading a `count`/`sum` map sums this many CPUs at most (the loop is unrolled).
const MAX_SUM_CPUS: u32 = 64;

/// `bpf_get_func_ip` (Linux 5.15 for kprobes).
const HELPER_GET_FUNC_IP: u32 = 173;
/// `bpf_get_stackid`.
const HELPER_GET_STACKID: u32 = 27;
/// `bpf_send_signal` (Linux 5.3).
const HELPER_SEND_SIGNAL: u32 = 109;

/// The number of a signal named as `signal()` accepts (`"KILL"` or `"SIGKILL"`).
fn signal_number(name: &str) -> Option<i64> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        _ => return None,
    })
}

/// A positional parameter as an integer: decimal (signed or up to `u64::MAX`) or `0x` hex;
/// anything else reads as 0, like a missing parameter.
fn parse_int(p: &str) -> i64 {
    if let Some(hex) = p.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_or(0, |v| v as i64);
    }
    p.parse::<i64>()
        .or_else(|_| p.parse::<u64>().map(|v| v as i64))
        .unwrap_or(0)
}

/// A lowered value.
#[derive(Debug, Clone, Copy)]
enum V {
    /// An integer (64-bit, extended from its type).
    Int(VReg),
    /// A pointer to a [`STR_SIZE`]-byte NUL-padded string.
    Str(VReg),
}

/// A problem found while lowering: where and what.
#[derive(Debug, Clone)]
pub struct LowerError {
    /// The script location.
    pub span: Span,
    /// What is not built yet (or wrong).
    pub message: String,
}

fn cg_span(s: Span) -> kscope_codegen::Span {
    kscope_codegen::Span::new(s.start, s.end)
}

/// Lowers one probe body for one attach point.
pub struct Lowerer<'a> {
    checked: &'a Checked,
    plan: &'a mut Plan,
    ctx: &'a ProbeContext,
    probe_index: usize,
    b: Builder,
    vars: HashMap<String, (Slot, Scalar)>,
    errors: Vec<LowerError>,
    /// Where `return` and the end of the body jump.
    out: kscope_codegen::Label,
    /// The enclosing loops: (where `continue` goes, where `break` goes).
    loops: Vec<(kscope_codegen::Label, kscope_codegen::Label)>,
}

impl<'a> Lowerer<'a> {
    /// Lowers `probe` (index `probe_index`) as attached at `ctx`.
    pub fn lower(
        checked: &'a Checked,
        plan: &'a mut Plan,
        ctx: &'a ProbeContext,
        probe_index: usize,
        probe: &Probe,
    ) -> Result<Function, Vec<LowerError>> {
        let mut b = Builder::new();
        let out = b.label();
        let mut l = Lowerer {
            checked,
            plan,
            ctx,
            probe_index,
            b,
            vars: HashMap::new(),
            errors: Vec::new(),
            out,
            loops: Vec::new(),
        };
        // Every variable gets its zeroed slot at entry, so a read on a path that did not
        // assign it sees 0 (never uninitialised stack, which the verifier refuses).
        l.span(probe.span);
        let names: Vec<String> = checked.probes[probe_index]
            .variables
            .iter()
            .filter(|(_, t)| Scalar::of(t).is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            l.var_slot(&name, probe.span);
        }
        if let Some(pred) = &probe.predicate {
            l.span(pred.span);
            let v = l.int(pred);
            l.b.jmp_if(JmpOp::Eq, v, 0, l.out);
        }
        l.block(&probe.body);
        l.b.place(l.out);
        l.b.exit(0);
        if l.errors.is_empty() {
            Ok(l.b.finish())
        } else {
            Err(l.errors)
        }
    }

    fn span(&mut self, s: Span) {
        self.b.set_span(cg_span(s));
    }

    fn not_built(&mut self, span: Span, what: impl Into<String>) {
        self.errors.push(LowerError {
            span,
            message: format!("{} is not built yet in `kscope run`", what.into()),
        });
    }

    fn ty(&self, e: &Expr) -> Type {
        self.checked.type_of(e).clone()
    }

    fn block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        self.span(s.span);
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::Let { var, value } => {
                let name = var.name.trim_start_matches('$').to_string();
                match value {
                    Some(v) => self.assign_var(&name, None, v, s.span),
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
                let c = self.int(cond);
                let else_l = self.b.label();
                let end = self.b.label();
                self.b.jmp_if(JmpOp::Eq, c, 0, else_l);
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
            StmtKind::Return(_) => self.leave(),
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
            StmtKind::ForMap { .. } => self.not_built(s.span, "`for ($kv : @map)`"),
        }
    }

    /// Ends the probe here. A conditional jump keeps the code after it reachable in the
    /// control-flow graph (the verifier refuses unreachable instructions); the condition
    /// is always true.
    fn leave(&mut self) {
        let one = self.b.imm(1);
        self.b.jmp_if(JmpOp::Ne, one, 0, self.out);
    }

    fn checked_param(&self, i: u32) -> Option<String> {
        self.ctx.params.get(i as usize - 1).cloned()
    }

    fn var_slot(&mut self, name: &str, span: Span) -> Option<(Slot, Scalar)> {
        if let Some(v) = self.vars.get(name) {
            return Some(*v);
        }
        let t = self.checked.probes[self.probe_index]
            .variables
            .get(name)
            .cloned()
            .unwrap_or(Type::INT64);
        let Some(sc) = Scalar::of(&t) else {
            self.not_built(span, format!("a variable of type {t}"));
            return None;
        };
        let slot = self.b.slot(sc.size());
        self.b.zero_slot(slot, 0, sc.size());
        self.vars.insert(name.to_string(), (slot, sc));
        Some((slot, sc))
    }

    fn assign_var(&mut self, name: &str, op: Option<BinOp>, value: &Expr, span: Span) {
        let Some((slot, sc)) = self.var_slot(name, span) else {
            return;
        };
        match sc {
            Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym => {
                let v = self.int(value);
                let v = match op {
                    None => v,
                    Some(op) => {
                        let old = self.b.load(Size::DW, Base::Slot(slot), 0);
                        let signed = self.ty(value).is_signed();
                        self.arith(op, old, v, signed, span)
                    }
                };
                self.b.store(Size::DW, Base::Slot(slot), 0, v);
            }
            Scalar::Str => {
                if op.is_some() {
                    self.not_built(span, "a compound assignment to a string");
                    return;
                }
                let p = self.string(value);
                let dst = self.b.slot_addr(slot, 0);
                self.copy_str(dst, p);
            }
        }
    }

    /// Copies [`STR_SIZE`] bytes between two stack strings.
    fn copy_str(&mut self, dst: VReg, src: VReg) {
        for off in (0..STR_SIZE as i16).step_by(8) {
            let w = self.b.load(Size::DW, Base::Reg(src), off);
            self.b.store(Size::DW, Base::Reg(dst), off, w);
        }
    }

    /// A string in a fresh zeroed slot; returns the slot and its address.
    fn str_slot(&mut self) -> (Slot, VReg) {
        let s = self.b.slot(STR_SIZE);
        self.b.zero_slot(s, 0, STR_SIZE);
        let p = self.b.slot_addr(s, 0);
        (s, p)
    }

    /// The key of `@name[keys]` in a new stack slot; returns its address.
    fn map_key(&mut self, map: usize, keys: &[Expr], span: Span) -> VReg {
        let m = &self.plan.maps[map];
        let size = m.key_size();
        let layout = m.keys.clone();
        let slot = self.b.slot(size);
        self.b.zero_slot(slot, 0, size);
        if keys.len() == 1 && layout.len() > 1 {
            self.not_built(span, "a tuple used as a map key");
        }
        let mut off = 0i16;
        for (k, sc) in keys.iter().zip(&layout) {
            match sc {
                Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym => {
                    let v = self.int(k);
                    self.b.store(Size::DW, Base::Slot(slot), off, v);
                }
                Scalar::Str => {
                    let p = self.string(k);
                    let dst = self.b.slot_addr(slot, off);
                    self.copy_str(dst, p);
                }
            }
            off += sc.size() as i16;
        }
        self.b.slot_addr(slot, 0)
    }

    fn map_of(&mut self, e: &Expr) -> Option<(usize, Vec<Expr>)> {
        let ExprKind::Map { name, keys } = &e.kind else {
            self.not_built(e.span, "this map expression");
            return None;
        };
        match self.plan.map(name) {
            Some((i, _)) => Some((i, keys.clone())),
            None => {
                self.not_built(e.span, format!("map @{name} of this type"));
                None
            }
        }
    }

    fn assign_map(&mut self, map: &Expr, op: Option<BinOp>, value: &Expr) {
        let Some((mi, keys)) = self.map_of(map) else {
            return;
        };
        self.span(map.span);
        let key = self.map_key(mi, &keys, map.span);
        let m = self.plan.maps[mi].clone();
        self.span(value.span);
        if let ValueLayout::Plain(sc) = m.value {
            let val = match sc {
                Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym => {
                    let v = self.int(value);
                    let v = match op {
                        None => v,
                        Some(op) => {
                            let old = cg::read_u64_or_zero(&mut self.b, m.id, key, 0);
                            let signed = self.ty(value).is_signed();
                            self.arith(op, old, v, signed, value.span)
                        }
                    };
                    let s = self.b.slot(8);
                    self.b.store(Size::DW, Base::Slot(s), 0, v);
                    self.b.slot_addr(s, 0)
                }
                Scalar::Str => {
                    if op.is_some() {
                        self.not_built(value.span, "a compound assignment to a string");
                        return;
                    }
                    self.string(value)
                }
            };
            cg::update(&mut self.b, m.id, key, val, 0);
            return;
        }
        // An aggregation: the value is the call.
        let ExprKind::Call { name, args } = &value.kind else {
            self.not_built(value.span, "assigning a plain value to an aggregation map");
            return;
        };
        if op.is_some() {
            self.not_built(value.span, "a compound assignment of an aggregation");
            return;
        }
        let arg = |l: &mut Self, i: usize| -> VReg {
            match args.get(i) {
                Some(a) => l.int(a),
                None => l.b.imm(0),
            }
        };
        match (name.name.as_str(), &m.value) {
            ("count", ValueLayout::Sum) => cg::count(&mut self.b, m.id, key),
            ("sum", ValueLayout::Sum) => {
                let v = arg(self, 0);
                cg::sum(&mut self.b, m.id, key, v)
            }
            ("min" | "max", ValueLayout::MinMax { max, signed }) => {
                let v = arg(self, 0);
                cg::min_max(&mut self.b, m.id, key, v, *max, *signed)
            }
            ("avg" | "stats", ValueLayout::AvgStats) => {
                let v = arg(self, 0);
                cg::avg_stats(&mut self.b, m.id, key, v)
            }
            ("hist", ValueLayout::Buckets { n, hist_bits, .. }) => {
                let v = arg(self, 0);
                let idx = cg::hist_bucket(&mut self.b, v, hist_bits.unwrap_or(0));
                let zero = self.plan.zero.map(|z| z.0).unwrap_or(m.id);
                cg::buckets_add(&mut self.b, m.id, key, idx, *n, zero);
            }
            ("lhist", ValueLayout::Buckets { n, lhist, .. }) => {
                let v = arg(self, 0);
                let (lo, hi, step) = lhist.unwrap_or((0, 0, 1));
                let idx = cg::lhist_bucket(&mut self.b, v, lo, hi, step);
                let zero = self.plan.zero.map(|z| z.0).unwrap_or(m.id);
                cg::buckets_add(&mut self.b, m.id, key, idx, *n, zero);
            }
            (other, _) => self.not_built(value.span, format!("`{other}()` into this map")),
        }
    }

    /// Lowers an expression that must be an integer.
    fn int(&mut self, e: &Expr) -> VReg {
        match self.expr(e) {
            Some(V::Int(r)) => r,
            Some(V::Str(_)) => {
                self.not_built(e.span, "a string used as an integer");
                self.b.imm(0)
            }
            None => self.b.imm(0),
        }
    }

    /// Lowers an expression that must be a string.
    fn string(&mut self, e: &Expr) -> VReg {
        match self.expr(e) {
            Some(V::Str(p)) => p,
            Some(V::Int(_)) => {
                self.not_built(e.span, "an integer used as a string");
                self.str_slot().1
            }
            None => self.str_slot().1,
        }
    }

    fn str_literal(&mut self, bytes: &[u8]) -> VReg {
        let (s, p) = self.str_slot();
        let n = bytes.len().min(STR_SIZE as usize - 1);
        for (i, chunk) in bytes[..n].chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let v = self.b.imm(i64::from_ne_bytes(w));
            self.b.store(Size::DW, Base::Slot(s), (i * 8) as i16, v);
        }
        p
    }

    /// Extends `r` (a raw load) per an integer type.
    fn extend(&mut self, r: VReg, t: &Type) -> VReg {
        match t {
            Type::Int { bits, signed } if *bits < 64 => {
                let w = match bits {
                    8 => Width::W8,
                    16 => Width::W16,
                    _ => Width::W32,
                };
                if *signed {
                    self.b.sext(r, w)
                } else {
                    self.b.zext(r, w)
                }
            }
            _ => r,
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<V> {
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
                    Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym => {
                        V::Int(self.b.load(Size::DW, Base::Slot(slot), 0))
                    }
                    Scalar::Str => V::Str(self.b.slot_addr(slot, 0)),
                }
            }
            ExprKind::Ident(name) => return self.builtin(name, e),
            ExprKind::Map { .. } => return self.map_read(e),
            ExprKind::Call { name, args } => return self.call(&name.name, args, e),
            ExprKind::Unary { op, expr } => {
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
                if t == Type::Str {
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
            ExprKind::Cast { ty, expr } => {
                let v = self.int(expr);
                if ty.pointer > 0 || ty.array.is_some() {
                    self.not_built(e.span, "a pointer or array cast");
                    return None;
                }
                V::Int(self.extend(v, &t))
            }
            ExprKind::Field { expr, field, .. } => {
                if matches!(&expr.kind, ExprKind::Ident(n) if n == "args") {
                    return self.args_field(&field.name, &t, e.span);
                }
                self.not_built(
                    e.span,
                    "struct member access through BTF (waiting for the BTF type provider)",
                );
                return None;
            }
            ExprKind::TupleIndex { .. } | ExprKind::Tuple(_) => {
                self.not_built(e.span, "a tuple value");
                return None;
            }
            ExprKind::Index { .. } => {
                self.not_built(e.span, "indexing a pointer or array");
                return None;
            }
        })
    }

    /// A 0/1 register: `a op b` (or `a op 0`).
    fn bool_of(&mut self, op: JmpOp, a: VReg, b: Option<VReg>) -> VReg {
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

    fn arith(&mut self, op: BinOp, a: VReg, b: VReg, signed: bool, span: Span) -> VReg {
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

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> Option<V> {
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
        if lt == Type::Str || rt == Type::Str {
            if !matches!(op, BinOp::Eq | BinOp::Ne) {
                self.not_built(span, format!("string operator `{}`", op.symbol()));
                return None;
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
        let b = self.int(rhs);
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

    fn inc_dec(&mut self, inc: bool, prefix: bool, target: &Expr) -> Option<V> {
        let delta = if inc { 1 } else { -1 };
        match &target.kind {
            ExprKind::Var(name) => {
                let (slot, _) = self.var_slot(name, target.span)?;
                let old = self.b.load(Size::DW, Base::Slot(slot), 0);
                let new = self.b.binop(AluOp::Add, old, delta);
                self.b.store(Size::DW, Base::Slot(slot), 0, new);
                Some(V::Int(if prefix { new } else { old }))
            }
            ExprKind::Map { .. } => {
                let (mi, keys) = self.map_of(target)?;
                let m = self.plan.maps[mi].clone();
                if !matches!(m.value, ValueLayout::Plain(Scalar::Int { .. })) {
                    self.not_built(target.span, "`++`/`--` on an aggregation map");
                    return None;
                }
                let key = self.map_key(mi, &keys, target.span);
                let old = cg::read_u64_or_zero(&mut self.b, m.id, key, 0);
                let new = self.b.binop(AluOp::Add, old, delta);
                let s = self.b.slot(8);
                self.b.store(Size::DW, Base::Slot(s), 0, new);
                let vp = self.b.slot_addr(s, 0);
                cg::update(&mut self.b, m.id, key, vp, 0);
                Some(V::Int(if prefix { new } else { old }))
            }
            _ => {
                self.not_built(target.span, "`++`/`--` on this expression");
                None
            }
        }
    }

    fn map_read(&mut self, e: &Expr) -> Option<V> {
        let (mi, keys) = self.map_of(e)?;
        let m = self.plan.maps[mi].clone();
        let key = self.map_key(mi, &keys, e.span);
        match m.value {
            ValueLayout::Plain(Scalar::Int { .. } | Scalar::Kstack | Scalar::Ksym) => {
                Some(V::Int(cg::read_u64_or_zero(&mut self.b, m.id, key, 0)))
            }
            ValueLayout::Plain(Scalar::Str) => {
                let (_, dst) = self.str_slot();
                let done = self.b.label();
                let p = cg::lookup(&mut self.b, m.id, key);
                self.b.jmp_if(JmpOp::Eq, p, 0, done);
                self.copy_str(dst, p);
                self.b.place(done);
                Some(V::Str(dst))
            }
            ValueLayout::Sum if self.ctx.ncpus <= MAX_SUM_CPUS => {
                Some(V::Int(self.percpu_sum(m.id, key)))
            }
            _ => {
                self.not_built(e.span, "reading this aggregation map in an expression");
                None
            }
        }
    }

    /// The sum over every possible CPU of the 8-byte value of `key` in a per-CPU map
    /// (`bpf_map_lookup_percpu_elem`, Linux 5.19), as upstream reads `count`/`sum` maps.
    fn percpu_sum(&mut self, map: kscope_codegen::MapId, key: VReg) -> VReg {
        let total = self.b.imm(0);
        for cpu in 0..self.ctx.ncpus {
            let skip = self.b.label();
            let m = self.b.map_ptr(map);
            let c = self.b.imm(i64::from(cpu));
            let p = self.b.call(HELPER_MAP_LOOKUP_PERCPU_ELEM, &[m, key, c]);
            self.b.jmp_if(JmpOp::Eq, p, 0, skip);
            let v = self.b.load(Size::DW, Base::Reg(p), 0);
            self.b.alu(AluOp::Add, total, v);
            self.b.place(skip);
        }
        total
    }

    fn builtin(&mut self, name: &str, e: &Expr) -> Option<V> {
        let b = &mut self.b;
        let v = match name {
            "pid" => cg::pid(b),
            "tid" => cg::tid(b),
            "uid" => cg::uid(b),
            "gid" => cg::gid(b),
            "nsecs" => cg::nsecs(b),
            "elapsed" => {
                let n = cg::nsecs(b);
                let s = b.imm(self.ctx.start_ns as i64);
                b.binop(AluOp::Sub, n, s)
            }
            "cpu" => cg::cpu(b),
            "ncpus" => b.imm(self.ctx.ncpus as i64),
            "cpid" => b.imm(self.ctx.cpid.unwrap_or(0) as i64),
            "rand" => b.call(kscope_codegen::helper::GET_PRANDOM_U32, &[]),
            "kstack" => return self.kstack(e),
            "func"
                if matches!(
                    self.ctx.attach.provider,
                    Provider::Kprobe | Provider::Kretprobe
                ) =>
            {
                let c = b.ctx();
                b.call(HELPER_GET_FUNC_IP, &[c])
            }
            "comm" => {
                let (_, p) = self.str_slot();
                cg::comm_into(&mut self.b, p);
                return Some(V::Str(p));
            }
            "probe" => {
                let text = self.ctx.attach.canonical();
                return Some(V::Str(self.str_literal(text.as_bytes())));
            }
            "retval" => match self.ctx.args {
                ArgSource::PtRegs => {
                    let c = b.ctx();
                    b.load(Size::DW, Base::Reg(c), 80)
                }
                _ => {
                    self.not_built(e.span, "`retval` in this probe kind");
                    return None;
                }
            },
            n if n.starts_with("arg") && n[3..].parse::<u8>().is_ok() => {
                let i: u8 = n[3..].parse().unwrap_or(0);
                match self.ctx.args {
                    ArgSource::PtRegs if i < 6 => {
                        let off = [112, 104, 96, 88, 72, 64][i as usize];
                        let c = b.ctx();
                        b.load(Size::DW, Base::Reg(c), off)
                    }
                    ArgSource::Raw if i < 12 => {
                        let c = b.ctx();
                        b.load(Size::DW, Base::Reg(c), i16::from(i) * 8)
                    }
                    _ => {
                        self.not_built(e.span, format!("`{n}` in this probe kind"));
                        return None;
                    }
                }
            }
            other => {
                self.not_built(e.span, format!("the builtin `{other}`"));
                return None;
            }
        };
        Some(V::Int(v))
    }

    /// `kstack`: `bpf_get_stackid(ctx, stacks, 0)` (a negative id means no stack).
    fn kstack(&mut self, e: &Expr) -> Option<V> {
        let Some(map) = self.plan.stacks else {
            self.not_built(e.span, "`kstack` here");
            return None;
        };
        let c = self.b.ctx();
        let m = self.b.map_ptr(map);
        let flags = self.b.imm(0);
        Some(V::Int(self.b.call(HELPER_GET_STACKID, &[c, m, flags])))
    }

    fn args_field(&mut self, name: &str, t: &Type, span: Span) -> Option<V> {
        let Some(f) = self.ctx.fields.iter().find(|f| f.name == name).cloned() else {
            self.not_built(span, format!("`args.{name}` in this probe kind"));
            return None;
        };
        use kscope_ftrace::format::FieldKind;
        let c = self.b.ctx();
        let off = f.offset as i16;
        match f.kind {
            FieldKind::Int { size, .. } => {
                let sz = match size {
                    1 => Size::B,
                    2 => Size::H,
                    4 => Size::W,
                    _ => Size::DW,
                };
                let r = self.b.load(sz, Base::Reg(c), off);
                Some(V::Int(self.extend(r, t)))
            }
            FieldKind::Pointer => Some(V::Int(self.b.load(Size::DW, Base::Reg(c), off))),
            FieldKind::DataLoc { .. } => {
                let loc = self.b.load(Size::W, Base::Reg(c), off);
                self.b.alu(AluOp::And, loc, 0xffff);
                Some(V::Int(self.b.binop(AluOp::Add, c, loc)))
            }
            FieldKind::CharArray { len } if len > 0 => {
                let (_, p) = self.str_slot();
                let n = self.b.imm(len.min(STR_SIZE as usize - 1) as i64);
                let src = self.b.binop(AluOp::Add, c, i32::from(off));
                self.b
                    .call_void(kscope_codegen::helper::PROBE_READ_KERNEL, &[p, n, src]);
                Some(V::Str(p))
            }
            _ => {
                self.not_built(span, format!("`args.{name}` of this field type"));
                None
            }
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], e: &Expr) -> Option<V> {
        match name {
            "printf" => self.formatted_output(args, e, "a printf format", |format, args| {
                Message::Printf { format, args }
            }),
            "exit" => {
                if !args.is_empty() {
                    self.not_built(e.span, "`exit(code)`");
                }
                let id = self.message(Message::Exit);
                self.output(id, &[]);
                self.leave();
                None
            }
            "time" => {
                let format = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(f)) => String::from_utf8_lossy(f).into_owned(),
                    None => "%H:%M:%S\n".to_string(),
                    _ => {
                        self.not_built(e.span, "a time format that is not a literal");
                        return None;
                    }
                };
                let id = self.message(Message::Time { format });
                self.output(id, &[]);
                None
            }
            "print" | "clear" | "zero" => {
                let Some(target) = args.first() else {
                    self.not_built(e.span, format!("`{name}()` without arguments"));
                    return None;
                };
                if name == "print" && !matches!(&target.kind, ExprKind::Map { .. }) {
                    let (fields, layouts) = self.packed_args(std::slice::from_ref(target))?;
                    let id = self.message(Message::PrintValue { layout: layouts[0] });
                    self.output(id, &fields);
                    return None;
                }
                if !matches!(&target.kind, ExprKind::Map { keys, .. } if keys.is_empty())
                    || args.len() > 1
                {
                    self.not_built(e.span, format!("`{name}()` of anything but a whole map"));
                    return None;
                }
                let (mi, _) = self.map_of(target)?;
                let msg = match name {
                    "print" => Message::Print { map: mi },
                    _ => Message::Clear {
                        map: mi,
                        zero: name == "zero",
                    },
                };
                let id = self.message(msg);
                self.output(id, &[]);
                None
            }
            "delete" => {
                let (mi, keys) = match args {
                    [m] => self.map_of(m)?,
                    [m, rest @ ..] => {
                        let (mi, _) = self.map_of(m)?;
                        (mi, rest.to_vec())
                    }
                    [] => return None,
                };
                let key = self.map_key(mi, &keys, e.span);
                let id = self.plan.maps[mi].id;
                cg::delete(&mut self.b, id, key);
                None
            }
            "str" => {
                let src = args.first()?;
                if self.ty(src) == Type::Str {
                    return self.expr(src);
                }
                let ptr = self.int(src);
                let size = match args.get(1).map(|a| &a.kind) {
                    Some(ExprKind::Int(n)) => (*n).min(u64::from(STR_SIZE)) as u32,
                    Some(_) => {
                        self.not_built(e.span, "`str(p, n)` with a non-literal length");
                        return None;
                    }
                    None => STR_SIZE,
                };
                let (_, p) = self.str_slot();
                let n = self.b.imm(i64::from(size.min(STR_SIZE)));
                let h = if self.ctx.user_pointers {
                    kscope_codegen::helper::PROBE_READ_USER_STR
                } else {
                    kscope_codegen::helper::PROBE_READ_KERNEL_STR
                };
                self.b.call_void(h, &[p, n, ptr]);
                Some(V::Str(p))
            }
            "has_key" => {
                let [m, rest @ ..] = args else {
                    return None;
                };
                let (mi, _) = self.map_of(m)?;
                let key = self.map_key(mi, rest, e.span);
                let id = self.plan.maps[mi].id;
                let p = cg::lookup(&mut self.b, id, key);
                Some(V::Int(self.bool_of(JmpOp::Ne, p, None)))
            }
            "strlen" => {
                let p = self.string(args.first()?);
                // Strings are NUL padded: the length is the number of non-NUL bytes.
                let n = self.b.imm(0);
                for off in 0..STR_SIZE as i16 {
                    let skip = self.b.label();
                    let c = self.b.load(Size::B, Base::Reg(p), off);
                    self.b.jmp_if(JmpOp::Eq, c, 0, skip);
                    self.b.alu(AluOp::Add, n, 1);
                    self.b.place(skip);
                }
                Some(V::Int(n))
            }
            "strncmp" => {
                let [a, b, n] = args else {
                    return None;
                };
                let ExprKind::Int(n) = n.kind else {
                    self.not_built(e.span, "`strncmp` with a non-literal length");
                    return None;
                };
                let a = self.string(a);
                let b = self.string(b);
                // 0 when the first n bytes are equal (NUL padding makes that strncmp's
                // equality), else 1.
                let res = self.b.imm(1);
                let differ = self.b.label();
                for off in 0..(n.min(u64::from(STR_SIZE)) as i16) {
                    let x = self.b.load(Size::B, Base::Reg(a), off);
                    let y = self.b.load(Size::B, Base::Reg(b), off);
                    self.b.jmp_if(JmpOp::Ne, x, y, differ);
                }
                self.b.mov(res, 0);
                self.b.place(differ);
                Some(V::Int(res))
            }
            "signal" => {
                let sig = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Int(n)) => *n as i64,
                    Some(ExprKind::Str(name)) => {
                        match signal_number(&String::from_utf8_lossy(name)) {
                            Some(n) => n,
                            None => {
                                self.not_built(e.span, "this signal name");
                                return None;
                            }
                        }
                    }
                    _ => {
                        self.not_built(e.span, "`signal()` of a computed value");
                        return None;
                    }
                };
                let s = self.b.imm(sig);
                self.b.call_void(HELPER_SEND_SIGNAL, &[s]);
                None
            }
            "system" => self.formatted_output(args, e, "a system() command", |format, args| {
                Message::System { format, args }
            }),
            "kstack" if args.is_empty() => self.kstack(e),
            "ksym" => Some(V::Int(self.int(args.first()?))),
            "count" | "sum" | "avg" | "min" | "max" | "stats" | "hist" | "lhist" => {
                self.not_built(e.span, format!("`{name}()` outside a map assignment"));
                None
            }
            other => {
                self.not_built(e.span, format!("the function `{other}()`"));
                None
            }
        }
    }

    /// Evaluates output arguments: the record fields and their layouts.
    /// printf-like calls: a literal format (`what` names it in the error otherwise) and
    /// its arguments packed into one ringbuf record of the message `make` builds.
    fn formatted_output(
        &mut self,
        args: &[Expr],
        e: &Expr,
        what: &str,
        make: fn(FormatString, Vec<Scalar>) -> Message,
    ) -> Option<V> {
        let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
            self.not_built(e.span, format!("{what} that is not a literal"));
            return None;
        };
        let format = FormatString::parse(&String::from_utf8_lossy(fmt));
        let (fields, layouts) = self.packed_args(&args[1..])?;
        self.span(e.span);
        let id = self.message(make(format, layouts));
        self.output(id, &fields);
        None
    }

    fn packed_args(&mut self, args: &[Expr]) -> Option<(Vec<Field>, Vec<Scalar>)> {
        let mut fields = Vec::new();
        let mut layouts = Vec::new();
        for a in args {
            let t = self.ty(a);
            match self.expr(a)? {
                V::Int(r) => {
                    fields.push(Field::Value(r, Width::W64));
                    layouts.push(match Scalar::of(&t) {
                        Some(sc @ (Scalar::Kstack | Scalar::Ksym)) => sc,
                        _ => Scalar::Int {
                            signed: t.is_signed(),
                        },
                    });
                }
                V::Str(p) => {
                    fields.push(Field::Bytes {
                        ptr: p,
                        len: STR_SIZE,
                    });
                    layouts.push(Scalar::Str);
                }
            }
        }
        Some((fields, layouts))
    }

    fn message(&mut self, m: Message) -> u64 {
        self.plan.messages.push(m);
        self.plan.messages.len() as u64 - 1
    }

    fn output(&mut self, id: u64, fields: &[Field]) {
        let (rb, loss) = (self.plan.ringbuf, self.plan.loss);
        // Records wait for the consumer's next timed poll, except exit(), which wakes it.
        let flags = match self.plan.messages.get(id as usize) {
            Some(Message::Exit) => cg::BPF_RB_FORCE_WAKEUP,
            _ => cg::BPF_RB_NO_WAKEUP,
        };
        cg::ringbuf_output_with(&mut self.b, rb, loss, id, fields, flags);
    }
}

/// Whether a probe kind is lowered.
pub fn supported(p: Provider) -> bool {
    matches!(
        p,
        Provider::Begin
            | Provider::End
            | Provider::Tracepoint
            | Provider::Rawtracepoint
            | Provider::Uprobe
            | Provider::Uretprobe
            | Provider::Kprobe
            | Provider::Kretprobe
            | Provider::Interval
            | Provider::Profile
    )
}

/// The aggregation kinds (for the docs of what is lowered).
pub const AGGREGATIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist",
];
