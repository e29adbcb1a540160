//! What trace-cmd's libtraceevent does differently from C, for [`Dialect::TraceCmd`]:
//! the shape it gives operator chains, and its casts.
//!
//! Learned from reading libtraceevent's `process_op()` and `eval_type_str()` (the code is
//! not copied): a chain of binary operators is grouped to the right when the next operator
//! binds as tightly or more (`a - b - c` is `a - (b - c)`), and a parenthesised right
//! operand whose operator binds more loosely is rotated into the parent
//! (`x & (a | b)` is `(x & a) | b`). Values are `unsigned long long`; a cast masks to the
//! type's width without sign extension.
//!
//! [`Dialect::TraceCmd`]: super::Dialect::TraceCmd

use super::ast::{BinaryOp, CType, Expr, ExprKind, FlagEntry, Stmt};

/// libtraceevent's operator priorities (a lower number binds tighter).
fn prio(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        BinaryOp::Add | BinaryOp::Sub => 7,
        BinaryOp::Shl | BinaryOp::Shr => 8,
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 9,
        BinaryOp::Eq | BinaryOp::Ne => 10,
        BinaryOp::BitAnd => 11,
        BinaryOp::BitXor => 12,
        BinaryOp::BitOr => 13,
        BinaryOp::And => 14,
        BinaryOp::Or => 15,
        BinaryOp::Comma => 17,
    }
}

fn is_chain_op(op: BinaryOp) -> bool {
    op != BinaryOp::Comma
}

/// Collects the operands and operators of an unparenthesised chain, in source order.
fn flatten(e: &Expr, root: bool, operands: &mut Vec<Expr>, ops: &mut Vec<(BinaryOp, usize)>) {
    match &e.kind {
        ExprKind::Binary(op, a, b) if is_chain_op(*op) && (root || !e.parenthesized) => {
            flatten(a, false, operands, ops);
            ops.push((*op, e.offset));
            flatten(b, false, operands, ops);
        }
        _ => operands.push(shape(e)),
    }
}

fn placeholder() -> Expr {
    Expr {
        kind: ExprKind::Braced(Vec::new()),
        offset: 0,
        parenthesized: false,
    }
}

/// libtraceevent's `process_op()` on `arg`, consuming operator `i` and the operands after.
fn process_op(
    arg: &mut Expr,
    ops: &[(BinaryOp, usize)],
    operands: &mut std::vec::IntoIter<Expr>,
    i: usize,
) {
    let (op, offset) = ops[i];
    let left = std::mem::replace(arg, placeholder());
    let right = operands.next().unwrap_or_else(placeholder);
    let rotate = right.parenthesized
        && matches!(right.kind, ExprKind::Binary(rop, ..) if is_chain_op(rop) && prio(op) < prio(rop));
    let top_prio;
    let into_left;
    if rotate {
        let ExprKind::Binary(rop, rl, rr) = right.kind else {
            return;
        };
        let inner = Expr {
            kind: ExprKind::Binary(op, Box::new(left), rl),
            offset,
            parenthesized: false,
        };
        *arg = Expr {
            kind: ExprKind::Binary(rop, Box::new(inner), rr),
            offset: right.offset,
            parenthesized: false,
        };
        top_prio = prio(rop);
        into_left = true;
    } else {
        *arg = Expr {
            kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
            offset,
            parenthesized: false,
        };
        top_prio = prio(op);
        into_left = false;
    }
    let Some(&(next, _)) = ops.get(i + 1) else {
        return;
    };
    if prio(next) > top_prio {
        process_op(arg, ops, operands, i + 1);
    } else if let ExprKind::Binary(_, l, r) = &mut arg.kind {
        let slot = if into_left { l } else { r };
        process_op(slot, ops, operands, i + 1);
    }
}

fn shape_box(e: &Expr) -> Box<Expr> {
    Box::new(shape(e))
}

fn shape_entries(entries: &[FlagEntry]) -> Vec<FlagEntry> {
    entries
        .iter()
        .map(|e| FlagEntry {
            value: shape(&e.value),
            constant: e.constant,
            name: e.name.clone(),
        })
        .collect()
}

/// The expression as libtraceevent would build it.
pub(crate) fn shape(e: &Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::Binary(op, _, _) if is_chain_op(*op) => {
            let mut operands = Vec::new();
            let mut ops = Vec::new();
            flatten(e, true, &mut operands, &mut ops);
            let mut operands = operands.into_iter();
            let mut arg = operands.next().unwrap_or_else(placeholder);
            if !ops.is_empty() {
                process_op(&mut arg, &ops, &mut operands, 0);
            }
            arg.parenthesized = e.parenthesized;
            return arg;
        }
        ExprKind::Binary(op, a, b) => ExprKind::Binary(*op, shape_box(a), shape_box(b)),
        ExprKind::Int { .. }
        | ExprKind::Str(_)
        | ExprKind::Field(_)
        | ExprKind::Ident(_)
        | ExprKind::SizeofType(_) => e.kind.clone(),
        ExprKind::Member { base, name, arrow } => ExprKind::Member {
            base: shape_box(base),
            name: name.clone(),
            arrow: *arrow,
        },
        ExprKind::Index(a, b) => ExprKind::Index(shape_box(a), shape_box(b)),
        ExprKind::Unary(op, a) => ExprKind::Unary(*op, shape_box(a)),
        ExprKind::Ternary(c, a, b) => ExprKind::Ternary(shape_box(c), shape_box(a), shape_box(b)),
        ExprKind::Cast(t, a) => ExprKind::Cast(t.clone(), shape_box(a)),
        ExprKind::SizeofExpr(a) => ExprKind::SizeofExpr(shape_box(a)),
        ExprKind::PrintFlags {
            value,
            delim,
            entries,
        } => ExprKind::PrintFlags {
            value: shape_box(value),
            delim: shape_box(delim),
            entries: shape_entries(entries),
        },
        ExprKind::PrintSymbolic { value, entries } => ExprKind::PrintSymbolic {
            value: shape_box(value),
            entries: shape_entries(entries),
        },
        ExprKind::Call { name, args } => ExprKind::Call {
            name: name.clone(),
            args: args.iter().map(shape).collect(),
        },
        ExprKind::Braced(items) => ExprKind::Braced(items.iter().map(shape).collect()),
        ExprKind::StmtExpr(stmts) => ExprKind::StmtExpr(
            stmts
                .iter()
                .map(|s| match s {
                    Stmt::Decl { ty, name, init } => Stmt::Decl {
                        ty: ty.clone(),
                        name: name.clone(),
                        init: init.as_ref().map(shape),
                    },
                    Stmt::Expr(x) => Stmt::Expr(shape(x)),
                    Stmt::Opaque(t) => Stmt::Opaque(t.clone()),
                })
                .collect(),
        ),
    };
    Expr {
        kind,
        offset: e.offset,
        parenthesized: e.parenthesized,
    }
}

/// libtraceevent's cast of an `unsigned long long`: masks to the named width, never
/// sign-extends, and leaves types it does not know alone.
pub(crate) fn cast(val: u64, ty: &CType) -> u64 {
    if ty.pointer > 0 {
        // `(char *)` and other pointers keep the value.
        return val;
    }
    let t = ty.text.as_str();
    if t.starts_with("struct") {
        return val;
    }
    let t = t.strip_prefix("unsigned ").unwrap_or(t);
    match t {
        "u8" | "s8" | "char" => val & 0xff,
        "u16" | "s16" | "short" => val & 0xffff,
        "u32" | "s32" | "int" => val & 0xffff_ffff,
        _ => val,
    }
}
