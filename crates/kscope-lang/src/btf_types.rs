//! Kernel types from BTF: struct and union members (through anonymous members, with
//! bitfields), casts to `struct X *`, enum constants, and the `args` of raw tracepoints
//! and fentry/fexit probes. Tracepoint `args` and everything BTF cannot answer go to
//! another provider (normally [`TracefsTypes`]).

use crate::ast::{AttachPoint, Provider};
use crate::cdefs::{CEnum, CEnumerator, KERNEL_ENUM, is_kernel_enum};
use crate::kernel::TracefsTypes;
use crate::sema::{Field, Lookup, NoKernelTypes, Type, TypeProvider};
use kscope_btf::{Btf, Kind};
use kscope_ftrace::select::glob;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// How deep pointers to pointers are followed when converting a type; deeper ones are
/// [`Type::Unknown`] (BTF has no such types in practice; this bounds corrupt input).
const MAX_DEPTH: u32 = 16;
/// The name prefix of an anonymous struct or union reached through a member, followed by
/// its BTF type id, e.g. `struct <anon:1234>`.
const ANON: &str = "<anon:";

/// A [`TypeProvider`] backed by the kernel's BTF, composed with a fallback provider for
/// what BTF does not describe (tracepoint `format` files, and everything when a question
/// is not about BTF). With a module directory ([`BtfTypes::discover`] sets
/// `/sys/kernel/btf`), module BTF (`rawtracepoint:MODULE:EVENT`, `fentry:MODULE:FUNC`) is
/// loaded from `DIR/MODULE` on first use.
pub struct BtfTypes {
    btf: Btf,
    fallback: Box<dyn TypeProvider + Send>,
    /// Where module BTF files are (`/sys/kernel/btf`); `None`: modules are not looked at.
    module_dir: Option<PathBuf>,
    modules: Mutex<HashMap<String, Option<Btf>>>,
}

impl BtfTypes {
    /// Types from `btf`, asking `fallback` for tracepoint `args` and what BTF cannot tell.
    /// Module BTF is not used until [`BtfTypes::with_module_dir`].
    pub fn new(btf: Btf, fallback: Box<dyn TypeProvider + Send>) -> BtfTypes {
        BtfTypes {
            btf,
            fallback,
            module_dir: None,
            modules: Mutex::new(HashMap::new()),
        }
    }

    /// Also uses the split BTF files of modules in `dir` (`/sys/kernel/btf`), named after
    /// their module.
    pub fn with_module_dir(mut self, dir: impl Into<PathBuf>) -> BtfTypes {
        self.module_dir = Some(dir.into());
        self
    }

    /// The running kernel's BTF (mapped from `/sys/kernel/btf/vmlinux`) over the mounted
    /// tracefs (or nothing when none is mounted). `None` without kernel BTF.
    pub fn discover() -> Option<BtfTypes> {
        let btf = Btf::open_sys_vmlinux().ok()?;
        let fallback: Box<dyn TypeProvider + Send> = match TracefsTypes::discover() {
            Some(t) => Box::new(t),
            None => Box::new(NoKernelTypes),
        };
        Some(BtfTypes::new(btf, fallback).with_module_dir("/sys/kernel/btf"))
    }

    /// The kernel's BTF.
    pub fn btf(&self) -> &Btf {
        &self.btf
    }

    /// The BTF type of the struct, union or typedef'd aggregate that a checker type name
    /// ([`Type::Struct`]) denotes, with the BTF it is in (for code generation: member
    /// offsets and sizes). `None` when BTF has no such type.
    pub fn aggregate_type(&self, name: &str) -> Option<(Btf, u32)> {
        self.aggregate(name).map(|(btf, _, id)| (btf, id))
    }

