//! `uaddr("sym")` in a probe body: the ELF address of the symbol, plus the load bias in a
//! position-independent file. The bias is where the probe runs minus where the file puts
//! the probed instruction: `ip` at a uprobe or usdt site, `bpf_get_func_ip` (the probed
//! function's entry, Linux 6.6 for uprobes) at a uretprobe, whose ip is the return address.

use kscope_codegen::ir::{Base, Size};
use kscope_lang::ast::{Expr, ExprKind, Provider};

use super::*;

impl Lowerer<'_> {
    /// `func` in a uretprobe: the probed function's address. A position-dependent file
    /// gives it; otherwise `bpf_get_func_ip` does (Linux 6.6; before, it gives 0 in
    /// uprobes, so an older kernel gets an error rather than a wrong name).
    pub(super) fn uretprobe_func(&mut self, e: &Expr) -> Option<VReg> {
        let attach = self.ctx.attach.clone();
        let [target, func, ..] = attach.parts.as_slice() else {
            return None;
        };
        let fixed = crate::uprobes::resolve_target(target, self.ctx.pid)
            .ok()
            .filter(|p| crate::uaddr::relocatable(p) == Some(false))
            .and_then(|p| crate::uprobes::probe_location(&p, func).ok());
        if let Some((address, _)) = fixed {
            return Some(self.b.imm(address as i64));
        }
        if !func_ip_reads_uprobes() {
            self.errors.push(LowerError {
                span: e.span,
                message: format!(
                    "`func` in a uretprobe of {target}, which loads at an address of the \
                     kernel's choosing (PIE or shared library), needs Linux 6.6 \
                     (bpf_get_func_ip in uprobes)"
                ),
            });
            return None;
        }
        let c = self.b.ctx();
        Some(self.b.call(HELPER_GET_FUNC_IP, &[c]))
    }

    /// `uaddr(name)`: the runtime address of the symbol in this attach point's binary.
    pub(super) fn uaddr(&mut self, args: &[Expr], e: &Expr) -> Option<V> {
        let ExprKind::Str(name) = &args.first()?.kind else {
            return None;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let attach = self.ctx.attach.clone();
        let fail = |this: &mut Self, message: String| {
            this.errors.push(LowerError {
                span: e.span,
                message,
            });
            None
        };
        let (path, probed) = match (attach.provider, &self.ctx.usdt, attach.parts.as_slice()) {
            (Provider::Usdt, Some(site), _) => (site.path.clone(), Ok(site.pc)),
            (Provider::Uprobe | Provider::Uretprobe, _, [target, func, ..]) => {
                match crate::uprobes::resolve_target(target, self.ctx.pid) {
                    Ok(path) => {
                        let at = crate::uprobes::probe_location(&path, func).map(|(a, _)| a);
                        (path, at)
                    }
                    Err(why) => return fail(self, format!("`uaddr()`: {why}")),
                }
            }
            _ => {
                return fail(
                    self,
                    format!("`uaddr()` in {} probes", attach.provider.name()),
                );
            }
        };
        let symbol = match crate::uaddr::lookup(&path, &name) {
            Ok(s) => s,
            Err(crate::uaddr::LookupError::Missing) => {
                return fail(
                    self,
                    format!("`uaddr()`: {} has no symbol `{name}`", path.display()),
                );
            }
            Err(crate::uaddr::LookupError::Unreadable(why)) => {
                return fail(self, format!("`uaddr()`: {why}"));
            }
        };
        if !symbol.relocatable {
            return Some(V::Int(self.b.imm(symbol.address as i64)));
        }
        let probed = match probed {
            Ok(a) => a,
            Err(why) => return fail(self, format!("`uaddr()`: {why}")),
        };
        if attach.provider == Provider::Uretprobe && !func_ip_reads_uprobes() {
            return fail(
                self,
                format!(
                    "`uaddr()` in a uretprobe of {}, which loads at an address of the \
                     kernel's choosing (PIE or shared library), needs Linux 6.6 \
                     (bpf_get_func_ip in uprobes); use it in a uprobe of the function instead",
                    path.display()
                ),
            );
        }
        let c = self.b.ctx();
        let runs_at = if attach.provider == Provider::Uretprobe {
            self.b.call(HELPER_GET_FUNC_IP, &[c])
        } else {
            self.b.load(Size::DW, Base::Reg(c), PT_REGS_IP)
        };
        self.add_i64(runs_at, symbol.address.wrapping_sub(probed) as i64);
        Some(V::Int(runs_at))
    }
}

/// Whether `bpf_get_func_ip` gives the probed function in uprobe programs (Linux 6.6;
/// before, it returns 0 there without an error, so the release is the only test).
pub(super) fn func_ip_reads_uprobes() -> bool {
    let Ok(release) = kscope_sys::process::kernel_release() else {
        return false;
    };
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 6)
}
