//! `kscope run` with arrays as values against the real kernel: upstream's
//! tests/runtime/array cases on its testprogs/array_access.c (here tests/run_arrays.c),
//! with their exact outputs: one- and multi-dimensional arrays read from script-defined
//! structs into variables, map values, map keys, tuples and `print()`, indexed one
//! dimension at a time (`$b[1][0]`, `@b[0][1][0]`); `bool` and pointer arrays; casts to
//! arrays with and without a length (from integers and string literals), and JSON.
//! Multi-dimensional arrays print as bpftrace 0.17 prints them (compared where 0.17 is
//! installed: it needs `->` on pointers and prints a C `_Bool` as 1/0).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require, require_all};
use runkit::{Clean, bools_as_bpftrace017, kscope, lines, text};

fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_arrays.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0"])
    })
}

/// Runs `script` (with `BIN` replaced by the workload's path) on the workload with
/// `extra` options; returns stdout, failing on a non-zero exit or a stderr other than
/// the attach line.
fn run(extra: &[&str], script: &str) -> String {
    let b = workload().display().to_string();
    let script = script.replace("BIN", &b);
    let mut args = vec!["-c", &b];
    args.extend(extra);
    args.extend(["-e", &script]);
    let out = kscope(&args);
    let err = text(&out.stderr);
    assert!(out.status.success(), "kscope run failed: {script}\n{err}");
    // The attach line (on stdout in JSON).
    assert!(
        err.is_empty() || err.starts_with("Attached ") && err.lines().count() == 1,
        "{script}\n{err}"
    );
    text(&out.stdout)
}

/// Asserts that every line of `want` is a line of `out`.
fn has_lines(out: &str, want: &[&str]) {
    let got: Vec<&str> = out.lines().collect();
    for w in want {
        assert!(got.contains(w), "no line {w:?} in:\n{out}");
    }
}

const A: &str = "struct A { int x[4]; uint8_t y[4]; }";
const B: &str = "struct B { int y[2][2]; }";
const E: &str = "struct E { short m[2][3]; bool f[3]; uint8_t c[2][2][2]; }";

#[test]
fn one_dimensional_arrays_as_upstream_tests_them() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let clean = Clean::start();
    // upstream: "array element access - assign to map / with variable index / assign to
    // var", "... via assignment into var / into map / into map and var", "array
    // assignment into map", "array as a map key / part of map multikey / assigned from
    // another map", "array in a tuple", print_non_map_array.
    let out = run(
        &[],
        &format!(
            "{A} uprobe:BIN:test_struct {{ $a = (struct A *) arg0; @x = $a.x[0]; \
             $y = (uint64)0; @v = $a.x[$y]; $x = $a.x[1]; printf(\"Result: %d\\n\", $x); \
             $ax = ((struct A *) arg0).x; printf(\"Var: %d\\n\", $ax[2]); print($ax); }} \
             uprobe:BIN:test_struct {{ @a[0] = ((struct A *) arg0).x; \
             printf(\"Map: %d\\n\", @a[0][0]); $m = @a[0]; printf(\"MapVar: %d\\n\", $m[3]); }} \
             uprobe:BIN:test_struct {{ @w = ((struct A *) arg0).x; \
             @k[((struct A *) arg0).x] = 0; @mk[((struct A *) arg0).x, 42] = 0; @f[@w] = 0; \
             @t = (1, ((struct A *) arg0).x); }}"
        ),
    );
    has_lines(
        &out,
        &[
            "Result: 2",
            "Var: 3",
            "[1,2,3,4]",
            "Map: 1",
            "MapVar: 4",
            "@x: 1",
            "@v: 1",
            "@w: [1,2,3,4]",
            "@a[0]: [1,2,3,4]",
            "@k[[1,2,3,4]]: 0",
            "@mk[[1,2,3,4], 42]: 0",
            "@f[[1,2,3,4]]: 0",
            "@t: (1, [1,2,3,4])",
        ],
    );
    // "array as pointer element access", "array of pointers element access", "array
    // compare eq/ne", "variable array element access", "cast int array to int
    // proberead".
    let out = run(
        &[],
        &format!(
            "{A} struct C {{ int *z[4]; }} struct D {{ int x; int y[0]; }} \
             uprobe:BIN:test_array {{ $a = (int32 *) arg0; @p = $a[0]; @pa[0] = (int32 *) arg0; \
             printf(\"Ptr: %d\\n\", @pa[0][1]); }} \
             uprobe:BIN:test_ptr_array {{ @z = *((struct C*)arg0).z[1]; $z = ((struct C*)arg0).z; \
             @z3 = *$z[3]; }} \
             uprobe:BIN:test_arrays {{ $a = (struct A *) arg0; $b = (struct A *) arg1; \
             if ($a.x == $a.x) {{ printf(\"two int arrays are equal.\\n\"); }} \
             if ($a.x != $b.x) {{ printf(\"two int arrays are not equal.\\n\"); }} \
             printf(\"y: %x\\n\", (int32)((struct A *)arg0).y); }} \
             uprobe:BIN:test_variable_array {{ $d = (struct D *) arg0; @y = $d.y[0]; }}"
        ),
    );
    has_lines(
        &out,
        &[
            "Ptr: 2",
            "two int arrays are equal.",
            "two int arrays are not equal.",
            "y: ddccbbaa",
            "@p: 1",
            "@z: 2",
            "@z3: 4",
            "@y: 1",
        ],
    );
    clean.check();
}

