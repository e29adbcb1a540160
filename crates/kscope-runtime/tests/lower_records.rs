//! Records lowered without the kernel: every form compiles to BPF (`for` over a
//! record-keyed map is run in kscope's run_records), map keys and values get record
//! layouts in the first field order, stored bytes decode to records printed as upstream
//! prints them, and uses not built yet say so.

use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::{SourceFile, compile};
use kscope_runtime::decode::{Stacks, layout_value};
use kscope_runtime::lower::{Lowerer, ProbeContext};
use kscope_runtime::plan::{Layout, Plan, STR_SIZE, Scalar, ValueLayout};

/// Lowers and compiles every probe of `src` (BEGIN probes); returns the plan and the
/// lowering errors.
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

fn int() -> Layout {
    Layout::Scalar(Scalar::Int { signed: true })
}

#[test]
fn every_form_lowers_and_compiles() {
    let (_, errors) = lower(
        "BEGIN { $a = (a=1, b=\"x\"); $a = (b=\"y\", a=2); $n = (3, (p=(x=1, y=true), q=\"s\")); \
         @m = (b=1, a=(2, (x=3))); @m = (a=(4, (x=5)), b=6); @k[(a=1, b=\"k\")] = 1; \
         @k[(b=\"k\", a=1)] = 2; \
         $e = $a == (b=\"y\", a=2); $f = (a=1) != (a=2); print($a); print($n.1.p); \
         printf(\"%d %d %s %d\\n\", $a.a, @m.a.1.x, $n.1.q, $e + $f); exit(); }",
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn maps_keep_the_first_field_order() {
    let (plan, errors) =
        lower("BEGIN { @v = (b=1, a=\"s\"); @v = (a=\"t\", b=2); @k[(y=1, x=(1, 2))] = 1; }");
    assert!(errors.is_empty(), "{errors:?}");
    let v = plan.map("v").unwrap().1.clone();
    let want = Layout::Record(vec![
        ("b".into(), int()),
        ("a".into(), Layout::Scalar(Scalar::Str)),
    ]);
    assert_eq!(v.value, ValueLayout::Tuple(want.clone()));
    assert_eq!(want.size(), 8 + STR_SIZE);
    assert_eq!(want.field("a").map(|(off, _)| off), Some(8));
    let k = plan.map("k").unwrap().1.clone();
    assert_eq!(
        k.keys,
        vec![Layout::Record(vec![
            ("y".into(), int()),
            ("x".into(), Layout::Tuple(vec![int(), int()])),
        ])]
    );
}

#[test]
fn records_decode_as_upstream_prints_them() {
    let l = Layout::Record(vec![
        ("a".into(), int()),
        ("b".into(), Layout::Scalar(Scalar::Str)),
        ("c".into(), Layout::Record(vec![("x".into(), int())])),
    ]);
    let mut bytes = vec![0u8; l.size() as usize];
    bytes[..8].copy_from_slice(&7i64.to_ne_bytes());
    bytes[8..13].copy_from_slice(b"hello");
    bytes[8 + STR_SIZE as usize..][..8].copy_from_slice(&(-1i64).to_ne_bytes());
    let p = layout_value(&bytes, &l, &Stacks::new(None));
    assert_eq!(
        kscope_lang::output::text::primitive(&p),
        "{ .a = 7, .b = hello, .c = { .x = -1 } }"
    );
    assert_eq!(
        kscope_lang::output::json::primitive(&p),
        "{\"a\": 7, \"b\": \"hello\", \"c\": {\"x\": -1}}"
    );
}

#[test]
fn uses_not_built_yet_say_so() {
    let (_, errors) = lower("BEGIN { $r = (a=1); printf(\"%s\\n\", $r); }");
    assert_eq!(
        errors,
        ["a tuple or record as an output argument is not built yet in `kscope run`"]
    );
    // A ternary picks one whole record.
    let (_, errors) = lower("BEGIN { $r = pid > 1 ? (a=1) : (a=2); print($r); }");
    assert!(errors.is_empty(), "{errors:?}");
}
