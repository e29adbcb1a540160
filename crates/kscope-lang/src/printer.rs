//! The printable AST for `--dry-run` and snapshot tests: one node per line, two spaces of
//! indentation per level. Also [`to_source`], which writes the tree back as a script.

use crate::ast::*;
use std::fmt::{self, Write};

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_tree(f, self, &|_| None)
    }
}

/// Writes the tree of `p`, one node per line; `ann` may add ` :: TEXT` to an expression's
/// line (the type checker's types, for example).
pub fn write_tree(
    out: &mut dyn Write,
    p: &Program,
    ann: &dyn Fn(&Expr) -> Option<String>,
) -> fmt::Result {
    Tree { out, ann }.program(p)
}

struct Tree<'a> {
    out: &'a mut dyn Write,
    ann: &'a dyn Fn(&Expr) -> Option<String>,
}

impl Tree<'_> {
    fn program(&mut self, p: &Program) -> fmt::Result {
        let f = self;
        f.out.write_str("Program\n")?;
        for d in &p.defines {
            f.line(1, &format!("define {} {}", d.name, define_value(&d.value)))?;
        }
        if let Some(c) = &p.config {
            f.line(1, "config")?;
            for e in &c.entries {
                let v = match &e.value {
                    ConfigValue::Int(n) => n.to_string(),
                    ConfigValue::Str(s) => format!("{s:?}"),
                    ConfigValue::Word(w) => w.clone(),
                };
                f.line(2, &format!("{} = {v}", e.key.name))?;
            }
        }
        for d in &p.map_decls {
            f.line(
                1,
                &format!("map @{} = {}({})", d.name, d.kind.name, d.max_entries),
            )?;
        }
        for p in &p.probes {
            f.line(1, "probe")?;
            for ap in &p.attach_points {
                f.line(2, &ap.canonical())?;
            }
            if let Some(pred) = &p.predicate {
                f.line(2, "predicate")?;
                f.expr(3, pred)?;
            }
            f.block(2, &p.body)?;
        }
        Ok(())
    }

    fn line(&mut self, depth: usize, text: &str) -> fmt::Result {
        writeln!(self.out, "{:1$}{text}", "", depth * 2)
    }

    /// An expression's line, with its annotation.
    fn eline(&mut self, depth: usize, e: &Expr, text: &str) -> fmt::Result {
        match (self.ann)(e) {
            Some(a) => writeln!(self.out, "{:1$}{text} :: {a}", "", depth * 2),
            None => self.line(depth, text),
        }
    }

    fn block(&mut self, depth: usize, b: &Block) -> fmt::Result {
        let f = self;
        f.line(depth, "block")?;
        for s in &b.stmts {
            f.stmt(depth + 1, s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, d: usize, s: &Stmt) -> fmt::Result {
        let f = self;
        match &s.kind {
            StmtKind::Expr(e) => f.expr(d, e),
            StmtKind::Let { var, ty, value } => {
                match ty {
                    Some(t) => f.line(d, &format!("let ${}: {}", var.name, type_src(t)))?,
                    None => f.line(d, &format!("let ${}", var.name))?,
                }
                if let Some(v) = value {
                    f.expr(d + 1, v)?;
                }
                Ok(())
            }
            StmtKind::AssignVar { var, op, value } => {
                f.line(d, &assign_name(*op))?;
                f.line(d + 1, &format!("variable: ${}", var.name))?;
                f.expr(d + 1, value)
            }
            StmtKind::AssignMap { map, op, value } => {
                f.line(d, &assign_name(*op))?;
                f.expr(d + 1, map)?;
                f.expr(d + 1, value)
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                f.line(d, "if")?;
                f.expr(d + 1, cond)?;
                f.line(d + 1, "then")?;
                f.block(d + 2, then)?;
                if let Some(o) = otherwise {
                    f.line(d + 1, "else")?;
                    f.block(d + 2, o)?;
                }
                Ok(())
            }
            StmtKind::Unroll { count, body } => {
                f.line(d, "unroll")?;
                f.expr(d + 1, count)?;
                f.block(d + 1, body)
            }
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => {
                f.line(d, &format!("for ${} in range", var.name))?;
                f.expr(d + 1, start)?;
                f.expr(d + 1, end)?;
                f.block(d + 1, body)
            }
            StmtKind::ForMap { var, map, body } => {
                f.line(d, &format!("for ${} in map", var.name))?;
                f.expr(d + 1, map)?;
                f.block(d + 1, body)
            }
            StmtKind::While { cond, body } => {
                f.line(d, "while")?;
                f.expr(d + 1, cond)?;
                f.block(d + 1, body)
            }
            StmtKind::Return(v) => {
                f.line(d, "return")?;
                if let Some(v) = v {
                    f.expr(d + 1, v)?;
                }
                Ok(())
            }
            StmtKind::Break => f.line(d, "break"),
            StmtKind::Continue => f.line(d, "continue"),
        }
    }

    fn expr(&mut self, d: usize, e: &Expr) -> fmt::Result {
        let f = self;
        match &e.kind {
            ExprKind::Int(n) => f.eline(d, e, &format!("int: {n}")),
            ExprKind::Str(s) => f.eline(d, e, &format!("string: {}", quote(s))),
            ExprKind::Bool(b) => f.eline(d, e, &format!("bool: {b}")),
            ExprKind::Ident(n) => f.eline(d, e, &format!("builtin: {n}")),
            ExprKind::Var(n) => f.eline(d, e, &format!("variable: ${n}")),
            ExprKind::Positional(n) => f.eline(d, e, &format!("param: ${n}")),
            ExprKind::ParamCount => f.eline(d, e, "param: $#"),
            ExprKind::Map { name, keys } => {
                f.eline(d, e, &format!("map: @{name}"))?;
                for k in keys {
                    f.expr(d + 1, k)?;
                }
                Ok(())
            }
            ExprKind::Call { name, args } => {
                f.eline(d, e, &format!("call: {}", name.name))?;
                for a in args {
                    f.expr(d + 1, a)?;
                }
                Ok(())
            }
            ExprKind::Unary { op, expr: x } => {
                f.eline(d, e, &format!("unop: {}", op.symbol()))?;
                f.expr(d + 1, x)
            }
            ExprKind::IncDec {
                increment,
                prefix,
                target,
            } => {
                let op = if *increment { "++" } else { "--" };
                let pos = if *prefix { "pre" } else { "post" };
                f.eline(d, e, &format!("{pos}: {op}"))?;
                f.expr(d + 1, target)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                f.eline(d, e, op.symbol())?;
                f.expr(d + 1, lhs)?;
                f.expr(d + 1, rhs)
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                f.eline(d, e, "?:")?;
                f.expr(d + 1, cond)?;
                f.expr(d + 1, then)?;
                f.expr(d + 1, otherwise)
            }
            ExprKind::Cast { ty, expr: x } => {
                f.eline(d, e, &format!("cast: ({})", type_src(ty)))?;
                f.expr(d + 1, x)
            }
            ExprKind::Field {
                expr: x,
                field,
                arrow,
            } => {
                let sep = if *arrow { "->" } else { "." };
                f.eline(d, e, &format!("{sep}{}", field.name))?;
                f.expr(d + 1, x)
            }
            ExprKind::TupleIndex { expr: x, index } => {
                f.eline(d, e, &format!(".{index}"))?;
                f.expr(d + 1, x)
            }
            ExprKind::Index { expr: x, index } => {
                f.eline(d, e, "[]")?;
                f.expr(d + 1, x)?;
                f.expr(d + 1, index)
            }
            ExprKind::Type(ty) => f.eline(d, e, &format!("type: {}", type_src(ty))),
            ExprKind::Block { block, value } => {
                f.eline(d, e, "block expression")?;
                f.block(d + 1, block)?;
                if let Some(v) = value {
                    f.expr(d + 1, v)?;
                }
                Ok(())
            }
            ExprKind::Tuple(items) => {
                f.eline(d, e, "tuple")?;
                for i in items {
                    f.expr(d + 1, i)?;
                }
                Ok(())
            }
            ExprKind::Record(fields) => {
                f.eline(d, e, "record")?;
                for r in fields {
                    f.line(d + 1, &format!(".{} =", r.name.name))?;
                    f.expr(d + 2, &r.value)?;
                }
                Ok(())
            }
        }
    }
}

fn assign_name(op: Option<BinOp>) -> String {
    match op {
        None => "=".into(),
        Some(op) => format!("{}=", op.symbol()),
    }
}

/// A string literal written back with escapes.
fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn define_value(v: &crate::preproc::DefineValue) -> String {
    match v {
        crate::preproc::DefineValue::Int(n) => n.to_string(),
        crate::preproc::DefineValue::Str(b) => quote(b),
    }
}

/// Writes the program back as a bpftrace script (fully parenthesized expressions, one
/// statement per line). Parsing the result gives the same tree (up to spans and ids).
pub fn to_source(p: &Program) -> String {
    let mut out = String::new();
    for d in &p.defines {
        let _ = writeln!(out, "#define {} {}", d.name, define_value(&d.value));
    }
    if let Some(c) = &p.config {
        out.push_str("config = {\n");
        for e in &c.entries {
            let v = match &e.value {
                ConfigValue::Int(n) => n.to_string(),
                ConfigValue::Str(s) => quote(s.as_bytes()),
                ConfigValue::Word(w) => w.clone(),
            };
            let _ = writeln!(out, "  {} = {v};", e.key.name);
        }
        out.push_str("}\n");
    }
    for d in &p.map_decls {
        let _ = writeln!(out, "let @{} = {}({});", d.name, d.kind.name, d.max_entries);
    }
    for probe in &p.probes {
        let aps: Vec<&str> = probe.attach_points.iter().map(|a| a.raw.as_str()).collect();
        out.push_str(&aps.join(",\n"));
        if let Some(pred) = &probe.predicate {
            let _ = write!(out, " /{}/", src_expr(pred));
        }
        out.push(' ');
        src_block(&mut out, 0, &probe.body);
        out.push('\n');
    }
    out
}

fn src_block(out: &mut String, depth: usize, b: &Block) {
    out.push_str("{\n");
    for s in &b.stmts {
        let _ = write!(out, "{:1$}", "", (depth + 1) * 2);
        src_stmt(out, depth + 1, s);
        out.push('\n');
    }
    let _ = write!(out, "{:1$}}}", "", depth * 2);
}

/// A written type in source form, `typeof(EXPR)` included.
fn type_src(ty: &crate::ast::TypeName) -> String {
    let Some(of) = &ty.of else {
        return ty.to_string();
    };
    let mut s = format!("typeof({})", src_expr(of));
    if ty.pointer > 0 {
        s.push(' ');
        s.push_str(&"*".repeat(ty.pointer as usize));
    }
    for n in &ty.array {
        match n {
            Some(n) => s.push_str(&format!("[{n}]")),
            None => s.push_str("[]"),
        }
    }
    s
}

fn src_stmt(out: &mut String, d: usize, s: &Stmt) {
    match &s.kind {
        StmtKind::Expr(e) => {
            let _ = write!(out, "{};", src_expr(e));
        }
        StmtKind::Let { var, ty, value } => {
            let _ = write!(out, "let ${}", var.name);
            if let Some(t) = ty {
                let _ = write!(out, ": {}", type_src(t));
            }
            if let Some(v) = value {
                let _ = write!(out, " = {}", src_expr(v));
            }
            out.push(';');
        }
        StmtKind::AssignVar { var, op, value } => {
            let _ = write!(
                out,
                "${} {} {};",
                var.name,
                assign_name(*op),
                src_expr(value)
            );
        }
        StmtKind::AssignMap { map, op, value } => {
            let _ = write!(
                out,
                "{} {} {};",
                src_expr(map),
                assign_name(*op),
                src_expr(value)
            );
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            let _ = write!(out, "if ({}) ", src_expr(cond));
            src_block(out, d, then);
            if let Some(o) = otherwise {
                out.push_str(" else ");
                src_block(out, d, o);
            }
        }
        StmtKind::Unroll { count, body } => {
            let _ = write!(out, "unroll ({}) ", src_expr(count));
            src_block(out, d, body);
        }
        StmtKind::ForRange {
            var,
            start,
            end,
            body,
        } => {
            let _ = write!(
                out,
                "for (${} : {}..{}) ",
                var.name,
                src_expr(start),
                src_expr(end)
            );
            src_block(out, d, body);
        }
        StmtKind::ForMap { var, map, body } => {
            let _ = write!(out, "for (${} : {}) ", var.name, src_expr(map));
            src_block(out, d, body);
        }
        StmtKind::While { cond, body } => {
            let _ = write!(out, "while ({}) ", src_expr(cond));
            src_block(out, d, body);
        }
        StmtKind::Return(v) => {
            out.push_str("return");
            if let Some(v) = v {
                let _ = write!(out, " {}", src_expr(v));
            }
            out.push(';');
        }
        StmtKind::Break => out.push_str("break;"),
        StmtKind::Continue => out.push_str("continue;"),
    }
}

fn src_list(items: &[Expr]) -> String {
    items.iter().map(src_expr).collect::<Vec<_>>().join(", ")
}

/// An expression as source text, parenthesized so that precedence is explicit.
pub fn src_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::ParamCount => "$#".into(),
        ExprKind::Map { name, keys } if keys.is_empty() => format!("@{name}"),
        ExprKind::Map { name, keys } => format!("@{name}[{}]", src_list(keys)),
        ExprKind::Call { name, args } => format!("{}({})", name.name, src_list(args)),
        ExprKind::Unary { op, expr } => format!("({}{})", op.symbol(), src_expr(expr)),
        ExprKind::IncDec {
            increment,
            prefix,
            target,
        } => {
            let op = if *increment { "++" } else { "--" };
            if *prefix {
                format!("({op}{})", src_expr(target))
            } else {
                format!("({}{op})", src_expr(target))
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", src_expr(lhs), op.symbol(), src_expr(rhs))
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => format!(
            "({} ? {} : {})",
            src_expr(cond),
            src_expr(then),
            src_expr(otherwise)
        ),
        ExprKind::Cast { ty, expr } => format!("(({}){})", type_src(ty), src_expr(expr)),
        ExprKind::Field { expr, field, arrow } => {
            let sep = if *arrow { "->" } else { "." };
            format!("{}{sep}{}", src_expr(expr), field.name)
        }
        ExprKind::TupleIndex { expr, index } => format!("{}.{index}", src_expr(expr)),
        ExprKind::Index { expr, index } => format!("{}[{}]", src_expr(expr), src_expr(index)),
        ExprKind::Tuple(items) if items.len() == 1 => format!("({},)", src_expr(&items[0])),
        ExprKind::Tuple(items) => format!("({})", src_list(items)),
        ExprKind::Record(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|r| format!("{}={}", r.name.name, src_expr(&r.value)))
                .collect();
            format!("({})", parts.join(", "))
        }
        ExprKind::Type(ty) => type_src(ty),
        ExprKind::Block { block, value } => {
            let mut out = String::from("{");
            for s in &block.stmts {
                let mut one = String::new();
                src_stmt(&mut one, 0, s);
                let _ = write!(out, " {}", one.replace('\n', " "));
            }
            if let Some(v) = value {
                let _ = write!(out, " {}", src_expr(v));
            }
            out.push_str(" }");
            out
        }
    }
}
