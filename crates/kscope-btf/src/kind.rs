//! BTF type kinds.

use std::fmt;

/// BTF type kinds (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `void`: only type id 0.
    Void = 0,
    /// `BTF_KIND_INT`: an integer; trailing u32 with encoding, offset and bits.
    Int = 1,
    /// `BTF_KIND_PTR`: a pointer to `type`.
    Ptr = 2,
    /// `BTF_KIND_ARRAY`: trailing `btf_array` (element type, index type, count).
    Array = 3,
    /// `BTF_KIND_STRUCT`: `vlen` trailing `btf_member`s.
    Struct = 4,
    /// `BTF_KIND_UNION`: `vlen` trailing `btf_member`s.
    Union = 5,
    /// `BTF_KIND_ENUM`: `vlen` trailing `btf_enum`s (32-bit values).
    Enum = 6,
    /// `BTF_KIND_FWD`: a forward declaration of a struct (or union with `kind_flag`).
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`: a name for `type`.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`: `volatile type`.
    Volatile = 9,
    /// `BTF_KIND_CONST`: `const type`.
    Const = 10,
    /// `BTF_KIND_RESTRICT`: `restrict type`.
    Restrict = 11,
    /// `BTF_KIND_FUNC`: a function; `type` is its FUNC_PROTO, `vlen` its linkage.
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO`: `vlen` trailing `btf_param`s, return type in `type`.
    FuncProto = 13,
    /// `BTF_KIND_VAR`: a variable; trailing u32 linkage.
    Var = 14,
    /// `BTF_KIND_DATASEC`: a section; `vlen` trailing `btf_var_secinfo`s.
    Datasec = 15,
    /// `BTF_KIND_FLOAT`: a floating-point type.
    Float = 16,
    /// `BTF_KIND_DECL_TAG`: an attribute on a type or member; trailing u32 component index.
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`: an attribute on a pointer target.
    TypeTag = 18,
    /// `BTF_KIND_ENUM64`: `vlen` trailing `btf_enum64`s (64-bit values).
    Enum64 = 19,
}

impl Kind {
    /// The kind for a `BTF_KIND_*` number (0 gives [`Kind::Void`]).
    pub fn from_u8(n: u8) -> Option<Kind> {
        use Kind::*;
        Some(match n {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The name bpftool uses, e.g. `STRUCT` or `FUNC_PROTO`.
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Void => "VOID",
            Int => "INT",
            Ptr => "PTR",
            Array => "ARRAY",
            Struct => "STRUCT",
            Union => "UNION",
            Enum => "ENUM",
            Fwd => "FWD",
            Typedef => "TYPEDEF",
            Volatile => "VOLATILE",
            Const => "CONST",
            Restrict => "RESTRICT",
            Func => "FUNC",
            FuncProto => "FUNC_PROTO",
            Var => "VAR",
            Datasec => "DATASEC",
            Float => "FLOAT",
            DeclTag => "DECL_TAG",
            TypeTag => "TYPE_TAG",
            Enum64 => "ENUM64",
        }
    }

    /// Bytes of kind-specific data following the 12-byte `btf_type`, for `vlen` entries.
    pub fn trailing_len(self, vlen: u16) -> usize {
        use Kind::*;
        let vlen = vlen as usize;
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => vlen * 12,
            Enum | FuncProto => vlen * 8,
            _ => 0,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
