//! Layout, lookup and printing on a hand-built blob with exact, known offsets.

use super::tests::Builder;
use super::*;

/// Type ids of the blob built by [`layout_blob`].
mod id {
    pub const INT: u32 = 1;
    pub const UINT: u32 = 2;
    pub const CHAR: u32 = 3;
    pub const ULONG: u32 = 4;
    pub const TASK_PTR: u32 = 5;
    pub const U32: u32 = 6;
    pub const TASK: u32 = 7;
    pub const COMM: u32 = 9;
    pub const CONST: u32 = 10;
    pub const STATE_T: u32 = 12;
    pub const COLOR: u32 = 13;
    pub const BIG_E: u32 = 14;
    pub const BOOL: u32 = 19;
    pub const TP_PTR: u32 = 20;
    pub const DO_THING: u32 = 22;
    pub const OLD: u32 = 24;
    pub const PACKED: u32 = 27;
    pub const FN_PTR: u32 = 28;
    pub const ARRAY_PTR: u32 = 31;
}

/// Bit offset word of a `kind_flag` member: bitfield size in the top byte.
fn bf(size: u32, bit: u32) -> u32 {
    (size << 24) | bit
}

fn layout_blob() -> (Vec<u8>, u32) {
    let mut b = Builder::new(false);
    let s = |b: &mut Builder, n: &str| b.str(n);
    b.ty("int", Kind::Int, 0, 4, &[(1 << 24) | 32]); // 1
    b.ty("unsigned int", Kind::Int, 0, 4, &[32]); // 2
    b.ty("char", Kind::Int, 0, 1, &[(3 << 24) | 8]); // 3
    b.ty("long unsigned int", Kind::Int, 0, 8, &[64]); // 4
    b.ty("", Kind::Ptr, 0, id::TASK, &[]); // 5
    b.ty("u32", Kind::Typedef, 0, id::UINT, &[]); // 6
    let m: Vec<u32> = [
        "pid", "", "flags", "more", "comm", "parent", "state", "big", "",
    ]
    .iter()
    .map(|n| s(&mut b, n))
    .collect();
    #[rustfmt::skip]
    b.ty_kf("task", Kind::Struct, 9, 48, &[
        m[0], id::INT, 0,
        m[1], 8, 32,
        m[2], id::UINT, bf(3, 64),
        m[3], id::UINT, bf(5, 67),
        m[4], id::COMM, 96,
        m[5], id::TASK_PTR, 128,
        m[6], id::STATE_T, 192,
        m[7], id::BIG_E, 256,
        m[8], 15, 320,
    ]); // 7
    let (tgid, alias) = (s(&mut b, "tgid"), s(&mut b, "alias"));
    b.ty(
        "",
        Kind::Union,
        2,
        4,
        &[tgid, id::INT, 0, alias, id::U32, 0],
    ); // 8
    b.ty("", Kind::Array, 0, 0, &[id::CHAR, id::UINT, 16]); // 9
    b.ty("", Kind::Const, 0, 11, &[]); // 10
    b.ty("", Kind::Volatile, 0, id::U32, &[]); // 11
    b.ty("state_t", Kind::Typedef, 0, id::CONST, &[]); // 12
    let (red, green) = (s(&mut b, "RED"), s(&mut b, "GREEN"));
    b.ty_kf("color", Kind::Enum, 2, 4, &[red, u32::MAX, green, 2]); // 13
    let (big, huge) = (s(&mut b, "BIG"), s(&mut b, "HUGE"));
    #[rustfmt::skip]
    b.ty("big_e", Kind::Enum64, 2, 8, &[big, 2, 1, huge, u32::MAX, u32::MAX]); // 14
    b.ty("", Kind::Struct, 1, 8, &[0, 16, 0]); // 15
    let (deep, deep_ptr) = (s(&mut b, "deep"), s(&mut b, "deep_ptr"));
    #[rustfmt::skip]
    b.ty("", Kind::Union, 2, 8, &[deep, id::ULONG, 0, deep_ptr, id::TASK_PTR, 0]); // 16
    let (preempt, prev, prev_state) = (
        s(&mut b, "preempt"),
        s(&mut b, "prev"),
        s(&mut b, "prev_state"),
    );
    #[rustfmt::skip]
    b.ty("", Kind::FuncProto, 4, 0, &[
        0, 18,
        preempt, id::BOOL,
        prev, id::TASK_PTR,
        prev_state, id::UINT,
    ]); // 17
    b.ty("", Kind::Ptr, 0, 0, &[]); // 18: void *
    b.ty("_Bool", Kind::Int, 0, 1, &[(4 << 24) | 8]); // 19
    b.ty("", Kind::Ptr, 0, 17, &[]); // 20
    b.ty("btf_trace_sched_switch", Kind::Typedef, 0, id::TP_PTR, &[]); // 21
    b.ty("do_thing", Kind::Func, 1, 23, &[]); // 22
    let a = s(&mut b, "a");
    b.ty("", Kind::FuncProto, 2, id::INT, &[a, id::INT, 0, 0]); // 23
    let (x, y) = (s(&mut b, "x"), s(&mut b, "y"));
    b.ty("old", Kind::Struct, 2, 4, &[x, 25, 0, y, 26, 3]); // 24
    b.ty("int", Kind::Int, 0, 4, &[(1 << 24) | 3]); // 25: old-style 3-bit field
    b.ty("int", Kind::Int, 0, 4, &[(1 << 24) | (2 << 16) | 5]); // 26: 5 bits at +2
    let (c, i) = (s(&mut b, "c"), s(&mut b, "i"));
    b.ty(
        "packed",
        Kind::Struct,
        2,
        5,
        &[c, id::CHAR, 0, i, id::INT, 8],
    ); // 27
    b.ty("", Kind::Ptr, 0, 29, &[]); // 28
    b.ty("", Kind::FuncProto, 1, id::INT, &[0, id::TASK_PTR]); // 29
    b.ty("", Kind::Array, 0, 0, &[id::TASK_PTR, id::UINT, 4]); // 30
    b.ty("", Kind::Ptr, 0, 30, &[]); // 31
    // A raw tracepoint whose typedef'd prototype has no names: they come from its stub.
    b.ty("", Kind::FuncProto, 2, 0, &[0, 18, 0, id::TASK_PTR]); // 32
    b.ty("", Kind::Ptr, 0, 32, &[]); // 33
    b.ty("btf_trace_sched_waking", Kind::Typedef, 0, 33, &[]); // 34
    let (data, p) = (s(&mut b, "__data"), s(&mut b, "p"));
    b.ty("", Kind::FuncProto, 2, 0, &[data, 18, p, id::TASK_PTR]); // 35
    b.ty("__probestub_sched_waking", Kind::Func, 1, 35, &[]); // 36
    let str_len = b.str_len();
    (b.build(), str_len)
}

