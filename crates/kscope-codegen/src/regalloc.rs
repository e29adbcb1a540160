//! Register allocation: basic blocks, liveness by data flow (so loops are right), one
//! live interval per register, then linear scan over the BPF registers with spilling to
//! stack slots. It never fails for lack of registers: whatever does not fit lives on the
//! stack.
//!
//! `r4` and `r5` are reserved as scratch registers for the code that reloads spilled
//! operands; `r0`–`r3` and `r6`–`r9` are allocated. A value live across a helper call
//! (which clobbers `r0`–`r5`) only gets one of `r6`–`r9`, or the stack.

use kscope_bpf::insn::Reg;

use crate::CodegenError;
use crate::ir::{Base, Function, Label, Op, Span, VReg};

/// Registers for values not live across a call, in order of preference.
const CALLER_SAVED: [Reg; 4] = [Reg::R0, Reg::R1, Reg::R2, Reg::R3];
/// Registers that keep their value across calls.
const CALLEE_SAVED: [Reg; 4] = [Reg::R6, Reg::R7, Reg::R8, Reg::R9];
/// Every allocatable register, caller-saved first (keeping `r6`–`r9` for values that
/// need them).
const ANY: [Reg; 8] = [
    CALLER_SAVED[0],
    CALLER_SAVED[1],
    CALLER_SAVED[2],
    CALLER_SAVED[3],
    CALLEE_SAVED[0],
    CALLEE_SAVED[1],
    CALLEE_SAVED[2],
    CALLEE_SAVED[3],
];
/// First scratch register for spill code.
pub(crate) const SCRATCH1: Reg = Reg::R4;
/// Second scratch register for spill code.
pub(crate) const SCRATCH2: Reg = Reg::R5;

/// Where a virtual register lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// In a BPF register for its whole live range.
    Reg(Reg),
    /// In spill slot `n` for its whole live range.
    Spill(u32),
    /// Never used or defined.
    Unused,
}

/// The result of allocation.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Location of each virtual register, by index.
    pub locs: Vec<Loc>,
    /// For each spill slot, the span of the instruction that first defined a register
    /// spilled there (what the stack use is charged to).
    pub spill_spans: Vec<Span>,
}

impl Allocation {
    /// How many virtual registers live on the stack.
    pub fn spilled(&self) -> usize {
        self.locs
            .iter()
            .filter(|l| matches!(l, Loc::Spill(_)))
            .count()
    }
}

fn invalid(span: Span, reason: impl Into<String>) -> CodegenError {
    CodegenError::InvalidIr {
        span,
        reason: reason.into(),
    }
}

/// Checks the shape rules the allocator and emitter rely on.
pub(crate) fn validate(f: &Function) -> Result<(), CodegenError> {
    if let Some((span, reason)) = f.errors.first() {
        return Err(invalid(*span, reason.clone()));
    }
    let mut placed = vec![false; f.labels as usize];
    for (i, inst) in f.insts.iter().enumerate() {
        for r in inst.op.uses().into_iter().chain(inst.op.def()) {
            if r.index() >= f.widths.len() {
                return Err(invalid(inst.span, format!("unknown register v{}", r.0)));
            }
        }
        match &inst.op {
            Op::Ctx { .. } if i != 0 => {
                return Err(invalid(inst.span, "the context is only read on entry"));
            }
            Op::Param { index, .. } if *index > 4 => {
                return Err(invalid(
                    inst.span,
                    "a subprogram takes at most 5 parameters",
                ));
            }
            Op::Param { .. }
                if f.insts[..i]
                    .iter()
                    .any(|p| !matches!(p.op, Op::Param { .. })) =>
            {
                return Err(invalid(
                    inst.span,
                    "subprogram parameters are only read on entry",
                ));
            }
            Op::Call { args, .. } | Op::CallSub { args, .. } if args.len() > 5 => {
                return Err(invalid(
                    inst.span,
                    format!(
                        "a helper call takes at most 5 arguments, not {}",
                        args.len()
                    ),
                ));
            }
            Op::Label(l) => {
                let Some(p) = placed.get_mut(l.0 as usize) else {
                    return Err(invalid(inst.span, format!("unknown label L{}", l.0)));
                };
                if *p {
                    return Err(invalid(inst.span, format!("label L{} placed twice", l.0)));
                }
                *p = true;
            }
            Op::SlotAddr { slot, .. }
            | Op::Load {
                base: Base::Slot(slot),
                ..
            }
            | Op::Store {
                base: Base::Slot(slot),
                ..
            } if slot.0 as usize >= f.slots.len() => {
                return Err(invalid(inst.span, format!("unknown stack slot {}", slot.0)));
            }
            _ => {}
        }
    }
    for inst in &f.insts {
        if let Op::Jmp { target } | Op::JmpIf { target, .. } = &inst.op
            && !placed.get(target.0 as usize).copied().unwrap_or(false)
        {
            return Err(invalid(
                inst.span,
                format!("jump to label L{} that is never placed", target.0),
            ));
        }
    }
    match f.insts.last().map(|i| &i.op) {
        Some(Op::Exit { .. } | Op::Jmp { .. }) => Ok(()),
        _ => Err(invalid(
            f.insts.last().map_or(Span::default(), |i| i.span),
            "the program can run off its end: finish it with an exit",
        )),
    }
}

