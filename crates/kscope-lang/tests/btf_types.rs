//! `BtfTypes`: struct members, casts, enum constants and raw tracepoint `args` from BTF,
//! first on a hand-built blob (exact, hermetic), then on this machine's vmlinux BTF.

use kscope_btf::{BTF_MAGIC, Btf, Kind};
use kscope_lang::btf_types::BtfTypes;
use kscope_lang::sema::{Checked, NoKernelTypes, Options};
use kscope_lang::{CompileError, SourceFile};

/// A little-endian BTF blob under construction.
#[derive(Default)]
struct Blob {
    types: Vec<u32>,
    strs: Vec<u8>,
    /// Split BTF: the base's string section length (its own strings start there).
    str_base: Option<u32>,
}

impl Blob {
    fn str(&mut self, s: &str) -> u32 {
        if self.strs.is_empty() && self.str_base.is_none() {
            self.strs.push(0);
        }
        if s.is_empty() {
            return 0;
        }
        let off = self.str_base.unwrap_or(0) + self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }

    fn ty(&mut self, name: &str, kind: Kind, flag: bool, vlen: u32, st: u32, rest: &[u32]) {
        let name = self.str(name);
        let info = (u32::from(flag) << 31) | ((kind as u32) << 24) | vlen;
        self.types.extend([name, info, st]);
        self.types.extend_from_slice(rest);
    }

    fn build(mut self) -> Vec<u8> {
        if self.str_base.is_none() {
            self.str("");
        }
        let types: Vec<u8> = self.types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = BTF_MAGIC.to_le_bytes().to_vec();
        out.extend([1, 0]);
        for w in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            self.strs.len() as u32,
        ] {
            out.extend(w.to_le_bytes());
        }
        out.extend(types);
        out.extend(self.strs);
        out
    }
}

/// struct task_struct { int pid; union { int tgid; }; char comm[16];
///   struct task_struct *real_parent; unsigned int flags:3; atomic_t usage; },
/// typedef struct { int counter; } atomic_t, enum { TASK_COMM_LEN = 16 }, and the raw
/// tracepoint sched_switch(bool preempt, prev, next, unsigned int prev_state).
fn blob() -> Vec<u8> {
    let mut b = Blob::default();
    b.ty("int", Kind::Int, false, 0, 4, &[(1 << 24) | 32]); // 1
    b.ty("unsigned int", Kind::Int, false, 0, 4, &[32]); // 2
    b.ty("char", Kind::Int, false, 0, 1, &[8]); // 3
    b.ty("_Bool", Kind::Int, false, 0, 1, &[(4 << 24) | 8]); // 4
    b.ty("bool", Kind::Typedef, false, 0, 4, &[]); // 5
    let m: Vec<u32> = ["pid", "", "comm", "real_parent", "flags", "usage"]
        .iter()
        .map(|n| b.str(n))
        .collect();
    #[rustfmt::skip]
    b.ty("task_struct", Kind::Struct, true, 6, 40, &[
        m[0], 1, 0,
        m[1], 7, 32,
        m[2], 8, 64,
        m[3], 9, 192,
        m[4], 2, (3 << 24) | 256,
        m[5], 10, 288,
    ]); // 6
    let tgid = b.str("tgid");
    b.ty("", Kind::Union, false, 1, 4, &[tgid, 1, 0]); // 7
    b.ty("", Kind::Array, false, 0, 0, &[3, 2, 16]); // 8
    b.ty("", Kind::Ptr, false, 0, 6, &[]); // 9
    b.ty("atomic_t", Kind::Typedef, false, 0, 11, &[]); // 10
    let counter = b.str("counter");
    b.ty("", Kind::Struct, false, 1, 4, &[counter, 1, 0]); // 11
    let len = b.str("TASK_COMM_LEN");
    b.ty("", Kind::Enum, false, 1, 4, &[len, 16]); // 12
    let p: Vec<u32> = ["preempt", "prev", "next", "prev_state"]
        .iter()
        .map(|n| b.str(n))
        .collect();
    #[rustfmt::skip]
    b.ty("", Kind::FuncProto, false, 5, 0, &[
        0, 16,
        p[0], 5,
        p[1], 9,
        p[2], 9,
        p[3], 2,
    ]); // 13
    b.ty("", Kind::Ptr, false, 0, 13, &[]); // 14
    b.ty("btf_trace_sched_switch", Kind::Typedef, false, 0, 14, &[]); // 15
    b.ty("", Kind::Ptr, false, 0, 0, &[]); // 16: void *
    b.build()
}

