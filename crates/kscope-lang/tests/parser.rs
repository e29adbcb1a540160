//! Parser: precedence, associativity, attach points, statement forms, and the printed tree.

use kscope_lang::ast::{Provider, StmtKind};
use kscope_lang::parser::{parse, parse_expr};
use kscope_lang::printer::src_expr;

fn shape(src: &str) -> String {
    src_expr(&parse_expr(src).unwrap_or_else(|d| panic!("{src}: {d:?}")))
}

#[test]
fn c_precedence_and_associativity() {
    let cases = [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("a || b && c", "(a || (b && c))"),
        ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
        ("a == b < c", "(a == (b < c))"),
        ("a << 1 + 2", "(a << (1 + 2))"),
        ("a & b == c", "(a & (b == c))"),
        ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
        ("a || b ? 1 : 2", "((a || b) ? 1 : 2)"),
        ("-a * b", "((-a) * b)"),
        ("!a && ~b", "((!a) && (~b))"),
        ("*$p + 1", "((*$p) + 1)"),
        ("&$x", "(&$x)"),
        ("- -1", "(-(-1))"),
        ("(uint8)a + 1", "(((uint8)a) + 1)"),
        ("(uint8)(a + 1)", "((uint8)(a + 1))"),
        (
            "(struct task_struct *)curtask->pid",
            "((struct task_struct *)curtask->pid)",
        ),
        (
            "((struct task_struct *)curtask)->pid",
            "((struct task_struct *)curtask)->pid",
        ),
        ("(pid) + 1", "(pid + 1)"),
        ("(a, b).1", "(a, b).1"),
        ("$kv.0.1", "$kv.0.1"),
        ("args.x->y[2].z", "args.x->y[2].z"),
        ("@m[1, \"a\"] + @", "(@m[1, \"a\"] + @)"),
        ("f(1, g(2), 3)", "f(1, g(2), 3)"),
        ("$x++ + ++$y", "(($x++) + (++$y))"),
        ("$1 + $#", "($1 + $#)"),
        ("(unsigned long)x", "((unsigned long)x)"),
        ("(int8[4])x", "((int8[4])x)"),
        ("(uint64 **)x", "((uint64 **)x)"),
    ];
    for (src, want) in cases {
        assert_eq!(shape(src), want, "{src}");
    }
}

#[test]
fn attach_points() {
    let p = parse(
        "t:syscalls:sys_enter_*, kr:vfs_read, u:/bin/bash:readline, ur:\"/x y\":f, rt:mod:ev, i:ms:100, p:hz:99, s:cpu-clock:1000, interval:5s, BEGIN, end { }",
    )
    .unwrap();
    let aps = &p.probes[0].attach_points;
    let got: Vec<(Provider, String)> = aps.iter().map(|a| (a.provider, a.canonical())).collect();
    let want = [
        (Provider::Tracepoint, "tracepoint:syscalls:sys_enter_*"),
        (Provider::Kretprobe, "kretprobe:vfs_read"),
        (Provider::Uprobe, "uprobe:/bin/bash:readline"),
        (Provider::Uretprobe, "uretprobe:/x y:f"),
        (Provider::Rawtracepoint, "rawtracepoint:mod:ev"),
        (Provider::Interval, "interval:ms:100"),
        (Provider::Profile, "profile:hz:99"),
        (Provider::Software, "software:cpu-clock:1000"),
        (Provider::Interval, "interval::5s"),
        (Provider::Begin, "begin"),
        (Provider::End, "end"),
    ];
    assert_eq!(got.len(), want.len());
    for ((gp, gc), (wp, wc)) in got.iter().zip(want) {
        assert_eq!((*gp, gc.as_str()), (wp, wc));
    }
    assert!(aps[0].has_wildcard());
    assert!(!aps[1].has_wildcard());
    assert_eq!(aps[2].parts, ["/bin/bash", "readline"]);
}

#[test]
fn predicate_slash_ends_the_expression_but_not_inside_parentheses() {
    let p = parse("kprobe:f /(arg0 / 2) > 1/ { }").unwrap();
    assert_eq!(
        src_expr(p.probes[0].predicate.as_ref().unwrap()),
        "((arg0 / 2) > 1)"
    );
    let p = parse("uprobe:/bin/bash:readline/pid == 1/{ }").unwrap();
    assert_eq!(
        p.probes[0].attach_points[0].parts,
        ["/bin/bash", "readline"]
    );
    assert_eq!(
        src_expr(p.probes[0].predicate.as_ref().unwrap()),
        "(pid == 1)"
    );
}

