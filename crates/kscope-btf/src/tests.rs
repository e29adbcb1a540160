//! Unit tests on hand-built BTF blobs, malformed inputs, and the running kernel's BTF.

use super::*;

/// Builds raw BTF in either byte order.
pub(crate) struct Builder {
    big_endian: bool,
    types: Vec<u8>,
    strs: Vec<u8>,
    /// First string offset of this blob's strings (split BTF: the base's string length).
    str_base: u32,
}

impl Builder {
    pub(crate) fn new(big_endian: bool) -> Builder {
        Builder {
            big_endian,
            types: Vec::new(),
            strs: vec![0],
            str_base: 0,
        }
    }

    /// A builder for split BTF over a base whose string section is `str_base` bytes.
    pub(crate) fn split(str_base: u32) -> Builder {
        Builder {
            big_endian: false,
            types: Vec::new(),
            strs: Vec::new(),
            str_base,
        }
    }

    /// Adds a type with the kind flag set.
    pub(crate) fn ty_kf(
        &mut self,
        name: &str,
        kind: Kind,
        vlen: u16,
        size_or_type: u32,
        trailing: &[u32],
    ) {
        let start = self.types.len();
        self.ty(name, kind, vlen, size_or_type, trailing);
        let info = ((1u32 << 31) | ((kind as u32) << 24)) | vlen as u32;
        let b = self.u32(info);
        self.types[start + 4..start + 8].copy_from_slice(&b);
    }

    /// The string section's length so far.
    pub(crate) fn str_len(&self) -> u32 {
        self.strs.len() as u32
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub(crate) fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.str_base + self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }

    /// Adds a type; `trailing` words may hold string offsets already added.
    pub(crate) fn ty(
        &mut self,
        name: &str,
        kind: Kind,
        vlen: u16,
        size_or_type: u32,
        trailing: &[u32],
    ) {
        let name_off = self.str(name);
        let info = ((kind as u32) << 24) | vlen as u32;
        for w in [name_off, info, size_or_type].iter().chain(trailing) {
            let b = self.u32(*w);
            self.types.extend_from_slice(&b);
        }
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let magic = if self.big_endian {
            BTF_MAGIC.to_be_bytes()
        } else {
            BTF_MAGIC.to_le_bytes()
        };
        out.extend_from_slice(&magic);
        out.push(1);
        out.push(0);
        for w in [
            24,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strs.len() as u32,
        ] {
            out.extend_from_slice(&self.u32(w));
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strs);
        out
    }
}

/// One type of every kind, ids 1..=19 in kind order.
fn sample(big_endian: bool) -> Vec<u8> {
    let mut b = Builder::new(big_endian);
    b.ty("int", Kind::Int, 0, 4, &[(1 << 24) | 32]);
    b.ty("", Kind::Ptr, 0, 1, &[]);
    b.ty("", Kind::Array, 0, 0, &[1, 1, 4]);
    let (x, y) = (b.str("x"), b.str("y"));
    b.ty("point", Kind::Struct, 2, 8, &[x, 1, 0, y, 1, 32]);
    b.ty("", Kind::Union, 1, 4, &[x, 1, 0]);
    let (red, green) = (b.str("RED"), b.str("GREEN"));
    b.ty("color", Kind::Enum, 2, 4, &[red, 0, green, 1]);
    b.ty("fwd_s", Kind::Fwd, 0, 0, &[]);
    b.ty("myint", Kind::Typedef, 0, 1, &[]);
    b.ty("", Kind::Volatile, 0, 1, &[]);
    b.ty("", Kind::Const, 0, 1, &[]);
    b.ty("", Kind::Restrict, 0, 2, &[]);
    let a = b.str("a");
    b.ty("do_nanosleep", Kind::Func, 1, 13, &[]);
    b.ty("", Kind::FuncProto, 1, 1, &[a, 1]);
    b.ty("v", Kind::Var, 0, 1, &[1]);
    b.ty(".data", Kind::Datasec, 1, 4, &[14, 0, 4]);
    b.ty("double", Kind::Float, 0, 8, &[]);
    b.ty("tag", Kind::DeclTag, 0, 12, &[u32::MAX]);
    b.ty("user", Kind::TypeTag, 0, 2, &[]);
    let big = b.str("BIG");
    b.ty("big", Kind::Enum64, 1, 8, &[big, 1, 2]);
    b.build()
}

