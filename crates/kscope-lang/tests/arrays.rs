//! Arrays in the checker: multi-dimensional arrays from C struct members, `bool` arrays,
//! casts to arrays (with and without a length, from integers and string literals) and
//! the types of their elements, named as upstream names them (each `[N]` wraps the type
//! before it: C's `int y[2][3]` is `int32[3][2]`).

mod common;

use kscope_lang::SourceFile;
use kscope_lang::sema::{Checked, NoKernelTypes, Options, Type};

fn compile(src: &str) -> Checked {
    let file = SourceFile::new("t.bt", src);
    kscope_lang::compile(&file, &Options::default(), &NoKernelTypes)
        .unwrap_or_else(|e| panic!("{src}\n{e}"))
}

/// The type of every variable of the first probe, by name.
fn var(src: &str, name: &str) -> String {
    let c = compile(src);
    c.probes[0]
        .variables
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {src}"))
        .to_string()
}

fn first_error(src: &str) -> String {
    let file = SourceFile::new("t.bt", src);
    match kscope_lang::compile(&file, &Options::default(), &common::kernel_types()) {
        Ok(_) => panic!("accepted: {src}"),
        Err(e) => e.diagnostics[0].message.clone(),
    }
}

/// Upstream's type_resolver tests of unsized casts, and the sized ones of its
/// type_checker (`intarray_cast_types`, `bool_array_cast_types`).
#[test]
fn casts_to_arrays_take_their_type_as_upstream() {
    let cases = [
        ("begin { $a = (int8[])1; }", "int8[1]"),
        ("begin { $a = (int8[])12345; }", "int8[2]"),
        ("begin { $a = (int8[])nsecs; }", "int8[8]"),
        ("begin { $a = (int8[])\"hello\"; }", "int8[6]"),
        ("begin { $a = (uint8[])\"\"; }", "uint8[1]"),
        ("begin { $a = (int8[8])1; }", "int8[8]"),
        ("begin { $a = (int8[3])12345; }", "int8[3]"),
        ("begin { $a = (int8[2])(int16)1; }", "int8[2]"),
        ("begin { $a = (int16[4])1; }", "int16[4]"),
        ("begin { $a = (int64[1])1; }", "int64[1]"),
        ("begin { $a = (int8[6])\"hello\"; }", "int8[6]"),
        ("begin { $a = (int16[3])\"hello\"; }", "int16[3]"),
        ("begin { $a = (bool[8])1; }", "bool[8]"),
        ("begin { $a = (bool[2])(uint16)1; }", "bool[2]"),
        ("begin { $a = (bool[1])true; }", "bool[1]"),
        // Several lengths: two `int8[4]`s, and a length found for the outermost.
        ("begin { $a = (int8[4][2])nsecs; }", "int8[4][2]"),
        ("begin { $a = (int16[2][])nsecs; }", "int16[2][2]"),
        ("begin { $a = (bool[2][2])(uint32)1; }", "bool[2][2]"),
    ];
    for (src, want) in cases {
        assert_eq!(var(src, "a"), want, "{src}");
    }
    let c = compile("begin { @a = (int8[])\"hello\"; @b = (bool[2])(uint16)1; }");
    assert_eq!(c.maps["a"].value.to_string(), "int8[6]");
    assert_eq!(
        c.maps["b"].value,
        Type::Array(Box::new(Type::Bool), 2),
        "a bool array"
    );
}

#[test]
fn multi_dimensional_members_index_one_dimension_at_a_time() {
    let defs = "struct B { int y[2][3]; bool f[4]; unsigned char c[2][2][2]; int *p[2]; }";
    let src = format!(
        "{defs} begin {{ $s = (struct B *)0; $b = $s->y; $r = $b[1]; $e = $b[1][2]; \
         $m = $s->y[0]; $f = $s->f; $g = $f[3]; $c = $s->c; $c1 = $c[1][0]; \
         $p = $s->p; $q = $p[1]; $t = (1, $b); @v[$b] = $b; @w = $s->c[1]; }}"
    );
    let c = compile(&src);
    let vars = &c.probes[0].variables;
    let show = |n: &str| vars[n.trim_start_matches('$')].to_string();
    assert_eq!(show("$b"), "int32[3][2]");
    assert_eq!(show("$r"), "int32[3]");
    assert_eq!(show("$e"), "int32");
    assert_eq!(show("$m"), "int32[3]");
    assert_eq!(show("$f"), "bool[4]");
    assert_eq!(show("$g"), "bool");
    assert_eq!(show("$c"), "uint8[2][2][2]");
    assert_eq!(show("$c1"), "uint8[2]");
    assert_eq!(show("$p"), "int32 *[2]");
    assert_eq!(show("$q"), "int32 *");
    assert_eq!(show("$t"), "(int8,int32[3][2])");
    assert_eq!(c.maps["v"].keys[0].to_string(), "int32[3][2]");
    assert_eq!(c.maps["v"].value.to_string(), "int32[3][2]");
    assert_eq!(c.maps["w"].value.to_string(), "uint8[2][2]");
    // `let` and `sizeof` name the same types the same way.
    let src = format!(
        "{defs} begin {{ let $l: int32[3][2] = ((struct B *)0)->y; $n = sizeof(int32[3][2]); }}"
    );
    assert_eq!(var(&src, "l"), "int32[3][2]");
    // A whole struct keeps its array members (stored as their bytes).
    let c = compile(&format!("{defs} begin {{ @s = *((struct B *)0); }}"));
    assert_eq!(
        c.maps["s"].value.to_string(),
        "record { .y = int32[3][2], .f = bool[4], .c = uint8[2][2][2], .p = int32 *[2] }"
    );
}