fn btf() -> Btf {
    Btf::parse(layout_blob().0).unwrap()
}

fn member(btf: &Btf, id: u32, name: &str) -> (u64, u8, String) {
    let m = btf
        .find_member(id, name)
        .unwrap()
        .unwrap_or_else(|| panic!("no member {name}"));
    (
        m.bit_offset,
        m.bitfield_size,
        btf.type_name(m.type_id).unwrap(),
    )
}

#[test]
fn members_have_exact_offsets() {
    let btf = btf();
    let t = id::TASK;
    assert_eq!(member(&btf, t, "pid"), (0, 0, "int".into()));
    // Through the anonymous union at byte 4.
    assert_eq!(member(&btf, t, "tgid"), (32, 0, "int".into()));
    assert_eq!(member(&btf, t, "alias"), (32, 0, "u32".into()));
    // kind_flag bitfields.
    assert_eq!(member(&btf, t, "flags"), (64, 3, "unsigned int".into()));
    assert_eq!(member(&btf, t, "more"), (67, 5, "unsigned int".into()));
    assert_eq!(member(&btf, t, "comm"), (96, 0, "char[16]".into()));
    assert_eq!(member(&btf, t, "parent"), (128, 0, "struct task *".into()));
    assert_eq!(member(&btf, t, "state"), (192, 0, "state_t".into()));
    assert_eq!(member(&btf, t, "big"), (256, 0, "enum big_e".into()));
    // Two levels of anonymous members: struct { union { ... } } at byte 40.
    assert_eq!(
        member(&btf, t, "deep"),
        (320, 0, "long unsigned int".into())
    );
    assert_eq!(
        member(&btf, t, "deep_ptr"),
        (320, 0, "struct task *".into())
    );
    assert_eq!(btf.find_member(t, "nope").unwrap(), None);
    assert_eq!(btf.find_member(t, "").unwrap(), None);
    let m = btf.find_member(t, "more").unwrap().unwrap();
    assert_eq!(m.byte_offset(), 8);
    assert_eq!(btf.member_declaration(&m).unwrap(), "unsigned int more:5");
    let anon = Member { name: "", ..m };
    assert_eq!(btf.member_declaration(&anon).unwrap(), "unsigned int:5");
    assert_eq!(
        btf.member_names(t).unwrap(),
        [
            "pid", "tgid", "alias", "flags", "more", "comm", "parent", "state", "big", "deep",
            "deep_ptr"
        ]
    );
    // Old-style bitfields: the width and offset are in the member's int type.
    assert_eq!(member(&btf, id::OLD, "x"), (0, 3, "int".into()));
    assert_eq!(member(&btf, id::OLD, "y"), (5, 5, "int".into()));
    // Members of a non-struct are an error naming the type.
    let e = btf.members(id::INT).unwrap_err().to_string();
    assert_eq!(e, "BTF type 1 (INT) is not a struct or union");
    // A pointer is not resolved implicitly.
    assert!(btf.find_member(id::TASK_PTR, "pid").is_err());
}

