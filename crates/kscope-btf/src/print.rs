//! Writing BTF types as C: `struct task_struct *`, `char[16]`, `void (*)(int)`,
//! `unsigned int flags:3`.

use crate::layout::{MAX_STEPS, Steps, take};
use crate::{Btf, BtfError, Kind, Member};
use std::cell::Cell;

/// Nesting beyond this is taken as a loop in corrupt BTF.
const MAX_DEPTH: u32 = 64;

/// `base` followed by the declarator `inner`, spaced as C is usually written.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else if inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

impl Btf {
    /// The C spelling of a type: `struct task_struct *`, `const char *`, `char[16]`,
    /// `u32`, `void (*)(int, char *)`. Anonymous structs print as `struct {...}`.
    pub fn type_name(&self, id: u32) -> Result<String, BtfError> {
        self.declaration(id, "")
    }

    /// A C declaration of `name` with type `id`: `char comm[16]`, `int (*fn)(void)`.
    pub fn declaration(&self, id: u32, name: &str) -> Result<String, BtfError> {
        self.decl(id, name.to_string(), 0, &Cell::new(MAX_STEPS))
    }

    /// A member as C: `unsigned int flags:3` for a bitfield, `char comm[16]` otherwise;
    /// without a name, `unsigned int:3`.
    pub fn member_declaration(&self, m: &Member<'_>) -> Result<String, BtfError> {
        let d = self.declaration(m.type_id, m.name)?;
        Ok(if m.is_bitfield() {
            format!("{d}:{}", m.bitfield_size)
        } else {
            d
        })
    }

    fn decl(&self, id: u32, inner: String, depth: u32, steps: &Steps) -> Result<String, BtfError> {
        if depth > MAX_DEPTH || !take(steps) {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_DEPTH,
            });
        }
        let t = self.raw_type(id)?;
        let name = self.string_at(t.name_off)?;
        let tagged = |tag: &str| {
            if name.is_empty() {
                format!("{tag} {{...}}")
            } else {
                format!("{tag} {name}")
            }
        };
        let next = t.size_or_type;
        Ok(match t.kind {
            Kind::Void => join("void", &inner),
            Kind::Int | Kind::Float | Kind::Typedef => join(name, &inner),
            Kind::Struct => join(&tagged("struct"), &inner),
            Kind::Union => join(&tagged("union"), &inner),
            Kind::Enum | Kind::Enum64 => join(&tagged("enum"), &inner),
            Kind::Fwd if t.kind_flag => join(&tagged("union"), &inner),
            Kind::Fwd => join(&tagged("struct"), &inner),
            Kind::Ptr => {
                let target = self.kind(self.strip_modifiers(next)?)?;
                let inner = if matches!(target, Kind::Array | Kind::FuncProto) {
                    format!("(*{inner})")
                } else {
                    format!("*{inner}")
                };
                self.decl(next, inner, depth + 1, steps)?
            }
            Kind::Const | Kind::Volatile | Kind::Restrict => {
                let q = match t.kind {
                    Kind::Const => "const",
                    Kind::Volatile => "volatile",
                    _ => "restrict",
                };
                if self.kind(self.strip_modifiers(next)?)? == Kind::Ptr {
                    self.decl(next, join(q, &inner), depth + 1, steps)?
                } else {
                    let rest = self.decl(next, inner, depth + 1, steps)?;
                    // A qualified array is an array of qualified elements, which may
                    // carry the qualifier already (`const char name[]`).
                    if rest.starts_with(&format!("{q} ")) {
                        rest
                    } else {
                        format!("{q} {rest}")
                    }
                }
            }
            Kind::TypeTag => self.decl(next, inner, depth + 1, steps)?,
            Kind::Array => {
                let a = self.array(id)?;
                self.decl(a.elem, format!("{inner}[{}]", a.count), depth + 1, steps)?
            }
            Kind::FuncProto => {
                let proto = self.func_proto(id)?;
                let mut params = Vec::new();
                for p in &proto.params {
                    params.push(self.decl(p.type_id, String::new(), depth + 1, steps)?);
                }
                if proto.variadic {
                    params.push("...".into());
                }
                if params.is_empty() {
                    params.push("void".into());
                }
                let inner = format!("{inner}({})", params.join(", "));
                self.decl(proto.ret, inner, depth + 1, steps)?
            }
            Kind::Func => {
                let inner = if inner.is_empty() {
                    name.to_string()
                } else {
                    inner
                };
                self.decl(next, inner, depth + 1, steps)?
            }
            Kind::Var | Kind::Datasec | Kind::DeclTag => join(name, &inner),
        })
    }
}
