//! C `enum` definitions at the top of a script (`enum Foo { A, B = 5, C };`): their
//! enumerators become integer constants, and a value of the enum's type prints as the
//! name of the enumerator it equals (upstream's symbolization). The kernel's enums
//! (from BTF) are values of the same kind: [`Type::Enum`] ids at or above
//! [`KERNEL_ENUM`] name them, and [`EnumTable`] holds the definitions a checked
//! program's values need.

use crate::sema::Type;
use crate::span::Span;
use std::collections::BTreeMap;

/// [`Type::Enum`] ids at or above this one are the kernel's enums: `KERNEL_ENUM | ID`
/// with `ID` the BTF type id of the enum in the kernel's (vmlinux) BTF; ids below it
/// index the script's [`CTypes::enums`](crate::cdefs::CTypes::enums). `KERNEL_ENUM`
/// itself (BTF id 0, never an enum) is a kernel enum not resolved yet: a tracepoint
/// field declared `enum NAME` in its `format` file before BTF looks the name up.
pub const KERNEL_ENUM: u32 = 1 << 31;

/// Whether enum id `id` is the kernel's (see [`KERNEL_ENUM`]).
pub fn is_kernel_enum(id: u32) -> bool {
    id & KERNEL_ENUM != 0
}

/// One enumerator of a script-defined enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEnumerator {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: i64,
    /// Where its name is.
    pub span: Span,
}

/// An enum the script defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEnum {
    /// Its tagged name (`enum Foo`; an anonymous one is `enum <anon_N>`, N counting
    /// from 1 in source order).
    pub name: String,
    /// Its enumerators in source order.
    pub variants: Vec<CEnumerator>,
    /// Where its name (or `enum` keyword) is (nowhere for a kernel enum).
    pub span: Span,
    /// A kernel enum's size in bytes, as BTF gives it; `None` for a script's enum,
    /// which gcc's rules size.
    pub btf_size: Option<u8>,
}

impl CEnum {
    /// Bytes of a value of this type: a kernel enum's BTF size, or as gcc lays out the
    /// script's on x86-64: 4 when every value fits `int` or every value fits `unsigned
    /// int`, else 8.
    pub fn size(&self) -> u8 {
        if let Some(n) = self.btf_size {
            return n;
        }
        let fits_int = self.variants.iter().all(|v| i32::try_from(v.value).is_ok());
        let fits_uint = self.variants.iter().all(|v| u32::try_from(v.value).is_ok());
        if fits_int || fits_uint { 4 } else { 8 }
    }

    /// Whether the enum has an anonymous (generated) name.
    pub fn is_anonymous(&self) -> bool {
        self.name.starts_with("enum <anon_")
    }

    /// The name of the first enumerator equal to `value` in its low `bits` bits (a
    /// member of 4 bytes holding -1 names the enumerator `-1`).
    pub fn variant_name(&self, value: u64, bits: u8) -> Option<&str> {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        self.variants
            .iter()
            .find(|v| (v.value as u64) & mask == value & mask)
            .map(|v| v.name.as_str())
    }

    /// Whether some enumerator has the value `value`.
    pub fn has_value(&self, value: i128) -> bool {
        self.variants.iter().any(|v| i128::from(v.value) == value)
    }
}

/// The enums a checked program's values may have, by [`Type::Enum`] id: the script's
/// (by index) and the kernel's that the program uses (by `KERNEL_ENUM | BTF id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnumTable {
    /// The script's enums.
    pub script: Vec<CEnum>,
    /// The kernel's enums that some value of the program has.
    pub kernel: BTreeMap<u32, CEnum>,
}

impl EnumTable {
    /// The enum of id `id`, if known (an unresolved or unknown kernel enum is not).
    pub fn get(&self, id: u32) -> Option<&CEnum> {
        if is_kernel_enum(id) {
            self.kernel.get(&id)
        } else {
            self.script.get(id as usize)
        }
    }
}

