//! The abstract syntax tree. Every node carries the [`Span`] of its source text; every
//! expression also carries an [`ExprId`] that later passes (the type checker, codegen) use
//! to attach facts to it without changing the tree.

use crate::span::Span;

/// A whole script.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The `#define`s of the preamble (already substituted into the expressions).
    pub defines: Vec<crate::preproc::RawDefine>,
    /// The `config = { ... }` block, if any.
    pub config: Option<Config>,
    /// Top-level map declarations (`let @m = lruhash(100);`).
    pub map_decls: Vec<MapDecl>,
    /// The action blocks, in source order.
    pub probes: Vec<Probe>,
    /// The C structs and unions the script defines (`struct Foo { int n; }`).
    pub c_types: crate::cdefs::CTypes,
    /// Number of expressions (every [`ExprId`] is below this).
    pub expr_count: u32,
    /// The whole script.
    pub span: Span,
}

impl Program {
    /// The value of the config variable `key` (lower case, without the `BPFTRACE_`
    /// prefix that a script may write), the last one the config block sets.
    pub fn config_value(&self, key: &str) -> Option<&ConfigValue> {
        self.config.as_ref()?.value(key)
    }
}

/// `let @name = KIND(max_entries);` at the top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDecl {
    /// The map name without `@`.
    pub name: String,
    /// `hash`, `lruhash`, `percpuhash` or `percpulruhash`.
    pub kind: Ident,
    /// The maximum number of entries.
    pub max_entries: u64,
    /// The whole declaration.
    pub span: Span,
}

/// The map kinds a declaration may name.
pub const MAP_KINDS: &[&str] = &["hash", "lruhash", "percpuhash", "percpulruhash"];

/// `config = { key = value; ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The settings in source order.
    pub entries: Vec<ConfigEntry>,
    /// The whole block.
    pub span: Span,
}

impl Config {
    /// The value of the config variable `key` (lower case, without the `BPFTRACE_`
    /// prefix that a script may write), the last one the block sets.
    pub fn value(&self, key: &str) -> Option<&ConfigValue> {
        self.entries
            .iter()
            .rev()
            .find(|e| {
                let raw = e.key.name.as_str();
                raw.strip_prefix("BPFTRACE_")
                    .unwrap_or(raw)
                    .eq_ignore_ascii_case(key)
            })
            .map(|e| &e.value)
    }
}

/// One `key = value` of the config block.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// The variable name as written (`max_strlen`, `BPFTRACE_MAX_STRLEN`).
    pub key: Ident,
    /// An integer, a string or a bare word (`perf`, `true`).
    pub value: ConfigValue,
    /// The whole entry.
    pub span: Span,
}

/// The value of a config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// An integer literal.
    Int(u64),
    /// A string literal.
    Str(String),
    /// A bare word such as `perf` or `true`.
    Word(String),
}

impl ConfigValue {
    /// The text of a string or bare-word value (`"warn"` and `warn` alike).
    pub fn text(&self) -> Option<&str> {
        match self {
            ConfigValue::Str(s) | ConfigValue::Word(s) => Some(s),
            ConfigValue::Int(_) => None,
        }
    }
}

/// A name with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// One `name=value` of a record literal.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordField {
    /// The field's name.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

/// One action block: attach points, an optional predicate and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// One or more attach points (comma separated in the source).
    pub attach_points: Vec<AttachPoint>,
    /// `/expr/`.
    pub predicate: Option<Expr>,
    /// `{ ... }`.
    pub body: Block,
    /// From the first attach point to the closing brace.
    pub span: Span,
}

