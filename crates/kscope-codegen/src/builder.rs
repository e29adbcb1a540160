//! The builder the AST-lowering pass calls: it appends IR instructions, each tagged with
//! the current span, and hands out fresh virtual registers, labels and stack slots.

use crate::ir::{
    AluOp, Base, FuncId, Function, Inst, JmpOp, Label, MapId, Op, Operand, Size, Slot, SlotDecl,
    Span, VReg, Width,
};

/// Builds one [`Function`]. Instructions get the span set by [`Builder::set_span`] (or
/// [`Builder::with_span`]); nothing is checked until [`crate::compile`].
#[derive(Debug)]
pub struct Builder {
    f: Function,
    span: Span,
    ctx: VReg,
    params: Vec<VReg>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A new function whose first instruction saves the context pointer (`r1` on entry)
    /// in the register [`Builder::ctx`] returns.
    pub fn new() -> Builder {
        let mut b = Builder {
            f: Function::default(),
            span: Span::default(),
            ctx: VReg(0),
            params: Vec::new(),
        };
        let ctx = b.vreg(Width::W64);
        b.push(Op::Ctx { dst: ctx });
        b.ctx = ctx;
        b
    }

    /// A new subprogram taking `nparams` (at most 5) 64-bit parameters, read with
    /// [`Builder::params`]; it returns with [`Builder::exit`]. Its [`Builder::ctx`] is its
    /// first parameter.
    pub fn subprogram(nparams: u8) -> Builder {
        let mut b = Builder {
            f: Function::default(),
            span: Span::default(),
            ctx: VReg(0),
            params: Vec::new(),
        };
        for index in 0..nparams {
            let dst = b.vreg(Width::W64);
            b.push(Op::Param { dst, index });
            b.params.push(dst);
        }
        if let Some(&p) = b.params.first() {
            b.ctx = p;
        } else {
            b.ctx = b.vreg(Width::W64);
        }
        b
    }

    /// The registers holding a subprogram's parameters (empty for the entry function).
    pub fn params(&self) -> &[VReg] {
        &self.params
    }

    /// The span given to the instructions appended from now on.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

    /// The current span.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Runs `f` with `span` as the current span, then restores the previous one.
    pub fn with_span<T>(&mut self, span: Span, f: impl FnOnce(&mut Builder) -> T) -> T {
        let old = std::mem::replace(&mut self.span, span);
        let out = f(self);
        self.span = old;
        out
    }

    /// The register holding the program's context pointer.
    pub fn ctx(&self) -> VReg {
        self.ctx
    }

    /// Makes `r` the register [`Builder::ctx`] returns from now on: a callback
    /// subprogram that reloads the program's context pointer from its caller's stack.
    pub fn set_ctx(&mut self, r: VReg) {
        self.ctx = r;
    }

    /// A fresh virtual register of width `w`.
    pub fn vreg(&mut self, w: Width) -> VReg {
        self.f.widths.push(w);
        VReg(self.f.widths.len() as u32 - 1)
    }

    /// The width a register was created with.
    pub fn width(&self, r: VReg) -> Width {
        self.f.widths[r.index()]
    }

    /// A fresh label; place it with [`Builder::place`].
    pub fn label(&mut self) -> Label {
        self.f.labels += 1;
        Label(self.f.labels - 1)
    }

    /// Starts a new basic block at `l`.
    pub fn place(&mut self, l: Label) {
        self.push(Op::Label(l));
    }

    /// A stack slot of `size` bytes (laid out 8-byte aligned), charged to the current span.
    pub fn slot(&mut self, size: u32) -> Slot {
        self.f.slots.push(SlotDecl {
            size,
            span: self.span,
        });
        Slot(self.f.slots.len() as u32 - 1)
    }

    /// Appends a raw operation.
    pub fn push(&mut self, op: Op) {
        self.f.insts.push(Inst {
            op,
            span: self.span,
        });
    }

