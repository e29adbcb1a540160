//! bpftrace macros (`macro add_one(x) { x + 1 }`): parsed with the program, then every
//! call (`add_one($a)`, or a bare `one` for a macro without parameters) is replaced by a
//! copy of the body before type checking.
//!
//! Macros are hygienic, as upstream's: the body reaches only the variables and maps passed
//! to it. A `$a` parameter takes a variable (and may change it), `@m` a map, `x` any
//! expression, inserted wherever `x` appears. Variables the body creates are its own
//! (renamed per expansion).

use std::collections::HashMap;

use crate::ast::{
    Block, Child, Expr, ExprId, ExprKind, Ident, Probe, Stmt, TypeName, for_each_child,
    for_each_expr_child,
};
use crate::diag::Diagnostic;
use crate::span::Span;

/// Nested expansions deeper than this are a recursive macro.
const MAX_DEPTH: u32 = 32;
/// Expressions a program may hold after expansion (a macro that uses its argument
/// twice, nested, doubles each time).
const MAX_EXPRS: u32 = 1 << 20;

/// What a macro parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `$a`: a scratch variable.
    Var,
    /// `@m`: a map (without keys).
    Map,
    /// `x`: an expression.
    Expr,
}

/// One parameter: its kind and name (without `$`/`@`).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// What it accepts.
    pub kind: ParamKind,
    /// The name without its sigil.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
}

impl Param {
    fn written(&self) -> String {
        match self.kind {
            ParamKind::Var => format!("${}", self.name),
            ParamKind::Map => format!("@{}", self.name),
            ParamKind::Expr => self.name.clone(),
        }
    }
}

/// A `macro NAME(params) { body }` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Macro {
    /// Its name.
    pub name: Ident,
    /// Its parameters.
    pub params: Vec<Param>,
    /// The statements of the body.
    pub body: Block,
    /// The body's value: its last expression, written without `;`.
    pub value: Option<Expr>,
}

/// What an expansion appends (with its number) to the variables of a macro body.
const SUFFIX: &str = "__macro";

/// A variable's name as the script wrote it: without the suffixes an expansion appends
/// to the variables of a macro body and [`crate::scopes`] to a name introduced again.
pub fn source_name(name: &str) -> &str {
    let mut name = name;
    for suffix in [crate::scopes::SUFFIX, SUFFIX] {
        if let Some((base, n)) = name.rsplit_once(suffix)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            name = base;
        }
    }
    name
}

/// Replaces every macro call in `probes` by its expansion; new expressions get ids from
/// `next_id` on.
pub fn expand(probes: &mut [Probe], macros: &[Macro], next_id: &mut u32) -> Result<(), Diagnostic> {
    if macros.is_empty() {
        return Ok(());
    }
    for (i, m) in macros.iter().enumerate() {
        if let Some(first) = macros[..i].iter().find(|o| o.name.name == m.name.name) {
            return Err(Diagnostic::error(
                format!("the macro `{}` is defined twice", m.name.name),
                m.name.span,
                "second definition",
            )
            .with_note("first defined here", first.name.span, "first definition"));
        }
    }
    let mut x = Expander {
        macros,
        next_id,
        expansions: 0,
        depth: 0,
    };
    for p in probes {
        if let Some(pred) = &mut p.predicate {
            x.expr(pred)?;
        }
        x.block(&mut p.body)?;
    }
    Ok(())
}

struct Expander<'a> {
    macros: &'a [Macro],
    next_id: &'a mut u32,
    /// Expansions so far (names the variables of each one apart).
    expansions: u32,
    depth: u32,
}

impl<'a> Expander<'a> {
    fn block(&mut self, b: &mut Block) -> Result<(), Diagnostic> {
        for s in &mut b.stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &mut Stmt) -> Result<(), Diagnostic> {
        for_each_child(s, &mut |c| match c {
            Child::Expr(e) => self.expr(e),
            Child::Block(b) => self.block(b),
            Child::Var(_) | Child::Type(_) => Ok(()),
        })
    }