/// Calls `f` with the id of every enum `t` holds (in tuples, records, arrays and
/// behind pointers).
pub fn enum_ids(t: &Type, f: &mut impl FnMut(u32)) {
    match t {
        Type::Enum { id, .. } => f(*id),
        Type::Ptr(t) | Type::Array(t, _) => enum_ids(t, f),
        Type::Tuple(ts) => ts.iter().for_each(|t| enum_ids(t, f)),
        Type::Record(fs) => fs.iter().for_each(|(_, t)| enum_ids(t, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(values: &[i64]) -> CEnum {
        CEnum {
            name: "enum E".into(),
            variants: values
                .iter()
                .enumerate()
                .map(|(i, &value)| CEnumerator {
                    name: format!("V{i}"),
                    value,
                    span: Span::new(0, 0),
                })
                .collect(),
            span: Span::new(0, 0),
            btf_size: None,
        }
    }

    #[test]
    fn sizes_as_gcc() {
        assert_eq!(e(&[]).size(), 4);
        assert_eq!(e(&[0, 1, 99999]).size(), 4);
        assert_eq!(e(&[-1, i64::from(i32::MAX)]).size(), 4);
        assert_eq!(e(&[0, i64::from(u32::MAX)]).size(), 4);
        assert_eq!(e(&[-1, i64::from(u32::MAX)]).size(), 8);
        assert_eq!(e(&[1 << 40]).size(), 8);
    }

    #[test]
    fn names_by_value() {
        let x = e(&[1, 2, -1, 2]);
        assert_eq!(x.variant_name(2, 64), Some("V1"));
        assert_eq!(x.variant_name(0xffff_ffff, 32), Some("V2"));
        assert_eq!(x.variant_name(u64::MAX, 64), Some("V2"));
        assert_eq!(x.variant_name(3, 64), None);
        assert!(x.has_value(-1) && !x.has_value(3));
    }

    #[test]
    fn kernel_enums_keep_their_btf_size() {
        let mut k = e(&[0, 2]);
        k.btf_size = Some(1);
        assert_eq!(k.size(), 1);
        assert_eq!(k.variant_name(0x102, k.size() * 8), Some("V1"));
    }

    #[test]
    fn the_table_holds_script_and_kernel_enums_by_id() {
        let mut t = EnumTable {
            script: vec![e(&[1])],
            ..EnumTable::default()
        };
        t.kernel.insert(KERNEL_ENUM | 7, e(&[2]));
        assert_eq!(t.get(0).map(|e| e.variants[0].value), Some(1));
        assert_eq!(t.get(KERNEL_ENUM | 7).map(|e| e.variants[0].value), Some(2));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(KERNEL_ENUM), None);
        assert_eq!(t.get(KERNEL_ENUM | 8), None);
        assert!(is_kernel_enum(KERNEL_ENUM | 7) && !is_kernel_enum(7));
        let en = |id| Type::Enum {
            name: "enum E".into(),
            bits: 32,
            id,
        };
        let nested = Type::Tuple(vec![
            en(1),
            Type::Record(vec![("a".into(), Type::Ptr(Box::new(en(KERNEL_ENUM | 3))))]),
            Type::Array(Box::new(en(2)), 4),
            Type::UINT64,
        ]);
        let mut ids = Vec::new();
        enum_ids(&nested, &mut |id| ids.push(id));
        assert_eq!(ids, [1, KERNEL_ENUM | 3, 2]);
    }

    fn parsed(src: &str) -> crate::cdefs::CTypes {
        crate::parser::parse(&format!("{src}\nbegin {{ exit(); }}"))
            .unwrap()
            .c_types
    }

    fn values(e: &CEnum) -> Vec<(&str, i64)> {
        e.variants
            .iter()
            .map(|v| (v.name.as_str(), v.value))
            .collect()
    }

    #[test]
    fn parsed_enums() {
        let defs = parsed(
            "enum Foo { A, B = 5, C, };\n\
             enum { X = 1 << 3, Y = X | B, Z = -(Y + 1), W }\n\
             enum Big { H = 0x100000000 };\n\
             enum { Q }\n\
             struct S { char c; enum Foo f; enum Big b; }",
        );
        let names: Vec<&str> = defs.enums.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["enum Foo", "enum <anon_1>", "enum Big", "enum <anon_2>"]
        );
        assert_eq!(values(&defs.enums[0]), [("A", 0), ("B", 5), ("C", 6)]);
        assert_eq!(
            values(&defs.enums[1]),
            [("X", 8), ("Y", 13), ("Z", -14), ("W", -13)]
        );
        assert_eq!((defs.enums[0].size(), defs.enums[2].size()), (4, 8));
        assert_eq!(
            defs.enumerator("W").map(|(id, v)| (id, v.value)),
            Some((1, -13))
        );
        let s = defs.get("struct S").unwrap();
        let offs: Vec<u64> = s.members.iter().map(|m| m.offset).collect();
        assert_eq!((offs, s.size), (vec![0, 4, 8], 16));
        assert_eq!(
            s.members[1].ty.to_sema(),
            crate::sema::Type::Enum {
                name: "enum Foo".into(),
                bits: 32,
                id: 0
            }
        );
    }

    #[test]
    fn enum_errors() {
        let err = |src: &str| {
            crate::parser::parse(&format!("{src}\nbegin {{ exit(); }}"))
                .unwrap_err()
                .message
        };
        assert_eq!(
            err("enum E { A, A }"),
            "the enumerator `A` is defined twice"
        );
        assert_eq!(
            err("enum E { A }; enum F { A }"),
            "the enumerator `A` is defined twice"
        );
        assert_eq!(
            err("enum E { A = 1 / 0 }"),
            "an enumerator's value must be a constant"
        );
        assert_eq!(
            err("enum E { A = B }"),
            "an enumerator's value must be a constant"
        );
        assert_eq!(
            err("enum E { A }; enum E { B }"),
            "`enum E` is defined twice"
        );
        assert_eq!(
            err("enum E { A = 0x7fffffffffffffff, B }"),
            "the value of `B` does not fit 64 bits"
        );
    }
}
