//! Records (`(a=1, b="x")`): parsing, types (the first field order a slot receives is
//! kept), field access and the errors.

mod common;

use common::{compile, var};

use kscope_lang::ast::ExprKind;
use kscope_lang::parser::parse_expr;
use kscope_lang::printer::src_expr;
use kscope_lang::sema::{Type, merge};

fn first_error(src: &str) -> String {
    match compile(src) {
        Ok(_) => panic!("accepted: {src}"),
        Err(e) => e,
    }
}

#[test]
fn parentheses_with_name_equals_are_records() {
    let e = parse_expr("(a=1, b=\"x\")").unwrap();
    let ExprKind::Record(fields) = &e.kind else {
        panic!("not a record: {e:?}");
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(src_expr(&e), "(a=1, b=\"x\")");
    // One field is a record too; `==` stays a comparison.
    assert!(matches!(
        parse_expr("(a=1)").unwrap().kind,
        ExprKind::Record(_)
    ));
    assert!(matches!(
        parse_expr("(a == 1)").unwrap().kind,
        ExprKind::Binary { .. }
    ));
    // Nested records and tuples, field access on the result.
    let e = parse_expr("(a=(1, (x=2)), b=((y=3)))").unwrap();
    assert_eq!(src_expr(&e), "(a=(1, (x=2)), b=(y=3))");
    assert_eq!(src_expr(&parse_expr("$r.a.1.x").unwrap()), "$r.a.1.x");
}

#[test]
fn record_types_keep_the_first_field_order() {
    assert_eq!(
        var("begin { $r = (a=1, b=\"x\"); }", "r"),
        "record { .a = int8, .b = string }"
    );
    assert_eq!(
        var(
            "begin { $r = (a=1, b=\"x\"); $r = (b=\"y\", a=(int64)2); }",
            "r"
        ),
        "record { .a = int64, .b = string }"
    );
    assert_eq!(
        var(
            "begin { $r = (3, (a=(x=1, y=true), b=1)); $r = (4, (b=2, a=(y=false, x=2))); }",
            "r"
        ),
        "(int8,record { .a = record { .x = int8, .y = bool }, .b = int8 })"
    );
    assert_eq!(
        var("begin { $r = (a=1, b=\"x\"); $v = $r.b; }", "v"),
        "string"
    );
    assert_eq!(
        var("begin { $r = (a=(1, (x=2)),); $v = $r.a.1.x; }", "v"),
        "int8"
    );
    let c = compile("begin { @m[(a=1, b=\"x\")] = (v=1); @m[(b=\"y\", a=2)] = (v=2); }").unwrap();
    assert_eq!(
        c.maps["m"].keys[0].to_string(),
        "record { .a = int64, .b = string }"
    );
    assert_eq!(c.maps["m"].value.to_string(), "record { .v = int8 }");
    // `==` takes records with the same names in any order.
    assert_eq!(
        var(
            "begin { $e = (a=1, b=\"x\") == (b=\"x\", a=(uint64)1); }",
            "e"
        ),
        "bool"
    );
}

#[test]
fn merging_goes_by_field_name() {
    let r = |fs: &[(&str, Type)]| {
        Type::Record(fs.iter().map(|(n, t)| (n.to_string(), t.clone())).collect())
    };
    let ab = r(&[("a", Type::int(8, true)), ("b", Type::Str)]);
    let ba = r(&[("b", Type::Str), ("a", Type::INT64)]);
    assert_eq!(
        merge(&ab, &ba),
        Some(r(&[("a", Type::INT64), ("b", Type::Str)]))
    );
    let ac = r(&[("a", Type::INT64), ("c", Type::Str)]);
    assert_eq!(merge(&ab, &ac), None);
    assert_eq!(merge(&ab, &Type::Tuple(vec![Type::INT64, Type::Str])), None);
}

#[test]
fn record_errors() {
    let cases = [
        (
            "begin { $r = (a=1, a=2); }",
            "the record has two fields named `a`",
        ),
        (
            "begin { $r = (a=1, b=2); print($r.c); }",
            "the record has no field `c`",
        ),
        (
            "begin { $r = (a=1); $r = (b=1); }",
            "type mismatch for `$r`: it holds `record { .a = int8 }`, not `record { .b = int8 }`",
        ),
        (
            "begin { @m = (a=1); @m = (a=1, b=2); }",
            "type mismatch for `@m`: it holds `record { .a = int8 }`, not `record { .a = int8, .b = int8 }`",
        ),
        (
            "begin { @m[(a=1)] = 1; @m[(b=1)] = 2; }",
            "map key type mismatch for `@m`: `record { .b = int64 }` instead of `record { .a = int64 }`",
        ),
        (
            "begin { $e = (a=1) == (b=1); }",
            "cannot apply `==` to `record { .a = int8 }` and `record { .b = int8 }`",
        ),
        (
            "begin { $e = (a=1) == (1,); }",
            "cannot apply `==` to `record { .a = int8 }` and `(int8)`",
        ),
        (
            "begin { $r = (a=1); $x = (uint64)$r; }",
            "cannot cast `record { .a = int8 }` to `uint64`",
        ),
        (
            "begin { $r = (a=1, 2); }",
            "expected a field name in the record",
        ),
        (
            "begin { $r = (a=1); print($r->a); }",
            "`->` needs a pointer, but `$r` is a record",
        ),
        (
            "begin { $r = (a=count()); }",
            "`count()` can only be assigned to a map",
        ),
    ];
    let mut wrong = Vec::new();
    for (src, want) in cases {
        let got = first_error(src);
        if got != want {
            wrong.push(format!("{src}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `config()` (and `config`, `__builtin_config`) is a record of kscope's settings; a
/// field of it is that field's value (folded by the parser, so nothing large is built).
#[test]
fn config_is_a_record_of_the_settings_in_effect() {
    let src = "config = { stack_mode = perf; BPFTRACE_MISSING_PROBES = warn; max_strlen = 9 } \
               begin { $a = config().max_strlen; $b = config.stack_mode; \
               $c = __builtin_config.missing_probes; $d = config().cpp_demangle; $r = config(); }";
    assert_eq!(var(src, "a"), "int8");
    assert_eq!(var(src, "b"), "string");
    assert_eq!(var(src, "d"), "bool");
    assert!(var(src, "r").starts_with("record"), "{}", var(src, "r"));
    let program = kscope_lang::parser::parse(src).unwrap();
    let values: Vec<String> = program.probes[0]
        .body
        .stmts
        .iter()
        .take(4)
        .map(|s| match &s.kind {
            kscope_lang::ast::StmtKind::AssignVar { value, .. } => src_expr(value),
            k => panic!("{k:?}"),
        })
        .collect();
    // max_strlen is kscope's fixed 64 whatever the block says (strings live on the BPF
    // stack); the settings kscope honours carry the block's values.
    assert_eq!(values, ["64", "\"perf\"", "\"warn\"", "true"]);
    assert_eq!(
        first_error("begin { $x = config().max_strlenn; }"),
        "the record has no field `max_strlenn`"
    );
}
