//! C definitions at the top of a script: `struct`/`union` members and `enum`
//! enumerators, laid out as the C compiler does (see [`crate::cdefs`]).

use super::{PResult, Parser};
use crate::cdefs::{CType, MemberDecl};
use crate::diag::Diagnostic;
use crate::lexer::Token;
use crate::span::Span;

impl<'a> Parser<'a> {
    /// `struct NAME { members } [;]` or `union NAME { ... }` (a forward declaration
    /// `struct NAME;` is skipped): laid out and added to `defs`.
    pub(super) fn c_definition(&mut self, defs: &mut crate::cdefs::CTypes) -> PResult<()> {
        let (_, kw) = self.bump();
        let (_, name_span) = self.bump();
        let name = format!("{} {}", self.text(kw), self.text(name_span));
        if self.eat(Token::Semi) {
            return Ok(());
        }
        self.c_body(kw, name, name_span, defs)?;
        self.eat(Token::Semi);
        Ok(())
    }

    /// The `{ members }` of struct or union `name` (`kw` is its keyword), laid out and
    /// added to `defs`; the members of anonymous struct and union members are the
    /// definition's own.
    fn c_body(
        &mut self,
        kw: Span,
        name: String,
        name_span: Span,
        defs: &mut crate::cdefs::CTypes,
    ) -> PResult<()> {
        let union = self.text(kw) == "union";
        self.expect(Token::LBrace, "`{` to start the definition")?;
        let mut members: Vec<MemberDecl> = Vec::new();
        while !self.eat(Token::RBrace) {
            members.extend(self.c_member(defs)?);
        }
        let attrs = self.c_attributes()?;
        if let Some(first) = defs.get(&name) {
            return Err(Diagnostic::error(
                format!("`{name}` is defined twice"),
                name_span,
                "second definition",
            )
            .with_note("the first", first.span, "defined here"));
        }
        let span = Span::new(kw.start as usize, name_span.end as usize);
        defs.inputs.push(crate::cdefs::LayoutInput {
            name: name.clone(),
            union,
            members: members.clone(),
            span,
            attrs,
        });
        let def = defs.layout_with(name, union, members, span, attrs);
        for (i, m) in def.members.iter().enumerate() {
            if let Some(first) = def.members[..i].iter().find(|f| f.name == m.name) {
                return Err(Diagnostic::error(
                    format!("`{}` has two members named `{}`", def.name, m.name),
                    m.span,
                    "second member of this name",
                )
                .with_note("the first", first.span, "declared here"));
            }
        }
        defs.structs.push(def);
        Ok(())
    }

    /// `__attribute__((packed))`, `__attribute__((aligned(N)))` (also `__packed__`,
    /// `__aligned__`, several in one list or in a row) after a definition's `}`.
    fn c_attributes(&mut self) -> PResult<crate::cdefs::Attributes> {
        let mut attrs = crate::cdefs::Attributes::default();
        loop {
            let (t, at) = self.peek_n(0);
            if t != Token::Ident || self.text(at) != "__attribute__" {
                break;
            }
            self.bump();
            self.expect(Token::LParen, "`((` after `__attribute__`")?;
            self.expect(Token::LParen, "`((` after `__attribute__`")?;
            loop {
                let (t, span) = self.bump();
                let word = self.text(span).trim_matches('_');
                match (t, word) {
                    (Token::Ident, "packed") => attrs.packed = true,
                    (Token::Ident, "aligned") => {
                        self.expect(Token::LParen, "`(` and the alignment")?;
                        let (t, n) = self.bump();
                        let value = (t == Token::Int)
                            .then(|| super::parse_int(self.text(n)).ok())
                            .flatten()
                            .filter(|v| v.is_power_of_two());
                        let Some(v) = value else {
                            return Err(Diagnostic::error(
                                "`aligned` needs a power of two",
                                n,
                                "not a power of two",
                            ));
                        };
                        attrs.aligned = Some(attrs.aligned.unwrap_or(1).max(v));
                        self.expect(Token::RParen, "`)` after the alignment")?;
                    }
                    _ => {
                        return Err(Diagnostic::error(
                            format!("the attribute `{}` is not supported", self.text(span)),
                            span,
                            "supported: packed, aligned(N)",
                        ));
                    }
                }
                if !self.eat(Token::Comma) {
                    break;
                }
            }
            self.expect(Token::RParen, "`))` to end the attribute")?;
            self.expect(Token::RParen, "`))` to end the attribute")?;
        }
        Ok(attrs)
    }