/// A basic block: instructions `start..end` and its successors.
struct Block {
    start: usize,
    end: usize,
    succs: Vec<usize>,
}

fn blocks(f: &Function) -> Vec<Block> {
    let n = f.insts.len();
    let mut starts = vec![false; n + 1];
    starts[0] = true;
    for (i, inst) in f.insts.iter().enumerate() {
        match inst.op {
            Op::Label(_) => starts[i] = true,
            Op::Jmp { .. } | Op::JmpIf { .. } | Op::Exit { .. } => starts[i + 1] = true,
            _ => {}
        }
    }
    let bounds: Vec<usize> = (0..n).filter(|&i| starts[i]).collect();
    let mut block_of_label = std::collections::HashMap::<Label, usize>::new();
    for (b, &s) in bounds.iter().enumerate() {
        if let Op::Label(l) = f.insts[s].op {
            block_of_label.insert(l, b);
        }
    }
    let mut out = Vec::new();
    for (b, &s) in bounds.iter().enumerate() {
        let e = bounds.get(b + 1).copied().unwrap_or(n);
        let mut succs = Vec::new();
        match &f.insts[e - 1].op {
            Op::Jmp { target } => succs.push(block_of_label[target]),
            Op::JmpIf { target, .. } => {
                succs.push(block_of_label[target]);
                if b + 1 < bounds.len() {
                    succs.push(b + 1);
                }
            }
            Op::Exit { .. } => {}
            _ if b + 1 < bounds.len() => succs.push(b + 1),
            _ => {}
        }
        out.push(Block {
            start: s,
            end: e,
            succs,
        });
    }
    out
}

/// A fixed-size bit set of virtual registers.
#[derive(Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn union(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

/// Live interval of each register as `[start, end]` in positions (instruction `i` reads
/// at `2i` and writes at `2i + 1`), or `None` when it is never mentioned.
fn intervals(f: &Function) -> Result<Vec<Option<(usize, usize)>>, CodegenError> {
    let nv = f.widths.len();
    let blocks = blocks(f);
    let mut gen_ = Vec::new();
    let mut kill = Vec::new();
    for b in &blocks {
        let mut g = Bits::new(nv);
        let mut k = Bits::new(nv);
        for inst in f.insts[b.start..b.end].iter().rev() {
            if let Some(d) = inst.op.def() {
                k.set(d.index());
                g.clear(d.index());
            }
            for u in inst.op.uses() {
                g.set(u.index());
            }
        }
        gen_.push(g);
        kill.push(k);
    }
    let mut live_in = vec![Bits::new(nv); blocks.len()];
    let mut live_out = vec![Bits::new(nv); blocks.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for b in (0..blocks.len()).rev() {
            let mut out = Bits::new(nv);
            for &s in &blocks[b].succs {
                out.union(&live_in[s]);
            }
            let mut inn = out.clone();
            for (w, k) in inn.0.iter_mut().zip(&kill[b].0) {
                *w &= !k;
            }
            inn.union(&gen_[b]);
            if inn != live_in[b] || out != live_out[b] {
                live_in[b] = inn;
                live_out[b] = out;
                changed = true;
            }
        }
    }
    if let Some(v) = live_in.first().and_then(|l| l.iter().next()) {
        let span = f
            .insts
            .iter()
            .find(|i| i.op.uses().contains(&VReg(v as u32)))
            .map_or(Span::default(), |i| i.span);
        return Err(invalid(
            span,
            format!("register v{v} may be read before it is written"),
        ));
    }
    let mut iv: Vec<Option<(usize, usize)>> = vec![None; nv];
    let mut touch = |v: usize, p: usize| {
        let e = iv[v].get_or_insert((p, p));
        e.0 = e.0.min(p);
        e.1 = e.1.max(p);
    };
    for (b, blk) in blocks.iter().enumerate() {
        for v in live_in[b].iter() {
            touch(v, 2 * blk.start);
        }
        for v in live_out[b].iter() {
            touch(v, 2 * blk.end - 1);
        }
        for i in blk.start..blk.end {
            for u in f.insts[i].op.uses() {
                touch(u.index(), 2 * i);
            }
            if let Some(d) = f.insts[i].op.def() {
                touch(d.index(), 2 * i + 1);
            }
        }
    }
    Ok(iv)
}

