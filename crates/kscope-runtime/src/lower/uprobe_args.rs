//! Uprobe `args.NAME` from DWARF: parameter *i* is the *i*-th integer argument register
//! of `struct pt_regs` (x86-64 SysV: rdi, rsi, rdx, rcx, r8, r9), as upstream reads it.

use kscope_codegen::ir::{Base, Size, Width};
use kscope_lang::ast::{Expr, ExprKind};
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::uprobe_args::{ArgsOf, REGISTER_ARGS};

/// `struct pt_regs` offsets of rdi, rsi, rdx, rcx, r8, r9.
const ARG_REGS: [i16; REGISTER_ARGS] = [112, 104, 96, 88, 72, 64];

impl Lowerer<'_> {
    /// `args.NAME` of a uprobe whose binary's DWARF was read: its register, extended to
    /// the parameter's type.
    pub(super) fn uprobe_arg(
        &mut self,
        args: &ArgsOf,
        name: &str,
        t: &Type,
        span: Span,
    ) -> Option<V> {
        let params = match args {
            Ok(p) => p,
            Err(why) => {
                self.no_dwarf(why, span);
                return None;
            }
        };
        let Some(p) = params.iter().find(|p| p.name == name) else {
            self.errors.push(LowerError {
                span,
                message: format!("the function has no parameter `{name}`"),
            });
            return None;
        };
        if p.index >= REGISTER_ARGS {
            self.errors.push(LowerError {
                span,
                message: format!(
                    "`args.{name}` is parameter {} of the function: only the first \
                     {REGISTER_ARGS} are read (from their registers)",
                    p.index + 1
                ),
            });
            return None;
        }
        if matches!(t, Type::Struct(_) | Type::Array(..)) {
            self.not_built(
                span,
                format!("`args.{name}`, a struct or array passed by value"),
            );
            return None;
        }
        let c = self.b.ctx();
        let r = self.b.load(Size::DW, Base::Reg(c), ARG_REGS[p.index]);
        Some(V::Int(match t {
            // Only the low byte of a `bool` argument is defined.
            Type::Bool => self.b.zext(r, Width::W8),
            _ => self.extend(r, t),
        }))
    }

    /// Reports, at `base` = `args.NAME` of a uprobe whose binary has no usable DWARF,
    /// why (for `args.p->m`, which the checker could not type); `false` otherwise.
    pub(super) fn uprobe_args_missing(&mut self, base: &Expr) -> bool {
        let ExprKind::Field { expr, .. } = &base.kind else {
            return false;
        };
        if !matches!(&expr.kind, ExprKind::Ident(n) if n == "args") {
            return false;
        }
        match self.ctx.uprobe_args.clone() {
            Some(Err(why)) => {
                self.no_dwarf(&why, base.span);
                true
            }
            _ => false,
        }
    }

    fn no_dwarf(&mut self, why: &str, span: Span) {
        self.errors.push(LowerError {
            span,
            message: why.to_string(),
        });
    }
}
