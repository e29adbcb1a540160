//! `kscope run` records (upstream's named tuples, `(a=1, b="x")`) against the real
//! kernel: printing, nesting with tuples, map values and keys printed at exit, stores in
//! another field order, `==`/`!=` by field name, `for` over a record-keyed map, `--test`
//! and JSON output. The expected text follows upstream's text and JSON printers
//! (`{ .a = 1, .b = hello }`, JSON objects, map keys without spaces).

mod runkit;

use kscope_testkit::{Feature, require};
use runkit::{kscope, run_with, text};

#[test]
fn records_print_as_upstream_with_nested_tuples_and_records() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { $v = (x=1, y=2); $t = (a=0, b=1, c=\"str\", d=(5, 6), e=$v); print($t); \
         printf(\"%d %d %s %d %d %d\\n\", $t.a, $t.b, $t.c, $t.d.0, $t.d.1, $t.e.y); \
         print((one=1)); print((7, (k=\"v\"))); print($t.e); exit(); }",
    );
    assert_eq!(
        out,
        "{ .a = 0, .b = 1, .c = str, .d = (5, 6), .e = { .x = 1, .y = 2 } }\n\
         0 1 str 5 6 2\n\
         { .one = 1 }\n\
         (7, { .k = v })\n\
         { .x = 1, .y = 2 }\n\n\n"
    );
}

