//! The hook through which later code supplies kernel types: tracepoint formats and BTF.

use super::types::Type;
use crate::ast::AttachPoint;
use std::collections::BTreeMap;

/// The answer to a kernel-type question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The provider cannot tell (no BTF, not resolved yet): the checker accepts the use.
    Unknown,
    /// The answer.
    Found(T),
    /// It does not exist; `candidates` are the names that do, for suggestions.
    Missing {
        /// Names that exist in the same place.
        candidates: Vec<String>,
    },
}

/// A named, typed field of `args` or of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// Supplies kernel types to the checker. Every method defaults to "cannot tell". `Sync`
/// because the checker runs on its own thread (see the crate docs).
pub trait TypeProvider: Sync {
    /// Whether the attach point exists (wildcards: whether anything matches). For an unknown
    /// probe, `Missing` lists nearby names for the suggestion.
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        let _ = ap;
        Lookup::Unknown
    }

    /// The fields of `args` for an attach point (tracepoint `format` file or BTF).
    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        let _ = ap;
        Lookup::Unknown
    }

    /// The value of a kernel enum constant such as `TCP_FIN_WAIT1` (from BTF).
    fn enum_value(&self, name: &str) -> Option<i64> {
        let _ = name;
        None
    }

    /// The type of the kernel enum constant `name` (`BTF_VAR_STATIC`): a 64-bit
    /// [`Type::Enum`] of the enum BTF declares it in, as upstream types an enumerator.
    /// `None` where the provider has no such enum (the constant is a plain integer).
    fn enum_constant_type(&self, name: &str) -> Option<Type> {
        let _ = name;
        None
    }

    /// The kernel enum `name` (`enum skb_drop_reason`) as a 64-bit [`Type::Enum`], for
    /// casts such as `(enum skb_drop_reason)2`; `None` when there is no such enum.
    fn enum_type(&self, name: &str) -> Option<Type> {
        let _ = name;
        None
    }

    /// The kernel enum whose [`Type::Enum`] id is `id` (at or above
    /// [`KERNEL_ENUM`](crate::cdefs::KERNEL_ENUM)), with its enumerators; `None` when
    /// it is unknown (its values then print as numbers).
    fn kernel_enum(&self, id: u32) -> Option<crate::cdefs::CEnum> {
        let _ = id;
        None
    }

    /// The type of `member` in the struct, union or enum `name` (`struct task_struct`).
    fn member(&self, name: &str, member: &str) -> Lookup<Type> {
        let _ = (name, member);
        Lookup::Unknown
    }

    /// The size in bytes of the struct or union `name` (`sizeof(struct task_struct)`).
    fn struct_size(&self, name: &str) -> Option<u64> {
        let _ = name;
        None
    }

    /// The alignment in bytes of the struct or union `name` (a script struct member
    /// of that kernel type by value is laid out with it).
    fn struct_align(&self, name: &str) -> Option<u64> {
        let _ = name;
        None
    }

    /// The byte offset of `member` in the struct or union `name`, and its type
    /// (`offsetof`); `Missing` lists the members there are.
    fn member_offset(&self, name: &str, member: &str) -> Lookup<(u64, Type)> {
        let _ = (name, member);
        Lookup::Unknown
    }

    /// The members of struct or union `name` in order, with those of its anonymous
    /// members inline (for a whole struct used as a value); `Unknown` where the provider
    /// cannot list them.
    fn members(&self, name: &str) -> Lookup<Vec<(String, Type)>> {
        let _ = name;
        Lookup::Unknown
    }

    /// The type of `retval` at `ap` (fexit: the function's BTF return type); `Unknown`
    /// where the provider cannot tell, and `retval` is then a `uint64`.
    fn return_type(&self, ap: &AttachPoint) -> Lookup<Type> {
        let _ = ap;
        Lookup::Unknown
    }

    /// Whether the kernel's BTF describes a function `name` (`kfunc_exist()`): `Found`,
    /// `Missing` (with no candidates), or `Unknown` without BTF.
    fn kernel_function(&self, name: &str) -> Lookup<()> {
        let _ = name;
        Lookup::Unknown
    }

    /// Whether the kernel's BTF describes a variable `name` (the per-CPU variables:
    /// `percpu_kaddr()`); `Missing` lists the variables there are.
    fn kernel_variable(&self, name: &str) -> Lookup<()> {
        let _ = name;
        Lookup::Unknown
    }

    /// Whether the struct or union type `name` (`struct task_struct`) exists; for an
    /// unknown one, `Missing` lists the names that do (for casts).
    fn struct_type(&self, name: &str) -> Lookup<()> {
        let _ = name;
        Lookup::Unknown
    }

    /// The size in bytes of the symbol `name` in the binary of the user probe `ap`
    /// (`uaddr("GLOBAL_A")`): `Missing` (no candidates) when the binary has no such
    /// symbol, `Unknown` where the provider does not look or cannot read the binary.
    fn user_symbol(&self, ap: &AttachPoint, name: &str) -> Lookup<u64> {
        let _ = (ap, name);
        Lookup::Unknown
    }
}

/// A provider that knows nothing: every kernel type is [`Type::Unknown`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKernelTypes;

impl TypeProvider for NoKernelTypes {}

/// A provider backed by tables, for tests and for callers that gathered the types up front.
/// Probes are keyed by their canonical text (`tracepoint:syscalls:sys_enter_read`). With
/// `closed` set, a probe absent from `probes` is missing when the table lists other probes
/// of its provider (and unknown otherwise).
#[derive(Debug, Clone, Default)]
pub struct TableTypes {
    /// Canonical attach point → its `args` fields.
    pub probes: BTreeMap<String, Vec<Field>>,
    /// Struct name (`struct task_struct`) → its members.
    pub structs: BTreeMap<String, Vec<Field>>,
    /// Whether `probes` lists every probe that exists.
    pub closed: bool,
}

impl TableTypes {
    fn candidates(&self, ap: &AttachPoint) -> Vec<String> {
        let prefix = format!("{}:", ap.provider.name());
        self.probes
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

impl TypeProvider for TableTypes {
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        let name = ap.canonical();
        if ap.has_wildcard() || self.probes.contains_key(&name) {
            return Lookup::Found(());
        }
        let candidates = self.candidates(ap);
        if self.closed && !candidates.is_empty() {
            Lookup::Missing { candidates }
        } else {
            Lookup::Unknown
        }
    }

    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        match self.probes.get(&ap.canonical()) {
            Some(f) => Lookup::Found(f.clone()),
            None => Lookup::Unknown,
        }
    }

    fn member(&self, name: &str, member: &str) -> Lookup<Type> {
        match self.structs.get(name) {
            None => Lookup::Unknown,
            Some(fields) => match fields.iter().find(|f| f.name == member) {
                Some(f) => Lookup::Found(f.ty.clone()),
                None => Lookup::Missing {
                    candidates: fields.iter().map(|f| f.name.clone()).collect(),
                },
            },
        }
    }
}