    /// A new 64-bit register holding `v` (a `mov` when it fits 32 bits, else `ld_imm64`).
    pub fn imm(&mut self, v: i64) -> VReg {
        let dst = self.vreg(Width::W64);
        self.set_imm(dst, v);
        dst
    }

    /// `dst = v` for any 64-bit constant.
    pub fn set_imm(&mut self, dst: VReg, v: i64) {
        match i32::try_from(v) {
            Ok(i) => self.push(Op::Mov {
                dst,
                src: Operand::Imm(i),
            }),
            Err(_) => self.push(Op::LdImm64 { dst, imm: v as u64 }),
        }
    }

    /// `dst = src`.
    pub fn mov(&mut self, dst: VReg, src: impl Into<Operand>) {
        self.push(Op::Mov {
            dst,
            src: src.into(),
        });
    }

    /// A new register with the value of `src`, of the same width.
    pub fn copy(&mut self, src: VReg) -> VReg {
        let dst = self.vreg(self.width(src));
        self.mov(dst, src);
        dst
    }

    /// `dst op= src` (64-bit).
    pub fn alu(&mut self, op: AluOp, dst: VReg, src: impl Into<Operand>) {
        self.push(Op::Alu {
            op,
            alu32: false,
            dst,
            src: src.into(),
        });
    }

    /// `dst op= src` on the low 32 bits; the upper half of `dst` becomes 0.
    pub fn alu32(&mut self, op: AluOp, dst: VReg, src: impl Into<Operand>) {
        self.push(Op::Alu {
            op,
            alu32: true,
            dst,
            src: src.into(),
        });
    }

    /// A new 64-bit register `a op b`.
    pub fn binop(&mut self, op: AluOp, a: VReg, b: impl Into<Operand>) -> VReg {
        let dst = self.vreg(Width::W64);
        self.mov(dst, a);
        self.alu(op, dst, b);
        dst
    }

    /// A new register with `v` zero-extended from width `w`.
    pub fn zext(&mut self, v: VReg, w: Width) -> VReg {
        let dst = self.vreg(Width::W64);
        self.mov(dst, v);
        match w {
            Width::W64 => {}
            Width::W32 => self.alu32(AluOp::Mov, dst, dst),
            Width::W16 => self.alu(AluOp::And, dst, 0xffff),
            Width::W8 => self.alu(AluOp::And, dst, 0xff),
        }
        dst
    }

    /// A new register with `v` sign-extended from width `w`.
    pub fn sext(&mut self, v: VReg, w: Width) -> VReg {
        let dst = self.vreg(Width::W64);
        self.mov(dst, v);
        let shift = 64 - 8 * w.bytes() as i32;
        if shift > 0 {
            self.alu(AluOp::Lsh, dst, shift);
            self.alu(AluOp::Arsh, dst, shift);
        }
        dst
    }

    /// A new register loaded from `*(size *)(base + off)`.
    pub fn load(&mut self, size: Size, base: Base, off: i16) -> VReg {
        let dst = self.vreg(Width::of_size(size));
        self.push(Op::Load {
            size,
            dst,
            base,
            off,
        });
        dst
    }

    /// `*(size *)(base + off) = src`.
    pub fn store(&mut self, size: Size, base: Base, off: i16, src: impl Into<Operand>) {
        self.push(Op::Store {
            size,
            base,
            off,
            src: src.into(),
        });
    }

    /// Zeroes `len` bytes of `slot` from byte `off` (8-byte stores where aligned).
    pub fn zero_slot(&mut self, slot: Slot, off: i16, len: u32) {
        let mut at = 0u32;
        while at < len {
            let left = len - at;
            let pos = off as i32 + at as i32;
            let size = if left >= 8 && pos % 8 == 0 {
                Size::DW
            } else if left >= 4 && pos % 4 == 0 {
                Size::W
            } else if left >= 2 && pos % 2 == 0 {
                Size::H
            } else {
                Size::B
            };
            self.store(size, Base::Slot(slot), pos as i16, 0);
            at += size.bytes();
        }
    }

