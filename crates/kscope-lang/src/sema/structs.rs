//! Whole structs and `args` as values: `$s = *p`, `@s = *p`, `@[*p] = 1`, `print(args)`.
//!
//! Upstream prints a struct as `{ .a = 1, .b = 2 }`, which is how kscope prints a record.
//! So a struct (or `args`) used as a whole value is stored as a record of its members,
//! each read from memory: nested structs become nested records, char arrays strings,
//! arrays of integers, bools or pointers (of any dimension) arrays, pointers pointers.
//! The record type is kept per expression in [`Checker::struct_values`] for lowering,
//! which reads the members one by one.

use super::check::Checker;
use super::provider::Lookup;
use super::types::Type;
use crate::ast::Expr;
use crate::diag::Diagnostic;

/// How deep nested structs are followed before giving up (`task_struct` would never end).
const MAX_DEPTH: u32 = 8;

/// At most this many members in all (the BPF stack is 512 bytes).
const MAX_MEMBERS: usize = 64;

impl Checker<'_> {
    /// The type `e` (of type `t`) is stored as: a record for a struct or `args` that can
    /// be read member by member (remembered for lowering), else `t` itself.
    pub(super) fn as_value(&mut self, e: &Expr, t: Type) -> Type {
        let record = match &t {
            Type::Struct(name) => {
                let mut budget = MAX_MEMBERS;
                self.struct_record(name, 0, &mut budget)
            }
            Type::Args => self.args_record(),
            _ => None,
        };
        match record {
            Some(r) => {
                self.struct_values.insert(e.id.0, r.clone());
                r
            }
            None => {
                if let Type::Struct(name) = &t
                    && matches!(self.tp.members(name), Lookup::Found(m) if !m.is_empty())
                {
                    self.error(
                        Diagnostic::error(
                            format!("`{name}` is too large to store as a whole value"),
                            e.span,
                            format!("a whole `{name}`"),
                        )
                        .with_help(format!(
                            "a whole struct is read member by member: at most {MAX_MEMBERS} \
                             members in all, {MAX_DEPTH} levels of nested structs, and \
                             integer, pointer, string members and arrays of integers, bools or pointers; read the \
                             members you need instead"
                        )),
                    );
                    return Type::Unknown;
                }
                t
            }
        }
    }

    /// The record of struct `name`'s members (anonymous members' members inline).
    fn struct_record(&self, name: &str, depth: u32, budget: &mut usize) -> Option<Type> {
        if depth > MAX_DEPTH {
            return None;
        }
        let Lookup::Found(members) = self.tp.members(name) else {
            return None;
        };
        if members.is_empty() {
            return None;
        }
        let mut fields = Vec::new();
        for (n, t) in members {
            *budget = budget.checked_sub(1)?;
            fields.push((n, self.member_value(t, depth, budget)?));
        }
        Some(Type::Record(fields))
    }

    /// A member's type as stored in the record; `None` for what cannot be.
    fn member_value(&self, t: Type, depth: u32, budget: &mut usize) -> Option<Type> {
        match t {
            Type::Int { .. } | Type::Enum { .. } | Type::Bool | Type::Ptr(_) | Type::Str => Some(t),
            // Arrays (of arrays) of integers, bools or pointers, stored as their bytes.
            Type::Array(..)
                if matches!(
                    super::arrays::innermost(&t),
                    Type::Int { .. } | Type::Bool | Type::Ptr(_)
                ) =>
            {
                Some(t)
            }
            Type::Struct(name) => self.struct_record(&name, depth + 1, budget),
            _ => None,
        }
    }

    /// The record of the probe's `args`: every attach point must have the same fields.
    fn args_record(&self) -> Option<Type> {
        let mut found: Option<Type> = None;
        for ap in &self.attach {
            let Lookup::Found(fields) = self.tp.args(ap) else {
                return None;
            };
            let record = Type::Record(
                fields
                    .into_iter()
                    .map(|f| match f.ty {
                        t @ (Type::Int { .. }
                        | Type::Enum { .. }
                        | Type::Bool
                        | Type::Ptr(_)
                        | Type::Str) => Some((f.name, t)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?,
            );
            match &found {
                Some(r) if *r != record => return None,
                _ => found = Some(record),
            }
        }
        found.filter(|r| matches!(r, Type::Record(f) if !f.is_empty()))
    }
}
