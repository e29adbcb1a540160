//! `kscope run` expressions against the real kernel: the short conditional `a ?: b`,
//! `if` as an expression and block expressions (their scoping, sibling blocks' variables
//! of one name and different types, and an aggregation as a
//! block's value), tuple subscripts by a constant expression, `len()` of a map without
//! keys (an error, as upstream), `nsecs(CLOCK)` against the clocks read here, and `*` of a
//! pointer to a variable holding a tuple or string. BEGIN programs with exact outputs from
//! upstream bpftrace's runtime tests; bpftrace 0.17 has none of these forms, so where it
//! runs the same program spelled with `c ? a : b` must print the same.

mod runkit;

use kscope_testkit::{Feature, require};
use runkit::{bpftrace, kscope, run, text};

/// stdout of a BEGIN program that ends with `exit()`, without the two blank lines the end
/// of the run prints.
fn begin(body: &str) -> String {
    let out = run(&format!("BEGIN {{ {body} exit(); }}"), None);
    out.strip_suffix("\n\n").unwrap_or(&out).to_string()
}

/// `a ?: b` is `a` when `a` is true, else `b` (upstream's tests/runtime/other
/// `ternary_empty_2nd_operand`), and `a` is evaluated once: `$i++ ?: 9` increments once.
#[test]
fn short_conditional_takes_the_first_operand_when_true_and_evaluates_it_once() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(
        begin("$x = 1; $a = $x ?: 10; $b = 0 ?: 20; print(($a, $b));"),
        "(1, 20)\n"
    );
    assert_eq!(
        begin("$i = 0; $r = $i++ ?: 9; $s = ++$i ?: 9; print(($r, $s, $i));"),
        "(9, 2, 2)\n"
    );
    // A map read, a comparison (a bool) and a chain, right-associative as C's.
    assert_eq!(
        begin(
            "@m = 0; $a = @m ?: 7; $b = (3 > 2) ?: false; $c = 0 ?: 0 ?: 5; print(($a, $b, $c)); delete(@m);"
        ),
        "(7, true, 5)\n"
    );
    // Written out as `a ? a : b`, bpftrace 0.17 prints the same.
    let spelled = "BEGIN { $x = 1; $a = $x ? $x : 10; $b = 0 ? 0 : 20; print(($a, $b)); exit(); }";
    if let Some(peer) = bpftrace(spelled, None) {
        assert_eq!(peer.trim_end(), "(1, 20)");
    }
}

/// `if` as a value: the value of the branch taken, nested (upstream's
/// tests/runtime/regression `nested ternary operators`), of strings and tuples, and as
/// the last expression of a block.
#[test]
fn if_expressions_give_the_value_of_the_branch_taken() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let nested = "let $x = 1; let $y = 2; let $z = 3; \
                  print(if ($x) { if ($y) { if ($z) { $x } else { $y } } else { $z } } else { 0 });";
    assert_eq!(begin(nested), "1\n");
    let cases = [
        ("$x = 1; $y = 2;", "1\n"),
        ("$x = 1; $y = 0;", "0\n"),
        ("$x = 0; $y = 2;", "0\n"),
    ];
    for (vars, want) in cases {
        let body =
            format!("{vars} print(if ($x) {{ if ($y) {{ $x }} else {{ $y }} }} else {{ 0 }});");
        assert_eq!(begin(&body), want, "{vars}");
        // bpftrace 0.17 has no `if` expressions; its ternary gives the same.
        let spelled = format!("BEGIN {{ {vars} print($x ? ($y ? $x : $y) : 0); exit(); }}");
        if let Some(peer) = bpftrace(&spelled, None) {
            assert_eq!(peer.trim_end(), want.trim_end(), "{vars}");
        }
    }
    assert_eq!(
        begin(
            "$n = 2; print(if ($n == 1) { \"one\" } else if ($n == 2) { \"two\" } else { \"many\" }); \
             $t = if ($n > 1) { (1, \"pos\") } else { (0, \"neg\") }; print($t); \
             $v = { let $k = $n * 10; if ($k > 15) { $k } else { 0 } }; print($v);"
        ),
        "two\n(1, pos)\n20\n"
    );
    // A branch's statements run only when it is taken.
    assert_eq!(
        begin("$a = if (0) { printf(\"no\\n\"); 1 } else { printf(\"yes\\n\"); 2 }; print($a);"),
        "yes\n2\n"
    );
}