#[test]
fn multi_dimensional_arrays_are_values_as_upstream_tests_them() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let clean = Clean::start();
    // upstream: "multi-dimensional array element access" (direct, via var, via map, via
    // map and var), "... assignment into map", "... as a map key", "... as a map key
    // assigned from another map", print_non_map_multi_dimensional_array.
    let out = run(
        &[],
        &format!(
            "{B} uprobe:BIN:test_struct {{ $x = ((struct B *) arg1).y[1][0]; \
             printf(\"Direct: %d\\n\", $x); $b = ((struct B *) arg1).y; \
             printf(\"Var: %d\\n\", $b[1][0]); print($b); }} \
             uprobe:BIN:test_struct {{ @m[0] = ((struct B *) arg1).y; \
             printf(\"Map: %d\\n\", @m[0][1][0]); $v = @m[0]; printf(\"MapVar: %d\\n\", $v[1][0]); }} \
             uprobe:BIN:test_struct {{ @b = ((struct B *) arg1).y; \
             @x[((struct B *) arg1).y] = 0; @f[@b] = 0; @t = (1, ((struct B *) arg1).y); }} \
             uprobe:BIN:test_struct {{ $b = ((struct B *) arg1).y; $i = 1; $j = 0; \
             @row = $b[$i]; @el = $b[$i][$j]; @oob = $b[$i + 5][$j]; @eq = ($b == $b); \
             print($b[0]); @n = (int64)$b[1]; }}"
        ),
    );
    has_lines(
        &out,
        &[
            "Direct: 7",
            "Var: 7",
            "[[5,6],[7,8]]",
            "Map: 7",
            "MapVar: 7",
            "[5,6]",
            "@b: [[5,6],[7,8]]",
            "@m[0]: [[5,6],[7,8]]",
            "@x[[[5,6],[7,8]]]: 0",
            "@f[[[5,6],[7,8]]]: 0",
            "@t: (1, [[5,6],[7,8]])",
            "@row: [7,8]",
            "@el: 7",
            // A variable index past the end reads a zeroed element.
            "@oob: 0",
            "@eq: true",
            // An array cast to an integer of its size: its bytes in memory order.
            "@n: 34359738375",
        ],
    );
    // Shorts, three dimensions, bools; variable indexes in any dimension; a whole
    // struct keeps its arrays; JSON nests them.
    let script = format!(
        "{E} uprobe:BIN:test_e {{ $e = (struct E *)arg0; @m = $e->m; @f = $e->f; @c = $e->c; \
         $i = 1; $m = $e->m; printf(\"%d %d %d %d\\n\", $m[$i][2], $e->m[$i][0], $m[1][$i], \
         $e->c[1][$i][0]); print($m[$i]); $c = $e->c; print($c[$i][0]); $f = $e->f; \
         printf(\"%d %d\\n\", $f[1], $f[$i + 1]); print(*$e); }}"
    );
    let out = run(&[], &script);
    assert_eq!(
        out,
        "-6 -4 5 7\n[-4,5,-6]\n[5,6]\n0 1\n\
         { .m = [[1,-2,3],[-4,5,-6]], .f = [true,false,true], .c = [[[1,2],[3,4]],[[5,6],[7,8]]] }\n\
         \n\n\
         @c: [[[1,2],[3,4]],[[5,6],[7,8]]]\n\
         @f: [true,false,true]\n\
         @m: [[1,-2,3],[-4,5,-6]]\n"
    );
    let json = run(&["-f", "json"], &script);
    for want in [
        r#"{"type": "value", "data": [-4,5,-6]}"#,
        r#"{"type": "value", "data": {"m": [[1,-2,3],[-4,5,-6]], "f": [true,false,true], "c": [[[1,2],[3,4]],[[5,6],[7,8]]]}}"#,
        r#"{"type": "map", "data": {"@f": [true,false,true]}}"#,
        r#"{"type": "map", "data": {"@c": [[[1,2],[3,4]],[[5,6],[7,8]]]}}"#,
    ] {
        assert!(json.contains(want), "no {want} in:\n{json}");
    }
    clean.check();
}