/// A slot keeps the field order of its first record; fields are evaluated as written.
#[test]
fn stores_in_another_field_order_keep_the_first_order() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { $a = (x={ printf(\"1\"); 1 }, y={ printf(\"2\"); 2 }); \
         $a = (y={ printf(\"3\"); 3 }, x={ printf(\"4\\n\"); 4 }); print($a); \
         $n = (3, (a=(p=1, q=true), b=\"hello\")); $n = (4, (b=\"bye\", a=(q=false, p=2))); \
         print($n); printf(\"%d %s %d\\n\", $n.1.a.p, $n.1.b, $n.1.a.q); \
         @m = (b=\"first\", a=(1, (p=3, q=\"z\"))); @m = (a=(2, (q=\"w\", p=4)), b=\"second\"); \
         printf(\"%s %d %s\\n\", @m.b, @m.a.1.p, @m.a.1.q); exit(); }",
    );
    assert_eq!(
        out,
        "1234\n\
         { .x = 4, .y = 3 }\n\
         (4, { .a = { .p = 2, .q = false }, .b = bye })\n\
         2 bye 0\n\
         second 4 w\n\
         \n\n\
         @m: { .b = second, .a = (2, { .p = 4, .q = w }) }\n"
    );
}

/// A new value made of the old one's fields reads them all before storing any.
#[test]
fn a_new_value_from_the_old_ones_fields_swaps_them() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { $s = (l=\"left\", r=\"right\"); $s = (r=$s.l, l=$s.r); \
         $p = (1, 2); $p = ($p.1, $p.0); print($s); print($p); exit(); }",
    );
    assert_eq!(out, "{ .l = right, .r = left }\n(2, 1)\n\n\n");
}

/// Records as map keys: the same names in another order are the same key.
#[test]
fn record_map_keys_and_for_over_them() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { @k[(a=1, b=\"hello\")] = 1; @k[(b=\"hello\", a=1)] = 2; \
         @n[3, (a=(x=1, y=true), b=\"hi\")] = 5; @n[3, (b=\"hi\", a=(y=true, x=1))] += 1; \
         for ($kv : @k) { printf(\"%d %s %d\\n\", $kv.0.a, $kv.0.b, $kv.1); } \
         for ($kv : @n) { printf(\"%d %d %s %d\\n\", $kv.0.0, $kv.0.1.a.x, $kv.0.1.b, $kv.1); } \
         @v[(b=2, a=1)] = (s=\"x\"); exit(); }",
    );
    assert_eq!(
        out,
        "1 hello 2\n\
         3 1 hi 6\n\
         \n\n\
         @k[{ .a = 1, .b = hello }]: 2\n\
         @n[3, { .a = { .x = 1, .y = true }, .b = hi }]: 6\n\
         @v[{ .b = 2, .a = 1 }]: { .s = x }\n"
    );
}

/// `==`/`!=` compare by field name, whatever the order either side was written in.
#[test]
fn equality_goes_by_field_name() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { $a = (a=1, b=\"hello\"); $b = (b=\"hello\", a=(uint64)1); \
         $n = (a=(1, \"bye\"), b=(y=3, x=\"x\")); \
         printf(\"%d %d %d %d %d %d %d\\n\", \
           $a == (b=\"hello\", a=1), $a != (a=1, b=\"hello\"), $a == $b, \
           $a == (b=\"hellp\", a=1), (a=1, b=2) == (b=2, a=1), \
           $n == (b=(x=\"x\", y=3), a=(1, \"bye\")), \
           (3, (a=1, b=(10, \"s\"))) == (3, (b=(10, \"s\"), a=1))); exit(); }",
    );
    assert_eq!(out, "1 0 1 0 1 1 1\n\n\n");
}

/// `--test`: `test:NAME` probes returning non-zero on a wrong field fail.
#[test]
fn records_in_test_probes() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kscope-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("records.bt");
    std::fs::write(
        &file,
        "test:fields { $r = (n=5, s=\"abc\"); if ($r.n != 5 || $r.s != \"abc\") { return 1; } }\n\
         test:reordered { $r = (n=5, s=\"abc\"); $r = (s=\"de\", n=6); \
         if ($r.n != 6 || $r.s != \"de\" || $r != (n=6, s=\"de\")) { return 1; } }\n\
         test:wrong { $r = (n=5); if ($r.n != 4) { return 1; } }\n",
    )
    .unwrap();
    let out = kscope(&["--test", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("OK ]") || l.contains("FAILED  ]") && l.contains(" ("))
        .collect();
    assert_eq!(verdicts.len(), 3, "{stdout}");
    assert!(verdicts[0].contains("OK ]") && verdicts[0].contains("fields"));
    assert!(verdicts[1].contains("OK ]") && verdicts[1].contains("reordered"));
    assert!(verdicts[2].contains("FAILED") && verdicts[2].contains("wrong"));
}

/// JSON: a record is an object, a record map key is its text without spaces.
#[test]
fn records_in_json_output() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &["-q", "-f", "json"],
        "BEGIN { $v = (x=1, y=2); print((a=1, b=\"hi\", c=(1, 2))); \
         @a = (a=0, b=1, c=\"str\", d=(5, 6), e=$v); @k[(a=1, b=\"x\")] = 3; exit(); }",
    );
    assert_eq!(
        out,
        "{\"type\": \"value\", \"data\": {\"a\": 1, \"b\": \"hi\", \"c\": [1,2]}}\n\
         {\"type\": \"map\", \"data\": {\"@a\": {\"a\": 0, \"b\": 1, \"c\": \"str\", \"d\": [5,6], \"e\": {\"x\": 1, \"y\": 2}}}}\n\
         {\"type\": \"map\", \"data\": {\"@k\": {\"{.a=1,.b=x}\": 3}}}\n"
    );
}

/// `typeinfo` names a record as upstream does (kscope's strings are all 64 bytes).
#[test]
fn typeinfo_of_a_record() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "config = { unstable_typeinfo = enable; } \
         BEGIN { $r = (a=1, b=(x=\"s\")); print(typeinfo($r).full_type); \
         print(typeinfo($r).base_type); print(typeinfo($r.b.x).full_type); exit(); }",
    );
    assert_eq!(
        out,
        "record { .a = int8, .b = record { .x = string[64] } }\nrecord\nstring[64]\n\n\n"
    );
}

/// Upstream's `config builtin reads integer, string, and boolean` test: kscope's
/// strings are 64 bytes (upstream's are 1024), the rest as upstream; the config block's
/// settings show through, and a comparison of two spellings matches.
#[test]
fn config_reads_the_settings_in_effect() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run_with(
        &[],
        "BEGIN { printf(\"%d %s %d\\n\", config().max_strlen, config().stack_mode, \
         config().cpp_demangle); if (config().max_strlen == __builtin_config.max_strlen) \
         { printf(\"match\\n\"); } exit(); }",
    );
    assert_eq!(out, "64 bpftrace 1\nmatch\n\n\n");
    let out = run_with(
        &[],
        "config = { stack_mode = perf; print_maps_on_exit = false } \
         BEGIN { @m = 1; printf(\"%s %d\\n\", config.stack_mode, config.print_maps_on_exit); \
         exit(); }",
    );
    assert_eq!(out, "perf 0\n\n\n");
}
