//! `enum [NAME] { A, B = 5, C = B << 1, };` at the top of a script: each enumerator is
//! the value written (a constant expression of integers and earlier enumerators) or
//! the previous one plus 1, as C counts them.

use super::{PResult, Parser};
use crate::ast::{BinOp, Expr, ExprKind, UnOp};
use crate::cdefs::{CEnum, CEnumerator, CTypes};
use crate::diag::Diagnostic;
use crate::lexer::Token;
use crate::span::Span;

impl<'a> Parser<'a> {
    /// `enum NAME { ... } [;]` or `enum { ... } [;]`, added to `defs`.
    pub(super) fn c_enum(&mut self, defs: &mut CTypes) -> PResult<()> {
        let (_, kw) = self.bump();
        let (name, span) = if self.peek() == Token::Ident {
            let (_, sp) = self.bump();
            (
                format!("enum {}", self.text(sp)),
                Span::new(kw.start as usize, sp.end as usize),
            )
        } else {
            let n = defs.enums.iter().filter(|e| e.is_anonymous()).count() + 1;
            (format!("enum <anon_{n}>"), kw)
        };
        self.c_enum_body(name, span, defs)?;
        self.eat(Token::Semi);
        Ok(())
    }

    /// The `{ enumerators }` of enum `name`, added to `defs`.
    pub(super) fn c_enum_body(
        &mut self,
        name: String,
        span: Span,
        defs: &mut CTypes,
    ) -> PResult<()> {
        self.expect(Token::LBrace, "`{` to start the enum's enumerators")?;
        let mut variants: Vec<CEnumerator> = Vec::new();
        let mut next: i128 = 0;
        while !self.eat(Token::RBrace) {
            let sp = self.expect(Token::Ident, "an enumerator name or `}`")?;
            let vname = self.text(sp).to_string();
            let earlier = variants
                .iter()
                .find(|v| v.name == vname)
                .map(|v| v.span)
                .or_else(|| defs.enumerator(&vname).map(|(_, v)| v.span));
            if let Some(first) = earlier {
                return Err(Diagnostic::error(
                    format!("the enumerator `{vname}` is defined twice"),
                    sp,
                    "second definition",
                )
                .with_note("the first", first, "defined here"));
            }
            if self.eat(Token::Assign) {
                let e = self.ternary()?;
                next = const_value(&e, &variants, defs)?;
            }
            let value = i64::try_from(next).map_err(|_| {
                Diagnostic::error(
                    format!("the value of `{vname}` does not fit 64 bits"),
                    sp,
                    format!("{next}"),
                )
            })?;
            variants.push(CEnumerator {
                name: vname,
                value,
                span: sp,
            });
            next += 1;
            if !self.eat(Token::Comma) {
                self.expect(Token::RBrace, "`,` or `}` after the enumerator")?;
                break;
            }
        }
        if let Some((_, first)) = defs.get_enum(&name) {
            return Err(Diagnostic::error(
                format!("`{name}` is defined twice"),
                span,
                "second definition",
            )
            .with_note("the first", first.span, "defined here"));
        }
        self.enumerators
            .extend(variants.iter().map(|v| v.name.clone()));
        defs.enums.push(CEnum {
            name,
            variants,
            span,
            btf_size: None,
        });
        Ok(())
    }
}

/// The value of an enumerator's constant expression: integers, enumerators defined
/// before it, parentheses and the C integer operators.
fn const_value(e: &Expr, so_far: &[CEnumerator], defs: &CTypes) -> PResult<i128> {
    let bad = |what: &str| {
        Diagnostic::error(
            "an enumerator's value must be a constant",
            e.span,
            what.to_string(),
        )
        .with_help(
            "use integers, enumerators defined before it and operators such as `+`, `<<`, `|`",
        )
    };
    Ok(match &e.kind {
        ExprKind::Int(v) => i128::from(*v),
        ExprKind::Ident(n) => match so_far.iter().find(|v| &v.name == n) {
            Some(v) => i128::from(v.value),
            None => match defs.enumerator(n) {
                Some((_, v)) => i128::from(v.value),
                None => return Err(bad(&format!("`{n}` is no enumerator defined above"))),
            },
        },
        ExprKind::Unary { op, expr } => {
            let v = const_value(expr, so_far, defs)?;
            match op {
                UnOp::Neg => -v,
                UnOp::BitNot => i128::from(!(v as i64)),
                UnOp::Not => i128::from(v == 0),
                _ => return Err(bad("not a constant operator")),
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (
                const_value(lhs, so_far, defs)?,
                const_value(rhs, so_far, defs)?,
            );
            let (x, y) = (a as i64, b as i64);
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a.checked_mul(b).ok_or_else(|| bad("overflows"))?,
                BinOp::Div | BinOp::Mod if b == 0 => return Err(bad("division by zero")),
                BinOp::Div => a / b,
                BinOp::Mod => a % b,
                BinOp::Shl if (0..64).contains(&b) => i128::from(x.wrapping_shl(b as u32)),
                BinOp::Shr if (0..64).contains(&b) => i128::from(x >> b),
                BinOp::Shl | BinOp::Shr => return Err(bad("a shift by 64 or more")),
                BinOp::BitOr => i128::from(x | y),
                BinOp::BitAnd => i128::from(x & y),
                BinOp::BitXor => i128::from(x ^ y),
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                    i128::from(op.compare(a, b) == Some(true))
                }
                BinOp::LogAnd => i128::from(a != 0 && b != 0),
                BinOp::LogOr => i128::from(a != 0 || b != 0),
            }
        }
        _ => return Err(bad("not a constant expression")),
    })
}
