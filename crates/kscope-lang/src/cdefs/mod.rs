//! C struct, union and enum definitions at the top of a script (`struct Foo { int n; char
//! name[16]; struct Foo *next; }`): their member types, their C layout (natural
//! alignment, the size rounded up to the alignment, union members at offset 0), and a
//! [`TypeProvider`] overlay that answers the checker's questions about them before the
//! kernel's types (a definition shadows a kernel type of the same name).

mod enums;

pub use enums::{CEnum, CEnumerator, EnumTable, KERNEL_ENUM, enum_ids, is_kernel_enum};

use crate::ast::AttachPoint;
use crate::sema::{Field, Lookup, Type, TypeProvider};
use crate::span::Span;

/// The type of a member of a script-defined struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CType {
    /// An integer of `size` (1, 2, 4, 8) bytes.
    Int {
        /// Bytes.
        size: u8,
        /// Signedness.
        signed: bool,
    },
    /// `char` (and `signed char`): an array of them reads as a string.
    Char,
    /// `bool`, `_Bool`.
    Bool,
    /// `void` (only behind a pointer).
    Void,
    /// A pointer.
    Ptr(Box<CType>),
    /// A fixed-size array.
    Array(Box<CType>, u64),
    /// A struct or union by its tagged name (`struct Foo`), defined in the script or
    /// (behind a pointer) in the kernel's BTF.
    Struct(String),
    /// An enum the script defines (`enum Foo`), by its name, size in bytes and index in
    /// [`CTypes::enums`].
    Enum {
        /// Its tagged name.
        name: String,
        /// Bytes (4 or 8, see [`CEnum::size`]).
        size: u8,
        /// Its index in [`CTypes::enums`].
        id: u32,
    },
}

impl CType {
    /// The checker's type for a value of this type (a `char` array is a string).
    pub fn to_sema(&self) -> Type {
        match self {
            CType::Int { size, signed } => Type::int(size * 8, *signed),
            CType::Char => Type::int(8, true),
            CType::Bool => Type::Bool,
            CType::Void => Type::Void,
            CType::Ptr(t) => Type::Ptr(Box::new(t.to_sema())),
            CType::Array(t, _) if **t == CType::Char => Type::Str,
            CType::Array(t, n) => Type::Array(Box::new(t.to_sema()), *n),
            CType::Struct(n) => Type::Struct(n.clone()),
            CType::Enum { name, size, id } => Type::Enum {
                name: name.clone(),
                bits: size * 8,
                id: *id,
            },
        }
    }

    /// The integer type C spells with `words` (`unsigned long`, `uint32_t`, `u8`,
    /// `size_t`, `bool`, `void`), qualifiers (`const`, `volatile`) already removed.
    pub fn from_words(words: &[&str]) -> Option<CType> {
        let int = |size, signed| Some(CType::Int { size, signed });
        if let [w] = words {
            match *w {
                "u8" | "__u8" | "uint8_t" => return int(1, false),
                "u16" | "__u16" | "uint16_t" => return int(2, false),
                "u32" | "__u32" | "uint32_t" => return int(4, false),
                "u64" | "__u64" | "uint64_t" | "size_t" | "uintptr_t" => return int(8, false),
                "s8" | "__s8" | "int8_t" => return int(1, true),
                "s16" | "__s16" | "int16_t" => return int(2, true),
                "s32" | "__s32" | "int32_t" | "pid_t" => return int(4, true),
                "s64" | "__s64" | "int64_t" | "ssize_t" | "intptr_t" => return int(8, true),
                "bool" | "_Bool" => return Some(CType::Bool),
                "void" => return Some(CType::Void),
                _ => {}
            }
        }
        let count = |w: &str| words.iter().filter(|x| **x == w).count();
        let (signed, unsigned) = (count("signed"), count("unsigned"));
        let (char_, short, int_, long) =
            (count("char"), count("short"), count("int"), count("long"));
        let known = signed + unsigned + char_ + short + int_ + long;
        if words.is_empty() || known != words.len() || signed + unsigned > 1 || int_ > 1 {
            return None;
        }
        let is_signed = unsigned == 0;
        match (char_, short, long) {
            (1, 0, 0) if int_ == 0 => {
                if unsigned == 1 {
                    int(1, false)
                } else {
                    Some(CType::Char)
                }
            }
            (0, 1, 0) => int(2, is_signed),
            (0, 0, 1 | 2) => int(8, is_signed),
            (0, 0, 0) => int(4, is_signed),
            _ => None,
        }
    }
}