/// Which provider an attach point uses (short aliases are resolved to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `begin` / `BEGIN`.
    Begin,
    /// `end` / `END`.
    End,
    /// `tracepoint:` / `t:`.
    Tracepoint,
    /// `rawtracepoint:` / `rt:`.
    Rawtracepoint,
    /// `kprobe:` / `k:`.
    Kprobe,
    /// `kretprobe:` / `kr:`.
    Kretprobe,
    /// `uprobe:` / `u:`.
    Uprobe,
    /// `uretprobe:` / `ur:`.
    Uretprobe,
    /// `fentry:` / `f:` (also `kfunc:`).
    Fentry,
    /// `fexit:` / `fr:` (also `kretfunc:`).
    Fexit,
    /// `interval:` / `i:`.
    Interval,
    /// `profile:` / `p:`.
    Profile,
    /// `software:` / `s:`.
    Software,
    /// `hardware:` / `h:`.
    Hardware,
    /// `watchpoint:ADDR:LEN:MODE` / `w:`: a hardware breakpoint on memory.
    Watchpoint,
    /// `usdt:` / `U:`.
    Usdt,
    /// `iter:` / `it:`: a BPF iterator over kernel objects (`iter:task`, `iter:task_file`,
    /// `iter:task_vma`), run once; `ctx` is the iterator's typed context.
    Iter,
    /// `self:signal:SIGUSR1`: runs when kscope itself receives the signal.
    SelfSignal,
    /// `test:NAME`: run once under `--test`; passes when it returns 0, calls no
    /// `errorf()` and no `exit(code)` with a non-zero code.
    Test,
    /// `bench:NAME`: run repeatedly under `--bench`, its average run time printed.
    Bench,
}

impl Provider {
    /// The canonical (long, lower-case) name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Begin => "begin",
            Provider::End => "end",
            Provider::Tracepoint => "tracepoint",
            Provider::Rawtracepoint => "rawtracepoint",
            Provider::Kprobe => "kprobe",
            Provider::Kretprobe => "kretprobe",
            Provider::Uprobe => "uprobe",
            Provider::Uretprobe => "uretprobe",
            Provider::Fentry => "fentry",
            Provider::Fexit => "fexit",
            Provider::Interval => "interval",
            Provider::Profile => "profile",
            Provider::Software => "software",
            Provider::Hardware => "hardware",
            Provider::Watchpoint => "watchpoint",
            Provider::Usdt => "usdt",
            Provider::Iter => "iter",
            Provider::SelfSignal => "self",
            Provider::Test => "test",
            Provider::Bench => "bench",
        }
    }

    /// Every provider name and alias the parser accepts, with its provider.
    pub const ALIASES: &'static [(&'static str, Provider)] = &[
        ("begin", Provider::Begin),
        ("BEGIN", Provider::Begin),
        ("end", Provider::End),
        ("END", Provider::End),
        ("tracepoint", Provider::Tracepoint),
        ("t", Provider::Tracepoint),
        ("rawtracepoint", Provider::Rawtracepoint),
        ("rt", Provider::Rawtracepoint),
        ("kprobe", Provider::Kprobe),
        ("k", Provider::Kprobe),
        ("kretprobe", Provider::Kretprobe),
        ("kr", Provider::Kretprobe),
        ("uprobe", Provider::Uprobe),
        ("u", Provider::Uprobe),
        ("uretprobe", Provider::Uretprobe),
        ("ur", Provider::Uretprobe),
        ("fentry", Provider::Fentry),
        ("f", Provider::Fentry),
        ("kfunc", Provider::Fentry),
        ("fexit", Provider::Fexit),
        ("fr", Provider::Fexit),
        ("kretfunc", Provider::Fexit),
        ("interval", Provider::Interval),
        ("i", Provider::Interval),
        ("profile", Provider::Profile),
        ("p", Provider::Profile),
        ("software", Provider::Software),
        ("s", Provider::Software),
        ("hardware", Provider::Hardware),
        ("h", Provider::Hardware),
        ("watchpoint", Provider::Watchpoint),
        ("w", Provider::Watchpoint),
        ("iter", Provider::Iter),
        ("it", Provider::Iter),
        ("usdt", Provider::Usdt),
        ("U", Provider::Usdt),
        ("self", Provider::SelfSignal),
        ("test", Provider::Test),
        ("bench", Provider::Bench),
    ];

    /// The provider for a name or alias.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALIASES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