/// A user probe's binary may be a relative path without `./` (upstream's
/// `uprobe:testprogs/uprobe_test:f`); in other segments, and in other probe types, a `/`
/// still starts the predicate.
#[test]
fn relative_user_binaries_keep_their_slashes() {
    let p = parse("uprobe:testprogs/uprobe_test:uprobeFunction*/pid == 1/ { }").unwrap();
    assert_eq!(
        p.probes[0].attach_points[0].parts,
        ["testprogs/uprobe_test", "uprobeFunction*"]
    );
    assert_eq!(
        src_expr(p.probes[0].predicate.as_ref().unwrap()),
        "(pid == 1)"
    );
    let p = parse("usdt:lib/libx.so:prov:name, ur:bin/sh:main { }").unwrap();
    assert_eq!(
        p.probes[0].attach_points[0].parts,
        ["lib/libx.so", "prov", "name"]
    );
    assert_eq!(p.probes[0].attach_points[1].parts, ["bin/sh", "main"]);
    let p = parse("tracepoint:syscalls:sys_enter_read/pid == 1/ { }").unwrap();
    assert_eq!(
        p.probes[0].attach_points[0].parts,
        ["syscalls", "sys_enter_read"]
    );
    assert!(p.probes[0].predicate.is_some());
}

#[test]
fn statement_forms() {
    let p = parse(
        "begin { $a = 1; $a += 2; @m[1] = 3; @m[1] <<= 1; if (1) { } else if (2) { } else { } unroll(2) { } for ($i : 0..3) { } for ($kv : @m) { } while ($a < 9) { $a++; } return; }",
    )
    .unwrap();
    let kinds: Vec<&str> = p.probes[0]
        .body
        .stmts
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Expr(_) => "expr",
            StmtKind::Let { .. } => "let",
            StmtKind::AssignVar { op: None, .. } => "assign-var",
            StmtKind::AssignVar { .. } => "compound-var",
            StmtKind::AssignMap { op: None, .. } => "assign-map",
            StmtKind::AssignMap { .. } => "compound-map",
            StmtKind::If { .. } => "if",
            StmtKind::Unroll { .. } => "unroll",
            StmtKind::ForRange { .. } => "for-range",
            StmtKind::ForMap { .. } => "for-map",
            StmtKind::While { .. } => "while",
            StmtKind::Return(_) => "return",
            StmtKind::Break => "break",
            StmtKind::Continue => "continue",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "assign-var",
            "compound-var",
            "assign-map",
            "compound-map",
            "if",
            "unroll",
            "for-range",
            "for-map",
            "while",
            "return"
        ]
    );
}

#[test]
fn spans_point_at_the_source() {
    let src = "begin { @x[pid] = count(); }";
    let p = parse(src).unwrap();
    let StmtKind::AssignMap { map, value, .. } = &p.probes[0].body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(&src[map.span.range()], "@x[pid]");
    assert_eq!(&src[value.span.range()], "count()");
    assert_eq!(&src[p.probes[0].span.range()], src);
}

/// A prefix operator's span runs to its operand's closing parenthesis.
#[test]
fn unary_spans_include_a_parenthesized_operand() {
    for (src, want) in [
        ("begin { $b = *(&$a); }", "*(&$a)"),
        ("begin { $b = -(1 + 2); }", "-(1 + 2)"),
        ("begin { $b = ++($a); }", "++($a)"),
    ] {
        let p = parse(src).unwrap();
        let StmtKind::AssignVar { value, .. } = &p.probes[0].body.stmts[0].kind else {
            panic!("{src}")
        };
        assert_eq!(&src[value.span.range()], want);
    }
}