#[test]
fn typedef_chains_sizes_and_alignment() {
    let btf = btf();
    assert_eq!(btf.resolve(id::STATE_T).unwrap(), id::UINT);
    assert_eq!(btf.strip_modifiers(id::CONST).unwrap(), id::U32);
    assert_eq!(btf.type_name(id::CONST).unwrap(), "const volatile u32");
    assert_eq!(btf.size_of(id::TASK).unwrap(), 48);
    assert_eq!(btf.align_of(id::TASK).unwrap(), 8);
    assert_eq!(btf.size_of(id::COMM).unwrap(), 16);
    assert_eq!(btf.align_of(id::COMM).unwrap(), 1);
    assert_eq!(btf.size_of(id::STATE_T).unwrap(), 4);
    assert_eq!(btf.size_of(id::TASK_PTR).unwrap(), 8);
    assert_eq!(btf.size_of(30).unwrap(), 32);
    assert_eq!(btf.size_of(id::PACKED).unwrap(), 5);
    assert_eq!(btf.align_of(id::PACKED).unwrap(), 1);
    assert_eq!(btf.align_of(8).unwrap(), 4);
    assert!(btf.size_of(0).is_err());
    let a = btf.array(id::COMM).unwrap();
    assert_eq!((a.elem, a.count), (id::CHAR, 16));
    let enc = btf.int_encoding(id::CHAR).unwrap();
    assert!(enc.char && enc.signed && !enc.bool);
    assert!(btf.int_encoding(id::BOOL).unwrap().bool);
}

#[test]
fn enums_and_lookup_by_name() {
    let btf = btf();
    assert_eq!(btf.find_by_name(Kind::Struct, "task"), Some(id::TASK));
    assert_eq!(btf.find_by_name(Kind::Typedef, "task"), None);
    // The lowest id of several types with one name.
    assert_eq!(btf.find_by_name(Kind::Int, "int"), Some(id::INT));
    assert_eq!(btf.find_all_by_name("int"), [1, 25, 26]);
    assert_eq!(btf.enum_value("RED"), Some((id::COLOR, -1)));
    assert_eq!(btf.enum_value("GREEN"), Some((id::COLOR, 2)));
    assert_eq!(btf.enum_value("BIG"), Some((id::BIG_E, 0x1_0000_0002)));
    assert_eq!(btf.enum_value("HUGE"), Some((id::BIG_E, u64::MAX as i128)));
    assert_eq!(btf.enum_value("BLUE"), None);
    let names: Vec<_> = btf
        .enumerators(id::BIG_E)
        .unwrap()
        .iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["BIG", "HUGE"]);
    assert_eq!(btf.type_name(id::COLOR).unwrap(), "enum color");
    // Past the scans, the same answers come from the indexes.
    for _ in 0..=SCANS_BEFORE_INDEX {
        btf.find_by_name(Kind::Struct, "nope");
        btf.enum_value("NOPE");
    }
    assert!(btf.inner.names.get().is_some() && btf.inner.enumerators.get().is_some());
    assert_eq!(btf.find_by_name(Kind::Struct, "task"), Some(id::TASK));
    assert_eq!(btf.find_by_name(Kind::Typedef, "task"), None);
    assert_eq!(btf.find_all_by_name("int"), [1, 25, 26]);
    assert_eq!(btf.enum_value("RED"), Some((id::COLOR, -1)));
    assert_eq!(btf.enum_value("HUGE"), Some((id::BIG_E, u64::MAX as i128)));
    assert_eq!(btf.enum_value("BLUE"), None);
}

