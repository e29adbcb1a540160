//! `kscope run` with C struct and union definitions at the top of the script, against
//! the real kernel: a uprobe casts a user pointer to a script-defined struct and reads
//! its members (nested, through pointers, arrays, char arrays as strings), with the
//! exact values the C workload (tests/run_cstructs.c) put there, and the layout C gave;
//! bitfields (shifted and masked out of their bytes) and enum members (printed as
//! their enumerators' names); typedefs; kernel structs held by value (BTF's layout).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require_all};
use runkit::{kscope, text};

fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_cstructs.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0"])
    })
}

/// Runs `script` (with `BIN` replaced by the workload's path) on the workload; returns
/// (stdout, stderr).
fn run(script: &str) -> (String, String) {
    let b = workload().display().to_string();
    let script = script.replace("BIN", &b);
    let out = kscope(&["-c", &b, "-e", &script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

const DEFS: &str = "
struct Inner { short a; uint8_t b[4]; };
struct Foo {
  int m, n;
  char name[16];
  struct Foo *next;
  unsigned long x;
  struct Inner in;
  int arr[4];
  char c;
};
union U { int i; char c[5]; }
";

#[test]
fn uprobe_reads_members_of_a_script_defined_struct() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let (out, err) = run(&format!(
        "{DEFS}
uprobe:BIN:visit {{
  $f = (struct Foo *)arg0;
  printf(\"%d %d %s %lu %c\\n\", $f->m, $f->n, $f->name, $f->x, $f->c);
  printf(\"%s %d %d\\n\", $f->next->name, $f->next->n, $f->next->next);
  printf(\"%d %d %d %d\\n\", $f->in.a, $f->in.b[2], $f->arr[3], (*$f).m);
  printf(\"K %d %d %d %d %d\\n\", sizeof(struct Foo), offsetof(struct Foo, x),
         offsetof(struct Foo, in), offsetof(struct Foo, arr), sizeof(union U));
}}
uprobe:BIN:visit_union {{ $u = (union U *)arg0; printf(\"%d %s\\n\", $u->i, $u->c); }}"
    ));
    assert_eq!(err, "Attached 2 probes\n");
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "-7 42 first 1234567890123 z",
        "second 4 0",
        "-2 7 40 -7",
        "6513249 abc",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in {out}");
    }
    // The layout kscope computed is the one gcc gave the workload.
    let c = lines.iter().find_map(|l| l.strip_prefix("C "));
    let k = lines.iter().find_map(|l| l.strip_prefix("K "));
    assert_eq!(c, Some("72 32 40 48 8"), "{out}");
    assert_eq!(k, c, "{out}");
}

/// `typedef`s name types in definitions and wherever the script writes a type: the
/// struct laid out from typedef'd members is gcc's, and reads the same values.
#[test]
fn typedefs_name_types_in_definitions_casts_and_sizeof() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let (out, err) = run("
typedef unsigned long ulong_t;
typedef struct Inner inner_t;
typedef int quad[4], *int_p;
struct Inner { short a; uint8_t b[4]; };
typedef struct { int m, n; char name[16]; } head_t;
struct Foo { int m, n; char name[16]; struct Foo *next; ulong_t x; inner_t in; quad arr; char c; };
typedef struct Foo *foo_p;
uprobe:BIN:visit {
  $f = (foo_p)arg0;
  $h = (head_t *)arg0;
  printf(\"%d %d %s %lu %c\\n\", $f->m, $f->n, $f->name, $f->x, $f->c);
  printf(\"%d %d %d %s\\n\", $f->in.a, $f->arr[3], $h->n, $h->name);
  printf(\"K %d %d %d %d %d %d\\n\", sizeof(struct Foo), sizeof(foo_p), sizeof(quad),
         sizeof(ulong_t), sizeof(head_t), sizeof(int_p));
}");
    assert_eq!(err, "Attached 1 probe\n");
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "-7 42 first 1234567890123 z",
        "-2 40 42 first",
        "K 72 8 16 8 24 8",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in {out}");
    }
}

/// A script struct may hold kernel structs by value: laid out with their BTF size and
/// alignment, and read through BTF (`struct wrap` is `task_struct` itself, so reading
/// through it and through `curtask` give the same values).
#[test]
fn kernel_structs_by_value_take_their_btf_layout() {
    let Some(_kernel) = require_all(&[Feature::BpfRawTracepoint, Feature::Btf]) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "struct wrap { struct task_struct t; } struct pair { char a; struct list_head l; } \
         struct outer { char c; struct pair p[2]; } \
         BEGIN { $w = (struct wrap *)curtask; \
         printf(\"%d %d %s %d\\n\", $w->t.pid == curtask->pid, $w->t.tgid == pid, $w->t.comm, \
         $w->t.tasks.next == curtask->tasks.next); \
         printf(\"%d %d %d %d\\n\", sizeof(struct wrap) == sizeof(struct task_struct), \
         offsetof(struct pair, l), sizeof(struct pair), sizeof(struct outer)); exit(); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // list_head: two pointers, 16 bytes aligned to 8 (gcc would put it at 8).
    assert_eq!(text(&out.stdout), "1 1 kscope 1\n1 8 24 56\n\n\n");
    let out = kscope(&[
        "--dry-run",
        "-e",
        "struct s { int x; struct kscope_nope n; } BEGIN { }",
    ]);
    assert!(
        text(&out.stderr).contains("unknown member type `struct kscope_nope`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_script_definition_shadows_the_kernel_type_of_that_name() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let (out, _) = run("struct task_struct { int m; int n; }
uprobe:BIN:visit { $t = (struct task_struct *)arg0;
  printf(\"%d %d %d\\n\", $t->m, $t->n, sizeof(struct task_struct)); }");
    assert!(out.lines().any(|l| l == "-7 42 8"), "{out}");
}

const BITS: &str = "
enum Color { RED = 1, GREEN = 2, BLUE = 40 };
struct Bits {
  unsigned int a : 3, b : 5;
  int s : 4;
  unsigned char c;
  unsigned long long big : 60;
  unsigned int : 0;
  bool f : 1;
  enum Color col;
  enum Color cb : 6;
  short t : 9;
  struct {
    char tag;
    union { int as_int; char as_chars[4]; };
  } nest;
};
";

#[test]
fn uprobe_reads_bitfields_enum_and_nested_members_as_gcc_laid_them_out() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let (out, err) = run(&format!(
        "{BITS}
uprobe:BIN:visit_bits {{
  $b = (struct Bits *)arg0;
  printf(\"%d %d %d %d %lx %d %d\\n\", $b->a, $b->b, $b->s, $b->c, $b->big, $b->f, $b->t);
  printf(\"%s %d %s %d\\n\", $b->col, $b->col, $b->cb, $b->cb == GREEN);
  @col = $b->col; @k[$b->cb] = 1; print((enum Color)$b->a); print(*$b);
  printf(\"%c %x %s\\n\", $b->nest.tag, $b->nest.as_int, $b->nest.as_chars);
  printf(\"CB %d %d %d %d %d\\n\", sizeof(struct Bits), offsetof(struct Bits, c),
         offsetof(struct Bits, col), offsetof(struct Bits, nest),
         offsetof(struct Bits, nest.as_chars));
}}"
    ));
    assert_eq!(err, "Attached 1 probe\n");
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "5 17 -3 200 abcdef012345678 1 -200",
        "BLUE 40 GREEN 1",
        "q 646362 bcd",
        "5",
        "@col: BLUE",
        "@k[GREEN]: 1",
        // The whole struct as a value: bitfields, enums and the anonymous union inline.
        "{ .a = 5, .b = 17, .s = -3, .c = 200, .big = 773738358679819896, .f = true, \
         .col = BLUE, .cb = GREEN, .t = -200, .nest = { .tag = 113, .as_int = 6579042, \
         .as_chars = bcd } }",
    ] {
        assert!(lines.contains(&want), "no line {want:?} in {out}");
    }
    let c: Vec<&&str> = lines.iter().filter(|l| l.starts_with("CB ")).collect();
    assert_eq!(c.len(), 2, "{out}");
    assert_eq!(c[0], c[1], "kscope's layout is gcc's: {out}");
}
