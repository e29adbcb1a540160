//! `s == "literal"` and `s != "literal"`: byte compares against the literal's bytes as
//! immediates, with `comm` read into a 16-byte slot that needs no zeroing.

use kscope_codegen::VReg;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, COMM_LEN};
use kscope_lang::ast::{BinOp, Expr, ExprKind};

use super::*;

/// `bpf_get_current_task_btf` (Linux 5.11): `current` as a BTF-typed pointer whose
/// members the program may load directly.
const HELPER_GET_CURRENT_TASK_BTF: u32 = 158;

impl Lowerer<'_> {
    /// Copies `current->comm` up to its NUL into the zeroed string at `dst`, loading the
    /// bytes in place through the BTF-typed `current` (one cheap helper instead of
    /// bpf_get_current_comm's ~100 ns). Returns false, emitting nothing, without BTF.
    /// Bytes after the NUL are never copied: before Linux 6.2 task->comm may hold stale
    /// ones there, and a map key must be NUL padded.
    pub(super) fn comm_in_place(&mut self, dst: VReg) -> bool {
        let Some(off) = self.task_comm_offset() else {
            return false;
        };
        let Ok(off) = i16::try_from(off) else {
            return false;
        };
        let task = self.b.call(HELPER_GET_CURRENT_TASK_BTF, &[]);
        let done = self.b.label();
        // The last byte of comm is always its NUL.
        for i in 0..(COMM_LEN as i16 - 1) {
            let c = self.b.load(Size::B, Base::Reg(task), off + i);
            self.b.jmp_if(JmpOp::Eq, c, 0, done);
            self.b.store(Size::B, Base::Reg(dst), i, c);
        }
        self.b.place(done);
        true
    }

    /// The byte offset of `comm` in `struct task_struct`, from the kernel's BTF (`None`
    /// without BTF).
    fn task_comm_offset(&self) -> Option<i32> {
        let types = self.ctx.btf.as_ref()?;
        let (btf, id) = types.aggregate_type("struct task_struct")?;
        let m = btf.find_member(id, "comm").ok()??;
        i32::try_from(m.byte_offset()).ok()
    }

    /// Lowers `lhs op rhs` (`==` or `!=` on strings) when one side is a string literal;
    /// `None` when neither is. The other side's bytes are compared up to the literal's
    /// NUL and no further, so `comm` (at most 15 bytes and its NUL) is read into 16
    /// bytes left as the helper wrote them.
    pub(super) fn str_cmp_literal(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<VReg> {
        let (other, lit) = match (&lhs.kind, &rhs.kind) {
            (_, ExprKind::Str(l)) => (lhs, l),
            (ExprKind::Str(l), _) => (rhs, l),
            _ => return None,
        };
        // As a string value the literal is cut at its NUL and at STR_SIZE - 1 bytes.
        let end = lit
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(lit.len())
            .min(STR_SIZE as usize - 1);
        let lit = &lit[..end];
        let eq = op == BinOp::Eq;
        let res = self.b.imm(i64::from(!eq));
        let differ = self.b.label();
        if matches!(&other.kind, ExprKind::Ident(n) if n == "comm") {
            if lit.len() >= COMM_LEN as usize {
                // Longer than any comm: never equal.
                return Some(res);
            }
            match self.task_comm_offset() {
                // The bytes in place, loaded through the BTF-typed `current` (no copy, and
                // one cheap helper instead of bpf_get_current_comm's ~100 ns). Only bytes
                // up to the literal's NUL are compared: kernels before 6.2 may leave stale
                // bytes after the NUL of task->comm.
                Some(off) => {
                    let task = self.b.call(HELPER_GET_CURRENT_TASK_BTF, &[]);
                    let p = self.b.binop(AluOp::Add, task, off);
                    cg::str_eq_literal(&mut self.b, p, lit, differ);
                }
                None => {
                    let slot = self.b.slot(COMM_LEN);
                    let p = self.b.slot_addr(slot, 0);
                    cg::comm_into(&mut self.b, p);
                    cg::str_eq_literal(&mut self.b, p, lit, differ);
                }
            }
        } else {
            let p = self.string(other);
            cg::str_eq_literal(&mut self.b, p, lit, differ);
        }
        self.b.mov(res, i32::from(eq));
        self.b.place(differ);
        Some(res)
    }
}