/// A member of a script-defined struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CMember {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: CType,
    /// Bytes from the start of the struct (for a bitfield: to the byte holding its
    /// first bit).
    pub offset: u64,
    /// A bitfield: its first bit within the byte at `offset` (0..8) and its width.
    pub bits: Option<(u8, u8)>,
    /// Where it is declared.
    pub span: Span,
}

/// A member as declared, before layout: `TYPE NAME`, `TYPE NAME : WIDTH`, an unnamed
/// bitfield `TYPE : WIDTH` (padding; `: 0` moves to the next unit of `TYPE`) or an
/// anonymous struct or union (no name, no width: its members are the outer one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDecl {
    /// Its name (`None` for an unnamed bitfield).
    pub name: Option<String>,
    /// Its type.
    pub ty: CType,
    /// A bitfield's width in bits.
    pub width: Option<u8>,
    /// Where it is declared.
    pub span: Span,
}

/// The GCC attributes a definition may carry after its `}`:
/// `__attribute__((packed))`, `__attribute__((aligned(N)))`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `packed`: no padding between members, alignment 1.
    pub packed: bool,
    /// `aligned(N)`: the struct's alignment is at least N.
    pub aligned: Option<u64>,
}

/// A struct or union the script defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CStruct {
    /// Its tagged name (`struct Foo`, `union U`).
    pub name: String,
    /// Its members, laid out.
    pub members: Vec<CMember>,
    /// Its size in bytes (a multiple of `align`).
    pub size: u64,
    /// Its alignment in bytes.
    pub align: u64,
    /// Where its name is.
    pub span: Span,
}

/// The structs, unions and enums a script defines, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CTypes {
    /// The struct and union definitions.
    pub structs: Vec<CStruct>,
    /// The enum definitions ([`Type::Enum`]'s `id` indexes them).
    pub enums: Vec<CEnum>,
    /// What each definition of the script was laid out from, in order, so that
    /// [`CTypes::relayout`] can lay them out again with the kernel's sizes.
    pub inputs: Vec<LayoutInput>,
    /// Whether a member is a kernel struct by value (`struct list_head l;`): its size
    /// and alignment come from BTF, so the parser's layout is provisional.
    pub needs_kernel: bool,
}

/// The members and attributes a struct or union definition was laid out from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutInput {
    /// Its tagged name.
    pub name: String,
    /// `union` rather than `struct`.
    pub union: bool,
    /// Its member declarations.
    pub members: Vec<MemberDecl>,
    /// Where its name is.
    pub span: Span,
    /// `packed`, `aligned(N)`.
    pub attrs: Attributes,
}

/// The size and alignment of a kernel struct or union by its tagged name (from BTF).
pub type KernelSizes<'a> = &'a dyn Fn(&str) -> Option<(u64, u64)>;

