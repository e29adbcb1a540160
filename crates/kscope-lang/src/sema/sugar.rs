//! Rewrites before type checking.

use crate::ast::{Block, Child, Expr, ExprKind, Program, Stmt, StmtKind};

/// `@m[k] = { stmts; avg($x) }` becomes `{ stmts; @m[k] = avg($x) }` (nested block
/// expressions too), as upstream's map-assignment rewrite does: an aggregation is only
/// ever assigned to a map, so the block's value is assigned inside it.
pub(super) fn sink_aggregations(program: &mut Program) {
    for p in &mut program.probes {
        block(&mut p.body);
    }
}

fn block(b: &mut Block) {
    for s in &mut b.stmts {
        stmt(s);
    }
}

fn stmt(s: &mut Stmt) {
    if let StmtKind::AssignMap {
        op: None, value, ..
    } = &s.kind
        && ends_in_aggregation(value)
    {
        let kind = std::mem::replace(&mut s.kind, StmtKind::Break);
        let StmtKind::AssignMap { map, mut value, .. } = kind else {
            unreachable!("matched above")
        };
        assign_inside(&mut value, map, s.span);
        s.kind = StmtKind::Expr(value);
    }
    let _ = crate::ast::for_each_child(s, &mut |c| {
        match c {
            Child::Expr(e) => expr(e),
            Child::Block(b) => block(b),
            Child::Var(_) | Child::Type(_) => {}
        }
        Ok(())
    });
}

fn expr(e: &mut Expr) {
    let _ = crate::ast::for_each_expr_child(e, &mut |c| {
        match c {
            Child::Expr(e) => expr(e),
            Child::Block(b) => block(b),
            Child::Var(_) | Child::Type(_) => {}
        }
        Ok(())
    });
}

/// A block expression whose value is an aggregation call (or such a block).
fn ends_in_aggregation(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Block { value: Some(v), .. } => match &v.kind {
            ExprKind::Call { name, .. } => super::check::AGGREGATIONS.contains(&name.name.as_str()),
            _ => ends_in_aggregation(v),
        },
        _ => false,
    }
}

/// Replaces the value of the innermost block of `e` (see [`ends_in_aggregation`]) by the
/// statement `map = value`.
fn assign_inside(e: &mut Expr, map: Expr, span: crate::span::Span) {
    let ExprKind::Block { block, value } = &mut e.kind else {
        return;
    };
    match value.take() {
        Some(mut v) if matches!(v.kind, ExprKind::Block { .. }) => {
            assign_inside(&mut v, map, span);
            block.stmts.push(Stmt {
                kind: StmtKind::Expr(*v),
                span,
            });
        }
        Some(v) => block.stmts.push(Stmt {
            kind: StmtKind::AssignMap {
                map,
                op: None,
                value: *v,
            },
            span,
        }),
        None => {}
    }
}
