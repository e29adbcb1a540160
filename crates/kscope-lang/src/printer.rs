//! The printable AST for `--dry-run` and snapshot tests: one node per line, two spaces of
//! indentation per level. Also [`to_source`], which writes the tree back as a script.

use crate::ast::*;
use std::fmt::{self, Write};

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Program\n")?;
        if let Some(c) = &self.config {
            line(f, 1, "config")?;
            for e in &c.entries {
                let v = match &e.value {
                    ConfigValue::Int(n) => n.to_string(),
                    ConfigValue::Str(s) => format!("{s:?}"),
                    ConfigValue::Word(w) => w.clone(),
                };
                line(f, 2, &format!("{} = {v}", e.key.name))?;
            }
        }
        for p in &self.probes {
            line(f, 1, "probe")?;
            for ap in &p.attach_points {
                line(f, 2, &ap.canonical())?;
            }
            if let Some(pred) = &p.predicate {
                line(f, 2, "predicate")?;
                expr(f, 3, pred)?;
            }
            block(f, 2, &p.body)?;
        }
        Ok(())
    }
}

fn line(f: &mut fmt::Formatter<'_>, depth: usize, text: &str) -> fmt::Result {
    writeln!(f, "{:1$}{text}", "", depth * 2)
}

fn block(f: &mut fmt::Formatter<'_>, depth: usize, b: &Block) -> fmt::Result {
    line(f, depth, "block")?;
    for s in &b.stmts {
        stmt(f, depth + 1, s)?;
    }
    Ok(())
}

fn assign_name(op: Option<BinOp>) -> String {
    match op {
        None => "=".into(),
        Some(op) => format!("{}=", op.symbol()),
    }
}

fn stmt(f: &mut fmt::Formatter<'_>, d: usize, s: &Stmt) -> fmt::Result {
    match &s.kind {
        StmtKind::Expr(e) => expr(f, d, e),
        StmtKind::Let { var, value } => {
            line(f, d, &format!("let ${}", var.name))?;
            if let Some(v) = value {
                expr(f, d + 1, v)?;
            }
            Ok(())
        }
        StmtKind::AssignVar { var, op, value } => {
            line(f, d, &assign_name(*op))?;
            line(f, d + 1, &format!("variable: ${}", var.name))?;
            expr(f, d + 1, value)
        }
        StmtKind::AssignMap { map, op, value } => {
            line(f, d, &assign_name(*op))?;
            expr(f, d + 1, map)?;
            expr(f, d + 1, value)
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            line(f, d, "if")?;
            expr(f, d + 1, cond)?;
            line(f, d + 1, "then")?;
            block(f, d + 2, then)?;
            if let Some(o) = otherwise {
                line(f, d + 1, "else")?;
                block(f, d + 2, o)?;
            }
            Ok(())
        }
        StmtKind::Unroll { count, body } => {
            line(f, d, "unroll")?;
            expr(f, d + 1, count)?;
            block(f, d + 1, body)
        }
        StmtKind::ForRange {
            var,
            start,
            end,
            body,
        } => {
            line(f, d, &format!("for ${} in range", var.name))?;
            expr(f, d + 1, start)?;
            expr(f, d + 1, end)?;
            block(f, d + 1, body)
        }
        StmtKind::ForMap { var, map, body } => {
            line(f, d, &format!("for ${} in map", var.name))?;
            expr(f, d + 1, map)?;
            block(f, d + 1, body)
        }
        StmtKind::While { cond, body } => {
            line(f, d, "while")?;
            expr(f, d + 1, cond)?;
            block(f, d + 1, body)
        }
        StmtKind::Return(v) => {
            line(f, d, "return")?;
            if let Some(v) = v {
                expr(f, d + 1, v)?;
            }
            Ok(())
        }
        StmtKind::Break => line(f, d, "break"),
        StmtKind::Continue => line(f, d, "continue"),
    }
}