impl CTypes {
    /// The enum `name` (`enum Foo`) and its index, if the script defines it.
    pub fn get_enum(&self, name: &str) -> Option<(u32, &CEnum)> {
        self.enums
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == name)
            .map(|(i, e)| (i as u32, e))
    }

    /// The enumerator `name` and the index of its enum, if the script defines one.
    pub fn enumerator(&self, name: &str) -> Option<(u32, &CEnumerator)> {
        self.enums.iter().enumerate().find_map(|(i, e)| {
            e.variants
                .iter()
                .find(|v| v.name == name)
                .map(|v| (i as u32, v))
        })
    }

    /// The type of a value of enum `id` read from memory (`bits` from its size) or
    /// made by a constant or a cast (64 bits, as upstream types them).
    pub fn enum_type(&self, id: u32, bits: u8) -> Type {
        Type::Enum {
            name: self.enums[id as usize].name.clone(),
            bits,
            id,
        }
    }

    /// The definition of `name` (`struct Foo`), if the script has one.
    pub fn get(&self, name: &str) -> Option<&CStruct> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The size and alignment of `ty`; `None` for `void` and for a struct by value that
    /// the script does not define.
    pub fn size_align(&self, ty: &CType) -> Option<(u64, u64)> {
        self.size_align_with(ty, &|_| None)
    }

    /// [`CTypes::size_align`], asking `kernel` about structs the script does not define.
    pub fn size_align_with(&self, ty: &CType, kernel: KernelSizes<'_>) -> Option<(u64, u64)> {
        Some(match ty {
            CType::Int { size, .. } => (u64::from(*size), u64::from(*size)),
            CType::Char | CType::Bool => (1, 1),
            CType::Void => return None,
            CType::Ptr(_) => (8, 8),
            CType::Array(t, n) => {
                let (s, a) = self.size_align_with(t, kernel)?;
                (s.checked_mul(*n)?, a)
            }
            CType::Struct(name) => match self.get(name) {
                Some(s) => (s.size, s.align),
                None => kernel(name)?,
            },
            CType::Enum { size, .. } => (u64::from(*size), u64::from(*size)),
        })
    }

    /// Lays out every definition again (in order, so later ones see earlier ones' new
    /// sizes) with `kernel`'s sizes for the kernel structs members hold by value. An
    /// error names a member whose struct neither the script nor the kernel defines.
    pub fn relayout(&mut self, kernel: KernelSizes<'_>) -> Result<(), crate::diag::Diagnostic> {
        for input in self.inputs.clone() {
            for m in &input.members {
                if self.size_align_with(&m.ty, kernel).is_none()
                    && let Some(name) = struct_by_value(&m.ty)
                {
                    return Err(crate::diag::Diagnostic::error(
                        format!("unknown member type `{name}`"),
                        m.span,
                        "neither the script nor the kernel's BTF defines it",
                    )
                    .with_help(format!(
                        "define `{name}` before this struct, or use a pointer (`{name} *`)"
                    )));
                }
            }
            let def = self.lay_out(input, kernel);
            if let Some(slot) = self.structs.iter_mut().find(|s| s.name == def.name) {
                *slot = def;
            }
        }
        self.needs_kernel = false;
        Ok(())
    }

    /// Lays out a struct (or, with `union`, a union) of `members` as gcc does on
    /// x86-64: each member at the next multiple of its alignment; a bitfield in the
    /// first bits left when it does not cross a unit of its type's size, else at the
    /// next unit; `: 0` ends the unit; unnamed bitfields do not align the struct. A
    /// member whose size [`CTypes::size_align`] does not know takes no room (the parser
    /// reports those first).
    pub fn layout(
        &self,
        name: String,
        union: bool,
        members: Vec<MemberDecl>,
        span: Span,
    ) -> CStruct {
        self.layout_with(name, union, members, span, Attributes::default())
    }

    /// [`CTypes::layout`] under `__attribute__((packed))` (every member at alignment 1,
    /// bitfields back to back) and `aligned(N)` (the struct aligned to at least N).
    pub fn layout_with(
        &self,
        name: String,
        union: bool,
        members: Vec<MemberDecl>,
        span: Span,
        attrs: Attributes,
    ) -> CStruct {
        let input = LayoutInput {
            name,
            union,
            members,
            span,
            attrs,
        };
        self.lay_out(input, &|_| None)
    }

    /// [`CTypes::layout_with`] of `input`, with `kernel`'s sizes for kernel structs by
    /// value.
    fn lay_out(&self, input: LayoutInput, kernel: KernelSizes<'_>) -> CStruct {
        let LayoutInput {
            name,
            union,
            members,
            span,
            attrs,
        } = input;
        // The end of the laid-out members, in bits.
        let mut end = 0u64;
        let mut align = attrs.aligned.unwrap_or(1).max(1);
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let (size, a) = self.size_align_with(&m.ty, kernel).unwrap_or((0, 1));
            let a = if attrs.packed { 1 } else { a };
            let (bit, bits) = match m.width {
                None => {
                    let off = if union {
                        0
                    } else {
                        end.div_ceil(8).div_ceil(a) * a
                    };
                    end = end.max((off + size) * 8);
                    (off * 8, None)
                }
                Some(0) => {
                    if !union {
                        end = end.div_ceil(a * 8) * a * 8;
                    }
                    continue;
                }
                Some(w) => {
                    let unit = (size * 8).max(1);
                    let w64 = u64::from(w);
                    let mut start = if union { 0 } else { end };
                    if !attrs.packed && start / unit != (start + w64 - 1) / unit {
                        start = start.div_ceil(unit) * unit;
                    }
                    end = end.max(start + w64);
                    (start, Some(((start % 8) as u8, w)))
                }
            };
            let Some(mname) = m.name else {
                // An anonymous struct or union member: its members are this one's.
                if let (None, CType::Struct(inner)) = (bits, &m.ty)
                    && let Some(def) = self.get(inner)
                {
                    align = align.max(a);
                    out.extend(def.members.iter().map(|im| CMember {
                        offset: im.offset + bit / 8,
                        ..im.clone()
                    }));
                }
                continue;
            };
            align = align.max(a);
            out.push(CMember {
                name: mname,
                ty: m.ty,
                offset: bit / 8,
                bits,
                span: m.span,
            });
        }
        CStruct {
            name,
            members: out,
            size: end.div_ceil(8).div_ceil(align) * align,
            align,
            span,
        }
    }
}

