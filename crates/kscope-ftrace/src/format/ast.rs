//! The AST of `print fmt`: a format string and C argument expressions.

use std::fmt;

/// A parsed `print fmt`: `"format", arg, arg, …`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrintFmt {
    /// The format string (adjacent literals joined, escapes decoded) and its pieces.
    pub format: FormatString,
    /// The argument expressions, in order.
    pub args: Vec<Expr>,
    /// The arguments as trace-cmd's libtraceevent builds their trees (operator chains
    /// grouped to the right, parenthesised right operands rotated), for
    /// [`Dialect::TraceCmd`](super::Dialect::TraceCmd).
    pub(crate) tracecmd_args: Vec<Expr>,
}

impl PrintFmt {
    /// Names used as values that are neither fields nor locals: enum constants and macros
    /// the kernel left unexpanded (for example `HRTIMER_MODE_ABS`), sorted, each once.
    /// Their values go in [`RenderContext::enums`](super::RenderContext::enums).
    pub fn identifiers(&self) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut locals = std::collections::BTreeSet::new();
        for arg in &self.args {
            arg.walk(&mut |e| match &e.kind {
                ExprKind::Ident(name) => {
                    names.insert(name.clone());
                }
                ExprKind::StmtExpr(stmts) => {
                    for s in stmts {
                        if let Stmt::Decl { name, .. } = s {
                            locals.insert(name.clone());
                        }
                    }
                }
                _ => {}
            });
        }
        names
            .into_iter()
            .filter(|n| !locals.contains(n) && n != "REC" && n != "NULL")
            .collect()
    }
}

impl Expr {
    /// Calls `f` on this expression and every expression inside it, parents first.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Int { .. }
            | ExprKind::Str(_)
            | ExprKind::Field(_)
            | ExprKind::Ident(_)
            | ExprKind::SizeofType(_) => {}
            ExprKind::Member { base, .. } => base.walk(f),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            ExprKind::Unary(_, e) | ExprKind::Cast(_, e) | ExprKind::SizeofExpr(e) => e.walk(f),
            ExprKind::Ternary(c, a, b) => {
                c.walk(f);
                a.walk(f);
                b.walk(f);
            }
            ExprKind::PrintFlags {
                value,
                delim,
                entries,
            } => {
                value.walk(f);
                delim.walk(f);
                for e in entries {
                    e.value.walk(f);
                }
            }
            ExprKind::PrintSymbolic { value, entries } => {
                value.walk(f);
                for e in entries {
                    e.value.walk(f);
                }
            }
            ExprKind::Call { args, .. } | ExprKind::Braced(args) => {
                for a in args {
                    a.walk(f);
                }
            }
            ExprKind::StmtExpr(stmts) => {
                for s in stmts {
                    match s {
                        Stmt::Decl { init: Some(e), .. } | Stmt::Expr(e) => e.walk(f),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A printf-style format string split into literal text and conversions.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatString {
    /// The decoded text (bytes, as a C string may hold any).
    pub text: Vec<u8>,
    /// The pieces in order.
    pub pieces: Vec<FormatPiece>,
}

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatPiece {
    /// Text copied as is (`%%` already turned into `%`).
    Literal(Vec<u8>),
    /// A conversion that consumes arguments.
    Conversion(ConvSpec),
    /// A conversion the kernel's `vsnprintf` does not know: output stops here.
    Invalid(String),
}

/// A conversion specification: `%[flags][width][.precision][length]conversion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    /// `-`: left-justify.
    pub left: bool,
    /// `+`: always print a sign.
    pub plus: bool,
    /// ` `: a space in place of a `+`.
    pub space: bool,
    /// `#`: `0x`/`0` prefix.
    pub alt: bool,
    /// `0`: pad with zeros.
    pub zero: bool,
    /// Minimum field width.
    pub width: Option<Count>,
    /// Precision.
    pub precision: Option<Count>,
    /// Length modifier.
    pub length: Length,
    /// The conversion.
    pub kind: ConvKind,
    /// The spec as written, e.g. `%08lx`.
    pub text: String,
}

/// A width or precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Written in the format.
    Fixed(u32),
    /// `*`: taken from the next argument.
    Arg,
}

/// A length modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// None: `int`.
    Default,
    /// `hh`: `char`.
    Char,
    /// `h`: `short`.
    Short,
    /// `l`: `long`.
    Long,
    /// `ll` or `L`: `long long`.
    LongLong,
    /// `z` or `Z`: `size_t`.
    Size,
    /// `t`: `ptrdiff_t`.
    PtrDiff,
    /// `j`: `intmax_t`.
    IntMax,
}

/// What a conversion prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvKind {
    /// `%d`, `%i`.
    Signed,
    /// `%u`.
    Unsigned,
    /// `%o`.
    Octal,
    /// `%x` (`upper` false) or `%X`.
    Hex {
        /// `%X`.
        upper: bool,
    },
    /// `%c`.
    Char,
    /// `%s`.
    Str,
    /// `%p` with its extension letters (`S`, `s`, `I4`, `I6c`, `ISpc`, `M`, `U`, …; empty
    /// for a plain `%p`).
    Pointer(String),
}