/// One attach point, split into its provider and the colon-separated parts after it.
///
/// The parts keep wildcards (`sys_enter_*`) as written; resolving them against the kernel
/// is a later pass. Layouts per provider:
/// - `tracepoint`: `[category, event]`;
/// - `rawtracepoint`: `[event]` or `[module, event]`;
/// - `kprobe`/`kretprobe`/`fentry`/`fexit`: `[function]` or `[module, function]`
///   (a `+offset` stays in the function part);
/// - `uprobe`/`uretprobe`/`usdt`: `[path, function]` (the path may be quoted);
/// - `interval`/`profile`: `[unit, value]` (a bare `interval:1s` gives `["", "1s"]`);
/// - `software`/`hardware`: `[event]` or `[event, count]`;
/// - `self`: `[signal, SIGNAL]`;
/// - `test`/`bench`: `[NAME]`;
/// - `begin`/`end`: `[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachPoint {
    /// The provider.
    pub provider: Provider,
    /// The provider as written (`t`, `tracepoint`, `BEGIN`).
    pub provider_text: String,
    /// The parts after the provider.
    pub parts: Vec<String>,
    /// The raw text of the whole attach point.
    pub raw: String,
    /// Where it is.
    pub span: Span,
}

impl AttachPoint {
    /// The canonical text: long provider name and the parts, colon separated.
    pub fn canonical(&self) -> String {
        let mut s = self.provider.name().to_string();
        for p in &self.parts {
            s.push(':');
            s.push_str(p);
        }
        s
    }

    /// Whether any part holds a wildcard (`*`, `?` or a `[...]` class).
    pub fn has_wildcard(&self) -> bool {
        self.parts.iter().any(|p| p.contains(['*', '?', '[']))
    }
}

/// `{ statements }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The statements.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What it is.
    pub kind: StmtKind,
    /// Where.
    pub span: Span,
}

/// The statement forms.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect (`printf(...)`, `$x++`, `delete(@m[k])`).
    Expr(Expr),
    /// `let $x[: TYPE] [= value]` (type and value optional).
    Let {
        /// The variable.
        var: Ident,
        /// The declared type: every value stored in the variable converts to it.
        ty: Option<TypeName>,
        /// The initial value.
        value: Option<Expr>,
    },
    /// `$x = v` or `$x op= v`.
    AssignVar {
        /// The variable (with its `$`).
        var: Ident,
        /// `None` for `=`, the operator for `+=` and friends.
        op: Option<BinOp>,
        /// The right-hand side.
        value: Expr,
    },
    /// `@m[keys] = v` or `@m[keys] op= v`.
    AssignMap {
        /// The map expression (an [`ExprKind::Map`]).
        map: Expr,
        /// `None` for `=`, the operator for `+=` and friends.
        op: Option<BinOp>,
        /// The right-hand side.
        value: Expr,
    },
    /// `if (cond) { } else ...`.
    If {
        /// The condition.
        cond: Expr,
        /// The taken branch.
        then: Block,
        /// `else { }`, or `else if` as a block holding one `If` statement.
        otherwise: Option<Block>,
    },
    /// `unroll (n) { }`.
    Unroll {
        /// The count (an integer literal or positional parameter).
        count: Expr,
        /// The body.
        body: Block,
    },
    /// `for ($i : start..end) { }`.
    ForRange {
        /// The loop variable.
        var: Ident,
        /// The first value.
        start: Expr,
        /// One past the last value.
        end: Expr,
        /// The body.
        body: Block,
    },
    /// `for ($kv : @map) { }`.
    ForMap {
        /// The loop variable.
        var: Ident,
        /// The map (an [`ExprKind::Map`] without keys).
        map: Expr,
        /// The body.
        body: Block,
    },
    /// `while (cond) { }` (deprecated upstream, still accepted).
    While {
        /// The condition.
        cond: Expr,
        /// The body.
        body: Block,
    },
    /// `return [value]`.
    Return(Option<Expr>),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
}