    /// The raw tracepoint argument `name` at `ap` (`rawtracepoint:[MODULE:]EVENT`): its
    /// position in the context's `u64` array and its BTF type. `None` when BTF does not
    /// describe the tracepoint or it has no such argument. fentry/fexit
    /// (`fentry:[MODULE:]FUNC`) read the function's parameters the same way, except that a
    /// struct passed by value takes one slot per 8 bytes (the trampoline's layout).
    pub fn raw_tracepoint_arg(&self, ap: &AttachPoint, name: &str) -> Option<(usize, Btf, u32)> {
        let (module, event) = split_module(&ap.parts)?;
        let btf = self.module_btf(module);
        let function = matches!(ap.provider, Provider::Fentry | Provider::Fexit);
        let args = match function {
            true => btf.func_args(event).ok()??.params,
            false => btf.raw_tracepoint_args(event).ok()??,
        };
        let mut slot = 0;
        for (i, p) in args.iter().enumerate() {
            let matches = if p.name.is_empty() {
                name == format!("arg{i}")
            } else {
                p.name == name
            };
            if matches {
                return Some((slot, btf.clone(), p.type_id));
            }
            slot += if function { slots(&btf, p.type_id) } else { 1 };
        }
        None
    }

    /// The `u64` slots that the parameters of the function that `fentry:`/`fexit:[MODULE:]FUNC`
    /// probes take in its context, and its BTF FUNC id: fexit's return value follows the
    /// parameters, and the program is loaded against that id. `None` when BTF has no such
    /// function.
    pub fn function_target(&self, ap: &AttachPoint) -> Option<(usize, u32)> {
        let (module, func) = split_module(&ap.parts)?;
        let btf = self.module_btf(module);
        let id = btf.find_by_name(Kind::Func, func)?;
        let n = btf
            .func_proto(id)
            .ok()?
            .params
            .iter()
            .map(|p| slots(&btf, p.type_id))
            .sum();
        Some((n, id))
    }