fn expr(f: &mut fmt::Formatter<'_>, d: usize, e: &Expr) -> fmt::Result {
    match &e.kind {
        ExprKind::Int(n) => line(f, d, &format!("int: {n}")),
        ExprKind::Str(s) => line(f, d, &format!("string: {}", quote(s))),
        ExprKind::Bool(b) => line(f, d, &format!("bool: {b}")),
        ExprKind::Ident(n) => line(f, d, &format!("builtin: {n}")),
        ExprKind::Var(n) => line(f, d, &format!("variable: ${n}")),
        ExprKind::Positional(n) => line(f, d, &format!("param: ${n}")),
        ExprKind::ParamCount => line(f, d, "param: $#"),
        ExprKind::Map { name, keys } => {
            line(f, d, &format!("map: @{name}"))?;
            for k in keys {
                expr(f, d + 1, k)?;
            }
            Ok(())
        }
        ExprKind::Call { name, args } => {
            line(f, d, &format!("call: {}", name.name))?;
            for a in args {
                expr(f, d + 1, a)?;
            }
            Ok(())
        }
        ExprKind::Unary { op, expr: x } => {
            line(f, d, &format!("unop: {}", op.symbol()))?;
            expr(f, d + 1, x)
        }
        ExprKind::IncDec {
            increment,
            prefix,
            target,
        } => {
            let op = if *increment { "++" } else { "--" };
            let pos = if *prefix { "pre" } else { "post" };
            line(f, d, &format!("{pos}: {op}"))?;
            expr(f, d + 1, target)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            line(f, d, op.symbol())?;
            expr(f, d + 1, lhs)?;
            expr(f, d + 1, rhs)
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            line(f, d, "?:")?;
            expr(f, d + 1, cond)?;
            expr(f, d + 1, then)?;
            expr(f, d + 1, otherwise)
        }
        ExprKind::Cast { ty, expr: x } => {
            line(f, d, &format!("cast: ({ty})"))?;
            expr(f, d + 1, x)
        }
        ExprKind::Field {
            expr: x,
            field,
            arrow,
        } => {
            let sep = if *arrow { "->" } else { "." };
            line(f, d, &format!("{sep}{}", field.name))?;
            expr(f, d + 1, x)
        }
        ExprKind::TupleIndex { expr: x, index } => {
            line(f, d, &format!(".{index}"))?;
            expr(f, d + 1, x)
        }
        ExprKind::Index { expr: x, index } => {
            line(f, d, "[]")?;
            expr(f, d + 1, x)?;
            expr(f, d + 1, index)
        }
        ExprKind::Tuple(items) => {
            line(f, d, "tuple")?;
            for i in items {
                expr(f, d + 1, i)?;
            }
            Ok(())
        }
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

/// Writes the program back as a bpftrace script (fully parenthesized expressions, one
/// statement per line). Parsing the result gives the same tree (up to spans and ids).
pub fn to_source(p: &Program) -> String {
    let mut out = String::new();
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

fn src_stmt(out: &mut String, d: usize, s: &Stmt) {
    match &s.kind {
        StmtKind::Expr(e) => {
            let _ = write!(out, "{};", src_expr(e));
        }
        StmtKind::Let { var, value } => {
            let _ = write!(out, "let ${}", var.name);
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
        ExprKind::Cast { ty, expr } => format!("(({ty}){})", src_expr(expr)),
        ExprKind::Field { expr, field, arrow } => {
            let sep = if *arrow { "->" } else { "." };
            format!("{}{sep}{}", src_expr(expr), field.name)
        }
        ExprKind::TupleIndex { expr, index } => format!("{}.{index}", src_expr(expr)),
        ExprKind::Index { expr, index } => format!("{}[{}]", src_expr(expr), src_expr(index)),
        ExprKind::Tuple(items) if items.len() == 1 => format!("({},)", src_expr(&items[0])),
        ExprKind::Tuple(items) => format!("({})", src_list(items)),
    }
}