#[test]
fn typeinfo_names_multi_dimensional_arrays_as_upstream() {
    let src = "config = { unstable_typeinfo = enable } struct B { int y[2][3]; } \
               begin { $b = ((struct B *)0)->y; \
               $t = (typeinfo($b).full_type, typeinfo($b).base_type, typeinfo(int8[4][2]).full_type, \
               typeinfo($b) == typeinfo(int32[3][2])); }";
    let c = compile(src);
    let tree = kscope_lang::printer::to_source(&c.program);
    assert!(
        tree.contains("$t = (\"int32[3][2]\", \"array\", \"int8[4][2]\", true);"),
        "{tree}"
    );
}

/// Upstream's rejected casts (type_checker `intarray_cast_types`,
/// `bool_array_cast_types`), constant indexes past either dimension, and `[]` where no
/// value gives the length.
#[test]
fn array_rejections() {
    let cases = [
        (
            "begin { @a = (int32[])(int16)1; }",
            "cannot cast `int16` to `int32[]`: its 2 bytes are not a whole number of `int32` \
             elements of 4 bytes",
        ),
        (
            "begin { @a = (int8[2])\"hello\"; }",
            "cannot cast `string` to `int8[2]`: the string has 6 bytes with its NUL, `int8[2]` 2",
        ),
        (
            "struct Foo { int x; } begin { @a = (struct Foo [2])1; }",
            "cannot cast `int8` to `struct Foo[2]`: only arrays of integers or bools are cast to",
        ),
        (
            "begin { @a = (bool[64])1; }",
            "cannot cast `int8` to `bool[64]`: `bool[64]` has 64 bytes, more than an integer's 8",
        ),
        (
            "begin { @a = (int8[1])12345; }",
            "cannot cast `int16` to `int8[1]`: the value has 2 bytes, `int8[1]` only 1",
        ),
        (
            "begin { @a = (int8[4])nsecs; }",
            "cannot cast `uint64` to `int8[4]`: the value has 8 bytes, `int8[4]` only 4",
        ),
        (
            "begin { @a = (int8 *[2])1; }",
            "cannot cast `int8` to `int8 *[2]`: only arrays of integers or bools are cast to",
        ),
        (
            "begin { @a = (int8[])comm; }",
            "cannot cast `string` to `int8[]`: a string's size is known for a string literal only",
        ),
        (
            "begin { @a = (int8[][2])1; }",
            "only the last array length may be left out",
        ),
        (
            "begin { let $a: int8[]; }",
            "`int8[]` needs the array's length here",
        ),
        (
            "begin { $a = sizeof(int8[]); }",
            "the size of `int8[]` needs the array's length",
        ),
        (
            "struct B { int y[2][3]; } begin { $b = ((struct B *)0)->y; $x = $b[1][3]; }",
            "index 3 is out of bounds for `int32[3]`, which has 3 elements",
        ),
        (
            "struct B { int y[2][3]; } begin { $x = ((struct B *)0)->y[2][0]; }",
            "index 2 is out of bounds for `int32[3][2]`, which has 2 elements",
        ),
        (
            "struct B { int y[2][3]; } begin { @b[0] = ((struct B *)0)->y; $x = @b[0][0][3]; }",
            "index 3 is out of bounds for `int32[3]`, which has 3 elements",
        ),
        (
            "begin { $x = ((int8[8])1)[-1]; }",
            "index -1 is out of bounds: an array index is not negative",
        ),
        (
            "begin { $x = ((int8[8])1)[8]; }",
            "index 8 is out of bounds for `int8[8]`, which has 8 elements",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(first_error(src), want, "{src}");
    }
    // A zero-length (flexible) array member is not checked, as upstream.
    compile("struct D { int x; int y[0]; } begin { $y = ((struct D *)0)->y[3]; }");
}
