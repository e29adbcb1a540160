//! Compile-time functions of upstream's standard library: `is_str()`, `is_ptr()`,
//! `is_array()`, `is_integer()`, `is_unsigned_integer()` and `is_literal()` answer from
//! the argument's static type (the argument never runs); `static_assert()` and `fail()`
//! stop the build where they are reached. An `if` whose condition is known when
//! compiling (`if ($1 < 2)`) does not reach the branch it never takes.

use super::check::Checker;
use super::types::Type;
use crate::ast::{BinOp, Block, Expr, ExprKind, UnOp};
use crate::diag::Diagnostic;
use crate::output::FormatString;
use crate::output::value::Primitive;

/// The compile-time functions [`Checker::meta_call`] answers.
pub const META_FUNCTIONS: &[&str] = &[
    "is_str",
    "is_ptr",
    "is_array",
    "is_integer",
    "is_unsigned_integer",
    "is_literal",
    "static_assert",
    "fail",
    "kfunc_exist",
];

/// Whether `e` is written as a literal (`1`, `-1`, `true`, `"hello"`).
fn is_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Str(_) | ExprKind::Bool(_) => true,
        ExprKind::Unary {
            op: UnOp::Neg,
            expr,
        } => matches!(expr.kind, ExprKind::Int(_)),
        _ => false,
    }
}

