//! Emission: allocated IR to kscope-bpf instructions, with the stack frame laid out,
//! spill code, helper-call argument moves, jump offsets and map fds filled in, and the
//! span of every instruction kept.

use std::collections::HashMap;

use kscope_bpf::Insn;
use kscope_bpf::insn::{AluOp, Reg, Size};

use crate::CodegenError;
use crate::ir::{Base, FuncId, Function, Label, MapId, Op, Operand, Span, VReg};
use crate::regalloc::{Allocation, Loc, SCRATCH1, SCRATCH2, allocate};

/// The kernel's limit on a BPF program's stack, in bytes.
pub const MAX_STACK: u32 = 512;

/// A compiled program: instructions, the span of each, and what was needed to get there.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The instructions (an `ld_imm64` takes two).
    pub insns: Vec<Insn>,
    /// The span of each instruction, by index.
    pub spans: Vec<Span>,
    /// Bytes of stack used (locals and spill slots).
    pub stack_size: u32,
    /// Instruction indexes of `ld_imm64` map loads, with the map each loads.
    pub map_relocs: Vec<(usize, MapId)>,
    /// How many virtual registers were spilled to the stack.
    pub spilled: usize,
    /// The first instruction of each function (the entry point first, then the
    /// subprograms in emission order); more than one entry means the program is loaded
    /// with its own BTF `func_info` (see [`crate::btf`]).
    pub func_starts: Vec<usize>,
    /// The number of parameters of each function, in the order of `func_starts`.
    pub func_params: Vec<u8>,
}

/// Where a stack slot or spill slot sits: its offset from `r10`.
#[allow(clippy::type_complexity)]
fn layout(
    f: &Function,
    alloc: &Allocation,
) -> Result<(Vec<i16>, Vec<i16>, u32, (Span, u32)), CodegenError> {
    let mut per_span: HashMap<Span, u32> = HashMap::new();
    let sizes: Vec<u32> = f
        .slots
        .iter()
        .map(|s| s.size.max(1).div_ceil(8) * 8)
        .collect();
    for (s, &size) in f.slots.iter().zip(&sizes) {
        *per_span.entry(s.span).or_default() += size;
    }
    // Slots whose lifetimes do not overlap share bytes.
    let (ends, mut used) = crate::stack::assign(&sizes, &crate::stack::lifetimes(f));
    let slot_off: Vec<i16> = ends
        .iter()
        .map(|&e| -(e.min(i16::MAX as u32) as i32) as i16)
        .collect();
    let mut spill_off = Vec::new();
    for &span in &alloc.spill_spans {
        used = used.saturating_add(8);
        *per_span.entry(span).or_default() += 8;
        spill_off.push(-(used.min(i16::MAX as u32) as i32) as i16);
    }
    let biggest = per_span
        .into_iter()
        .max_by_key(|&(s, b)| (b, std::cmp::Reverse((s.start, s.end))))
        .unwrap_or_default();
    if used > MAX_STACK {
        return Err(CodegenError::StackTooLarge {
            used,
            span: biggest.0,
            bytes: biggest.1,
        });
    }
    Ok((slot_off, spill_off, used, biggest))
}

struct Emitter<'a> {
    alloc: &'a Allocation,
    slot_off: Vec<i16>,
    spill_off: Vec<i16>,
    out: Vec<Insn>,
    spans: Vec<Span>,
    span: Span,
    labels: HashMap<Label, usize>,
    fixups: Vec<(usize, Label)>,
    relocs: Vec<(usize, MapId)>,
    sub_calls: Vec<(usize, FuncId)>,
    poison: bool,
    /// The program never reads its context: no need to save `r1`.
    unused_ctx: bool,
}

