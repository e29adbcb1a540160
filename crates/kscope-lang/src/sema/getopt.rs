//! `getopt(name[, default[, description]])`: a named option of the command line
//! (`kscope run script.bt -- --name=value`), typed by its default (none: a boolean). The
//! value is known before the program loads, so the call becomes a literal.

use super::check::Checker;
use super::types::Type;
use crate::ast::{Expr, ExprKind, UnOp};
use crate::diag::Diagnostic;

/// The kind of value an option holds, from its default.
enum Default {
    Bool(bool),
    Int(i64),
    Str(Vec<u8>),
}

impl Checker<'_> {
    pub(super) fn getopt(&mut self, e: &Expr, args: &[Expr]) -> Type {
        if !self.arity(e, "getopt", args, 1, 3) {
            return Type::Unknown;
        }
        let ExprKind::Str(name) = &args[0].kind else {
            self.error(Diagnostic::error(
                "`getopt()` needs the option's name as a string literal",
                args[0].span,
                "not a string literal",
            ));
            return Type::Unknown;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let default = match args.get(1).map(|a| (&a.kind, a)) {
            None => Default::Bool(false),
            Some((ExprKind::Bool(b), _)) => Default::Bool(*b),
            Some((ExprKind::Int(v), _)) => Default::Int(*v as i64),
            Some((
                ExprKind::Unary {
                    op: UnOp::Neg,
                    expr,
                },
                _,
            )) if matches!(expr.kind, ExprKind::Int(_)) => match expr.kind {
                ExprKind::Int(v) => Default::Int((v as i64).wrapping_neg()),
                _ => Default::Int(0),
            },
            Some((ExprKind::Str(s), _)) => Default::Str(s.clone()),
            Some((_, a)) => {
                self.error(
                    Diagnostic::error(
                        "`getopt()` needs a literal default: a bool, an integer or a string",
                        a.span,
                        "not a literal",
                    )
                    .with_help("the default gives the option its type"),
                );
                return Type::Unknown;
            }
        };
        if let Some(d) = args.get(2)
            && !matches!(d.kind, ExprKind::Str(_))
        {
            self.error(Diagnostic::error(
                "`getopt()` needs its description as a string literal",
                d.span,
                "not a string literal",
            ));
        }
        if !self.option_names.contains(&name) {
            self.option_names.push(name.clone());
        }
        let given = self.opts.named.iter().find_map(|a| {
            let rest = a.strip_prefix("--")?;
            match rest.split_once('=') {
                Some((n, v)) if n == name => Some(Some(v.to_string())),
                None if rest == name => Some(None),
                _ => None,
            }
        });
        let bad = |what: &str| {
            Diagnostic::error(
                format!("the option `--{name}` {what}"),
                args[0].span,
                "the option this reads",
            )
        };
        let (kind, ty) = match (default, given) {
            (Default::Bool(d), None) => (ExprKind::Bool(d), Type::Bool),
            (Default::Bool(_), Some(v)) => match v.as_deref() {
                None | Some("true" | "1") => (ExprKind::Bool(true), Type::Bool),
                Some("false" | "0") => (ExprKind::Bool(false), Type::Bool),
                Some(v) => {
                    self.error(bad(&format!(
                        "is a boolean: `{v}` is not true, false, 1 or 0"
                    )));
                    return Type::Bool;
                }
            },
            (Default::Int(d), None) => (ExprKind::Int(d as u64), Type::INT64),
            (Default::Int(_), Some(v)) => match v.as_deref().map(str::parse::<i64>) {
                Some(Ok(n)) => (ExprKind::Int(n as u64), Type::INT64),
                _ => {
                    let v = v.unwrap_or_default();
                    self.error(bad(&format!("needs an integer: `--{name}=N`, not `{v}`")));
                    return Type::INT64;
                }
            },
            (Default::Str(d), None) => (ExprKind::Str(d), Type::Str),
            (Default::Str(_), Some(Some(v))) => (ExprKind::Str(v.into_bytes()), Type::Str),
            (Default::Str(_), Some(None)) => {
                self.error(bad("needs a value: `--NAME=TEXT`"));
                return Type::Str;
            }
        };
        self.consts.insert(e.id, kind);
        ty
    }
}
