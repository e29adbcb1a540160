//! The parser: recursive descent for statements, precedence climbing for expressions.
//! It stops at the first error and returns it as a [`Diagnostic`].

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::lexer::{Token, next_token, parse_int, unescape};
use crate::span::{SegmentKind, SourceFile, Span};
use crate::suggest::nearest;
use std::collections::VecDeque;

mod cdefs;
mod cenums;
mod config_record;

/// Parses a whole script.
pub fn parse(src: &str) -> Result<Program, Diagnostic> {
    crate::stack::with_big_stack(|| Parser::new(src).program())
}

/// Parses a script with the files it imports ([`crate::imports::load`] read them).
pub fn parse_source(src: &SourceFile) -> Result<Program, Diagnostic> {
    crate::stack::with_big_stack(|| {
        let main = &src.segments()[0];
        let mut p = Parser::new(&src.text()[..main.end]);
        p.source = Some(src);
        p.parsed_segments = vec![false; src.segments().len()];
        p.parsed_segments[0] = true;
        p.program()
    })
}

/// Parses a single expression (for tests and tools); the whole text must be consumed.
pub fn parse_expr(src: &str) -> Result<Expr, Diagnostic> {
    crate::stack::with_big_stack(|| {
        let mut p = Parser::new(src);
        let e = p.expr()?;
        p.expect(Token::Eof, "the end of the expression")?;
        Ok(e)
    })
}

type PResult<T> = Result<T, Diagnostic>;

/// Deepest nesting of expressions and blocks (operator chains count one level per operator),
/// so that hostile input cannot overflow the stack of the parser or of later passes.
const MAX_DEPTH: u32 = 100;

struct Parser<'a> {
    src: &'a str,
    /// Byte offset where lexing continues after the buffered tokens.
    pos: usize,
    buf: VecDeque<(Token, Span)>,
    prev_end: usize,
    next_id: u32,
    /// Inside a predicate `/.../` a `/` ends the expression (outside parentheses).
    stop_at_slash: bool,
    depth: u32,
    /// `#define`d names and their values.
    defines: Vec<crate::preproc::RawDefine>,
    /// In a macro body, its expression parameters: `(t)v` casts to the type passed as `t`.
    type_params: Vec<String>,
    /// The enumerators of the script's C enums defined so far (values, not types).
    enumerators: Vec<String>,
    /// Anonymous structs and unions named so far (`struct <anon_N>`).
    anon_structs: u32,
    /// The config block (it comes first, so `config()` in a probe sees it).
    config: Option<Config>,
    /// The script's typedefs so far, by name (a later one of a name wins).
    typedefs: Vec<(String, crate::cdefs::CType)>,
    /// The script with the files it imports (`None` for a bare text).
    source: Option<&'a SourceFile>,
    /// Per segment of `source`, whether it was parsed (each file is imported once).
    parsed_segments: Vec<bool>,
}

/// The top-level items of a script and the files it imports, gathered in order.
#[derive(Default)]
struct Items {
    probes: Vec<Probe>,
    map_decls: Vec<MapDecl>,
    macros: Vec<crate::macros::Macro>,
    c_types: crate::cdefs::CTypes,
    /// Whether an import came before (a config block must precede imports too).
    imported: bool,
}

/// The last statement of a block when nothing follows it (see [`Parser::block_parts`]).
enum Tail {
    /// An expression written without `;`.
    Expr(Expr),
    /// An `if` with an `else` (a value where the block has one).
    If(Box<IfParts>),
}

/// A parsed `if` before it becomes a statement or an expression.
struct IfParts {
    /// From `if` to the last `}`.
    span: Span,
    /// `if comptime COND` (always a statement).
    comptime: bool,
    cond: Expr,
    then: (Block, Option<Tail>),
    otherwise: Option<Else>,
}

/// What follows `else`.
enum Else {
    Block(Block, Option<Tail>),
    If(Box<IfParts>),
}