/// The struct a member of type `t` holds by value, through arrays (`struct x a[2]`).
pub fn struct_by_value(t: &CType) -> Option<&str> {
    match t {
        CType::Struct(n) => Some(n),
        CType::Array(e, _) => struct_by_value(e),
        _ => None,
    }
}

/// A [`TypeProvider`] that answers from the script's definitions first and asks `inner`
/// about everything else.
pub(crate) struct Overlay<'a> {
    pub(crate) defs: &'a CTypes,
    pub(crate) inner: &'a dyn TypeProvider,
}

impl Overlay<'_> {
    /// `t` with every kernel enum that the script defines an enum of the same name for
    /// turned into the script's (a definition shadows the kernel type of its name).
    fn shadow(&self, t: Type) -> Type {
        match t {
            Type::Enum { name, bits, id } if is_kernel_enum(id) => {
                let id = self.defs.get_enum(&name).map_or(id, |(i, _)| i);
                Type::Enum { name, bits, id }
            }
            Type::Ptr(t) => Type::Ptr(Box::new(self.shadow(*t))),
            Type::Array(t, n) => Type::Array(Box::new(self.shadow(*t)), n),
            t => t,
        }
    }

    fn shadow_lookup<T>(&self, l: Lookup<T>, f: impl Fn(T) -> T) -> Lookup<T> {
        match l {
            _ if self.defs.enums.is_empty() => l,
            Lookup::Found(x) => Lookup::Found(f(x)),
            l => l,
        }
    }
}