    fn expr(&mut self, e: &mut Expr) -> Result<(), Diagnostic> {
        let call = match &e.kind {
            ExprKind::Call { name, .. } => self.find(&name.name),
            ExprKind::Ident(name) => self.find(name).filter(|m| m.params.is_empty()),
            _ => None,
        };
        let Some(m) = call else {
            return for_each_expr_child(e, &mut |c| match c {
                Child::Expr(e) => self.expr(e),
                Child::Block(b) => self.block(b),
                Child::Var(_) | Child::Type(_) => Ok(()),
            });
        };
        let mut args = match &mut e.kind {
            ExprKind::Call { args, .. } => std::mem::take(args),
            _ => Vec::new(),
        };
        for a in &mut args {
            self.expr(a)?;
        }
        let mut out = self.instantiate(m, args, e.span)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                format!("the macro `{}` expands without end", m.name.name),
                e.span,
                format!("more than {MAX_DEPTH} nested macro calls here"),
            )
            .with_help("a macro must not call itself"));
        }
        let r = self.expr(&mut out);
        self.depth -= 1;
        r?;
        renumber(&mut out, self.next_id);
        if *self.next_id > MAX_EXPRS {
            return Err(Diagnostic::error(
                format!("the expansion of the macro `{}` is too large", m.name.name),
                e.span,
                format!("more than {MAX_EXPRS} expressions after expanding this"),
            )
            .with_help("bind an argument used many times to a variable: `let $x = x;`"));
        }
        *e = out;
        Ok(())
    }

    fn find(&self, name: &str) -> Option<&'a Macro> {
        self.macros.iter().find(|m| m.name.name == name)
    }

    /// A copy of `m`'s body with the parameters replaced by `args`.
    fn instantiate(&mut self, m: &Macro, args: Vec<Expr>, span: Span) -> Result<Expr, Diagnostic> {
        if args.len() != m.params.len() {
            let want = m.params.len();
            let s = if want == 1 { "" } else { "s" };
            return Err(Diagnostic::error(
                format!(
                    "the macro `{}` takes {want} argument{s}, {} given",
                    m.name.name,
                    args.len()
                ),
                span,
                format!("{} given", args.len()),
            )
            .with_note("the macro is defined here", m.name.span, "defined here"));
        }
        let mut subst = Subst {
            vars: HashMap::new(),
            maps: HashMap::new(),
            exprs: HashMap::new(),
            suffix: {
                self.expansions += 1;
                format!("{SUFFIX}{}", self.expansions)
            },
            macro_name: &m.name,
        };
        for (p, a) in m.params.iter().zip(args) {
            match (p.kind, &a.kind) {
                (ParamKind::Var, ExprKind::Var(v)) => {
                    subst.vars.insert(p.name.clone(), v.clone());
                }
                (ParamKind::Map, ExprKind::Map { name, keys }) if keys.is_empty() => {
                    subst.maps.insert(p.name.clone(), name.clone());
                }
                (ParamKind::Expr, _) => {
                    subst.exprs.insert(p.name.clone(), a);
                }
                (kind, _) => {
                    let want = match kind {
                        ParamKind::Var => "a scratch variable such as `$x`",
                        _ => "a map without keys such as `@m`",
                    };
                    return Err(Diagnostic::error(
                        format!(
                            "the macro `{}` needs {want} for `{}`",
                            m.name.name,
                            p.written()
                        ),
                        a.span,
                        "this argument",
                    )
                    .with_note(
                        "the parameter is declared here",
                        p.span,
                        "declared here",
                    ));
                }
            }
        }
        let mut block = m.body.clone();
        subst.block(&mut block)?;
        let mut value = m.value.clone();
        if let Some(v) = &mut value {
            subst.expr(v)?;
        }
        Ok(match value {
            Some(v) if block.stmts.is_empty() => v,
            value => Expr {
                kind: ExprKind::Block {
                    block,
                    value: value.map(Box::new),
                },
                span,
                id: ExprId(0),
            },
        })
    }
}

/// The replacements of one expansion.
struct Subst<'a> {
    /// `$param` → the caller's variable.
    vars: HashMap<String, String>,
    /// `@param` → the caller's map.
    maps: HashMap<String, String>,
    /// `param` → the caller's expression.
    exprs: HashMap<String, Expr>,
    /// Appended to the body's own variables.
    suffix: String,
    macro_name: &'a Ident,
}