const KINDS: [Kind; 19] = [
    Kind::Int,
    Kind::Ptr,
    Kind::Array,
    Kind::Struct,
    Kind::Union,
    Kind::Enum,
    Kind::Fwd,
    Kind::Typedef,
    Kind::Volatile,
    Kind::Const,
    Kind::Restrict,
    Kind::Func,
    Kind::FuncProto,
    Kind::Var,
    Kind::Datasec,
    Kind::Float,
    Kind::DeclTag,
    Kind::TypeTag,
    Kind::Enum64,
];

fn check_sample(btf: &Btf) {
    assert_eq!(btf.type_count(), 19);
    for (i, kind) in KINDS.iter().enumerate() {
        assert_eq!(btf.kind(i as u32 + 1).unwrap(), *kind);
    }
    assert_eq!(btf.kind(0).unwrap(), Kind::Void);
    assert_eq!(btf.name(0).unwrap(), "");
    assert_eq!(btf.name(1).unwrap(), "int");
    assert_eq!(btf.name(2).unwrap(), "");
    assert_eq!(btf.name(4).unwrap(), "point");
    assert_eq!(btf.name(12).unwrap(), "do_nanosleep");
    assert_eq!(btf.name(19).unwrap(), "big");
    assert_eq!(btf.find_by_name(Kind::Struct, "point"), Some(4));
    assert_eq!(btf.find_by_name(Kind::Func, "do_nanosleep"), Some(12));
    assert_eq!(btf.find_by_name(Kind::Enum64, "big"), Some(19));
    assert_eq!(btf.find_by_name(Kind::Datasec, ".data"), Some(15));
    assert_eq!(btf.find_by_name(Kind::Union, "point"), None);
    assert_eq!(btf.find_by_name(Kind::Struct, "poin"), None);
    assert_eq!(btf.find_by_name(Kind::Struct, "points"), None);
    let t = btf.raw_type(4).unwrap();
    assert_eq!(
        (t.kind, t.vlen, t.size_or_type, t.kind_flag),
        (Kind::Struct, 2, 8, false)
    );
    assert_eq!(t.offset, 24 + 12 + 16 + 24);
    assert_eq!(btf.raw_type(12).unwrap().size_or_type, 13);
    assert!(matches!(
        btf.kind(20),
        Err(BtfError::UnknownType { id: 20, count: 19 })
    ));
    assert!(btf.name(u32::MAX).is_err());
}

#[test]
fn parses_every_kind() {
    check_sample(&Btf::parse(sample(false)).unwrap());
}

#[test]
fn parses_the_other_byte_order() {
    let native_big = cfg!(target_endian = "big");
    check_sample(&Btf::parse(sample(!native_big)).unwrap());
    check_sample(&Btf::parse(sample(native_big)).unwrap());
}

#[test]
fn trailing_lengths() {
    assert_eq!(Kind::Int.trailing_len(0), 4);
    assert_eq!(Kind::Array.trailing_len(0), 12);
    assert_eq!(Kind::Struct.trailing_len(3), 36);
    assert_eq!(Kind::Union.trailing_len(2), 24);
    assert_eq!(Kind::Enum.trailing_len(3), 24);
    assert_eq!(Kind::FuncProto.trailing_len(2), 16);
    assert_eq!(Kind::Var.trailing_len(0), 4);
    assert_eq!(Kind::Datasec.trailing_len(2), 24);
    assert_eq!(Kind::DeclTag.trailing_len(0), 4);
    assert_eq!(Kind::Enum64.trailing_len(2), 24);
    assert_eq!(Kind::Func.trailing_len(2), 0);
    assert_eq!(Kind::Ptr.trailing_len(5), 0);
    assert_eq!(Kind::from_u8(20), None);
    assert_eq!(Kind::FuncProto.to_string(), "FUNC_PROTO");
}

