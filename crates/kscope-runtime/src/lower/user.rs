//! Stacks and user symbols: `kstack`/`ustack` with their modes and limits, `usym()`, and
//! the pid word that user values carry (their symbols are per process).

use kscope_codegen::VReg;
use kscope_codegen::Width;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Field};
use kscope_lang::ast::{Expr, ExprKind};

use super::*;
use crate::plan::{
    Message, STACK_DEPTH, STACK_FRAMES_SHIFT, STACK_MODE_BPFTRACE, STACK_MODE_BUILD_ID,
    STACK_MODE_PERF, STACK_MODE_RAW, StackWord,
};

/// `BPF_F_USER_STACK`: `bpf_get_stackid` walks the user stack.
const BPF_F_USER_STACK: i64 = 1 << 8;
/// `bpf_get_stack(ctx, buf, size, flags)`: the frames themselves, into `buf`.
const HELPER_GET_STACK: u32 = 67;

/// A stack mode by name, as [`StackWord::mode`] stores it.
fn stack_mode(name: &str) -> Option<u8> {
    match name {
        "bpftrace" => Some(STACK_MODE_BPFTRACE),
        "perf" => Some(STACK_MODE_PERF),
        "raw" => Some(STACK_MODE_RAW),
        "build_id" => Some(STACK_MODE_BUILD_ID),
        _ => None,
    }
}