/// A C type in a cast or `sizeof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CType {
    /// The type as written, normalised to single spaces: `unsigned long`, `gfp_t`,
    /// `struct page *`.
    pub text: String,
    /// Levels of `*`.
    pub pointer: u8,
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `+x`.
    Plus,
    /// `!x`.
    Not,
    /// `~x`.
    BitNot,
    /// `*x`.
    Deref,
    /// `&x`.
    AddrOf,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `&`.
    BitAnd,
    /// `^`.
    BitXor,
    /// `|`.
    BitOr,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `,` (the comma operator).
    Comma,
}

impl BinaryOp {
    /// The operator as written in C.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitXor => "^",
            BinaryOp::BitOr => "|",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Comma => ",",
        }
    }
}

/// An expression with the byte offset of its first token in the `format` text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Byte offset in the parsed file text.
    pub offset: usize,
    /// Whether it was written in parentheses (trace-cmd's parser treats those
    /// differently; C does not).
    pub parenthesized: bool,
}

/// One entry of `__print_flags`/`__print_symbolic`: `{ value, "name" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagEntry {
    /// The mask or value expression.
    pub value: Expr,
    /// The value folded to a constant when it needs no record or enum table.
    pub constant: Option<u64>,
    /// The name printed; `None` for a `{ 0, NULL }` terminator.
    pub name: Option<Vec<u8>>,
}

/// A statement inside a GNU statement expression `({ …; value; })`.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `type name = init;`
    Decl {
        /// The declared type.
        ty: CType,
        /// The variable.
        name: String,
        /// The initialiser.
        init: Option<Expr>,
    },
    /// `expr;`
    Expr(Expr),
    /// A statement this parser keeps only as text (declarations of arrays, unions, calls
    /// with side effects, …); evaluating it fails.
    Opaque(String),
}