fn set_u32(blob: &mut [u8], off: usize, v: u32) {
    blob[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn header_errors_name_their_offset() {
    let good = sample(false);
    let err = |blob: Vec<u8>| Btf::parse(blob).unwrap_err();

    assert!(matches!(
        err(good[..10].to_vec()),
        BtfError::Truncated { offset: 0, .. }
    ));
    let mut b = good.clone();
    b[0] = 0;
    assert!(matches!(err(b), BtfError::BadMagic { found: 0xeb00 }));
    let mut b = good.clone();
    b[2] = 2;
    assert!(err(b).to_string().contains("byte offset 2"));
    let mut b = good.clone();
    set_u32(&mut b, 4, 8);
    assert!(matches!(err(b), BtfError::BadHeader { offset: 4, .. }));
    let mut b = good.clone();
    set_u32(&mut b, 8, 2);
    assert!(matches!(err(b), BtfError::BadHeader { offset: 8, .. }));
    let mut b = good.clone();
    set_u32(&mut b, 12, u32::MAX);
    assert!(matches!(err(b), BtfError::BadHeader { offset: 8, .. }));
    let mut b = good.clone();
    set_u32(&mut b, 20, 100_000);
    let e = err(b);
    assert!(matches!(e, BtfError::BadHeader { offset: 16, .. }), "{e}");
    // Strings placed over the types.
    let mut b = good.clone();
    set_u32(&mut b, 16, 0);
    assert!(err(b).to_string().contains("overlap"));
    // String section not starting with NUL.
    let mut b = good.clone();
    let types_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    b[24 + types_len] = b'x';
    assert!(matches!(err(b), BtfError::BadString { offset, .. } if offset == 24 + types_len));
    // String section not ending with NUL.
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] = b'x';
    assert!(matches!(err(b), BtfError::BadString { offset, .. } if offset == last));
}

#[test]
fn type_errors_name_their_offset() {
    let good = sample(false);
    // Type 2 (PTR) starts after type 1 (12 + 4 bytes).
    let t2 = 24 + 16;
    let mut b = good.clone();
    set_u32(&mut b, t2 + 4, 0);
    let e = Btf::parse(b).unwrap_err();
    assert!(
        matches!(e, BtfError::BadKind { offset, id: 2, kind: 0 } if offset == t2),
        "{e}"
    );
    let mut b = good.clone();
    set_u32(&mut b, t2 + 4, 25 << 24);
    assert!(matches!(
        Btf::parse(b),
        Err(BtfError::BadKind { kind: 25, .. })
    ));
    let mut b = good.clone();
    set_u32(&mut b, t2, 1_000_000);
    let e = Btf::parse(b).unwrap_err();
    assert!(
        matches!(e, BtfError::BadNameOffset { offset, id: 2, .. } if offset == t2),
        "{e}"
    );
    // A struct whose vlen runs past the type section.
    let t4 = 24 + 16 + 12 + 24;
    let mut b = good.clone();
    set_u32(&mut b, t4 + 4, (4 << 24) | 60_000);
    let e = Btf::parse(b).unwrap_err();
    assert!(
        matches!(e, BtfError::Truncated { offset, .. } if offset == t4),
        "{e}"
    );
    assert!(e.to_string().contains("STRUCT with vlen 60000"), "{e}");
    // A type section that ends inside a type header.
    let mut b = good.clone();
    let types_len = u32::from_le_bytes(b[12..16].try_into().unwrap());
    set_u32(&mut b, 12, types_len - 4);
    assert!(matches!(Btf::parse(b), Err(BtfError::Truncated { .. })));
}

#[test]
fn io_error_names_the_path() {
    let e = Btf::from_file("/nonexistent/kscope/vmlinux").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/kscope/vmlinux"), "{e}");
}

/// Exercises every accessor; must never panic whatever `parse` accepted.
fn poke(btf: &Btf) {
    for id in 0..=btf.type_count() + 1 {
        let _ = btf.kind(id);
        let _ = btf.name(id);
        let _ = btf.raw_type(id);
    }
    let _ = btf.find_by_name(Kind::Struct, "point");
    let _ = btf.find_by_name(Kind::Func, "");
    let _ = btf.string_at(u32::MAX);
    for id in 0..=btf.type_count() + 1 {
        let _ = btf.resolve(id);
        let _ = btf.size_of(id);
        let _ = btf.align_of(id);
        let _ = btf.members(id);
        let _ = btf.find_member(id, "x");
        let _ = btf.member_names(id);
        let _ = btf.array(id);
        let _ = btf.enumerators(id);
        let _ = btf.func_proto(id);
        let _ = btf.type_name(id);
        let _ = btf.int_encoding(id);
    }
    let _ = btf.enum_value("RED");
    let _ = btf.raw_tracepoint_args("x");
    let _ = btf.func_args("do_nanosleep");
}

#[test]
fn malformed_inputs_never_panic() {
    for big_endian in [false, true] {
        let good = sample(big_endian);
        for len in 0..good.len() {
            if let Ok(btf) = Btf::parse(good[..len].to_vec()) {
                poke(&btf);
            }
        }
        for pos in 0..good.len() {
            for mask in [0x01u8, 0x10, 0x80, 0xff] {
                let mut b = good.clone();
                b[pos] ^= mask;
                if let Ok(btf) = Btf::parse(b) {
                    poke(&btf);
                }
            }
            for val in [0x00u8, 0x7f, 0xff] {
                let mut b = good.clone();
                b[pos] = val;
                if let Ok(btf) = Btf::parse(b) {
                    poke(&btf);
                }
            }
        }
    }
    // A tiny deterministic PRNG for multi-byte corruption.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let good = sample(false);
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..(next() % 4 + 1) {
            let pos = (next() % b.len() as u64) as usize;
            b[pos] = next() as u8;
        }
        if let Ok(btf) = Btf::parse(b) {
            poke(&btf);
        }
    }
}