/// Identifies one expression node within its [`Program`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

/// An expression with its span and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
    /// Its id (unique within the program).
    pub id: ExprId,
}

/// The expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal (its value; a minus sign is a [`UnOp::Neg`] around it).
    Int(u64),
    /// A string literal (escapes decoded).
    Str(Vec<u8>),
    /// `true` / `false`.
    Bool(bool),
    /// A bare identifier: a builtin (`pid`, `args`, `arg0`) or a stack mode word.
    Ident(String),
    /// `$name` (the name without `$`).
    Var(String),
    /// `$N`.
    Positional(u32),
    /// `$#`.
    ParamCount,
    /// `@name[keys]`; the name is without `@` (empty for `@`), keys may be empty.
    Map {
        /// The name without `@`.
        name: String,
        /// The key expressions (`@m[a, b]` has two).
        keys: Vec<Expr>,
    },
    /// `name(args)`.
    Call {
        /// The function.
        name: Ident,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A prefix operator.
    Unary {
        /// Which.
        op: UnOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `++x`, `x++`, `--x`, `x--`.
    IncDec {
        /// `++` (true) or `--`.
        increment: bool,
        /// Prefix (true) or postfix.
        prefix: bool,
        /// The variable or map.
        target: Box<Expr>,
    },
    /// A binary operator.
    Binary {
        /// Which.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `cond ? a : b`.
    Ternary {
        /// Condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Box<Expr>,
    },
    /// `(type)expr`.
    Cast {
        /// The target type.
        ty: TypeName,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `expr.field` or `expr->field`.
    Field {
        /// The struct or pointer.
        expr: Box<Expr>,
        /// The member.
        field: Ident,
        /// Written with `->`.
        arrow: bool,
    },
    /// `expr.N` on a tuple.
    TupleIndex {
        /// The tuple.
        expr: Box<Expr>,
        /// The element.
        index: u32,
    },
    /// `expr[index]` on a pointer or array.
    Index {
        /// The array or pointer.
        expr: Box<Expr>,
        /// The subscript.
        index: Box<Expr>,
    },
    /// `(a, b, ...)`.
    Tuple(Vec<Expr>),
    /// `(name=a, other=b, ...)`: a record (a tuple whose elements have names), fields
    /// in the order written (which is also the order they are evaluated in).
    Record(Vec<RecordField>),
    /// A type written where `sizeof`/`offsetof` take one (`sizeof(struct task_struct)`);
    /// the checker replaces those calls by their value.
    Type(TypeName),
    /// `{ stmts; value }`: the statements run in their own scope, then the value (the
    /// last expression, written without `;`) is the block's; an expanded macro call.
    Block {
        /// The statements before the value.
        block: Block,
        /// The value, if the block has one.
        value: Option<Box<Expr>>,
    },
}

/// A type as written in a cast: `uint8`, `struct task_struct *`, `int8[4]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    /// The base name (`uint8`, `struct task_struct`, `string`).
    pub base: String,
    /// Number of `*`.
    pub pointer: u8,
    /// `[N]` array lengths as written, each wrapping the type before it as upstream
    /// reads them (`int32[3][2]`: two `int32[3]`s, the type C writes `int x[2][3]`);
    /// `None` for a `[]` left for a cast to find (only the last, the outermost).
    pub array: Vec<Option<u64>>,
    /// `typeof(EXPR)`: the base is this expression's static type (`base` is `typeof`).
    /// The expression only gives a type: it is never run.
    pub of: Option<Box<Expr>>,
    /// Where it is.
    pub span: Span,
}

impl TypeName {
    /// The type `base` with no pointer, array or `typeof`, at `span`.
    pub fn named(base: &str, span: Span) -> TypeName {
        TypeName {
            base: base.to_string(),
            pointer: 0,
            array: Vec::new(),
            of: None,
            span,
        }
    }
}

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.of.is_some() {
            f.write_str("typeof(...)")?;
        } else {
            f.write_str(&self.base)?;
        }
        if self.pointer > 0 {
            write!(f, " {}", "*".repeat(self.pointer as usize))?;
        }
        for n in &self.array {
            match n {
                Some(n) => write!(f, "[{n}]")?,
                None => f.write_str("[]")?,
            }
        }
        Ok(())
    }
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `!`
    Not,
    /// `~`
    BitNot,
    /// `-`
    Neg,
    /// `*` (dereference)
    Deref,
    /// `&` (address of)
    AddrOf,
}

