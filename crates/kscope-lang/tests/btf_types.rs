//! `BtfTypes`: struct members, casts, enum constants and raw tracepoint `args` from BTF,
//! first on a hand-built blob (exact, hermetic), then on this machine's vmlinux BTF.

use kscope_btf::{BTF_MAGIC, Btf, Kind};
use kscope_lang::btf_types::BtfTypes;
use kscope_lang::cdefs::KERNEL_ENUM;
use kscope_lang::sema::{Checked, Field, NoKernelTypes, Options, TableTypes, Type, TypeProvider};
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
    // A kernel enumerator is a 64-bit value of its (unsigned) enum, as upstream types it;
    // arithmetic keeps the integer.
    assert_eq!(b("TASK_COMM_LEN + 0"), "uint64");
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
/// task_struct *t, struct kmod_state *st)`, `struct kmod_state { int code; union {
/// unsigned int hidden; }; struct { int inner; } sub; enum kmod_mode mode; <the base's
/// anonymous enum> base_e; }` and `enum kmod_mode { KMOD_ON = 1 }`.
fn module_blob(base: &Btf) -> Vec<u8> {
    let base_strs = {
        let b = base.bytes();
        u32::from_le_bytes(b[20..24].try_into().unwrap())
    };
    let mut b = Blob {
        str_base: Some(base_strs),
        ..Blob::default()
    };
    let (code, sub, mode, base_e) = (b.str("code"), b.str("sub"), b.str("mode"), b.str("base_e"));
    #[rustfmt::skip]
    b.ty("kmod_state", Kind::Struct, false, 5, 20, &[
        code, 1, 0,
        0, 18, 32,
        sub, 25, 64,
        mode, 26, 96,
        base_e, 12, 128,
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
    let on = b.str("KMOD_ON");
    b.ty("kmod_mode", Kind::Enum, false, 1, 4, &[on, 1]); // 26
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
    // An enum of the kernel's BTF is an enum there too; a module's own enum is a plain
    // integer (its type ids are not the kernel's).
    assert_eq!(ty(&t, probe, "args.st->base_e"), "enum <anon:12>");
    assert_eq!(ty(&t, probe, "args.st->mode"), "uint32");
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
    // Kernel enums: a tracepoint field declared `enum NAME` in its format file, raw
    // tracepoint and fentry args, fexit's retval and enumerators have the BTF enum.
    for probe in [
        "tracepoint:skb:kfree_skb",
        "rawtracepoint:kfree_skb",
        "rawtracepoint:vmlinux:kfree_skb",
    ] {
        assert_eq!(ty(&t, probe, "args.reason"), "enum skb_drop_reason");
    }
    assert_eq!(
        ty(&t, "fentry:hrtimer_start_range_ns", "args.mode"),
        "enum hrtimer_mode"
    );
    assert_eq!(
        ty(&t, "fexit:hrtimer_wakeup", "retval"),
        "enum hrtimer_restart"
    );
    assert_eq!(b("SKB_DROP_REASON_NO_SOCKET"), "enum skb_drop_reason");
    // BTF_VAR_STATIC's enum is anonymous in the UAPI header.
    assert!(b("BTF_VAR_STATIC").starts_with("enum <anon:"));
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

/// Kernel enums: `enum skb_drop_reason { SKB_NOT_DROPPED_YET, SKB_CONSUMED,
/// SKB_DROP_REASON_NO_SOCKET = 3 }` (4 bytes), an anonymous `enum { BTF_VAR_STATIC,
/// BTF_VAR_GLOBAL_EXTERN = 2 }`, `enum rw_hint { WRITE_LIFE_NOT_SET, WRITE_LIFE_SHORT = 2 }`
/// of 1 byte (`__packed`), `typedef enum { SS_FREE, SS_UNCONNECTED } socket_state`,
/// `enum big { HUGE = 0x100000002 }` (ENUM64), `struct holder { int n; enum rw_hint hint;
/// socket_state state; enum skb_drop_reason reason; enum rw_hint hints[2]; }`, the raw
/// tracepoint
/// `kfree_skb(struct holder *h, enum skb_drop_reason reason)` and the function `enum
/// skb_drop_reason drop_it(struct holder *h, enum rw_hint mode)`.
fn enum_blob() -> Vec<u8> {
    let mut b = Blob::default();
    b.ty("int", Kind::Int, false, 0, 4, &[(1 << 24) | 32]); // 1
    b.ty("unsigned int", Kind::Int, false, 0, 4, &[32]); // 2
    let v: Vec<u32> = [
        "SKB_NOT_DROPPED_YET",
        "SKB_CONSUMED",
        "SKB_DROP_REASON_NO_SOCKET",
    ]
    .iter()
    .map(|n| b.str(n))
    .collect();
    b.ty(
        "skb_drop_reason",
        Kind::Enum,
        false,
        3,
        4,
        &[v[0], 0, v[1], 1, v[2], 3],
    ); // 3
    let (st, ex) = (b.str("BTF_VAR_STATIC"), b.str("BTF_VAR_GLOBAL_EXTERN"));
    b.ty("", Kind::Enum, false, 2, 4, &[st, 0, ex, 2]); // 4
    let (ns, sh) = (b.str("WRITE_LIFE_NOT_SET"), b.str("WRITE_LIFE_SHORT"));
    b.ty("rw_hint", Kind::Enum, false, 2, 1, &[ns, 0, sh, 2]); // 5
    b.ty("socket_state", Kind::Typedef, false, 0, 7, &[]); // 6
    let (free, unc) = (b.str("SS_FREE"), b.str("SS_UNCONNECTED"));
    b.ty("", Kind::Enum, false, 2, 4, &[free, 0, unc, 1]); // 7
    let m: Vec<u32> = ["n", "hint", "state", "reason", "hints"]
        .iter()
        .map(|n| b.str(n))
        .collect();
    #[rustfmt::skip]
    b.ty("holder", Kind::Struct, false, 5, 20, &[
        m[0], 1, 0,
        m[1], 5, 32,
        m[2], 6, 64,
        m[3], 3, 96,
        m[4], 17, 128,
    ]); // 8
    let huge = b.str("HUGE");
    b.ty("big", Kind::Enum64, false, 1, 8, &[huge, 2, 1]); // 9
    b.ty("", Kind::Ptr, false, 0, 8, &[]); // 10: struct holder *
    let (h, reason, mode) = (b.str("h"), b.str("reason"), b.str("mode"));
    b.ty("", Kind::FuncProto, false, 3, 0, &[0, 12, h, 10, reason, 3]); // 11
    b.ty("", Kind::Ptr, false, 0, 0, &[]); // 12: void *
    b.ty("", Kind::Ptr, false, 0, 11, &[]); // 13
    b.ty("btf_trace_kfree_skb", Kind::Typedef, false, 0, 13, &[]); // 14
    b.ty("", Kind::FuncProto, false, 2, 3, &[h, 10, mode, 5]); // 15
    b.ty("drop_it", Kind::Func, false, 1, 15, &[]); // 16
    b.ty("", Kind::Array, false, 0, 0, &[5, 2, 2]); // 17: enum rw_hint[2]
    b.build()
}

/// The final type of `$v` after `probe { $v = EXPR; }` (after `prelude`), with the
/// checked program.
fn var_type(types: &dyn TypeProvider, prelude: &str, probe: &str, expr: &str) -> (Type, Checked) {
    let script = format!("{prelude} {probe} {{ $v = {expr}; }}");
    let src = SourceFile::new("-e", script.as_str());
    let checked = kscope_lang::compile(&src, &Options::default(), types)
        .unwrap_or_else(|e| panic!("{script}\n{}", e.rendered));
    let t = checked.probes[0]
        .variables
        .iter()
        .find(|(n, _)| n.trim_start_matches('$') == "v")
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("{script}: no $v"));
    (t, checked)
}

fn kenum(name: &str, bits: u8, btf_id: u32) -> Type {
    Type::Enum {
        name: name.into(),
        bits,
        id: KERNEL_ENUM | btf_id,
    }
}

/// Enumerators, struct members, raw tracepoint and fentry args and fexit's retval of an
/// enum type are values of the kernel's enum (named by BTF id), at the C size where read
/// from memory and 64 bits as constants and casts, as upstream types them.
#[test]
fn kernel_enums_type_values_of_their_btf_enum() {
    let t = BtfTypes::new(Btf::parse(enum_blob()).unwrap(), Box::new(NoKernelTypes));
    let v = |probe: &str, expr: &str| var_type(&t, "", probe, expr).0;
    assert_eq!(
        v("begin", "SKB_CONSUMED"),
        kenum("enum skb_drop_reason", 64, 3)
    );
    assert_eq!(
        v("begin", "BTF_VAR_GLOBAL_EXTERN"),
        kenum("enum <anon:4>", 64, 4)
    );
    assert_eq!(v("begin", "HUGE"), kenum("enum big", 64, 9));
    assert_eq!(
        v("begin", "(enum skb_drop_reason)3"),
        kenum("enum skb_drop_reason", 64, 3)
    );
    // Arithmetic makes a plain integer (the enum is unsigned, as upstream's).
    assert_eq!(v("begin", "SKB_CONSUMED + 1"), Type::UINT64);
    let rt = "rawtracepoint:kfree_skb";
    assert_eq!(v(rt, "args.reason"), kenum("enum skb_drop_reason", 32, 3));
    assert_eq!(v(rt, "args.h->hint"), kenum("enum rw_hint", 8, 5));
    // A typedef'd anonymous enum goes by the typedef's name.
    assert_eq!(v(rt, "args.h->state"), kenum("socket_state", 32, 7));
    assert_eq!(v(rt, "args.h->n"), Type::int(32, true));
    assert_eq!(
        v("fentry:drop_it", "args.mode"),
        kenum("enum rw_hint", 8, 5)
    );
    assert_eq!(
        v("fexit:drop_it", "retval"),
        kenum("enum skb_drop_reason", 32, 3)
    );
    // A whole struct: a record whose enum members keep their enums.
    assert_eq!(
        v(rt, "*args.h"),
        Type::Record(vec![
            ("n".into(), Type::int(32, true)),
            ("hint".into(), kenum("enum rw_hint", 8, 5)),
            ("state".into(), kenum("socket_state", 32, 7)),
            ("reason".into(), kenum("enum skb_drop_reason", 32, 3)),
            // An array of enums is one of integers.
            (
                "hints".into(),
                Type::Array(Box::new(Type::int(8, false)), 2)
            ),
        ])
    );
    // is_integer (typeinfo's base type `int`), not is_unsigned_integer (its full type
    // is `enum NAME`), as upstream's; bswap gives the integer.
    assert_eq!(v(rt, "is_integer(args.reason)"), Type::Bool);
    let tree = compile(
        &t,
        "rawtracepoint:kfree_skb { @a = is_integer(args.reason); \
         @b = is_unsigned_integer(args.reason); @c = bswap(args.reason); }",
    )
    .unwrap()
    .typed_tree();
    assert!(
        tree.contains("map: @a :: bool\n        bool: true")
            && tree.contains("map: @b :: bool\n        bool: false")
            && tree.contains("call: bswap :: uint32\n"),
        "{tree}"
    );
    // sizeof: an enumerator is 8 bytes (upstream's enum_value_reference), an enum type
    // its BTF size.
    let sizes = compile(
        &t,
        "begin { @a = sizeof(BTF_VAR_STATIC); @b = sizeof(enum rw_hint); \
         @c = sizeof(enum skb_drop_reason); @d = sizeof(enum big); }",
    )
    .unwrap()
    .typed_tree();
    for (map, n) in [("@a", 8), ("@b", 1), ("@c", 4), ("@d", 8)] {
        assert!(
            sizes.contains(&format!("map: {map} :: uint64\n        int: {n} :: ")),
            "{map}: {sizes}"
        );
    }
}

/// The checked program carries the definitions of the kernel enums its values have
/// (and only those), for printing their enumerators' names.
#[test]
fn checked_programs_carry_the_kernel_enums_they_use() {
    let t = BtfTypes::new(Btf::parse(enum_blob()).unwrap(), Box::new(NoKernelTypes));
    let (_, checked) = var_type(
        &t,
        "",
        "rawtracepoint:kfree_skb",
        "(args.h->state, HUGE); @[args.reason] = count(); print(*args.h)",
    );
    let ids: Vec<u32> = checked
        .enums
        .kernel
        .keys()
        .map(|id| id & !KERNEL_ENUM)
        .collect();
    assert_eq!(ids, [3, 5, 7, 9]);
    let reason = checked.enums.get(KERNEL_ENUM | 3).unwrap();
    assert_eq!(reason.name, "enum skb_drop_reason");
    assert_eq!(
        reason.variant_name(3, 32),
        Some("SKB_DROP_REASON_NO_SOCKET")
    );
    assert_eq!(reason.variant_name(2, 32), None);
    let hint = checked.enums.get(KERNEL_ENUM | 5).unwrap();
    assert_eq!(
        (hint.size(), hint.variant_name(2, 8)),
        (1, Some("WRITE_LIFE_SHORT"))
    );
    let big = checked.enums.get(KERNEL_ENUM | 9).unwrap();
    assert_eq!(big.size(), 8);
    assert_eq!(big.variant_name(0x1_0000_0002, 64), Some("HUGE"));
    assert!(checked.enums.script.is_empty());
    assert_eq!(checked.enums.get(KERNEL_ENUM | 4), None);
}

/// A tracepoint field declared `enum NAME` in its format file is the kernel's enum of
/// that name; a name BTF does not have leaves a plain unsigned integer.
#[test]
fn tracepoint_enum_fields_resolve_by_name() {
    let unresolved = |name: &str| Type::Enum {
        name: name.into(),
        bits: 32,
        id: KERNEL_ENUM,
    };
    let mut table = TableTypes::default();
    table.probes.insert(
        "tracepoint:skb:kfree_skb".into(),
        vec![
            Field {
                name: "reason".into(),
                ty: unresolved("enum skb_drop_reason"),
            },
            Field {
                name: "other".into(),
                ty: unresolved("enum not_in_btf"),
            },
        ],
    );
    let t = BtfTypes::new(Btf::parse(enum_blob()).unwrap(), Box::new(table));
    let tp = "tracepoint:skb:kfree_skb";
    assert_eq!(
        var_type(&t, "", tp, "args.reason").0,
        kenum("enum skb_drop_reason", 32, 3)
    );
    assert_eq!(var_type(&t, "", tp, "args.other").0, Type::UINT32);
    // `args` as a whole value keeps the enum (print(args) shows the name).
    assert_eq!(
        var_type(&t, "", tp, "args").0,
        Type::Record(vec![
            ("reason".into(), kenum("enum skb_drop_reason", 32, 3)),
            ("other".into(), Type::UINT32),
        ])
    );
}

/// The script's `enum NAME` shadows the kernel's enum of that name (as its structs
/// shadow the kernel's): members and args of that enum print the script's enumerators.
#[test]
fn a_script_enum_shadows_the_kernel_enum_of_its_name() {
    let t = BtfTypes::new(Btf::parse(enum_blob()).unwrap(), Box::new(NoKernelTypes));
    let prelude = "enum skb_drop_reason { MINE = 3 };";
    let mine = |bits| Type::Enum {
        name: "enum skb_drop_reason".into(),
        bits,
        id: 0,
    };
    let rt = "rawtracepoint:kfree_skb";
    assert_eq!(var_type(&t, prelude, rt, "args.reason").0, mine(32));
    assert_eq!(var_type(&t, prelude, rt, "args.h->reason").0, mine(32));
    assert_eq!(
        var_type(&t, prelude, rt, "(enum skb_drop_reason)3").0,
        mine(64)
    );
    // The other kernel enums stay the kernel's.
    assert_eq!(
        var_type(&t, prelude, rt, "args.h->hint").0,
        kenum("enum rw_hint", 8, 5)
    );
}

/// Casts to a kernel enum check a literal against its enumerators (upstream's "doesn't
/// contain a variant value"); an unknown enum names the nearest one.
#[test]
fn kernel_enum_cast_errors() {
    let t = BtfTypes::new(Btf::parse(enum_blob()).unwrap(), Box::new(NoKernelTypes));
    assert_eq!(
        error(&t, "begin { print((enum skb_drop_reason)2); }"),
        "error: `enum skb_drop_reason` has no enumerator of value 2
 --> -e:1:37
  |
1 | begin { print((enum skb_drop_reason)2); }
  |                                     ^ not a value of the enum
"
    );
    // A value known only at run time is accepted (and prints as a number).
    assert!(compile(&t, "begin { $x = 2; print((enum skb_drop_reason)$x); }").is_ok());
    let e = error(&t, "begin { print((enum skb_drop_reasn)3); }");
    assert!(
        e.contains("error: unknown type `enum skb_drop_reasn`")
            && e.contains("did you mean `enum skb_drop_reason`?"),
        "{e}"
    );
}