#[test]
fn prototypes_and_raw_tracepoints() {
    let btf = btf();
    let args = btf.raw_tracepoint_args("sched_switch").unwrap().unwrap();
    let got: Vec<(&str, String)> = args
        .iter()
        .map(|p| (p.name, btf.type_name(p.type_id).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("preempt", "_Bool".to_string()),
            ("prev", "struct task *".into()),
            ("prev_state", "unsigned int".into()),
        ]
    );
    assert_eq!(btf.raw_tracepoint_args("sched_wakeup").unwrap(), None);
    assert_eq!(btf.raw_tracepoint_names(), ["sched_switch", "sched_waking"]);
    let waking = btf.raw_tracepoint_args("sched_waking").unwrap().unwrap();
    assert_eq!(
        waking,
        [Param {
            name: "p",
            type_id: id::TASK_PTR
        }]
    );
    let f = btf.func_args("do_thing").unwrap().unwrap();
    assert_eq!((f.ret, f.params.len(), f.variadic), (id::INT, 1, true));
    assert_eq!(f.params[0].name, "a");
    assert_eq!(
        btf.type_name(id::TP_PTR).unwrap(),
        "void (*)(void *, _Bool, struct task *, unsigned int)"
    );
    assert_eq!(
        btf.type_name(id::DO_THING).unwrap(),
        "int do_thing(int, ...)"
    );
    assert_eq!(btf.type_name(id::FN_PTR).unwrap(), "int (*)(struct task *)");
    assert_eq!(btf.type_name(id::ARRAY_PTR).unwrap(), "struct task *(*)[4]");
    assert_eq!(btf.declaration(id::COMM, "comm").unwrap(), "char comm[16]");
    assert_eq!(
        btf.declaration(id::FN_PTR, "cb").unwrap(),
        "int (*cb)(struct task *)"
    );
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let (base_blob, base_strs) = layout_blob();
    let base = Btf::parse(base_blob).unwrap();
    let first = base.type_count() + 1;
    assert_eq!(first, 37);
    let mut b = Builder::split(base_strs);
    let (t, m) = (b.str("t"), b.str("m"));
    // Member `pid` reuses the base's string "pid" (the name of task's first member).
    let pid_off = base.trailing_u32(id::TASK, 0).unwrap();
    #[rustfmt::skip]
    b.ty("modstruct", Kind::Struct, 3, 24, &[
        t, id::TASK_PTR, 0,
        m, first + 1, 64,
        pid_off, id::INT, 128,
    ]); // 32
    b.ty("modint", Kind::Int, 0, 8, &[64]); // 33
    b.ty("", Kind::Ptr, 0, first, &[]); // 34
    let split = Btf::parse_split(b.build(), &base).unwrap();
    assert_eq!(split.first_id(), first);
    assert_eq!(split.type_count(), first + 2);
    assert_eq!(split.find_by_name(Kind::Struct, "modstruct"), Some(first));
    assert_eq!(split.find_by_name(Kind::Struct, "task"), Some(id::TASK));
    assert_eq!(split.name(id::TASK).unwrap(), "task");
    assert_eq!(member(&split, first, "t"), (0, 0, "struct task *".into()));
    assert_eq!(member(&split, first, "m"), (64, 0, "modint".into()));
    assert_eq!(member(&split, first, "pid"), (128, 0, "int".into()));
    assert_eq!(split.type_name(first + 2).unwrap(), "struct modstruct *");
    assert_eq!(split.size_of(first).unwrap(), 24);
    assert_eq!(split.enum_value("GREEN"), Some((id::COLOR, 2)));
    // Base types seen through the split BTF keep their layout.
    assert_eq!(
        member(&split, id::TASK, "deep"),
        (320, 0, "long unsigned int".into())
    );
    assert!(matches!(
        split.kind(first + 3),
        Err(BtfError::UnknownType { id: 40, count: 39 })
    ));
    // A split blob referring to strings beyond the base's and its own is rejected.
    let mut bad = Builder::split(base_strs);
    bad.ty("x", Kind::Int, 0, 4, &[32]);
    let mut blob = bad.build();
    blob[24..28].copy_from_slice(&(base_strs + 100).to_le_bytes());
    assert!(matches!(
        Btf::parse_split(blob, &base),
        Err(BtfError::BadNameOffset { id: 37, .. })
    ));
}