/// Block expressions (upstream's tests/runtime/basic and call): the value of the last
/// expression, `let` scoped to the block, and an aggregation as the value of a block
/// assigned to a map (`@ = { let $a = 100; avg($a) }` prints `@: 100`).
#[test]
fn block_expressions_give_their_last_value_and_scope_their_variables() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(
        run("BEGIN { @ = { let $a = 100; $a + 1 }; exit(); }", None),
        "\n\n@: 101\n"
    );
    assert_eq!(
        run("BEGIN { @ = { let $a = 100; avg($a) }; exit(); }", None),
        "\n\n@: 100\n"
    );
    assert_eq!(
        run(
            "BEGIN { @h[1] = { let $v = 3; { $v = $v * 2; count() } }; exit(); }",
            None
        ),
        "\n\n@h[1]: 1\n"
    );
    assert_eq!(
        begin("if ({ let $a = true; $a }) { print(\"bob\"); }"),
        "bob\n"
    );
    assert_eq!(
        begin("print({ $x = 1; print(\"bob\"); $x > 1 });"),
        "bob\nfalse\n"
    );
    assert_eq!(begin("_ = { print(1); 1 };"), "1\n");
    // upstream's tests/runtime/scripts/variable_scope.bt and variable_scope_late_decl.bt.
    assert_eq!(
        begin("if 1 { $x = 1; } if 1 { let $x; if $x { $x = 5; } print($x); }"),
        "0\n"
    );
    assert_eq!(
        run(
            "BEGIN { @a[1] = 1; if 1 { $x = 1; print((\"a\", $x)); } \
             for $kv : @a { $x = 2; print((\"b\", $x)); } \
             let $x; if 0 { $x = 3; } print((\"c\", $x)); exit(); }",
            None
        ),
        "(a, 1)\n(b, 2)\n(c, 0)\n\n\n@a[1]: 1\n"
    );
    // Sibling blocks each have a variable of their own, of any type: `let`, a first
    // assignment, a block expression's and a loop's.
    assert_eq!(
        begin(
            "if (1) { let $a = 1; print($a + 1); } else { let $a = \"s\"; print($a); } \
             { $b = \"x\"; print($b); } { $b = 5; print($b * 2); } \
             print({ let $c = (1, \"t\"); $c.1 }); print({ let $c = 7; $c }); \
             for ($i : 0..2) { $d = $i; print($d); } for ($i : 0..1) { $d = \"z\"; print($d); }"
        ),
        "2\nx\n10\nt\n7\n0\n1\nz\n"
    );
    // A block's `let` is gone after it, and no `let` may shadow a variable in scope.
    for (script, message) in [
        (
            "BEGIN { { let $a = 1; } print($a); }",
            "undefined variable `$a`",
        ),
        (
            "BEGIN { $a = 1; { let $a = 2; } }",
            "`$a` is already a variable here",
        ),
        // The second block's `$a` is one variable: a string, then an integer.
        (
            "BEGIN { { let $a = 1; } { let $a = \"s\"; $a = 3; } }",
            "type mismatch for `$a`: it holds `string`, not `int8`",
        ),
    ] {
        let out = kscope(&["--dry-run", "-e", script]);
        assert!(!out.status.success(), "{script}");
        assert!(
            text(&out.stderr).contains(message),
            "{script}: {}",
            text(&out.stderr)
        );
    }
}

/// `$t[i]` on a tuple with `i` a constant expression is `$t.i` (upstream's
/// tests/runtime/tuples `array-style tuple access`); an index known only when running is
/// an error at its span.
#[test]
fn tuple_subscripts_fold_constant_expressions() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(begin("$a = (1, 2, 3); print($a[1 + 1]);"), "3\n");
    assert_eq!(
        begin("$a = (1, (\"x\", 5)); print(($a[0], $a[1][sizeof(uint16) - 1], $a[2 - 1][0]));"),
        "(1, 5, x)\n"
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "BEGIN { $i = 1; $a = (1, 2); print($a[$i]); }",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("a tuple index must be a constant integer"),
        "{err}"
    );
    assert!(err.contains("-e:1:39"), "{err}");
}

