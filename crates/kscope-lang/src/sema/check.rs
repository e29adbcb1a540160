//! The checker: one walk over the program that types every expression.

use super::builtins::{self, CONFIG_KEYS, FUNCTIONS, HONOURED_CONFIG, NOT_YET, STACK_MODES, Scope};
use super::printf::{ArgKind, conversions};
use super::provider::{Lookup, TypeProvider};
use super::types::{AggKind, BUF_MAX, Type, literal_type, merge};
use super::{MapInfo, Options, ProbeInfo};
use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::suggest::nearest;
use std::collections::BTreeMap;

/// A scratch variable in scope.
struct Var {
    /// `None` after `let $x;` until the first assignment.
    ty: Option<Type>,
    /// Where it got its type.
    span: Span,
    /// The type came only from positive literals, so its sign may still follow a later
    /// assignment (`$a = 1; $a = (uint64)2;` makes `$a` a `uint64`).
    flex: bool,
    /// Declared with a type (`let $x: T`): values convert to it, it never widens.
    declared: bool,
}

/// Merges slot types where either side may be a sign-flexible literal type.
fn merge_flex(old: &Type, old_flex: bool, new: &Type, new_flex: bool) -> (Option<Type>, bool) {
    match (old, new) {
        (
            Type::Int {
                bits: a,
                signed: asg,
            },
            Type::Int { bits: b, .. },
        ) if new_flex && !old_flex => (Some(Type::int(*a.max(b), *asg)), false),
        (
            Type::Int { bits: a, .. },
            Type::Int {
                bits: b,
                signed: bsg,
            },
        ) if old_flex && !new_flex => (Some(Type::int(*a.max(b), *bsg)), false),
        _ => (merge(old, new), old_flex && new_flex),
    }
}

pub(super) struct Checker<'a> {
    pub(super) opts: &'a Options,
    pub(super) tp: &'a dyn TypeProvider,
    /// The script's C definitions (its enums name constants and types).
    pub(super) c_types: crate::cdefs::CTypes,
    report: bool,
    pub(super) errors: Vec<Diagnostic>,
    pub(super) warnings: Vec<Diagnostic>,
    pub(super) types: Vec<Type>,
    pub(super) maps: BTreeMap<String, MapInfo>,
    hints: BTreeMap<String, MapInfo>,
    pub(super) probe_infos: Vec<ProbeInfo>,
    scopes: Vec<BTreeMap<String, Var>>,
    probe_vars: BTreeMap<String, Type>,
    /// Per map: whether each key and the value still have only literal (flexible) types.
    map_flex: BTreeMap<String, (Vec<bool>, bool)>,
    pub(super) attach: Vec<AttachPoint>,
    loop_depth: u32,
    /// Inside this many branches an `if` known when compiling never takes (see meta.rs).
    pub(super) unreached: u32,
    missing_probes: super::MissingProbes,
    pub(super) skipped_attach_points: Vec<Span>,
    /// The values of `sizeof`/`offsetof`/`getopt` calls (see sizes.rs), as the literal
    /// each call becomes.
    pub(super) consts: std::collections::HashMap<ExprId, ExprKind>,
    /// The names `getopt()` reads.
    pub(super) option_names: Vec<String>,
    /// Whether `len()` is taken of a kernel stack (see [`super::Checked::len_of_kstack`]).
    pub(super) len_of_kstack: bool,
    /// Whether `len()` is taken of a user stack.
    pub(super) len_of_ustack: bool,
    /// `unstable_typeinfo` from the config block (`enable`, `warn`; else `error`).
    pub(super) typeinfo_mode: String,
    /// `unstable_tseries` from the config block (`enable`, `error`; else `warn`).
    pub(super) tseries_mode: String,
    /// Whether the `unstable_tseries` warning was given (it is given once).
    pub(super) tseries_warned: bool,
    /// Whether `config = { stack_mode = build_id }` is set (for user stacks only).
    build_id_mode: bool,
    /// The `cgroup_path()` filters (see [`Type::CgroupPath`]).
    pub(super) cgroup_path_filters: Vec<String>,
    /// The `strftime()` formats (see [`Type::Timestamp`]).
    pub(super) timestamp_formats: Vec<String>,
    /// Structs and `args` stored as records (see [`super::Checked::struct_values`]).
    pub(super) struct_values: BTreeMap<u32, Type>,
}

pub(super) const AGGREGATIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist", "tseries",
];

fn is_positive_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Int(v) if v <= i64::MAX as u64)
}

/// The integer value of a literal (with an optional minus), if `e` is one.
fn literal_value(e: &Expr) -> Option<i128> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v as i128),
        ExprKind::Unary {
            op: UnOp::Neg,
            expr,
        } => literal_value(expr).map(|v| -v),
        _ => None,
    }
}

/// `struct X`, `union X` or `enum X`.
fn is_tagged(base: &str) -> bool {
    base.starts_with("struct ") || base.starts_with("union ") || base.starts_with("enum ")
}