/// Allocates a location to every virtual register of `f` (which must be valid).
pub fn allocate(f: &Function) -> Result<Allocation, CodegenError> {
    validate(f)?;
    let iv = intervals(f)?;
    let calls: Vec<usize> = f
        .insts
        .iter()
        .enumerate()
        .filter(|(_, i)| i.op.is_call())
        .map(|(i, _)| 2 * i + 1)
        .collect();
    let crosses = |(s, e): (usize, usize)| {
        let k = calls.partition_point(|&c| c <= s);
        calls.get(k).is_some_and(|&c| c < e)
    };
    let mut first_def = vec![Span::default(); f.widths.len()];
    for inst in f.insts.iter().rev() {
        if let Some(d) = inst.op.def() {
            first_def[d.index()] = inst.span;
        }
    }

    // Preferred registers, to save moves: a value whose live range ends as argument k of
    // a call wants r(k+1); a call's result wants r0.
    let mut hint: Vec<Option<Reg>> = vec![None; iv.len()];
    const ARGS: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];
    for (i, inst) in f.insts.iter().enumerate() {
        if let Op::Call { args, ret, .. } | Op::CallSub { args, ret, .. } = &inst.op {
            for (k, a) in args.iter().enumerate() {
                if iv[a.index()].is_some_and(|(_, e)| e == 2 * i) && ANY.contains(&ARGS[k]) {
                    hint[a.index()] = Some(ARGS[k]);
                }
            }
            if let Some(r) = ret {
                hint[r.index()] = Some(Reg::R0);
            }
        }
    }

    // Parameter k arrives in r(k+1): it may stay there, or go to r0, r6-r9 or the stack,
    // but never into another parameter's register before that one is read.
    let mut param_of: Vec<Option<Reg>> = vec![None; iv.len()];
    for inst in &f.insts {
        if let Op::Param { dst, index } = inst.op {
            param_of[dst.index()] = Some(ARGS[index as usize]);
        }
    }

    // A copy of a value that dies at the copy wants the same register (no move).
    let mut copy_of: Vec<Option<usize>> = vec![None; iv.len()];
    for (i, inst) in f.insts.iter().enumerate() {
        if let Op::Mov {
            dst,
            src: crate::ir::Operand::Reg(s),
        } = inst.op
            && iv[s.index()].is_some_and(|(_, e)| e == 2 * i)
            && iv[dst.index()].is_some_and(|(st, _)| st == 2 * i + 1)
        {
            copy_of[dst.index()] = Some(s.index());
        }
    }

    let mut order: Vec<usize> = (0..iv.len()).filter(|&v| iv[v].is_some()).collect();
    order.sort_by_key(|&v| iv[v].map(|x| x.0));
    let mut locs = vec![Loc::Unused; iv.len()];
    // Registers currently holding a value: (end, vreg).
    let mut active: Vec<(usize, usize, Reg)> = Vec::new();
    let mut spilled: Vec<usize> = Vec::new();
    for v in order {
        let (start, end) = iv[v].unwrap_or((0, 0));
        active.retain(|&(e, _, _)| e >= start);
        let wants: &[Reg] = if crosses((start, end)) {
            &CALLEE_SAVED
        } else {
            &ANY
        };
        let own = param_of[v];
        let allowed = |r: &Reg| own.is_none_or(|o| *r == o || !ARGS.contains(r));
        let wants: Vec<Reg> = wants.iter().copied().filter(allowed).collect();
        let wants = &wants[..];
        let hint = &mut hint;
        if own.is_some() {
            hint[v] = own;
        }
        let free = |r: &Reg| !active.iter().any(|&(_, _, a)| a == *r);
        let copied = copy_of[v].and_then(|s| match locs[s] {
            Loc::Reg(r) => Some(r),
            _ => None,
        });
        let hinted = hint[v].or(copied).filter(|h| wants.contains(h) && free(h));
        if let Some(r) = hinted.or_else(|| wants.iter().copied().find(free)) {
            locs[v] = Loc::Reg(r);
            active.push((end, v, r));
            continue;
        }
        // Spill whichever of the candidates' holders or this value ends last.
        let victim = active
            .iter()
            .enumerate()
            .filter(|(_, (_, _, r))| wants.contains(r))
            .max_by_key(|(_, (e, _, _))| *e)
            .map(|(i, &x)| (i, x));
        match victim {
            Some((i, (e, w, r))) if e > end => {
                active.remove(i);
                spilled.push(w);
                locs[v] = Loc::Reg(r);
                active.push((end, v, r));
            }
            _ => spilled.push(v),
        }
    }

    // Spill slots, shared by values whose intervals do not overlap.
    spilled.sort_by_key(|&v| iv[v].map(|x| x.0));
    let mut slot_ends: Vec<usize> = Vec::new();
    let mut spill_spans = Vec::new();
    for v in spilled {
        let (s, e) = iv[v].unwrap_or((0, 0));
        let slot = match slot_ends.iter().position(|&end| end < s) {
            Some(k) => {
                slot_ends[k] = e;
                k
            }
            None => {
                slot_ends.push(e);
                spill_spans.push(first_def[v]);
                slot_ends.len() - 1
            }
        };
        locs[v] = Loc::Spill(slot as u32);
    }
    Ok(Allocation { locs, spill_spans })
}
