//! Block scoping of `$variables`, made explicit before type checking: a variable a
//! block introduces (with `let`, by its first assignment, or as a loop variable) lives to
//! the block's end, so two sibling blocks may each have a `$a` of its own, of different
//! types (`if (c) { let $a = 1; } else { let $a = "s"; }`, as upstream allows). The later
//! ones are renamed `$a__scopeN`, which every later pass treats as a variable of its
//! own; [`crate::macros::source_name`] gives the name back for messages.

use std::collections::{BTreeMap, HashSet};

use crate::ast::{Block, Child, Expr, ExprKind, Ident, Probe, Stmt, StmtKind, for_each_expr_child};

/// What the pass appends (with its number) to a variable introduced again.
pub(crate) const SUFFIX: &str = "__scope";

/// Renames, in each probe, every variable introduced again after the scope of an
/// earlier one of the same name ended.
pub fn separate(probes: &mut [Probe]) {
    for p in probes {
        let mut pass = Pass::default();
        pass.scopes.push(BTreeMap::new());
        if let Some(pred) = &mut p.predicate {
            pass.expr(pred);
        }
        pass.block(&mut p.body);
    }
}

#[derive(Default)]
struct Pass {
    /// Source name → the name it stands for, per open scope.
    scopes: Vec<BTreeMap<String, String>>,
    /// Every name introduced so far in the probe.
    introduced: HashSet<String>,
    renamed: u32,
}

impl Pass {
    fn lookup(&self, name: &str) -> Option<&String> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    /// `var` introduced in the innermost scope: renamed if its name was taken before.
    fn introduce(&mut self, var: &mut Ident) {
        let name = if self.introduced.insert(var.name.clone()) {
            var.name.clone()
        } else {
            self.renamed += 1;
            format!("{}{SUFFIX}{}", var.name, self.renamed)
        };
        self.scopes
            .last_mut()
            .expect("a scope")
            .insert(std::mem::replace(&mut var.name, name.clone()), name);
    }

    /// A variable that a statement assigns: the one in scope, else a new one here.
    fn assign(&mut self, var: &mut Ident) {
        match self.lookup(&var.name) {
            Some(to) => var.name = to.clone(),
            None => self.introduce(var),
        }
    }

    fn block(&mut self, b: &mut Block) {
        self.scopes.push(BTreeMap::new());
        self.stmts(&mut b.stmts);
        self.scopes.pop();
    }

    fn stmts(&mut self, stmts: &mut [Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) | StmtKind::Return(Some(e)) => self.expr(e),
            StmtKind::Let { var, ty, value } => {
                if let Some(v) = value {
                    self.expr(v);
                }
                if let Some(of) = ty.as_mut().and_then(|t| t.of.as_mut()) {
                    self.expr(of);
                }
                // A `let` of a name in scope is the type checker's shadowing error: the
                // name is left alone for it.
                match self.lookup(&var.name) {
                    Some(to) => var.name = to.clone(),
                    None => self.introduce(var),
                }
            }
            StmtKind::AssignVar { var, value, .. } => {
                self.expr(value);
                self.assign(var);
            }
            StmtKind::AssignMap { map, value, .. } => {
                self.expr(map);
                self.expr(value);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.block(then);
                if let Some(o) = otherwise {
                    self.block(o);
                }
            }
            StmtKind::Unroll { count, body } => {
                self.expr(count);
                self.block(body);
            }
            StmtKind::While { cond, body } => {
                self.expr(cond);
                self.block(body);
            }
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => {
                self.expr(start);
                self.expr(end);
                self.loop_body(var, body);
            }
            StmtKind::ForMap { var, map, body } => {
                self.expr(map);
                self.loop_body(var, body);
            }
            StmtKind::Return(None) | StmtKind::Break | StmtKind::Continue => {}
        }
    }

    fn loop_body(&mut self, var: &mut Ident, body: &mut Block) {
        self.scopes.push(BTreeMap::new());
        if self.lookup(&var.name).is_none() {
            self.introduce(var);
        }
        self.block(body);
        self.scopes.pop();
    }

    fn expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(name) => {
                if let Some(to) = self.lookup(name) {
                    *name = to.clone();
                }
                return;
            }
            ExprKind::Block { block, value } => {
                self.scopes.push(BTreeMap::new());
                self.stmts(&mut block.stmts);
                if let Some(v) = value {
                    self.expr(v);
                }
                self.scopes.pop();
                return;
            }
            _ => {}
        }
        let _ = for_each_expr_child(e, &mut |c| {
            match c {
                Child::Expr(x) => self.expr(x),
                Child::Block(b) => self.block(b),
                // A `typeof(EXPR)` in it comes next as a `Child::Expr`.
                Child::Type(_) => {}
                Child::Var(v) => {
                    if let Some(to) = self.lookup(&v.name) {
                        v.name = to.clone();
                    }
                }
            }
            Ok(())
        });
    }
}
