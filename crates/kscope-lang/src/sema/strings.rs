//! Byte and string functions of upstream's standard library: `memcmp()`, `str_concat()`,
//! `pton()` and `strcap()`, and the cast of an integer array to an integer of the same
//! size (`(uint32)pton("127.0.0.1")`).
//!
//! `pton()` and `strcap()` of a string or an array are known when compiling: `pton()`
//! checks its literal here (lowering writes the bytes [`pton_bytes`] gives), `strcap()`
//! becomes an integer literal. `memcmp()`'s count becomes a literal too, checked
//! against the operands' sizes.

use super::check::Checker;
use super::types::Type;
use crate::ast::{Expr, ExprKind, TypeName};
use crate::diag::Diagnostic;

/// Bytes of every kscope string value (its capacity, what `strcap()` of a string gives):
/// 63 characters and the NUL. kscope-runtime stores strings in this many bytes.
pub const STR_CAP: u64 = 64;

/// The most bytes one `memcmp()` compares (both operands are copied to the BPF stack).
pub const MEMCMP_MAX: u64 = 64;

/// The functions [`Checker::string_call`] checks.
pub const STRING_FUNCTIONS: &[&str] = &["memcmp", "str_concat", "pton", "strcap"];

/// The bytes of `pton(text)` in network order: 4 for an IPv4 address (the text has a
/// `.`), 16 for IPv6 (a `:`), as upstream picks the family; `None` when the text is not
/// an address of that family.
pub fn pton_bytes(text: &str) -> Option<Vec<u8>> {
    if text.contains('.') && !text.contains(':') {
        text.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|a| a.octets().to_vec())
    } else if text.contains(':') {
        text.parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|a| a.octets().to_vec())
    } else {
        None
    }
}

/// The bytes a value of type `t` has in memory, for `memcmp()`: strings their
/// [`STR_CAP`] NUL-padded bytes, integer (and pointer) arrays their elements, integers
/// and pointers their own bytes (upstream compares a copy of the value); `None` for a
/// type `memcmp()` does not compare.
pub fn byte_size(t: &Type) -> Option<u64> {
    match t {
        Type::Str => Some(STR_CAP),
        Type::Int { bits, .. } | Type::Enum { bits, .. } => Some(u64::from(*bits / 8)),
        Type::Bool => Some(1),
        Type::Ptr(_) | Type::Unknown => Some(8),
        Type::Array(..) => super::arrays::array_bytes(t),
        _ => None,
    }
}

/// Whether `e` is an integer literal (`1`, `-1`).
fn is_int_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Int(_) => true,
        ExprKind::Unary {
            op: crate::ast::UnOp::Neg,
            expr,
        } => matches!(expr.kind, ExprKind::Int(_)),
        _ => false,
    }
}