fn compile(types: &BtfTypes, script: &str) -> Result<Checked, CompileError> {
    let src = SourceFile::new("-e", script);
    kscope_lang::compile(&src, &Options::default(), types)
}

/// The type the checker gives `expr` in `probe`, as it prints it.
fn ty(types: &BtfTypes, probe: &str, expr: &str) -> String {
    let script = format!("{probe} {{ $v = {expr}; }}");
    let checked = compile(types, &script).unwrap_or_else(|e| panic!("{script}\n{}", e.rendered));
    let tree = checked.typed_tree();
    let mut lines = tree
        .lines()
        .skip_while(|l| !l.trim().starts_with("variable: $v"));
    lines.next();
    let line = lines.next().unwrap_or_else(|| panic!("{tree}"));
    line.split(" :: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{tree}"))
        .to_string()
}

fn error(types: &BtfTypes, script: &str) -> String {
    match compile(types, script) {
        Ok(_) => panic!("{script}: compiled"),
        Err(e) => e.rendered,
    }
}

/// The checks shared by the hand-built blob and the kernel's BTF.
fn check_common(t: &BtfTypes, rawtp: &str) {
    let b = |expr: &str| ty(t, "begin", expr);
    assert_eq!(b("curtask->real_parent->pid"), "int32");
    assert_eq!(b("curtask->real_parent"), "struct task_struct *");
    assert_eq!(b("((struct task_struct *)curtask)->comm"), "string");
    // Through an anonymous union; a bitfield has its underlying type.
    assert_eq!(b("curtask->tgid"), "int32");
    assert_eq!(b("curtask->flags"), "uint32");
    assert_eq!(b("TASK_COMM_LEN + 0"), "int64");
    for probe in [
        format!("{rawtp}:sched_switch"),
        format!("{rawtp}:vmlinux:sched_switch"),
    ] {
        assert_eq!(ty(t, &probe, "args.prev->pid"), "int32");
        assert_eq!(ty(t, &probe, "args.next"), "struct task_struct *");
        assert_eq!(ty(t, &probe, "args.preempt"), "bool");
        assert_eq!(ty(t, &probe, "args.prev_state"), "uint32");
    }
    let e = error(t, "begin { @a = curtask->real_parnet->pid; }");
    assert!(
        e.contains("`struct task_struct` has no field `real_parnet`")
            && e.contains("did you mean `real_parent`?"),
        "{e}"
    );
    let e = error(t, "begin { @a = curtask->tgdi; }");
    assert!(e.contains("did you mean `tgid`?"), "{e}");
    let e = error(t, &format!("{rawtp}:sched_switch {{ @p = args.prv; }}"));
    assert!(e.contains("did you mean `prev`?"), "{e}");
    let e = error(t, &format!("{rawtp}:sched_swich {{ @p = 1; }}"));
    assert!(e.contains("sched_switch"), "{e}");
    let e = error(t, "begin { @n = TASK_COMM_LNE; }");
    assert!(e.contains("unknown builtin `TASK_COMM_LNE`"), "{e}");
    // A cast to a struct BTF does not have names the nearest one.
    let e = error(t, "begin { @p = ((struct task_strcut *)0)->pid; }");
    assert!(
        e.contains("error: unknown type `struct task_strcut`")
            && e.contains("^^^^^^^^^^^^^^^^^^^^^ not in the kernel's BTF")
            && e.contains("did you mean `struct task_struct`?"),
        "{e}"
    );
}