/// `base` with the pointers and array lengths `ty` writes after it, each wrapping the
/// type before it (`int8 *[3][2]` is two arrays of three pointers); a `[]` is 0 long.
fn wrap_type(base: Type, ty: &TypeName) -> Type {
    let mut target = base;
    for _ in 0..ty.pointer {
        target = Type::Ptr(Box::new(target));
    }
    super::arrays::wrap_dims(target, &ty.array)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl<'a> Checker<'a> {
    pub(super) fn new(
        program: &Program,
        opts: &'a Options,
        tp: &'a dyn TypeProvider,
        hints: BTreeMap<String, MapInfo>,
        report: bool,
    ) -> Checker<'a> {
        Checker {
            opts,
            tp,
            c_types: program.c_types.clone(),
            report,
            errors: Vec::new(),
            warnings: Vec::new(),
            types: vec![Type::Unknown; program.expr_count as usize],
            maps: BTreeMap::new(),
            hints,
            probe_infos: Vec::new(),
            typeinfo_mode: program
                .config_value("unstable_typeinfo")
                .and_then(|v| v.text())
                .unwrap_or("error")
                .to_ascii_lowercase(),
            tseries_mode: program
                .config_value("unstable_tseries")
                .and_then(|v| v.text())
                .unwrap_or("warn")
                .to_ascii_lowercase(),
            tseries_warned: false,
            build_id_mode: program
                .config_value("stack_mode")
                .and_then(|v| v.text())
                .is_some_and(|m| m == "build_id"),
            scopes: Vec::new(),
            probe_vars: BTreeMap::new(),
            map_flex: BTreeMap::new(),
            attach: Vec::new(),
            loop_depth: 0,
            unreached: 0,
            missing_probes: super::MissingProbes::Error,
            skipped_attach_points: Vec::new(),
            consts: std::collections::HashMap::new(),
            option_names: Vec::new(),
            len_of_kstack: false,
            len_of_ustack: false,
            cgroup_path_filters: Vec::new(),
            timestamp_formats: Vec::new(),
            struct_values: BTreeMap::new(),
        }
    }

    pub(super) fn error(&mut self, d: Diagnostic) {
        // A macro body expanded several times reports its error once.
        let seen = self
            .errors
            .iter()
            .any(|e| e.message == d.message && e.primary.span == d.primary.span);
        if self.report && !seen {
            self.errors.push(d);
        }
    }

    pub(super) fn warn(&mut self, d: Diagnostic) {
        let seen = self
            .warnings
            .iter()
            .any(|w| w.message == d.message && w.primary.span == d.primary.span);
        if self.report && !seen {
            self.warnings.push(d);
        }
    }

    pub(super) fn program(&mut self, p: &Program) {
        if let Some(c) = &p.config {
            self.config(c);
        }
        self.missing_probes = super::missing_probes_of(p);
        self.iterator_alone(p);
        for probe in &p.probes {
            self.probe(probe);
        }
    }

    /// An `iter:` probe runs once over its objects and ends the run, so (as upstream) it
    /// is the script's only probe besides `begin`/`end`.
    fn iterator_alone(&mut self, p: &Program) {
        let aps: Vec<&AttachPoint> = p
            .probes
            .iter()
            .flat_map(|pr| &pr.attach_points)
            .filter(|a| !matches!(a.provider, Provider::Begin | Provider::End))
            .collect();
        let Some(iter) = aps.iter().find(|a| a.provider == Provider::Iter) else {
            return;
        };
        if let Some(other) = aps.iter().find(|a| a.span != iter.span) {
            self.error(
                Diagnostic::error(
                    "an `iter` probe cannot be mixed with other probes",
                    other.span,
                    "another probe",
                )
                .with_note(
                    format!(
                        "`{}` runs once over its objects, then the run ends",
                        iter.raw
                    ),
                    iter.span,
                    "",
                ),
            );
        }
    }

    fn config(&mut self, c: &Config) {
        for e in &c.entries {
            let raw = e.key.name.as_str();
            let key = raw
                .strip_prefix("BPFTRACE_")
                .unwrap_or(raw)
                .to_ascii_lowercase();
            let Some(&(_, numeric)) = CONFIG_KEYS.iter().find(|(k, _)| *k == key) else {
                let mut d = Diagnostic::error(
                    format!("unknown config variable `{raw}`"),
                    e.key.span,
                    "not a config variable",
                );
                if let Some(s) = nearest(&key, CONFIG_KEYS.iter().map(|(k, _)| *k)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.error(d);
                continue;
            };
            if numeric && !matches!(e.value, ConfigValue::Int(_)) {
                self.error(Diagnostic::error(
                    format!("config variable `{raw}` needs a number"),
                    e.span,
                    "expected an integer value",
                ));
            }
            let words: &[&str] = match key.as_str() {
                "missing_probes" => &["error", "warn", "ignore"],
                "unstable_typeinfo" | "unstable_tseries" => &["enable", "warn", "error"],
                "print_maps_on_exit" => &["true", "false", "1", "0"],
                _ => &[],
            };
            // A boolean variable also takes 0 and 1 (upstream's docs write `= 0`).
            let bool_int =
                key == "print_maps_on_exit" && matches!(e.value, ConfigValue::Int(0 | 1));
            if !words.is_empty() && !bool_int && !e.value.text().is_some_and(|w| words.contains(&w))
            {
                self.error(
                    Diagnostic::error(
                        format!("invalid value for `{raw}`"),
                        e.span,
                        "unknown value",
                    )
                    .with_help(format!("`{key}` is one of {}", words.join(", "))),
                );
            }
            if !HONOURED_CONFIG.contains(&key.as_str()) {
                self.warn(Diagnostic::warning(
                    format!("config variable `{raw}` has no effect in kscope yet"),
                    e.span,
                    "ignored",
                ));
            }
            if key == "stack_mode" {
                let ok = matches!(&e.value, ConfigValue::Word(w) | ConfigValue::Str(w) if STACK_MODES.contains(&w.as_str()));
                if !ok {
                    self.error(
                        Diagnostic::error("invalid stack_mode", e.span, "unknown stack mode")
                            .with_help("stack_mode is one of bpftrace, perf, raw, build_id"),
                    );
                }
            }
        }
    }

    fn probe(&mut self, probe: &Probe) {
        self.attach = probe.attach_points.clone();
        for ap in &probe.attach_points {
            if let Lookup::Missing { candidates } = self.tp.probe(ap) {
                let name = ap.canonical();
                let skip = self.missing_probes != super::MissingProbes::Error;
                if skip {
                    self.skipped_attach_points.push(ap.span);
                }
                let mut d = match self.missing_probes {
                    super::MissingProbes::Error => Diagnostic::error(
                        format!("unknown probe `{name}`"),
                        ap.span,
                        "no such probe on this system",
                    ),
                    super::MissingProbes::Warn => Diagnostic::warning(
                        format!("unknown probe `{name}`: skipped (missing_probes = warn)"),
                        ap.span,
                        "no such probe on this system",
                    ),
                    super::MissingProbes::Ignore => continue,
                };
                if let Some(s) = nearest(&name, candidates.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                if skip {
                    self.warn(d);
                } else {
                    self.error(d);
                }
            }
        }
        self.scopes = vec![BTreeMap::new()];
        self.probe_vars = BTreeMap::new();
        self.loop_depth = 0;
        if let Some(pred) = &probe.predicate {
            let t = self.expr(pred);
            self.truthy(&t, pred, "the predicate");
        }
        self.block_stmts(&probe.body);
        self.probe_infos.push(ProbeInfo {
            providers: probe.attach_points.iter().map(|a| a.provider).collect(),
            variables: std::mem::take(&mut self.probe_vars),
        });
    }

    pub(super) fn truthy(&mut self, t: &Type, e: &Expr, what: &str) {
        if !t.is_truthy() && *t != Type::Void {
            self.error(
                Diagnostic::error(
                    format!("{what} must be an integer, bool or pointer, found `{t}`"),
                    e.span,
                    format!("this has type `{t}`"),
                )
                .with_help("compare it with something, e.g. `x == \"text\"` or `x != 0`"),
            );
        } else if *t == Type::Void {
            self.error(Diagnostic::error(
                format!("{what} has no value"),
                e.span,
                "this gives no value",
            ));
        }
    }

    /// A block in its own scope.
    pub(super) fn block(&mut self, b: &Block) {
        self.scopes.push(BTreeMap::new());
        self.block_stmts(b);
        self.scopes.pop();
    }

    fn block_stmts(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::Let {
                var,
                ty: Some(written),
                value,
            } => {
                self.no_shadowing(var, "declared again here");
                self.declare(var, written, value.as_ref())
            }
            StmtKind::Let {
                var,
                ty: None,
                value,
            } => {
                self.no_shadowing(var, "declared again here");
                let ty = value.as_ref().map(|v| self.value(v, "a variable"));
                let flex = value.as_ref().is_some_and(is_positive_literal);
                self.bind(&var.name, ty, var.span, flex, false);
            }
            StmtKind::AssignVar { var, op, value } => {
                let t = match op {
                    None => self.value(value, "a variable"),
                    Some(op) => {
                        let cur = self.var_read(&var.name, var.span);
                        let rt = self.expr(value);
                        self.binop_type(*op, &cur, &rt, None, value, s.span)
                    }
                };
                let flex = op.is_none() && is_positive_literal(value);
                if let Some((declared, at)) = self.declared_type(&var.name) {
                    // `$x += 300` wraps as a cast would; only a stored literal must fit.
                    let literal = if op.is_none() { Some(value) } else { None };
                    self.check_assignable(&declared, at, &t, value, literal, &var.name);
                    return;
                }
                self.var_write(var, t, value.span, flex);
            }
            StmtKind::AssignMap { map, op, value } => {
                let t = match op {
                    None => {
                        let t = self.expr_with(value, true);
                        self.as_value(value, t)
                    }
                    Some(op) => {
                        let cur = self.map_read_or_new(map);
                        let rt = self.expr(value);
                        self.binop_type(*op, &cur, &rt, None, value, s.span)
                    }
                };
                if t == Type::Void {
                    self.error(Diagnostic::error(
                        "cannot store a value-less expression in a map",
                        value.span,
                        "this gives no value",
                    ));
                    return;
                }
                let plain = if op.is_none() { Some(value) } else { None };
                self.map_write(map, t, plain, value.span);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                if self.comptime_if(cond, then, otherwise.as_ref()) {
                    return;
                }
                let t = self.expr(cond);
                self.truthy(&t, cond, "the `if` condition");
                let known = self.const_int(cond).map(|v| v != 0);
                self.branch(then, known == Some(false));
                if let Some(o) = otherwise {
                    self.branch(o, known == Some(true));
                }
            }
            StmtKind::Unroll { count, body } => {
                self.expr(count);
                match (&count.kind, literal_value(count)) {
                    (ExprKind::Positional(_), _) => {}
                    (_, Some(n)) if (1..=100).contains(&n) => {}
                    _ => self.error(Diagnostic::error(
                        "invalid unroll count",
                        count.span,
                        "expected an integer from 1 to 100",
                    )),
                }
                self.block(body);
            }
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => {
                for e in [start, end] {
                    let t = self.expr(e);
                    if !t.is_integer_like() {
                        self.error(Diagnostic::error(
                            format!("a range bound must be an integer, found `{t}`"),
                            e.span,
                            format!("this has type `{t}`"),
                        ));
                    }
                }
                self.loop_body(var, Type::INT64, body);
            }
            StmtKind::ForMap { var, map, body } => {
                let t = self.for_map_type(map);
                self.types[map.id.0 as usize] = t.clone();
                self.loop_body(var, t, body);
            }
            StmtKind::While { cond, body } => {
                let t = self.expr(cond);
                self.truthy(&t, cond, "the `while` condition");
                self.loop_depth += 1;
                self.block(body);
                self.loop_depth -= 1;
            }
            StmtKind::Return(v) => {
                if let Some(v) = v {
                    let t = self.expr(v);
                    if !t.is_integer_like() {
                        self.error(Diagnostic::error(
                            format!("`return` takes an integer, found `{t}`"),
                            v.span,
                            format!("this has type `{t}`"),
                        ));
                    }
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                if self.loop_depth == 0 {
                    let w = if s.kind == StmtKind::Break {
                        "break"
                    } else {
                        "continue"
                    };
                    self.error(Diagnostic::error(
                        format!("`{w}` outside of a loop"),
                        s.span,
                        "not inside `for` or `while`",
                    ));
                }
            }
        }
    }

    /// Upstream refuses a `let` or loop variable whose name is already in scope (no
    /// shadowing: the inner one would share the outer one's storage).
    fn no_shadowing(&mut self, var: &Ident, label: &str) {
        let Some(first) = self.find_var(&var.name).map(|v| v.span) else {
            return;
        };
        let name = crate::macros::source_name(&var.name);
        self.error(
            Diagnostic::error(
                format!("`${name}` is already a variable here"),
                var.span,
                label,
            )
            .with_note(
                format!("`${name}` got its first value or declaration here"),
                first,
                "",
            )
            .with_help(
                "variables cannot be shadowed: use another name, or assign it without `let`",
            ),
        );
    }

    fn loop_body(&mut self, var: &Ident, t: Type, body: &Block) {
        self.no_shadowing(var, "the loop variable takes the same name");
        self.scopes.push(BTreeMap::new());
        self.bind(&var.name, Some(t), var.span, false, false);
        self.loop_depth += 1;
        self.block(body);
        self.loop_depth -= 1;
        self.scopes.pop();
    }

    fn for_map_type(&mut self, map: &Expr) -> Type {
        let ExprKind::Map { name, .. } = &map.kind else {
            return Type::Unknown;
        };
        let Some(info) = self.map_info(name, map.span) else {
            return Type::Unknown;
        };
        if info.keys.is_empty() {
            self.error(
                Diagnostic::error(
                    format!("cannot iterate over `@{name}`: it has no keys"),
                    map.span,
                    "a map without keys",
                )
                .with_help("`for` walks maps with keys, such as `@m[pid]`"),
            );
            return Type::Unknown;
        }
        let value = match &info.value {
            Type::Agg(..) => match info.value.agg_read() {
                Some(t) => t,
                None => {
                    self.error(Diagnostic::error(
                        format!("cannot iterate over a map of `{}`", info.value),
                        map.span,
                        "its values cannot be read in BPF",
                    ));
                    return Type::Unknown;
                }
            },
            t => t.clone(),
        };
        let key = if info.keys.len() == 1 {
            info.keys[0].clone()
        } else {
            Type::Tuple(info.keys.clone())
        };
        Type::Tuple(vec![key, value])
    }

    // ---- variables ----

    /// `let $x: T [= value]`.
    fn declare(&mut self, var: &Ident, written: &TypeName, value: Option<&Expr>) {
        let Some(declared) = self.written_type(written) else {
            if let Some(v) = value {
                self.expr(v);
            }
            return;
        };
        if let Some(v) = value {
            let t = self.value(v, "a variable");
            self.check_assignable(&declared, written.span, &t, v, Some(v), &var.name);
        }
        self.bind(&var.name, Some(declared), written.span, false, true);
    }

    /// Adds `$name` to the innermost scope (and, once typed, to the probe's variables).
    fn bind(&mut self, name: &str, ty: Option<Type>, span: Span, flex: bool, declared: bool) {
        if let Some(t) = &ty {
            self.probe_vars.insert(name.to_string(), t.clone());
        }
        let var = Var {
            ty,
            span,
            flex,
            declared,
        };
        self.scopes
            .last_mut()
            .expect("a scope")
            .insert(name.to_string(), var);
    }

    /// The type of `$name` and where it was declared, when it was declared with one.
    fn declared_type(&self, name: &str) -> Option<(Type, Span)> {
        let v = self.find_var(name)?;
        v.declared
            .then(|| (v.ty.clone().unwrap_or(Type::Unknown), v.span))
    }

    /// A value of type `from` stored in `$name`, declared `to` at `decl`: integers
    /// convert (a `literal` stored as is must fit), anything else must be of the
    /// declared type.
    fn check_assignable(
        &mut self,
        to: &Type,
        decl: Span,
        from: &Type,
        value: &Expr,
        literal: Option<&Expr>,
        name: &str,
    ) {
        let name = crate::macros::source_name(name);
        let ok = match (to, from) {
            (_, Type::Unknown) | (Type::Unknown, _) => true,
            (Type::Int { bits, signed }, Type::Int { .. } | Type::Enum { .. } | Type::Bool) => {
                if let Some(n) = literal.and_then(literal_value) {
                    let (lo, hi) = if *signed {
                        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                    } else {
                        (0, (1i128 << bits) - 1)
                    };
                    if n < lo || n > hi {
                        self.error(
                            Diagnostic::error(
                                format!("`{n}` does not fit `${name}`, declared `{to}`"),
                                value.span,
                                format!("out of the range of `{to}`"),
                            )
                            .with_note(format!("`${name}` is declared here"), decl, "")
                            .with_help(format!("cast it to convert it: `({to}){n}`")),
                        );
                    }
                }
                true
            }
            (Type::Ptr(_), Type::Ptr(_) | Type::Int { .. }) => true,
            (a, b) => a == b || merge(a, b).as_ref() == Some(a),
        };
        if !ok {
            self.error(
                Diagnostic::error(
                    format!("cannot store `{from}` in `${name}`, declared `{to}`"),
                    value.span,
                    format!("this has type `{from}`"),
                )
                .with_note(
                    format!("`${name}` is declared here"),
                    decl,
                    format!("`{to}`"),
                ),
            );
        }
    }

    fn find_var(&self, name: &str) -> Option<&Var> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn var_read(&mut self, name: &str, span: Span) -> Type {
        match self.find_var(name) {
            Some(v) => v.ty.clone().unwrap_or(Type::INT64),
            None => {
                let visible: Vec<String> =
                    self.scopes.iter().flat_map(|s| s.keys().cloned()).collect();
                let name = crate::macros::source_name(name);
                let mut d = Diagnostic::error(
                    format!("undefined variable `${name}`"),
                    span,
                    "used before any assignment",
                );
                d = match nearest(name, visible.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!(
                        "did you mean `${}`?",
                        crate::macros::source_name(s)
                    )),
                    None => d.with_help(format!("assign it first: `${name} = ...;`")),
                };
                self.error(d);
                Type::Unknown
            }
        }
    }

    fn var_write(&mut self, var: &Ident, t: Type, value_span: Span, flex: bool) {
        let name = &var.name;
        let existing = self.scopes.iter_mut().rev().find_map(|s| s.get_mut(name));
        match existing {
            None => self.bind(name, Some(t), value_span, flex, false),
            Some(v) => {
                let Some(old) = v.ty.clone() else {
                    v.ty = Some(t.clone());
                    v.span = value_span;
                    v.flex = flex;
                    self.probe_vars.insert(name.clone(), t);
                    return;
                };
                let (merged, still_flex) = merge_flex(&old, v.flex, &t, flex);
                match merged {
                    Some(m) => {
                        v.ty = Some(m.clone());
                        v.flex = still_flex;
                        self.probe_vars.insert(name.clone(), m);
                    }
                    None => {
                        let first = v.span;
                        let name = crate::macros::source_name(name);
                        let mut d = Diagnostic::error(
                            format!("type mismatch for `${name}`: it holds `{old}`, not `{t}`"),
                            value_span,
                            format!("this has type `{t}`"),
                        )
                        .with_note(
                            format!("`${name}` got its type here"),
                            first,
                            format!("`{old}`"),
                        );
                        if let Some(h) = super::records::mismatch_help(&old, &t) {
                            d = d.with_help(h);
                        }
                        self.error(d);
                    }
                }
            }
        }
    }

    // ---- maps ----

    fn map_info(&mut self, name: &str, span: Span) -> Option<MapInfo> {
        if let Some(i) = self.maps.get(name).or_else(|| self.hints.get(name)) {
            return Some(i.clone());
        }
        let known: Vec<String> = self.maps.keys().chain(self.hints.keys()).cloned().collect();
        let mut d = Diagnostic::error(
            format!("undefined map `@{name}`"),
            span,
            "this map is never assigned",
        );
        d = match nearest(name, known.iter().map(String::as_str)) {
            Some(s) if !s.is_empty() => d.with_help(format!("did you mean `@{s}`?")),
            _ => d.with_help(format!("assign it somewhere, e.g. `@{name} = count();`")),
        };
        self.error(d);
        None
    }

    /// The key types of a map expression (`@m[(a, b)]` is the same as `@m[a, b]`).
    fn key_types(&mut self, keys: &[Expr]) -> Vec<Type> {
        let mut out = Vec::new();
        for k in keys {
            let t = self.expr(k);
            let t = self.as_value(k, t);
            self.check_storable(&t, k, "a map key");
            match t {
                Type::Tuple(ts) if keys.len() == 1 => out.extend(ts.into_iter().map(key_part)),
                t => out.push(key_part(t)),
            }
        }
        out
    }

    fn check_storable(&mut self, t: &Type, e: &Expr, what: &str) {
        if matches!(t, Type::Void | Type::Agg(..) | Type::Args) {
            self.error(Diagnostic::error(
                format!("`{t}` cannot be used as {what}"),
                e.span,
                format!("this has type `{t}`"),
            ));
        }
    }

    /// Checks `keys` against the map's key types; `first` gives them when the map is new.
    fn check_keys(&mut self, name: &str, keys: &[Type], info: &MapInfo, span: Span) -> bool {
        if info.keys.len() != keys.len() {
            self.error(
                Diagnostic::error(
                    format!("`@{name}` is used with {} here", plural(keys.len(), "key")),
                    span,
                    format!("expected {}", plural(info.keys.len(), "key")),
                )
                .with_note(
                    format!(
                        "`@{name}` has {} since here",
                        plural(info.keys.len(), "key")
                    ),
                    info.key_span,
                    "",
                ),
            );
            return false;
        }
        for (old, new) in info.keys.iter().zip(keys) {
            if merge(old, new).is_none() {
                let mut d = Diagnostic::error(
                    format!("map key type mismatch for `@{name}`: `{new}` instead of `{old}`"),
                    span,
                    format!("key of type `{new}`"),
                )
                .with_note(
                    format!("`@{name}` got its key type here"),
                    info.key_span,
                    format!("`{old}`"),
                );
                if let Some(h) = super::records::mismatch_help(old, new) {
                    d = d.with_help(h);
                }
                self.error(d);
                return false;
            }
        }
        true
    }

    /// The value of `@m[keys]` read in an expression.
    fn map_read(&mut self, e: &Expr, name: &str, keys: &[Expr]) -> Type {
        let kt = self.key_types(keys);
        let Some(info) = self.map_info(name, e.span) else {
            return Type::Unknown;
        };
        self.check_keys(name, &kt, &info, e.span);
        match &info.value {
            Type::Agg(..) => match info.value.agg_read() {
                Some(t) => t,
                None => {
                    self.error(
                        Diagnostic::error(
                            format!("a map of `{}` cannot be used in an expression", info.value),
                            e.span,
                            "its value exists only in user space",
                        )
                        .with_help(format!("print it with `print(@{name})`")),
                    );
                    Type::Unknown
                }
            },
            t => t.clone(),
        }
    }

    /// For `@m++` and `@m += x`: the current value, an `int64` 0 for a new map.
    fn map_read_or_new(&mut self, map: &Expr) -> Type {
        let ExprKind::Map { name, keys } = &map.kind else {
            return Type::Unknown;
        };
        if self.maps.contains_key(name) || self.hints.contains_key(name) {
            let t = self.map_read(map, name, keys);
            self.types[map.id.0 as usize] = t.clone();
            return t;
        }
        self.key_types(keys);
        Type::INT64
    }

    fn map_write(&mut self, map: &Expr, value: Type, value_expr: Option<&Expr>, value_span: Span) {
        let ExprKind::Map { name, keys } = &map.kind else {
            return;
        };
        let kt = self.key_types(keys);
        let key_flex: Vec<bool> = if keys.len() == kt.len() {
            keys.iter().map(is_positive_literal).collect()
        } else {
            vec![false; kt.len()]
        };
        let value_flex = value_expr.is_some_and(is_positive_literal);
        let value = match value {
            Type::Int { signed, .. } => Type::int(64, signed),
            Type::Enum { name, id, .. } => Type::Enum { name, bits: 64, id },
            t => t,
        };
        self.types[map.id.0 as usize] = value.clone();
        let Some(info) = self.maps.get(name).cloned() else {
            self.map_flex.insert(name.clone(), (key_flex, value_flex));
            self.maps.insert(
                name.clone(),
                MapInfo {
                    keys: kt,
                    value,
                    key_span: map.span,
                    value_span,
                },
            );
            return;
        };
        if !self.check_keys(name, &kt, &info, map.span) {
            return;
        }
        let (old_kflex, old_vflex) = self
            .map_flex
            .get(name)
            .cloned()
            .unwrap_or((vec![false; kt.len()], false));
        let mut new_kflex = Vec::new();
        let mut keys = Vec::new();
        for (i, (a, b)) in info.keys.iter().zip(&kt).enumerate() {
            let of = old_kflex.get(i).copied().unwrap_or(false);
            let nf = key_flex.get(i).copied().unwrap_or(false);
            let (m, f) = merge_flex(a, of, b, nf);
            keys.push(m.unwrap_or_else(|| a.clone()));
            new_kflex.push(f);
        }
        let (merged, vflex) = merge_flex(&info.value, old_vflex, &value, value_flex);
        match merged {
            Some(m) => {
                let entry = self.maps.get_mut(name).expect("present");
                entry.keys = keys;
                entry.value = m;
                self.map_flex.insert(name.clone(), (new_kflex, vflex));
            }
            None => {
                if let (Type::Agg(a, _), Type::Agg(b, _)) = (&info.value, &value)
                    && a.type_name() == b.type_name()
                {
                    // Same aggregation, other bounds (`hist` bits, `lhist` or `tseries`
                    // arguments): upstream keeps one set per map.
                    let f = a.type_name().trim_end_matches("_t");
                    self.error(
                        Diagnostic::error(
                            format!("different `{f}()` arguments in one map `@{name}`"),
                            value_span,
                            "these arguments differ",
                        )
                        .with_note(
                            format!("`@{name}` got its arguments here"),
                            info.value_span,
                            "first arguments",
                        )
                        .with_help("a map keeps one set of arguments: use another map name"),
                    );
                    return;
                }
                let (help, label) = match (&info.value, &value) {
                    (Type::Agg(..), _) | (_, Type::Agg(..)) => (
                        "a map holds one kind of value: use another map name for this one"
                            .to_string(),
                        format!("this has type `{value}`"),
                    ),
                    (old, new) => (
                        super::records::mismatch_help(old, new).unwrap_or_else(|| {
                            "a map keeps the value type of its first assignment".to_string()
                        }),
                        format!("this has type `{value}`"),
                    ),
                };
                self.error(
                    Diagnostic::error(
                        format!(
                            "type mismatch for `@{name}`: it holds `{}`, not `{value}`",
                            info.value
                        ),
                        value_span,
                        label,
                    )
                    .with_note(
                        format!("`@{name}` got its type here"),
                        info.value_span,
                        format!("`{}`", info.value),
                    )
                    .with_help(help),
                );
            }
        }
    }

    // ---- expressions ----

    /// Types an expression (aggregations not allowed).
    pub(super) fn expr(&mut self, e: &Expr) -> Type {
        self.expr_with(e, false)
    }

    /// A value being stored in a variable: no aggregations, no void, no args record.
    fn value(&mut self, e: &Expr, what: &str) -> Type {
        let t = self.expr(e);
        let t = self.as_value(e, t);
        if matches!(t, Type::Void | Type::Args) {
            self.error(Diagnostic::error(
                format!("`{t}` cannot be stored in {what}"),
                e.span,
                format!("this has type `{t}`"),
            ));
            return Type::Unknown;
        }
        t
    }

    fn expr_with(&mut self, e: &Expr, agg_ok: bool) -> Type {
        let t = self.expr_inner(e, agg_ok);
        self.types[e.id.0 as usize] = t.clone();
        t
    }

    fn expr_inner(&mut self, e: &Expr, agg_ok: bool) -> Type {
        match &e.kind {
            ExprKind::Type(ty) => {
                self.error(
                    Diagnostic::error(
                        format!("`{ty}` is a type, not a value"),
                        e.span,
                        "a type where a value was expected",
                    )
                    .with_help("types are the arguments of casts, `sizeof()` and `offsetof()`"),
                );
                Type::Unknown
            }
            ExprKind::Block { block, value } => {
                self.scopes.push(BTreeMap::new());
                self.block_stmts(block);
                let t = value.as_ref().map_or(Type::Void, |v| self.expr(v));
                self.scopes.pop();
                t
            }
            ExprKind::Int(v) => {
                if *v > i64::MAX as u64 {
                    Type::UINT64
                } else {
                    literal_type(*v as i128)
                }
            }
            ExprKind::Str(_) => Type::Str,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Ident(name) => self.ident(name, e.span),
            ExprKind::Var(name) => self.var_read(name, e.span),
            ExprKind::Positional(0) => {
                self.error(Diagnostic::error(
                    "there is no positional parameter `$0`",
                    e.span,
                    "positional parameters start at `$1`",
                ));
                Type::Unknown
            }
            ExprKind::Positional(n) => match self.opts.params.get(*n as usize - 1) {
                Some(p) if crate::lexer::parse_int(p).is_err() && p.parse::<i64>().is_err() => {
                    Type::Str
                }
                _ => Type::INT64,
            },
            ExprKind::ParamCount => Type::INT64,
            ExprKind::Map { name, keys } => self.map_read(e, name, keys),
            ExprKind::Call { name, args } => self.call(e, name, args, agg_ok),
            ExprKind::Unary { op, expr } => self.unary(*op, expr),
            ExprKind::IncDec { target, .. } => {
                let t = match &target.kind {
                    ExprKind::Var(name) => self.var_read(name, target.span),
                    ExprKind::Map { .. } => {
                        let t = self.map_read_or_new(target);
                        if t.is_integer_like() {
                            self.map_write(target, t.clone(), None, target.span);
                        }
                        t
                    }
                    _ => Type::Unknown,
                };
                self.types[target.id.0 as usize] = t.clone();
                if !t.is_integer_like() && !matches!(t, Type::Ptr(_)) {
                    self.error(Diagnostic::error(
                        format!("`++`/`--` needs an integer or pointer, found `{t}`"),
                        target.span,
                        format!("this has type `{t}`"),
                    ));
                    return Type::Unknown;
                }
                t
            }
            ExprKind::Binary { op, lhs, rhs } => {
                if let Some(t) = self.typeinfo_compare(e, *op, lhs, rhs) {
                    return t;
                }
                let lt = self.expr(lhs);
                let rt = self.expr(rhs);
                let t = self.binop_type(*op, &lt, &rt, Some(lhs), rhs, e.span);
                self.fold_str_compare(e, *op, lhs, rhs);
                t
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let ct = self.expr(cond);
                self.truthy(&ct, cond, "the condition");
                let a = self.expr(then);
                let b = self.expr(otherwise);
                match merge(&a, &b) {
                    Some(t) => t,
                    // The empty block the parser gives an `if` expression without `else`.
                    None if b == Type::Void && otherwise.span.start == otherwise.span.end => {
                        self.error(
                            Diagnostic::error(
                                "an `if` used as a value needs an `else`",
                                e.span,
                                format!("gives `{a}` only when the condition is true"),
                            )
                            .with_help("add `else { ... }` giving a value of the same type"),
                        );
                        Type::Unknown
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            format!("the branches have different types: `{a}` and `{b}`"),
                            otherwise.span,
                            format!("this has type `{b}`"),
                        )
                        .with_note(
                            "the other branch",
                            then.span,
                            format!("`{a}`"),
                        );
                        if a == Type::Void || b == Type::Void {
                            d = d.with_help("both branches must give a value, or neither");
                        }
                        self.error(d);
                        Type::Unknown
                    }
                }
            }
            ExprKind::Cast { ty, expr } => {
                let from = self.expr(expr);
                self.cast(ty, &from, expr)
            }
            ExprKind::Field { expr, field, arrow } => {
                if let Some(t) = self.typeinfo_field(e, expr, field) {
                    return t;
                }
                let base = self.expr(expr);
                if *arrow && let Type::Record(_) = base {
                    return self.record_arrow(expr, field);
                }
                self.field(&base, expr, field)
            }
            ExprKind::TupleIndex { expr, index } => {
                let base = self.expr(expr);
                match base {
                    Type::Tuple(ts) => match ts.get(*index as usize) {
                        Some(t) => t.clone(),
                        None => {
                            self.error(Diagnostic::error(
                                format!("tuple index {index} is out of range"),
                                e.span,
                                format!("the tuple has {}", plural(ts.len(), "element")),
                            ));
                            Type::Unknown
                        }
                    },
                    Type::Unknown => Type::Unknown,
                    t => {
                        self.error(Diagnostic::error(
                            format!("`.{index}` needs a tuple, found `{t}`"),
                            expr.span,
                            format!("this has type `{t}`"),
                        ));
                        Type::Unknown
                    }
                }
            }
            ExprKind::Index { expr, index } => {
                let base = self.expr(expr);
                if let Type::Tuple(ts) = &base {
                    return self.tuple_subscript(e, expr, ts, index);
                }
                let it = self.expr(index);
                if !it.is_integer_like() {
                    self.error(Diagnostic::error(
                        format!("an index must be an integer, found `{it}`"),
                        index.span,
                        format!("this has type `{it}`"),
                    ));
                }
                if let (Type::Array(_, len), Some(i)) = (&base, literal_value(index)) {
                    self.array_index_bounds(&base, *len, i, index);
                }
                match base {
                    Type::Ptr(t) | Type::Array(t, _) => *t,
                    // A string's bytes, as upstream's `$path[0] != "/"[0]`.
                    Type::Str => Type::int(8, true),
                    Type::Unknown => Type::Unknown,
                    t => {
                        self.error(
                            Diagnostic::error(
                                format!("cannot index into `{t}`"),
                                expr.span,
                                format!("this has type `{t}`"),
                            )
                            .with_help(
                                "only pointers and arrays can be indexed; maps use `@m[key]`",
                            ),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Tuple(items) => {
                if items.is_empty() {
                    self.error(Diagnostic::error(
                        "empty tuples are not supported",
                        e.span,
                        "`()`",
                    ));
                    return Type::Unknown;
                }
                let mut ts = Vec::new();
                for i in items {
                    let t = self.expr(i);
                    let t = self.as_value(i, t);
                    self.check_storable(&t, i, "a tuple element");
                    ts.push(t);
                }
                Type::Tuple(ts)
            }
            ExprKind::Record(fields) => self.record_literal(fields),
        }
    }

    /// `$t[i]` on a tuple: `i` must be known when compiling, and the subscript becomes
    /// `$t.i` (upstream folds `$t[1 + 1]` to `$t.2`).
    fn tuple_subscript(&mut self, e: &Expr, base: &Expr, ts: &[Type], index: &Expr) -> Type {
        let it = self.expr(index);
        let Some(n) = self.const_int(index).filter(|_| it.is_integer_like()) else {
            self.error(
                Diagnostic::error(
                    "a tuple index must be a constant integer",
                    index.span,
                    "not known when compiling",
                )
                .with_help("write a number or a constant expression, e.g. `$t[0]` or `$t.0`"),
            );
            return Type::Unknown;
        };
        let Some((i, t)) = u32::try_from(n)
            .ok()
            .and_then(|i| Some((i, ts.get(i as usize)?)))
        else {
            self.error(Diagnostic::error(
                format!("tuple index {n} is out of range"),
                index.span,
                format!("the tuple has {}", plural(ts.len(), "element")),
            ));
            return Type::Unknown;
        };
        let kind = ExprKind::TupleIndex {
            expr: Box::new(base.clone()),
            index: i,
        };
        self.consts.insert(e.id, kind);
        t.clone()
    }

    /// The enum `enum NAME` as a cast or `let` names it (64 bits): the script's, else
    /// the kernel's.
    fn enum_named(&self, name: &str) -> Option<Type> {
        match self.c_types.get_enum(name) {
            Some((id, _)) => Some(self.c_types.enum_type(id, 64)),
            None if name.starts_with("enum ") => self.tp.enum_type(name),
            None => None,
        }
    }

    /// The definition of enum `id`: the script's, or the kernel's from the provider.
    fn enum_def(&self, id: u32) -> Option<crate::cdefs::CEnum> {
        if crate::cdefs::is_kernel_enum(id) {
            self.tp.kernel_enum(id)
        } else {
            self.c_types.enums.get(id as usize).cloned()
        }
    }

    fn ident(&mut self, name: &str, span: Span) -> Type {
        let Some(b) = builtins::builtin(name) else {
            if let Some((id, _)) = self.c_types.enumerator(name) {
                return self.c_types.enum_type(id, 64);
            }
            if let Some(v) = self.tp.enum_value(name) {
                // A kernel enumerator is a value of its enum (BTF's), as a script's is.
                return self
                    .tp
                    .enum_constant_type(name)
                    .unwrap_or_else(|| literal_type(v as i128));
            }
            let mut d =
                Diagnostic::error(format!("unknown builtin `{name}`"), span, "not a builtin");
            if let Some(s) = nearest(name, builtins::builtin_names()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if FUNCTIONS.contains(&name)
                || NOT_YET.contains(&name)
                || super::META_FUNCTIONS.contains(&name)
            {
                d = d.with_help(format!("`{name}` is a function: call it as `{name}(...)`"));
            } else if name.len() > 1 && !name.chars().any(|c| c.is_ascii_lowercase()) {
                d = d.with_help(
                    "kernel enum values come from the kernel's BTF, where no enum has this \
                     enumerator (or there is no BTF); use the number",
                );
            }
            self.error(d);
            return Type::Unknown;
        };
        if let Scope::Only(allowed) = b.scope {
            let bad: Vec<Provider> = self
                .attach
                .iter()
                .map(|a| a.provider)
                .filter(|p| !allowed.contains(p))
                .collect();
            if let Some(p) = bad.first() {
                let list: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
                // A long list says less than what it leaves out.
                let help = if list.len() > 6 {
                    format!("`{name}` can be used in probes on kernel or user events")
                } else {
                    format!("`{name}` can be used in {} probes", list.join(", "))
                };
                self.error(
                    Diagnostic::error(
                        format!("`{name}` is not available in {} probes", p.name()),
                        span,
                        format!("not valid in a {} probe", p.name()),
                    )
                    .with_help(help),
                );
                return Type::Unknown;
            }
        }
        if name == "func"
            && self
                .attach
                .iter()
                .all(|a| matches!(a.provider, Provider::Uprobe | Provider::Uretprobe))
        {
            return Type::Usym;
        }
        if name == "retval" {
            return self.retval_type().unwrap_or_else(b.ty);
        }
        if name == "kstack" && self.build_id_mode {
            // Upstream's words: a bare `kstack` prints in raw mode then.
            self.warn(Diagnostic::warning(
                "'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode.",
                span,
                "printed as kstack(raw)",
            ));
        }
        if name == "ctx" {
            return self.ctx_type(span);
        }
        // A usdt argument is sign-extended from its size in the probe's note (`-4@%eax`):
        // upstream types it `int64`.
        if b.name == "argN"
            && !self.attach.is_empty()
            && self.attach.iter().all(|a| a.provider == Provider::Usdt)
        {
            return Type::INT64;
        }
        (b.ty)()
    }

    /// `ctx`, typed as upstream types it: `struct pt_regs *` in kprobes, uprobes and usdt,
    /// `struct bpf_perf_event_data *` in perf event probes, `struct bpf_iter__TARGET *`
    /// in iterators, `void *` elsewhere. Attach points that disagree are an error.
    fn ctx_type(&mut self, span: Span) -> Type {
        let of = |a: &AttachPoint| {
            let s = match a.provider {
                Provider::Kprobe
                | Provider::Kretprobe
                | Provider::Uprobe
                | Provider::Uretprobe
                | Provider::Usdt => "struct pt_regs".to_string(),
                Provider::Interval
                | Provider::Profile
                | Provider::Software
                | Provider::Hardware
                | Provider::Watchpoint => "struct bpf_perf_event_data".to_string(),
                Provider::Iter => match a.parts.first() {
                    Some(target) => format!("struct bpf_iter__{target}"),
                    None => return Type::Ptr(Box::new(Type::Void)),
                },
                _ => return Type::Ptr(Box::new(Type::Void)),
            };
            Type::Ptr(Box::new(Type::Struct(s)))
        };
        let mut types = self.attach.iter().map(|a| (a.provider, of(a)));
        let Some((first_provider, first)) = types.next() else {
            return Type::Ptr(Box::new(Type::Void));
        };
        if let Some((p, t)) = types.find(|(_, t)| *t != first) {
            self.error(
                Diagnostic::error(
                    format!(
                        "`ctx` is `{first}` in {} probes but `{t}` in {} probes",
                        first_provider.name(),
                        p.name()
                    ),
                    span,
                    "its type depends on the attach point",
                )
                .with_help("use `ctx` in a probe whose attach points are of one kind"),
            );
            return Type::Unknown;
        }
        first
    }

    /// fexit's `retval` has the function's return type (as upstream), when every attach
    /// point of the probe agrees on it; kprobes and uprobes read a `uint64` register.
    fn retval_type(&self) -> Option<Type> {
        let mut found: Option<Type> = None;
        for ap in &self.attach {
            let Lookup::Found(t) = self.tp.return_type(ap) else {
                return None;
            };
            if !matches!(
                t,
                Type::Int { .. } | Type::Enum { .. } | Type::Bool | Type::Ptr(_)
            ) {
                return None;
            }
            match &found {
                Some(f) if *f != t => return None,
                _ => found = Some(t),
            }
        }
        found
    }

    fn unary(&mut self, op: UnOp, x: &Expr) -> Type {
        let t = self.expr(x);
        let bad = |c: &mut Self, what: &str| {
            c.error(Diagnostic::error(
                format!("`{}` needs {what}, found `{t}`", op.symbol()),
                x.span,
                format!("this has type `{t}`"),
            ));
            Type::Unknown
        };
        match op {
            UnOp::Not if t.is_truthy() => Type::Bool,
            UnOp::Not => bad(self, "an integer, bool or pointer"),
            UnOp::BitNot if t.is_integer_like() => match t {
                Type::Bool => Type::UINT64,
                t => t.without_enum(),
            },
            UnOp::BitNot => bad(self, "an integer"),
            UnOp::Neg => {
                if let Some(v) = literal_value(x) {
                    return literal_type(-v);
                }
                match t {
                    Type::Int { bits, .. } | Type::Enum { bits, .. } => Type::int(bits, true),
                    Type::Bool => Type::INT64,
                    Type::Unknown => Type::Unknown,
                    _ => bad(self, "an integer"),
                }
            }
            UnOp::Deref => match t {
                Type::Ptr(inner) => *inner,
                Type::Unknown => Type::Unknown,
                // An integer address reads an integer of its own width (kernel memory),
                // as upstream: `*kaddr("avenrun")`.
                Type::Int { .. } => t,
                _ => {
                    self.error(
                        Diagnostic::error(
                            format!("cannot dereference `{t}`"),
                            x.span,
                            format!("this has type `{t}`"),
                        )
                        .with_help("cast it to a pointer first, e.g. `*(uint64 *)arg0`"),
                    );
                    Type::Unknown
                }
            },
            UnOp::AddrOf => match t {
                Type::Void | Type::Agg(..) => bad(self, "a value"),
                t => Type::Ptr(Box::new(t)),
            },
        }
    }

    /// bpftrace's rules for binary operators: comparisons and logic give `bool`; integer
    /// arithmetic gives a 64-bit integer, signed when either side is signed (a positive
    /// literal takes the other side's sign) and always for `-`.
    fn binop_type(
        &mut self,
        op: BinOp,
        lt: &Type,
        rt: &Type,
        lhs: Option<&Expr>,
        rhs: &Expr,
        span: Span,
    ) -> Type {
        let mismatch = |c: &mut Self| {
            c.error(Diagnostic::error(
                format!("cannot apply `{}` to `{lt}` and `{rt}`", op.symbol()),
                span,
                format!("`{lt}` {} `{rt}`", op.symbol()),
            ));
            Type::Unknown
        };
        if *lt == Type::Unknown && *rt == Type::Unknown {
            return if op.is_boolean() {
                Type::Bool
            } else {
                Type::Unknown
            };
        }
        match op {
            BinOp::LogAnd | BinOp::LogOr => {
                if lt.is_truthy() && rt.is_truthy() {
                    Type::Bool
                } else {
                    mismatch(self)
                }
            }
            BinOp::Eq | BinOp::Ne => {
                let ok = (lt.is_truthy() && rt.is_truthy())
                    || merge(lt, rt).is_some() && !matches!(lt, Type::Void | Type::Agg(..));
                if ok { Type::Bool } else { mismatch(self) }
            }
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                if lt.is_truthy() && rt.is_truthy() {
                    Type::Bool
                } else {
                    mismatch(self)
                }
            }
            _ => {
                let lptr = matches!(lt, Type::Ptr(_));
                let rptr = matches!(rt, Type::Ptr(_));
                if lptr || rptr {
                    return match (op, lptr, rptr) {
                        (BinOp::Add, true, false) if rt.is_integer_like() => lt.clone(),
                        (BinOp::Add, false, true) if lt.is_integer_like() => rt.clone(),
                        (BinOp::Sub, true, false) if rt.is_integer_like() => lt.clone(),
                        (BinOp::Sub, true, true) => Type::INT64,
                        _ => mismatch(self),
                    };
                }
                if !lt.is_integer_like() || !rt.is_integer_like() {
                    return mismatch(self);
                }
                if *lt == Type::Unknown || *rt == Type::Unknown {
                    return Type::Unknown;
                }
                let mut ls = lt.is_signed();
                let mut rs = rt.is_signed();
                let lflex = lhs.is_some_and(is_positive_literal);
                let rflex = is_positive_literal(rhs);
                if lflex && !rflex {
                    ls = rs;
                } else if rflex && !lflex {
                    rs = ls;
                }
                // Like upstream: operands of one type (after the literal's sign follows
                // the other side) never warn.
                let bits = |t: &Type| t.int_parts().map_or(8, |p| p.0);
                let same = bits(lt) == bits(rt) && ls == rs;
                if matches!(op, BinOp::Div | BinOp::Mod) && (ls || rs) && !same {
                    self.warn(
                        Diagnostic::warning(
                            format!("signed operands for `{}`", op.symbol()),
                            span,
                            format!("`{lt}` {} `{rt}`", op.symbol()),
                        )
                        .with_help("a negative operand gives an unexpected result: cast both sides to an unsigned type"),
                    );
                }
                Type::int(64, ls || rs || op == BinOp::Sub)
            }
        }
    }

    /// The type `typeof(of)` names: a written type's, or the expression's static type
    /// (the expression is checked, never run).
    fn typeof_type(&mut self, of: &Expr) -> Type {
        match &of.kind {
            ExprKind::Type(t) => self.written_type(t).unwrap_or(Type::Unknown),
            _ => self.expr(of),
        }
    }

    /// A written type, as a `let` annotation uses it: a name nothing defines is an error.
    pub(super) fn written_type(&mut self, ty: &TypeName) -> Option<Type> {
        let base = match &ty.of {
            Some(of) => self.typeof_type(of),
            None => match builtins::cast_base(&ty.base) {
                Some(t) => t,
                None if let Some(t) = self.enum_named(&ty.base) => t,
                None if is_tagged(&ty.base) => {
                    if !self.known_struct(ty) {
                        return None;
                    }
                    Type::Struct(ty.base.clone())
                }
                None => {
                    self.error(
                        Diagnostic::error(
                            format!("unknown type `{}`", ty.base),
                            ty.span,
                            "not a type",
                        )
                        .with_help(
                            "types are integers (`uint8`…`int64`), `bool`, `string`, \
                             `struct NAME`, pointers and `typeof(EXPR)`",
                        ),
                    );
                    return None;
                }
            },
        };
        // `string[N]` sets a string's capacity rather than making an array (upstream).
        if base == Type::Str && ty.pointer == 0 && ty.array.len() <= 1 {
            return Some(Type::Str);
        }
        if ty.array.contains(&None) {
            self.error(
                Diagnostic::error(
                    format!("`{ty}` needs the array's length here"),
                    ty.span,
                    "`[]` has no length here",
                )
                .with_help("only a cast takes the length from the value cast: `(int8[])n`"),
            );
            return None;
        }
        Some(wrap_type(base, ty))
    }

    fn cast(&mut self, ty: &TypeName, from: &Type, x: &Expr) -> Type {
        if let Some(t) = self.array_cast(ty, from, x) {
            return t;
        }
        let base = match &ty.of {
            Some(of) => self.typeof_type(of),
            None => match builtins::cast_base(&ty.base) {
                Some(t) => t,
                None if let Some(t) = self.enum_named(&ty.base) => t,
                None if is_tagged(&ty.base) => {
                    if !self.known_struct(ty) {
                        return Type::Unknown;
                    }
                    Type::Struct(ty.base.clone())
                }
                None => Type::Unknown,
            },
        };
        if !ty.array.is_empty() {
            let mut elem = base;
            for _ in 0..ty.pointer {
                elem = Type::Ptr(Box::new(elem));
            }
            return self.cast_to_array(elem, ty, from, x);
        }
        let target = wrap_type(base.clone(), ty);
        if matches!(
            from,
            Type::Void | Type::Agg(..) | Type::Args | Type::Tuple(_) | Type::Record(_)
        ) {
            self.error(Diagnostic::error(
                format!("cannot cast `{from}` to `{ty}`"),
                x.span,
                format!("this has type `{from}`"),
            ));
            return Type::Unknown;
        }
        match &target {
            // A string is true when it is not empty (upstream).
            Type::Bool if *from == Type::Str => {}
            Type::Int { .. } | Type::Enum { .. } | Type::Bool if !from.is_truthy() => {
                self.error(Diagnostic::error(
                    format!("cannot cast `{from}` to `{ty}`"),
                    x.span,
                    format!("this has type `{from}`"),
                ));
                return Type::Unknown;
            }
            Type::Struct(_) => {
                self.error(
                    Diagnostic::error(
                        format!("cannot cast to `{ty}`: only to a pointer to it"),
                        ty.span,
                        "a struct by value",
                    )
                    .with_help(format!("write `({ty} *)`")),
                );
                return Type::Unknown;
            }
            Type::Str | Type::Void if ty.pointer == 0 => {
                self.error(Diagnostic::error(
                    format!("cannot cast to `{ty}`"),
                    ty.span,
                    "not a type values can be cast to",
                ));
                return Type::Unknown;
            }
            Type::Enum { id, name, .. } if ty.pointer == 0 && ty.array.is_empty() => {
                let e = self.enum_def(*id);
                if let Some(v) = literal_value(x)
                    && let Some(e) = e
                    && !e.has_value(v)
                {
                    let mut d = Diagnostic::error(
                        format!("`{name}` has no enumerator of value {v}"),
                        x.span,
                        "not a value of the enum",
                    );
                    if e.btf_size.is_none() {
                        d = d.with_note(format!("`{name}`"), e.span, "defined here");
                    }
                    self.error(d);
                    return Type::Unknown;
                }
            }
            _ => {}
        }
        target
    }

    fn field(&mut self, base: &Type, x: &Expr, field: &Ident) -> Type {
        let name = &field.name;
        match base {
            Type::Unknown => Type::Unknown,
            Type::Args => self.args_field(field),
            Type::Record(fields) => self.record_field(fields, x, field),
            Type::Struct(s) => self.member(s, field),
            Type::Ptr(inner) => match &**inner {
                Type::Struct(s) => self.member(s, field),
                Type::Unknown => Type::Unknown,
                t => {
                    self.error(Diagnostic::error(
                        format!("`{t} *` has no field `{name}`"),
                        field.span,
                        "not a struct pointer",
                    ));
                    Type::Unknown
                }
            },
            t => {
                let mut d = Diagnostic::error(
                    format!("`{t}` has no field `{name}`"),
                    field.span,
                    format!("`{}` is a `{t}`", crate::printer::src_expr(x)),
                );
                if t.is_integer_like() {
                    d = d.with_help("cast it to a struct pointer first, e.g. `((struct task_struct *)arg0)->pid`");
                }
                self.error(d);
                Type::Unknown
            }
        }
    }

    /// Whether the struct or union a cast names exists (or cannot be told); reports an
    /// unknown one with the nearest name.
    pub(super) fn known_struct(&mut self, ty: &TypeName) -> bool {
        let Lookup::Missing { candidates } = self.tp.struct_type(&ty.base) else {
            return true;
        };
        let mut d = Diagnostic::error(
            format!("unknown type `{}`", ty.base),
            ty.span,
            "not in the kernel's BTF",
        );
        if let Some(c) = nearest(&ty.base, candidates.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{c}`?"));
        }
        self.error(d);
        false
    }

    fn member(&mut self, s: &str, field: &Ident) -> Type {
        match self.tp.member(s, &field.name) {
            Lookup::Found(t) => t,
            Lookup::Unknown => Type::Unknown,
            Lookup::Missing { candidates } => {
                let mut d = Diagnostic::error(
                    format!("`{s}` has no field `{}`", field.name),
                    field.span,
                    "unknown field",
                );
                if let Some(c) = nearest(&field.name, candidates.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                self.error(d);
                Type::Unknown
            }
        }
    }

    fn args_field(&mut self, field: &Ident) -> Type {
        let mut found: Option<Type> = None;
        for ap in self.attach.clone() {
            if let Lookup::Found(fields) = self.tp.args(&ap) {
                match fields.iter().find(|f| f.name == field.name) {
                    Some(f) => {
                        found.get_or_insert(f.ty.clone());
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            format!("`{}` has no argument `{}`", ap.canonical(), field.name),
                            field.span,
                            "unknown field of `args`",
                        );
                        d = match nearest(&field.name, fields.iter().map(|f| f.name.as_str())) {
                            Some(c) => d.with_help(format!("did you mean `{c}`?")),
                            None => {
                                let names: Vec<&str> =
                                    fields.iter().map(|f| f.name.as_str()).collect();
                                d.with_help(format!("its arguments are: {}", names.join(", ")))
                            }
                        };
                        self.error(d);
                        return Type::Unknown;
                    }
                }
            }
        }
        found.unwrap_or(Type::Unknown)
    }

    // ---- calls ----

    pub(super) fn arity(
        &mut self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        min: usize,
        max: usize,
    ) -> bool {
        if args.len() >= min && args.len() <= max {
            return true;
        }
        let want = if min == max {
            plural(min, "argument")
        } else if max == usize::MAX {
            format!("at least {}", plural(min, "argument"))
        } else {
            format!("{min} to {max} arguments")
        };
        self.error(Diagnostic::error(
            format!("`{name}()` takes {want}, {} given", args.len()),
            e.span,
            format!("{} given", args.len()),
        ));
        false
    }

    fn call(&mut self, e: &Expr, name: &Ident, args: &[Expr], agg_ok: bool) -> Type {
        let n = name.name.as_str();
        if AGGREGATIONS.contains(&n) {
            return self.aggregation(e, name, args, agg_ok);
        }
        if let Some(t) = self.meta_call(e, n, args) {
            return t;
        }
        if let Some(t) = self.string_call(e, n, args) {
            return t;
        }
        match n {
            "nsecs" => {
                if self.arity(e, n, args, 0, 1)
                    && let Some(a) = args.first()
                    && !matches!(&a.kind, ExprKind::Ident(m)
                        if matches!(m.as_str(), "boot" | "monotonic" | "tai" | "sw_tai"))
                {
                    self.error(
                        Diagnostic::error(
                            "`nsecs()` takes a clock: `boot`, `monotonic`, `tai` or `sw_tai`",
                            a.span,
                            "not a clock name",
                        )
                        .with_help("`nsecs` alone is `nsecs(boot)`"),
                    );
                }
                Type::UINT64
            }
            "strftime" => {
                if !self.arity(e, n, args, 2, 2) {
                    return Type::Unknown;
                }
                self.int_arg(n, &args[1]);
                if matches!(literal_value(&args[1]), Some(v) if v < 0) {
                    self.error(Diagnostic::error(
                        "`strftime()` does not accept negative timestamps",
                        args[1].span,
                        "a negative literal",
                    ));
                }
                let ExprKind::Str(fmt) = &args[0].kind else {
                    self.expr(&args[0]);
                    self.error(Diagnostic::error(
                        "`strftime()` needs a string literal format",
                        args[0].span,
                        "not a string literal",
                    ));
                    return Type::Unknown;
                };
                self.expr(&args[0]);
                let fmt = String::from_utf8_lossy(fmt).into_owned();
                let id = match self.timestamp_formats.iter().position(|f| *f == fmt) {
                    Some(i) => i,
                    None => {
                        self.timestamp_formats.push(fmt);
                        self.timestamp_formats.len() - 1
                    }
                };
                Type::Timestamp(id as u32)
            }
            "getopt" => self.getopt(e, args),
            "reg" => {
                if self.arity(e, n, args, 1, 1) {
                    match &args[0].kind {
                        ExprKind::Str(r)
                            if crate::regs::pt_regs_offset(&String::from_utf8_lossy(r))
                                .is_some() => {}
                        ExprKind::Str(r) => {
                            let r = String::from_utf8_lossy(r).into_owned();
                            let mut d = Diagnostic::error(
                                format!("`reg()`: x86-64 has no register `{r}`"),
                                args[0].span,
                                "not a register name",
                            );
                            let names = crate::regs::PT_REGS.iter().map(|(n, _)| *n);
                            if let Some(s) = nearest(&r, names) {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            }
                            self.error(d);
                        }
                        _ => self.error(Diagnostic::error(
                            "`reg()` needs a register name as a string literal",
                            args[0].span,
                            "not a string literal",
                        )),
                    }
                    for ap in self.attach.clone() {
                        if !matches!(
                            ap.provider,
                            Provider::Kprobe
                                | Provider::Kretprobe
                                | Provider::Uprobe
                                | Provider::Uretprobe
                                | Provider::Usdt
                                | Provider::Profile
                                | Provider::Software
                                | Provider::Watchpoint
                                | Provider::Interval
                        ) {
                            self.error(
                                Diagnostic::error(
                                    format!(
                                        "`reg()` needs registers, which `{}` probes do not have",
                                        ap.provider.name()
                                    ),
                                    e.span,
                                    "used here",
                                )
                                .with_help(
                                    "reg() works in kprobe, uprobe, usdt, profile and interval probes",
                                ),
                            );
                            break;
                        }
                    }
                }
                Type::UINT64
            }
            "macaddr" => {
                if self.arity(e, n, args, 1, 1) {
                    let t = self.expr(&args[0]);
                    let ok = match &t {
                        Type::Array(elem, len) => {
                            matches!(**elem, Type::Int { bits: 8, .. }) && *len >= 6
                        }
                        t => t.is_integer_like() || matches!(t, Type::Ptr(_)),
                    };
                    if !ok {
                        self.error(Diagnostic::error(
                            format!("`macaddr()` needs a 6-byte array or an address, found `{t}`"),
                            args[0].span,
                            format!("this has type `{t}`"),
                        ));
                    }
                }
                Type::Str
            }
            "path" => {
                if !self.arity(e, n, args, 1, 2) {
                    return Type::Str;
                }
                let t = self.expr(&args[0]);
                let ok = match &t {
                    Type::Struct(s) => s == "struct path",
                    Type::Ptr(p) => matches!(&**p, Type::Struct(s) if s == "struct path"),
                    Type::Unknown => true,
                    _ => false,
                };
                if !ok {
                    self.error(Diagnostic::error(
                        format!("`path()` needs a `struct path` or a pointer to one, found `{t}`"),
                        args[0].span,
                        format!("this has type `{t}`"),
                    ));
                }
                if let Some(size) = args.get(1) {
                    self.int_arg(n, size);
                }
                if let Some(ap) = self.attach.iter().find(|a| {
                    !matches!(
                        a.provider,
                        Provider::Fentry | Provider::Fexit | Provider::Iter
                    )
                }) {
                    self.error(
                        Diagnostic::error(
                            format!("`path()` is not available in {} probes", ap.provider.name()),
                            e.span,
                            "the kernel's bpf_d_path helper",
                        )
                        .with_help(
                            "the kernel allows bpf_d_path in iter probes and in fentry/fexit \
                             probes of a few functions (security_file_open, vfs_truncate, \
                             filp_close, ...)",
                        ),
                    );
                }
                Type::Str
            }
            "uaddr" => self.uaddr(e, args),
            "strstr" => {
                if self.arity(e, n, args, 2, 2) {
                    self.str_arg(n, &args[0]);
                    self.str_arg(n, &args[1]);
                }
                Type::INT64
            }
            "cgroup_path" => {
                if !self.arity(e, n, args, 1, 2) {
                    return Type::Unknown;
                }
                self.int_arg(n, &args[0]);
                let filter = match args.get(1).map(|a| &a.kind) {
                    None => "*".to_string(),
                    Some(ExprKind::Str(f)) => String::from_utf8_lossy(f).into_owned(),
                    Some(_) => {
                        self.error(Diagnostic::error(
                            "`cgroup_path()` needs its hierarchy filter as a string literal",
                            args[1].span,
                            "not a string literal",
                        ));
                        return Type::Unknown;
                    }
                };
                let id = match self.cgroup_path_filters.iter().position(|f| *f == filter) {
                    Some(i) => i,
                    None => {
                        self.cgroup_path_filters.push(filter);
                        self.cgroup_path_filters.len() - 1
                    }
                };
                Type::CgroupPath(id as u32)
            }
            "cgroupid" => {
                if !self.arity(e, n, args, 1, 1) {
                    return Type::UINT64;
                }
                let ExprKind::Str(path) = &args[0].kind else {
                    self.error(Diagnostic::error(
                        "`cgroupid()` needs a path as a string literal",
                        args[0].span,
                        "not a string literal",
                    ));
                    return Type::UINT64;
                };
                let path = String::from_utf8_lossy(path).into_owned();
                use std::os::unix::fs::MetadataExt;
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_dir() => {
                        self.consts.insert(e.id, ExprKind::Int(m.ino()));
                    }
                    Ok(_) => self.error(Diagnostic::error(
                        format!("`cgroupid()`: {path} is not a cgroup directory"),
                        args[0].span,
                        "not a directory",
                    )),
                    Err(err) => self.error(
                        Diagnostic::error(
                            format!("`cgroupid()`: cannot read {path}: {err}"),
                            args[0].span,
                            "this path",
                        )
                        .with_help("give a cgroup directory, e.g. /sys/fs/cgroup/system.slice"),
                    ),
                }
                Type::UINT64
            }
            "sizeof" => self.sizeof(e, args),
            "offsetof" => self.offsetof(e, args),
            "printf" | "system" | "cat" | "errorf" | "warnf" => {
                if n == "system" && !self.unsafe_ok(name) {
                    return Type::Void;
                }
                self.format_call(e, name, args);
                Type::Void
            }
            "print" => {
                if !self.arity(e, n, args, 1, 3) {
                    return Type::Void;
                }
                if let ExprKind::Map { name: m, keys } = &args[0].kind
                    && keys.is_empty()
                {
                    self.map_info(m, args[0].span);
                    for a in &args[1..] {
                        self.int_arg(n, a);
                    }
                    return Type::Void;
                }
                if args.len() > 1 {
                    self.error(
                        Diagnostic::error(
                            "`print()` takes extra arguments only for a map",
                            args[1].span,
                            "unexpected argument",
                        )
                        .with_help("`print(@map, top, div)` or `print(value)`"),
                    );
                }
                let t = self.expr(&args[0]);
                let t = self.as_value(&args[0], t);
                if t == Type::Void {
                    self.error(Diagnostic::error(
                        "nothing to print",
                        args[0].span,
                        "this gives no value",
                    ));
                }
                Type::Void
            }
            "time" => {
                if self.arity(e, n, args, 0, 1) && !args.is_empty() {
                    self.literal_string_arg(n, &args[0]);
                }
                Type::Void
            }
            "exit" => {
                if self.arity(e, n, args, 0, 1) && !args.is_empty() {
                    self.int_arg(n, &args[0]);
                }
                Type::Void
            }
            "clear" | "zero" => {
                if self.arity(e, n, args, 1, 1) {
                    self.map_arg(n, &args[0]);
                }
                Type::Void
            }
            "len" => {
                if self.arity(e, n, args, 1, 1) {
                    if let ExprKind::Map { keys, .. } = &args[0].kind
                        && keys.is_empty()
                    {
                        // Upstream refuses `len()` of a map without keys (its one value
                        // is there or not: `has_key`/`delete` say which).
                        if let Some((m, info)) = self.map_arg(n, &args[0])
                            && info.keys.is_empty()
                            && info.value != Type::Unknown
                        {
                            self.error(
                                Diagnostic::error(
                                    "`len()` needs a map with keys",
                                    args[0].span,
                                    format!("`@{m}` has no keys (a scalar map)"),
                                )
                                .with_note("its value is set here", info.value_span, "")
                                .with_help("`len()` counts the keys of a map such as `@m[k]`"),
                            );
                        }
                    } else {
                        let t = self.expr(&args[0]);
                        self.len_of_kstack |= t == Type::Kstack;
                        self.len_of_ustack |= t == Type::Ustack;
                        if !matches!(t, Type::Kstack | Type::Ustack | Type::Unknown) {
                            self.error(Diagnostic::error(
                                format!("`len()` needs a map or a stack, found `{t}`"),
                                args[0].span,
                                format!("this has type `{t}`"),
                            ));
                        }
                    }
                }
                Type::INT64
            }
            "delete" | "has_key" => {
                let (min, max) = if n == "delete" { (1, 2) } else { (2, 2) };
                if !self.arity(e, n, args, min, max) {
                    return Type::Bool;
                }
                if args.len() == 1 {
                    match &args[0].kind {
                        ExprKind::Map { keys, .. } if keys.is_empty() => {
                            // `delete(@scalar)`: removes the map's one value.
                            if let Some((m, info)) = self.map_arg(n, &args[0])
                                && !info.keys.is_empty()
                            {
                                self.error(
                                    Diagnostic::error(
                                        format!("`delete(@{m})` needs a map without keys"),
                                        args[0].span,
                                        format!("`@{m}` has {}", plural(info.keys.len(), "key")),
                                    )
                                    .with_help(format!("name the key: `delete(@{m}, key)`")),
                                );
                            }
                        }
                        ExprKind::Map { name: m, keys } if !keys.is_empty() => {
                            let kt = self.key_types(keys);
                            if let Some(info) = self.map_info(m, args[0].span) {
                                self.check_keys(m, &kt, &info, args[0].span);
                            }
                        }
                        _ => self.error(
                            Diagnostic::error(
                                "`delete()` needs a map element",
                                args[0].span,
                                "expected `@map[key]`",
                            )
                            .with_help("write `delete(@map[key])` or `delete(@map, key)`"),
                        ),
                    }
                    return Type::Bool;
                }
                if let Some((m, info)) = self.map_arg(n, &args[0]) {
                    let kt = self.key_types(std::slice::from_ref(&args[1]));
                    if info.keys.is_empty() {
                        self.error(Diagnostic::error(
                            format!("`@{m}` has no keys"),
                            args[0].span,
                            "a map without keys",
                        ));
                    } else {
                        self.check_keys(&m, &kt, &info, args[1].span);
                    }
                }
                Type::Bool
            }
            "typeinfo" => {
                self.error(
                    Diagnostic::error(
                        "a whole `typeinfo` record is not built yet",
                        e.span,
                        "read one of its fields here",
                    )
                    .with_help(
                        "`typeinfo(x).base_type`, `.full_type` and `.btf_id` work, as does \
                         `typeinfo(a) == typeinfo(b)`",
                    ),
                );
                Type::Unknown
            }
            // Valid calls were written out by the parser; these are the others.
            "find" => {
                self.error(
                    Diagnostic::error(
                        "`find()` needs a map, a key and a scratch variable",
                        e.span,
                        "expected `find(@map, key, $var)`",
                    )
                    .with_help("`$var` is set to the value when the key is present"),
                );
                Type::Bool
            }
            "container_of" => {
                self.error(Diagnostic::error(
                    "`container_of()` needs a pointer, a struct type and a member name",
                    e.span,
                    "expected `container_of(ptr, struct S, member)`",
                ));
                Type::Unknown
            }
            "ksym" | "usym" => {
                if self.arity(e, n, args, 1, 1) {
                    self.int_arg(n, &args[0]);
                }
                if n == "ksym" { Type::Ksym } else { Type::Usym }
            }
            "str" => {
                if self.arity(e, n, args, 1, 2) {
                    let t = self.expr(&args[0]);
                    if !matches!(
                        t,
                        Type::Int { .. }
                            | Type::Ptr(_)
                            | Type::Array(..)
                            | Type::Str
                            | Type::Unknown
                    ) {
                        self.error(Diagnostic::error(
                            format!("`str()` needs a pointer or an array, found `{t}`"),
                            args[0].span,
                            format!("this has type `{t}`"),
                        ));
                    }
                    if let Some(a) = args.get(1) {
                        self.int_arg(n, a);
                    }
                }
                Type::Str
            }
            "strerror" | "signal_name" | "syscall_name" => {
                if self.arity(e, n, args, 1, 1) {
                    self.int_arg(n, &args[0]);
                }
                Type::Str
            }
            "ntop" => {
                if !self.arity(e, n, args, 1, 2) {
                    return Type::Inet;
                }
                if let [af, _] = args {
                    self.int_arg(n, af);
                }
                let addr = &args[args.len() - 1];
                let t = self.expr(addr);
                let ok = match &t {
                    Type::Array(elem, len) => {
                        matches!(**elem, Type::Int { bits: 8, .. }) && matches!(len, 4 | 16)
                    }
                    t => t.is_integer_like(),
                };
                if !ok {
                    self.error(Diagnostic::error(
                        format!("`ntop()` needs an integer or a 4- or 16-byte array, found `{t}`"),
                        addr.span,
                        format!("this has type `{t}`"),
                    ));
                }
                Type::Inet
            }
            "bswap" => {
                if !self.arity(e, n, args, 1, 1) {
                    return Type::UINT64;
                }
                let t = self.expr(&args[0]);
                match t {
                    Type::Int { .. } => t,
                    Type::Enum { .. } => t.without_enum(),
                    Type::Unknown | Type::Bool => Type::UINT64,
                    t => {
                        self.error(Diagnostic::error(
                            format!("`bswap()` needs an integer, found `{t}`"),
                            args[0].span,
                            format!("this has type `{t}`"),
                        ));
                        Type::UINT64
                    }
                }
            }
            "percpu_kaddr" => {
                if self.arity(e, n, args, 1, 2) {
                    self.percpu_variable(&args[0]);
                    if let Some(cpu) = args.get(1) {
                        self.int_arg(n, cpu);
                    }
                }
                Type::Ptr(Box::new(Type::UINT64))
            }
            "kaddr" => {
                if self.arity(e, n, args, 1, 1) {
                    self.literal_string_arg(n, &args[0]);
                }
                Type::UINT64
            }
            "buf" => {
                if !self.arity(e, n, args, 1, 2) {
                    return Type::Buf;
                }
                let t = self.expr(&args[0]);
                let sized = matches!(t, Type::Array(..));
                if t == Type::Str && args.len() == 1 {
                    self.error(
                        Diagnostic::error(
                            "`buf()` of a string needs a length",
                            e.span,
                            "how many of the string's bytes?",
                        )
                        .with_help("write `buf(s, N)`"),
                    );
                } else if !(sized
                    || t == Type::Str
                    || t.is_integer_like()
                    || matches!(t, Type::Ptr(_)))
                {
                    self.error(Diagnostic::error(
                        format!("`buf()` needs a pointer, an array or a string, found `{t}`"),
                        args[0].span,
                        format!("this has type `{t}`"),
                    ));
                }
                match args.get(1) {
                    Some(len) => {
                        self.int_arg(n, len);
                        if matches!(literal_value(len), Some(v) if !(0..=i128::from(BUF_MAX)).contains(&v))
                        {
                            self.error(
                                Diagnostic::error(
                                    format!("`buf()` reads at most {BUF_MAX} bytes"),
                                    len.span,
                                    format!("expected a length from 0 to {BUF_MAX}"),
                                )
                                .with_help("read a longer buffer in pieces"),
                            );
                        }
                    }
                    None if !sized => self.error(
                        Diagnostic::error(
                            "`buf()` of a pointer needs a length",
                            e.span,
                            "the length is missing",
                        )
                        .with_help("write `buf(ptr, len)`"),
                    ),
                    None => {
                        let bytes = match &t {
                            Type::Array(elem, n) => match **elem {
                                Type::Int { bits, .. } => u64::from(bits / 8) * n,
                                Type::Ptr(_) => 8 * n,
                                _ => *n,
                            },
                            _ => 0,
                        };
                        if bytes > BUF_MAX {
                            self.error(
                                Diagnostic::error(
                                    format!(
                                        "`buf()` reads at most {BUF_MAX} bytes, and this array \
                                         has {bytes}"
                                    ),
                                    args[0].span,
                                    format!("`{t}`"),
                                )
                                .with_help(format!(
                                    "give the length: `buf(x, {BUF_MAX})` reads the first {BUF_MAX} bytes"
                                )),
                            );
                        }
                    }
                }
                Type::Buf
            }
            "uptr" | "kptr" => {
                // The same value, read from user (`uptr`) or kernel memory when followed.
                if !self.arity(e, n, args, 1, 1) {
                    return Type::Unknown;
                }
                let t = self.expr(&args[0]);
                if !t.is_integer_like() && !matches!(t, Type::Ptr(_)) {
                    self.error(Diagnostic::error(
                        format!("`{n}()` needs a pointer or an integer address, found `{t}`"),
                        args[0].span,
                        format!("this has type `{t}`"),
                    ));
                    return Type::Unknown;
                }
                t
            }
            "strlen" => {
                if self.arity(e, n, args, 1, 1) {
                    self.str_arg(n, &args[0]);
                }
                Type::UINT64
            }
            "strncmp" => {
                if self.arity(e, n, args, 3, 3) {
                    self.str_arg(n, &args[0]);
                    self.str_arg(n, &args[1]);
                    self.expr(&args[2]);
                    if !matches!(literal_value(&args[2]), Some(v) if v >= 0) {
                        self.error(Diagnostic::error(
                            "the length of `strncmp()` must be an integer literal",
                            args[2].span,
                            "expected a constant such as `4`",
                        ));
                    }
                }
                Type::INT64
            }
            "strcontains" => {
                if self.arity(e, n, args, 2, 2) {
                    self.str_arg(n, &args[0]);
                    self.str_arg(n, &args[1]);
                }
                Type::Bool
            }
            "join" => {
                if self.arity(e, n, args, 1, 2) {
                    let t = self.expr(&args[0]);
                    if !matches!(
                        t,
                        Type::Int { .. } | Type::Ptr(_) | Type::Array(..) | Type::Unknown
                    ) {
                        self.error(Diagnostic::error(
                            format!("`join()` needs an array of strings, found `{t}`"),
                            args[0].span,
                            format!("this has type `{t}`"),
                        ));
                    }
                    if let Some(a) = args.get(1) {
                        self.literal_string_arg(n, a);
                    }
                }
                Type::Void
            }
            "signal" | "signal_thread" => {
                if !self.unsafe_ok(name) {
                    return Type::Void;
                }
                if self.arity(e, n, args, 1, 1) {
                    let t = self.expr(&args[0]);
                    if !(t.is_integer_like() || matches!(args[0].kind, ExprKind::Str(_))) {
                        self.error(Diagnostic::error(
                            format!("`{n}()` needs a signal name or number, found `{t}`"),
                            args[0].span,
                            format!("this has type `{t}`"),
                        ));
                    }
                }
                Type::Void
            }
            "kstack" | "ustack" => {
                if self.arity(e, n, args, 0, 2) {
                    let mut rest = args;
                    let mode = match args.first().map(|a| &a.kind) {
                        Some(ExprKind::Ident(m)) => Some(m.as_str()),
                        _ => None,
                    };
                    if n == "kstack"
                        && (mode == Some("build_id") || mode.is_none() && self.build_id_mode)
                    {
                        let d = Diagnostic::error(
                            "'build_id' stack mode can only be used for ustack",
                            e.span,
                            "a kernel stack",
                        );
                        self.error(if mode.is_none() {
                            d.with_help(
                                "`config = { stack_mode = build_id }` sets the mode of this call",
                            )
                        } else {
                            d
                        });
                    }
                    if let Some(first) = args.first()
                        && let ExprKind::Ident(mode) = &first.kind
                    {
                        if !STACK_MODES.contains(&mode.as_str()) {
                            let mut d = Diagnostic::error(
                                format!("unknown stack mode `{mode}`"),
                                first.span,
                                "not a stack mode",
                            );
                            d = match nearest(mode, STACK_MODES.iter().copied()) {
                                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                None => d.with_help("stack modes: bpftrace, perf, raw, build_id"),
                            };
                            self.error(d);
                        }
                        rest = &args[1..];
                    }
                    for a in rest {
                        self.expr(a);
                        if !matches!(literal_value(a), Some(v) if (1..=1024).contains(&v)) {
                            self.error(Diagnostic::error(
                                format!("the stack limit of `{n}()` must be an integer literal"),
                                a.span,
                                "expected a constant from 1 to 1024",
                            ));
                        }
                    }
                }
                if n == "kstack" {
                    Type::Kstack
                } else {
                    Type::Ustack
                }
            }
            _ => self.other_call(e, name, args),
        }
    }

    fn other_call(&mut self, e: &Expr, name: &Ident, args: &[Expr]) -> Type {
        let n = name.name.as_str();
        if n == "comm" && args.len() == 1 {
            return self.comm_of_pid(e, &args[0]);
        }
        if let Some(b) = builtins::builtin(n) {
            let words: &[&str] = match n {
                "pid" | "tid" => &["curr_ns", "init"],
                "nsecs" => &["monotonic", "boot", "tai", "sw_tai"],
                _ => &[],
            };
            let ok = match args {
                [] => true,
                [a] => matches!(&a.kind, ExprKind::Ident(w) if words.contains(&w.as_str())),
                _ => false,
            };
            if !ok {
                let help = if words.is_empty() {
                    format!("`{n}` takes no arguments")
                } else {
                    format!("`{n}()` takes one of: {}", words.join(", "))
                };
                self.error(
                    Diagnostic::error(
                        format!("invalid arguments to `{n}()`"),
                        e.span,
                        "unexpected arguments",
                    )
                    .with_help(help),
                );
                return Type::Unknown;
            }
            let t = self.ident(n, name.span);
            return if b.name == "argN" { Type::UINT64 } else { t };
        }
        for a in args {
            self.expr_with(a, false);
        }
        if NOT_YET.contains(&n) {
            self.error(Diagnostic::error(
                format!("`{n}()` is not supported by kscope yet"),
                name.span,
                "not supported yet",
            ));
            return Type::Unknown;
        }
        let mut d = Diagnostic::error(
            format!("unknown function `{n}`"),
            name.span,
            "not a function",
        );
        let known = FUNCTIONS.iter().chain(NOT_YET).chain(super::META_FUNCTIONS);
        if let Some(s) = nearest(n, known.copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.error(d);
        Type::Unknown
    }

    /// The variable named by `percpu_kaddr()`'s first argument: a string literal naming
    /// a variable the kernel's BTF describes.
    fn percpu_variable(&mut self, arg: &Expr) {
        let ExprKind::Str(name) = &arg.kind else {
            self.error(Diagnostic::error(
                "`percpu_kaddr()` needs the variable's name as a string literal",
                arg.span,
                "not a string literal",
            ));
            return;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        match self.tp.kernel_variable(&name) {
            Lookup::Found(()) => {}
            Lookup::Missing { candidates } => {
                let mut d = Diagnostic::error(
                    format!("the kernel has no per-CPU variable `{name}`"),
                    arg.span,
                    "not in the kernel's BTF",
                );
                if let Some(c) = nearest(&name, candidates.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                self.error(d);
            }
            Lookup::Unknown => self.error(
                Diagnostic::error(
                    "`percpu_kaddr()` needs the kernel's BTF, which is not available",
                    arg.span,
                    "cannot look the variable up",
                )
                .with_help("`kscope doctor` says why BTF is missing"),
            ),
        }
    }

    fn unsafe_ok(&mut self, name: &Ident) -> bool {
        if self.opts.allow_unsafe {
            return true;
        }
        self.error(
            Diagnostic::error(
                format!("`{}()` is unsafe", name.name),
                name.span,
                "needs --unsafe",
            )
            .with_help("run with `--unsafe` to allow it"),
        );
        false
    }

    fn int_arg(&mut self, f: &str, a: &Expr) {
        let t = self.expr(a);
        if !t.is_integer_like() && !matches!(t, Type::Ptr(_)) {
            self.error(Diagnostic::error(
                format!("`{f}()` needs an integer here, found `{t}`"),
                a.span,
                format!("this has type `{t}`"),
            ));
        }
    }

    fn str_arg(&mut self, f: &str, a: &Expr) {
        let t = self.expr(a);
        if !matches!(
            t,
            Type::Str | Type::Ptr(_) | Type::Array(..) | Type::Unknown
        ) {
            self.error(Diagnostic::error(
                format!("`{f}()` needs a string, found `{t}`"),
                a.span,
                format!("this has type `{t}`"),
            ));
        }
    }

    /// `comm(pid)`: the name of the process `pid`, found with the kernel's
    /// `bpf_task_from_pid` kfunc, which the kernel lets only tracing programs call
    /// (upstream's `kfunc_allowed` test): iter and fentry/fexit probes.
    fn comm_of_pid(&mut self, e: &Expr, pid: &Expr) -> Type {
        let t = self.expr(pid);
        if !t.is_integer_like() && t != Type::Unknown {
            self.error(Diagnostic::error(
                format!("`comm()` needs an integer pid, found `{t}`"),
                pid.span,
                format!("this has type `{t}`"),
            ));
        }
        if let Some(ap) = self.attach.iter().find(|a| {
            !matches!(
                a.provider,
                Provider::Iter | Provider::Fentry | Provider::Fexit
            )
        }) {
            self.error(
                Diagnostic::error(
                    format!(
                        "`comm(PID)` is not available in {} probes",
                        ap.provider.name()
                    ),
                    e.span,
                    "it calls the kernel's bpf_task_from_pid",
                )
                .with_help(
                    "the kernel lets only tracing programs call bpf_task_from_pid: use it in \
                     iter or fentry/fexit probes, or `comm` for the current task",
                ),
            );
        }
        Type::Str
    }

    /// `uaddr("sym")`: the address of a symbol of the user probe's binary, a pointer to
    /// an unsigned integer of the symbol's size (1, 2, 4 or 8 bytes; else `uint64 *`), as
    /// upstream types it (ELF has no types).
    fn uaddr(&mut self, e: &Expr, args: &[Expr]) -> Type {
        let fallback = Type::Ptr(Box::new(Type::UINT64));
        if !self.arity(e, "uaddr", args, 1, 1) {
            return fallback;
        }
        let Some(name) = self.literal_string_arg("uaddr", &args[0]) else {
            return fallback;
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        if let Some(ap) = self.attach.iter().find(|a| {
            !matches!(
                a.provider,
                Provider::Uprobe | Provider::Uretprobe | Provider::Usdt
            )
        }) {
            self.error(
                Diagnostic::error(
                    format!(
                        "`uaddr()` is not available in {} probes",
                        ap.provider.name()
                    ),
                    e.span,
                    "it names a symbol of a user probe's binary",
                )
                .with_help("use it in uprobe, uretprobe or usdt probes"),
            );
            return fallback;
        }
        let mut size = None;
        for ap in self.attach.clone() {
            match self.tp.user_symbol(&ap, &name) {
                Lookup::Found(s) => {
                    size.get_or_insert(s);
                }
                Lookup::Missing { .. } => {
                    let binary = ap.parts.first().cloned().unwrap_or_default();
                    self.error(Diagnostic::error(
                        format!("`{binary}` has no symbol `{name}`"),
                        args[0].span,
                        "not in the binary's symbol tables",
                    ));
                    return fallback;
                }
                Lookup::Unknown => {}
            }
        }
        let bits = match size {
            Some(1) => 8,
            Some(2) => 16,
            Some(4) => 32,
            _ => 64,
        };
        Type::Ptr(Box::new(Type::int(bits, false)))
    }

    fn literal_string_arg(&mut self, f: &str, a: &Expr) -> Option<Vec<u8>> {
        self.expr(a);
        if let ExprKind::Str(s) = &a.kind {
            return Some(s.clone());
        }
        self.error(Diagnostic::error(
            format!("`{f}()` needs a string literal here"),
            a.span,
            "expected a constant string \"...\"",
        ));
        None
    }

    /// A `@map` argument (no keys) that must exist; returns its name and info.
    fn map_arg(&mut self, f: &str, a: &Expr) -> Option<(String, MapInfo)> {
        match &a.kind {
            ExprKind::Map { name, keys } if keys.is_empty() => {
                let info = self.map_info(name, a.span)?;
                self.types[a.id.0 as usize] = info.value.clone();
                Some((name.clone(), info))
            }
            _ => {
                self.expr(a);
                self.error(Diagnostic::error(
                    format!("`{f}()` needs a map"),
                    a.span,
                    "expected `@name`",
                ));
                None
            }
        }
    }

    fn format_call(&mut self, e: &Expr, name: &Ident, args: &[Expr]) {
        let n = name.name.as_str();
        if !self.arity(e, n, args, 1, usize::MAX) {
            return;
        }
        let Some(fmt) = self.literal_string_arg(n, &args[0]) else {
            for a in &args[1..] {
                self.expr(a);
            }
            return;
        };
        let values: Vec<Type> = args[1..].iter().map(|a| self.expr(a)).collect();
        let convs = match conversions(&fmt) {
            Ok(c) => c,
            Err(msg) => {
                self.error(Diagnostic::error(
                    format!("invalid format string: {msg}"),
                    args[0].span,
                    "in this format",
                ));
                return;
            }
        };
        if convs.len() != values.len() {
            self.error(
                Diagnostic::error(
                    format!(
                        "`{n}()`: the format has {} but {} given",
                        plural(convs.len(), "conversion"),
                        plural(values.len(), "argument")
                    ),
                    args[0].span,
                    format!(
                        "expects {} after the format",
                        plural(convs.len(), "argument")
                    ),
                )
                .with_help("give one argument per `%` conversion (write `%%` for a percent sign)"),
            );
            return;
        }
        for ((c, t), a) in convs.iter().zip(&values).zip(&args[1..]) {
            let ok = match c.kind {
                ArgKind::Integer => t.is_integer_like() || matches!(t, Type::Ptr(_)),
                ArgKind::Pointer => t.is_integer_like() || matches!(t, Type::Ptr(_)),
                ArgKind::Buffer => {
                    matches!(t, Type::Str | Type::Buf | Type::Array(..) | Type::Unknown)
                }
                ArgKind::Text => !matches!(t, Type::Void | Type::Agg(..) | Type::Args),
            };
            if !ok {
                let want = match c.kind {
                    ArgKind::Integer => "an integer",
                    ArgKind::Pointer => "a pointer",
                    ArgKind::Buffer => "a buffer",
                    ArgKind::Text => "a printable value",
                };
                let mut d = Diagnostic::error(
                    format!("`{}` expects {want}, found `{t}`", c.text),
                    a.span,
                    format!("this has type `{t}`"),
                );
                if *t == Type::Str {
                    d = d.with_help("use `%s` for strings");
                }
                self.error(d);
            }
        }
    }

    fn aggregation(&mut self, e: &Expr, name: &Ident, args: &[Expr], agg_ok: bool) -> Type {
        let n = name.name.as_str();
        if !agg_ok {
            self.error(
                Diagnostic::error(
                    format!("`{n}()` can only be assigned to a map"),
                    e.span,
                    "an aggregation used as a value",
                )
                .with_help(format!(
                    "write `@name = {n}(...)` or `@name[key] = {n}(...)`"
                )),
            );
            for a in args {
                self.expr(a);
            }
            return Type::Unknown;
        }
        let (min, max) = match n {
            "count" => (0, 0),
            "hist" => (1, 2),
            "lhist" => (4, 4),
            "tseries" => (3, 4),
            _ => (1, 1),
        };
        if !self.arity(e, n, args, min, max) {
            for a in args {
                self.expr(a);
            }
            return Type::Unknown;
        }
        let mut signed = false;
        if let Some(v) = args.first() {
            let t = self.expr(v);
            if !t.is_integer_like() {
                self.error(Diagnostic::error(
                    format!("`{n}()` needs an integer, found `{t}`"),
                    v.span,
                    format!("this has type `{t}`"),
                ));
                return Type::Unknown;
            }
            signed = t.is_signed() && !is_positive_literal(v);
        }
        let kind = match n {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "avg" => AggKind::Avg,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "stats" => AggKind::Stats,
            "tseries" => match self.tseries_kind(e, args) {
                Some(k) => k,
                None => return Type::Unknown,
            },
            "hist" => {
                let mut bits = 0;
                if let Some(b) = args.get(1) {
                    self.expr(b);
                    match literal_value(b) {
                        Some(v @ 0..=5) => bits = v as u8,
                        _ => self.error(Diagnostic::error(
                            "the second argument of `hist()` must be 0 to 5",
                            b.span,
                            "expected an integer literal from 0 to 5",
                        )),
                    }
                }
                AggKind::Hist { bits }
            }
            _ => {
                let mut vals = [0i64; 3];
                for (i, a) in args[1..].iter().enumerate() {
                    self.expr(a);
                    match literal_value(a) {
                        Some(v) if v >= i64::MIN as i128 && v <= i64::MAX as i128 => {
                            vals[i] = v as i64
                        }
                        _ => {
                            self.error(Diagnostic::error(
                                "the bounds and step of `lhist()` must be integer literals",
                                a.span,
                                "expected a constant",
                            ));
                            return Type::Unknown;
                        }
                    }
                }
                let [lo, hi, step] = vals;
                if step <= 0 {
                    self.error(Diagnostic::error(
                        "the step of `lhist()` must be above 0",
                        args[3].span,
                        "step",
                    ));
                } else if hi <= lo {
                    self.error(Diagnostic::error(
                        "the max of `lhist()` must be above its min",
                        args[1].span.to(args[2].span),
                        "min and max",
                    ));
                } else if (hi as i128 - lo as i128) / step as i128 > 1000 {
                    self.error(Diagnostic::error(
                        "`lhist()` would have more than 1000 buckets",
                        args[1].span.to(args[3].span),
                        "min, max and step",
                    ));
                }
                AggKind::Lhist {
                    min: lo,
                    max: hi,
                    step,
                }
            }
        };
        Type::Agg(kind, signed)
    }
}

/// A map key part's stored type: integers (also inside tuples) widen to 64 bits, so
/// that `@m[(int8)1, ("a", (uint16)2)]` and `@m[1, ("a", 2)]` name the same key.
fn key_part(t: Type) -> Type {
    match t {
        Type::Int { signed, .. } => Type::int(64, signed),
        Type::Enum { name, id, .. } => Type::Enum { name, bits: 64, id },
        Type::Tuple(ts) => Type::Tuple(ts.into_iter().map(key_part).collect()),
        Type::Record(fs) => Type::Record(fs.into_iter().map(|(n, t)| (n, key_part(t))).collect()),
        t => t,
    }
}
