//! `memcmp()`, `str_concat()`, `pton()`, `strcap()` and integer-array casts: the types
//! the checker gives, the values known when compiling, and the exact diagnostics (message,
//! span and help) of the rejected forms.

mod common;

use kscope_lang::SourceFile;
use kscope_lang::sema::{NoKernelTypes, Options, TypeProvider, pton_bytes};

fn compile(src: &str, types: &dyn TypeProvider) -> Result<kscope_lang::sema::Checked, String> {
    let file = SourceFile::new("t.bt", src);
    kscope_lang::compile(&file, &Options::default(), types).map_err(|e| e.rendered)
}

/// The type of `$v` in a script that compiles.
fn var(src: &str, types: &dyn TypeProvider) -> String {
    let c = compile(src, types).unwrap_or_else(|e| panic!("{src}\n{e}"));
    c.probes[0].variables["v"].to_string()
}

/// The rendered diagnostics of a script that must not compile.
fn error(src: &str) -> String {
    match compile(src, &common::kernel_types()) {
        Ok(_) => panic!("compiled: {src}"),
        Err(e) => e,
    }
}

#[test]
fn result_types_follow_upstream() {
    let k = common::kernel_types();
    let cases = [
        ("begin { $v = memcmp(\"abc\", \"abd\", 3); }", "int32"),
        ("begin { $v = str_concat(\"a\", comm); }", "string"),
        ("begin { $v = pton(\"127.0.0.1\"); }", "uint8[4]"),
        ("begin { $v = pton(\"::1\"); }", "uint8[16]"),
        ("begin { $v = pton(\"::ffff:10.1.2.3\"); }", "uint8[16]"),
        ("begin { $v = strcap(\"abc\"); }", "int64"),
        ("begin { $v = (uint32)pton(\"127.0.0.1\"); }", "uint32"),
        ("begin { $v = (int32)pton(\"127.0.0.1\"); }", "int32"),
        (
            "begin { $v = pton(\"1.2.3.4\") == pton(\"1.2.3.4\"); }",
            "bool",
        ),
        (
            "tracepoint:syscalls:sys_enter_openat { $v = str_concat(args.filename, \"x\"); }",
            "string",
        ),
        (
            "tracepoint:syscalls:sys_enter_openat { $v = strcap(args.filename); }",
            "int64",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(var(src, &k), want, "{src}");
    }
}

#[test]
fn pton_bytes_are_in_network_order() {
    assert_eq!(pton_bytes("127.0.0.1"), Some(vec![127, 0, 0, 1]));
    assert_eq!(pton_bytes("1.2.3.4"), Some(vec![1, 2, 3, 4]));
    let mut v6 = vec![0u8; 16];
    v6[15] = 1;
    assert_eq!(pton_bytes("::1"), Some(v6));
    assert_eq!(
        pton_bytes("::ffff:1.2.3.4"),
        Some(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4])
    );
    for bad in ["1.2.3", "1.2.3.256", "", "zz", "1::2::3", "1.2.3.4.5"] {
        assert_eq!(pton_bytes(bad), None, "{bad}");
    }
}

#[test]
fn compile_time_values() {
    // strcap of a string is kscope's string size; of an `int8[N]` array, N; memcmp's
    // count may be any constant (sizeof, an expression of literals).
    for src in [
        "begin { static_assert(strcap(\"abc\") == 64, \"string\"); }",
        "begin { static_assert(strcap(comm) == 64, \"comm\"); }",
        "kprobe:f { static_assert(strcap(curtask->comm) == 16, \"int8[16]\"); }",
        "begin { $x = memcmp(pton(\"1.2.3.4\"), pton(\"1.2.3.5\"), sizeof(uint32)); }",
        "begin { $x = memcmp(\"ab\", \"ab\", 1 + 1); }",
        "begin { $x = memcmp(\"ab\", \"ab\", 0); }",
        "begin { $x = memcmp(1, 2, 8); }",
        "begin { $x = memcmp((uint16)1, (uint16)2, 2); }",
    ] {
        if let Err(e) = compile(src, &common::kernel_types()) {
            panic!("{src}\n{e}");
        }
    }
    let e = error("begin { static_assert(strcap(\"abc\") == 4, \"cap\"); }");
    assert!(
        e.starts_with("error: static assertion failed: cap\n"),
        "{e}"
    );
}