#[test]
fn parses_the_running_kernels_btf() {
    if !Path::new(SYS_VMLINUX).exists() {
        println!("skipped: {SYS_VMLINUX} does not exist (kernel without CONFIG_DEBUG_INFO_BTF)");
        return;
    }
    let start = std::time::Instant::now();
    let data = std::fs::read(SYS_VMLINUX).unwrap();
    let read = start.elapsed();
    let btf = Btf::parse(data).unwrap();
    let total = start.elapsed();
    println!(
        "vmlinux BTF: {} bytes, {} types; read {read:?}, read+parse {total:?}",
        btf.bytes().len(),
        btf.type_count()
    );
    assert!(btf.type_count() > 10_000);
    let task = btf
        .find_by_name(Kind::Struct, "task_struct")
        .expect("struct task_struct");
    assert_eq!(btf.name(task).unwrap(), "task_struct");
    assert!(btf.raw_type(task).unwrap().size_or_type > 1000);
    let func = btf
        .find_by_name(Kind::Func, "do_nanosleep")
        .or_else(|| btf.find_by_name(Kind::Func, "vfs_read"))
        .expect("FUNC do_nanosleep or vfs_read");
    assert_eq!(btf.kind(func).unwrap(), Kind::Func);
    let proto = btf.raw_type(func).unwrap().size_or_type;
    assert_eq!(btf.kind(proto).unwrap(), Kind::FuncProto);
    let lookup = std::time::Instant::now();
    assert!(
        btf.find_by_name(Kind::Struct, "no_such_struct_kscope")
            .is_none()
    );
    println!("a failed find_by_name scan took {:?}", lookup.elapsed());
    for id in 1..=btf.type_count() {
        btf.name(id).unwrap();
    }
}
