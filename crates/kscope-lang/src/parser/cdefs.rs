//! C definitions at the top of a script: `struct`/`union` members and `enum`
//! enumerators, laid out as the C compiler does (see [`crate::cdefs`]).

use super::{PResult, Parser};
use crate::diag::Diagnostic;
use crate::lexer::Token;
use crate::span::Span;

impl<'a> Parser<'a> {
    /// `struct NAME { members } [;]` or `union NAME { ... }` (a forward declaration
    /// `struct NAME;` is skipped): laid out and added to `defs`.
    pub(super) fn c_definition(&mut self, defs: &mut crate::cdefs::CTypes) -> PResult<()> {
        let (_, kw) = self.bump();
        let union = self.text(kw) == "union";
        let (_, name_span) = self.bump();
        let name = format!("{} {}", self.text(kw), self.text(name_span));
        if self.eat(Token::Semi) {
            return Ok(());
        }
        self.expect(Token::LBrace, "`{` to start the definition")?;
        let mut members: Vec<(String, crate::cdefs::CType, Span)> = Vec::new();
        while !self.eat(Token::RBrace) {
            for (mname, ty, span) in self.c_member(defs)? {
                if let Some(first) = members.iter().find(|m| m.0 == mname) {
                    return Err(Diagnostic::error(
                        format!("`{name}` has two members named `{mname}`"),
                        span,
                        "second member of this name",
                    )
                    .with_note("the first", first.2, "declared here"));
                }
                members.push((mname, ty, span));
            }
        }
        self.eat(Token::Semi);
        if let Some(first) = defs.get(&name) {
            return Err(Diagnostic::error(
                format!("`{name}` is defined twice"),
                name_span,
                "second definition",
            )
            .with_note("the first", first.span, "defined here"));
        }
        let def = defs.layout(
            name,
            union,
            members,
            Span::new(kw.start as usize, name_span.end as usize),
        );
        defs.structs.push(def);
        Ok(())
    }

    /// One member line of a C definition: `TYPE declarator [, declarator]* ;`, where a
    /// declarator is `*`s, a name and `[N]`s.
    fn c_member(
        &mut self,
        defs: &crate::cdefs::CTypes,
    ) -> PResult<Vec<(String, crate::cdefs::CType, Span)>> {
        use crate::cdefs::CType;
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
                let (t, tag) = self.peek_n(0);
                if t != Token::Ident {
                    return Err(Diagnostic::error(
                        format!("a nested `{w}` definition is not built yet"),
                        sp,
                        "define it at the top level and use it by name",
                    ));
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
        let mut first_name = None;
        if self.peek() != Token::Star {
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
                match CType::from_words(&ws) {
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
                Some(n) => n,
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
                    (self.text(sp), sp)
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
            if self.peek() == Token::Colon {
                let (_, sp) = self.peek_n(0);
                return Err(Diagnostic::error(
                    "bitfield members are not built yet",
                    Span::new(name.1.start as usize, sp.end as usize),
                    "a bitfield",
                ));
            }
            if ty == CType::Void {
                return Err(Diagnostic::error(
                    format!("member `{}` has type `void`", name.0),
                    base_span,
                    "`void` is only a pointer's target",
                ));
            }
            if defs.size_align(&ty).is_none() {
                let CType::Struct(s) = innermost(&ty) else {
                    unreachable!("only a struct by value has no size");
                };
                return Err(Diagnostic::error(
                    format!("unknown member type `{s}`"),
                    base_span,
                    "not defined above in the script",
                )
                .with_help(format!(
                    "define `{s}` before this struct, or use a pointer (`{s} *`); kernel structs by value are not built yet"
                )));
            }
            out.push((name.0.to_string(), ty, name.1));
            if self.eat(Token::Comma) {
                continue;
            }
            self.expect(Token::Semi, "`;` after the member")?;
            return Ok(out);
        }
    }
}

/// The element type at the bottom of nested arrays.
fn innermost(t: &crate::cdefs::CType) -> &crate::cdefs::CType {
    match t {
        crate::cdefs::CType::Array(e, _) => innermost(e),
        t => t,
    }
}