impl Emitter<'_> {
    fn put(&mut self, i: Insn) {
        self.out.push(i);
        self.spans.push(self.span);
    }

    fn put2(&mut self, pair: [Insn; 2]) {
        self.put(pair[0]);
        self.put(pair[1]);
    }

    fn loc(&self, v: VReg) -> Loc {
        self.alloc.locs[v.index()]
    }

    fn stack_of(&self, slot: u32) -> i16 {
        self.spill_off[slot as usize]
    }

    /// The register holding `v`, reloading it into `scratch` if it is spilled.
    fn read(&mut self, v: VReg, scratch: Reg) -> Reg {
        match self.loc(v) {
            Loc::Reg(r) => r,
            Loc::Spill(s) => {
                let off = self.stack_of(s);
                self.put(Insn::ldx_mem(Size::DW, scratch, Reg::R10, off));
                scratch
            }
            Loc::Unused => scratch,
        }
    }

    /// The register to compute `v` into (`scratch` if it is spilled).
    fn target(&self, v: VReg, scratch: Reg) -> Reg {
        match self.loc(v) {
            Loc::Reg(r) => r,
            _ => scratch,
        }
    }

    /// Stores `v` back to its spill slot after it was computed into `r`.
    fn flush(&mut self, v: VReg, r: Reg) {
        if let Loc::Spill(s) = self.loc(v) {
            let off = self.stack_of(s);
            self.put(Insn::stx_mem(Size::DW, Reg::R10, r, off));
        }
    }

    fn mov(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            self.put(Insn::mov64_reg(dst, src));
        }
    }

    fn jump_to(&mut self, insn: Insn, l: Label) {
        self.fixups.push((self.out.len(), l));
        self.put(insn);
    }

    /// Moves the arguments of a call into `r1`… as one parallel move.
    fn call_args(&mut self, args: &[VReg]) {
        const ARG: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];
        let mut pending: Vec<(Reg, Reg)> = Vec::new();
        let mut from_stack: Vec<(Reg, i16)> = Vec::new();
        for (k, &a) in args.iter().enumerate() {
            match self.loc(a) {
                Loc::Reg(r) if r != ARG[k] => pending.push((ARG[k], r)),
                Loc::Reg(_) | Loc::Unused => {}
                Loc::Spill(s) => from_stack.push((ARG[k], self.stack_of(s))),
            }
        }
        while !pending.is_empty() {
            let ready = pending
                .iter()
                .position(|&(d, _)| !pending.iter().any(|&(_, s)| s == d));
            match ready {
                Some(i) => {
                    let (d, s) = pending.remove(i);
                    self.mov(d, s);
                }
                None => {
                    // Only cycles among r1-r5 are left; r0 is free (it is never an
                    // argument register, and moves out of it were not blocked).
                    let s = pending[0].1;
                    self.mov(Reg::R0, s);
                    for p in pending.iter_mut() {
                        if p.1 == s {
                            p.1 = Reg::R0;
                        }
                    }
                }
            }
        }
        for (d, off) in from_stack {
            self.put(Insn::ldx_mem(Size::DW, d, Reg::R10, off));
        }
    }

    fn inst(&mut self, op: &Op, maps: &dyn Fn(MapId) -> Option<i32>) -> Result<(), CodegenError> {
        match op {
            Op::Param { dst, index } => {
                const ARGS: [Reg; 5] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5];
                let src = ARGS[*index as usize];
                let d = self.target(*dst, src);
                self.mov(d, src);
                self.flush(*dst, d);
            }
            Op::CallSub { func, args, ret } => {
                self.call_args(args);
                self.sub_calls.push((self.out.len(), *func));
                self.put(Insn::new(
                    kscope_bpf::insn::op::JMP | kscope_bpf::insn::op::CALL,
                    0,
                    PSEUDO_CALL,
                    0,
                    0,
                ));
                if let Some(r) = ret {
                    let d = self.target(*r, Reg::R0);
                    self.mov(d, Reg::R0);
                    self.flush(*r, d);
                }
            }
            Op::LdFunc { dst, func } => {
                let d = self.target(*dst, SCRATCH1);
                self.sub_calls.push((self.out.len(), *func));
                let mut pair = Insn::ld_imm64(d, 0);
                pair[0].src = kscope_bpf::insn::PSEUDO_FUNC;
                self.put2(pair);
                self.flush(*dst, d);
            }
            Op::LdBtfVar { dst, btf_id } => {
                let d = self.target(*dst, SCRATCH1);
                // The second half's immediate is the BTF object fd: 0 for vmlinux.
                let mut pair = Insn::ld_imm64(d, u64::from(*btf_id));
                pair[0].src = kscope_bpf::insn::PSEUDO_BTF_ID;
                self.put2(pair);
                self.flush(*dst, d);
            }
            Op::Ctx { dst } if self.unused_ctx => {
                let _ = dst;
            }
            Op::Ctx { dst } => {
                let d = self.target(*dst, SCRATCH1);
                self.mov(d, Reg::R1);
                self.flush(*dst, d);
            }
            Op::Mov { dst, src } => match (*src, self.loc(*dst)) {
                (Operand::Imm(i), Loc::Spill(s)) => {
                    let off = self.stack_of(s);
                    self.put(Insn::st_mem(Size::DW, Reg::R10, off, i));
                }
                (Operand::Imm(i), _) => {
                    let d = self.target(*dst, SCRATCH1);
                    self.put(Insn::mov64_imm(d, i));
                }
                (Operand::Reg(s), _) => {
                    let sr = self.read(s, SCRATCH1);
                    let d = self.target(*dst, sr);
                    self.mov(d, sr);
                    self.flush(*dst, d);
                }
            },
            Op::LdImm64 { dst, imm } => {
                let d = self.target(*dst, SCRATCH1);
                self.put2(Insn::ld_imm64(d, *imm));
                self.flush(*dst, d);
            }
            Op::LdMap { dst, map } | Op::LdMapValue { dst, map, .. } => {
                let fd = maps(*map).ok_or(CodegenError::UnknownMap {
                    map: *map,
                    span: self.span,
                })?;
                let d = self.target(*dst, SCRATCH1);
                self.relocs.push((self.out.len(), *map));
                self.put2(match op {
                    Op::LdMapValue { off, .. } => Insn::ld_map_value(d, fd, *off),
                    _ => Insn::ld_map_fd(d, fd),
                });
                self.flush(*dst, d);
            }
            Op::Alu {
                op,
                alu32,
                dst,
                src,
            } => {
                let d = self.read(*dst, SCRATCH1);
                let shift_limit = if *alu32 { 32 } else { 64 };
                match (*op, *src) {
                    (AluOp::Div, Operand::Imm(0)) => self.put(Insn::mov64_imm(d, 0)),
                    // The kernel's semantics of a modulo by zero: dst unchanged (its low
                    // half, for a 32-bit operation).
                    (AluOp::Mod, Operand::Imm(0)) => {
                        if *alu32 {
                            self.put(Insn::alu32_reg(AluOp::Mov, d, d));
                        }
                    }
                    (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Operand::Imm(i))
                        if !(0..shift_limit).contains(&i) =>
                    {
                        return Err(CodegenError::InvalidIr {
                            span: self.span,
                            reason: format!("shift by {i} bits is out of range"),
                        });
                    }
                    (op, Operand::Imm(i)) => self.put(if *alu32 {
                        Insn::alu32_imm(op, d, i)
                    } else {
                        Insn::alu64_imm(op, d, i)
                    }),
                    (op, Operand::Reg(s)) => {
                        let sr = self.read(s, SCRATCH2);
                        self.put(if *alu32 {
                            Insn::alu32_reg(op, d, sr)
                        } else {
                            Insn::alu64_reg(op, d, sr)
                        });
                    }
                }
                self.flush(*dst, d);
            }
            Op::Load {
                size,
                dst,
                base,
                off,
            } => {
                let (b, o) = self.base(*base, *off, SCRATCH2)?;
                let d = self.target(*dst, SCRATCH1);
                self.put(Insn::ldx_mem(*size, d, b, o));
                self.flush(*dst, d);
            }
            Op::Store {
                size,
                base,
                off,
                src,
            } => {
                let (b, o) = self.base(*base, *off, SCRATCH1)?;
                match *src {
                    Operand::Imm(i) => self.put(Insn::st_mem(*size, b, o, i)),
                    Operand::Reg(s) => {
                        let sr = self.read(s, SCRATCH2);
                        self.put(Insn::stx_mem(*size, b, sr, o));
                    }
                }
            }
            Op::SlotAddr { dst, slot, off } => {
                let at = self.slot_off[slot.0 as usize] as i32 + *off as i32;
                let d = self.target(*dst, SCRATCH1);
                self.put(Insn::mov64_reg(d, Reg::R10));
                self.put(Insn::alu64_imm(AluOp::Add, d, at));
                self.flush(*dst, d);
            }
            Op::Call {
                helper,
                kfunc,
                args,
                ret,
            } => {
                self.call_args(args);
                self.put(if *kfunc {
                    Insn::call_kfunc(*helper)
                } else {
                    Insn::call(*helper)
                });
                if self.poison {
                    for r in [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5] {
                        self.put(Insn::mov64_imm(r, POISON));
                    }
                }
                if let Some(r) = ret {
                    let d = self.target(*r, Reg::R0);
                    self.mov(d, Reg::R0);
                    self.flush(*r, d);
                }
            }
            Op::Jmp { target } => self.jump_to(Insn::ja(0), *target),
            Op::JmpIf { op, a, b, target } => {
                let ar = self.read(*a, SCRATCH1);
                let insn = match *b {
                    Operand::Imm(i) => Insn::jmp_imm(*op, ar, i, 0),
                    Operand::Reg(s) => {
                        let br = self.read(s, SCRATCH2);
                        Insn::jmp_reg(*op, ar, br, 0)
                    }
                };
                self.jump_to(insn, *target);
            }
            Op::Label(l) => {
                self.labels.insert(*l, self.out.len());
            }
            Op::Exit { value } => {
                match *value {
                    Operand::Imm(i) => self.put(Insn::mov64_imm(Reg::R0, i)),
                    Operand::Reg(v) => {
                        let r = self.read(v, Reg::R0);
                        self.mov(Reg::R0, r);
                    }
                }
                self.put(Insn::exit());
            }
        }
        Ok(())
    }

    /// The base register and displacement of a memory access.
    fn base(&mut self, base: Base, off: i16, scratch: Reg) -> Result<(Reg, i16), CodegenError> {
        match base {
            Base::Reg(r) => Ok((self.read(r, scratch), off)),
            Base::Slot(s) => {
                let at = self.slot_off[s.0 as usize] as i32 + off as i32;
                let at = i16::try_from(at).map_err(|_| CodegenError::InvalidIr {
                    span: self.span,
                    reason: format!("stack offset {at} is out of range"),
                })?;
                Ok((Reg::R10, at))
            }
        }
    }
}

