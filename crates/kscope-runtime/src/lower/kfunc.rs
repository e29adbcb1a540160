//! Probe-body features that call kernel functions (kfuncs) by their vmlinux BTF ids:
//! `comm(pid)` through `bpf_task_from_pid` / `bpf_task_release`.

use kscope_codegen::ir::{Base, JmpOp, Size};
use kscope_lang::ast::Expr;
use kscope_lang::sema::{Lookup, TypeProvider};

use super::*;

/// The comm of a process that does not exist, as upstream prints it.
const NO_SUCH_PROCESS: &[u8; 4] = b"N/A\0";
/// `TASK_COMM_LEN`.
const TASK_COMM_LEN: i64 = 16;

impl Lowerer<'_> {
    /// The vmlinux BTF id of the kernel function `name`, or an error at `e`.
    fn kfunc_id(&mut self, name: &str, e: &Expr) -> Option<u32> {
        let id = self
            .ctx
            .btf
            .as_ref()
            .and_then(|b| b.btf().find_by_name(kscope_btf::Kind::Func, name));
        if let Some(id) = id {
            self.plan.kfuncs.insert(id, name.to_string());
        } else {
            self.errors.push(LowerError {
                span: e.span,
                message: format!(
                    "the kernel's BTF has no function `{name}` (Linux 6.2 added the task kfuncs)"
                ),
            });
        }
        id
    }

    /// `comm(pid)`: the task of `pid` taken with `bpf_task_from_pid`, its `comm` copied,
    /// the reference dropped with `bpf_task_release`; "N/A" when there is no such task.
    pub(super) fn comm_of_pid(&mut self, pid: &Expr, e: &Expr) -> Option<V> {
        let from_pid = self.kfunc_id("bpf_task_from_pid", e)?;
        let release = self.kfunc_id("bpf_task_release", e)?;
        let offset = match self
            .ctx
            .btf
            .as_ref()
            .map(|b| b.member_offset("struct task_struct", "comm"))
        {
            Some(Lookup::Found((off, _))) => off,
            _ => {
                self.errors.push(LowerError {
                    span: e.span,
                    message: "`comm(pid)`: no `comm` in the kernel's struct task_struct".into(),
                });
                return None;
            }
        };
        let pid = self.int(pid);
        let (slot, dst) = self.str_slot();
        let task = self.b.call_kfunc(from_pid, &[pid]);
        let missing = self.b.label();
        let done = self.b.label();
        self.b.jmp_if(JmpOp::Eq, task, 0, missing);
        let src = self.b.copy(task);
        self.b
            .alu(kscope_codegen::ir::AluOp::Add, src, offset as i32);
        let n = self.b.imm(TASK_COMM_LEN);
        self.b.call_void(
            kscope_codegen::helper::PROBE_READ_KERNEL_STR,
            &[dst, n, src],
        );
        self.b.call_kfunc(release, &[task]);
        self.b.jmp(done);
        self.b.place(missing);
        self.b.store(
            Size::W,
            Base::Slot(slot),
            0,
            i32::from_le_bytes(*NO_SUCH_PROCESS),
        );
        self.b.place(done);
        Some(V::Str(dst))
    }
}
