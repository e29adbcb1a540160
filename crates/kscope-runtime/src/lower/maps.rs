//! Map keys, assignments into maps (plain values and aggregations) and map reads.

use kscope_codegen::VReg;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Aggregation};
use kscope_lang::ast::{BinOp, Expr, ExprKind};
use kscope_lang::span::Span;

use super::*;
use crate::plan::{Scalar, ValueLayout};

impl Lowerer<'_> {
    /// The key of `@name[keys]` in a new stack slot; returns its address.
    pub(super) fn map_key(&mut self, map: usize, keys: &[Expr], span: Span) -> VReg {
        if self.plan.maps[map].is_tseries() {
            // Its kernel keys end with a bucket number: a script key names several.
            self.not_built(span, "this use of a `tseries()` map");
        }
        self.map_key_sized(map, keys, span, 0)
    }

    /// [`Lowerer::map_key`] in a slot `extra` bytes longer than the script's key parts
    /// (the bucket of a `tseries` key); the extra bytes are zero.
    pub(super) fn map_key_sized(
        &mut self,
        map: usize,
        keys: &[Expr],
        span: Span,
        extra: u32,
    ) -> VReg {
        let m = &self.plan.maps[map];
        let size = m.user_key_size().max(m.key_size().saturating_sub(extra));
        let slot_size = size + extra;
        let layout = m.keys.clone();
        // A tuple variable laid out as the key is the key already: no copy.
        if extra == 0
            && let [
                k @ Expr {
                    kind: ExprKind::Var(v),
                    ..
                },
            ] = keys
            && layout.len() > 1
            && self.tuple_vars.contains_key(v.as_str())
            && let Some((p, l)) = self.tuple_value(k)
            && l.size() == size
        {
            return p;
        }
        let slot = self.b.slot(slot_size);
        self.b.zero_slot(slot, 0, slot_size);
        if keys.len() == 1 && layout.len() > 1 {
            // A tuple key: its layout is the key's (parts one after another).
            if matches!(keys[0].kind, ExprKind::Tuple(_)) {
                let l = crate::plan::Layout::Tuple(layout);
                let dst = self.b.slot_addr(slot, 0);
                self.store_layout(dst, &keys[0], &l);
                return self.b.slot_addr(slot, 0);
            }
            if let Some((p, l)) = self.tuple_value(&keys[0])
                && l.size() == size
            {
                let dst = self.b.slot_addr(slot, 0);
                self.copy_bytes(dst, p, size);
                return self.b.slot_addr(slot, 0);
            }
            self.not_built(span, "a tuple of this shape used as a map key");
            return self.b.slot_addr(slot, 0);
        }
        let mut off = 0i16;
        for (k, part) in keys.iter().zip(&layout) {
            let sc = match part {
                crate::plan::Layout::Scalar(sc) => sc,
                crate::plan::Layout::Tuple(_) | crate::plan::Layout::Record(_) => {
                    let dst = self.b.slot_addr(slot, off);
                    self.store_layout(dst, k, part);
                    off += part.size() as i16;
                    continue;
                }
            };
            match sc {
                Scalar::Int { .. }
                | Scalar::Bool
                | Scalar::Ptr
                | Scalar::Kstack
                | Scalar::Ksym
                | Scalar::Timestamp(_)
                | Scalar::CgroupPath(_)
                | Scalar::Username
                | Scalar::Enum(_) => {
                    let v = self.int(k);
                    self.b.store(Size::DW, Base::Slot(slot), off, v);
                }
                Scalar::Ustack | Scalar::Usym => {
                    let v = self.int(k);
                    self.b.store(Size::DW, Base::Slot(slot), off, v);
                    self.store_pid(Base::Slot(slot), off + 8);
                }
                Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. } => {
                    let p = self.string(k);
                    let dst = self.b.slot_addr(slot, off);
                    self.copy_str(dst, p);
                }
            }
            off += sc.size() as i16;
        }
        self.b.slot_addr(slot, 0)
    }

    pub(super) fn map_of(&mut self, e: &Expr) -> Option<(usize, Vec<Expr>)> {
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

    pub(super) fn assign_map(&mut self, map: &Expr, op: Option<BinOp>, value: &Expr) {
        let Some((mi, keys)) = self.map_of(map) else {
            return;
        };
        self.span(map.span);
        if self.plan.maps[mi].is_tseries()
            && op.is_none()
            && let ExprKind::Call { name, args } = &value.kind
            && name.name == "tseries"
        {
            self.tseries(mi, &keys, args, value.span);
            return;
        }
        let key = self.map_key(mi, &keys, map.span);
        let m = self.plan.maps[mi].clone();
        self.span(value.span);
        if let ValueLayout::Tuple(_) = m.value {
            if op.is_some() {
                self.not_built(value.span, "a compound assignment to a tuple");
                return;
            }
            self.assign_map_tuple(mi, key, value);
            return;
        }
        if let ValueLayout::Plain(sc) = m.value {
            let val = match sc {
                Scalar::Int { .. }
                | Scalar::Bool
                | Scalar::Ptr
                | Scalar::Kstack
                | Scalar::Ksym
                | Scalar::Timestamp(_)
                | Scalar::CgroupPath(_)
                | Scalar::Username
                | Scalar::Enum(_) => {
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
                Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. } => {
                    if op.is_some() {
                        self.not_built(value.span, "a compound assignment to a string");
                        return;
                    }
                    self.string(value)
                }
                Scalar::Ustack | Scalar::Usym => {
                    if op.is_some() {
                        self.not_built(value.span, "a compound assignment to a stack or symbol");
                        return;
                    }
                    let v = self.int(value);
                    self.user_value(v)
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
        let storage = if m.is_array() {
            cg::Storage::Array {
                present: m.present_offset() as i16,
            }
        } else {
            cg::Storage::Hash
        };
        let zero_map = self.plan.zero.map(|z| z.0).unwrap_or(m.id);
        let agg = match (name.name.as_str(), &m.value) {
            ("count", ValueLayout::Sum) => Aggregation::Count,
            ("sum", ValueLayout::Sum) => Aggregation::Sum(arg(self, 0)),
            ("min" | "max", ValueLayout::MinMax { max, signed }) => Aggregation::MinMax {
                v: arg(self, 0),
                max: *max,
                signed: *signed,
            },
            ("avg" | "stats", ValueLayout::AvgStats) => Aggregation::AvgStats(arg(self, 0)),
            ("hist", ValueLayout::Buckets { n, hist_bits, .. }) => {
                let v = arg(self, 0);
                Aggregation::Bucket {
                    index: cg::hist_bucket(&mut self.b, v, hist_bits.unwrap_or(0)),
                    nbuckets: *n,
                    zero_map,
                }
            }
            ("lhist", ValueLayout::Buckets { n, lhist, .. }) => {
                let v = arg(self, 0);
                let (lo, hi, step) = lhist.unwrap_or((0, 0, 1));
                Aggregation::Bucket {
                    index: cg::lhist_bucket(&mut self.b, v, lo, hi, step),
                    nbuckets: *n,
                    zero_map,
                }
            }
            (other, _) => {
                self.not_built(value.span, format!("`{other}()` into this map"));
                return;
            }
        };
        cg::aggregate(&mut self.b, m.id, key, agg, storage);
    }

    pub(super) fn inc_dec(&mut self, inc: bool, prefix: bool, target: &Expr) -> Option<V> {
        let step = match self.ty(target) {
            Type::Ptr(inner) => i32::try_from(self.pointee_size(&inner, target.span)?).unwrap_or(1),
            _ => 1,
        };
        let delta = if inc { step } else { -step };
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
                if !matches!(
                    m.value,
                    ValueLayout::Plain(Scalar::Int { .. } | Scalar::Ptr)
                ) {
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

    pub(super) fn map_read(&mut self, e: &Expr) -> Option<V> {
        let (mi, keys) = self.map_of(e)?;
        let m = self.plan.maps[mi].clone();
        let key = self.map_key(mi, &keys, e.span);
        match m.value {
            ValueLayout::Plain(Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. }) => {
                let (_, dst) = self.str_slot();
                let done = self.b.label();
                let p = cg::lookup(&mut self.b, m.id, key);
                self.b.jmp_if(JmpOp::Eq, p, 0, done);
                self.copy_str(dst, p);
                self.b.place(done);
                Some(V::Str(dst))
            }
            // Every other kind: its (first) 8-byte word.
            ValueLayout::Plain(_) => Some(V::Int(cg::read_u64_or_zero(&mut self.b, m.id, key, 0))),
            ValueLayout::Sum if self.ctx.ncpus <= MAX_SUM_CPUS => {
                Some(V::Int(self.percpu_sum(m.id, key)))
            }
            ValueLayout::MinMax { max, signed } if self.ctx.ncpus <= MAX_SUM_CPUS => {
                Some(V::Int(self.percpu_min_max(m.id, key, max, signed)))
            }
            ValueLayout::AvgStats
                if self.ctx.ncpus <= MAX_SUM_CPUS
                    && matches!(m.info.value, Type::Agg(kscope_lang::sema::AggKind::Avg, _)) =>
            {
                let signed = matches!(m.info.value, Type::Agg(_, true));
                Some(V::Int(self.percpu_avg(m.id, key, signed)))
            }
            _ => {
                self.not_built(e.span, "reading this aggregation map in an expression");
                None
            }
        }
    }

    /// `min`/`max` over every possible CPU of `key`'s `{value, is_set}` in a per-CPU map
    /// (0 when no CPU has a value), as upstream reads a `min`/`max` map.
    fn percpu_min_max(
        &mut self,
        map: kscope_codegen::MapId,
        key: VReg,
        max: bool,
        signed: bool,
    ) -> VReg {
        let best = self.b.imm(0);
        let seen = self.b.imm(0);
        let keep = match (max, signed) {
            (true, true) => JmpOp::Sle,
            (true, false) => JmpOp::Le,
            (false, true) => JmpOp::Sge,
            (false, false) => JmpOp::Ge,
        };
        self.each_cpu_value(map, key, &mut |this, p, skip| {
            let take = this.b.label();
            let set = this.b.load(Size::DW, Base::Reg(p), 8);
            this.b.jmp_if(JmpOp::Eq, set, 0, skip);
            let v = this.b.load(Size::DW, Base::Reg(p), 0);
            this.b.jmp_if(JmpOp::Eq, seen, 0, take);
            // A value no better than the best so far is skipped.
            this.b.jmp_if(keep, v, best, skip);
            this.b.place(take);
            this.b.mov(best, v);
            this.b.mov(seen, 1);
        });
        best
    }

    /// `avg`: the sum over every CPU of `key`'s `{count, sum}` divided by the count (0
    /// without values), truncated toward zero as upstream's signed division is.
    fn percpu_avg(&mut self, map: kscope_codegen::MapId, key: VReg, signed: bool) -> VReg {
        let count = self.b.imm(0);
        let sum = self.b.imm(0);
        self.each_cpu_value(map, key, &mut |this, p, _| {
            let n = this.b.load(Size::DW, Base::Reg(p), 0);
            this.b.alu(AluOp::Add, count, n);
            let v = this.b.load(Size::DW, Base::Reg(p), 8);
            this.b.alu(AluOp::Add, sum, v);
        });
        let out = self.b.imm(0);
        let done = self.b.label();
        self.b.jmp_if(JmpOp::Eq, count, 0, done);
        if signed {
            // |sum| / count, negated back for a negative sum.
            let positive = self.b.label();
            self.b.jmp_if(JmpOp::Sge, sum, 0, positive);
            self.b.alu(AluOp::Neg, sum, 0);
            let q = self.b.binop(AluOp::Div, sum, count);
            self.b.mov(out, q);
            self.b.alu(AluOp::Neg, out, 0);
            self.b.jmp(done);
            self.b.place(positive);
        }
        let q = self.b.binop(AluOp::Div, sum, count);
        self.b.mov(out, q);
        self.b.place(done);
        out
    }

    /// The sum over every possible CPU of the 8-byte value of `key` in a per-CPU map
    /// (`bpf_map_lookup_percpu_elem`, Linux 5.19), as upstream reads `count`/`sum` maps.
    pub(super) fn percpu_sum(&mut self, map: kscope_codegen::MapId, key: VReg) -> VReg {
        let total = self.b.imm(0);
        self.each_cpu_value(map, key, &mut |this, p, _| {
            let v = this.b.load(Size::DW, Base::Reg(p), 0);
            this.b.alu(AluOp::Add, total, v);
        });
        total
    }

    /// For every possible CPU, looks `key` up in per-CPU `map`
    /// (`bpf_map_lookup_percpu_elem`, Linux 5.19) and, when present, runs `body` with the
    /// value's address and the label that moves on to the next CPU.
    fn each_cpu_value(
        &mut self,
        map: kscope_codegen::MapId,
        key: VReg,
        body: &mut dyn FnMut(&mut Self, VReg, kscope_codegen::Label),
    ) {
        for cpu in 0..self.ctx.ncpus {
            let skip = self.b.label();
            let m = self.b.map_ptr(map);
            let c = self.b.imm(i64::from(cpu));
            let p = self.b.call(HELPER_MAP_LOOKUP_PERCPU_ELEM, &[m, key, c]);
            self.b.jmp_if(JmpOp::Eq, p, 0, skip);
            body(self, p, skip);
            self.b.place(skip);
        }
    }
}