#[test]
fn open_maps_a_file_and_explains_failures() {
    let dir = std::env::temp_dir().join(format!("kscope-btf-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("blob.btf");
    std::fs::write(&path, layout_blob().0).unwrap();
    let btf = Btf::open(&path).unwrap();
    assert!(btf.is_mapped());
    assert_eq!(
        member(&btf, id::TASK, "deep"),
        (320, 0, "long unsigned int".into())
    );
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        Btf::open(&path),
        Err(BtfError::Truncated { offset: 0, .. })
    ));
    let missing = dir.join("missing");
    let e = Btf::open(&missing).unwrap_err().to_string();
    assert!(e.contains("missing") && e.contains("reading BTF"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Btf::open_sys_module("no_such_module_kscope", &btf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/sys/kernel/btf/no_such_module_kscope"), "{e}");
}

#[test]
fn exponential_nesting_is_cut_off() {
    // union u_k { union u_k+1; union u_k+1; } (both anonymous) for 40 levels: a walk
    // through every anonymous member would visit 2^40 unions.
    let mut b = Builder::new(false);
    b.ty("int", Kind::Int, 0, 4, &[(1 << 24) | 32]); // 1
    for k in 0..40u32 {
        let next = k + 3;
        b.ty(
            &format!("u{k}"),
            Kind::Union,
            2,
            4,
            &[0, next, 0, 0, next, 0],
        ); // k + 2
    }
    let x = b.str("x");
    b.ty("leaf", Kind::Union, 1, 4, &[x, 1, 0]); // 42
    let btf = Btf::parse(b.build()).unwrap();
    // The first path down finds `x` at once; a missing name walks until the budget ends.
    assert_eq!(member(&btf, 2, "x"), (0, 0, "int".into()));
    assert!(matches!(
        btf.find_member(2, "nope"),
        Err(BtfError::TooDeep { id: _, .. })
    ));
    assert!(btf.member_names(2).is_err());
    assert!(btf.align_of(2).is_err());
    assert!(btf.type_name(2).is_ok());
}

#[test]
fn qualifiers_print_once() {
    let mut b = Builder::new(false);
    b.ty("char", Kind::Int, 0, 1, &[(3 << 24) | 8]); // 1
    b.ty("", Kind::Const, 0, 1, &[]); // 2: const char
    b.ty("", Kind::Array, 0, 0, &[2, 1, 0]); // 3: const char[0]
    b.ty("", Kind::Const, 0, 3, &[]); // 4: const (const char[0])
    b.ty("", Kind::Ptr, 0, 2, &[]); // 5: const char *
    b.ty("", Kind::Const, 0, 5, &[]); // 6: const char *const
    b.ty("", Kind::Ptr, 0, 6, &[]); // 7: const char *const *
    b.ty("", Kind::Volatile, 0, 1, &[]); // 8: volatile char
    b.ty("", Kind::Const, 0, 8, &[]); // 9: const volatile char
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.declaration(4, "iname").unwrap(), "const char iname[0]");
    assert_eq!(btf.declaration(6, "p").unwrap(), "const char *const p");
    assert_eq!(btf.type_name(7).unwrap(), "const char *const *");
    assert_eq!(btf.type_name(9).unwrap(), "const volatile char");
}