impl Checker<'_> {
    /// The type of a call to one of [`STRING_FUNCTIONS`], `None` for any other function.
    pub(super) fn string_call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Option<Type> {
        match name {
            "memcmp" => {
                if self.arity(e, name, args, 3, 3) {
                    self.memcmp(&args[0], &args[1], &args[2]);
                }
                Some(Type::int(32, true))
            }
            "str_concat" => {
                if self.arity(e, name, args, 2, 2) {
                    for a in args {
                        self.string_operand(name, a);
                    }
                }
                Some(Type::Str)
            }
            "pton" => {
                if !self.arity(e, name, args, 1, 1) {
                    return Some(Type::Unknown);
                }
                Some(self.pton(&args[0]))
            }
            "strcap" => {
                if self.arity(e, name, args, 1, 1) {
                    self.strcap(e, &args[0]);
                }
                Some(Type::INT64)
            }
            _ => None,
        }
    }

    /// A `str_concat()` operand: a string, or a pointer to characters (read as `str()`).
    fn string_operand(&mut self, f: &str, a: &Expr) {
        let t = self.expr(a);
        let ok = match &t {
            Type::Str | Type::Unknown => true,
            Type::Ptr(to) => matches!(**to, Type::Int { bits: 8, .. }),
            _ => false,
        };
        if !ok {
            self.error(
                Diagnostic::error(
                    format!("`{f}()` needs a string, found `{t}`"),
                    a.span,
                    format!("this has type `{t}`"),
                )
                .with_help("give a string, or read one with `str(ptr)`"),
            );
        }
    }

    fn memcmp(&mut self, left: &Expr, right: &Expr, count: &Expr) {
        let mut sizes = Vec::new();
        for a in [left, right] {
            let t = self.expr(a);
            match byte_size(&t) {
                // A kernel value not typed yet bounds nothing.
                Some(_) if t == Type::Unknown => {}
                // An integer literal is compared as the 64-bit value upstream stores.
                Some(_) if is_int_literal(a) => {
                    sizes.push((8, Type::INT64, a.span));
                }
                Some(n) => sizes.push((n, t, a.span)),
                None => self.error(
                    Diagnostic::error(
                        format!(
                            "`memcmp()` compares strings, integer arrays, integers or \
                             pointers, found `{t}`"
                        ),
                        a.span,
                        format!("this has type `{t}`"),
                    )
                    .with_help("compare a member or an element instead"),
                ),
            }
        }
        self.expr(count);
        let Some(n) = self.const_int(count) else {
            self.error(
                Diagnostic::error(
                    "`memcmp()` needs a count known when compiling",
                    count.span,
                    "known only when the probe runs",
                )
                .with_help("write the number of bytes as an integer literal, such as `4`"),
            );
            return;
        };
        if n < 0 {
            self.error(
                Diagnostic::error(
                    format!("the count of `memcmp()` cannot be negative, found {n}"),
                    count.span,
                    "a negative count",
                )
                .with_help("give the number of bytes to compare, from 0 up"),
            );
            return;
        }
        if let Some((size, t, span)) = sizes.iter().min_by_key(|(s, ..)| *s).cloned()
            && n > i128::from(size)
        {
            self.error(
                Diagnostic::error(
                    format!("`memcmp()` cannot compare {n} bytes of `{t}`: it has {size}"),
                    count.span,
                    format!("expected at most {size}"),
                )
                .with_note(
                    "the smaller operand",
                    span,
                    format!("{size} byte{}", if size == 1 { "" } else { "s" }),
                ),
            );
            return;
        }
        if n > i128::from(MEMCMP_MAX) {
            self.error(
                Diagnostic::error(
                    format!("`memcmp()` compares at most {MEMCMP_MAX} bytes, not {n}"),
                    count.span,
                    format!("expected at most {MEMCMP_MAX}"),
                )
                .with_help("compare a longer object in pieces"),
            );
            return;
        }
        // The count becomes its literal: lowering unrolls that many byte compares.
        self.consts.insert(count.id, ExprKind::Int(n as u64));
    }

    fn pton(&mut self, a: &Expr) -> Type {
        self.expr(a);
        let ExprKind::Str(text) = &a.kind else {
            self.error(
                Diagnostic::error(
                    "`pton()` needs the address as a string literal",
                    a.span,
                    "not a string literal",
                )
                .with_help("`pton()` converts when compiling: write `pton(\"127.0.0.1\")`"),
            );
            return Type::Unknown;
        };
        let text = String::from_utf8_lossy(text).into_owned();
        match pton_bytes(&text) {
            Some(b) => Type::Array(Box::new(Type::int(8, false)), b.len() as u64),
            None => {
                let what = if text.contains(':') {
                    "an IPv6 address"
                } else if text.contains('.') {
                    "an IPv4 address"
                } else {
                    "an IPv4 or IPv6 address"
                };
                self.error(
                    Diagnostic::error(
                        format!("`pton()`: \"{text}\" is not {what}"),
                        a.span,
                        "not a valid address",
                    )
                    .with_help(
                        "write a dotted IPv4 address such as \"127.0.0.1\" or an IPv6 \
                         address such as \"::1\"",
                    ),
                );
                Type::Unknown
            }
        }
    }

    fn strcap(&mut self, e: &Expr, a: &Expr) {
        let t = self.expr(a);
        let bad = |c: &mut Self, msg: &str| {
            c.error(
                Diagnostic::error(
                    format!("`strcap()`: {msg}, found `{t}`"),
                    a.span,
                    format!("this has type `{t}`"),
                )
                .with_help("give a string, an `int8[N]` array or an `int8 *` pointer"),
            );
        };
        match &t {
            Type::Str => {
                self.consts.insert(e.id, ExprKind::Int(STR_CAP));
            }
            Type::Array(elem, n) if matches!(**elem, Type::Int { bits: 8, .. }) => {
                self.consts.insert(e.id, ExprKind::Int(*n));
            }
            Type::Array(..) => bad(
                self,
                "string-like arrays must hold char-like (8-bit) elements",
            ),
            // A pointer: the length of the string it points to, when the probe runs.
            Type::Ptr(to) if matches!(**to, Type::Int { bits: 8, .. }) => {}
            Type::Unknown => {}
            Type::Ptr(_) => bad(
                self,
                "string-like pointers must point to char-like (8-bit) values",
            ),
            _ => bad(self, "string-like values are strings, arrays or pointers"),
        }
    }

    /// The type of `(ty)x` for an integer array `x` of type `from`: an integer of the
    /// array's size in bytes (`(uint32)pton("1.2.3.4")` reads its 4 bytes in the
    /// machine's order); `None` when `from` is not an integer array.
    pub(super) fn array_cast(&mut self, ty: &TypeName, from: &Type, x: &Expr) -> Option<Type> {
        if !matches!(from, Type::Array(..))
            || !matches!(
                super::arrays::innermost(from),
                Type::Int { .. } | Type::Bool
            )
        {
            return None;
        }
        if ty.pointer > 0 || !ty.array.is_empty() {
            return None;
        }
        let target = super::builtins::cast_base(&ty.base)?;
        let Type::Int { bits, .. } = target else {
            return None;
        };
        let size = super::arrays::array_bytes(from).unwrap_or(0);
        if size != u64::from(bits / 8) {
            self.error(
                Diagnostic::error(
                    format!(
                        "cannot cast `{from}` to `{ty}`: the array has {size} bytes, \
                         `{ty}` {}",
                        bits / 8
                    ),
                    x.span,
                    format!("{size} bytes"),
                )
                .with_help("an integer array casts only to an integer of its own size"),
            );
            return Some(Type::Unknown);
        }
        Some(target)
    }
}