/// `len(@)` counts the keys of a map with keys; of a map without keys it is an error, as
/// upstream's tests/runtime/call `map len keyless` expects.
#[test]
fn len_counts_keys_and_refuses_a_map_without_keys() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(
        run(
            "BEGIN { @[0] = 0; @[1] = 1; printf(\"map len: %d\\n\", len(@)); exit(); }",
            None
        ),
        "map len: 2\n\n\n@[0]: 0\n@[1]: 1\n"
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "BEGIN { @ = 0; printf(\"map len: %d\\n\", len(@)); }",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("`len()` needs a map with keys"), "{err}");
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    assert_eq!(unsafe { libc::clock_gettime(clock, &mut ts) }, 0);
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// `nsecs(CLOCK)` reads the clock it names (upstream's docs/stdlib.md): each value lies
/// between the same clock read here before and after the run, within a second; `boot` is
/// also the first number of /proc/uptime, and `sw_tai` (the boot clock plus the TAI offset
/// measured when the run starts) agrees with `tai`.
#[test]
fn nsecs_clocks_match_the_clocks_of_this_machine() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    const SECOND: i128 = 1_000_000_000;
    let clocks = [
        ("boot", libc::CLOCK_BOOTTIME),
        ("monotonic", libc::CLOCK_MONOTONIC),
        ("tai", libc::CLOCK_TAI),
        ("sw_tai", libc::CLOCK_TAI),
    ];
    let uptime = || -> i128 {
        let s = std::fs::read_to_string("/proc/uptime").unwrap();
        let secs: f64 = s.split_whitespace().next().unwrap().parse().unwrap();
        (secs * 1e9) as i128
    };
    let before: Vec<i128> = clocks.iter().map(|(_, c)| clock_ns(*c)).collect();
    let up_before = uptime();
    let out = begin(
        "printf(\"%llu %llu %llu %llu %llu\\n\", nsecs, nsecs(boot), nsecs(monotonic), \
         nsecs(tai), nsecs(sw_tai));",
    );
    let up_after = uptime();
    let after: Vec<i128> = clocks.iter().map(|(_, c)| clock_ns(*c)).collect();
    let got: Vec<i128> = out.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(got.len(), 5, "{out}");
    // `nsecs` alone is `nsecs(boot)`.
    assert!(got[1] >= got[0] && got[1] - got[0] < SECOND, "{out}");
    for (i, (name, _)) in clocks.iter().enumerate() {
        let v = got[i + 1];
        assert!(
            v >= before[i] - SECOND && v <= after[i] + SECOND,
            "nsecs({name}) = {v}, the clock read {} before and {} after",
            before[i],
            after[i]
        );
    }
    // /proc/uptime has hundredths of a second.
    assert!(
        got[1] >= up_before - SECOND && got[1] <= up_after + SECOND,
        "{out}"
    );
    assert!(
        (got[4] - got[3]).abs() < SECOND / 10,
        "sw_tai vs tai: {out}"
    );
}

/// `*` of a pointer to a variable reads the variable as it is stored: a tuple (upstream's
/// tests/runtime/variable `variable address with tuple`), a string, `username` (`variable
/// address with builtin`), and a string's bytes through an `int8 *`.
#[test]
fn dereferencing_a_variable_address_reads_tuples_and_strings() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(
        begin("$a = (1, \"hello\", 2); print(*(&$a));"),
        "(1, hello, 2)\n"
    );
    assert_eq!(
        begin("$a = (1, \"hello\", 2); $p = &$a; $s = \"str\"; $q = &$s; print((*$p, *$q, *&$s));"),
        "((1, hello, 2), str, str)\n"
    );
    let user = begin("$a = username; $b = &$a; printf(\"SUCCESS %s\\n\", *$b); print(username);");
    let (first, name) = user.split_once('\n').unwrap();
    assert_eq!(first, format!("SUCCESS {}", name.trim_end()));
    assert!(!name.trim().is_empty());
    assert_eq!(
        begin("$a = \"hello\"; $b = (int8 *)&$a; printf(\"%c %c\\n\", *$b, *++$b);"),
        "h e\n"
    );
}

/// `print(@m[key])` prints one element as a value (upstream's tests/runtime/call
/// `print_map_item`): a present key, an absent one (0), a tuple key with a string value, and
/// the element inside a tuple. A `hist` element stays an error (its value lives in user space).
#[test]
fn print_of_a_map_element_prints_its_value() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    assert_eq!(begin("@x[1] = 5; print(@x[1]);"), "5\n\n\n@x[1]: 5\n");
    assert_eq!(
        begin(
            "@x[1] = 5; @x[2] = 6; @y[3, 5] = \"asdf\"; print(@x[2]); print(@x[7]); \
             print(@y[3, 5]); print((1, 2, @y[3, 5])); clear(@x); clear(@y);"
        ),
        "6\n0\nasdf\n(1, 2, asdf)\n"
    );
    let out = kscope(&["-e", "BEGIN { @h[1] = hist(10); print(@h[1]); }"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("a map of `hist_t` cannot be used in an expression"),
        "{err}"
    );
}