    /// The names of the kernel's structs and unions (`struct X`, `union X`), for
    /// suggestions.
    fn aggregate_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for id in 1..=self.btf.type_count() {
            let Ok(t) = self.btf.raw_type(id) else {
                continue;
            };
            let tag = match t.kind {
                Kind::Struct => "struct",
                Kind::Union => "union",
                _ => continue,
            };
            if let Ok(n) = self.btf.string_at(t.name_off)
                && !n.is_empty()
            {
                out.push(format!("{tag} {n}"));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The names of the kernel's named enums (`enum X`), for suggestions.
    fn enum_names(&self) -> Vec<String> {
        let mut out: Vec<String> = (1..=self.btf.type_count())
            .filter_map(|id| {
                let t = self.btf.raw_type(id).ok()?;
                if !matches!(t.kind, Kind::Enum | Kind::Enum64) {
                    return None;
                }
                let n = self.btf.string_at(t.name_off).ok()?;
                (!n.is_empty()).then(|| format!("enum {n}"))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The BTF for `module` (`vmlinux` or absent: the kernel's); a module without BTF
    /// falls back to the kernel's.
    fn module_btf(&self, module: Option<&str>) -> Btf {
        // A module name is one path component (no `/`, not `.` or `..`).
        let module = module.filter(|m| *m != "vmlinux" && !m.contains('/') && !m.starts_with('.'));
        let (Some(m), Some(dir)) = (module, &self.module_dir) else {
            return self.btf.clone();
        };
        let mut cache = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(m.to_string())
            .or_insert_with(|| Btf::open_split(dir.join(m), &self.btf).ok())
            .clone()
            .unwrap_or_else(|| self.btf.clone())
    }

    /// Whether any module has BTF (the module directory holds more than `vmlinux`).
    fn has_module_btf(&self) -> bool {
        self.module_dir
            .as_ref()
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .is_some_and(|d| d.flatten().any(|e| e.file_name() != "vmlinux"))
    }

    /// The struct, union or typedef'd aggregate a checker type name denotes: `struct X`,
    /// `union X`, `struct <anon:ID>`, `struct <anon:MODULE:ID>`, or a typedef name such as
    /// `atomic_t`; with the BTF and module it is in. Named types are looked for in the
    /// kernel's BTF, then in the modules' loaded so far.
    fn aggregate(&self, name: &str) -> Option<(Btf, Option<String>, u32)> {
        let (kind, rest) = match name.split_once(' ') {
            Some(("struct", rest)) => (Kind::Struct, rest),
            Some(("union", rest)) => (Kind::Union, rest),
            _ => (Kind::Typedef, name),
        };
        if let Some(anon) = rest.strip_prefix(ANON).and_then(|r| r.strip_suffix('>')) {
            return match anon.rsplit_once(':') {
                Some((module, id)) => Some((
                    self.module_btf(Some(module)),
                    Some(module.to_string()),
                    id.parse().ok()?,
                )),
                None => Some((self.btf.clone(), None, anon.parse().ok()?)),
            };
        }
        let find = |btf: &Btf| {
            let id = btf.find_by_name(kind, rest)?;
            btf.resolve(id).ok()
        };
        if let Some(id) = find(&self.btf) {
            return Some((self.btf.clone(), None, id));
        }
        let cache = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        cache.iter().find_map(|(module, btf)| {
            let btf = btf.as_ref()?;
            Some((btf.clone(), Some(module.clone()), find(btf)?))
        })
    }

    /// The BTF id of the kernel's enum `enum NAME`.
    fn named_enum(&self, name: &str) -> Option<u32> {
        let rest = name.strip_prefix("enum ")?;
        self.btf
            .find_by_name(Kind::Enum, rest)
            .or_else(|| self.btf.find_by_name(Kind::Enum64, rest))
    }

    /// `t` with a kernel enum not resolved yet (a tracepoint field declared `enum
    /// NAME`, see [`KERNEL_ENUM`]) resolved by its name: the kernel's enum of that name,
    /// or a plain unsigned integer when BTF has none.
    fn resolve_enum(&self, t: Type) -> Type {
        match t {
            Type::Enum { name, bits, id } if id == KERNEL_ENUM => match self.named_enum(&name) {
                Some(tid) => Type::Enum {
                    name,
                    bits,
                    id: KERNEL_ENUM | tid,
                },
                None => Type::int(bits, false),
            },
            t => t,
        }
    }

    /// The fields of `args` for a prototype's parameters; unnamed ones are `argN`.
    fn fields(
        &self,
        btf: &Btf,
        module: Option<&str>,
        params: &[kscope_btf::Param<'_>],
    ) -> Vec<Field> {
        params
            .iter()
            .enumerate()
            .map(|(i, p)| Field {
                name: if p.name.is_empty() {
                    format!("arg{i}")
                } else {
                    p.name.to_string()
                },
                ty: to_type(btf, module, p.type_id),
            })
            .collect()
    }

    fn raw_tracepoint(&self, ap: &AttachPoint) -> Option<Lookup<Vec<Field>>> {
        let (module, event) = split_module(&ap.parts)?;
        let btf = self.module_btf(module);
        let args = btf.raw_tracepoint_args(event).ok()??;
        Some(Lookup::Found(self.fields(&btf, module, &args)))
    }

    fn function(&self, ap: &AttachPoint) -> Option<Lookup<Vec<Field>>> {
        let (module, func) = split_module(&ap.parts)?;
        let btf = self.module_btf(module);
        let proto = btf.func_args(func).ok()??;
        Some(Lookup::Found(self.fields(&btf, module, &proto.params)))
    }
}

impl std::fmt::Debug for BtfTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtfTypes")
            .field("types", &self.btf.type_count())
            .field("module_dir", &self.module_dir)
            .finish_non_exhaustive()
    }
}

/// The BPF iterator targets the kernel has: one `bpf_iter_TARGET` function each (the
/// kernel's `DEFINE_BPF_ITER_FUNC`), with its context `struct bpf_iter__TARGET`.
pub fn iter_targets(btf: &Btf) -> Vec<String> {
    let mut out: Vec<String> = (1..=btf.type_count())
        .filter_map(|id| {
            let t = btf.raw_type(id).ok()?;
            if t.kind != Kind::Func {
                return None;
            }
            let target = btf.string_at(t.name_off).ok()?.strip_prefix("bpf_iter_")?;
            btf.find_by_name(Kind::Struct, &format!("bpf_iter__{target}"))
                .map(|_| target.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The `u64` slots a function parameter of BTF type `id` takes in a trampoline's
/// context: one, or one per 8 bytes for a struct or union passed by value (at most 16
/// bytes on x86-64).
fn slots(btf: &Btf, id: u32) -> usize {
    match btf.size_of(id) {
        Ok(n) if n > 8 => n.div_ceil(8) as usize,
        _ => 1,
    }
}

/// `[EVENT]` or `[MODULE, EVENT]` without wildcards.
fn split_module(parts: &[String]) -> Option<(Option<&str>, &str)> {
    if parts.iter().any(|p| p.contains(['*', '?', '['])) {
        return None;
    }
    match parts {
        [event] => Some((None, event)),
        [module, event] => Some((Some(module), event)),
        _ => None,
    }
}

/// The checker's type for BTF type `id` of `btf`, the BTF of `module` (`None`: the
/// kernel's). Anonymous structs and unions are named `struct <anon:ID>` (or
/// `struct <anon:MODULE:ID>`) for [`BtfTypes`]'s member lookups.
pub fn to_type(btf: &Btf, module: Option<&str>, id: u32) -> Type {
    convert(btf, module, id, 0).unwrap_or(Type::Unknown)
}

fn convert(btf: &Btf, module: Option<&str>, id: u32, depth: u32) -> Option<Type> {
    if depth > MAX_DEPTH {
        return None;
    }
    // Modifiers are dropped; typedefs are followed, remembering the last name for
    // anonymous structs (`typedef struct { ... } atomic_t`).
    // `resolve` fails on a typedef loop, which would make the walk below endless.
    btf.resolve(id).ok()?;
    let mut cur = btf.strip_modifiers(id).ok()?;
    let mut typedef = None;
    while btf.kind(cur).ok()? == Kind::Typedef {
        typedef = Some(btf.name(cur).ok()?);
        cur = btf
            .strip_modifiers(btf.raw_type(cur).ok()?.size_or_type)
            .ok()?;
    }
    let t = btf.raw_type(cur).ok()?;
    let name = btf.name(cur).ok()?;
    let tagged = |tag: &str| match (name, typedef) {
        ("", Some(td)) => td.to_string(),
        ("", None) => match module {
            Some(m) if cur >= btf.first_id() => format!("{tag} {ANON}{m}:{cur}>"),
            _ => format!("{tag} {ANON}{cur}>"),
        },
        (n, _) => format!("{tag} {n}"),
    };
    Some(match t.kind {
        Kind::Void | Kind::FuncProto => Type::Void,
        Kind::Int => {
            let enc = btf.int_encoding(cur).ok()?;
            if enc.bool {
                Type::Bool
            } else {
                int(t.size_or_type, enc.signed)
            }
        }
        // An enum of the kernel's own BTF prints its enumerators' names (upstream); a
        // module's own enums stay integers (their ids are not the kernel's).
        Kind::Enum | Kind::Enum64 => match int(t.size_or_type, t.kind_flag) {
            Type::Int { bits, .. } if btf.base().is_none() || cur < btf.first_id() => Type::Enum {
                name: tagged("enum"),
                bits,
                id: KERNEL_ENUM | cur,
            },
            t => t,
        },
        Kind::Ptr => Type::Ptr(Box::new(
            convert(btf, module, t.size_or_type, depth + 1).unwrap_or(Type::Unknown),
        )),
        Kind::Array => {
            let a = btf.array(cur).ok()?;
            let elem = btf.resolve(a.elem).ok()?;
            let is_char = btf.kind(elem).ok()? == Kind::Int
                && btf.size_of(elem).ok()? == 1
                && (btf.int_encoding(elem).ok()?.char || btf.name(elem).ok()? == "char");
            if is_char {
                Type::Str
            } else {
                // An array of enums is one of integers (integer arrays are values).
                Type::Array(
                    Box::new(convert(btf, module, a.elem, depth + 1)?.without_enum()),
                    a.count as u64,
                )
            }
        }
        Kind::Struct => Type::Struct(tagged("struct")),
        Kind::Union => Type::Struct(tagged("union")),
        Kind::Fwd if t.kind_flag => Type::Struct(format!("union {name}")),
        Kind::Fwd => Type::Struct(format!("struct {name}")),
        _ => Type::Unknown,
    })
}

/// A kernel enum's type as an enumerator or a cast gives it: 64 bits (upstream's).
fn enum_value_type(t: Type) -> Option<Type> {
    match t {
        Type::Enum { name, id, .. } => Some(Type::Enum { name, bits: 64, id }),
        _ => None,
    }
}

/// An integer of `size` bytes; sizes other than 1, 2, 4 and 8 are [`Type::Unknown`].
fn int(size: u32, signed: bool) -> Type {
    match size {
        1 | 2 | 4 | 8 => Type::int(size as u8 * 8, signed),
        _ => Type::Unknown,
    }
}

impl TypeProvider for BtfTypes {
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        match ap.provider {
            Provider::Rawtracepoint => {
                let Some(event) = ap.parts.last() else {
                    return Lookup::Unknown;
                };
                let module = (ap.parts.len() == 2).then(|| ap.parts[0].as_str());
                let btf = self.module_btf(module);
                let exact = format!("btf_trace_{event}");
                if btf.find_by_name(Kind::Typedef, &exact).is_some() {
                    return Lookup::Found(());
                }
                let names = btf.raw_tracepoint_names();
                if names.is_empty() {
                    // BTF without `btf_trace_*` typedefs (before Linux 5.5): ask tracefs.
                    return self.fallback.probe(ap);
                }
                if names.iter().any(|n| glob(event, n)) {
                    return Lookup::Found(());
                }
                if module.is_none() && self.has_module_btf() {
                    // It may be a module's; those are not searched without the module name.
                    return Lookup::Unknown;
                }
                Lookup::Missing {
                    candidates: names.iter().map(|n| format!("rawtracepoint:{n}")).collect(),
                }
            }
            Provider::Fentry | Provider::Fexit => match split_module(&ap.parts) {
                Some((module, func)) => {
                    if self
                        .module_btf(module)
                        .find_by_name(Kind::Func, func)
                        .is_some()
                    {
                        Lookup::Found(())
                    } else if module.is_none() && self.has_module_btf() {
                        Lookup::Unknown
                    } else {
                        // Every kernel function would be too many to rank; none offered.
                        Lookup::Missing {
                            candidates: Vec::new(),
                        }
                    }
                }
                None => Lookup::Unknown,
            },
            Provider::Iter => {
                let Some(target) = ap.parts.first() else {
                    return Lookup::Unknown;
                };
                if self
                    .btf
                    .find_by_name(Kind::Func, &format!("bpf_iter_{target}"))
                    .is_some()
                {
                    return Lookup::Found(());
                }
                Lookup::Missing {
                    candidates: iter_targets(&self.btf)
                        .into_iter()
                        .map(|t| format!("iter:{t}"))
                        .collect(),
                }
            }
            _ => self.fallback.probe(ap),
        }
    }

    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        let found = match ap.provider {
            Provider::Rawtracepoint => self.raw_tracepoint(ap),
            Provider::Fentry | Provider::Fexit => self.function(ap),
            _ => None,
        };
        match found.unwrap_or_else(|| self.fallback.args(ap)) {
            // Tracepoint fields declared `enum NAME`: the kernel's enum of that name.
            Lookup::Found(fields) => Lookup::Found(
                fields
                    .into_iter()
                    .map(|f| Field {
                        ty: self.resolve_enum(f.ty),
                        ..f
                    })
                    .collect(),
            ),
            l => l,
        }
    }

    fn return_type(&self, ap: &AttachPoint) -> Lookup<Type> {
        if ap.provider != Provider::Fexit {
            return Lookup::Unknown;
        }
        let Some((module, func)) = split_module(&ap.parts) else {
            return Lookup::Unknown;
        };
        let btf = self.module_btf(module);
        match btf.func_args(func) {
            Ok(Some(proto)) => Lookup::Found(match proto.ret {
                0 => Type::Void,
                id => to_type(&btf, module, id),
            }),
            _ => Lookup::Unknown,
        }
    }

    fn enum_value(&self, name: &str) -> Option<i64> {
        match self.btf.enum_value(name) {
            // ENUM64 values above i64::MAX keep their bits.
            Some((_, v)) => Some(v as i64),
            None => self.fallback.enum_value(name),
        }
    }

    fn enum_constant_type(&self, name: &str) -> Option<Type> {
        let (id, _) = self.btf.enum_value(name)?;
        enum_value_type(to_type(&self.btf, None, id))
    }

    fn enum_type(&self, name: &str) -> Option<Type> {
        let id = self.named_enum(name)?;
        enum_value_type(to_type(&self.btf, None, id))
    }

    fn kernel_enum(&self, id: u32) -> Option<CEnum> {
        let tid = id & !KERNEL_ENUM;
        if !is_kernel_enum(id) || tid == 0 {
            return None;
        }
        let Type::Enum { name, bits, .. } = to_type(&self.btf, None, tid) else {
            return None;
        };
        let variants = self
            .btf
            .enumerators(tid)
            .ok()?
            .into_iter()
            .map(|e| CEnumerator {
                name: e.name.to_string(),
                // ENUM64 values above i64::MAX keep their bits.
                value: e.value as i64,
                span: crate::span::Span::new(0, 0),
            })
            .collect();
        Some(CEnum {
            name,
            variants,
            span: crate::span::Span::new(0, 0),
            btf_size: Some(bits / 8),
        })
    }

    fn struct_type(&self, name: &str) -> Lookup<()> {
        if name.starts_with("enum ") {
            return match self.named_enum(name) {
                Some(_) => Lookup::Found(()),
                None => Lookup::Missing {
                    candidates: self.enum_names(),
                },
            };
        }
        if !(name.starts_with("struct ") || name.starts_with("union ")) {
            return self.fallback.struct_type(name);
        }
        if self.aggregate(name).is_some() {
            return Lookup::Found(());
        }
        Lookup::Missing {
            candidates: self.aggregate_names(),
        }
    }

    fn kernel_function(&self, name: &str) -> Lookup<()> {
        match self.btf.find_by_name(Kind::Func, name) {
            Some(_) => Lookup::Found(()),
            None => Lookup::Missing {
                candidates: Vec::new(),
            },
        }
    }

    fn kernel_variable(&self, name: &str) -> Lookup<()> {
        if self.btf.find_by_name(Kind::Var, name).is_some() {
            return Lookup::Found(());
        }
        let mut candidates = Vec::new();
        for id in 1..=self.btf.type_count() {
            if let Ok(t) = self.btf.raw_type(id)
                && t.kind == Kind::Var
                && let Ok(n) = self.btf.string_at(t.name_off)
            {
                candidates.push(n.to_string());
            }
        }
        Lookup::Missing { candidates }
    }

    fn struct_size(&self, name: &str) -> Option<u64> {
        if let Some(id) = self.named_enum(name) {
            return self.btf.size_of(id).ok();
        }
        let (btf, _, id) = self.aggregate(name)?;
        btf.size_of(id).ok()
    }

    fn struct_align(&self, name: &str) -> Option<u64> {
        let (btf, _, id) = self.aggregate(name)?;
        btf.align_of(id).ok()
    }

    fn member_offset(&self, name: &str, member: &str) -> Lookup<(u64, Type)> {
        let Some((btf, module, id)) = self.aggregate(name) else {
            return Lookup::Unknown;
        };
        match btf.find_member(id, member) {
            Ok(Some(m)) => Lookup::Found((
                m.bit_offset / 8,
                to_type(&btf, module.as_deref(), m.type_id),
            )),
            Ok(None) => Lookup::Missing {
                candidates: btf
                    .member_names(id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            },
            Err(_) => Lookup::Unknown,
        }
    }

    fn members(&self, name: &str) -> Lookup<Vec<(String, Type)>> {
        let Some((btf, module, id)) = self.aggregate(name) else {
            return self.fallback.members(name);
        };
        let Ok(names) = btf.member_names(id) else {
            return Lookup::Unknown;
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match btf.find_member(id, n) {
                Ok(Some(m)) => {
                    out.push((n.to_string(), to_type(&btf, module.as_deref(), m.type_id)))
                }
                _ => return Lookup::Unknown,
            }
        }
        Lookup::Found(out)
    }

    fn member(&self, name: &str, member: &str) -> Lookup<Type> {
        let Some((btf, module, id)) = self.aggregate(name) else {
            return self.fallback.member(name, member);
        };
        match btf.find_member(id, member) {
            Ok(Some(m)) => Lookup::Found(to_type(&btf, module.as_deref(), m.type_id)),
            Ok(None) => Lookup::Missing {
                candidates: btf
                    .member_names(id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            },
            Err(_) => Lookup::Unknown,
        }
    }
}