impl Lowerer<'_> {
    /// `kstack`, `ustack`, `kstack(mode)`, `ustack(limit)`, `ustack(mode, limit)`: the
    /// stack word ([`StackWord`]) from `bpf_get_stackid` on the stack map of that
    /// kind and depth (of build ids for `ustack(build_id)`), with its frames counted
    /// when the script takes `len()` of a stack of this kind.
    pub(super) fn stack(&mut self, user: bool, args: &[Expr], e: &Expr) -> Option<V> {
        // `config = { stack_mode = perf }` sets the mode of a stack that names none.
        let mut mode = match self.checked.program.config_value("stack_mode") {
            Some(v) => match v.text().and_then(stack_mode) {
                Some(m) => m,
                None => {
                    self.not_built(e.span, format!("the stack mode {v:?}"));
                    return None;
                }
            },
            None => 0u8,
        };
        let mut limit = 0u16;
        for a in args {
            match &a.kind {
                ExprKind::Ident(m) => match stack_mode(m) {
                    Some(m) => mode = m,
                    None => {
                        self.not_built(a.span, format!("the stack mode `{m}`"));
                        return None;
                    }
                },
                ExprKind::Int(n) => limit = (*n).min(u64::from(crate::plan::STACK_DEPTH)) as u16,
                _ => {
                    self.not_built(a.span, "a stack limit that is not a literal");
                    return None;
                }
            }
        }
        // A bare `kstack` under `stack_mode = build_id` prints raw, as upstream's (the
        // checker warned; `kstack(build_id)` is an error there).
        if !user && mode == STACK_MODE_BUILD_ID {
            mode = STACK_MODE_RAW;
        }
        let build_id = mode == STACK_MODE_BUILD_ID;
        let map = self.plan.stack_map(user, u32::from(limit), build_id);
        self.span(e.span);
        let c = self.b.ctx();
        let m = self.b.map_ptr(map);
        let flags = self.b.imm(if user { BPF_F_USER_STACK } else { 0 });
        let id = self.b.call(HELPER_GET_STACKID, &[c, m, flags]);
        // The low 32 bits: an error code becomes an id above any the map holds.
        self.b.alu32(AluOp::Mov, id, id);
        let high = StackWord::high_bits(mode, limit);
        if high != 0 {
            let h = self.b.imm(high as i64);
            self.b.alu(AluOp::Or, id, h);
        }
        let counted = if user {
            self.checked.len_of_ustack
        } else {
            self.checked.len_of_kstack
        };
        if counted {
            let depth = StackWord::decode(high).depth();
            let n = self.stack_frames(user, depth);
            self.b.alu(AluOp::Or, id, n);
        }
        Some(V::Int(id))
    }

    /// The number of frames of the current kernel or `user` stack, at most `depth`,
    /// shifted to [`STACK_FRAMES_SHIFT`]: `bpf_get_stack` into the per-CPU frame buffer
    /// returns the bytes it wrote, 8 per frame (0 frames when it fails, as upstream's
    /// `len()` reads a stack whose walk failed).
    fn stack_frames(&mut self, user: bool, depth: u32) -> VReg {
        debug_assert!(depth <= STACK_DEPTH);
        let buf = self.plan.frames_buf();
        let n = self.b.imm(0);
        let done = self.b.label();
        let k = self.b.slot(4);
        self.b.store(Size::W, Base::Slot(k), 0, 0);
        let key = self.b.slot_addr(k, 0);
        let p = cg::lookup(&mut self.b, buf, key);
        self.b.jmp_if(JmpOp::Eq, p, 0, done);
        let c = self.b.ctx();
        let size = self.b.imm(i64::from(depth * 8));
        let flags = self.b.imm(if user { BPF_F_USER_STACK } else { 0 });
        let bytes = self.b.call(HELPER_GET_STACK, &[c, p, size, flags]);
        self.b.jmp_if(JmpOp::Slt, bytes, 0, done);
        self.b.mov(n, bytes);
        self.b.alu(AluOp::Rsh, n, 3);
        self.b.alu(AluOp::Lsh, n, STACK_FRAMES_SHIFT as i32);
        self.b.place(done);
        n
    }

    /// `len(stack)`: the frame count the stack word carries (see [`Self::stack_frames`]).
    pub(super) fn stack_len(&mut self, stack: &Expr) -> Option<V> {
        let w = self.int(stack);
        self.span(stack.span);
        let n = self.b.binop(AluOp::Rsh, w, STACK_FRAMES_SHIFT as i32);
        Some(V::Int(n))
    }

    /// `usym(addr)`: the address (the pid is stored beside it, see [`Self::store_pid`]).
    pub(super) fn usym(&mut self, args: &[Expr]) -> Option<V> {
        Some(V::Int(self.int(args.first()?)))
    }

    /// Stores the current process id at `base + off` (the second word of a
    /// [`Scalar::Ustack`] or [`Scalar::Usym`] value, whose first word is at `off - 8`).
    pub(super) fn store_pid(&mut self, base: Base, off: i16) {
        let pid = self.announced_pid();
        self.b.store(Size::DW, base, off, pid);
    }

    /// The printf/print record field of the pid word.
    pub(super) fn pid_field(&mut self) -> Field {
        Field::Value(self.announced_pid(), Width::W64)
    }

    /// The current pid, announced to user space ([`Message::NewPid`]) the first time
    /// it stores a user value, so that its memory map is cached while it lives.
    fn announced_pid(&mut self) -> VReg {
        let pid = cg::pid(&mut self.b);
        let seen = self.plan.seen_pids();
        let done = self.b.label();
        let k = self.b.slot(4);
        self.b.store(Size::W, Base::Slot(k), 0, pid);
        let key = self.b.slot_addr(k, 0);
        let found = cg::lookup(&mut self.b, seen, key);
        self.b.jmp_if(JmpOp::Ne, found, 0, done);
        let v = self.b.slot(1);
        self.b.store(Size::B, Base::Slot(v), 0, 1);
        let val = self.b.slot_addr(v, 0);
        // BPF_NOEXIST: of two racing first events, one announces.
        let r = cg::update(&mut self.b, seen, key, val, 1);
        self.b.jmp_if(JmpOp::Ne, r, 0, done);
        let id = self.message(Message::NewPid);
        self.output(id, &[Field::Value(pid, Width::W64)]);
        self.b.place(done);
        pid
    }

    /// A 16-byte slot with a user value: `v` and the current pid; returns its address.
    pub(super) fn user_value(&mut self, v: VReg) -> VReg {
        let s = self.b.slot(16);
        self.b.store(Size::DW, Base::Slot(s), 0, v);
        self.store_pid(Base::Slot(s), 8);
        self.b.slot_addr(s, 0)
    }
}
