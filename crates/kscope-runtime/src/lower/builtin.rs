//! Builtins (`pid`, `comm`, `argN`, `retval`, `kstack`…) and tracepoint `args` fields.

use kscope_codegen::ir::{AluOp, Base, Size};
use kscope_codegen::lower::{self as cg};
use kscope_lang::ast::{Expr, ExprKind, Provider};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::plan::STR_SIZE;

/// `struct pt_regs` offset of `cs` (x86-64).
const PT_REGS_CS: i16 = 136;

impl Lowerer<'_> {
    pub(super) fn builtin(&mut self, name: &str, e: &Expr) -> Option<V> {
        let b = &mut self.b;
        let v = match name {
            "pid" => cg::pid(b),
            "tid" => cg::tid(b),
            "uid" | "username" => cg::uid(b),
            "gid" => cg::gid(b),
            // Upstream's `nsecs` is `nsecs(boot)`.
            "nsecs" => b.call(kscope_codegen::helper::KTIME_GET_BOOT_NS, &[]),
            "elapsed" => {
                let n = cg::nsecs(b);
                let s = b.imm(self.ctx.start_ns as i64);
                b.binop(AluOp::Sub, n, s)
            }
            "cpu" => cg::cpu(b),
            "numaid" => b.call(kscope_codegen::helper::GET_NUMA_NODE_ID, &[]),
            "jiffies" => b.call(kscope_codegen::helper::JIFFIES64, &[]),
            "ncpus" => b.imm(self.ctx.ncpus as i64),
            "cpid" => b.imm(self.ctx.cpid.unwrap_or(0) as i64),
            "has_cpid" => b.imm(i64::from(self.ctx.cpid.is_some())),
            "probetype" => {
                let kind = match self.ctx.attach.provider {
                    Provider::Begin | Provider::End => "special",
                    p => p.name(),
                };
                return Some(V::Str(self.str_literal(kind.as_bytes())));
            }
            // The privilege level of the interrupted code (`cs & 3`) where the context is
            // registers; BEGIN/END/self run in kscope itself; other probes are in the kernel.
            "usermode" => match self.ctx.attach.provider {
                Provider::Kprobe
                | Provider::Kretprobe
                | Provider::Uprobe
                | Provider::Uretprobe
                | Provider::Usdt
                | Provider::Profile
                | Provider::Software
                | Provider::Watchpoint
                | Provider::Interval => {
                    let c = b.ctx();
                    let cs = b.load(Size::DW, Base::Reg(c), PT_REGS_CS);
                    b.alu(AluOp::And, cs, 3);
                    let user = b.imm(0);
                    let done = b.label();
                    b.jmp_if(kscope_codegen::ir::JmpOp::Ne, cs, 3, done);
                    b.mov(user, 1);
                    b.place(done);
                    user
                }
                Provider::Begin
                | Provider::End
                | Provider::SelfSignal
                | Provider::Test
                | Provider::Bench => b.imm(1),
                _ => b.imm(0),
            },
            "rand" => b.call(kscope_codegen::helper::GET_PRANDOM_U32, &[]),
            "cgroup" => b.call(80, &[]),
            "curtask" => self.curtask(),
            // An iterator's context (`struct bpf_iter__TARGET *`), read through BTF.
            "ctx" => b.ctx(),
            "kstack" => return self.kstack(e),
            "ustack" => return self.stack(true, &[], e),
            // A uprobe may sit inside its function (`func+4`): its ip names the function,
            // where bpf_get_func_ip would fail (upstream reads the register too).
            "func" if self.ctx.attach.provider == Provider::Uprobe => {
                let c = b.ctx();
                b.load(Size::DW, Base::Reg(c), PT_REGS_IP)
            }
            "func" if self.ctx.attach.provider == Provider::Uretprobe => self.uretprobe_func(e)?,
            "func"
                if matches!(
                    self.ctx.attach.provider,
                    Provider::Kprobe | Provider::Kretprobe | Provider::Fentry | Provider::Fexit
                ) =>
            {
                let c = b.ctx();
                b.call(HELPER_GET_FUNC_IP, &[c])
            }
            "comm" => {
                let (_, p) = self.str_slot();
                if !self.comm_in_place(p) {
                    cg::comm_into(&mut self.b, p);
                }
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
                // fexit: the return value follows the function's parameters.
                ArgSource::Raw if self.ctx.attach.provider == Provider::Fexit => {
                    let target = self
                        .ctx
                        .btf
                        .as_ref()
                        .and_then(|t| t.function_target(&self.ctx.attach));
                    let Some((nargs, _)) = target else {
                        self.not_built(e.span, "`retval` where BTF does not describe the function");
                        return None;
                    };
                    let c = self.b.ctx();
                    let r = self.b.load(Size::DW, Base::Reg(c), (nargs * 8) as i16);
                    // The checker typed it from BTF: an `int` is the low 32 bits, signed.
                    let t = self.ty(e);
                    self.extend(r, &t)
                }
                _ => {
                    self.not_built(e.span, "`retval` in this probe kind");
                    return None;
                }
            },
            n if n.starts_with("arg") && n[3..].parse::<u8>().is_ok() => {
                let i: u8 = n[3..].parse().unwrap_or(0);
                if let Some(site) = self.ctx.usdt.clone() {
                    return self.usdt_arg(&site, i, e.span);
                }
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
            other if let Some((_, v)) = self.checked.program.c_types.enumerator(other) => {
                self.b.imm(v.value)
            }
            other => {
                // A kernel enum constant (`TCP_CLOSE`): the checker typed it from BTF.
                let value =
                    self.ctx.btf.as_ref().and_then(|t| {
                        kscope_lang::sema::TypeProvider::enum_value(t.as_ref(), other)
                    });
                match value {
                    Some(v) => self.b.imm(v),
                    None => {
                        self.not_built(e.span, format!("the builtin `{other}`"));
                        return None;
                    }
                }
            }
        };
        Some(V::Int(v))
    }

    /// `kstack`: `bpf_get_stackid(ctx, stacks, 0)` (see [`Self::stack`]).
    pub(super) fn kstack(&mut self, e: &Expr) -> Option<V> {
        self.stack(false, &[], e)
    }

    pub(super) fn args_field(&mut self, name: &str, t: &Type, span: Span) -> Option<V> {
        if let Some(args) = self.ctx.uprobe_args.clone() {
            return self.uprobe_arg(&args, name, t, span);
        }
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
            // An integer array reads as its address in the record (what `ntop()`,
            // `buf()` and indexing read from).
            FieldKind::Array { len, .. } if len > 0 => {
                Some(V::Int(self.b.binop(AluOp::Add, c, i32::from(off))))
            }
            _ => {
                self.not_built(span, format!("`args.{name}` of this field type"));
                None
            }
        }
    }
}

impl Lowerer<'_> {
    /// `reg("name")`: the register from the probe's `struct pt_regs` context.
    pub(super) fn reg(&mut self, name: &Expr, e: &Expr) -> Option<V> {
        let ExprKind::Str(r) = &name.kind else {
            return None;
        };
        let Some(off) = kscope_lang::regs::pt_regs_offset(&String::from_utf8_lossy(r)) else {
            self.not_built(e.span, "this register");
            return None;
        };
        let c = self.b.ctx();
        Some(V::Int(self.b.load(Size::DW, Base::Reg(c), off)))
    }
}