impl Checker<'_> {
    /// The type of a call to compile-time function `name`, `None` for any other function.
    /// Its value is recorded as a constant the call is replaced by.
    pub(super) fn meta_call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Option<Type> {
        match name {
            "is_str"
            | "is_ptr"
            | "is_array"
            | "is_integer"
            | "is_unsigned_integer"
            | "is_literal" => {
                if !self.arity(e, name, args, 1, 1) {
                    return Some(Type::Bool);
                }
                let a = &args[0];
                let t = match &a.kind {
                    ExprKind::Type(ty) => self.written_type(ty).unwrap_or(Type::Unknown),
                    _ => self.expr(a),
                };
                let v = match name {
                    "is_str" => t == Type::Str,
                    "is_ptr" => matches!(t, Type::Ptr(_)),
                    "is_array" => matches!(t, Type::Array(..)),
                    // An enum's base type is `int` (upstream's typeinfo), its full type
                    // `enum NAME`, so it is not an unsigned integer there.
                    "is_integer" => matches!(t, Type::Int { .. } | Type::Enum { .. }),
                    "is_unsigned_integer" => matches!(t, Type::Int { signed: false, .. }),
                    _ => is_literal(a),
                };
                self.consts.insert(e.id, ExprKind::Bool(v));
                Some(Type::Bool)
            }
            "static_assert" => {
                if self.arity(e, name, args, 2, 2) {
                    self.static_assert(e, &args[0], &args[1]);
                }
                self.consts.insert(e.id, nothing(e));
                Some(Type::Void)
            }
            "kfunc_exist" => {
                if self.arity(e, name, args, 1, 1) {
                    self.kfunc_exist(e, &args[0]);
                }
                Some(Type::Bool)
            }
            "fail" => {
                self.fail(e, args);
                self.consts.insert(e.id, nothing(e));
                Some(Type::Void)
            }
            _ => None,
        }
    }

    /// `kfunc_exist("name")`: whether the kernel's BTF has the function, as a constant.
    fn kfunc_exist(&mut self, e: &Expr, arg: &Expr) {
        let ExprKind::Str(name) = &arg.kind else {
            self.error(Diagnostic::error(
                "`kfunc_exist()` needs the function name as a string literal",
                arg.span,
                "not a string literal",
            ));
            return;
        };
        let name = String::from_utf8_lossy(name);
        match self.tp.kernel_function(&name) {
            crate::sema::Lookup::Found(()) => {
                self.consts.insert(e.id, ExprKind::Bool(true));
            }
            crate::sema::Lookup::Missing { .. } => {
                self.consts.insert(e.id, ExprKind::Bool(false));
            }
            crate::sema::Lookup::Unknown => self.error(
                Diagnostic::error(
                    "`kfunc_exist()` needs the kernel's BTF, which is not available",
                    e.span,
                    "cannot tell here",
                )
                .with_help("`kscope doctor` says why BTF is missing"),
            ),
        }
    }

    fn static_assert(&mut self, e: &Expr, cond: &Expr, msg: &Expr) {
        self.expr(cond);
        let ExprKind::Str(text) = &msg.kind else {
            self.error(Diagnostic::error(
                "`static_assert()` needs a string literal message",
                msg.span,
                "not a string literal",
            ));
            return;
        };
        match self.const_int(cond) {
            Some(0) if self.unreached == 0 => self.error(
                Diagnostic::error(
                    format!("static assertion failed: {}", String::from_utf8_lossy(text)),
                    e.span,
                    "the condition is false",
                )
                .with_note("the condition", cond.span, ""),
            ),
            Some(_) => {}
            None => self.error(Diagnostic::error(
                "`static_assert()` needs a condition known when compiling",
                cond.span,
                "known only when the probe runs",
            )),
        }
    }

    fn fail(&mut self, e: &Expr, args: &[Expr]) {
        let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
            self.error(Diagnostic::error(
                "`fail()` needs a string literal format",
                args.first().map_or(e.span, |a| a.span),
                "not a string literal",
            ));
            return;
        };
        let mut values = Vec::new();
        for a in &args[1..] {
            self.expr(a);
            let v = match &a.kind {
                ExprKind::Str(s) => Some(Primitive::Str(String::from_utf8_lossy(s).into_owned())),
                ExprKind::Bool(b) => Some(Primitive::Bool(*b)),
                _ => self.const_int(a).map(|n| Primitive::Int(n as i64)),
            };
            match v {
                Some(v) => values.push(v),
                None => {
                    self.error(Diagnostic::error(
                        "`fail()` arguments must be known when compiling",
                        a.span,
                        "known only when the probe runs",
                    ));
                    return;
                }
            }
        }
        let spec = FormatString::parse(&String::from_utf8_lossy(fmt));
        if let Err(m) = spec.check_count(values.len()) {
            self.error(Diagnostic::error(
                format!("`fail()`: {m}"),
                e.span,
                "wrong number of arguments",
            ));
            return;
        }
        if self.unreached == 0 {
            self.error(Diagnostic::error(
                spec.format(&values),
                e.span,
                "failed here",
            ));
        }
    }

    /// The value of `e` when it is known when compiling: literals, positional
    /// parameters, folded calls (`sizeof`, `is_str`) and operators over them.
    pub(super) fn const_int(&self, e: &Expr) -> Option<i128> {
        if let Some(k) = self.consts.get(&e.id) {
            return match k {
                ExprKind::Int(n) => Some(i128::from(*n)),
                ExprKind::Bool(b) => Some(i128::from(*b)),
                _ => None,
            };
        }
        match &e.kind {
            ExprKind::Int(n) => Some(i128::from(*n)),
            ExprKind::Bool(b) => Some(i128::from(*b)),
            ExprKind::Positional(n) => {
                let p = self.opts.params.get((*n as usize).checked_sub(1)?)?;
                crate::lexer::parse_int(p)
                    .ok()
                    .map(i128::from)
                    .or_else(|| p.parse::<i64>().ok().map(i128::from))
            }
            ExprKind::Unary { op, expr } => {
                let v = self.const_int(expr)?;
                match op {
                    UnOp::Neg => Some(-v),
                    UnOp::Not => Some(i128::from(v == 0)),
                    UnOp::BitNot => Some(!v),
                    _ => None,
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.const_int(lhs)?;
                if *op == BinOp::LogAnd && a == 0 {
                    return Some(0);
                }
                if *op == BinOp::LogOr && a != 0 {
                    return Some(1);
                }
                let b = self.const_int(rhs)?;
                Some(match op {
                    BinOp::Add => a.checked_add(b)?,
                    BinOp::Sub => a.checked_sub(b)?,
                    BinOp::Mul => a.checked_mul(b)?,
                    BinOp::Div => a.checked_div(b)?,
                    BinOp::Mod => a.checked_rem(b)?,
                    BinOp::BitAnd => a & b,
                    BinOp::BitOr => a | b,
                    BinOp::BitXor => a ^ b,
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                        i128::from(op.compare(a, b)?)
                    }
                    BinOp::LogAnd | BinOp::LogOr => i128::from(b != 0),
                    BinOp::Shl | BinOp::Shr => return None,
                })
            }
            _ => None,
        }
    }

    /// Checks `b` as a branch that is never taken when `unreached` (its `fail()` and
    /// `static_assert()` do not stop the build).
    /// `if comptime COND { } else { }`: COND must be known when compiling; only the branch
    /// it selects is checked (the other may use types the program does not have) and
    /// [`prune_comptime`] removes the other. `false` when `cond` is not `comptime(...)`.
    pub(super) fn comptime_if(
        &mut self,
        cond: &Expr,
        then: &Block,
        otherwise: Option<&Block>,
    ) -> bool {
        let ExprKind::Call { name, args } = &cond.kind else {
            return false;
        };
        if name.name != "comptime" || args.len() != 1 {
            return false;
        }
        let inner = &args[0];
        let t = self.expr(inner);
        self.truthy(&t, inner, "the `if comptime` condition");
        match self.const_int(inner) {
            Some(v) => {
                self.consts.insert(cond.id, ExprKind::Bool(v != 0));
                if v != 0 {
                    self.block(then);
                } else if let Some(o) = otherwise {
                    self.block(o);
                }
            }
            None => {
                self.error(
                    Diagnostic::error(
                        "the condition of `if comptime` is not known when compiling",
                        inner.span,
                        "known only when the probe runs",
                    )
                    .with_help("drop `comptime` to decide it when the probe runs"),
                );
                self.block(then);
                if let Some(o) = otherwise {
                    self.block(o);
                }
            }
        }
        true
    }

    pub(super) fn branch(&mut self, b: &Block, unreached: bool) {
        self.unreached += u32::from(unreached);
        self.block(b);
        self.unreached -= u32::from(unreached);
    }
}

