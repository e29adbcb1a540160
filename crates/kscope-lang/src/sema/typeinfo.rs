//! `typeinfo(EXPR|TYPE)`, upstream's unstable compile-time type record
//! `{ btf_id, base_type, full_type }`. The record itself is not built as a value yet: it
//! is read where it is written, `typeinfo(x).full_type` folding to a string literal and
//! `typeinfo(a) == typeinfo(b)` to a bool; a string comparison of two literals folds to
//! a bool too (so `if (typeinfo($a).full_type != "uint64")` is decided when compiling,
//! as upstream's is).

use super::check::Checker;
use super::strings::STR_CAP as STR_CAPACITY;
use super::types::{AggKind, Type};
use crate::ast::{BinOp, Expr, ExprKind, Ident};
use crate::diag::Diagnostic;

/// The fields of upstream's `typeinfo` record.
const FIELDS: &[&str] = &["btf_id", "base_type", "full_type"];

/// Upstream's name for the kind of `t` (`int`, `pointer`, `string`, `c_type`, ...).
pub fn base_type(t: &Type) -> &'static str {
    match t {
        Type::Int { .. } | Type::Enum { .. } => "int",
        Type::Bool => "bool",
        Type::Str => "string",
        Type::Ptr(_) => "pointer",
        Type::Struct(_) | Type::Args => "c_type",
        Type::Array(..) => "array",
        Type::Tuple(_) => "tuple",
        Type::Record(_) => "record",
        Type::Kstack => "kstack",
        Type::Ustack => "ustack",
        Type::Ksym => "ksym_t",
        Type::Usym => "usym_t",
        Type::Inet => "inet",
        Type::Buf => "buffer",
        Type::Timestamp(_) => "timestamp",
        Type::CgroupPath(_) => "cgroup_path_t",
        Type::Username => "username_t",
        Type::Agg(k, _) => k.type_name(),
        Type::Void => "void",
        Type::Unknown => "none",
    }
}

/// Upstream's full spelling of `t` (`uint64`, `int8 *`, `string[64]`, `(int64,bool)`):
/// kscope's strings hold [`STR_CAPACITY`] bytes, so every string is `string[64]`.
pub fn full_type(t: &Type) -> String {
    match t {
        Type::Int { bits, signed } => format!("{}int{bits}", if *signed { "" } else { "u" }),
        Type::Str => format!("string[{STR_CAPACITY}]"),
        Type::Inet | Type::Buf => format!("{}[{STR_CAPACITY}]", base_type(t)),
        Type::Ptr(inner) => format!("{} *", full_type(inner)),
        Type::Array(el, n) => format!("{}[{n}]", full_type(el)),
        Type::Struct(name) | Type::Enum { name, .. } => name.clone(),
        Type::Tuple(items) => {
            let parts: Vec<String> = items.iter().map(full_type).collect();
            format!("({})", parts.join(","))
        }
        Type::Record(fields) if fields.is_empty() => "record {}".to_string(),
        Type::Record(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(n, t)| format!(".{n} = {}", full_type(t)))
                .collect();
            format!("record {{ {} }}", parts.join(", "))
        }
        Type::Agg(
            k @ (AggKind::Sum | AggKind::Avg | AggKind::Min | AggKind::Max | AggKind::Stats),
            signed,
        ) => format!("{}{}", if *signed { "" } else { "u" }, k.type_name()),
        t => base_type(t).to_string(),
    }
}

/// The argument of `typeinfo(x)` when `e` is such a call.
fn typeinfo_arg(e: &Expr) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Call { name, args } if name.name == "typeinfo" && args.len() == 1 => {
            Some(&args[0])
        }
        _ => None,
    }
}

impl Checker<'_> {
    /// The static type `typeinfo` describes (the argument never runs); `None` after
    /// reporting that the unstable feature is off.
    fn typeinfo_of(&mut self, call: &Expr, arg: &Expr) -> Option<Type> {
        match self.typeinfo_mode.as_str() {
            "enable" => {}
            "warn" => self.warn(Diagnostic::warning(
                "`typeinfo()` is an unstable feature",
                call.span,
                "may change in later releases",
            )),
            _ => {
                self.error(
                    Diagnostic::error(
                        "`typeinfo()` is an unstable feature and is off",
                        call.span,
                        "unstable",
                    )
                    .with_help("turn it on with `config = { unstable_typeinfo = enable }`"),
                );
                return None;
            }
        }
        Some(match &arg.kind {
            ExprKind::Type(ty) => self.written_type(ty).unwrap_or(Type::Unknown),
            _ => self.expr(arg),
        })
    }

    /// `typeinfo(x).field`: the field's value as a constant, `None` when `e` is not one.
    pub(super) fn typeinfo_field(&mut self, e: &Expr, base: &Expr, field: &Ident) -> Option<Type> {
        let arg = typeinfo_arg(base)?;
        let Some(t) = self.typeinfo_of(base, arg) else {
            return Some(Type::Unknown);
        };
        let (value, ty) = match field.name.as_str() {
            "btf_id" => (ExprKind::Int(0), Type::INT64),
            "base_type" => (ExprKind::Str(base_type(&t).as_bytes().to_vec()), Type::Str),
            "full_type" => (ExprKind::Str(full_type(&t).into_bytes()), Type::Str),
            other => {
                let mut d = Diagnostic::error(
                    format!("the `typeinfo` record has no field `{other}`"),
                    field.span,
                    "unknown field",
                );
                d = match crate::suggest::nearest(other, FIELDS.iter().copied()) {
                    Some(n) => d.with_help(format!("did you mean `{n}`?")),
                    None => d.with_help("its fields are `btf_id`, `base_type` and `full_type`"),
                };
                self.error(d);
                return Some(Type::Unknown);
            }
        };
        self.consts.insert(e.id, value);
        Some(ty)
    }

    /// `typeinfo(a) == typeinfo(b)` (or `!=`): folded to a bool constant.
    pub(super) fn typeinfo_compare(
        &mut self,
        e: &Expr,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
    ) -> Option<Type> {
        let (Some(a), Some(b)) = (typeinfo_arg(lhs), typeinfo_arg(rhs)) else {
            return None;
        };
        if !matches!(op, BinOp::Eq | BinOp::Ne) {
            self.error(Diagnostic::error(
                format!(
                    "`typeinfo` records cannot be compared with `{}`",
                    op.symbol()
                ),
                e.span,
                "only `==` and `!=`",
            ));
            return Some(Type::Bool);
        }
        let (Some(ta), Some(tb)) = (self.typeinfo_of(lhs, a), self.typeinfo_of(rhs, b)) else {
            return Some(Type::Bool);
        };
        let same = full_type(&ta) == full_type(&tb) && base_type(&ta) == base_type(&tb);
        self.consts
            .insert(e.id, ExprKind::Bool(same == (op == BinOp::Eq)));
        Some(Type::Bool)
    }

    /// `"a" == "b"` with both sides literal (or folded to one): a bool constant.
    pub(super) fn fold_str_compare(&mut self, e: &Expr, op: BinOp, lhs: &Expr, rhs: &Expr) {
        if !matches!(op, BinOp::Eq | BinOp::Ne) {
            return;
        }
        let text = |this: &Self, x: &Expr| match this.consts.get(&x.id).unwrap_or(&x.kind) {
            ExprKind::Str(s) => Some(s.clone()),
            _ => None,
        };
        if let (Some(a), Some(b)) = (text(self, lhs), text(self, rhs)) {
            self.consts
                .insert(e.id, ExprKind::Bool((a == b) == (op == BinOp::Eq)));
        }
    }
}