#[test]
fn hand_built_btf() {
    let t = BtfTypes::new(Btf::parse(blob()).unwrap(), Box::new(NoKernelTypes));
    check_common(&t, "rawtracepoint");
    check_common(&t, "rt");
    // A typedef'd anonymous struct, by value with `.`.
    assert_eq!(ty(&t, "begin", "curtask->usage"), "atomic_t");
    assert_eq!(ty(&t, "begin", "curtask->usage.counter"), "int32");
    let e = error(&t, "begin { @a = curtask->usage.countr; }");
    assert!(
        e.contains("`atomic_t` has no field `countr`") && e.contains("did you mean `counter`?"),
        "{e}"
    );
}

/// Split BTF for a module `kmod` over [`blob`]: a raw tracepoint `kmod_event(struct
/// task_struct *t, struct kmod_state *st)` and `struct kmod_state { int code; union {
/// unsigned int hidden; }; struct { int inner; } sub; }`.
fn module_blob(base: &Btf) -> Vec<u8> {
    let base_strs = {
        let b = base.bytes();
        u32::from_le_bytes(b[20..24].try_into().unwrap())
    };
    let mut b = Blob {
        str_base: Some(base_strs),
        ..Blob::default()
    };
    let (code, sub) = (b.str("code"), b.str("sub"));
    #[rustfmt::skip]
    b.ty("kmod_state", Kind::Struct, false, 3, 12, &[
        code, 1, 0,
        0, 18, 32,
        sub, 25, 64,
    ]); // 17
    let hidden = b.str("hidden");
    b.ty("", Kind::Union, false, 1, 4, &[hidden, 2, 0]); // 18
    b.ty("", Kind::Ptr, false, 0, 17, &[]); // 19
    b.ty("", Kind::FuncProto, false, 3, 0, &[0, 16, 0, 9, 0, 19]); // 20
    b.ty("", Kind::Ptr, false, 0, 20, &[]); // 21
    b.ty("btf_trace_kmod_event", Kind::Typedef, false, 0, 21, &[]); // 22
    let (data, t, st) = (b.str("__data"), b.str("t"), b.str("st"));
    b.ty("", Kind::FuncProto, false, 3, 0, &[data, 16, t, 9, st, 19]); // 23
    b.ty("__probestub_kmod_event", Kind::Func, false, 1, 23, &[]); // 24
    let inner = b.str("inner");
    b.ty("", Kind::Struct, false, 1, 4, &[inner, 1, 0]); // 25
    b.build()
}

/// `struct grid { int cells[2][3]; _Bool on[2]; short rows[2][2][2]; }`: BTF nests the
/// arrays of a multi-dimensional one (pahole flattens them into one array of all the
/// elements, so the vmlinux of most kernels has none; other BTF producers keep them).
fn grid_blob() -> Vec<u8> {
    let mut b = Blob::default();
    b.ty("int", Kind::Int, false, 0, 4, &[(1 << 24) | 32]); // 1
    b.ty("_Bool", Kind::Int, false, 0, 1, &[(4 << 24) | 8]); // 2
    b.ty("short", Kind::Int, false, 0, 2, &[(1 << 24) | 16]); // 3
    b.ty("", Kind::Array, false, 0, 0, &[1, 1, 3]); // 4: int[3]
    b.ty("", Kind::Array, false, 0, 0, &[4, 1, 2]); // 5: int[2][3]
    b.ty("", Kind::Array, false, 0, 0, &[2, 1, 2]); // 6: _Bool[2]
    b.ty("", Kind::Array, false, 0, 0, &[3, 1, 2]); // 7: short[2]
    b.ty("", Kind::Array, false, 0, 0, &[7, 1, 2]); // 8: short[2][2]
    b.ty("", Kind::Array, false, 0, 0, &[8, 1, 2]); // 9: short[2][2][2]
    let m: Vec<u32> = ["cells", "on", "rows"].iter().map(|n| b.str(n)).collect();
    #[rustfmt::skip]
    b.ty("grid", Kind::Struct, false, 3, 42, &[
        m[0], 5, 0,
        m[1], 6, 24 * 8,
        m[2], 9, 26 * 8,
    ]); // 10
    b.build()
}

