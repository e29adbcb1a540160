//! The tables of builtins, functions, cast type names and config variables.

use super::types::Type;
use crate::ast::Provider;

/// Where a builtin may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In every probe.
    Any,
    /// Only in the listed probe kinds.
    Only(&'static [Provider]),
}

/// A builtin variable.
#[derive(Debug, Clone)]
pub struct Builtin {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: fn() -> Type,
    /// Where it is valid.
    pub scope: Scope,
}

/// The probes with a context to read (BEGIN, END and kscope's own probes have none).
const CTX_PROBES: &[Provider] = &[
    Provider::Tracepoint,
    Provider::Rawtracepoint,
    Provider::Kprobe,
    Provider::Kretprobe,
    Provider::Uprobe,
    Provider::Uretprobe,
    Provider::Usdt,
    Provider::Fentry,
    Provider::Fexit,
    Provider::Interval,
    Provider::Profile,
    Provider::Software,
    Provider::Hardware,
    Provider::Watchpoint,
    Provider::Iter,
];

const RET_PROBES: &[Provider] = &[Provider::Kretprobe, Provider::Uretprobe, Provider::Fexit];
const ARGS_PROBES: &[Provider] = &[
    Provider::Tracepoint,
    Provider::Rawtracepoint,
    Provider::Fentry,
    Provider::Fexit,
    Provider::Uprobe,
];
const ARGN_PROBES: &[Provider] = &[
    Provider::Kprobe,
    Provider::Uprobe,
    Provider::Rawtracepoint,
    Provider::Usdt,
];
const FUNC_PROBES: &[Provider] = &[
    Provider::Kprobe,
    Provider::Kretprobe,
    Provider::Uprobe,
    Provider::Uretprobe,
    Provider::Fentry,
    Provider::Fexit,
];

/// The builtin variables (`argN` is handled by the lookup function, `builtin`).
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "pid",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "tid",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "uid",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "gid",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "comm",
        ty: || Type::Str,
        scope: Scope::Any,
    },
    Builtin {
        name: "nsecs",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "elapsed",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "cpu",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "numaid",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "jiffies",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "ncpus",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "curtask",
        ty: || Type::Ptr(Box::new(Type::Struct("struct task_struct".into()))),
        scope: Scope::Any,
    },
    Builtin {
        name: "kstack",
        ty: || Type::Kstack,
        scope: Scope::Any,
    },
    Builtin {
        name: "ustack",
        ty: || Type::Ustack,
        scope: Scope::Any,
    },
    Builtin {
        name: "probe",
        ty: || Type::Str,
        scope: Scope::Any,
    },
    Builtin {
        name: "func",
        ty: || Type::Ksym,
        scope: Scope::Only(FUNC_PROBES),
    },
    Builtin {
        name: "rand",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "cgroup",
        ty: || Type::UINT64,
        scope: Scope::Any,
    },
    Builtin {
        name: "cpid",
        ty: || Type::UINT32,
        scope: Scope::Any,
    },
    Builtin {
        name: "ctx",
        ty: || Type::Ptr(Box::new(Type::Void)),
        scope: Scope::Only(CTX_PROBES),
    },
    Builtin {
        name: "retval",
        ty: || Type::UINT64,
        scope: Scope::Only(RET_PROBES),
    },
    Builtin {
        name: "username",
        ty: || Type::Username,
        scope: Scope::Any,
    },
    Builtin {
        name: "has_cpid",
        ty: || Type::Bool,
        scope: Scope::Any,
    },
    Builtin {
        name: "probetype",
        ty: || Type::Str,
        scope: Scope::Any,
    },
    Builtin {
        name: "usermode",
        ty: || Type::int(8, false),
        scope: Scope::Any,
    },
    Builtin {
        name: "args",
        ty: || Type::Args,
        scope: Scope::Only(ARGS_PROBES),
    },
];

/// Highest `argN` (x86-64 passes six arguments in registers).
pub const MAX_ARG: u32 = 5;