/// Options of [`compile_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// After every helper call, overwrite `r1`–`r5` with a poison value, as the calling
    /// convention allows the kernel to. For user-space interpreters whose helpers leave
    /// those registers alone, so that tests catch values wrongly kept there.
    pub poison_after_calls: bool,
}

/// The value [`Options::poison_after_calls`] writes.
pub const POISON: i32 = 0x0bad_c0de;

/// Allocates registers for `f`, lays out its stack and emits it. `maps` gives the fd of
/// each map the function loads (it can be a placeholder for a dry run; the relocations
/// in [`Compiled::map_relocs`] say where to patch).
pub fn compile(
    f: &Function,
    maps: &dyn Fn(MapId) -> Option<i32>,
) -> Result<Compiled, CodegenError> {
    compile_with(f, maps, &Options::default())
}

/// [`compile`] with [`Options`].
pub fn compile_with(
    f: &Function,
    maps: &dyn Fn(MapId) -> Option<i32>,
    opts: &Options,
) -> Result<Compiled, CodegenError> {
    compile_program(std::slice::from_ref(f), maps, opts)
}

/// `src_reg` of a call instruction that calls a BPF-to-BPF subprogram
/// (`BPF_PSEUDO_CALL`); its immediate is the distance to the callee.
pub const PSEUDO_CALL: u8 = 1;

