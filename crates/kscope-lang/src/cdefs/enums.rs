//! C `enum` definitions at the top of a script (`enum Foo { A, B = 5, C };`): their
//! enumerators become integer constants, and a value of the enum's type prints as the
//! name of the enumerator it equals (upstream's symbolization).

use crate::span::Span;

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
    /// Where its name (or `enum` keyword) is.
    pub span: Span,
}

impl CEnum {
    /// Bytes of a value of this type as gcc lays it out on x86-64: 4 when every value
    /// fits `int` or every value fits `unsigned int`, else 8.
    pub fn size(&self) -> u8 {
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
