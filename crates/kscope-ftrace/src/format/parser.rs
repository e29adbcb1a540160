//! A recursive-descent parser for `print fmt`: C expressions as the kernel stringifies its
//! `TP_printk()` arguments.

use super::FormatError;
use super::ast::{
    BinaryOp, CType, Expr, ExprKind, FlagEntry, FormatString, PrintFmt, Stmt, UnaryOp,
};
use super::eval;
use super::lexer::{Tok, Token, tokenize};
use super::printf;
use super::tracecmd;

/// Parses the `print fmt` value `raw`, which starts at byte `start` of the file `text`.
pub(crate) fn parse_print_fmt(
    text: &str,
    start: usize,
    raw: &str,
) -> Result<PrintFmt, FormatError> {
    let tokens = tokenize(raw, start).map_err(|e| FormatError::at(text, e.offset, e.message))?;
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        depth: 0,
    };
    let first = p.peek_offset();
    let Tok::Str(_) = p.peek() else {
        return Err(p.error_here("expected the format string"));
    };
    let format_bytes = p.strings();
    let pieces = printf::parse_format(&format_bytes).map_err(|(at, msg)| {
        FormatError::at(
            text,
            first,
            format!("{msg} (at byte {at} of the format string)"),
        )
    })?;
    let mut args = Vec::new();
    while p.eat(",") {
        args.push(p.assignment()?);
    }
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.error_here("expected `,` or the end of `print fmt`"));
    }
    let tracecmd_args = args.iter().map(tracecmd::shape).collect();
    Ok(PrintFmt {
        format: FormatString {
            text: format_bytes,
            pieces,
        },
        args,
        tracecmd_args,
    })
}

/// Identifiers that begin a type name.
const TYPE_WORDS: &[&str] = &[
    "unsigned",
    "signed",
    "int",
    "long",
    "short",
    "char",
    "void",
    "_Bool",
    "bool",
    "const",
    "volatile",
    "struct",
    "union",
    "enum",
    "float",
    "double",
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "__u8",
    "__u16",
    "__u32",
    "__u64",
    "__s8",
    "__s16",
    "__s32",
    "__s64",
    "__le16",
    "__le32",
    "__le64",
    "__be16",
    "__be32",
    "__be64",
    "__force",
    "__user",
    "__iomem",
    "__percpu",
    "__rcu",
    "__kernel",
    "__bitwise",
    "typeof",
    "__typeof__",
    "__auto_type",
    "uint",
    "ulong",
    "ushort",
    "uchar",
];

/// Words of a type that carry no meaning for us.
const TYPE_NOISE: &[&str] = &[
    "const",
    "volatile",
    "__force",
    "__user",
    "__iomem",
    "__percpu",
    "__rcu",
    "__kernel",
    "__bitwise",
    "restrict",
    "__restrict",
];

fn is_type_word(s: &str) -> bool {
    TYPE_WORDS.contains(&s) || s.ends_with("_t")
}