#[test]
fn memcmp_count_must_be_a_constant_within_the_operands() {
    assert_eq!(
        error("begin { $n = 3; print(memcmp(\"a\", \"b\", $n)); }"),
        "error: `memcmp()` needs a count known when compiling
 --> t.bt:1:40
  |
1 | begin { $n = 3; print(memcmp(\"a\", \"b\", $n)); }
  |                                        ^^ known only when the probe runs
  = help: write the number of bytes as an integer literal, such as `4`
"
    );
    assert_eq!(
        error("begin { print(memcmp(pton(\"1.2.3.4\"), \"abcdef\", 5)); }"),
        "error: `memcmp()` cannot compare 5 bytes of `uint8[4]`: it has 4
 --> t.bt:1:49
  |
1 | begin { print(memcmp(pton(\"1.2.3.4\"), \"abcdef\", 5)); }
  |                                                 ^ expected at most 4
note: the smaller operand
 --> t.bt:1:22
  |
1 | begin { print(memcmp(pton(\"1.2.3.4\"), \"abcdef\", 5)); }
  |                      --------------- 4 bytes
"
    );
    assert_eq!(
        error("begin { print(memcmp(\"a\", (uint8)1, 2)); }"),
        "error: `memcmp()` cannot compare 2 bytes of `uint8`: it has 1
 --> t.bt:1:37
  |
1 | begin { print(memcmp(\"a\", (uint8)1, 2)); }
  |                                     ^ expected at most 1
note: the smaller operand
 --> t.bt:1:27
  |
1 | begin { print(memcmp(\"a\", (uint8)1, 2)); }
  |                           -------- 1 byte
"
    );
    assert_eq!(
        error("begin { print(memcmp(\"a\", \"b\", -1)); }"),
        "error: the count of `memcmp()` cannot be negative, found -1
 --> t.bt:1:32
  |
1 | begin { print(memcmp(\"a\", \"b\", -1)); }
  |                                ^^ a negative count
  = help: give the number of bytes to compare, from 0 up
"
    );
    assert_eq!(
        error("begin { print(memcmp((1, 2), \"a\", 1)); }"),
        "error: `memcmp()` compares strings, integer arrays, integers or pointers, found `(int8,int8)`
 --> t.bt:1:22
  |
1 | begin { print(memcmp((1, 2), \"a\", 1)); }
  |                      ^^^^^^ this has type `(int8,int8)`
  = help: compare a member or an element instead
"
    );
    let e = error("begin { print(memcmp(\"a\", \"b\")); }");
    assert!(
        e.starts_with("error: `memcmp()` takes 3 arguments, 2 given\n"),
        "{e}"
    );
}

#[test]
fn pton_needs_a_literal_address() {
    assert_eq!(
        error("begin { print(pton(\"1.2.3\")); }"),
        "error: `pton()`: \"1.2.3\" is not an IPv4 address
 --> t.bt:1:20
  |
1 | begin { print(pton(\"1.2.3\")); }
  |                    ^^^^^^^ not a valid address
  = help: write a dotted IPv4 address such as \"127.0.0.1\" or an IPv6 address such as \"::1\"
"
    );
    let e = error("begin { print(pton(\"fe80::1::2\")); }");
    assert!(
        e.starts_with("error: `pton()`: \"fe80::1::2\" is not an IPv6 address\n"),
        "{e}"
    );
    let e = error("begin { print(pton(\"localhost\")); }");
    assert!(
        e.starts_with("error: `pton()`: \"localhost\" is not an IPv4 or IPv6 address\n"),
        "{e}"
    );
    assert_eq!(
        error("begin { $s = \"1.2.3.4\"; print(pton($s)); }"),
        "error: `pton()` needs the address as a string literal
 --> t.bt:1:36
  |
1 | begin { $s = \"1.2.3.4\"; print(pton($s)); }
  |                                    ^^ not a string literal
  = help: `pton()` converts when compiling: write `pton(\"127.0.0.1\")`
"
    );
}

#[test]
fn an_integer_array_casts_only_to_an_integer_of_its_size() {
    assert_eq!(
        error("begin { print((uint64)pton(\"1.2.3.4\")); }"),
        "error: cannot cast `uint8[4]` to `uint64`: the array has 4 bytes, `uint64` 8
 --> t.bt:1:23
  |
1 | begin { print((uint64)pton(\"1.2.3.4\")); }
  |                       ^^^^^^^^^^^^^^^ 4 bytes
  = help: an integer array casts only to an integer of its own size
"
    );
    let e = error("begin { print(pton(\"1.2.3.4\") == pton(\"::1\")); }");
    assert!(
        e.starts_with("error: cannot apply `==` to `uint8[4]` and `uint8[16]`\n"),
        "{e}"
    );
}

#[test]
fn str_concat_and_strcap_need_string_like_values() {
    assert_eq!(
        error("begin { print(str_concat(1, \"a\")); }"),
        "error: `str_concat()` needs a string, found `int8`
 --> t.bt:1:26
  |
1 | begin { print(str_concat(1, \"a\")); }
  |                          ^ this has type `int8`
  = help: give a string, or read one with `str(ptr)`
"
    );
    assert_eq!(
        error("begin { print(strcap(pton(\"::1\") == pton(\"::1\"))); }"),
        "error: `strcap()`: string-like values are strings, arrays or pointers, found `bool`
 --> t.bt:1:22
  |
1 | begin { print(strcap(pton(\"::1\") == pton(\"::1\"))); }
  |                      ^^^^^^^^^^^^^^^^^^^^^^^^^^ this has type `bool`
  = help: give a string, an `int8[N]` array or an `int8 *` pointer
"
    );
    let e = error("begin { print(strcap((int32 *)0)); }");
    assert!(
        e.starts_with(
            "error: `strcap()`: string-like pointers must point to char-like (8-bit) values, \
             found `int32 *`\n"
        ),
        "{e}"
    );
    // Not in the list of functions kscope lacks any more.
    for f in ["memcmp", "str_concat", "pton", "strcap"] {
        assert!(!kscope_lang::sema::NOT_YET.contains(&f), "{f}");
        assert!(kscope_lang::sema::FUNCTIONS.contains(&f), "{f}");
    }
    // Without kernel types a kernel value is accepted (it is typed when running).
    let src =
        "tracepoint:sock:inet_sock_set_state { print(memcmp(args.daddr_v6, pton(\"::1\"), 16)); }";
    if let Err(e) = compile(src, &NoKernelTypes) {
        panic!("{e}");
    }
}
