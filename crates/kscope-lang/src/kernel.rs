//! Kernel types from tracefs: which tracepoints exist, and the `args` of a tracepoint from
//! its `format` file. Only reads tracefs; changes nothing.

use crate::ast::{AttachPoint, Provider};
use crate::sema::{Field, Lookup, Type, TypeProvider};
use kscope_ftrace::Tracefs;
use kscope_ftrace::format::{EventFormat, FieldKind};
use kscope_ftrace::select::{EventId, glob, list_events};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Parsed `args` per (system, event); `None` when the format could not be read.
type FormatCache = HashMap<(String, String), Option<Vec<Field>>>;

/// A [`TypeProvider`] backed by a tracefs mount: tracepoint and raw tracepoint names are
/// checked against `events/`, and tracepoint `args` come from `events/SYS/EVENT/format`
/// (the event's own fields, without the `common_*` ones). Listings and formats are read once.
pub struct TracefsTypes {
    tracefs: Tracefs,
    events: OnceLock<Vec<EventId>>,
    formats: Mutex<FormatCache>,
}

impl TracefsTypes {
    /// Types from the tracefs at `tracefs`.
    pub fn new(tracefs: Tracefs) -> TracefsTypes {
        TracefsTypes {
            tracefs,
            events: OnceLock::new(),
            formats: Mutex::new(HashMap::new()),
        }
    }

    /// Types from the mounted tracefs, if one is mounted.
    pub fn discover() -> Option<TracefsTypes> {
        Tracefs::discover().ok().flatten().map(TracefsTypes::new)
    }

    /// Every event (empty when `events/` cannot be read).
    fn events(&self) -> &[EventId] {
        self.events
            .get_or_init(|| list_events(&self.tracefs.path("events")).unwrap_or_default())
    }

    fn format(&self, system: &str, event: &str) -> Option<Vec<Field>> {
        let key = (system.to_string(), event.to_string());
        let mut cache = self.formats.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                let text = self
                    .tracefs
                    .read(&format!("events/{system}/{event}/format"))
                    .ok()?;
                let format = EventFormat::parse_lenient(&text).ok()?;
                Some(
                    format
                        .event_fields()
                        .map(|f| Field {
                            name: f.name.clone(),
                            ty: field_type(f.kind, &f.type_name),
                        })
                        .collect(),
                )
            })
            .clone()
    }
}

/// The checker's type for a `format` field.
fn field_type(kind: FieldKind, type_name: &str) -> Type {
    let char_ptr = || Type::Ptr(Box::new(Type::int(8, true)));
    match kind {
        // `enum NAME`: BTF (when there is some) resolves the name, see `KERNEL_ENUM`.
        FieldKind::Int { size, .. } if let Some(name) = enum_name(type_name) => Type::Enum {
            name,
            bits: size * 8,
            id: crate::cdefs::KERNEL_ENUM,
        },
        FieldKind::Int { size, signed } => Type::int(size * 8, signed),
        // `const char *const * argv`: a pointer to strings.
        FieldKind::Pointer if type_name.contains("char") && type_name.matches('*').count() > 1 => {
            Type::Ptr(Box::new(char_ptr()))
        }
        FieldKind::Pointer if type_name.contains("char") => char_ptr(),
        FieldKind::Pointer => Type::Ptr(Box::new(
            struct_pointee(type_name).map_or(Type::Unknown, Type::Struct),
        )),
        FieldKind::CharArray { .. } => Type::Str,
        FieldKind::Array {
            len,
            elem_size,
            elem_signed,
        } if len > 0 && matches!(elem_size, 1 | 2 | 4 | 8) => Type::Array(
            Box::new(Type::int(elem_size as u8 * 8, elem_signed)),
            len as u64,
        ),
        FieldKind::DataLoc { string: true, .. } | FieldKind::RelLoc { string: true, .. } => {
            char_ptr()
        }
        FieldKind::DataLoc { .. } | FieldKind::RelLoc { .. } => Type::Ptr(Box::new(Type::Unknown)),
        _ => Type::Unknown,
    }
}

