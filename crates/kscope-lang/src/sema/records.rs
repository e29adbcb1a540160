//! Records (upstream's named tuples): `(name=a, other=b)` literals, `r.name` field
//! access and the rules for slots holding them.
//!
//! A record is a tuple whose elements have names. A variable, map key or map value keeps
//! the field order of the first record it receives; a later record with the same names
//! in another order is stored reordered by name ([`merge_records`] keeps the old order),
//! and `==`/`!=` compare field by field by name. Records with other names do not mix.

use super::check::Checker;
use super::types::{Type, merge};
use crate::ast::{Expr, Ident, RecordField};
use crate::diag::Diagnostic;
use crate::suggest::nearest;
use std::collections::BTreeMap;

/// The type holding both records, in `old`'s field order with each field's types merged
/// as tuple elements are; `None` when their field names differ.
pub fn merge_records(old: &[(String, Type)], new: &[(String, Type)]) -> Option<Type> {
    if old.len() != new.len() {
        return None;
    }
    let by_name: BTreeMap<&str, &Type> = new.iter().map(|(n, t)| (n.as_str(), t)).collect();
    old.iter()
        .map(|(n, t)| {
            let other = by_name.get(n.as_str())?;
            Some((n.clone(), merge(t, other)?))
        })
        .collect::<Option<Vec<_>>>()
        .map(Type::Record)
}

/// The field names of a record, comma separated (`a, b`).
fn names(fields: &[(String, Type)]) -> String {
    fields
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `help:` line for storing `new` where `old` is stored, when both are records (or
/// contain records at the same place) whose field names differ.
pub(super) fn mismatch_help(old: &Type, new: &Type) -> Option<String> {
    match (old, new) {
        (Type::Record(a), Type::Record(b)) => {
            let mut an: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
            let mut bn: Vec<&str> = b.iter().map(|(n, _)| n.as_str()).collect();
            an.sort_unstable();
            bn.sort_unstable();
            if an != bn {
                return Some(format!(
                    "records stored together need the same field names: this one has {}, \
                     the stored one has {} (the order may differ)",
                    names(b),
                    names(a)
                ));
            }
            let by_name: BTreeMap<&str, &Type> = b.iter().map(|(n, t)| (n.as_str(), t)).collect();
            a.iter()
                .find_map(|(n, t)| mismatch_help(t, by_name.get(n.as_str())?))
        }
        (Type::Tuple(a), Type::Tuple(b)) if a.len() == b.len() => {
            a.iter().zip(b).find_map(|(x, y)| mismatch_help(x, y))
        }
        _ => None,
    }
}

impl Checker<'_> {
    /// The type of a record literal; reports a field name written twice.
    pub(super) fn record_literal(&mut self, fields: &[RecordField]) -> Type {
        let mut seen: BTreeMap<&str, &Ident> = BTreeMap::new();
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let t = self.expr(&f.value);
            self.record_storable(&t, &f.value);
            if let Some(first) = seen.get(f.name.name.as_str()) {
                self.error(
                    Diagnostic::error(
                        format!("the record has two fields named `{}`", f.name.name),
                        f.name.span,
                        "named again here",
                    )
                    .with_note(
                        format!("`{}` is first named here", f.name.name),
                        first.span,
                        "",
                    )
                    .with_help("give every field of a record its own name"),
                );
                continue;
            }
            seen.insert(&f.name.name, &f.name);
            out.push((f.name.name.clone(), t));
        }
        Type::Record(out)
    }

    fn record_storable(&mut self, t: &Type, e: &Expr) {
        if matches!(t, Type::Void | Type::Agg(..) | Type::Args) {
            self.error(Diagnostic::error(
                format!("`{t}` cannot be used as a record field"),
                e.span,
                format!("this has type `{t}`"),
            ));
        }
    }

    /// `x->name` on a record: an error (a record is a value, not a pointer).
    pub(super) fn record_arrow(&mut self, x: &Expr, field: &Ident) -> Type {
        let src = crate::printer::src_expr(x);
        self.error(
            Diagnostic::error(
                format!("`->` needs a pointer, but `{src}` is a record"),
                field.span,
                "a record field is read with `.`",
            )
            .with_help(format!("write `{src}.{}`", field.name)),
        );
        Type::Unknown
    }

    /// The type of `x.name` where `x` is a record with these fields; reports an unknown
    /// field with the nearest name.
    pub(super) fn record_field(
        &mut self,
        fields: &[(String, Type)],
        x: &Expr,
        field: &Ident,
    ) -> Type {
        if let Some((_, t)) = fields.iter().find(|(n, _)| *n == field.name) {
            return t.clone();
        }
        // A long record (such as `config()`, which stands for a literal of 21 fields)
        // is not spelled out again.
        let record = crate::printer::src_expr(x);
        let label = if record.len() <= 40 {
            format!("`{record}` has fields {}", names(fields))
        } else {
            format!("its fields are {}", names(fields))
        };
        let mut d = Diagnostic::error(
            format!("the record has no field `{}`", field.name),
            field.span,
            label,
        );
        if let Some(s) = nearest(&field.name, fields.iter().map(|(n, _)| n.as_str())) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.error(d);
        Type::Unknown
    }
}