#[test]
fn casts_to_arrays_print_as_upstream() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    // upstream: "cast literal to int array", "cast to int array with automatic size",
    // "cast int array to int internal", "cast string to int array", and tests/runtime/bool
    // "bool array".
    let out = run(
        &[],
        "begin { printf(\"first byte: %x\\n\", ((int8[8])12345)[0]); \
         printf(\"byte: %x\\n\", ((int8[])12345)[0]); \
         printf(\"ip: %x\\n\", (uint32)pton(\"127.0.0.1\")); print((int8[])\"hello\"); \
         @a = (bool[2])(uint16)1; print((int8[])12345); print((int8[3])12345); \
         print((uint8[])nsecs == (uint8[8])0); print((int16[3])\"hello\"); \
         print((uint8[4][2])0x0807060504030201); print((int16[2][])(int64)-2); \
         print(((int8[4][2])0x0807060504030201)[1][2]); @k[(int8[2])(int16)258] = 1; \
         let $l: int16[2][2] = (int16[2][2])(int64)7; print($l); exit(); }",
    );
    assert_eq!(
        out,
        "first byte: 39\nbyte: 39\nip: 100007f\n[104,101,108,108,111,0]\n[57,48]\n[57,48,0]\n\
         false\n[25960,27756,111]\n[[1,2,3,4],[5,6,7,8]]\n[[-2,-1],[-1,-1]]\n7\n[[7,0],[0,0]]\n\
         \n\n@a: [true,false]\n@k[[2,1]]: 1\n"
    );
}

#[test]
fn out_of_bounds_indexes_and_arrays_that_are_no_values_are_errors() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let err = |script: &str| {
        let out = kscope(&["--dry-run", "-e", script]);
        assert_eq!(out.status.code(), Some(1), "{script}");
        text(&out.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // upstream: "array element access - out of bounds" (its message: "the index 5 is out
    // of bounds for array of size 4"), and the second dimension.
    assert_eq!(
        err(&format!(
            "{A} begin {{ $a = (struct A *) 0; $x = $a.x[5]; }}"
        )),
        "error: index 5 is out of bounds for `int32[4]`, which has 4 elements"
    );
    assert_eq!(
        err(&format!(
            "{B} begin {{ $b = ((struct B *) 0).y; $x = $b[1][2]; }}"
        )),
        "error: index 2 is out of bounds for `int32[2]`, which has 2 elements"
    );
    // Arrays of structs are indexed, not stored (upstream's struct_array_vars.bt).
    assert_eq!(
        err("struct T { int a; } struct C { struct T w[4]; } \
             begin { $w = ((struct C *)0)->w; }"),
        "error: a variable of type struct T[4] is not built yet in `kscope run`: an array \
         value holds integers, bools or pointers, not `struct T`; index it (`x[0].member`) \
         and keep what you need"
    );
}

#[test]
fn multi_dimensional_arrays_print_as_bpftrace_017_prints_them() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    if Command::new("bpftrace").arg("--version").output().is_err() {
        eprintln!("skipped: bpftrace is not installed");
        return;
    }
    let script = "struct B { int y[2][2]; } \
                  struct E { short m[2][3]; _Bool f[3]; unsigned char c[2][2][2]; } \
                  uprobe:BIN:test_struct { @b = ((struct B *) arg1)->y; \
                  $b = ((struct B *) arg1)->y; print($b); @x[@b] = 0; @c[0] = $b; \
                  printf(\"%d %d\\n\", @c[0][1][0], $b[1][1]); @t = (1, $b); } \
                  uprobe:BIN:test_e { @m = ((struct E *) arg0)->m; @f = ((struct E *) arg0)->f; \
                  @k = ((struct E *) arg0)->c; @e = ((struct E *) arg0)->m[1]; }";
    let ours = run(&[], script);
    let b = workload().display().to_string();
    let theirs = runkit::bpftrace(&script.replace("BIN", &b), Some(&b)).expect("bpftrace");
    assert_eq!(
        lines(&bools_as_bpftrace017(&ours)),
        lines(&theirs),
        "kscope:\n{ours}\nbpftrace:\n{theirs}"
    );
    assert!(
        ours.contains("@k: [[[1,2],[3,4]],[[5,6],[7,8]]]\n"),
        "{ours}"
    );
}
