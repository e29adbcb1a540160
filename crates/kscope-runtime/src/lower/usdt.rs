//! `argN` in a usdt probe: each site's argument spec from its SDT note read from the
//! registers (`struct pt_regs`), user memory (`bpf_probe_read_user`), a constant, or a
//! variable of the file (`sym(%rip)`), cut to its size and sign-extended when signed.

use kscope_codegen::VReg;
use kscope_codegen::Width;
use kscope_codegen::ir::{AluOp, Base, Size};
use kscope_lang::span::Span;

use super::*;
use crate::usdt::Site;
use crate::usdt::spec::{Arg, Location};

impl Lowerer<'_> {
    /// `arg{i}` at the usdt site `site`.
    pub(super) fn usdt_arg(&mut self, site: &Site, i: u8, span: Span) -> Option<V> {
        let args = match &site.args {
            Ok(a) => a,
            Err(m) => {
                self.errors.push(LowerError {
                    span,
                    message: m.clone(),
                });
                return None;
            }
        };
        let Some(arg) = args.get(usize::from(i)).cloned() else {
            let has = match args.len() {
                0 => "no arguments".to_string(),
                1 => "1 argument (arg0)".to_string(),
                n => format!("{n} arguments (arg0..arg{})", n - 1),
            };
            self.errors.push(LowerError {
                span,
                message: format!(
                    "`arg{i}` is beyond the arguments of usdt:{}:{}:{}: it has {has}",
                    site.path.display(),
                    site.provider,
                    site.name,
                ),
            });
            return None;
        };
        let c = self.b.ctx();
        let reg = |b: &mut kscope_codegen::Builder, off: i16| b.load(Size::DW, Base::Reg(c), off);
        let v = match &arg.location {
            Location::Const(n) => self.b.imm(*n),
            Location::Reg { offset, shift } => {
                let r = reg(&mut self.b, *offset);
                if *shift > 0 {
                    self.b.alu(AluOp::Rsh, r, i32::from(*shift));
                }
                r
            }
            Location::Mem { base, index, disp } => {
                let addr = reg(&mut self.b, *base);
                if let Some((ix, scale)) = index {
                    let x = reg(&mut self.b, *ix);
                    if *scale > 1 {
                        self.b.alu(AluOp::Mul, x, i32::from(*scale));
                    }
                    self.b.alu(AluOp::Add, addr, x);
                }
                self.add_i64(addr, *disp);
                self.read_user(addr, arg.size)
            }
            Location::Symbol { name, disp } => {
                let Some(&(_, sym)) = site.symbols.iter().find(|(n, _)| n == name) else {
                    self.errors.push(LowerError {
                        span,
                        message: format!(
                            "`arg{i}` of usdt:{}:{}:{} is at `{name}(%rip)`, and {} has no \
                             symbol `{name}`",
                            site.path.display(),
                            site.provider,
                            site.name,
                            site.path.display()
                        ),
                    });
                    return None;
                };
                // At the probe, ip is where the site runs: the variable is as far from it
                // as in the file (PIE and shared libraries load both together).
                let addr = reg(&mut self.b, PT_REGS_IP);
                let delta = sym.wrapping_add(*disp as u64).wrapping_sub(site.pc) as i64;
                self.add_i64(addr, delta);
                self.read_user(addr, arg.size)
            }
        };
        Some(V::Int(self.cut(v, &arg)))
    }

    /// `r += n` for any 64-bit `n`.
    pub(super) fn add_i64(&mut self, r: VReg, n: i64) {
        if n == 0 {
            return;
        }
        match i32::try_from(n) {
            Ok(k) => self.b.alu(AluOp::Add, r, k),
            Err(_) => {
                let k = self.b.imm(n);
                self.b.alu(AluOp::Add, r, k);
            }
        }
    }

    /// `size` bytes of user memory at `addr` (0 when the read fails).
    fn read_user(&mut self, addr: VReg, size: u8) -> VReg {
        let s = self.b.slot(8);
        self.b.zero_slot(s, 0, 8);
        let dst = self.b.slot_addr(s, 0);
        let n = self.b.imm(i64::from(size));
        self.b
            .call_void(kscope_codegen::helper::PROBE_READ_USER, &[dst, n, addr]);
        self.b.load(Size::DW, Base::Slot(s), 0)
    }

    /// The low `arg.size` bytes of `v`, sign-extended when the argument is signed.
    fn cut(&mut self, v: VReg, arg: &Arg) -> VReg {
        let w = match arg.size {
            1 => Width::W8,
            2 => Width::W16,
            4 => Width::W32,
            _ => return v,
        };
        if arg.signed {
            self.b.sext(v, w)
        } else {
            self.b.zext(v, w)
        }
    }
}