/// The kinds of expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal with its C type.
    Int {
        /// The value (two's complement in 64 bits).
        value: u64,
        /// Size in bytes of its type (4 or 8).
        size: u8,
        /// Whether its type is signed.
        signed: bool,
    },
    /// A string literal (adjacent literals joined, escapes decoded).
    Str(Vec<u8>),
    /// `REC->name`.
    Field(String),
    /// An identifier: an enum constant, a macro name left in the text, or a local
    /// variable of a statement expression.
    Ident(String),
    /// `base.name` or `base->name` on something other than `REC`.
    Member {
        /// The object.
        base: Box<Expr>,
        /// The member.
        name: String,
        /// `->` rather than `.`.
        arrow: bool,
    },
    /// `base[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// A unary operator.
    Unary(UnaryOp, Box<Expr>),
    /// A binary operator.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `cond ? then : else`.
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `(type) expr`.
    Cast(CType, Box<Expr>),
    /// `sizeof(type)`.
    SizeofType(CType),
    /// `sizeof expr`.
    SizeofExpr(Box<Expr>),
    /// `__print_flags(value, delim, { mask, "name" }, …)` and `__print_flags_u64`.
    PrintFlags {
        /// The flags value.
        value: Box<Expr>,
        /// The delimiter expression (a string).
        delim: Box<Expr>,
        /// The table.
        entries: Vec<FlagEntry>,
    },
    /// `__print_symbolic(value, { value, "name" }, …)` and `__print_symbolic_u64`.
    PrintSymbolic {
        /// The value.
        value: Box<Expr>,
        /// The table.
        entries: Vec<FlagEntry>,
    },
    /// Any other call: the print helpers (`__get_str`, `__print_hex`, `__print_array`,
    /// `__get_bitmask`, …) and functions.
    Call {
        /// The function name.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A brace initialiser `{ a, b }` (outside the flag tables).
    Braced(Vec<Expr>),
    /// A GNU statement expression `({ …; value; })`.
    StmtExpr(Vec<Stmt>),
}

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.pointer > 0 {
            f.write_str(" ")?;
            for _ in 0..self.pointer {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}

fn write_c_string(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    for &b in bytes {
        match b {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\t' => f.write_str("\\t")?,
            0x20..=0x7e => write!(f, "{}", b as char)?,
            _ => write!(f, "\\{b:03o}")?,
        }
    }
    f.write_str("\"")
}

fn write_entries(f: &mut fmt::Formatter<'_>, entries: &[FlagEntry]) -> fmt::Result {
    for e in entries {
        write!(f, ", {{ {}, ", e.value)?;
        match &e.name {
            Some(name) => write_c_string(f, name)?,
            None => f.write_str("NULL")?,
        }
        f.write_str(" }")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    /// Prints the expression back as C, fully parenthesised.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int {
                value,
                size,
                signed,
            } => {
                if *signed {
                    write!(f, "{}", *value as i64)?;
                } else {
                    write!(f, "{value}U")?;
                }
                if *size == 8 {
                    f.write_str("L")?;
                }
                Ok(())
            }
            ExprKind::Str(s) => write_c_string(f, s),
            ExprKind::Field(name) => write!(f, "REC->{name}"),
            ExprKind::Ident(name) => f.write_str(name),
            ExprKind::Member { base, name, arrow } => {
                write!(f, "{base}{}{name}", if *arrow { "->" } else { "." })
            }
            ExprKind::Index(base, index) => write!(f, "{base}[{index}]"),
            ExprKind::Unary(op, e) => {
                let s = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                    UnaryOp::Not => "!",
                    UnaryOp::BitNot => "~",
                    UnaryOp::Deref => "*",
                    UnaryOp::AddrOf => "&",
                };
                write!(f, "({s}{e})")
            }
            ExprKind::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            ExprKind::Ternary(c, a, b) => write!(f, "({c} ? {a} : {b})"),
            ExprKind::Cast(ty, e) => write!(f, "(({ty}){e})"),
            ExprKind::SizeofType(ty) => write!(f, "sizeof({ty})"),
            ExprKind::SizeofExpr(e) => write!(f, "sizeof({e})"),
            ExprKind::PrintFlags {
                value,
                delim,
                entries,
            } => {
                write!(f, "__print_flags({value}, {delim}")?;
                write_entries(f, entries)?;
                f.write_str(")")
            }
            ExprKind::PrintSymbolic { value, entries } => {
                write!(f, "__print_symbolic({value}")?;
                write_entries(f, entries)?;
                f.write_str(")")
            }
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            ExprKind::Braced(items) => {
                f.write_str("{ ")?;
                for (i, a) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(" }")
            }
            ExprKind::StmtExpr(stmts) => {
                f.write_str("({ ")?;
                for s in stmts {
                    match s {
                        Stmt::Decl { ty, name, init } => {
                            write!(f, "{ty} {name}")?;
                            if let Some(init) = init {
                                write!(f, " = {init}")?;
                            }
                            f.write_str("; ")?;
                        }
                        Stmt::Expr(e) => write!(f, "{e}; ")?,
                        Stmt::Opaque(text) => write!(f, "{text}; ")?,
                    }
                }
                f.write_str("})")
            }
        }
    }
}

impl fmt::Display for PrintFmt {
    /// Prints the format string and the arguments back as C.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_c_string(f, &self.format.text)?;
        for a in &self.args {
            write!(f, ", {a}")?;
        }
        Ok(())
    }
}