impl TypeProvider for Overlay<'_> {
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        self.inner.probe(ap)
    }

    fn user_symbol(&self, ap: &AttachPoint, name: &str) -> Lookup<u64> {
        self.inner.user_symbol(ap, name)
    }

    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        self.shadow_lookup(self.inner.args(ap), |fields| {
            fields
                .into_iter()
                .map(|f| Field {
                    ty: self.shadow(f.ty),
                    ..f
                })
                .collect()
        })
    }

    fn return_type(&self, ap: &AttachPoint) -> Lookup<Type> {
        self.shadow_lookup(self.inner.return_type(ap), |t| self.shadow(t))
    }

    fn enum_constant_type(&self, name: &str) -> Option<Type> {
        self.inner.enum_constant_type(name)
    }

    fn enum_type(&self, name: &str) -> Option<Type> {
        self.inner.enum_type(name)
    }

    fn kernel_enum(&self, id: u32) -> Option<CEnum> {
        self.inner.kernel_enum(id)
    }

    fn members(&self, name: &str) -> Lookup<Vec<(String, Type)>> {
        match self.defs.get(name) {
            Some(s) => Lookup::Found(
                s.members
                    .iter()
                    .map(|m| (m.name.clone(), m.ty.to_sema()))
                    .collect(),
            ),
            None => self.shadow_lookup(self.inner.members(name), |ms| {
                ms.into_iter().map(|(n, t)| (n, self.shadow(t))).collect()
            }),
        }
    }

    fn enum_value(&self, name: &str) -> Option<i64> {
        self.inner.enum_value(name)
    }

    fn member(&self, name: &str, member: &str) -> Lookup<Type> {
        if self.defs.get(name).is_none() {
            return self.shadow_lookup(self.inner.member(name, member), |t| self.shadow(t));
        }
        match self.member_offset(name, member) {
            Lookup::Found((_, t)) => Lookup::Found(t),
            Lookup::Unknown => Lookup::Unknown,
            Lookup::Missing { candidates } => Lookup::Missing { candidates },
        }
    }

    fn struct_size(&self, name: &str) -> Option<u64> {
        if let Some((_, e)) = self.defs.get_enum(name) {
            return Some(u64::from(e.size()));
        }
        match self.defs.get(name) {
            Some(s) => Some(s.size),
            None => self.inner.struct_size(name),
        }
    }

    fn struct_align(&self, name: &str) -> Option<u64> {
        match self.defs.get(name) {
            Some(s) => Some(s.align),
            None => self.inner.struct_align(name),
        }
    }

    fn member_offset(&self, name: &str, member: &str) -> Lookup<(u64, Type)> {
        let Some(s) = self.defs.get(name) else {
            return self.shadow_lookup(self.inner.member_offset(name, member), |(o, t)| {
                (o, self.shadow(t))
            });
        };
        match s.members.iter().find(|m| m.name == member) {
            Some(m) => Lookup::Found((m.offset, m.ty.to_sema())),
            None => Lookup::Missing {
                candidates: s.members.iter().map(|m| m.name.clone()).collect(),
            },
        }
    }

    fn kernel_function(&self, name: &str) -> Lookup<()> {
        self.inner.kernel_function(name)
    }

    fn kernel_variable(&self, name: &str) -> Lookup<()> {
        self.inner.kernel_variable(name)
    }

    fn struct_type(&self, name: &str) -> Lookup<()> {
        if self.defs.get_enum(name).is_some() {
            return Lookup::Found(());
        }
        match self.defs.get(name) {
            Some(_) => Lookup::Found(()),
            None => match self.inner.struct_type(name) {
                Lookup::Missing { mut candidates } => {
                    candidates.extend(self.defs.structs.iter().map(|s| s.name.clone()));
                    Lookup::Missing { candidates }
                }
                l => l,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(size: u8) -> CType {
        CType::Int { size, signed: true }
    }

    fn lay(defs: &CTypes, union: bool, ms: Vec<CType>) -> CStruct {
        let ms = ms
            .into_iter()
            .enumerate()
            .map(|(i, ty)| MemberDecl {
                name: Some(format!("m{i}")),
                ty,
                width: None,
                span: Span::new(0, 0),
            })
            .collect();
        defs.layout("struct T".into(), union, ms, Span::new(0, 0))
    }

    fn offsets(s: &CStruct) -> Vec<u64> {
        s.members.iter().map(|m| m.offset).collect()
    }

    #[test]
    fn words() {
        assert_eq!(
            CType::from_words(&["unsigned", "long"]),
            Some(CType::Int {
                size: 8,
                signed: false
            })
        );
        assert_eq!(CType::from_words(&["long", "long", "int"]), Some(int(8)));
        assert_eq!(
            CType::from_words(&["unsigned"]),
            Some(CType::Int {
                size: 4,
                signed: false
            })
        );
        assert_eq!(CType::from_words(&["short"]), Some(int(2)));
        assert_eq!(CType::from_words(&["char"]), Some(CType::Char));
        assert_eq!(
            CType::from_words(&["unsigned", "char"]),
            Some(CType::Int {
                size: 1,
                signed: false
            })
        );
        assert_eq!(
            CType::from_words(&["uint16_t"]),
            Some(CType::Int {
                size: 2,
                signed: false
            })
        );
        assert_eq!(CType::from_words(&["foo_t"]), None);
        assert_eq!(CType::from_words(&["short", "char"]), None);
    }

    #[test]
    fn layout() {
        let defs = CTypes::default();
        let a = lay(
            &defs,
            false,
            vec![
                CType::Char,
                int(4),
                int(8),
                CType::Array(Box::new(CType::Char), 3),
            ],
        );
        assert_eq!((a.size, a.align), (24, 8));
        assert_eq!(offsets(&a), [0, 4, 8, 16]);
        let b = lay(&defs, false, vec![CType::Char, int(2), CType::Char]);
        assert_eq!((b.size, offsets(&b)), (6, vec![0, 2, 4]));
        let u = lay(
            &defs,
            true,
            vec![CType::Char, int(4), CType::Array(Box::new(CType::Char), 5)],
        );
        assert_eq!((u.size, u.align, offsets(&u)), (8, 4, vec![0, 0, 0]));
        let mut defs = CTypes::default();
        defs.structs.push(CStruct {
            name: "struct B".into(),
            ..b
        });
        let n = lay(
            &defs,
            false,
            vec![
                CType::Char,
                CType::Struct("struct B".into()),
                CType::Ptr(Box::new(CType::Void)),
            ],
        );
        assert_eq!((n.size, offsets(&n)), (16, vec![0, 2, 8]));
        let e = lay(&defs, false, vec![]);
        assert_eq!((e.size, e.align), (0, 1));
    }

    fn parsed(src: &str) -> CTypes {
        crate::parser::parse(&format!("{src}\nbegin {{ exit(); }}"))
            .unwrap()
            .c_types
    }

    fn member_offsets(defs: &CTypes, name: &str) -> Vec<(String, u64)> {
        let s = defs.get(name).unwrap();
        s.members
            .iter()
            .map(|m| (m.name.clone(), m.offset))
            .collect()
    }

    #[test]
    fn parsed_definitions() {
        let defs = parsed("struct A { char c; int i; long l; char s[3]; }");
        let a = defs.get("struct A").unwrap();
        assert_eq!((a.size, a.align), (24, 8));
        let want: Vec<(String, u64)> = [("c", 0), ("i", 4), ("l", 8), ("s", 16)]
            .map(|(n, o)| (n.to_string(), o))
            .into();
        assert_eq!(member_offsets(&defs, "struct A"), want);
        assert_eq!(a.members[3].ty.to_sema(), Type::Str);

        let defs = parsed(
            "struct Foo;\n\
             struct In { short a; uint8_t b[4]; };\n\
             struct Foo { int m, n; const char *p, name[16]; struct Foo *next;\n\
               unsigned long long x; struct In in; int grid[2][3]; bool ok; }\n\
             union U { int i; char c[5]; struct task_struct *t; }",
        );
        let foo = defs.get("struct Foo").unwrap();
        let offs: Vec<u64> = foo.members.iter().map(|m| m.offset).collect();
        assert_eq!(offs, [0, 4, 8, 16, 32, 40, 48, 56, 80]);
        assert_eq!(foo.size, 88);
        assert_eq!(
            foo.members[2].ty,
            CType::Ptr(Box::new(CType::Char)),
            "`const char *p, name[16]`: the pointer is per declarator"
        );
        assert_eq!(
            foo.members[8 - 1].ty.to_sema(),
            Type::Array(Box::new(Type::Array(Box::new(Type::int(32, true)), 3)), 2)
        );
        let u = defs.get("union U").unwrap();
        assert_eq!((u.size, u.align), (8, 8));
        assert!(u.members.iter().all(|m| m.offset == 0));
    }

    /// Bit offset and width of every bitfield, with the size and alignment: the values
    /// gcc gives on x86-64 (printed by a C program that sets each field to all ones).
    #[test]
    fn bitfields_as_gcc_lays_them_out() {
        let defs = parsed(
            "struct A { unsigned int a:3, b:5; };\n\
             struct B { char c; int x:4; };\n\
             struct C { char c; int :4; };\n\
             struct D { unsigned char a:7; unsigned char b:3; short s:9, t:9; long l:40; char z; };\n\
             struct E { int a:3; int :0; int b:2; char c:2; unsigned long long big:60; bool f:1; };\n\
             struct F { int i; unsigned u:31; unsigned v:2; };\n\
             union U { int a:3; char b; unsigned long l:33; };",
        );
        let bits = |name: &str| -> (u64, u64, Vec<(String, u64, u8)>) {
            let s = defs.get(name).unwrap();
            let ms = s
                .members
                .iter()
                .map(|m| {
                    let (first, width) = m.bits.unwrap_or((0, 0));
                    (m.name.clone(), m.offset * 8 + u64::from(first), width)
                })
                .collect();
            (s.size, s.align, ms)
        };
        let want = |size, align, ms: &[(&str, u64, u8)]| {
            let ms = ms.iter().map(|(n, b, w)| (n.to_string(), *b, *w)).collect();
            (size, align, ms)
        };
        assert_eq!(bits("struct A"), want(4, 4, &[("a", 0, 3), ("b", 3, 5)]));
        assert_eq!(bits("struct B"), want(4, 4, &[("c", 0, 0), ("x", 8, 4)]));
        assert_eq!(bits("struct C"), want(2, 1, &[("c", 0, 0)]));
        assert_eq!(
            bits("struct D"),
            want(
                16,
                8,
                &[
                    ("a", 0, 7),
                    ("b", 8, 3),
                    ("s", 16, 9),
                    ("t", 32, 9),
                    ("l", 64, 40),
                    ("z", 104, 0)
                ]
            )
        );
        assert_eq!(
            bits("struct E"),
            want(
                16,
                8,
                &[
                    ("a", 0, 3),
                    ("b", 32, 2),
                    ("c", 34, 2),
                    ("big", 64, 60),
                    ("f", 124, 1)
                ]
            )
        );
        assert_eq!(
            bits("struct F"),
            want(12, 4, &[("i", 0, 0), ("u", 32, 31), ("v", 64, 2)])
        );
        assert_eq!(
            bits("union U"),
            want(8, 8, &[("a", 0, 3), ("b", 0, 0), ("l", 0, 33)])
        );
        assert_eq!(defs.get("struct D").unwrap().members[4].bits, Some((0, 40)));
    }

    #[test]
    fn bitfield_errors() {
        let err = |src: &str| {
            crate::parser::parse(&format!("{src}\nbegin {{ exit(); }}"))
                .unwrap_err()
                .message
        };
        assert_eq!(
            err("struct S { char c:9; }"),
            "the width of bitfield `c` exceeds its type (8 bits)"
        );
        assert_eq!(err("struct S { int a:0; }"), "bitfield `a` has width 0");
        assert_eq!(
            err("struct S { int *p:3; }"),
            "bitfield `p` has a type that is not an integer"
        );
        assert_eq!(
            err("struct S { int a:3, a:2; }"),
            "`struct S` has two members named `a`"
        );
    }

    /// Nested and anonymous definitions: the offsets gcc gives (a C program printed
    /// them with `offsetof`); an anonymous member's members are the outer struct's.
    #[test]
    fn nested_and_anonymous_definitions_as_gcc() {
        let defs = parsed(
            "struct A { char c; struct { int x; char y; } inner; union { int a; char bb; long l; };\n\
               struct B { short s; } b; struct { char q; struct { int deep; }; };\n\
               enum { E1 = 3 } e; char z }",
        );
        let a = defs.get("struct A").unwrap();
        let offs: Vec<(&str, u64)> = a
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.offset))
            .collect();
        assert_eq!(
            offs,
            [
                ("c", 0),
                ("inner", 4),
                ("a", 16),
                ("bb", 16),
                ("l", 16),
                ("b", 24),
                ("q", 28),
                ("deep", 32),
                ("e", 36),
                ("z", 40)
            ]
        );
        assert_eq!((a.size, a.align), (48, 8));
        assert_eq!(a.members[1].ty, CType::Struct("struct <anon_1>".into()));
        let inner = defs.get("struct <anon_1>").unwrap();
        assert_eq!((inner.size, inner.members[1].offset), (8, 4));
        assert_eq!(defs.get("struct B").map(|b| b.size), Some(2));
        assert_eq!(defs.enumerator("E1").map(|(_, v)| v.value), Some(3));
        let err = crate::parser::parse("struct S { int a; union { int a; char b; }; }\nbegin { }")
            .unwrap_err();
        assert_eq!(err.message, "`struct S` has two members named `a`");
    }
}