#[test]
fn printed_tree_snapshot() {
    let p = parse(
        "config = { max_strlen = 64 }\ntracepoint:syscalls:sys_exit_read /args.ret > 0/ {\n  @bytes[comm] = hist(args.ret);\n  if ($1 == 1) { printf(\"%s\\n\", comm); } else { $x--; }\n}",
    )
    .unwrap();
    let want = "\
Program
  config
    max_strlen = 64
  probe
    tracepoint:syscalls:sys_exit_read
    predicate
      >
        .ret
          builtin: args
        int: 0
    block
      =
        map: @bytes
          builtin: comm
        call: hist
          .ret
            builtin: args
      if
        ==
          param: $1
          int: 1
        then
          block
            call: printf
              string: \"%s\\n\"
              builtin: comm
        else
          block
            post: --
              variable: $x
";
    assert_eq!(p.to_string(), want);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!(
        "begin {{ print({}1{}); }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let err = parse(&src).unwrap_err();
    assert_eq!(err.message, "the script nests too deeply");
    let src = format!("begin {{ $x = {}1; }}", "-".repeat(5000));
    assert!(parse(&src).is_err());
    let src = format!("begin {{ {} }}", "if (1) { ".repeat(3000));
    assert!(parse(&src).is_err());
}

#[test]
fn long_operator_chains_are_bounded() {
    let src = format!("begin {{ $x = 1{}; }}", " + 1".repeat(100_000));
    assert_eq!(
        parse(&src).unwrap_err().message,
        "the script nests too deeply"
    );
    let src = format!("begin {{ $x = $t{}; }}", ".0".repeat(100_000));
    assert!(parse(&src).is_err());
    // Realistic lengths are fine.
    let src = format!("begin {{ $x = 1{}; }}", " + 1".repeat(50));
    parse(&src).unwrap();
}

/// `#include` of a socket or sched header gives its stable integer macros (bpftrace 0.17
/// took them from the header through clang); a later `#define` overrides one.
#[test]
fn include_of_known_headers_defines_their_constants() {
    let src = "#include <linux/socket.h>
#include <linux/sched.h>
#define AF_INET6 77
begin { @ = (AF_INET, AF_INET6, TASK_UNINTERRUPTIBLE); }
";
    let p = parse(src).unwrap_or_else(|d| panic!("{d:?}"));
    let tree = p.to_string();
    assert!(
        tree.contains("        tuple\n          int: 2\n          int: 77\n          int: 2\n"),
        "{tree}"
    );
    // Other headers define nothing: the name stays unknown.
    let p = parse("#include <linux/fs.h>\nbegin { @ = AF_INET; }").unwrap();
    assert!(p.to_string().contains("builtin: AF_INET"), "{p}");
}

#[test]
fn preamble_preprocessor_and_map_declarations() {
    let src = "#!/usr/bin/env bpftrace
#ifndef BPFTRACE_HAVE_BTF
#include <linux/socket.h>
struct sock_common { unsigned short skc_family; };
#else
#define AF_INET 2 /* IPv4 */
#ifdef NOPE
#define AF_INET 99
#else
#define GREETING \"hi\\n\"
#endif
#endif
#define LIMIT 0x10
#undef LIMIT
#define LIMIT 20
let @seen = lruhash(128);
begin { if (AF_INET < LIMIT) { printf(GREETING); } @seen[LIMIT] = 1; }
";
    let p = parse(src).unwrap_or_else(|d| panic!("{d:?}"));
    let want = "\
Program
  define AF_INET 2
  define GREETING \"hi\\n\"
  define LIMIT 20
  map @seen = lruhash(128)
  probe
    begin
    block
      if
        <
          int: 2
          int: 20
        then
          block
            call: printf
              string: \"hi\\n\"
      =
        map: @seen
          int: 20
        int: 1
";
    assert_eq!(p.to_string(), want);
    // The written source parses back to the same tree.
    let again = parse(&kscope_lang::printer::to_source(&p)).unwrap();
    assert_eq!(again.to_string(), want);
}

/// `a ?: b` is `a ? a : b` when `a` has no effects, else `a` goes once into a variable of
/// its own; right-associative like `?:`.
#[test]
fn short_conditional_evaluates_its_first_operand_once() {
    assert_eq!(shape("$x ?: 10"), "($x ? $x : 10)");
    assert_eq!(shape("0 ?: $y ?: 2"), "(0 ? 0 : ($y ? $y : 2))");
    assert_eq!(shape("$c ? $a ?: 1 : 2"), "($c ? ($a ? $a : 1) : 2)");
    let once = shape("f() ?: 1");
    let var = once
        .strip_prefix("{ let ")
        .and_then(|s| s.split_once(" = f(); "))
        .map(|(v, _)| v.to_string())
        .unwrap_or_else(|| panic!("{once}"));
    assert_eq!(once, format!("{{ let {var} = f(); ({var} ? {var} : 1) }}"));
}

/// `if` where a value is expected is a conditional whose branches are block
/// expressions; a missing `else` is an empty block (the checker refuses it as a value).
#[test]
fn if_expressions_are_conditionals_of_blocks() {
    assert_eq!(
        shape("if ($a) { 1 } else if ($b) { 2 } else { 3 }"),
        "($a ? { 1 } : ($b ? { 2 } : { 3 }))"
    );
    assert_eq!(
        shape("if ($x) { if ($y) { $x } else { $y } } else { 0 }"),
        "($x ? { ($y ? { $x } : { $y }) } : { 0 })"
    );
    assert_eq!(
        shape("if ($a) { $x = 1; $x }"),
        "($a ? { $x = 1; $x } : { })"
    );
    assert_eq!(
        shape("{ let $a = 1; if ($a) { $a } else { 0 } }"),
        "{ let $a = 1; ($a ? { $a } : { 0 }) }"
    );
    assert!(
        parse_expr("if comptime 1 { 1 } else { 2 }")
            .unwrap_err()
            .message
            .contains("`if comptime` cannot be used as a value")
    );
}

/// In a statement position `if` stays a statement, its branches' last expressions
/// statements again (an `if` ending a probe, a nested `if` ending a branch); a block
/// expression as a statement needs no `;` after it.
#[test]
fn if_statements_and_block_statements_stay_statements() {
    let p = parse("begin { if ($a) { if ($b) { print(1) } } else { $c } { $d = 1 } print(2) }")
        .unwrap();
    let body = &p.probes[0].body.stmts;
    assert_eq!(body.len(), 3);
    let StmtKind::If {
        then, otherwise, ..
    } = &body[0].kind
    else {
        panic!("{:?}", body[0].kind)
    };
    assert!(matches!(
        then.stmts[..],
        [kscope_lang::ast::Stmt {
            kind: StmtKind::If { .. },
            ..
        }]
    ));
    let else_block = otherwise.as_ref().unwrap();
    assert!(matches!(
        else_block.stmts[..],
        [kscope_lang::ast::Stmt {
            kind: StmtKind::Expr(_),
            ..
        }]
    ));
    assert!(matches!(body[1].kind, StmtKind::Expr(_)));
}