    /// A new register pointing at byte `off` of `slot`.
    pub fn slot_addr(&mut self, slot: Slot, off: i16) -> VReg {
        let dst = self.vreg(Width::W64);
        self.push(Op::SlotAddr { dst, slot, off });
        dst
    }

    /// A new register holding the address of `map` (for helper calls).
    pub fn map_ptr(&mut self, map: MapId) -> VReg {
        let dst = self.vreg(Width::W64);
        self.push(Op::LdMap { dst, map });
        dst
    }

    /// A new register holding the address of byte `off` of entry 0 of the array map `map`.
    pub fn map_value_ptr(&mut self, map: MapId, off: u32) -> VReg {
        let dst = self.vreg(Width::W64);
        self.push(Op::LdMapValue { dst, map, off });
        dst
    }

    /// A new register holding the address of the kernel variable with vmlinux BTF id
    /// `btf_id` (for `bpf_this_cpu_ptr`/`bpf_per_cpu_ptr`).
    pub fn btf_var_addr(&mut self, btf_id: u32) -> VReg {
        let dst = self.vreg(Width::W64);
        self.push(Op::LdBtfVar { dst, btf_id });
        dst
    }

    /// A new register holding the address of subprogram `func`, to pass as a helper's
    /// callback (`bpf_for_each_map_elem`'s second argument).
    pub fn func_ptr(&mut self, func: FuncId) -> VReg {
        let dst = self.vreg(Width::W64);
        self.push(Op::LdFunc { dst, func });
        dst
    }

    /// Calls helper `helper` with up to five arguments; returns its result (`r0`).
    pub fn call(&mut self, helper: u32, args: &[VReg]) -> VReg {
        let ret = self.vreg(Width::W64);
        self.push(Op::Call {
            helper,
            kfunc: false,
            args: args.to_vec(),
            ret: Some(ret),
        });
        ret
    }

    /// Calls the kernel function (kfunc) with vmlinux BTF `FUNC` id `btf_id` and up to
    /// five arguments; returns its result (`r0`).
    pub fn call_kfunc(&mut self, btf_id: u32, args: &[VReg]) -> VReg {
        let ret = self.vreg(Width::W64);
        self.push(Op::Call {
            helper: btf_id,
            kfunc: true,
            args: args.to_vec(),
            ret: Some(ret),
        });
        ret
    }

    /// Calls helper `helper` and ignores its result.
    pub fn call_void(&mut self, helper: u32, args: &[VReg]) {
        self.push(Op::Call {
            helper,
            kfunc: false,
            args: args.to_vec(),
            ret: None,
        });
    }

    /// Calls subprogram `func` with up to five arguments; returns its result (`r0`).
    pub fn call_sub(&mut self, func: FuncId, args: &[VReg]) -> VReg {
        let ret = self.vreg(Width::W64);
        self.push(Op::CallSub {
            func,
            args: args.to_vec(),
            ret: Some(ret),
        });
        ret
    }

    /// `goto l`.
    pub fn jmp(&mut self, l: Label) {
        self.push(Op::Jmp { target: l });
    }

    /// `if a op b goto l`.
    pub fn jmp_if(&mut self, op: JmpOp, a: VReg, b: impl Into<Operand>, l: Label) {
        self.push(Op::JmpIf {
            op,
            a,
            b: b.into(),
            target: l,
        });
    }

    /// Returns `value` from the program.
    pub fn exit(&mut self, value: impl Into<Operand>) {
        self.push(Op::Exit {
            value: value.into(),
        });
    }

    /// Records a problem found while lowering at the current span; [`crate::compile`]
    /// reports the first one instead of compiling.
    pub fn error(&mut self, reason: impl Into<String>) {
        self.f.errors.push((self.span, reason.into()));
    }

    /// The function built so far.
    pub fn function(&self) -> &Function {
        &self.f
    }

    /// Ends building.
    pub fn finish(self) -> Function {
        self.f
    }
}