/// One function, emitted on its own.
struct Emitted {
    out: Vec<Insn>,
    spans: Vec<Span>,
    relocs: Vec<(usize, MapId)>,
    sub_calls: Vec<(usize, FuncId)>,
    frame: u32,
    biggest: (Span, u32),
    spilled: usize,
}

fn emit_function(
    f: &Function,
    maps: &dyn Fn(MapId) -> Option<i32>,
    opts: &Options,
) -> Result<Emitted, CodegenError> {
    let alloc = allocate(f)?;
    let (slot_off, spill_off, frame, biggest) = layout(f, &alloc)?;
    let mut e = Emitter {
        alloc: &alloc,
        slot_off,
        spill_off,
        out: Vec::new(),
        spans: Vec::new(),
        span: Span::default(),
        labels: HashMap::new(),
        fixups: Vec::new(),
        relocs: Vec::new(),
        sub_calls: Vec::new(),
        poison: opts.poison_after_calls,
        unused_ctx: !f.insts.iter().any(|i| {
            i.op.uses().iter().any(
                |u| matches!(f.insts.first().map(|c| &c.op), Some(Op::Ctx { dst }) if dst == u),
            )
        }),
    };
    for inst in &f.insts {
        e.span = inst.span;
        e.inst(&inst.op, maps)?;
    }
    for &(at, l) in &e.fixups {
        let target = e.labels[&l];
        let off = target as i64 - at as i64 - 1;
        let off = i16::try_from(off).map_err(|_| CodegenError::JumpTooFar {
            span: e.spans[at],
            distance: off,
        })?;
        e.out[at].off = off;
    }
    Ok(Emitted {
        out: e.out,
        spans: e.spans,
        relocs: e.relocs,
        sub_calls: e.sub_calls,
        frame,
        biggest,
        spilled: alloc.spilled(),
    })
}

/// The verifier's size of a frame in a call chain: rounded up to 32 bytes.
fn chain_frame(frame: u32) -> u32 {
    frame.max(1).div_ceil(32) * 32
}