/// `enum foo` for a format type `enum foo` (a field of an enum type).
fn enum_name(type_name: &str) -> Option<String> {
    let name = type_name.trim().strip_prefix("enum ")?.trim();
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| format!("enum {name}"))
}

/// `struct foo` for a format type `struct foo *` (or `const struct foo *`): a pointer to
/// one struct or union, which BTF can lay out.
fn struct_pointee(type_name: &str) -> Option<String> {
    let mut t = type_name.trim();
    while let Some(rest) = t
        .strip_prefix("const ")
        .or_else(|| t.strip_prefix("volatile "))
    {
        t = rest.trim_start();
    }
    let base = t.strip_suffix('*')?.trim_end();
    let (tag, name) = base.split_once(' ')?;
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (matches!(tag, "struct" | "union") && name_ok).then(|| format!("{tag} {name}"))
}

impl TypeProvider for TracefsTypes {
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        let events = self.events();
        if events.is_empty() {
            return Lookup::Unknown;
        }
        match (ap.provider, ap.parts.as_slice()) {
            (Provider::Tracepoint, [system, event]) => {
                if events
                    .iter()
                    .any(|e| glob(system, &e.system) && glob(event, &e.name))
                {
                    return Lookup::Found(());
                }
                Lookup::Missing {
                    candidates: events
                        .iter()
                        .map(|e| format!("tracepoint:{}:{}", e.system, e.name))
                        .collect(),
                }
            }
            (Provider::Rawtracepoint, [.., event]) => {
                if events.iter().any(|e| glob(event, &e.name)) {
                    return Lookup::Found(());
                }
                let mut names: Vec<String> = events
                    .iter()
                    .map(|e| format!("rawtracepoint:{}", e.name))
                    .collect();
                names.sort();
                names.dedup();
                // The module form `rawtracepoint:MOD:EVENT` is suggested without the module.
                Lookup::Missing { candidates: names }
            }
            _ => Lookup::Unknown,
        }
    }

    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        match (ap.provider, ap.parts.as_slice()) {
            (Provider::Tracepoint, [system, event]) if !ap.has_wildcard() => {
                match self.format(system, event) {
                    Some(fields) => Lookup::Found(fields),
                    None => Lookup::Unknown,
                }
            }
            _ => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_pointer_fields_name_their_struct() {
        assert_eq!(
            struct_pointee("struct mm_struct *").as_deref(),
            Some("struct mm_struct")
        );
        assert_eq!(
            struct_pointee("const struct iovec *").as_deref(),
            Some("struct iovec")
        );
        assert_eq!(
            struct_pointee("union bpf_attr *").as_deref(),
            Some("union bpf_attr")
        );
        for no in [
            "const char *",
            "struct foo **",
            "struct foo",
            "void *",
            "struct *",
        ] {
            assert_eq!(struct_pointee(no), None, "{no}");
        }
        assert_eq!(
            field_type(FieldKind::Pointer, "struct mm_struct *"),
            Type::Ptr(Box::new(Type::Struct("struct mm_struct".into())))
        );
    }

    /// `field:enum skb_drop_reason reason; size:4; signed:0;`: an enum BTF resolves by
    /// name later; other integer fields stay integers.
    #[test]
    fn enum_fields_name_their_enum() {
        let int = FieldKind::Int {
            size: 4,
            signed: false,
        };
        assert_eq!(
            field_type(int, "enum skb_drop_reason"),
            Type::Enum {
                name: "enum skb_drop_reason".into(),
                bits: 32,
                id: crate::cdefs::KERNEL_ENUM,
            }
        );
        assert_eq!(field_type(int, "unsigned int"), Type::UINT32);
        assert_eq!(field_type(int, "enum"), Type::UINT32);
        assert_eq!(field_type(int, "enum a b"), Type::UINT32);
    }
}
