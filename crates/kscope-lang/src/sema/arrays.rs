//! Casts to array types, as upstream allows them: an integer or bool to an array of
//! integers or bools of at most 8 bytes (`(int8[8])n`, `(bool[2])(uint16)1`), a string
//! literal to an integer array of its bytes with the NUL (`(int8[6])"hello"`), and `[]`
//! for a length taken from the value cast (`(int8[])12345` is `int8[2]`: the literal is
//! an `int16`). kscope also allows several lengths (`(int8[4][2])n`: two `int8[4]`s, as
//! upstream names that type; upstream refuses to cast to it).

use super::check::Checker;
use super::types::Type;
use crate::ast::{Expr, ExprKind, TypeName};
use crate::diag::Diagnostic;

/// Bytes of an integer cast to an array at most (upstream's: the widest integer).
const INT_BYTES: u64 = 8;

/// The innermost element type of `t` (`t` itself when it is no array).
pub(super) fn innermost(t: &Type) -> &Type {
    match t {
        Type::Array(elem, _) => innermost(elem),
        t => t,
    }
}

/// The bytes an array of integers, bools or pointers (nested or not) holds in memory;
/// `None` for any other type.
pub(super) fn array_bytes(t: &Type) -> Option<u64> {
    match t {
        Type::Array(elem, n) => array_bytes(elem)?.checked_mul(*n),
        Type::Int { bits, .. } | Type::Enum { bits, .. } => Some(u64::from(*bits / 8)),
        Type::Bool => Some(1),
        Type::Ptr(_) => Some(8),
        _ => None,
    }
}

/// `base` in the arrays `dims` as written, each wrapping the type before it
/// (`[3, 2]`: two arrays of three); a `[]` is 0 long.
pub(super) fn wrap_dims(base: Type, dims: &[Option<u64>]) -> Type {
    dims.iter()
        .fold(base, |t, n| Type::Array(Box::new(t), n.unwrap_or(0)))
}

impl Checker<'_> {
    /// Checks a constant index `i` into an array of type `t` with `len` elements (each
    /// dimension of `$a[1][2]` on its own, as upstream): past the end is an error. A
    /// zero-length array (a C flexible array member, `int y[0]`) is not checked.
    pub(super) fn array_index_bounds(&mut self, t: &Type, len: u64, i: i128, index: &Expr) {
        if i < 0 {
            self.error(Diagnostic::error(
                format!("index {i} is out of bounds: an array index is not negative"),
                index.span,
                "a negative index",
            ));
        } else if len > 0 && i >= i128::from(len) {
            self.error(Diagnostic::error(
                format!("index {i} is out of bounds for `{t}`, which has {len} elements"),
                index.span,
                format!("expected an index from 0 to {}", len - 1),
            ));
        }
    }

    /// The type of `(ty)x` for an array type `ty` whose element (pointers included) is
    /// `base`, `x` of type `from`.
    pub(super) fn cast_to_array(
        &mut self,
        base: Type,
        ty: &TypeName,
        from: &Type,
        x: &Expr,
    ) -> Type {
        let fail = |c: &mut Self, why: String, help: &str| {
            c.error(
                Diagnostic::error(
                    format!("cannot cast `{from}` to `{ty}`: {why}"),
                    x.span,
                    format!("this has type `{from}`"),
                )
                .with_help(help),
            );
            Type::Unknown
        };
        if base == Type::Unknown {
            // A type already reported.
            return Type::Unknown;
        }
        let elem_ok = ty.pointer == 0 && matches!(base, Type::Int { .. } | Type::Bool);
        if !elem_ok {
            self.error(
                Diagnostic::error(
                    format!("cannot cast `{from}` to `{ty}`: only arrays of integers or bools are cast to"),
                    ty.span,
                    format!("an array of `{base}`"),
                )
                .with_help(
                    "cast an integer to an integer or bool array (`(int8[8])n`), or a string \
                     literal to an integer array (`(int8[6])\"hello\"`)",
                ),
            );
            return Type::Unknown;
        }
        // The bytes of the value cast.
        let literal = match &x.kind {
            ExprKind::Str(s) => Some(s.len() as u64 + 1),
            _ => None,
        };
        let src = match from {
            Type::Int { bits, .. } | Type::Enum { bits, .. } => u64::from(*bits / 8),
            Type::Bool => 1,
            Type::Unknown => 8,
            Type::Str => match literal {
                Some(n) => n,
                None => {
                    return fail(
                        self,
                        "a string's size is known for a string literal only".into(),
                        "cast a string literal (`(int8[6])\"hello\"`)",
                    );
                }
            },
            _ => {
                return fail(
                    self,
                    format!("a `{from}` is not cast to an array"),
                    "cast an integer, a bool or a string literal",
                );
            }
        };
        let elem_size = array_bytes(&base).unwrap_or(1);
        // The bytes of one outermost element: the base in every inner dimension (all
        // but the last written).
        let (outer, inner_dims) = ty.array.split_last().expect("an array type");
        let row = elem_size * inner_dims.iter().map(|n| n.unwrap_or(0)).product::<u64>();
        let mut dims = ty.array.clone();
        if outer.is_none() {
            if row == 0 || src % row != 0 {
                let inner_ty = wrap_dims(base.clone(), inner_dims);
                return fail(
                    self,
                    format!(
                        "its {src} bytes are not a whole number of `{inner_ty}` elements of {row} bytes"
                    ),
                    "give the length: `(T[N])x`",
                );
            }
            *dims.last_mut().expect("an array type") = Some(src / row);
        }
        let target = wrap_dims(base, &dims);
        let size = array_bytes(&target).unwrap_or(0);
        let fits = if from == &Type::Str {
            size == src
        } else {
            size == src || (size > src && size <= INT_BYTES)
        };
        if !fits {
            let why = if from == &Type::Str {
                format!("the string has {src} bytes with its NUL, `{target}` {size}")
            } else if size > INT_BYTES {
                format!("`{target}` has {size} bytes, more than an integer's {INT_BYTES}")
            } else {
                format!("the value has {src} bytes, `{target}` only {size}")
            };
            return fail(
                self,
                why,
                "an array cast keeps every byte: the array is as large as the value, or \
                 (from an integer) larger, up to 8 bytes",
            );
        }
        target
    }
}