    /// A definition inside a struct (`struct [NAME] { ... }`, `enum [NAME] { ... }`
    /// after the keyword `kw`), added to `defs`: its tagged name (`struct <anon_N>`
    /// without a name) and the span naming it; `None` when no `{` follows.
    fn c_nested(
        &mut self,
        kw: Span,
        defs: &mut crate::cdefs::CTypes,
    ) -> PResult<Option<(String, Span)>> {
        let w = self.text(kw);
        let (t, tag) = self.peek_n(0);
        let named = t == Token::Ident && self.peek_n(1).0 == Token::LBrace;
        if t != Token::LBrace && !named {
            return Ok(None);
        }
        let (name, span) = if named {
            self.bump();
            (
                format!("{w} {}", self.text(tag)),
                Span::new(kw.start as usize, tag.end as usize),
            )
        } else {
            // Numbered when named, so that an outer one has a lower number than the
            // ones inside it (which are laid out first).
            let n = if w == "enum" {
                defs.enums.iter().filter(|e| e.is_anonymous()).count() as u32 + 1
            } else {
                self.anon_structs += 1;
                self.anon_structs
            };
            (format!("{w} <anon_{n}>"), kw)
        };
        if w == "enum" {
            self.c_enum_body(name.clone(), span, defs)?;
        } else {
            self.c_body(kw, name.clone(), span, defs)?;
        }
        Ok(Some((name, span)))
    }

    /// `typedef TYPE declarator [, declarator]* ;` at the top of a script (or in an
    /// imported header): each name stands for its type, in C definitions and wherever
    /// the script names a type (see [`Self::expand_typedef`]).
    pub(super) fn c_typedef(&mut self, defs: &mut crate::cdefs::CTypes) -> PResult<()> {
        self.bump(); // `typedef`
        for d in self.c_declaration(defs, true)? {
            let Some(name) = d.name else {
                return Err(Diagnostic::error(
                    "a typedef needs a name",
                    d.span,
                    "no name for this type",
                ));
            };
            if let Some((_, first)) = self.typedefs.iter().find(|(n, _)| *n == name)
                && *first != d.ty
            {
                return Err(Diagnostic::error(
                    format!("`{name}` is defined twice, as two different types"),
                    d.span,
                    "second definition",
                ));
            }
            self.typedefs.push((name, d.ty));
        }
        Ok(())
    }

    /// One member line of a C definition: `TYPE declarator [, declarator]* ;`, where a
    /// declarator is `*`s, a name and `[N]`s.
    fn c_member(&mut self, defs: &mut crate::cdefs::CTypes) -> PResult<Vec<MemberDecl>> {
        self.c_declaration(defs, false)
    }

