//! Shared test data: a fixed set of kernel types (instead of this machine's tracefs and
//! BTF) and the one-liner table. Each test crate uses a part of it.
#![allow(dead_code, unused_imports)]

mod oneliners;
pub use oneliners::ONE_LINERS;

use kscope_lang::SourceFile;
use kscope_lang::sema::{Checked, Field, Options, TableTypes, Type};

/// Compiles `src` against [`kernel_types`]; the first diagnostic's message on failure.
pub fn compile(src: &str) -> Result<Checked, String> {
    let file = SourceFile::new("t.bt", src);
    kscope_lang::compile(&file, &Options::default(), &kernel_types())
        .map_err(|e| e.diagnostics[0].message.clone())
}

/// The type of `$name` (written without `$`) in the first probe of `src`.
pub fn var(src: &str, name: &str) -> String {
    let c = compile(src).unwrap_or_else(|e| panic!("{src}\n{e}"));
    c.probes[0].variables[name].to_string()
}

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
    }
}

/// Two syscall tracepoints and a small `struct task_struct`.
pub fn kernel_types() -> TableTypes {
    let char_ptr = Type::Ptr(Box::new(Type::int(8, true)));
    let task = || Type::Ptr(Box::new(Type::Struct("struct task_struct".into())));
    let mut t = TableTypes {
        closed: true,
        ..TableTypes::default()
    };
    t.probes.insert(
        "tracepoint:syscalls:sys_enter_openat".into(),
        vec![
            field("__syscall_nr", Type::int(32, true)),
            field("dfd", Type::INT64),
            field("filename", char_ptr.clone()),
            field("flags", Type::INT64),
            field("mode", Type::UINT64),
        ],
    );
    t.probes.insert(
        "tracepoint:syscalls:sys_enter_read".into(),
        vec![
            field("__syscall_nr", Type::int(32, true)),
            field("fd", Type::UINT64),
            field("buf", char_ptr),
            field("count", Type::UINT64),
        ],
    );
    t.probes.insert(
        "tracepoint:syscalls:sys_exit_read".into(),
        vec![
            field("__syscall_nr", Type::int(32, true)),
            field("ret", Type::INT64),
        ],
    );
    t.structs.insert(
        "struct task_struct".into(),
        vec![
            field("pid", Type::int(32, true)),
            field("tgid", Type::int(32, true)),
            field("comm", Type::Array(Box::new(Type::int(8, true)), 16)),
            field("real_parent", task()),
            field("parent", task()),
        ],
    );
    t
}