/// How deep expressions may nest (the kernel's formats need under 50).
const MAX_DEPTH: usize = 128;

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn peek_offset(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].offset
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is(&self, punct: &str) -> bool {
        matches!(self.peek(), Tok::Punct(p) if *p == punct)
    }

    fn is_at(&self, n: usize, punct: &str) -> bool {
        matches!(self.peek_at(n), Tok::Punct(p) if *p == punct)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if self.is(punct) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int { .. } | Tok::Char(_) => "a number".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of `print fmt`".into(),
        }
    }

    fn error_here(&self, msg: &str) -> FormatError {
        FormatError::at(
            self.text,
            self.peek_offset(),
            format!("{msg}, found {}", self.describe()),
        )
    }

    fn expect(&mut self, punct: &str) -> Result<(), FormatError> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.error_here(&format!("expected `{punct}`")))
        }
    }

    fn ident(&mut self) -> Result<String, FormatError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.error_here("expected a name")),
        }
    }

    /// Adjacent string literals, joined.
    fn strings(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Tok::Str(s) = self.peek() {
            out.extend_from_slice(s);
            self.bump();
        }
        out
    }

    fn enter(&mut self) -> Result<(), FormatError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("expression nested too deeply"));
        }
        Ok(())
    }

    fn node(kind: ExprKind, offset: usize) -> Expr {
        Expr {
            kind,
            offset,
            parenthesized: false,
        }
    }

    /// expression with the comma operator
    fn comma(&mut self) -> Result<Expr, FormatError> {
        let depth = self.depth;
        let r = self.comma_chain();
        self.depth = depth;
        r
    }

    fn comma_chain(&mut self) -> Result<Expr, FormatError> {
        let mut left = self.assignment()?;
        while self.is(",") {
            let offset = self.peek_offset();
            self.bump();
            // Each link deepens the tree: count it against the nesting limit.
            self.enter()?;
            let right = self.assignment()?;
            left = Self::node(
                ExprKind::Binary(BinaryOp::Comma, Box::new(left), Box::new(right)),
                offset,
            );
        }
        Ok(left)
    }

    /// An assignment expression: only the conditional level is meaningful here.
    fn assignment(&mut self) -> Result<Expr, FormatError> {
        self.enter()?;
        let r = self.conditional();
        self.depth -= 1;
        r
    }

    fn conditional(&mut self) -> Result<Expr, FormatError> {
        let cond = self.binary(0)?;
        if !self.is("?") {
            return Ok(cond);
        }
        self.bump();
        // GNU `a ?: b`.
        let then = if self.is(":") {
            cond.clone()
        } else {
            self.comma()?
        };
        self.expect(":")?;
        let otherwise = self.assignment()?;
        let offset = cond.offset;
        Ok(Self::node(
            ExprKind::Ternary(Box::new(cond), Box::new(then), Box::new(otherwise)),
            offset,
        ))
    }

    fn binary_op(&self) -> Option<(BinaryOp, u8)> {
        let Tok::Punct(p) = self.peek() else {
            return None;
        };
        Some(match *p {
            "||" => (BinaryOp::Or, 1),
            "&&" => (BinaryOp::And, 2),
            "|" => (BinaryOp::BitOr, 3),
            "^" => (BinaryOp::BitXor, 4),
            "&" => (BinaryOp::BitAnd, 5),
            "==" => (BinaryOp::Eq, 6),
            "!=" => (BinaryOp::Ne, 6),
            "<" => (BinaryOp::Lt, 7),
            "<=" => (BinaryOp::Le, 7),
            ">" => (BinaryOp::Gt, 7),
            ">=" => (BinaryOp::Ge, 7),
            "<<" => (BinaryOp::Shl, 8),
            ">>" => (BinaryOp::Shr, 8),
            "+" => (BinaryOp::Add, 9),
            "-" => (BinaryOp::Sub, 9),
            "*" => (BinaryOp::Mul, 10),
            "/" => (BinaryOp::Div, 10),
            "%" => (BinaryOp::Rem, 10),
            _ => return None,
        })
    }

    /// Precedence climbing over the left-associative binary operators.
    fn binary(&mut self, min: u8) -> Result<Expr, FormatError> {
        let depth = self.depth;
        let r = self.binary_chain(min);
        self.depth = depth;
        r
    }

    fn binary_chain(&mut self, min: u8) -> Result<Expr, FormatError> {
        let mut left = self.unary()?;
        while let Some((op, prec)) = self.binary_op() {
            if prec <= min {
                break;
            }
            let offset = self.peek_offset();
            self.bump();
            // Each link deepens the (left-leaning) tree: count it against the limit.
            self.enter()?;
            let right = self.binary(prec);
            left = Self::node(
                ExprKind::Binary(op, Box::new(left), Box::new(right?)),
                offset,
            );
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FormatError> {
        self.enter()?;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, FormatError> {
        let offset = self.peek_offset();
        let op = match self.peek() {
            Tok::Punct("-") => Some(UnaryOp::Neg),
            Tok::Punct("+") => Some(UnaryOp::Plus),
            Tok::Punct("!") => Some(UnaryOp::Not),
            Tok::Punct("~") => Some(UnaryOp::BitNot),
            Tok::Punct("*") => Some(UnaryOp::Deref),
            Tok::Punct("&") => Some(UnaryOp::AddrOf),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let e = self.unary()?;
            return Ok(Self::node(ExprKind::Unary(op, Box::new(e)), offset));
        }
        if matches!(self.peek(), Tok::Ident(s) if s == "sizeof" || s == "__alignof__") {
            self.bump();
            if self.is("(")
                && let Some(end) = self.type_in_parens(self.pos)
            {
                self.bump();
                let ty = self.type_name()?;
                if self.pos != end {
                    return Err(self.error_here("expected `)` after the type"));
                }
                self.expect(")")?;
                return Ok(Self::node(ExprKind::SizeofType(ty), offset));
            }
            let e = self.unary()?;
            return Ok(Self::node(ExprKind::SizeofExpr(Box::new(e)), offset));
        }
        if self.is("(")
            && !self.is_at(1, "{")
            && let Some(end) = self.type_in_parens(self.pos)
            && self.starts_operand(end + 1)
        {
            self.bump();
            let ty = self.type_name()?;
            if self.pos != end {
                return Err(self.error_here("expected `)` after the type"));
            }
            self.expect(")")?;
            // A compound literal `(type){ … }` is kept as a cast of the braces.
            let e = self.unary()?;
            return Ok(Self::node(ExprKind::Cast(ty, Box::new(e)), offset));
        }
        self.postfix()
    }

    /// If the tokens from `at` (a `(`) are `( type-name )`, the index of the `)`.
    fn type_in_parens(&self, at: usize) -> Option<usize> {
        let mut i = at + 1;
        let first = match &self.tokens.get(i)?.tok {
            Tok::Ident(s) => s.clone(),
            _ => return None,
        };
        if !is_type_word(&first) {
            return None;
        }
        if first == "typeof" || first == "__typeof__" {
            // typeof( … ): skip the balanced parentheses.
            i += 1;
            if !matches!(self.tokens.get(i)?.tok, Tok::Punct("(")) {
                return None;
            }
            let mut depth = 0;
            loop {
                match &self.tokens.get(i)?.tok {
                    Tok::Punct("(") => depth += 1,
                    Tok::Punct(")") => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Eof => return None,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        }
        loop {
            match &self.tokens.get(i)?.tok {
                Tok::Ident(s) if s != "REC" && s != "sizeof" => i += 1,
                Tok::Punct("*") => i += 1,
                Tok::Punct(")") => return Some(i),
                _ => return None,
            }
        }
    }

    /// Whether the token at `at` can begin an operand (for telling casts from
    /// parenthesised expressions).
    fn starts_operand(&self, at: usize) -> bool {
        match self.tokens.get(at).map(|t| &t.tok) {
            Some(Tok::Ident(_) | Tok::Int { .. } | Tok::Char(_) | Tok::Str(_)) => true,
            Some(Tok::Punct(p)) => matches!(*p, "(" | "-" | "+" | "!" | "~" | "*" | "&" | "{"),
            _ => false,
        }
    }

    /// A type name: specifier words, then `*`s. The current token starts it.
    fn type_name(&mut self) -> Result<CType, FormatError> {
        self.type_name_in(false)
    }

    /// A type name; in a declaration (`decl`), the last name before `=`, `;`, `[` or `,`
    /// is the declarator and is left unread.
    fn type_name_in(&mut self, decl: bool) -> Result<CType, FormatError> {
        let mut words: Vec<String> = Vec::new();
        let mut pointer = 0u8;
        loop {
            match self.peek().clone() {
                Tok::Ident(s) if s == "typeof" || s == "__typeof__" => {
                    self.bump();
                    self.expect("(")?;
                    // The operand's type is not tracked: `typeof(x) v = x` keeps x's type.
                    let _ = self.comma()?;
                    self.expect(")")?;
                    words.push("__auto_type".into());
                }
                Tok::Ident(s) => {
                    if pointer > 0 && !TYPE_NOISE.contains(&s.as_str()) {
                        break;
                    }
                    if decl
                        && !words.is_empty()
                        && !matches!(self.peek_at(1), Tok::Ident(_) | Tok::Punct("*"))
                    {
                        break;
                    }
                    self.bump();
                    if !TYPE_NOISE.contains(&s.as_str()) {
                        words.push(s);
                    }
                }
                Tok::Punct("*") => {
                    self.bump();
                    pointer = pointer.saturating_add(1);
                }
                _ => break,
            }
        }
        if words.is_empty() {
            return Err(self.error_here("expected a type"));
        }
        Ok(CType {
            text: words.join(" "),
            pointer,
        })
    }

    fn postfix(&mut self) -> Result<Expr, FormatError> {
        let depth = self.depth;
        let r = self.postfix_chain();
        self.depth = depth;
        r
    }

    fn postfix_chain(&mut self) -> Result<Expr, FormatError> {
        let mut e = self.primary()?;
        loop {
            if self.is("[") || self.is("->") || self.is(".") || self.is("(") {
                self.enter()?;
            }
            let offset = self.peek_offset();
            if self.eat("[") {
                let index = self.comma()?;
                self.expect("]")?;
                e = Self::node(ExprKind::Index(Box::new(e), Box::new(index)), offset);
            } else if self.is("->") || self.is(".") {
                let arrow = self.is("->");
                self.bump();
                let name = self.ident()?;
                e = match e.kind {
                    ExprKind::Ident(ref base) if base == "REC" && arrow => {
                        Self::node(ExprKind::Field(name), e.offset)
                    }
                    _ => Self::node(
                        ExprKind::Member {
                            base: Box::new(e),
                            name,
                            arrow,
                        },
                        offset,
                    ),
                };
            } else if self.is("(") {
                let ExprKind::Ident(name) = &e.kind else {
                    return Err(self.error_here("only named functions can be called"));
                };
                let name = name.clone();
                self.bump();
                let mut args = Vec::new();
                if !self.is(")") {
                    loop {
                        args.push(self.call_arg()?);
                        if !self.eat(",") {
                            break;
                        }
                    }
                }
                self.expect(")")?;
                e = make_call(name, args, e.offset);
            } else {
                return Ok(e);
            }
        }
    }

    /// A call argument: an expression or a brace list.
    fn call_arg(&mut self) -> Result<Expr, FormatError> {
        if self.is("{") {
            return self.braced();
        }
        self.assignment()
    }

    fn braced(&mut self) -> Result<Expr, FormatError> {
        let offset = self.peek_offset();
        self.expect("{")?;
        let mut items = Vec::new();
        while !self.is("}") {
            items.push(self.call_arg()?);
            if !self.eat(",") {
                break;
            }
        }
        self.expect("}")?;
        Ok(Self::node(ExprKind::Braced(items), offset))
    }

    fn primary(&mut self) -> Result<Expr, FormatError> {
        let offset = self.peek_offset();
        match self.peek().clone() {
            Tok::Int {
                value,
                unsigned,
                longs,
                decimal,
            } => {
                self.bump();
                let (size, signed) = literal_type(value, unsigned, longs, decimal);
                Ok(Self::node(
                    ExprKind::Int {
                        value,
                        size,
                        signed,
                    },
                    offset,
                ))
            }
            Tok::Char(v) => {
                self.bump();
                Ok(Self::node(
                    ExprKind::Int {
                        value: v,
                        size: 4,
                        signed: true,
                    },
                    offset,
                ))
            }
            Tok::Str(_) => {
                let s = self.strings();
                Ok(Self::node(ExprKind::Str(s), offset))
            }
            Tok::Ident(name) => {
                self.bump();
                Ok(Self::node(ExprKind::Ident(name), offset))
            }
            Tok::Punct("(") => {
                self.bump();
                if self.is("{") {
                    self.bump();
                    // A statement expression nests many parser frames: it costs more.
                    let depth = self.depth;
                    self.enter()?;
                    self.enter()?;
                    let stmts = self.statements();
                    self.depth = depth;
                    let stmts = stmts?;
                    self.expect("}")?;
                    self.expect(")")?;
                    return Ok(Self::node(ExprKind::StmtExpr(stmts), offset));
                }
                let mut e = self.comma()?;
                self.expect(")")?;
                e.parenthesized = true;
                Ok(e)
            }
            Tok::Punct("{") => self.braced(),
            _ => Err(self.error_here("expected an expression")),
        }
    }

    /// Statements of `({ … })` up to the closing `}`.
    fn statements(&mut self) -> Result<Vec<Stmt>, FormatError> {
        let mut stmts = Vec::new();
        loop {
            if self.is("}") || matches!(self.peek(), Tok::Eof) {
                return Ok(stmts);
            }
            if self.eat(";") {
                continue;
            }
            let start = self.pos;
            let depth = self.depth;
            let attempt = self.statement();
            match attempt {
                Ok(stmt) if self.is(";") => {
                    self.bump();
                    stmts.push(stmt);
                }
                _ => {
                    self.pos = start;
                    self.depth = depth;
                    stmts.push(self.opaque_statement()?);
                }
            }
        }
    }

    fn statement(&mut self) -> Result<Stmt, FormatError> {
        if let Tok::Ident(first) = self.peek().clone()
            && is_type_word(&first)
            && first != "sizeof"
        {
            let ty = self.type_name_in(true)?;
            let name = self.ident()?;
            let init = if self.eat("=") {
                Some(self.assignment()?)
            } else {
                None
            };
            return Ok(Stmt::Decl { ty, name, init });
        }
        Ok(Stmt::Expr(self.comma()?))
    }

    /// Skips a statement up to its `;` (or the block's `}`), keeping its text.
    fn opaque_statement(&mut self) -> Result<Stmt, FormatError> {
        let start = self.peek_offset();
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return Err(self.error_here("unterminated statement expression")),
                Tok::Punct("(" | "[" | "{") => depth += 1,
                Tok::Punct(")" | "]") if depth > 0 => depth -= 1,
                Tok::Punct("}") => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                Tok::Punct(";") if depth == 0 => break,
                Tok::Punct(")" | "]") => {
                    return Err(self.error_here("unbalanced statement expression"));
                }
                _ => {}
            }
            self.bump();
        }
        let end = self.peek_offset();
        self.eat(";");
        let text = self.text.get(start..end).unwrap_or("").trim().to_string();
        Ok(Stmt::Opaque(text))
    }
}

/// The C type of an integer literal on LP64: (size, signed).
fn literal_type(value: u64, unsigned: bool, longs: u8, decimal: bool) -> (u8, bool) {
    let fits_i32 = value <= i32::MAX as u64;
    let fits_u32 = value <= u32::MAX as u64;
    let fits_i64 = value <= i64::MAX as u64;
    match (unsigned, longs) {
        (false, 0) if fits_i32 => (4, true),
        (false, 0) if !decimal && fits_u32 => (4, false),
        (true, 0) if fits_u32 => (4, false),
        (true, _) => (8, false),
        (false, _) if fits_i64 => (8, true),
        (false, _) if !decimal => (8, false),
        // A decimal too large for long: GCC makes it unsigned with a warning.
        (false, _) => (8, false),
    }
}

/// Builds a call node, recognising `__print_flags` and `__print_symbolic` tables.
fn make_call(name: String, args: Vec<Expr>, offset: usize) -> Expr {
    let table = |items: &[Expr]| -> Option<Vec<FlagEntry>> {
        items
            .iter()
            .map(|item| {
                let ExprKind::Braced(pair) = &item.kind else {
                    return None;
                };
                let [value, label] = pair.as_slice() else {
                    return None;
                };
                let name = match &label.kind {
                    ExprKind::Str(s) => Some(s.clone()),
                    _ if is_null(label) => None,
                    _ => return None,
                };
                Some(FlagEntry {
                    constant: eval::const_eval(value),
                    value: value.clone(),
                    name,
                })
            })
            .collect()
    };
    let kind = match (name.as_str(), args.as_slice()) {
        ("__print_flags" | "__print_flags_u64", [value, delim, rest @ ..]) => {
            table(rest).map(|entries| ExprKind::PrintFlags {
                value: Box::new(value.clone()),
                delim: Box::new(delim.clone()),
                entries,
            })
        }
        ("__print_symbolic" | "__print_symbolic_u64", [value, rest @ ..]) => {
            table(rest).map(|entries| ExprKind::PrintSymbolic {
                value: Box::new(value.clone()),
                entries,
            })
        }
        _ => None,
    };
    Expr {
        kind: kind.unwrap_or(ExprKind::Call { name, args }),
        offset,
        parenthesized: false,
    }
}

/// `NULL`, `0`, `(void *)0`, `((void *)0)`.
fn is_null(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Ident(s) => s == "NULL",
        ExprKind::Int { value: 0, .. } => true,
        ExprKind::Cast(ty, inner) => ty.pointer > 0 && is_null(inner),
        _ => false,
    }
}