    /// A member line, or with `typedef` the declarations of a typedef (whose types need
    /// no size: `typedef struct task_struct task_t;` names a kernel struct).
    fn c_declaration(
        &mut self,
        defs: &mut crate::cdefs::CTypes,
        typedef: bool,
    ) -> PResult<Vec<MemberDecl>> {
        let (tok, start) = self.peek_n(0);
        if tok != Token::Ident {
            return Err(self.unexpected("a member type or `}`"));
        }
        // The type's words; with no `*` after them, the last word is the member's name.
        let mut words: Vec<(&'a str, Span)> = Vec::new();
        let mut tagged = None;
        while self.peek() == Token::Ident {
            let (_, sp) = self.bump();
            let w = self.text(sp);
            if matches!(w, "const" | "volatile") {
                continue;
            }
            if matches!(w, "struct" | "union" | "enum") && words.is_empty() && tagged.is_none() {
                if let Some((name, nspan)) = self.c_nested(sp, defs)? {
                    if self.eat(Token::Semi) {
                        // `struct { ... };`: an anonymous member, whose members are the
                        // outer struct's; a tagged one declares only its type.
                        let anonymous = name.contains(" <anon_") && w != "enum";
                        return Ok(if anonymous {
                            vec![MemberDecl {
                                name: None,
                                ty: CType::Struct(name),
                                width: None,
                                span: nspan,
                            }]
                        } else {
                            Vec::new()
                        });
                    }
                    tagged = Some((name, nspan));
                    continue;
                }
                let (t, tag) = self.peek_n(0);
                if t != Token::Ident {
                    return Err(self.unexpected("a struct, union or enum name or `{`"));
                }
                self.bump();
                tagged = Some((
                    format!("{w} {}", self.text(tag)),
                    Span::new(sp.start as usize, tag.end as usize),
                ));
                continue;
            }
            words.push((w, sp));
        }
        if self.peek() == Token::LParen {
            let (_, sp) = self.peek_n(0);
            return Err(Diagnostic::error(
                "function pointer types are not built yet",
                sp,
                "a function pointer",
            )
            .with_help("declare it as `void *NAME;`"));
        }
        // `unsigned int : 3;` is an unnamed bitfield: every word is the type's.
        let ws: Vec<&str> = words.iter().map(|w| w.0).collect();
        let unnamed = self.peek() == Token::Colon
            && (tagged.is_some() && words.is_empty()
                || tagged.is_none() && CType::from_words(&ws).is_some());
        let mut first_name = None;
        if self.peek() != Token::Star && !unnamed {
            first_name = words.pop();
        }
        let (base, base_span) = match tagged {
            Some((t, sp)) if words.is_empty() => {
                if t.starts_with("enum ") {
                    let Some((id, e)) = defs.get_enum(&t) else {
                        return Err(Diagnostic::error(
                            format!("unknown member type `{t}`"),
                            sp,
                            "not defined above in the script",
                        )
                        .with_help(format!("define `{t}` before this struct")));
                    };
                    let size = e.size();
                    (CType::Enum { name: t, size, id }, sp)
                } else {
                    (CType::Struct(t), sp)
                }
            }
            Some((_, sp)) => {
                return Err(Diagnostic::error(
                    "unknown member type",
                    sp,
                    "a tagged type followed by more type words",
                ));
            }
            None => {
                let Some(last) = words.last() else {
                    return Err(Diagnostic::error(
                        "expected a member type before the name",
                        start,
                        "a member is `TYPE NAME;`",
                    ));
                };
                let sp = Span::new(words[0].1.start as usize, last.1.end as usize);
                let ws: Vec<&str> = words.iter().map(|w| w.0).collect();
                let named = match ws.as_slice() {
                    [one] => self.typedefs.iter().rev().find(|(n, _)| n == one),
                    _ => None,
                };
                match CType::from_words(&ws).or_else(|| named.map(|(_, t)| t.clone())) {
                    Some(t) => (t, sp),
                    None => {
                        return Err(Diagnostic::error(
                            format!("unknown member type `{}`", ws.join(" ")),
                            sp,
                            "not a C integer type, `void`, or a struct or union",
                        )
                        .with_help("integer types are e.g. `int`, `unsigned long`, `uint32_t`, `u8`, `size_t`, `bool`"));
                    }
                }
            }
        };
        let mut out = Vec::new();
        loop {
            let mut ty = base.clone();
            let name = match first_name.take() {
                Some(n) => Some(n),
                None if self.peek() == Token::Colon => None,
                None => {
                    while self.eat(Token::Star) {
                        ty = CType::Ptr(Box::new(ty));
                    }
                    if self.peek() == Token::LParen {
                        let (_, sp) = self.peek_n(0);
                        return Err(Diagnostic::error(
                            "function pointer members are not built yet",
                            sp,
                            "a function pointer",
                        )
                        .with_help("declare it as `void *NAME;`"));
                    }
                    let sp = self.expect(Token::Ident, "a member name")?;
                    Some((self.text(sp), sp))
                }
            };
            let mut dims = Vec::new();
            while self.eat(Token::LBracket) {
                let sp = self.expect(Token::Int, "an array length")?;
                let n = crate::lexer::parse_int(self.text(sp))
                    .map_err(|m| Diagnostic::error(m, sp, "not an array length"))?;
                dims.push(n);
                self.expect(Token::RBracket, "`]`")?;
            }
            for n in dims.into_iter().rev() {
                ty = CType::Array(Box::new(ty), n);
            }
            let width = if self.peek() == Token::Colon {
                Some(self.bitfield_width(&ty, name, base_span)?)
            } else {
                None
            };
            let decl_span = name.map_or(base_span, |n| n.1);
            if ty == CType::Void && !typedef {
                return Err(Diagnostic::error(
                    format!("member `{}` has type `void`", name.map_or("", |n| n.0)),
                    base_span,
                    "`void` is only a pointer's target",
                ));
            }
            if !typedef && defs.size_align(&ty).is_none() {
                // A kernel struct by value: laid out again with its BTF size and
                // alignment before type checking (the checker reports one BTF lacks).
                defs.needs_kernel = true;
            }
            out.push(MemberDecl {
                name: name.map(|n| n.0.to_string()),
                ty,
                width,
                span: decl_span,
            });
            if self.eat(Token::Comma) {
                continue;
            }
            // The last member's `;` may be left out, as clang and gcc accept (with a
            // warning) and upstream's tests write.
            if self.peek() != Token::RBrace {
                self.expect(Token::Semi, "`;` after the member")?;
            }
            return Ok(out);
        }
    }
}

impl Parser<'_> {
    /// `ty` with a typedef name as its base written out as the type it stands for
    /// (`myu *` with `typedef unsigned int myu;` is `uint32 *`); other types as they are.
    pub(super) fn expand_typedef(&self, ty: &mut crate::ast::TypeName) -> PResult<()> {
        let Some((_, def)) = self.typedefs.iter().rev().find(|(n, _)| *n == ty.base) else {
            return Ok(());
        };
        let (base, pointer, dims) = spelled(def).ok_or_else(|| {
            Diagnostic::error(
                format!(
                    "the typedef `{}` is a pointer to an array: not built yet",
                    ty.base
                ),
                ty.span,
                "this typedef",
            )
        })?;
        if !dims.is_empty() && ty.pointer > 0 {
            return Err(Diagnostic::error(
                format!("a pointer to the array type `{}` is not built yet", ty.base),
                ty.span,
                "a pointer to an array",
            ));
        }
        ty.base = base;
        ty.pointer = ty.pointer.saturating_add(pointer);
        let written = std::mem::take(&mut ty.array);
        ty.array = dims.into_iter().map(Some).chain(written).collect();
        Ok(())
    }

