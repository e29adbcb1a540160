//! Arrays as values, lowered without the kernel: multi-dimensional, `bool` and pointer
//! arrays get their layouts (their bytes in C's order in one zero-padded slot), every
//! form compiles to BPF, arrays that cannot be values say why, and the stored bytes
//! decode as upstream prints them (`[[5,6],[7,8]]`, `[true,false]`).

use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::{SourceFile, compile};
use kscope_runtime::decode::{Stacks, scalar};
use kscope_runtime::lower::{Lowerer, ProbeContext};
use kscope_runtime::plan::{ArrayElem, Dims, Layout, Plan, STR_SIZE, Scalar, ValueLayout};

/// Lowers and compiles every probe of `src`; returns the plan and the lowering errors.
fn lower(src: &str) -> (Plan, Vec<String>) {
    let file = SourceFile::new("-e", src);
    let checked = compile(&file, &Options::default(), &NoKernelTypes).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let mut errors = Vec::new();
    for (i, p) in checked.program.probes.iter().enumerate() {
        let ap = p.attach_points[0].clone();
        let c = ProbeContext::without_kernel(ap);
        match Lowerer::lower(&checked, &mut plan, &c, i, p) {
            Ok(f) => {
                kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3)).expect("compiles");
            }
            Err(es) => errors.extend(es.into_iter().map(|e| e.message)),
        }
    }
    (plan, errors)
}

const DEFS: &str = "struct B { int y[2][2]; short m[2][3]; bool f[3]; unsigned char c[2][2][2]; \
                    int *p[2]; }";

fn int(bytes: u8, signed: bool) -> ArrayElem {
    ArrayElem::Int { bytes, signed }
}

#[test]
fn multi_dimensional_bool_and_pointer_arrays_are_values() {
    // One probe's stack holds a few array values (each takes a string-sized slot).
    let (plan, errors) = lower(&format!(
        "{DEFS} begin {{ $s = (struct B *)0; \
         @y = $s->y; @yk[0] = $s->y; @m = $s->m; @f = $s->f; @c = $s->c; @p = $s->p; }} \
         interval:s:1 {{ $s = (struct B *)0; $b = $s->y; $i = 1; @row = $b[$i]; \
         @k[$s->y, 1] = $b[1][0] + $b[$i][$i] + $s->y[1][1] + @yk[0][1][1]; }} \
         interval:s:2 {{ $s = (struct B *)0; @t = (1, $s->m, $s->f); @e = ($s->y == @y); }} \
         interval:s:3 {{ $s = (struct B *)0; $c = @c; $i = 1; @x = $c[1][$i][0]; \
         @g = $s->f[2]; @q = *$s->p[1]; }} \
         interval:s:4 {{ print(*((struct B *)0)); }} \
         end {{ $s = (struct B *)0; $b = $s->y; print($b); print($b[1]); \
         printf(\"%d\\n\", $s->m[1][2]); }}"
    ));
    assert_eq!(errors, Vec::<String>::new());
    let value = |name: &str| plan.map(name).unwrap().1.value.clone();
    let arr = |elem, dims: &[u64]| {
        ValueLayout::Plain(Scalar::Array {
            elem,
            dims: Dims::new(dims).unwrap(),
        })
    };
    assert_eq!(value("y"), arr(int(4, true), &[2, 2]));
    assert_eq!(value("m"), arr(int(2, true), &[2, 3]));
    assert_eq!(value("f"), arr(ArrayElem::Bool, &[3]));
    assert_eq!(value("c"), arr(int(1, false), &[2, 2, 2]));
    assert_eq!(value("p"), arr(ArrayElem::Ptr, &[2]));
    assert_eq!(value("row"), arr(int(4, true), &[2]));
    assert_eq!(value("g"), ValueLayout::Plain(Scalar::Bool));
    let key = &plan.map("k").unwrap().1.keys;
    assert_eq!(
        key[0],
        Layout::Scalar(Scalar::Array {
            elem: int(4, true),
            dims: Dims::new(&[2, 2]).unwrap()
        })
    );
    // Every array value takes one string-sized slot.
    assert_eq!(
        Scalar::Array {
            elem: ArrayElem::Bool,
            dims: Dims::new(&[3]).unwrap()
        }
        .size(),
        STR_SIZE
    );
}

