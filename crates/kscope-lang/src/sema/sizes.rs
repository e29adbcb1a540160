//! `sizeof` and `offsetof`: compile-time sizes and member offsets, from the type names
//! of casts and from BTF. The checker records each call's value; after checking, the
//! calls become integer literals (their argument is never run, as upstream's), as
//! `getopt()` calls become their option's value.

use std::collections::HashMap;

use super::builtins::cast_base;
use super::check::Checker;
use super::provider::Lookup;
use super::types::Type;
use crate::ast::{Expr, ExprId, ExprKind, Ident, Program, TypeName};
use crate::diag::Diagnostic;
use crate::suggest::nearest;

impl Checker<'_> {
    /// `sizeof(TYPE)` / `sizeof(EXPR)`.
    pub(super) fn sizeof(&mut self, e: &Expr, args: &[Expr]) -> Type {
        if !self.arity(e, "sizeof", args, 1, 1) {
            return Type::UINT64;
        }
        let size = match &args[0].kind {
            ExprKind::Type(ty) => self.type_name_size(ty),
            _ => {
                let t = self.expr(&args[0]);
                self.type_size(&t, &args[0])
            }
        };
        if let Some(n) = size {
            self.consts.insert(e.id, ExprKind::Int(n));
        }
        Type::UINT64
    }

    /// `offsetof(STRUCT, a.b.c)` / `offsetof(EXPR, a.b.c)`.
    pub(super) fn offsetof(&mut self, e: &Expr, args: &[Expr]) -> Type {
        if !self.arity(e, "offsetof", args, 2, 2) {
            return Type::UINT64;
        }
        let mut current = match &args[0].kind {
            ExprKind::Type(ty) if ty.pointer == 0 && ty.array.is_empty() => {
                if !self.known_struct(ty) {
                    return Type::UINT64;
                }
                Type::Struct(ty.base.clone())
            }
            ExprKind::Type(ty) => Type::Struct(ty.to_string()),
            _ => self.expr(&args[0]),
        };
        let Some(path) = member_path(&args[1]) else {
            self.error(
                Diagnostic::error(
                    "`offsetof()` needs a member name or path here",
                    args[1].span,
                    "not a member path",
                )
                .with_help("write the members as `offsetof(struct S, a.b.c)`"),
            );
            return Type::UINT64;
        };
        let mut offset = 0u64;
        for member in path {
            let Type::Struct(name) = &current else {
                let d = Diagnostic::error(
                    format!("`offsetof()` needs a struct or union, found `{current}`"),
                    member.span,
                    format!("`{current}` has no members"),
                );
                let d = match current {
                    Type::Ptr(_) => d.with_help("dereference the pointer: `offsetof(*p, ...)`"),
                    _ => d,
                };
                self.error(d);
                return Type::UINT64;
            };
            match self.tp.member_offset(name, &member.name) {
                Lookup::Found((off, t)) => {
                    offset += off;
                    current = t;
                }
                Lookup::Unknown => {
                    self.error(Diagnostic::error(
                        format!("the layout of `{name}` is unknown"),
                        member.span,
                        "no BTF describes it",
                    ));
                    return Type::UINT64;
                }
                Lookup::Missing { candidates } => {
                    let mut d = Diagnostic::error(
                        format!("`{name}` has no field `{}`", member.name),
                        member.span,
                        "unknown field",
                    );
                    if let Some(c) = nearest(&member.name, candidates.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `{c}`?"));
                    }
                    self.error(d);
                    return Type::UINT64;
                }
            }
        }
        self.consts.insert(e.id, ExprKind::Int(offset));
        Type::UINT64
    }

    fn type_name_size(&mut self, ty: &TypeName) -> Option<u64> {
        if let Some(of) = &ty.of {
            let t = self.written_type(ty)?;
            return self.type_size(&t, of);
        }
        let elem = if ty.pointer > 0 {
            Some(8)
        } else if let Some(t) = cast_base(&ty.base) {
            match t {
                Type::Int { bits, .. } => Some(u64::from(bits / 8)),
                Type::Bool => Some(1),
                _ => {
                    self.error(Diagnostic::error(
                        format!("the size of `{}` is not built yet", ty.base),
                        ty.span,
                        "no fixed size",
                    ));
                    return None;
                }
            }
        } else if !ty.base.contains(' ') && self.tp.enum_value(&ty.base).is_some() {
            // A kernel enum constant alone is a 64-bit value (upstream's enum type).
            Some(8)
        } else {
            if !self.known_struct(ty) {
                return None;
            }
            let size = self.tp.struct_size(&ty.base);
            if size.is_none() {
                let mut d = Diagnostic::error(
                    format!("unknown type `{}`", ty.base),
                    ty.span,
                    "no BTF describes this type",
                );
                if !ty.base.contains(' ') {
                    d = d.with_help(
                        "a bare name is a type here, as upstream reads it: \
                         name a struct as `struct NAME`",
                    );
                }
                self.error(d);
            }
            size
        }?;
        let mut size = elem;
        for n in &ty.array {
            let Some(n) = n else {
                self.error(Diagnostic::error(
                    format!("the size of `{ty}` needs the array's length"),
                    ty.span,
                    "`[]` has no length here",
                ));
                return None;
            };
            size = size.saturating_mul(*n);
        }
        Some(size)
    }

    fn type_size(&mut self, t: &Type, at: &Expr) -> Option<u64> {
        let size = match t {
            Type::Int { bits, .. } | Type::Enum { bits, .. } => Some(u64::from(*bits / 8)),
            Type::Bool => Some(1),
            Type::Ptr(_) => Some(8),
            Type::Array(elem, n) => self.type_size(elem, at).map(|s| s * n),
            Type::Struct(name) => self.tp.struct_size(name),
            // kscope strings hold STR_CAP bytes.
            Type::Str => Some(super::strings::STR_CAP),
            // Upstream lays tuples and records out as C structs: each element at its
            // natural alignment, the whole rounded up to the largest.
            Type::Tuple(items) => self.aggregate_size(items.iter(), at),
            Type::Record(fields) => self.aggregate_size(fields.iter().map(|(_, t)| t), at),
            _ => None,
        };
        if size.is_none() && !matches!(t, Type::Array(..) | Type::Tuple(_) | Type::Record(_)) {
            self.error(Diagnostic::error(
                format!("the size of a `{t}` value is not built yet"),
                at.span,
                format!("this has type `{t}`"),
            ));
        }
        size
    }
}