#[test]
fn multi_dimensional_btf_arrays_are_nested_arrays() {
    let t = BtfTypes::new(Btf::parse(grid_blob()).unwrap(), Box::new(NoKernelTypes));
    let b = |expr: &str| ty(&t, "begin", expr);
    assert_eq!(b("((struct grid *)0)->cells"), "int32[3][2]");
    assert_eq!(b("((struct grid *)0)->cells[1]"), "int32[3]");
    assert_eq!(b("((struct grid *)0)->cells[1][2]"), "int32");
    assert_eq!(b("((struct grid *)0)->on"), "bool[2]");
    assert_eq!(b("((struct grid *)0)->rows[1]"), "int16[2][2]");
    assert_eq!(b("((struct grid *)0)->rows[1][0][1]"), "int16");
    let c = compile(&t, "begin { @g = *((struct grid *)0); }").unwrap();
    assert_eq!(
        c.maps["g"].value.to_string(),
        "record { .cells = int32[3][2], .on = bool[2], .rows = int16[2][2][2] }"
    );
    let e = error(&t, "begin { @a = ((struct grid *)0)->cells[1][3]; }");
    assert!(
        e.contains("error: index 3 is out of bounds for `int32[3]`, which has 3 elements"),
        "{e}"
    );
}

#[test]
fn module_btf() {
    let base_blob = blob();
    let base = Btf::parse(base_blob.clone()).unwrap();
    let dir = std::env::temp_dir().join(format!("kscope-lang-btf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux"), &base_blob).unwrap();
    std::fs::write(dir.join("kmod"), module_blob(&base)).unwrap();
    let t = BtfTypes::new(base, Box::new(NoKernelTypes)).with_module_dir(&dir);
    let probe = "rawtracepoint:kmod:kmod_event";
    assert_eq!(ty(&t, probe, "args.t->pid"), "int32");
    assert_eq!(ty(&t, probe, "args.st"), "struct kmod_state *");
    assert_eq!(ty(&t, probe, "args.st->code"), "int32");
    assert_eq!(ty(&t, probe, "args.st->hidden"), "uint32");
    assert_eq!(ty(&t, probe, "args.st->sub"), "struct <anon:kmod:25>");
    assert_eq!(ty(&t, probe, "args.st->sub.inner"), "int32");
    // Once the module is loaded, its named structs serve casts too.
    assert_eq!(
        ty(&t, "begin", "((struct kmod_state *)0)->hidden"),
        "uint32"
    );
    let e = error(&t, &format!("{probe} {{ @x = args.st->hiddn; }}"));
    assert!(e.contains("did you mean `hidden`?"), "{e}");
    // Without the module's name: modules are not searched, so the checker cannot tell.
    assert!(compile(&t, "rawtracepoint:kmod_event { @x = 1; }").is_ok());
    // A module without BTF: its name is checked against the kernel's raw tracepoints.
    let e = error(&t, "rawtracepoint:nomod:kmod_event { @x = 1; }");
    assert!(e.contains("unknown probe"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kernel_btf() {
    let Some(_kernel) = kscope_testkit::require(kscope_testkit::Feature::Btf) else {
        return;
    };
    let start = std::time::Instant::now();
    let t = BtfTypes::discover().expect("vmlinux BTF");
    let script = "rawtracepoint:sched_switch { @[args.prev->comm, curtask->real_parent->pid] \
                  = count(); }";
    compile(&t, script).unwrap();
    println!(
        "discover + type-check of a raw tracepoint script: {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    check_common(&t, "rawtracepoint");
    let b = |expr: &str| ty(&t, "begin", expr);
    assert_eq!(b("curtask->se.vruntime"), "uint64");
    assert_eq!(b("curtask->sched_reset_on_fork"), "uint32");
    assert_eq!(b("curtask->mm->mmap_base"), "uint64");
    assert_eq!(b("curtask->usage"), "struct refcount_struct");
    assert_eq!(b("curtask->usage.refs"), "atomic_t");
    assert_eq!(b("curtask->usage.refs.counter"), "int32");
    // sk_buff's `tstamp` and `dev` live in anonymous unions and structs.
    let k = |expr: &str| ty(&t, "kprobe:tcp_sendmsg", expr);
    assert_eq!(k("((struct sk_buff *)arg0)->tstamp"), "int64");
    assert_eq!(k("((struct sk_buff *)arg0)->dev"), "struct net_device *");
    assert_eq!(k("((struct sk_buff *)arg0)->dev->name"), "string");
    // fentry args from the function's prototype.
    assert_eq!(ty(&t, "fentry:vfs_read", "args.count"), "uint64");
    assert_eq!(ty(&t, "fentry:vfs_read", "args.file"), "struct file *");
    // Tracepoint args still come from tracefs.
    assert_eq!(
        ty(&t, "tracepoint:sched:sched_switch", "args.prev_pid"),
        "int32"
    );
    assert_eq!(
        ty(&t, "tracepoint:sched:sched_switch", "args.prev_comm"),
        "string"
    );
    let e = error(&t, "fentry:vfs_raed { @n = 1; }");
    assert!(e.contains("vfs_raed"), "{e}");
    // A whole struct as a value is a record of its members, unless it is too large.
    assert_eq!(ty(&t, "begin", "curtask->se.load"), "struct load_weight");
    let e = error(&t, "BEGIN { $t = *curtask->mm; }");
    assert!(
        e.contains("`struct mm_struct` is too large to store as a whole value"),
        "{e}"
    );
    // fexit's retval has the function's return type; kretprobe's is a register.
    assert_eq!(ty(&t, "fexit:vfs_read", "retval"), "int64");
    assert_eq!(ty(&t, "fexit:__sys_bpf", "retval"), "int32");
    assert_eq!(ty(&t, "kretprobe:vfs_read", "retval"), "uint64");
    // `__sys_bpf(int cmd, bpfptr_t uattr, unsigned int size)`: the 16-byte struct passed
    // by value takes two of the trampoline's u64 slots, so `size` is in slot 3 and the
    // return value in slot 4.
    let ap = |p: &str| {
        let mut parts: Vec<String> = p.split(':').map(str::to_string).collect();
        let provider_text = parts.remove(0);
        kscope_lang::ast::AttachPoint {
            provider: match provider_text.as_str() {
                "fexit" => kscope_lang::ast::Provider::Fexit,
                _ => kscope_lang::ast::Provider::Fentry,
            },
            provider_text,
            parts,
            raw: p.to_string(),
            span: kscope_lang::span::Span::new(0, 0),
        }
    };
    let slot = |p: &str, name: &str| t.raw_tracepoint_arg(&ap(p), name).map(|(i, ..)| i);
    assert_eq!(slot("fentry:__sys_bpf", "cmd"), Some(0));
    assert_eq!(slot("fentry:__sys_bpf", "uattr"), Some(1));
    assert_eq!(slot("fexit:vmlinux:__sys_bpf", "size"), Some(3));
    assert_eq!(
        t.function_target(&ap("fexit:__sys_bpf")).map(|(n, _)| n),
        Some(4)
    );
    assert_eq!(
        t.function_target(&ap("fexit:vfs_read")).map(|(n, _)| n),
        Some(4)
    );
}

mod common;

#[test]
fn one_liners_type_check_against_kernel_btf() {
    let Some(_kernel) = kscope_testkit::require(kscope_testkit::Feature::Btf) else {
        return;
    };
    let t = BtfTypes::discover().expect("vmlinux BTF");
    let opts = Options {
        allow_unsafe: true,
        params: vec!["1".into(), "hello".into()],
        named: Vec::new(),
    };
    // Only the one-liners that fail without kernel types too: three read maps nothing
    // assigns, and one made-up tracepoint (which tracefs now rejects). BTF adds no errors.
    let mut failed = Vec::new();
    for src in common::ONE_LINERS {
        let file = SourceFile::new("-e", *src);
        if let Err(e) = kscope_lang::compile(&file, &opts, &t) {
            let expected = e.rendered.contains("undefined map")
                || e.rendered.contains("unknown probe `tracepoint:a:b`");
            if !expected {
                failed.push(e.rendered);
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
