//! `typedef` at the top of a script: the names stand for their types in C definitions
//! (laid out as gcc lays them out), casts, `sizeof`, `let` and `typeof`.

mod common;

use common::{compile, var};

const DEFS: &str = "typedef unsigned int myu, *myu_p;\n\
    typedef struct { myu a; char n[3]; } rec_t;\n\
    typedef rec_t *rec_p;\n\
    typedef int quad[4];\n\
    typedef enum { RED, BLUE = 4 } color_t;\n\
    typedef struct task_struct task_t;\n\
    struct x { myu a; rec_t r; color_t c; quad q; myu_p p; }\n";

#[test]
fn typedef_names_are_their_types() {
    let src = format!(
        "{DEFS} begin {{ $a = (myu)1; $p = (rec_p)0; $t = (task_t *)0; $q = (quad)\"abcdefghijklmno\"; \
         let $c: color_t = BLUE; $s = sizeof(struct x); $r = sizeof(rec_t); $u = (myu_p)0; }}"
    );
    assert_eq!(var(&src, "a"), "uint32");
    assert_eq!(var(&src, "p"), "struct <anon_1> *");
    assert_eq!(var(&src, "t"), "struct task_struct *");
    assert_eq!(var(&src, "q"), "int32[4]");
    assert_eq!(var(&src, "u"), "uint32 *");
    let c = compile(&src).unwrap();
    let x = c.program.c_types.get("struct x").unwrap();
    // gcc: a at 0, r (8 bytes, align 4) at 4, c at 12, q at 16, p at 32; size 40.
    let offsets: Vec<u64> = x.members.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [0, 4, 12, 16, 32]);
    assert_eq!(x.size, 40);
}

#[test]
fn typedef_errors() {
    for (src, message) in [
        (
            "typedef int a; typedef long a; begin { }",
            "`a` is defined twice, as two different types",
        ),
        (
            "typedef void (*fn)(int); begin { }",
            "function pointer types are not built yet",
        ),
        (
            "typedef int quad[4]; begin { $p = (quad *)0; }",
            "a pointer to the array type `quad` is not built yet",
        ),
        (
            "typedef struct task_struct t; struct s { t x; } begin { }",
            "unknown member type `struct task_struct`",
        ),
    ] {
        match compile(src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => assert_eq!(e, message, "{src}"),
        }
    }
    // The same typedef twice is fine, as in C11.
    assert!(compile("typedef int a; typedef int a; begin { $x = (a)1; }").is_ok());
}