impl UnOp {
    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        match self {
            UnOp::Not => "!",
            UnOp::BitNot => "~",
            UnOp::Neg => "-",
            UnOp::Deref => "*",
            UnOp::AddrOf => "&",
        }
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `||`
    LogOr,
    /// `&&`
    LogAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `&`
    BitAnd,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl BinOp {
    /// `a OP b` for a comparison operator (`==`, `!=`, `<`, `>`, `<=`, `>=`), for constant
    /// folding; `None` for the other operators.
    pub fn compare(self, a: i128, b: i128) -> Option<bool> {
        Some(match self {
            BinOp::Eq => a == b,
            BinOp::Ne => a != b,
            BinOp::Lt => a < b,
            BinOp::Gt => a > b,
            BinOp::Le => a <= b,
            BinOp::Ge => a >= b,
            _ => return None,
        })
    }

    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            LogOr => "||",
            LogAnd => "&&",
            BitOr => "|",
            BitXor => "^",
            BitAnd => "&",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Gt => ">",
            Le => "<=",
            Ge => ">=",
            Shl => "<<",
            Shr => ">>",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
        }
    }

    /// C precedence, higher binds tighter (1 = `||` … 10 = `*`).
    pub fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            LogOr => 1,
            LogAnd => 2,
            BitOr => 3,
            BitXor => 4,
            BitAnd => 5,
            Eq | Ne => 6,
            Lt | Gt | Le | Ge => 7,
            Shl | Shr => 8,
            Add | Sub => 9,
            Mul | Div | Mod => 10,
        }
    }

    /// Whether the result is a truth value (comparisons and logic).
    pub fn is_boolean(self) -> bool {
        use BinOp::*;
        matches!(self, LogOr | LogAnd | Eq | Ne | Lt | Gt | Le | Ge)
    }
}