    /// `: WIDTH` after a member: a width of 1 to the bits of its integer type (0 only
    /// for an unnamed bitfield).
    fn bitfield_width(
        &mut self,
        ty: &CType,
        name: Option<(&str, Span)>,
        base_span: Span,
    ) -> PResult<u8> {
        let (_, colon) = self.bump();
        let at = name.map_or(base_span, |n| n.1);
        let bits = match ty {
            CType::Int { size, .. } | CType::Enum { size, .. } => u64::from(*size) * 8,
            CType::Char | CType::Bool => 8,
            _ => {
                return Err(Diagnostic::error(
                    format!(
                        "bitfield `{}` has a type that is not an integer",
                        name.map_or("", |n| n.0)
                    ),
                    base_span,
                    "a bitfield's type is an integer, `bool` or an enum",
                ));
            }
        };
        let sp = self.expect(Token::Int, "a bitfield width")?;
        let whole = Span::new(at.start as usize, sp.end as usize);
        let w = crate::lexer::parse_int(self.text(sp))
            .map_err(|m| Diagnostic::error(m, sp, "not a bitfield width"))?;
        if w > bits {
            return Err(Diagnostic::error(
                format!(
                    "the width of bitfield `{}` exceeds its type ({bits} bits)",
                    name.map_or("", |n| n.0)
                ),
                sp,
                format!("{w} bits"),
            ));
        }
        if w == 0
            && let Some((n, _)) = name
        {
            return Err(Diagnostic::error(
                format!("bitfield `{n}` has width 0"),
                whole,
                "only an unnamed bitfield (`int : 0;`) may be 0 bits wide",
            ));
        }
        let _ = colon;
        Ok(w as u8)
    }
}

/// A C type as a script writes it: the base name, the pointers on it, then the array
/// lengths (each wrapping the type before it); `None` for a pointer to an array.
fn spelled(t: &CType) -> Option<(String, u8, Vec<u64>)> {
    Some(match t {
        CType::Int { size, signed } => {
            let s = if *signed { "int" } else { "uint" };
            (format!("{s}{}", u32::from(*size) * 8), 0, Vec::new())
        }
        CType::Char => ("int8".into(), 0, Vec::new()),
        CType::Bool => ("bool".into(), 0, Vec::new()),
        CType::Void => ("void".into(), 0, Vec::new()),
        CType::Struct(n) => (n.clone(), 0, Vec::new()),
        CType::Enum { name, .. } => (name.clone(), 0, Vec::new()),
        CType::Ptr(inner) => {
            let (b, p, d) = spelled(inner)?;
            if !d.is_empty() {
                return None;
            }
            (b, p + 1, d)
        }
        CType::Array(inner, n) => {
            let (b, p, mut d) = spelled(inner)?;
            d.push(*n);
            (b, p, d)
        }
    })
}