/// Compiles a program of several functions: `funcs[0]` is the entry point (built with
/// [`crate::Builder::new`]); the others are subprograms (built with
/// [`crate::Builder::subprogram`]) that it calls with [`crate::Builder::call_sub`] as
/// `FuncId(i)`. Subprograms no one calls are left out (the verifier refuses unreachable
/// code); recursion is an error (BPF has none). The stack limit applies to the deepest
/// chain of calls, each frame rounded up to 32 bytes as the verifier does.
pub fn compile_program(
    funcs: &[Function],
    maps: &dyn Fn(MapId) -> Option<i32>,
    opts: &Options,
) -> Result<Compiled, CodegenError> {
    let Some(main) = funcs.first() else {
        return Err(CodegenError::InvalidIr {
            span: Span::default(),
            reason: "a program needs at least one function".into(),
        });
    };
    let _ = main;
    let mut emitted: Vec<Option<Emitted>> = funcs.iter().map(|_| None).collect();
    // Emit the functions reachable from the entry point, in discovery order.
    let mut order = vec![0usize];
    let mut k = 0;
    while k < order.len() {
        let i = order[k];
        let em = emit_function(&funcs[i], maps, opts)?;
        for &(at, FuncId(callee)) in &em.sub_calls {
            let c = callee as usize;
            if c >= funcs.len() || c == 0 {
                return Err(CodegenError::InvalidIr {
                    span: em.spans[at],
                    reason: format!("call to unknown subprogram {callee}"),
                });
            }
            if !order.contains(&c) {
                order.push(c);
            }
        }
        emitted[i] = Some(em);
        k += 1;
    }
    let get = |i: usize| emitted[i].as_ref().expect("emitted above");

    // Deepest stack over call chains (and no recursion).
    fn depth(
        i: usize,
        get: &dyn Fn(usize) -> (u32, (Span, u32), Vec<usize>, Span),
        on_path: &mut Vec<usize>,
    ) -> Result<(u32, (Span, u32)), CodegenError> {
        let (frame, biggest, callees, span) = get(i);
        if on_path.contains(&i) {
            return Err(CodegenError::InvalidIr {
                span,
                reason: "subprograms call each other recursively, which BPF cannot do".into(),
            });
        }
        on_path.push(i);
        let mut worst = (0, (Span::default(), 0));
        for c in callees {
            let d = depth(c, get, on_path)?;
            if d.0 > worst.0 {
                worst = d;
            }
        }
        on_path.pop();
        let frame = if on_path.is_empty() && worst.0 == 0 {
            frame
        } else {
            chain_frame(frame)
        };
        let big = if biggest.1 >= worst.1.1 {
            biggest
        } else {
            worst.1
        };
        Ok((frame + worst.0, big))
    }
    let info = |i: usize| {
        let e = get(i);
        let callees = e.sub_calls.iter().map(|&(_, f)| f.0 as usize).collect();
        let span = e
            .sub_calls
            .first()
            .map_or(Span::default(), |&(at, _)| e.spans[at]);
        (e.frame, e.biggest, callees, span)
    };
    let (stack_size, (span, bytes)) = depth(0, &info, &mut Vec::new())?;
    if stack_size > MAX_STACK {
        return Err(CodegenError::StackTooLarge {
            used: stack_size,
            span,
            bytes,
        });
    }

    let mut out = Compiled {
        insns: Vec::new(),
        spans: Vec::new(),
        stack_size,
        map_relocs: Vec::new(),
        spilled: 0,
        func_starts: Vec::new(),
        func_params: Vec::new(),
    };
    let mut start = HashMap::new();
    let mut calls = Vec::new();
    for &i in &order {
        let e = get(i);
        let base = out.insns.len();
        start.insert(i, base);
        out.func_starts.push(base);
        out.func_params.push(if i == 0 {
            1
        } else {
            funcs[i]
                .insts
                .iter()
                .filter(|x| matches!(x.op, Op::Param { .. }))
                .count() as u8
        });
        out.insns.extend(&e.out);
        out.spans.extend(&e.spans);
        out.map_relocs
            .extend(e.relocs.iter().map(|&(at, m)| (at + base, m)));
        calls.extend(e.sub_calls.iter().map(|&(at, f)| (at + base, f.0 as usize)));
        out.spilled += e.spilled;
    }
    for (at, callee) in calls {
        out.insns[at].imm = (start[&callee] as i64 - at as i64 - 1) as i32;
    }
    Ok(out)
}