#[test]
fn casts_to_arrays_lower() {
    let (plan, errors) = lower(
        "begin { @a = (int8[])12345; @b = (bool[2])(uint16)1; @s = (int8[])\"hello\"; \
         @m = (int8[4][2])nsecs; @w = (int16[3])\"hello\"; @n = (int8[3])12345; \
         printf(\"%x %d\\n\", ((int8[])12345)[0], ((int8[4][2])nsecs)[1][3]); \
         @k[(int8[2][2])(uint32)7] = 1; print((int8[])\"hi\"); exit(); }",
    );
    assert_eq!(errors, Vec::<String>::new());
    let value = |name: &str| plan.map(name).unwrap().1.value.clone();
    assert_eq!(
        value("a"),
        ValueLayout::Plain(Scalar::int_array(1, true, 2))
    );
    assert_eq!(
        value("s"),
        ValueLayout::Plain(Scalar::int_array(1, true, 6))
    );
    assert_eq!(
        value("b"),
        ValueLayout::Plain(Scalar::Array {
            elem: ArrayElem::Bool,
            dims: Dims::one(2)
        })
    );
    // `int8[4][2]`: two `int8[4]`s.
    assert_eq!(
        value("m"),
        ValueLayout::Plain(Scalar::Array {
            elem: int(1, true),
            dims: Dims::new(&[2, 4]).unwrap()
        })
    );
}

#[test]
fn arrays_that_cannot_be_values_say_why() {
    let defs =
        "struct W { int a; int b; } struct C { struct W w[2]; char names[2][8]; int big[20]; }";
    let (_, errors) = lower(&format!(
        "{defs} begin {{ $c = (struct C *)0; $w = $c->w; print($c->names); $n = $c->big; \
         printf(\"%d %s\\n\", $c->w[1].b, $c->names[1]); exit(); }}"
    ));
    assert_eq!(
        errors,
        [
            "a variable of type struct W[2] is not built yet in `kscope run`: an array value \
             holds integers, bools or pointers, not `struct W`; index it (`x[0].member`) and \
             keep what you need",
            "printing a `string[2]` is not built yet in `kscope run`: an array value holds \
             integers, bools or pointers, not `string`; index it (`x[0]`) and keep what you \
             need",
            "a variable of type int32[20] is not built yet in `kscope run`: an array value \
             holds at most 64 bytes, and `int32[20]` has more; index it (`x[0]`) and keep \
             the elements you need",
        ]
    );
    let file = SourceFile::new("-e", format!("{defs} begin {{ @w = ((struct C *)0)->w; }}"));
    let checked = compile(&file, &Options::default(), &NoKernelTypes).unwrap();
    let err = Plan::new(&checked).unwrap_err();
    assert!(
        err.what.contains(
            "map values of type struct W[2] are not built yet: an array value holds \
             integers, bools or pointers, not `struct W`"
        ),
        "{err:?}"
    );
}

#[test]
fn arrays_decode_as_upstream_prints_them() {
    let text = |bytes: &[u8], elem, dims: &[u64]| {
        let mut b = bytes.to_vec();
        b.resize(STR_SIZE as usize, 0);
        let sc = Scalar::Array {
            elem,
            dims: Dims::new(dims).unwrap(),
        };
        let p = scalar(&b, sc, &Stacks::new(None));
        (
            kscope_lang::output::text::primitive(&p),
            kscope_lang::output::json::primitive(&p),
        )
    };
    let i32s: Vec<u8> = [5i32, 6, 7, 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        text(&i32s, int(4, true), &[2, 2]),
        ("[[5,6],[7,8]]".into(), "[[5,6],[7,8]]".into())
    );
    let i16s: Vec<u8> = [1i16, -2, 3, -4, 5, -6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(text(&i16s, int(2, true), &[2, 3]).0, "[[1,-2,3],[-4,5,-6]]");
    assert_eq!(
        text(&[1, 2, 3, 4, 5, 6, 7, 8], int(1, false), &[2, 2, 2]).0,
        "[[[1,2],[3,4]],[[5,6],[7,8]]]"
    );
    assert_eq!(
        text(&[1, 0, 1], ArrayElem::Bool, &[3]),
        ("[true,false,true]".into(), "[true,false,true]".into())
    );
    let ptrs: Vec<u8> = [0x1000u64, 0xdead_beef]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        text(&ptrs, ArrayElem::Ptr, &[2]),
        ("[0x1000,0xdeadbeef]".into(), "[4096,3735928559]".into())
    );
    assert_eq!(text(&[], int(4, true), &[0]).0, "[]");
}