/// Type names that start a cast `(T)x` without `struct`.
const SCALAR_TYPES: &[&str] = &[
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bool", "string",
    "void", "char", "short", "int", "long", "unsigned", "signed", "inet", "buffer",
];

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            buf: VecDeque::new(),
            prev_end: 0,
            next_id: 0,
            stop_at_slash: false,
            type_params: Vec::new(),
            enumerators: Vec::new(),
            anon_structs: 0,
            config: None,
            typedefs: Vec::new(),
            source: None,
            parsed_segments: Vec::new(),
            depth: 0,
            defines: Vec::new(),
        }
    }

    fn peek_n(&mut self, n: usize) -> (Token, Span) {
        while self.buf.len() <= n {
            let (tok, span) = next_token(self.src, self.pos);
            self.pos = span.end as usize;
            self.buf.push_back((tok, span));
            if tok == Token::Eof {
                break;
            }
        }
        self.buf
            .get(n)
            .copied()
            .unwrap_or_else(|| *self.buf.back().expect("buffer holds Eof"))
    }

    fn peek(&mut self) -> Token {
        self.peek_n(0).0
    }

    fn peek_span(&mut self) -> Span {
        self.peek_n(0).1
    }

    /// The source text of the next token.
    fn peek_text(&mut self) -> &'a str {
        let s = self.peek_span();
        self.text(s)
    }

    fn text(&self, span: Span) -> &'a str {
        &self.src[span.range()]
    }

    fn bump(&mut self) -> (Token, Span) {
        let t = self.peek_n(0);
        if t.0 != Token::Eof {
            self.buf.pop_front();
        }
        self.prev_end = t.1.end as usize;
        t
    }

    fn eat(&mut self, tok: Token) -> bool {
        if self.peek() == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Drops the lookahead and continues lexing at byte `at`.
    fn reset_to(&mut self, at: usize) {
        self.buf.clear();
        self.pos = at;
    }

    fn unexpected(&mut self, expected: &str) -> Diagnostic {
        let (tok, span) = self.peek_n(0);
        match tok {
            Token::UnterminatedStr => Diagnostic::error(
                "unterminated string",
                span,
                "this string has no closing `\"`",
            )
            .with_help("close the string with `\"` on the same line"),
            Token::UnterminatedComment => {
                Diagnostic::error("unterminated comment", span, "this comment has no `*/`")
            }
            Token::Error => Diagnostic::error(
                format!("unexpected character `{}`", self.text(span)),
                span,
                format!("expected {expected}"),
            ),
            _ => Diagnostic::error(
                format!("expected {expected}, found {}", tok.describe()),
                span,
                format!("expected {expected}"),
            ),
        }
    }

    fn expect(&mut self, tok: Token, expected: &str) -> PResult<Span> {
        if self.peek() == tok {
            Ok(self.bump().1)
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn enter(&mut self, span: Span) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                "the script nests too deeply",
                span,
                format!("more than {MAX_DEPTH} levels of nesting"),
            ));
        }
        Ok(())
    }

    fn mk(&mut self, kind: ExprKind, span: Span) -> Expr {
        let id = ExprId(self.next_id);
        self.next_id += 1;
        Expr { kind, span, id }
    }

    // ---- program level ----

    fn program(&mut self) -> PResult<Program> {
        if self.src.starts_with("#!") {
            let end = self.src.find('\n').unwrap_or(self.src.len());
            self.reset_to(end);
        }
        let mut items = Items::default();
        let mut config = None;
        self.items(&mut items, &mut config, 0)?;
        let Items {
            mut probes,
            map_decls,
            macros,
            c_types,
            ..
        } = items;
        if probes.is_empty() {
            let end = self.src.len();
            return Err(Diagnostic::error(
                "the script has no probes",
                Span::new(end, end),
                "expected a probe such as `begin { ... }`",
            )
            .with_help("a probe is `PROVIDER:TARGET /predicate/ { actions }`"));
        }
        crate::macros::expand(&mut probes, &macros, &mut self.next_id)?;
        crate::scopes::separate(&mut probes);
        Ok(Program {
            defines: std::mem::take(&mut self.defines),
            config,
            map_decls,
            probes,
            c_types,
            expr_count: self.next_id,
            span: Span::new(0, self.src.len()),
        })
    }

    /// The top-level items of segment `segment` (0: the script itself) up to its end,
    /// added to `items`; the imports among them are parsed where they stand.
    fn items(
        &mut self,
        items: &mut Items,
        config: &mut Option<Config>,
        segment: usize,
    ) -> PResult<()> {
        let header = self
            .source
            .is_some_and(|s| s.segments()[segment].kind == SegmentKind::Header);
        // Whether this file had a probe, macro or map declaration yet (an import must
        // come before them; what the files it imports hold does not count).
        let mut own = false;
        // An imported file may start with preprocessor lines too.
        let mut fresh = true;
        loop {
            let (tok, span) = self.peek_n(0);
            if tok != Token::Hash {
                fresh = false;
            }
            let c_definition = tok == Token::Ident
                && matches!(
                    (self.text(span), self.peek_n(1).0),
                    ("struct" | "union", Token::Ident)
                        | ("enum", Token::Ident | Token::LBrace)
                        | ("typedef", Token::Ident)
                );
            if header && !matches!(tok, Token::Eof | Token::Hash | Token::Semi) && !c_definition {
                return Err(Diagnostic::error(
                    "a header holds C definitions only",
                    span,
                    "not a struct, union or enum definition",
                )
                .with_help("probes, macros and maps belong in a .bt file"));
            }
            match tok {
                Token::Eof => break,
                Token::Semi if header => {
                    self.bump();
                }
                Token::Hash
                    if (segment == 0 && !own && config.is_none()) || (segment != 0 && fresh) =>
                {
                    let (defines, next) = crate::preproc::preamble(self.src, span.start as usize)?;
                    self.defines.extend(defines);
                    self.reset_to(next);
                }
                Token::Hash => {
                    return Err(Diagnostic::error(
                        "preprocessor lines must come first",
                        span,
                        "a `#` line after the config block or a probe",
                    )
                    .with_help("move `#include`/`#define` lines to the top of the script"));
                }
                Token::Let if self.peek_n(1).0 == Token::Map => {
                    let decl = self.map_decl()?;
                    if items
                        .map_decls
                        .iter()
                        .any(|d: &MapDecl| d.name == decl.name)
                    {
                        return Err(Diagnostic::error(
                            format!("`@{}` is declared twice", decl.name),
                            decl.span,
                            "second declaration",
                        ));
                    }
                    items.map_decls.push(decl);
                    own = true;
                }
                Token::Ident => {
                    let word = self.text(span);
                    let next = self.peek_n(1).0;
                    if word == "config" && next == Token::Assign {
                        if segment != 0 {
                            return Err(Diagnostic::error(
                                "an imported script cannot have a config block",
                                span,
                                "a config block in an imported file",
                            )
                            .with_help("only the script that is run has one: move it there"));
                        }
                        if own || config.is_some() || items.imported {
                            return Err(Diagnostic::error(
                                "the config block must come first",
                                span,
                                "a config block after a probe or a second config block",
                            )
                            .with_help("move `config = { ... }` to the top of the script"));
                        }
                        *config = Some(self.config()?);
                        self.config = config.clone();
                        continue;
                    }
                    if word == "import" && next == Token::Str {
                        if own {
                            return Err(Diagnostic::error(
                                "imports must come before probes, macros and map declarations",
                                span,
                                "an import after them",
                            )
                            .with_help("move the `import` up, after the C definitions"));
                        }
                        self.import(items, config, segment)?;
                        continue;
                    }
                    if word == "macro" && next == Token::Ident {
                        items.macros.push(self.macro_def()?);
                        own = true;
                        continue;
                    }
                    if matches!(word, "struct" | "union") && next == Token::Ident {
                        self.c_definition(&mut items.c_types)?;
                        continue;
                    }
                    if word == "enum" && matches!(next, Token::Ident | Token::LBrace) {
                        self.c_enum(&mut items.c_types)?;
                        continue;
                    }
                    if word == "typedef" && next == Token::Ident {
                        self.c_typedef(&mut items.c_types)?;
                        continue;
                    }
                    if (word, next) == ("fn", Token::Ident) {
                        return Err(Diagnostic::error(
                            "functions (`fn`) are not supported yet",
                            span,
                            "`fn` starts one of the functions (`fn`)",
                        ));
                    }
                    items.probes.push(self.probe()?);
                    own = true;
                }
                _ => {
                    items.probes.push(self.probe()?);
                    own = true;
                }
            }
        }
        Ok(())
    }

    /// `import "PATH";`: parses each file it stands for (once), where it stands.
    fn import(
        &mut self,
        items: &mut Items,
        config: &mut Option<Config>,
        segment: usize,
    ) -> PResult<()> {
        let (_, kw) = self.bump();
        let (_, lit) = self.bump();
        let path = crate::imports::literal_path(self.text(lit));
        self.expect(Token::Semi, "`;` after the import")?;
        let link = self.source.and_then(|s| {
            s.imports()
                .iter()
                .find(|l| l.importer == segment && l.path == path)
        });
        let (Some(src), Some(link)) = (self.source, link) else {
            return Err(Diagnostic::error(
                format!("`{path}` was not loaded"),
                kw,
                "an import in a script read without its files",
            )
            .with_help("imports work in scripts run by `kscope run`"));
        };
        items.imported = true;
        for &t in &link.targets {
            if std::mem::replace(&mut self.parsed_segments[t], true) {
                continue;
            }
            let seg = &src.segments()[t];
            // Parse the segment with the same parser (its ids, C types and macros go on
            // from the importer's), then come back after the `import`.
            let saved = (
                self.src,
                self.pos,
                std::mem::take(&mut self.buf),
                self.prev_end,
            );
            self.src = &src.text()[..seg.end];
            self.reset_to(seg.start);
            let r = self.items(items, config, t);
            (self.src, self.pos, self.buf, self.prev_end) = saved;
            r?;
        }
        Ok(())
    }

    /// `macro NAME[(params)] { body }`.
    fn macro_def(&mut self) -> PResult<crate::macros::Macro> {
        use crate::macros::{Macro, Param, ParamKind};
        self.bump(); // `macro`
        let (_, name_span) = self.bump();
        let name = Ident {
            name: self.text(name_span).to_string(),
            span: name_span,
        };
        let mut params = Vec::new();
        if self.peek() == Token::LParen {
            self.bump();
            while self.peek() != Token::RParen {
                let (tok, span) = self.peek_n(0);
                let text = self.text(span);
                let kind = match tok {
                    Token::Var => ParamKind::Var,
                    Token::Map => ParamKind::Map,
                    Token::Ident => ParamKind::Expr,
                    _ => {
                        return Err(Diagnostic::error(
                            format!("expected a macro parameter, found {}", tok.describe()),
                            span,
                            "a parameter is `$var`, `@map` or a name",
                        ));
                    }
                };
                let bare = if kind == ParamKind::Expr {
                    text
                } else {
                    &text[1..]
                };
                if params
                    .iter()
                    .any(|p: &Param| p.name == bare && p.kind == kind)
                {
                    return Err(Diagnostic::error(
                        format!("the parameter `{text}` is declared twice"),
                        span,
                        "second declaration",
                    ));
                }
                params.push(Param {
                    kind,
                    name: bare.to_string(),
                    span,
                });
                self.bump();
                match self.peek() {
                    Token::Comma => {
                        self.bump();
                    }
                    Token::RParen => {}
                    _ => return Err(self.unexpected("`,` or `)` in the macro's parameters")),
                }
            }
            self.bump();
        }
        self.type_params = params
            .iter()
            .filter(|p| p.kind == ParamKind::Expr)
            .map(|p| p.name.clone())
            .collect();
        let parts = self.block_parts();
        self.type_params.clear();
        let (body, tail) = parts?;
        let value = tail.map(|t| self.tail_value(t));
        Ok(Macro {
            name,
            params,
            body,
            value,
        })
    }

    fn config(&mut self) -> PResult<Config> {
        let start = self.bump().1; // `config`
        self.expect(Token::Assign, "`=` after `config`")?;
        self.expect(Token::LBrace, "`{` to open the config block")?;
        let mut entries = Vec::new();
        loop {
            if self.eat(Token::Semi) {
                continue;
            }
            if self.peek() == Token::RBrace {
                break;
            }
            let (tok, kspan) = self.peek_n(0);
            if tok != Token::Ident {
                return Err(self.unexpected("a config variable name or `}`"));
            }
            self.bump();
            let key = Ident {
                name: self.text(kspan).to_string(),
                span: kspan,
            };
            self.expect(Token::Assign, "`=` after the config variable")?;
            let (vt, vspan) = self.bump();
            let value = match vt {
                Token::Int => ConfigValue::Int(
                    parse_int(self.text(vspan))
                        .map_err(|m| Diagnostic::error(m.clone(), vspan, "invalid integer"))?,
                ),
                Token::Str => ConfigValue::Str(self.string_value(vspan)?),
                Token::Ident | Token::True | Token::False => {
                    ConfigValue::Word(self.text(vspan).to_string())
                }
                _ => {
                    return Err(Diagnostic::error(
                        format!("expected a config value, found {}", vt.describe()),
                        vspan,
                        "expected an integer, a string or a word",
                    ));
                }
            };
            entries.push(ConfigEntry {
                key,
                value,
                span: kspan.to(vspan),
            });
            if self.peek() != Token::RBrace {
                self.expect(Token::Semi, "`;` or `}` after the config value")?;
            }
        }
        let end = self.bump().1;
        Ok(Config {
            entries,
            span: start.to(end),
        })
    }

    /// `let @name = KIND(N);`
    fn map_decl(&mut self) -> PResult<MapDecl> {
        let start = self.bump().1; // `let`
        let (_, mspan) = self.bump();
        let name = self.text(mspan)[1..].to_string();
        self.expect(Token::Assign, "`=` after the map name")?;
        let (tok, kspan) = self.peek_n(0);
        if tok != Token::Ident {
            return Err(self.unexpected("a map kind such as `lruhash`"));
        }
        self.bump();
        let kind = Ident {
            name: self.text(kspan).to_string(),
            span: kspan,
        };
        if !MAP_KINDS.contains(&kind.name.as_str()) {
            let mut d = Diagnostic::error(
                format!("unknown map kind `{}`", kind.name),
                kspan,
                "not a map kind",
            );
            d = match nearest(&kind.name, MAP_KINDS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help("map kinds: hash, lruhash, percpuhash, percpulruhash"),
            };
            return Err(d);
        }
        self.expect(Token::LParen, "`(` and the maximum number of entries")?;
        let (tok, nspan) = self.peek_n(0);
        let max_entries = match tok {
            Token::Int => parse_int(self.text(nspan))
                .map_err(|m| Diagnostic::error(m, nspan, "invalid integer"))?,
            _ => return Err(self.unexpected("the maximum number of entries")),
        };
        self.bump();
        if max_entries == 0 {
            return Err(Diagnostic::error(
                "a map needs room for at least one entry",
                nspan,
                "0 entries",
            ));
        }
        let end = self.expect(Token::RParen, "`)`")?;
        self.eat(Token::Semi);
        Ok(MapDecl {
            name,
            kind,
            max_entries,
            span: start.to(end),
        })
    }

    fn string_value(&self, span: Span) -> PResult<String> {
        let bytes = self.string_bytes(span)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn string_bytes(&self, span: Span) -> PResult<Vec<u8>> {
        let body = &self.src[span.start as usize + 1..span.end as usize - 1];
        unescape(body).map_err(|(at, msg)| {
            let s = span.start as usize + 1 + at;
            let len = body[at..]
                .chars()
                .take(2)
                .map(char::len_utf8)
                .sum::<usize>();
            Diagnostic::error(msg, Span::new(s, s + len), "invalid escape")
                .with_help("valid escapes: \\n \\t \\r \\\\ \\\" \\nnn (octal) \\xnn (hex)")
        })
    }

    // ---- probes ----

    fn probe(&mut self) -> PResult<Probe> {
        let mut attach_points = Vec::new();
        let start = self.peek_span().start as usize;
        let mut at = start;
        loop {
            let ap = self.attach_point(at)?;
            let end = ap.span.end as usize;
            attach_points.push(ap);
            self.reset_to(end);
            if self.peek() == Token::Comma {
                self.bump();
                at = self.peek_span().start as usize;
                continue;
            }
            break;
        }
        let predicate = if self.peek() == Token::Slash {
            self.bump();
            let saved = self.stop_at_slash;
            self.stop_at_slash = true;
            let e = self.expr();
            self.stop_at_slash = saved;
            let e = e?;
            self.expect(Token::Slash, "`/` to close the predicate")?;
            Some(e)
        } else {
            None
        };
        if self.peek() != Token::LBrace {
            let what = if predicate.is_some() {
                "`{` to start the probe's actions"
            } else {
                "`{`, `,` or a predicate `/.../` after the attach point"
            };
            return Err(self.unexpected(what));
        }
        let body = self.block()?;
        Ok(Probe {
            attach_points,
            predicate,
            span: Span::new(start, body.span.end as usize),
            body,
        })
    }

    /// Scans one attach point as raw text starting at byte `start`.
    fn attach_point(&mut self, start: usize) -> PResult<AttachPoint> {
        let bytes = self.src.as_bytes();
        let mut i = start;
        let mut segment_start = start;
        let mut segment = 0usize;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'"' => {
                    let close = self.src[i + 1..].find('"').map(|j| i + 1 + j);
                    match close {
                        Some(j) => i = j + 1,
                        None => {
                            return Err(Diagnostic::error(
                                "unterminated string in attach point",
                                Span::new(i, self.src.len()),
                                "this string has no closing `\"`",
                            ));
                        }
                    }
                    continue;
                }
                b':' => {
                    segment_start = i + 1;
                    segment += 1;
                }
                b'/' => {
                    // A `/` belongs to a path segment (`uprobe:/bin/bash:f`, and a user
                    // probe's binary written relative without `./`: `uprobe:bin/prog:f`);
                    // elsewhere it starts a predicate or a comment.
                    let seg = &bytes[segment_start..i];
                    let provider = &self.src[start..segment_start.saturating_sub(1).max(start)];
                    let user_binary = segment == 1
                        && matches!(
                            Provider::from_name(provider),
                            Some(Provider::Uprobe | Provider::Uretprobe | Provider::Usdt)
                        )
                        && bytes
                            .get(i + 1)
                            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'));
                    let is_path = seg.is_empty() || seg[0] == b'/' || seg[0] == b'.' || user_binary;
                    if !is_path {
                        break;
                    }
                }
                b',' | b'{' | b'}' | b';' | b'(' | b')' => break,
                c if c.is_ascii_whitespace() => break,
                _ => {}
            }
            i += 1;
        }
        let span = Span::new(start, i);
        let raw = &self.src[start..i];
        if raw.is_empty() {
            self.reset_to(start);
            return Err(self.unexpected(
                "a probe (for example `begin` or `tracepoint:syscalls:sys_enter_read`)",
            ));
        }
        let mut fields = split_colons(raw);
        let provider_text = fields.remove(0);
        let provider_span = Span::new(start, start + provider_text.len().min(raw.len()));
        let Some(provider) = Provider::from_name(&provider_text) else {
            let names: Vec<&str> = Provider::ALIASES.iter().map(|(n, _)| *n).collect();
            let mut d = Diagnostic::error(
                format!("unknown probe type `{provider_text}`"),
                provider_span,
                "not a probe type",
            );
            d = match nearest(&provider_text, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(
                    "probe types: begin, end, tracepoint, rawtracepoint, kprobe, kretprobe, uprobe, uretprobe, fentry, fexit, interval, profile, software, hardware, usdt, iter",
                ),
            };
            return Err(d);
        };
        let parts = check_parts(provider, &provider_text, fields, span)?;
        Ok(AttachPoint {
            provider,
            provider_text,
            parts,
            raw: raw.to_string(),
            span,
        })
    }

    // ---- blocks and statements ----

    fn block(&mut self) -> PResult<Block> {
        let (mut block, tail) = self.block_parts()?;
        if let Some(t) = tail {
            block.stmts.push(self.tail_stmt(t));
        }
        Ok(block)
    }

    /// A `{ ... }` block, and its last statement when nothing follows it (no `;`): an
    /// expression or an `if`, the value of a block expression, macro body or `if`
    /// expression, and a plain last statement anywhere else.
    fn block_parts(&mut self) -> PResult<(Block, Option<Tail>)> {
        let open = self.expect(Token::LBrace, "`{`")?;
        self.enter(open)?;
        let unclosed = |open| {
            Diagnostic::error("unclosed block", open, "this `{` has no matching `}`")
                .with_help("add `}` at the end of the block")
        };
        let mut stmts = Vec::new();
        let mut tail = None;
        loop {
            match self.peek() {
                Token::RBrace => break,
                Token::Semi => {
                    self.bump();
                    continue;
                }
                Token::Eof => return Err(unclosed(open)),
                _ => {}
            }
            if let Some(t) = tail.take() {
                // Only the very last statement is the block's value.
                stmts.push(self.tail_stmt(t));
            }
            let (stmt, braced) = if self.peek() == Token::If {
                let parts = self.if_parts()?;
                // Without `else` an `if` has a value only when neither branch has one
                // (upstream refuses the others): a statement is the same, and refuses
                // nothing.
                if self.peek() == Token::RBrace && !parts.comptime && parts.otherwise.is_some() {
                    tail = Some(Tail::If(Box::new(parts)));
                    continue;
                }
                (self.if_into_stmt(parts), true)
            } else {
                let stmt = self.stmt()?;
                let braced = matches!(
                    stmt.kind,
                    StmtKind::If { .. }
                        | StmtKind::Unroll { .. }
                        | StmtKind::ForRange { .. }
                        | StmtKind::ForMap { .. }
                        | StmtKind::While { .. }
                        | StmtKind::Expr(Expr {
                            kind: ExprKind::Block { .. },
                            ..
                        })
                );
                (stmt, braced)
            };
            match self.peek() {
                Token::Semi => {
                    self.bump();
                    stmts.push(stmt);
                }
                Token::RBrace => match stmt.kind {
                    StmtKind::Expr(e) => tail = Some(Tail::Expr(e)),
                    _ => stmts.push(stmt),
                },
                Token::Eof => return Err(unclosed(open)),
                _ if braced => stmts.push(stmt),
                _ => {
                    let at = self.prev_end;
                    let (tok, _) = self.peek_n(0);
                    return Err(Diagnostic::error(
                        format!(
                            "expected `;` or `}}` after the statement, found {}",
                            tok.describe()
                        ),
                        Span::new(at, at),
                        "expected `;` here",
                    ));
                }
            }
        }
        let close = self.bump().1;
        self.depth -= 1;
        let block = Block {
            stmts,
            span: open.to(close),
        };
        Ok((block, tail))
    }

    /// `{ stmts; value }` where an expression is expected.
    fn block_expr(&mut self) -> PResult<Expr> {
        let (block, tail) = self.block_parts()?;
        let span = block.span;
        let value = tail.map(|t| Box::new(self.tail_value(t)));
        Ok(self.mk(ExprKind::Block { block, value }, span))
    }

    /// The last statement of a block, as a statement.
    fn tail_stmt(&mut self, t: Tail) -> Stmt {
        match t {
            Tail::Expr(e) => Stmt {
                span: e.span,
                kind: StmtKind::Expr(e),
            },
            Tail::If(parts) => self.if_into_stmt(*parts),
        }
    }

    /// The last statement of a block, as the block's value.
    fn tail_value(&mut self, t: Tail) -> Expr {
        match t {
            Tail::Expr(e) => e,
            Tail::If(parts) => self.if_into_expr(*parts),
        }
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let (tok, start) = self.peek_n(0);
        let kind = match tok {
            Token::If => return self.if_stmt(),
            Token::Unroll => {
                self.bump();
                self.expect(Token::LParen, "`(` after `unroll`")?;
                let count = self.expr()?;
                self.expect(Token::RParen, "`)` after the unroll count")?;
                let body = self.block()?;
                StmtKind::Unroll { count, body }
            }
            Token::While => {
                self.bump();
                let cond = self.expr()?;
                let body = self.block()?;
                StmtKind::While { cond, body }
            }
            Token::For => return self.for_stmt(),
            Token::Return => {
                self.bump();
                let value = match self.peek() {
                    Token::Semi | Token::RBrace => None,
                    _ => Some(self.expr()?),
                };
                StmtKind::Return(value)
            }
            Token::Break => {
                self.bump();
                StmtKind::Break
            }
            Token::Continue => {
                self.bump();
                StmtKind::Continue
            }
            Token::Let => {
                self.bump();
                let var = self.var_ident("a variable `$name` after `let`")?;
                let ty = if self.eat(Token::Colon) {
                    let Some((t, n, _)) = self.scan_type(0, true)? else {
                        return Err(self.unexpected("a type after `:`"));
                    };
                    Some(self.consume_type(t, n)?)
                } else {
                    None
                };
                let value = if self.eat(Token::Assign) {
                    Some(self.expr()?)
                } else {
                    None
                };
                StmtKind::Let { var, ty, value }
            }
            // `_ = expr`: the value is discarded on purpose.
            Token::Ident if self.peek_n(1).0 == Token::Assign && self.peek_text() == "_" => {
                self.bump();
                self.bump();
                StmtKind::Expr(self.expr()?)
            }
            _ => {
                let target = self.expr()?;
                let op = match self.peek() {
                    Token::Assign => Some(None),
                    t => compound_op(t).map(Some),
                };
                match op {
                    None => StmtKind::Expr(target),
                    Some(op) => {
                        let (_, op_span) = self.bump();
                        let value = self.expr()?;
                        match target.kind {
                            ExprKind::Var(name) => StmtKind::AssignVar {
                                var: Ident {
                                    name,
                                    span: target.span,
                                },
                                op,
                                value,
                            },
                            ExprKind::Map { .. } => StmtKind::AssignMap {
                                map: target,
                                op,
                                value,
                            },
                            ExprKind::TupleIndex { .. } | ExprKind::Field { .. } => {
                                return Err(Diagnostic::error(
                                    "cannot assign to a field or a tuple element",
                                    target.span,
                                    "struct fields, records and tuples are read-only",
                                )
                                .with_note("the assignment is here", op_span, "")
                                .with_help(
                                    "assign a whole new one to the variable or map, e.g. \
                                     `$r = (a=2, b=$r.b)`",
                                ));
                            }
                            _ => {
                                return Err(Diagnostic::error(
                                    "cannot assign to this expression",
                                    target.span,
                                    "not a variable or map",
                                )
                                .with_note("the assignment is here", op_span, "")
                                .with_help("assign to a `$variable` or an `@map[key]`"));
                            }
                        }
                    }
                }
            }
        };
        Ok(Stmt {
            kind,
            span: start.to(Span::new(self.prev_end, self.prev_end)),
        })
    }

    fn var_ident(&mut self, expected: &str) -> PResult<Ident> {
        let (tok, span) = self.peek_n(0);
        if tok != Token::Var {
            return Err(self.unexpected(expected));
        }
        self.bump();
        Ok(Ident {
            name: self.text(span)[1..].to_string(),
            span,
        })
    }

    fn if_stmt(&mut self) -> PResult<Stmt> {
        let parts = self.if_parts()?;
        Ok(self.if_into_stmt(parts))
    }

    /// `if COND { ... } [else if ... | else { ... }]`, with the last statement of each
    /// branch kept aside: the parts of an `if` statement and of an `if` expression alike.
    fn if_parts(&mut self) -> PResult<IfParts> {
        let start = self.bump().1; // `if`
        self.enter(start)?;
        // `if comptime COND`: decided when compiling (see sema/meta.rs); the condition is
        // wrapped in a `comptime(COND)` call the checker recognizes.
        let comptime = self.peek() == Token::Ident && self.peek_text() == "comptime";
        let keyword = comptime.then(|| self.bump().1);
        let mut cond = self.expr()?;
        if let Some(kw) = keyword {
            let span = kw.to(cond.span);
            cond = self.call_expr("comptime", vec![cond], span);
        }
        let then = self.block_parts()?;
        let otherwise = if self.eat(Token::Else) {
            if self.peek() == Token::If {
                Some(Else::If(Box::new(self.if_parts()?)))
            } else {
                let (block, tail) = self.block_parts()?;
                Some(Else::Block(block, tail))
            }
        } else {
            None
        };
        self.depth -= 1;
        Ok(IfParts {
            span: start.to(Span::new(self.prev_end, self.prev_end)),
            comptime,
            cond,
            then,
            otherwise,
        })
    }

    /// An `if` statement: each branch's last statement back in its block.
    fn if_into_stmt(&mut self, parts: IfParts) -> Stmt {
        let IfParts {
            span,
            cond,
            then: (mut then, tail),
            otherwise,
            ..
        } = parts;
        if let Some(t) = tail {
            then.stmts.push(self.tail_stmt(t));
        }
        let otherwise = otherwise.map(|o| match o {
            Else::Block(mut b, tail) => {
                if let Some(t) = tail {
                    b.stmts.push(self.tail_stmt(t));
                }
                b
            }
            Else::If(nested) => {
                let nested = self.if_into_stmt(*nested);
                Block {
                    span: nested.span,
                    stmts: vec![nested],
                }
            }
        });
        Stmt {
            kind: StmtKind::If {
                cond,
                then,
                otherwise,
            },
            span,
        }
    }

    /// An `if` used as a value: `cond ? { then } : { else }`, each branch a block
    /// expression whose value is its last expression. Without `else` the false branch is
    /// an empty block (no value: the checker refuses it where a value is needed).
    fn if_into_expr(&mut self, parts: IfParts) -> Expr {
        let IfParts {
            span,
            cond,
            then: (then, tail),
            otherwise,
            ..
        } = parts;
        let then_span = then.span;
        let value = tail.map(|t| Box::new(self.tail_value(t)));
        let then = self.mk(ExprKind::Block { block: then, value }, then_span);
        let otherwise = match otherwise {
            Some(Else::Block(block, tail)) => {
                let value = tail.map(|t| Box::new(self.tail_value(t)));
                let s = block.span;
                self.mk(ExprKind::Block { block, value }, s)
            }
            Some(Else::If(nested)) => self.if_into_expr(*nested),
            None => {
                let at = Span::new(then_span.end as usize, then_span.end as usize);
                let block = Block {
                    stmts: Vec::new(),
                    span: at,
                };
                self.mk(ExprKind::Block { block, value: None }, at)
            }
        };
        self.mk(
            ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            },
            span,
        )
    }

    fn for_stmt(&mut self) -> PResult<Stmt> {
        let start = self.bump().1; // `for`
        // Upstream accepts `for $x : ... { }` without the parentheses too.
        let parens = self.eat(Token::LParen);
        let var = self.var_ident("a loop variable `$name`")?;
        self.expect(Token::Colon, "`:` after the loop variable")?;
        let close = if parens { Token::RParen } else { Token::LBrace };
        let kind = if self.peek() == Token::Map && self.peek_n(1).0 == close {
            let map = self.primary()?;
            if parens {
                self.expect(Token::RParen, "`)` after the map")?;
            }
            let body = self.block()?;
            StmtKind::ForMap { var, map, body }
        } else {
            let first = self.unary()?;
            self.expect(Token::DotDot, "`..` between the range's start and end")?;
            let end = self.unary()?;
            if parens {
                self.expect(Token::RParen, "`)` after the range")?;
            }
            let body = self.block()?;
            StmtKind::ForRange {
                var,
                start: first,
                end,
                body,
            }
        };
        Ok(Stmt {
            kind,
            span: start.to(Span::new(self.prev_end, self.prev_end)),
        })
    }

    // ---- expressions ----

    /// Parses an expression.
    fn expr(&mut self) -> PResult<Expr> {
        let s = self.peek_span();
        self.enter(s)?;
        let r = self.ternary();
        self.depth -= 1;
        r
    }

    fn ternary(&mut self) -> PResult<Expr> {
        let cond = self.binary(1)?;
        if self.peek() != Token::Question {
            return Ok(cond);
        }
        self.bump();
        if self.eat(Token::Colon) {
            let otherwise = self.expr()?;
            return Ok(self.short_conditional(cond, otherwise));
        }
        let then = self.expr()?;
        self.expect(Token::Colon, "`:` in the conditional expression")?;
        let otherwise = self.expr()?;
        let span = cond.span.to(otherwise.span);
        Ok(self.mk(
            ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            },
            span,
        ))
    }

    /// `a ?: b`: `a` when it is true, else `b`, with `a` evaluated once: `a ? a : b`
    /// when `a` has no effects, else `{ let $t = a; $t ? $t : b }`.
    fn short_conditional(&mut self, cond: Expr, otherwise: Expr) -> Expr {
        let span = cond.span.to(otherwise.span);
        let at = cond.span;
        let ternary = |this: &mut Self, cond, then| {
            let kind = ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            };
            this.mk(kind, span)
        };
        if pure_value(&cond) {
            let mut then = cond.clone();
            crate::macros::renumber(&mut then, &mut self.next_id);
            return ternary(self, cond, then);
        }
        let name = format!("__cond{}", self.next_id);
        let c = self.mk(ExprKind::Var(name.clone()), at);
        let then = self.mk(ExprKind::Var(name.clone()), at);
        let value = ternary(self, c, then);
        let bind = Stmt {
            kind: StmtKind::Let {
                var: Ident { name, span: at },
                ty: None,
                value: Some(cond),
            },
            span: at,
        };
        let block = Block {
            stmts: vec![bind],
            span,
        };
        self.mk(
            ExprKind::Block {
                block,
                value: Some(Box::new(value)),
            },
            span,
        )
    }

    fn binary(&mut self, min: u8) -> PResult<Expr> {
        let entry_depth = self.depth;
        let r = self.binary_chain(min);
        self.depth = entry_depth;
        r
    }

    fn binary_chain(&mut self, min: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let tok = self.peek();
            if tok == Token::Slash && self.stop_at_slash {
                break;
            }
            let Some(op) = binop(tok) else { break };
            let prec = op.precedence();
            if prec < min {
                break;
            }
            let op_span = self.bump().1;
            self.enter(op_span)?;
            let rhs = self.binary(prec + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = self.mk(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            );
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let (tok, start) = self.peek_n(0);
        let op = match tok {
            Token::Bang => Some(UnOp::Not),
            Token::Tilde => Some(UnOp::BitNot),
            Token::Minus => Some(UnOp::Neg),
            Token::Star => Some(UnOp::Deref),
            Token::Amp => Some(UnOp::AddrOf),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            self.enter(start)?;
            let e = self.unary();
            self.depth -= 1;
            let e = e?;
            // To the operand's last token: a closing parenthesis is part of it.
            let span = start.to(Span::new(self.prev_end, self.prev_end));
            return Ok(self.mk(
                ExprKind::Unary {
                    op,
                    expr: Box::new(e),
                },
                span,
            ));
        }
        if matches!(tok, Token::PlusPlus | Token::MinusMinus) {
            self.bump();
            self.enter(start)?;
            let target = self.unary();
            self.depth -= 1;
            let target = target?;
            check_incdec_target(&target, tok)?;
            let span = start.to(Span::new(self.prev_end, self.prev_end));
            return Ok(self.mk(
                ExprKind::IncDec {
                    increment: tok == Token::PlusPlus,
                    prefix: true,
                    target: Box::new(target),
                },
                span,
            ));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let entry_depth = self.depth;
        let r = self.postfix_chain();
        self.depth = entry_depth;
        r
    }

    fn postfix_chain(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            let s = self.peek_span();
            if matches!(
                self.peek(),
                Token::Dot | Token::Arrow | Token::LBracket | Token::PlusPlus | Token::MinusMinus
            ) {
                self.enter(s)?;
            }
            match self.peek() {
                Token::Dot | Token::Arrow => {
                    let arrow = self.bump().0 == Token::Arrow;
                    let (tok, span) = self.peek_n(0);
                    match tok {
                        Token::Int if !arrow => {
                            self.bump();
                            let index = self.text(span).parse::<u32>().map_err(|_| {
                                Diagnostic::error(
                                    "invalid tuple index",
                                    span,
                                    "expected a plain decimal index such as `0`",
                                )
                            })?;
                            let s = e.span.to(span);
                            e = self.mk(
                                ExprKind::TupleIndex {
                                    expr: Box::new(e),
                                    index,
                                },
                                s,
                            );
                        }
                        Token::Ident
                        | Token::If
                        | Token::Else
                        | Token::For
                        | Token::While
                        | Token::Return
                        | Token::Break
                        | Token::Continue
                        | Token::Let
                        | Token::Unroll
                        | Token::True
                        | Token::False => {
                            self.bump();
                            let field = Ident {
                                name: self.text(span).to_string(),
                                span,
                            };
                            let s = e.span.to(span);
                            // A field of a record literal whose fields have no effects
                            // is that field's value (`config().max_strlen` need not build
                            // the whole record on the BPF stack).
                            if let ExprKind::Record(fields) = &mut e.kind
                                && !arrow
                                && pure_value_fields(fields)
                                && let Some(i) =
                                    fields.iter().position(|f| f.name.name == field.name)
                            {
                                e = fields.swap_remove(i).value;
                                continue;
                            }
                            e = self.mk(
                                ExprKind::Field {
                                    expr: Box::new(e),
                                    field,
                                    arrow,
                                },
                                s,
                            );
                        }
                        _ => return Err(self.unexpected("a field name")),
                    }
                }
                Token::LBracket => {
                    self.bump();
                    let saved = self.stop_at_slash;
                    self.stop_at_slash = false;
                    let index = self.expr();
                    self.stop_at_slash = saved;
                    let index = index?;
                    let end = self.expect(Token::RBracket, "`]` after the index")?;
                    let s = e.span.to(end);
                    e = self.mk(
                        ExprKind::Index {
                            expr: Box::new(e),
                            index: Box::new(index),
                        },
                        s,
                    );
                }
                tok @ (Token::PlusPlus | Token::MinusMinus) => {
                    if !matches!(e.kind, ExprKind::Var(_) | ExprKind::Map { .. }) {
                        break;
                    }
                    let end = self.bump().1;
                    let s = e.span.to(end);
                    e = self.mk(
                        ExprKind::IncDec {
                            increment: tok == Token::PlusPlus,
                            prefix: false,
                            target: Box::new(e),
                        },
                        s,
                    );
                }
                _ => break,
            }
        }
        Ok(e)
    }

    /// A comma-separated list up to `close`, with `/` as an operator again.
    fn list(&mut self, close: Token, what: &str) -> PResult<(Vec<Expr>, Span)> {
        let saved = self.stop_at_slash;
        self.stop_at_slash = false;
        let r = self.list_inner(close, what);
        self.stop_at_slash = saved;
        r
    }

    fn list_inner(&mut self, close: Token, what: &str) -> PResult<(Vec<Expr>, Span)> {
        let mut items = Vec::new();
        if self.peek() == close {
            return Ok((items, self.bump().1));
        }
        loop {
            items.push(self.expr()?);
            if self.eat(Token::Comma) {
                if self.peek() == close {
                    return Ok((items, self.bump().1));
                }
                continue;
            }
            let end = self.expect(close, what)?;
            return Ok((items, end));
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let (tok, span) = self.peek_n(0);
        let text = self.text(span);
        let kind = match tok {
            Token::Int => {
                self.bump();
                let v = parse_int(text)
                    .map_err(|m| Diagnostic::error(m, span, "invalid integer literal"))?;
                ExprKind::Int(v)
            }
            Token::Str => {
                self.bump();
                ExprKind::Str(self.string_bytes(span)?)
            }
            Token::True | Token::False => {
                self.bump();
                ExprKind::Bool(tok == Token::True)
            }
            Token::Var => {
                self.bump();
                ExprKind::Var(text[1..].to_string())
            }
            Token::Positional => {
                self.bump();
                let n = text[1..].parse::<u32>().map_err(|_| {
                    Diagnostic::error("positional parameter number too large", span, "here")
                })?;
                ExprKind::Positional(n)
            }
            Token::ParamCount => {
                self.bump();
                ExprKind::ParamCount
            }
            Token::Map => {
                self.bump();
                let name = text[1..].to_string();
                if self.peek() == Token::LBracket {
                    self.bump();
                    let (keys, end) = self.list(Token::RBracket, "`,` or `]` after the map key")?;
                    if keys.is_empty() {
                        return Err(Diagnostic::error(
                            "empty map key",
                            span.to(end),
                            "`[]` needs at least one key",
                        )
                        .with_help(format!("write `@{name}` for a map without keys")));
                    }
                    let s = span.to(end);
                    return Ok(self.mk(ExprKind::Map { name, keys }, s));
                }
                ExprKind::Map {
                    name,
                    keys: Vec::new(),
                }
            }
            Token::Ident if text == "typeof" && self.peek_n(1).0 == Token::LParen => {
                // A type as a value: a macro's type argument (`m(typeof(uint8 *))`).
                let Some((ty, n, _)) = self.scan_type(0, true)? else {
                    return Err(self.unexpected("`typeof(TYPE)` or `typeof(EXPR)`"));
                };
                let ty = self.consume_type(ty, n)?;
                let span = ty.span;
                return Ok(self.mk(ExprKind::Type(ty), span));
            }
            Token::Ident => {
                self.bump();
                if self.peek() == Token::LParen {
                    self.bump();
                    let (args, end) = if matches!(text, "sizeof" | "offsetof" | "typeinfo") {
                        self.type_call_args()?
                    } else if text == "container_of" {
                        self.container_of_args()?
                    } else {
                        self.list(Token::RParen, "`,` or `)` in the argument list")?
                    };
                    if task_alias(text).is_some() {
                        return self.task_alias_call(text, args, span.to(end));
                    }
                    if let Some(e) = self.stdlib_call(text, &args, span.to(end)) {
                        return Ok(e);
                    }
                    if text == "config" && args.is_empty() {
                        let config = self.config.clone();
                        return Ok(self.config_record(config.as_ref(), span.to(end)));
                    }
                    // `pid()`, `comm()`: upstream's standard library spells every builtin
                    // as a call too.
                    if args.is_empty()
                        && crate::sema::builtin(text).is_some()
                        && !crate::sema::FUNCTIONS.contains(&text)
                    {
                        return Ok(self.mk(ExprKind::Ident(text.to_string()), span.to(end)));
                    }
                    let name = Ident {
                        name: text.to_string(),
                        span,
                    };
                    return Ok(self.mk(ExprKind::Call { name, args }, span.to(end)));
                }
                if task_alias(text).is_some() && !self.defines.iter().any(|d| d.name == text) {
                    return self.task_alias_call(text, Vec::new(), span);
                }
                if let Some(d) = self.defines.iter().rev().find(|d| d.name == text) {
                    match &d.value {
                        crate::preproc::DefineValue::Int(v) => ExprKind::Int(*v),
                        crate::preproc::DefineValue::Str(b) => ExprKind::Str(b.clone()),
                    }
                } else if matches!(text, "config" | "__builtin_config") {
                    let config = self.config.clone();
                    return Ok(self.config_record(config.as_ref(), span));
                } else {
                    // `__builtin_pid` is upstream's name for the builtin itself, which
                    // `pid` and `pid()` stand for.
                    let bare = text
                        .strip_prefix("__builtin_")
                        .filter(|b| crate::sema::builtin(b).is_some());
                    ExprKind::Ident(bare.unwrap_or(text).to_string())
                }
            }
            Token::LParen => return self.paren(),
            Token::LBrace => return self.block_expr(),
            Token::If => {
                let parts = self.if_parts()?;
                if parts.comptime {
                    return Err(Diagnostic::error(
                        "`if comptime` cannot be used as a value",
                        parts.span,
                        "an `if comptime` where a value is expected",
                    )
                    .with_help("use it as a statement, or a plain `if` expression"));
                }
                return Ok(self.if_into_expr(parts));
            }
            _ => return Err(self.unexpected("an expression")),
        };
        Ok(self.mk(kind, span))
    }

    /// `ppid`, `pcomm`, `leader_tid`, `leader_comm` (with or without `()`, of `curtask`
    /// or of the task given): the member path upstream's standard library names.
    fn task_alias_call(&mut self, name: &str, mut args: Vec<Expr>, span: Span) -> PResult<Expr> {
        let Some((link, member)) = task_alias(name) else {
            return Err(self.unexpected("an expression"));
        };
        if args.len() > 1 {
            return Err(Diagnostic::error(
                format!("`{name}()` takes at most 1 argument, {} given", args.len()),
                span,
                "a task pointer, or nothing for the current task",
            ));
        }
        let task = match args.pop() {
            Some(t) => t,
            None => self.mk(ExprKind::Ident("curtask".into()), span),
        };
        let mut path = task;
        for field in [link, member] {
            let kind = ExprKind::Field {
                expr: Box::new(path),
                field: Ident {
                    name: field.into(),
                    span,
                },
                arrow: true,
            };
            path = self.mk(kind, span);
        }
        Ok(path)
    }

    /// Upstream standard-library macros, written out: `assert(cond, msg)` is
    /// `{ if (!cond) { errorf("assert failed: %s", msg); exit(1); } }`, `is_err(p)` is
    /// `(int64)p < 0 && (int64)p >= -4095`. `None` for other calls (or other arities).
    fn stdlib_call(&mut self, name: &str, args: &[Expr], span: Span) -> Option<Expr> {
        match (name, args) {
            ("assert", [cond, msg]) => {
                let not = self.mk(
                    ExprKind::Unary {
                        op: UnOp::Not,
                        expr: Box::new(cond.clone()),
                    },
                    span,
                );
                let fmt = self.mk(ExprKind::Str(b"assert failed: %s".to_vec()), span);
                let report = self.call_expr("errorf", vec![fmt, msg.clone()], span);
                let one = self.mk(ExprKind::Int(1), span);
                let exit = self.call_expr("exit", vec![one], span);
                let then = Block {
                    stmts: [report, exit]
                        .into_iter()
                        .map(|e| Stmt {
                            kind: StmtKind::Expr(e),
                            span,
                        })
                        .collect(),
                    span,
                };
                let check = Stmt {
                    kind: StmtKind::If {
                        cond: not,
                        then,
                        otherwise: None,
                    },
                    span,
                };
                let block = Block {
                    stmts: vec![check],
                    span,
                };
                Some(self.mk(ExprKind::Block { block, value: None }, span))
            }
            ("is_err", [p]) => {
                // `p` appears twice: the copy gets ids of its own.
                let as_int = |this: &mut Self| {
                    let ty = TypeName::named("int64", span);
                    let mut operand = p.clone();
                    crate::macros::renumber(&mut operand, &mut this.next_id);
                    this.mk(
                        ExprKind::Cast {
                            ty,
                            expr: Box::new(operand),
                        },
                        span,
                    )
                };
                let a = as_int(self);
                let zero = self.mk(ExprKind::Int(0), span);
                let negative = self.binary_expr(BinOp::Lt, a, zero, span);
                let b = as_int(self);
                let limit = self.mk(ExprKind::Int(4095), span);
                let limit = self.mk(
                    ExprKind::Unary {
                        op: UnOp::Neg,
                        expr: Box::new(limit),
                    },
                    span,
                );
                let in_range = self.binary_expr(BinOp::Ge, b, limit, span);
                Some(self.binary_expr(BinOp::LogAnd, negative, in_range, span))
            }
            (
                "find",
                [
                    map @ Expr {
                        kind: ExprKind::Map { keys, .. },
                        ..
                    },
                    key,
                    result,
                ],
            ) if keys.is_empty() && matches!(result.kind, ExprKind::Var(_)) => {
                Some(self.find_call(map, key, result, span))
            }
            (
                "container_of",
                [
                    ptr,
                    Expr {
                        kind: ExprKind::Type(ty),
                        ..
                    },
                    member,
                ],
            ) if ty.pointer == 0 && ty.array.is_empty() => {
                // `(type *)((uint64)ptr - offsetof(type, member))`.
                let ptr = self.mk(
                    ExprKind::Cast {
                        ty: TypeName::named("uint64", span),
                        expr: Box::new(ptr.clone()),
                    },
                    span,
                );
                let base = self.mk(ExprKind::Type(ty.clone()), ty.span);
                let offset = self.call_expr("offsetof", vec![base, member.clone()], span);
                let address = self.binary_expr(BinOp::Sub, ptr, offset, span);
                let mut to = ty.clone();
                to.pointer = 1;
                to.span = span;
                Some(self.mk(
                    ExprKind::Cast {
                        ty: to,
                        expr: Box::new(address),
                    },
                    span,
                ))
            }
            _ => None,
        }
    }

    /// `find(@m, key, $v)`, written out as
    /// `{ let $k = key; let $hit = has_key(@m, $k); if ($hit) { $v = @m[$k]; } $hit }`
    /// (the key is evaluated once; `$v` is left alone on a miss).
    fn find_call(&mut self, map: &Expr, key: &Expr, result: &Expr, span: Span) -> Expr {
        let ExprKind::Var(out) = &result.kind else {
            unreachable!("find_call takes a variable")
        };
        let ExprKind::Map { name: map_name, .. } = &map.kind else {
            unreachable!("find_call takes a map")
        };
        let k = format!("__find_key{}", self.next_id);
        let hit = format!("__find_hit{}", self.next_id);
        let var = |this: &mut Self, name: &str| this.mk(ExprKind::Var(name.to_string()), span);
        let ident = |name: &str| Ident {
            name: name.to_string(),
            span,
        };
        let stmt = |kind| Stmt { kind, span };
        // A key without effects is written twice (a temporary would hold stack bytes for
        // the whole probe); any other is evaluated once, into a variable.
        let pure = pure_value(key);
        let key_use = |this: &mut Self| {
            if pure {
                let mut copy = key.clone();
                crate::macros::renumber(&mut copy, &mut this.next_id);
                copy
            } else {
                var(this, &k)
            }
        };
        let key_var = key_use(self);
        let lookup = self.call_expr("has_key", vec![map.clone(), key_var], span);
        let key_var = key_use(self);
        let read = self.mk(
            ExprKind::Map {
                name: map_name.clone(),
                keys: vec![key_var],
            },
            map.span,
        );
        let store = Block {
            stmts: vec![stmt(StmtKind::AssignVar {
                var: Ident {
                    name: out.clone(),
                    span: result.span,
                },
                op: None,
                value: read,
            })],
            span,
        };
        let cond = var(self, &hit);
        let value = var(self, &hit);
        let mut stmts = Vec::new();
        if !pure {
            stmts.push(stmt(StmtKind::Let {
                var: ident(&k),
                ty: None,
                value: Some(key.clone()),
            }));
        }
        stmts.extend([
            stmt(StmtKind::Let {
                var: ident(&hit),
                ty: None,
                value: Some(lookup),
            }),
            stmt(StmtKind::If {
                cond,
                then: store,
                otherwise: None,
            }),
        ]);
        let block = Block { stmts, span };
        self.mk(
            ExprKind::Block {
                block,
                value: Some(Box::new(value)),
            },
            span,
        )
    }

    fn call_expr(&mut self, name: &str, args: Vec<Expr>, span: Span) -> Expr {
        let name = Ident {
            name: name.into(),
            span,
        };
        self.mk(ExprKind::Call { name, args }, span)
    }

    fn binary_expr(&mut self, op: BinOp, lhs: Expr, rhs: Expr, span: Span) -> Expr {
        let kind = ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        self.mk(kind, span)
    }

    /// `(` starts a cast, a tuple or a parenthesized expression.
    fn paren(&mut self) -> PResult<Expr> {
        let open = self.peek_span();
        if let Some(ty) = self.try_cast_type()? {
            self.enter(open)?;
            let operand = self.unary();
            self.depth -= 1;
            let operand = operand?;
            let span = open.to(operand.span);
            return Ok(self.mk(
                ExprKind::Cast {
                    ty,
                    expr: Box::new(operand),
                },
                span,
            ));
        }
        self.bump();
        let saved = self.stop_at_slash;
        self.stop_at_slash = false;
        let r = self.paren_rest(open);
        self.stop_at_slash = saved;
        r
    }

    fn paren_rest(&mut self, open: Span) -> PResult<Expr> {
        if self.peek() == Token::RParen {
            let end = self.bump().1;
            return Ok(self.mk(ExprKind::Tuple(Vec::new()), open.to(end)));
        }
        // `(name=...`: a record (`==` is a different token, so `(a == 1)` stays a
        // comparison).
        if self.peek() == Token::Ident && self.peek_n(1).0 == Token::Assign {
            return self.record_rest(open);
        }
        let first = self.expr()?;
        if self.peek() == Token::Comma {
            self.bump();
            let (mut rest, end) = self.list(Token::RParen, "`,` or `)` in the tuple")?;
            rest.insert(0, first);
            return Ok(self.mk(ExprKind::Tuple(rest), open.to(end)));
        }
        self.expect(Token::RParen, "`)`")?;
        Ok(first)
    }

    /// The fields of a record literal after its `(`, through the closing `)`.
    fn record_rest(&mut self, open: Span) -> PResult<Expr> {
        let mut fields = Vec::new();
        loop {
            let (tok, span) = self.peek_n(0);
            if tok != Token::Ident {
                return Err(Diagnostic::error(
                    "expected a field name in the record",
                    span,
                    "expected `name=value`",
                )
                .with_help("every element of a record is named: `(a=1, b=\"x\")`"));
            }
            self.bump();
            let name = Ident {
                name: self.text(span).to_string(),
                span,
            };
            self.expect(Token::Assign, "`=` after the field name")?;
            let value = self.expr()?;
            fields.push(RecordField { name, value });
            if self.peek() == Token::Comma {
                self.bump();
                if self.peek() != Token::RParen {
                    continue;
                }
            }
            let end = self.expect(Token::RParen, "`,` or `)` in the record")?;
            return Ok(self.mk(ExprKind::Record(fields), open.to(end)));
        }
    }

    /// If the tokens after `(` spell a type and `)`, consumes them and returns the type.
    fn try_cast_type(&mut self) -> PResult<Option<TypeName>> {
        let Some((ty, n, known)) = self.scan_type(1, false)? else {
            return Ok(None);
        };
        let after = self.peek_n(n + 1).0;
        // `(t)v` with `t` a macro parameter; an operator after it (`(x) - 1`) stays
        // arithmetic.
        let type_param = ty.pointer == 0
            && ty.array.is_empty()
            && self.type_params.contains(&ty.base)
            && matches!(
                after,
                Token::Ident | Token::Var | Token::Map | Token::Int | Token::Str | Token::LParen
            );
        if self.peek_n(n).0 != Token::RParen || !(known || ty.pointer > 0 || type_param) {
            return Ok(None);
        }
        // `(x) - 1` with x a type name is still a cast in C; but `(pid)` alone is grouping,
        // which `known` already decides. A cast must be followed by an operand.
        if matches!(
            after,
            Token::RParen | Token::Semi | Token::Comma | Token::RBrace | Token::Eof
        ) {
            return Ok(None);
        }
        let open = self.bump().1;
        let ty = self.consume_type(ty, n - 1)?;
        self.expect(Token::RParen, "`)` after the type")?;
        Ok(Some(TypeName {
            span: open.to(ty.span),
            ..ty
        }))
    }

    /// The type spelled by the tokens from `peek_n(first)` on, the index of the token
    /// after it, and whether its name is a known type word (a scalar, `*_t`, `struct`…);
    /// nothing is consumed. `any_name`: every identifier may name a type (as in
    /// `sizeof(T)`, where upstream reads a bare identifier as a type).
    fn scan_type(
        &mut self,
        first: usize,
        any_name: bool,
    ) -> PResult<Option<(TypeName, usize, bool)>> {
        let (t1, s1) = self.peek_n(first);
        if t1 != Token::Ident {
            return Ok(None);
        }
        let w1 = self.text(s1);
        let mut n = first + 1;
        let mut base = w1.to_string();
        let mut end = s1;
        let is_typeof = w1 == "typeof" && self.peek_n(first + 1).0 == Token::LParen;
        if is_typeof {
            // Up to the matching `)`; `consume_type` parses what is inside.
            let mut depth = 0usize;
            loop {
                let (t, s) = self.peek_n(n);
                match t {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    Token::Eof => return Ok(None),
                    _ => {}
                }
                n += 1;
                end = s;
                if depth == 0 {
                    break;
                }
            }
        } else if matches!(w1, "struct" | "union" | "enum") {
            let (t2, s2) = self.peek_n(first + 1);
            if t2 != Token::Ident {
                return Ok(None);
            }
            base = format!("{w1} {}", self.text(s2));
            end = s2;
            n = first + 2;
        } else if w1 == "unsigned" || w1 == "signed" {
            // `unsigned int`, `unsigned long long`...
            while self.peek_n(n).0 == Token::Ident {
                let s = self.peek_n(n).1;
                base.push(' ');
                base.push_str(self.text(s));
                end = s;
                n += 1;
            }
        }
        let known = SCALAR_TYPES.contains(&w1)
            || w1.ends_with("_t")
            || self.typedefs.iter().any(|(n, _)| n == w1)
            || is_typeof
            || matches!(w1, "struct" | "union" | "enum");
        let array_ok = known || any_name;
        let mut pointer = 0u8;
        while self.peek_n(n).0 == Token::Star {
            pointer = pointer.saturating_add(1);
            end = self.peek_n(n).1;
            n += 1;
        }
        // `[N]` suffixes, each wrapping the type before it as upstream reads them
        // (`int32[3][2]` is two `int32[3]`s); the last may be `[]`, its length taken from
        // what is cast.
        let mut array = Vec::new();
        while array_ok && self.peek_n(n).0 == Token::LBracket {
            let (ti, si) = self.peek_n(n + 1);
            if array.last() == Some(&None) && matches!(ti, Token::Int | Token::RBracket) {
                return Err(Diagnostic::error(
                    "only the last array length may be left out",
                    self.peek_n(n - 2).1.to(self.peek_n(n - 1).1),
                    "this `[]` needs a length",
                )
                .with_help(
                    "each `[N]` wraps the type before it (`int8[4][2]` is two `int8[4]`s, as \
                     upstream reads it): only the last, the outermost, takes its length from \
                     the value cast",
                ));
            }
            if ti == Token::Int && self.peek_n(n + 2).0 == Token::RBracket {
                array
                    .push(Some(parse_int(self.text(si)).map_err(|m| {
                        Diagnostic::error(m, si, "invalid array length")
                    })?));
                end = self.peek_n(n + 2).1;
                n += 3;
            } else if ti == Token::RBracket {
                array.push(None);
                end = si;
                n += 2;
            } else {
                break;
            }
        }
        let mut ty = TypeName {
            base,
            pointer,
            array,
            of: None,
            span: s1.to(end),
        };
        self.expand_typedef(&mut ty)?;
        Ok(Some((ty, n, known)))
    }

    /// Consumes the `n` tokens of `scanned`, the type [`Self::scan_type`] saw at
    /// `peek_n(0)`; a `typeof(...)` in it is parsed here: a type inside is folded in,
    /// anything else is an expression whose type it names.
    fn consume_type(&mut self, scanned: TypeName, n: usize) -> PResult<TypeName> {
        if scanned.base != "typeof" || self.peek_n(1).0 != Token::LParen {
            for _ in 0..n {
                self.bump();
            }
            return Ok(scanned);
        }
        let start = self.bump().1;
        self.bump();
        let inner = match self.scan_type(0, true)? {
            Some((t, m, _)) if self.peek_n(m).0 == Token::RParen && self.names_type(&t) => {
                Some(self.consume_type(t, m)?)
            }
            _ => None,
        };
        let mut ty = match inner {
            Some(t) => t,
            None => {
                let e = self.expr()?;
                TypeName {
                    base: "typeof".into(),
                    pointer: 0,
                    array: Vec::new(),
                    of: Some(Box::new(e)),
                    span: start,
                }
            }
        };
        let mut end = self.expect(Token::RParen, "`)` after the `typeof` argument")?;
        for _ in 0..scanned.pointer {
            end = self.bump().1;
        }
        for len in &scanned.array {
            for _ in 0..if len.is_some() { 3 } else { 2 } {
                end = self.bump().1;
            }
        }
        ty.pointer = ty.pointer.saturating_add(scanned.pointer);
        // `typeof(int8[2])[4]`: four of the inner type.
        ty.array.extend(scanned.array);
        ty.span = start.to(end);
        Ok(ty)
    }

    /// Whether a type scanned where a type or an expression may stand (`typeof(x)`,
    /// `sizeof(x)`) is a type: a known type word, a pointer or array, or a bare name
    /// that is not a builtin or an enumerator (those alone are values, as upstream
    /// reads them).
    fn names_type(&self, t: &TypeName) -> bool {
        let bare = t.pointer == 0 && t.array.is_empty() && !t.base.contains(' ');
        let known =
            SCALAR_TYPES.contains(&t.base.as_str()) || t.base.ends_with("_t") || t.base == "typeof";
        !bare
            || known
            || crate::sema::builtin(&t.base).is_none() && !self.enumerators.contains(&t.base)
    }

    /// The arguments of `sizeof`/`offsetof` after `(`: the first may be a type.
    fn type_call_args(&mut self) -> PResult<(Vec<Expr>, Span)> {
        let what = "`,` or `)` in the argument list";
        let Some(ty) = self.type_argument()? else {
            return self.list(Token::RParen, what);
        };
        if self.eat(Token::Comma) {
            let (mut rest, end) = self.list(Token::RParen, what)?;
            rest.insert(0, ty);
            return Ok((rest, end));
        }
        let end = self.expect(Token::RParen, what)?;
        Ok((vec![ty], end))
    }

    /// The arguments of `container_of` after `(`: the second may be a type written bare
    /// (`struct S`) as well as `typeof(struct S)`.
    fn container_of_args(&mut self) -> PResult<(Vec<Expr>, Span)> {
        let what = "`,` or `)` in the argument list";
        if self.peek() == Token::RParen {
            let end = self.expect(Token::RParen, what)?;
            return Ok((Vec::new(), end));
        }
        let ptr = self.expr()?;
        if !self.eat(Token::Comma) {
            let end = self.expect(Token::RParen, what)?;
            return Ok((vec![ptr], end));
        }
        let mut args = vec![ptr];
        match self.type_argument()? {
            Some(ty) => args.push(ty),
            None => args.push(self.expr()?),
        }
        if self.eat(Token::Comma) {
            let (rest, end) = self.list(Token::RParen, what)?;
            args.extend(rest);
            return Ok((args, end));
        }
        let end = self.expect(Token::RParen, what)?;
        Ok((args, end))
    }

    /// The first argument of `sizeof`/`offsetof` when it is a type: at `peek_n(0)` a type
    /// followed by `)` or `,`; consumed.
    fn type_argument(&mut self) -> PResult<Option<Expr>> {
        let Some((ty, n, known)) = self.scan_type(0, true)? else {
            return Ok(None);
        };
        if !matches!(self.peek_n(n).0, Token::RParen | Token::Comma) {
            return Ok(None);
        }
        // A builtin's name alone is its value (`sizeof(curtask)` is 8, as bpftrace 0.17
        // reads it); any other bare name is a type, as upstream reads it.
        if !known && !self.names_type(&ty) {
            return Ok(None);
        }
        let ty = self.consume_type(ty, n)?;
        let span = ty.span;
        Ok(Some(self.mk(ExprKind::Type(ty), span)))
    }
}

fn binop(tok: Token) -> Option<BinOp> {
    Some(match tok {
        Token::OrOr => BinOp::LogOr,
        Token::AndAnd => BinOp::LogAnd,
        Token::Pipe => BinOp::BitOr,
        Token::Caret => BinOp::BitXor,
        Token::Amp => BinOp::BitAnd,
        Token::EqEq => BinOp::Eq,
        Token::Ne => BinOp::Ne,
        Token::Lt => BinOp::Lt,
        Token::Gt => BinOp::Gt,
        Token::Le => BinOp::Le,
        Token::Ge => BinOp::Ge,
        Token::Shl => BinOp::Shl,
        Token::Shr => BinOp::Shr,
        Token::Plus => BinOp::Add,
        Token::Minus => BinOp::Sub,
        Token::Star => BinOp::Mul,
        Token::Slash => BinOp::Div,
        Token::Percent => BinOp::Mod,
        _ => return None,
    })
}

fn compound_op(tok: Token) -> Option<BinOp> {
    Some(match tok {
        Token::PlusAssign => BinOp::Add,
        Token::MinusAssign => BinOp::Sub,
        Token::StarAssign => BinOp::Mul,
        Token::SlashAssign => BinOp::Div,
        Token::PercentAssign => BinOp::Mod,
        Token::AmpAssign => BinOp::BitAnd,
        Token::PipeAssign => BinOp::BitOr,
        Token::CaretAssign => BinOp::BitXor,
        Token::ShlAssign => BinOp::Shl,
        Token::ShrAssign => BinOp::Shr,
        _ => return None,
    })
}

fn check_incdec_target(target: &Expr, tok: Token) -> PResult<()> {
    if matches!(target.kind, ExprKind::Var(_) | ExprKind::Map { .. }) {
        return Ok(());
    }
    Err(Diagnostic::error(
        format!("{} needs a variable or a map", tok.describe()),
        target.span,
        "not a `$variable` or `@map`",
    ))
}

/// Splits an attach point at `:` outside double quotes, dropping the quotes.
fn split_colons(raw: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// Checks the number and form of an attach point's parts for its provider.
fn check_parts(
    provider: Provider,
    written: &str,
    mut parts: Vec<String>,
    span: Span,
) -> PResult<Vec<String>> {
    let (min, max, form) = match provider {
        Provider::Begin | Provider::End => (0, 0, written.to_string()),
        Provider::Tracepoint => (2, 2, format!("{written}:CATEGORY:EVENT")),
        Provider::Rawtracepoint => (1, 2, format!("{written}[:MODULE]:EVENT")),
        Provider::Kprobe | Provider::Kretprobe | Provider::Fentry | Provider::Fexit => {
            (1, 2, format!("{written}[:MODULE]:FUNCTION"))
        }
        Provider::Uprobe | Provider::Uretprobe => (1, 3, format!("{written}:PATH:FUNCTION")),
        Provider::Usdt => (1, 3, format!("{written}:PATH[:PROVIDER]:NAME")),
        Provider::Interval => (1, 2, format!("{written}:UNIT:N (UNIT is s, ms, us or hz)")),
        Provider::Profile => (1, 2, format!("{written}:UNIT:N (UNIT is hz, s, ms or us)")),
        Provider::Software | Provider::Hardware => (1, 2, format!("{written}:EVENT[:COUNT]")),
        Provider::SelfSignal => (2, 2, format!("{written}:signal:SIGUSR1")),
        Provider::Test | Provider::Bench => (1, 1, format!("{written}:NAME")),
        Provider::Iter => (1, 2, format!("{written}:TARGET[:pin]")),
        Provider::Watchpoint => (3, 3, format!("{written}:ADDRESS:LENGTH:MODE")),
    };
    // `usdt:BIN::NAME`: an empty provider is any provider (upstream).
    if provider == Provider::Usdt && parts.len() == 3 && parts[1].is_empty() {
        parts[1] = "*".into();
    }
    if parts.len() < min || parts.len() > max || parts.iter().any(|p| p.is_empty()) {
        let what = if parts.len() > max {
            "too many parts"
        } else {
            "missing parts"
        };
        return Err(Diagnostic::error(
            format!("invalid {} attach point: {what}", provider.name()),
            span,
            format!("expected `{form}`"),
        ));
    }
    if provider == Provider::SelfSignal && (parts[0] != "signal" || parts[1] != "SIGUSR1") {
        // Upstream's runtime delivers only SIGUSR1 to scripts.
        let (bad, want) = if parts[0] != "signal" {
            (&parts[0], "signal")
        } else {
            (&parts[1], "SIGUSR1")
        };
        return Err(Diagnostic::error(
            format!("invalid self attach point: `{bad}`"),
            span,
            format!("expected `{want}`"),
        )
        .with_help(format!("the only self probe is `{written}:signal:SIGUSR1`")));
    }
    if matches!(provider, Provider::Interval | Provider::Profile) {
        if parts.len() == 1 {
            parts.insert(0, String::new());
        }
        let unit = parts[0].as_str();
        let ok_unit = matches!(unit, "" | "s" | "ms" | "us" | "hz");
        if !ok_unit {
            let mut d = Diagnostic::error(
                format!("unknown {} unit `{unit}`", provider.name()),
                span,
                "the unit must be s, ms, us or hz",
            );
            if let Some(s) = nearest(unit, ["s", "ms", "us", "hz"]) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            return Err(d);
        }
        let value = &parts[1];
        if !value.starts_with('$') && parse_int(value).is_err() {
            return Err(Diagnostic::error(
                format!("invalid {} rate `{value}`", provider.name()),
                span,
                "expected a positive integer",
            ));
        }
    }
    if provider == Provider::Watchpoint {
        parts[2] = watchpoint_mode(&parts, span)?;
    }
    if matches!(provider, Provider::Software | Provider::Hardware) {
        let names: &[&str] = if provider == Provider::Software {
            SOFTWARE_EVENTS
        } else {
            HARDWARE_EVENTS
        };
        let event = parts[0].as_str();
        if !names.contains(&event) {
            let mut d = Diagnostic::error(
                format!("unknown {} event `{event}`", provider.name()),
                span,
                "not a perf event name",
            );
            d = match nearest(event, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("events: {}", names.join(", "))),
            };
            return Err(d);
        }
        if let Some(count) = parts.get(1)
            && !count.starts_with('$')
            && parse_int(count).is_err()
        {
            return Err(Diagnostic::error(
                format!("invalid {} count `{count}`", provider.name()),
                span,
                "expected a positive integer",
            ));
        }
    }
    Ok(parts)
}

/// Checks `watchpoint:ADDRESS:LENGTH:MODE` as upstream does (a non-zero address; 1, 2, 4
/// or 8 bytes; a mode of `r`, `w`, `x` without repeats that x86 can watch: `rw`, `w`
/// or `x`) and returns the mode in upstream's order (`wr` is `rw`).
fn watchpoint_mode(parts: &[String], span: Span) -> PResult<String> {
    let err = |m: String, label: &str| Err(Diagnostic::error(m, span, label.to_string()));
    match parse_int(&parts[0]) {
        Ok(0) => {
            return err(
                "watchpoint must be attached to a non-zero address".into(),
                "address 0",
            );
        }
        Ok(_) => {}
        Err(_) if parts[0].starts_with('$') => {}
        Err(_) => {
            return err(
                format!("invalid watchpoint address `{}`", parts[0]),
                "expected an address such as 0x10000000",
            );
        }
    }
    if !matches!(parse_int(&parts[1]), Ok(1 | 2 | 4 | 8)) {
        return err(
            "watchpoint length must be one of (1,2,4,8)".into(),
            "the bytes watched",
        );
    }
    let mut mode: Vec<char> = parts[2].chars().collect();
    mode.sort_unstable();
    if mode.iter().any(|c| !matches!(c, 'r' | 'w' | 'x')) {
        return err(
            "watchpoint mode must be combination of (r,w,x)".into(),
            "the accesses watched",
        );
    }
    if mode.windows(2).any(|w| w[0] == w[1]) {
        return err(
            "watchpoint modes may not be duplicated".into(),
            "a repeated mode",
        );
    }
    let mode: String = mode.into_iter().collect();
    if !matches!(mode.as_str(), "rw" | "w" | "x") {
        return Err(Diagnostic::error(
            format!("invalid watchpoint mode: {mode}"),
            span,
            "not a mode x86 can watch",
        )
        .with_help("supported modes: rw,w,x"));
    }
    Ok(mode)
}

/// The software event names (and aliases) of `software:` probes.
const SOFTWARE_EVENTS: &[&str] = &[
    "cpu-clock",
    "cpu",
    "task-clock",
    "page-faults",
    "faults",
    "context-switches",
    "cs",
    "cpu-migrations",
    "minor-faults",
    "major-faults",
    "alignment-faults",
    "emulation-faults",
    "dummy",
    "bpf-output",
];

/// The hardware event names (and aliases) of `hardware:` probes.
const HARDWARE_EVENTS: &[&str] = &[
    "cpu-cycles",
    "cycles",
    "instructions",
    "cache-references",
    "cache-misses",
    "branch-instructions",
    "branches",
    "branch-misses",
    "bus-cycles",
    "frontend-stalls",
    "backend-stalls",
    "ref-cycles",
];

/// Whether evaluating `e` twice is the same as once: literals, variables and tuples or
/// casts of them.
fn pure_value(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_) => true,
        ExprKind::Tuple(items) => items.iter().all(pure_value),
        ExprKind::Record(fields) => pure_value_fields(fields),
        ExprKind::Cast { expr, .. } => pure_value(expr),
        ExprKind::Unary {
            op: UnOp::Neg,
            expr,
        } => pure_value(expr),
        _ => false,
    }
}

/// Whether every field of a record literal is a [`pure_value`].
fn pure_value_fields(fields: &[RecordField]) -> bool {
    fields.iter().all(|r| pure_value(&r.value))
}

/// The `task_struct` link and member an upstream task alias reads (`ppid` is
/// `task.real_parent.pid`).
fn task_alias(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "ppid" => ("real_parent", "pid"),
        "pcomm" => ("real_parent", "comm"),
        "leader_tid" => ("group_leader", "pid"),
        "leader_comm" => ("group_leader", "comm"),
        _ => return None,
    })
}