impl Subst<'_> {
    fn var(&self, name: &str) -> String {
        match self.vars.get(name) {
            Some(v) => v.clone(),
            None => format!("{name}{}", self.suffix),
        }
    }

    fn block(&mut self, b: &mut Block) -> Result<(), Diagnostic> {
        for s in &mut b.stmts {
            for_each_child(s, &mut |c| self.child(c))?;
        }
        Ok(())
    }

    fn child(&mut self, c: Child<'_>) -> Result<(), Diagnostic> {
        match c {
            Child::Expr(e) => self.expr(e),
            Child::Block(b) => self.block(b),
            Child::Var(v) => {
                v.name = self.var(&v.name);
                Ok(())
            }
            Child::Type(t) => {
                self.type_param(t);
                Ok(())
            }
        }
    }

    /// A type named by an expression parameter (`(a *)b` with `a` passed as
    /// `typeof(uint8)`) becomes the type passed; any other expression passed stands for
    /// its own type, as if wrapped in `typeof`.
    fn type_param(&self, t: &mut TypeName) {
        if t.of.is_some() {
            return;
        }
        let Some(arg) = self.exprs.get(t.base.as_str()) else {
            return;
        };
        match &arg.kind {
            ExprKind::Type(passed) if passed.of.is_none() => {
                t.base = passed.base.clone();
                t.pointer = t.pointer.saturating_add(passed.pointer);
                // `T[4]` with `T` = `int8[2]`: four of `T` (`int8[2][4]`).
                let outer = std::mem::replace(&mut t.array, passed.array.clone());
                t.array.extend(outer);
            }
            // The parameter itself, which the visit of `of` that follows replaces by
            // the argument (whose variables are the caller's, not renamed).
            _ => {
                let param = Expr {
                    kind: ExprKind::Ident(t.base.clone()),
                    span: t.span,
                    id: ExprId(0),
                };
                t.base = "typeof".into();
                t.of = Some(Box::new(param));
            }
        }
    }

    fn expr(&mut self, e: &mut Expr) -> Result<(), Diagnostic> {
        match &mut e.kind {
            ExprKind::Var(v) => *v = self.var(v),
            ExprKind::Ident(n) if self.exprs.contains_key(n.as_str()) => {
                *e = self.exprs[n.as_str()].clone();
                return Ok(());
            }
            ExprKind::Map { name, .. } => match self.maps.get(name.as_str()) {
                Some(to) => *name = to.clone(),
                None => {
                    return Err(Diagnostic::error(
                        format!(
                            "the macro `{}` uses `@{name}`, which is not passed to it",
                            self.macro_name.name
                        ),
                        e.span,
                        "not a parameter of the macro",
                    )
                    .with_help(format!(
                        "macros reach only the maps passed in: add `@{name}` as a parameter"
                    )));
                }
            },
            _ => {}
        }
        for_each_expr_child(e, &mut |c| self.child(c))
    }
}

/// Gives every expression of `e` a fresh id (an expansion copies the body and the
/// arguments, whose ids are taken).
pub(crate) fn renumber(e: &mut Expr, next_id: &mut u32) {
    e.id = ExprId(*next_id);
    *next_id += 1;
    let _ = for_each_expr_child(e, &mut |c| {
        match c {
            Child::Expr(x) => renumber(x, next_id),
            Child::Block(b) => renumber_block(b, next_id),
            Child::Var(_) | Child::Type(_) => {}
        }
        Ok(())
    });
}

fn renumber_block(b: &mut Block, next_id: &mut u32) {
    for s in &mut b.stmts {
        let _ = for_each_child(s, &mut |c| {
            match c {
                Child::Expr(x) => renumber(x, next_id),
                Child::Block(b) => renumber_block(b, next_id),
                Child::Var(_) | Child::Type(_) => {}
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::source_name;
    use crate::printer::to_source;

    #[test]
    fn expansion_substitutes_parameters_and_renames_the_body_variables() {
        let p = crate::parser::parse(
            "macro m($v, @m, x) { let $t = x; $v = $t; @m[$t] = 1; $t * 2 }\n\
             begin { $a = 1; print(m($a, @out, 1 + 2)); }",
        )
        .unwrap();
        let src = to_source(&p);
        assert!(
            src.contains(
                "print({ let $t__macro1 = (1 + 2); $a = $t__macro1; \
                 @out[$t__macro1] = 1; ($t__macro1 * 2) });"
            ),
            "{src}"
        );
        assert_eq!(source_name("t__macro12"), "t");
        assert_eq!(source_name("t__macro"), "t__macro");
        assert_eq!(source_name("plain"), "plain");
    }
}