/// A direct part of a statement or expression a pass visits.
pub(crate) enum Child<'a> {
    Expr(&'a mut Expr),
    Block(&'a mut Block),
    /// A variable a statement declares or assigns (`let $x`, `$x = `, `for ($x : …)`).
    Var(&'a mut Ident),
    /// A written type (a cast's, a `let` annotation's, `sizeof`'s); a `typeof(EXPR)`
    /// in it is visited next as a [`Child::Expr`].
    Type(&'a mut TypeName),
}

/// Visits `ty`, then the expression of its `typeof`.
fn type_child(
    ty: &mut TypeName,
    f: &mut dyn FnMut(Child<'_>) -> Result<(), crate::diag::Diagnostic>,
) -> Result<(), crate::diag::Diagnostic> {
    f(Child::Type(ty))?;
    match &mut ty.of {
        Some(e) => f(Child::Expr(e)),
        None => Ok(()),
    }
}

pub(crate) fn for_each_child(
    s: &mut Stmt,
    f: &mut dyn FnMut(Child<'_>) -> Result<(), crate::diag::Diagnostic>,
) -> Result<(), crate::diag::Diagnostic> {
    match &mut s.kind {
        StmtKind::Expr(e) => f(Child::Expr(e)),
        StmtKind::Let { var, ty, value } => {
            f(Child::Var(var))?;
            if let Some(t) = ty {
                type_child(t, f)?;
            }
            match value {
                Some(v) => f(Child::Expr(v)),
                None => Ok(()),
            }
        }
        StmtKind::AssignVar { var, value, .. } => {
            f(Child::Var(var))?;
            f(Child::Expr(value))
        }
        StmtKind::AssignMap { map, value, .. } => {
            f(Child::Expr(map))?;
            f(Child::Expr(value))
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            f(Child::Expr(cond))?;
            f(Child::Block(then))?;
            match otherwise {
                Some(o) => f(Child::Block(o)),
                None => Ok(()),
            }
        }
        StmtKind::Unroll { count, body } => {
            f(Child::Expr(count))?;
            f(Child::Block(body))
        }
        StmtKind::ForRange {
            var,
            start,
            end,
            body,
        } => {
            f(Child::Var(var))?;
            f(Child::Expr(start))?;
            f(Child::Expr(end))?;
            f(Child::Block(body))
        }
        StmtKind::ForMap { var, map, body } => {
            f(Child::Var(var))?;
            f(Child::Expr(map))?;
            f(Child::Block(body))
        }
        StmtKind::While { cond, body } => {
            f(Child::Expr(cond))?;
            f(Child::Block(body))
        }
        StmtKind::Return(Some(v)) => f(Child::Expr(v)),
        StmtKind::Return(None) | StmtKind::Break | StmtKind::Continue => Ok(()),
    }
}

pub(crate) fn for_each_expr_child(
    e: &mut Expr,
    f: &mut dyn FnMut(Child<'_>) -> Result<(), crate::diag::Diagnostic>,
) -> Result<(), crate::diag::Diagnostic> {
    match &mut e.kind {
        ExprKind::Map { keys: items, .. }
        | ExprKind::Call { args: items, .. }
        | ExprKind::Tuple(items) => items.iter_mut().try_for_each(|i| f(Child::Expr(i))),
        ExprKind::Record(fields) => fields
            .iter_mut()
            .try_for_each(|r| f(Child::Expr(&mut r.value))),
        ExprKind::Cast { ty, expr } => {
            type_child(ty, f)?;
            f(Child::Expr(expr))
        }
        ExprKind::Type(ty) => type_child(ty, f),
        ExprKind::Unary { expr, .. }
        | ExprKind::Field { expr, .. }
        | ExprKind::TupleIndex { expr, .. } => f(Child::Expr(expr)),
        ExprKind::IncDec { target, .. } => f(Child::Expr(target)),
        ExprKind::Binary { lhs, rhs, .. } => {
            f(Child::Expr(lhs))?;
            f(Child::Expr(rhs))
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            f(Child::Expr(cond))?;
            f(Child::Expr(then))?;
            f(Child::Expr(otherwise))
        }
        ExprKind::Index { expr, index } => {
            f(Child::Expr(expr))?;
            f(Child::Expr(index))
        }
        ExprKind::Block { block, value } => {
            f(Child::Block(block))?;
            match value {
                Some(v) => f(Child::Expr(v)),
                None => Ok(()),
            }
        }
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::ParamCount => Ok(()),
    }
}

/// Calls `f` on every outermost expression of `b`'s statements, nested blocks included.
pub(crate) fn visit_block_mut(b: &mut Block, f: &mut dyn FnMut(&mut Expr)) {
    for s in &mut b.stmts {
        let _ = for_each_child(s, &mut |c| {
            match c {
                Child::Expr(e) => f(e),
                Child::Block(b) => visit_block_mut(b, f),
                Child::Var(_) | Child::Type(_) => {}
            }
            Ok(())
        });
    }
}

/// Calls `f` on every direct sub-expression of `e` (and the expressions of a block in it).
pub(crate) fn visit_expr_children_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    let _ = for_each_expr_child(e, &mut |c| {
        match c {
            Child::Expr(x) => f(x),
            Child::Block(b) => visit_block_mut(b, f),
            Child::Var(_) | Child::Type(_) => {}
        }
        Ok(())
    });
}