/// `struct grid { int cells[2][3]; _Bool on[2]; short rows[2][2][2]; }` in BTF, its
/// arrays nested as BTF nests a multi-dimensional array (pahole flattens them, so this
/// machine's vmlinux has none to test on).
fn grid_btf() -> kscope_btf::Btf {
    use kscope_btf::Kind;
    let mut types: Vec<u32> = Vec::new();
    let mut strs = vec![0u8];
    let name = |s: &str, strs: &mut Vec<u8>| {
        if s.is_empty() {
            return 0;
        }
        let off = strs.len() as u32;
        strs.extend_from_slice(s.as_bytes());
        strs.push(0);
        off
    };
    let mut ty = |n: u32, kind: Kind, vlen: u32, st: u32, rest: &[u32]| {
        types.extend([n, ((kind as u32) << 24) | vlen, st]);
        types.extend_from_slice(rest);
    };
    let int = name("int", &mut strs);
    let bool_ = name("_Bool", &mut strs);
    let short = name("short", &mut strs);
    let grid = name("grid", &mut strs);
    let m: Vec<u32> = ["cells", "on", "rows"]
        .iter()
        .map(|n| name(n, &mut strs))
        .collect();
    ty(int, Kind::Int, 0, 4, &[(1 << 24) | 32]); // 1
    ty(bool_, Kind::Int, 0, 1, &[(4 << 24) | 8]); // 2
    ty(short, Kind::Int, 0, 2, &[(1 << 24) | 16]); // 3
    ty(0, Kind::Array, 0, 0, &[1, 1, 3]); // 4: int[3]
    ty(0, Kind::Array, 0, 0, &[4, 1, 2]); // 5: int[2][3]
    ty(0, Kind::Array, 0, 0, &[2, 1, 2]); // 6: _Bool[2]
    ty(0, Kind::Array, 0, 0, &[3, 1, 2]); // 7: short[2]
    ty(0, Kind::Array, 0, 0, &[7, 1, 2]); // 8: short[2][2]
    ty(0, Kind::Array, 0, 0, &[8, 1, 2]); // 9: short[2][2][2]
    #[rustfmt::skip]
    ty(grid, Kind::Struct, 3, 42, &[
        m[0], 5, 0,
        m[1], 6, 24 * 8,
        m[2], 9, 26 * 8,
    ]); // 10
    let types: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut out = kscope_btf::BTF_MAGIC.to_le_bytes().to_vec();
    out.extend([1, 0]);
    for w in [
        24,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        out.extend(w.to_le_bytes());
    }
    out.extend(types);
    out.extend(strs);
    kscope_btf::Btf::parse(out).expect("a valid blob")
}

/// The disassembly of `BEGIN { body }` lowered against [`grid_btf`].
fn lower_grid(body: &str) -> String {
    use std::sync::Arc;
    let types = Arc::new(kscope_lang::btf_types::BtfTypes::new(
        grid_btf(),
        Box::new(NoKernelTypes),
    ));
    let file = SourceFile::new("-e", format!("BEGIN {{ {body} }}"));
    let checked = compile(&file, &Options::default(), types.as_ref()).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let probe = &checked.program.probes[0];
    let ap = probe.attach_points[0].clone();
    let mut ctx = ProbeContext::without_kernel(ap);
    ctx.btf = Some(types.clone());
    let f = Lowerer::lower(&checked, &mut plan, &ctx, 0, probe).expect("lowers");
    kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3))
        .expect("compiles")
        .disassemble()
}

/// The positive constants added to registers (the member offsets and strides of an
/// address, in order) and the sizes `bpf_probe_read_kernel` is given.
fn offsets_and_reads(dis: &str) -> (Vec<i64>, Vec<i64>) {
    let lines: Vec<&str> = dis.lines().collect();
    let offsets = lines
        .iter()
        .filter_map(|l| l.split_once(" += ").map(|(_, n)| n.trim()))
        .filter_map(|n| n.parse::<i64>().ok())
        .filter(|&n| n > 0)
        .collect();
    let mut reads = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("call bpf_probe_read_kernel") {
            let size = lines[..i]
                .iter()
                .rev()
                .find_map(|l| l.split_once(") r2 = ").map(|(_, n)| n.trim()))
                .and_then(|n| n.parse::<i64>().ok());
            reads.extend(size);
        }
    }
    (offsets, reads)
}

#[test]
fn nested_btf_arrays_are_indexed_by_their_strides_and_read_whole() {
    let at = |body: &str| offsets_and_reads(&lower_grid(body));
    // cells[1][2]: one row of 12 bytes, then two ints.
    assert_eq!(
        at("@e = ((struct grid *)0)->cells[1][2];"),
        (vec![12, 8], vec![4])
    );
    // rows[1][0][1]: `rows` at 26, then 8 + 0 + 2.
    assert_eq!(
        at("@e = ((struct grid *)0)->rows[1][0][1];"),
        (vec![26, 8, 2], vec![2])
    );
    // A whole array (or an element that is one) is read as its bytes.
    assert_eq!(at("@c = ((struct grid *)0)->cells;"), (vec![], vec![24]));
    assert_eq!(
        at("@r = ((struct grid *)0)->rows[1];"),
        (vec![26, 8], vec![8])
    );
    lower_grid(
        "@g = *((struct grid *)0); @on = ((struct grid *)0)->on; $i = 1; \
         @x = ((struct grid *)0)->cells[$i][$i];",
    );
}