/// The builtin called `name`, with `argN` resolved.
pub fn builtin(name: &str) -> Option<Builtin> {
    if let Some(b) = BUILTINS.iter().find(|b| b.name == name) {
        return Some(b.clone());
    }
    let n: u32 = name.strip_prefix("arg")?.parse().ok()?;
    (n <= MAX_ARG).then_some(Builtin {
        name: "argN",
        ty: || Type::UINT64,
        scope: Scope::Only(ARGN_PROBES),
    })
}

/// Every builtin name, for suggestions.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .chain(["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"])
}

/// The functions kscope checks, for suggestions.
pub const FUNCTIONS: &[&str] = &[
    "printf",
    "print",
    "time",
    "exit",
    "clear",
    "delete",
    "zero",
    "has_key",
    "find",
    "container_of",
    "percpu_kaddr",
    "typeinfo",
    "len",
    "ksym",
    "usym",
    "str",
    "strlen",
    "strncmp",
    "strcontains",
    "join",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "stats",
    "hist",
    "lhist",
    "system",
    "signal",
    "cat",
    "errorf",
    "warnf",
    "uptr",
    "kptr",
    "ntop",
    "bswap",
    "kaddr",
    "buf",
    "kstack",
    "ustack",
    "strerror",
    "signal_name",
    "sizeof",
    "offsetof",
    "strftime",
    "syscall_name",
    "memcmp",
    "str_concat",
    "pton",
    "strcap",
    "path",
    "uaddr",
];

/// Upstream bpftrace functions that kscope does not implement yet.
pub const NOT_YET: &[&str] = &[
    "override",
    "skboutput",
    "socket_cookie",
    "unwatch",
    "write_user",
    "dw_ustack",
    "kfunc_allowed",
];

/// The type named in a cast, for the names that need no kernel types; `None` for names
/// that BTF must resolve (typedefs, structs).
pub fn cast_base(name: &str) -> Option<Type> {
    let (bits, signed) = match name {
        "uint8" | "u8" | "uint8_t" | "__u8" | "unsigned char" => (8, false),
        "int8" | "s8" | "int8_t" | "__s8" | "char" | "signed char" => (8, true),
        "uint16" | "u16" | "uint16_t" | "__u16" | "unsigned short" => (16, false),
        "int16" | "s16" | "int16_t" | "__s16" | "short" => (16, true),
        "uint32" | "u32" | "uint32_t" | "__u32" | "unsigned int" | "unsigned" => (32, false),
        "int32" | "s32" | "int32_t" | "__s32" | "int" | "pid_t" | "signed" => (32, true),
        "uint64" | "u64" | "uint64_t" | "__u64" | "unsigned long" | "unsigned long long"
        | "size_t" => (64, false),
        "int64" | "s64" | "int64_t" | "__s64" | "long" | "long long" | "ssize_t" => (64, true),
        "bool" => return Some(Type::Bool),
        "string" => return Some(Type::Str),
        "void" => return Some(Type::Void),
        _ => return None,
    };
    Some(Type::int(bits, signed))
}

/// The config variables upstream documents, with whether the value is a number.
pub const CONFIG_KEYS: &[(&str, bool)] = &[
    ("cache_user_symbols", false),
    ("cpp_demangle", false),
    ("lazy_symbolication", false),
    ("license", false),
    ("log_size", true),
    ("max_bpf_progs", true),
    ("max_cat_bytes", true),
    ("max_map_keys", true),
    ("max_probes", true),
    ("max_strlen", true),
    ("missing_probes", false),
    ("on_stack_limit", true),
    ("perf_rb_pages", true),
    ("print_maps_on_exit", false),
    ("show_debug_info", false),
    ("stack_mode", false),
    ("str_trunc_trailer", false),
    ("unstable_tseries", false),
    ("unstable_dw_ustack", false),
    ("unstable_typeinfo", false),
];

/// The config variables that change what kscope does (the type checker warns that the
/// others have no effect; `config()` reports kscope's own value for them).
pub const HONOURED_CONFIG: &[&str] = &[
    "max_cat_bytes",
    "missing_probes",
    "print_maps_on_exit",
    "stack_mode",
    "unstable_tseries",
    "unstable_typeinfo",
];

/// Stack modes accepted by `kstack(MODE)` and `stack_mode`.
pub const STACK_MODES: &[&str] = &["bpftrace", "perf", "raw", "build_id"];