impl Checker<'_> {
    /// The C layout size of elements `items`, one after another at natural alignment.
    fn aggregate_size<'t>(
        &mut self,
        items: impl Iterator<Item = &'t Type>,
        at: &Expr,
    ) -> Option<u64> {
        let mut off = 0u64;
        let mut max_align = 1u64;
        for t in items {
            let size = self.type_size(t, at)?;
            let align = alignment(t);
            max_align = max_align.max(align);
            off = off.div_ceil(align) * align + size;
        }
        Some(off.div_ceil(max_align) * max_align)
    }
}

/// The natural alignment of a value of type `t` in a tuple or record.
fn alignment(t: &Type) -> u64 {
    match t {
        Type::Int { bits, .. } | Type::Enum { bits, .. } => u64::from(*bits / 8).max(1),
        Type::Bool | Type::Str => 1,
        Type::Array(elem, _) => alignment(elem),
        Type::Tuple(items) => items.iter().map(alignment).max().unwrap_or(1),
        Type::Record(fields) => fields.iter().map(|(_, t)| alignment(t)).max().unwrap_or(1),
        _ => 8,
    }
}

/// The members of `a.b.c` (an identifier, then fields), outermost first.
fn member_path(e: &Expr) -> Option<Vec<Ident>> {
    match &e.kind {
        ExprKind::Ident(n) => Some(vec![Ident {
            name: n.clone(),
            span: e.span,
        }]),
        ExprKind::Field {
            expr,
            field,
            arrow: false,
        } => {
            let mut path = member_path(expr)?;
            path.push(field.clone());
            Some(path)
        }
        _ => None,
    }
}

/// Replaces the expressions the checker folded (`sizeof`/`offsetof` calls, compile-time
/// functions, tuple subscripts) by what they fold to.
pub(super) fn fold(program: &mut Program, consts: &HashMap<ExprId, ExprKind>) {
    if consts.is_empty() {
        return;
    }
    for p in &mut program.probes {
        if let Some(pred) = &mut p.predicate {
            fold_expr(pred, consts);
        }
        crate::ast::visit_block_mut(&mut p.body, &mut |e| fold_expr(e, consts));
    }
}

fn fold_expr(e: &mut Expr, consts: &HashMap<ExprId, ExprKind>) {
    if let Some(v) = consts.get(&e.id) {
        // A replacement may hold checked expressions (a folded `$t[1][0]` holds `$t[1]`).
        e.kind = v.clone();
    }
    crate::ast::visit_expr_children_mut(e, &mut |c| fold_expr(c, consts));
}