/// An empty block: what a compile-time statement becomes once checked.
fn nothing(e: &Expr) -> ExprKind {
    ExprKind::Block {
        block: Block {
            stmts: Vec::new(),
            span: e.span,
        },
        value: None,
    }
}

/// Drops the branch every checked `if comptime` does not take (its condition folds to a
/// literal), so nothing unchecked reaches code generation.
pub(super) fn prune_comptime(
    b: &mut Block,
    consts: &std::collections::HashMap<crate::ast::ExprId, ExprKind>,
) {
    use crate::ast::{Child, StmtKind, for_each_child};
    for s in &mut b.stmts {
        if let StmtKind::If {
            cond,
            then,
            otherwise,
        } = &mut s.kind
            && let ExprKind::Call { name, .. } = &cond.kind
            && name.name == "comptime"
            && let Some(ExprKind::Bool(v)) = consts.get(&cond.id)
        {
            let empty = Block {
                stmts: Vec::new(),
                span: cond.span,
            };
            // The condition folds to `v` with the other constants.
            if *v {
                *otherwise = None;
            } else {
                *then = empty;
            }
        }
        let _ = for_each_child(s, &mut |c| {
            match c {
                Child::Block(b) => prune_comptime(b, consts),
                Child::Expr(e) => prune_expr(e, consts),
                Child::Var(_) | Child::Type(_) => {}
            }
            Ok(())
        });
    }
}

fn prune_expr(e: &mut Expr, consts: &std::collections::HashMap<crate::ast::ExprId, ExprKind>) {
    if let ExprKind::Block { block, .. } = &mut e.kind {
        prune_comptime(block, consts);
    }
    crate::ast::visit_expr_children_mut(e, &mut |c| prune_expr(c, consts));
}
