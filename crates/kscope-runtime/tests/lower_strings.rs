//! `memcmp()`, `str_concat()`, `pton()`, `strcap()` and integer arrays as values, lowered
//! without the kernel: every form compiles to BPF, arrays get their layouts, and their
//! records decode as upstream prints them.

use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::{SourceFile, compile};
use kscope_runtime::decode::{Stacks, scalar};
use kscope_runtime::lower::{Lowerer, ProbeContext};
use kscope_runtime::plan::{Layout, Message, Plan, STR_SIZE, Scalar, ValueLayout};

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

const U8X4: Scalar = Scalar::int_array(1, false, 4);

#[test]
fn every_form_lowers_and_compiles() {
    let (_, errors) = lower(
        "BEGIN { $a = memcmp(\"abc\", \"abd\", 3); $b = memcmp(pton(\"1.2.3.4\"), pton(\"1.2.3.5\"), 4); \
         $c = memcmp((uint32)1, 2, 4); $s = str_concat(\"ab\", comm); $t = str_concat($s, $s); \
         $p = pton(\"::1\"); $e = $p == pton(\"::1\"); $i = (uint32)pton(\"127.0.0.1\"); \
         $k = strcap(\"x\") + strcap((int8 *)0); printf(\"%d %d %d %s %d %x %d\\n\", $a, $b, $c, $t, $e, $i, $k); \
         print(ntop(pton(\"10.0.0.1\"))); print(pton(\"1.2.3.4\")); exit(); }",
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn integer_arrays_are_string_sized_values() {
    let (plan, errors) = lower(
        "BEGIN { @k[pton(\"1.2.3.4\")] = 1; @v = pton(\"::1\"); $x = pton(\"1.2.3.4\"); print($x); }",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let k = plan.map("k").unwrap().1.clone();
    assert_eq!(k.keys, vec![Layout::Scalar(U8X4)]);
    let v = plan.map("v").unwrap().1.clone();
    assert_eq!(v.value, ValueLayout::Plain(Scalar::int_array(1, false, 16)));
    assert_eq!(U8X4.size(), STR_SIZE);
    assert!(matches!(
        plan.messages[0],
        Message::PrintValue { layout } if layout == U8X4
    ));
}

#[test]
fn integer_arrays_decode_as_upstream_prints_them() {
    let text = |bytes: &[u8], sc: Scalar| {
        let mut b = bytes.to_vec();
        b.resize(STR_SIZE as usize, 0);
        kscope_lang::output::text::primitive(&scalar(&b, sc, &Stacks::new(None)))
    };
    assert_eq!(text(&[1, 2, 3, 4], U8X4), "[1,2,3,4]");
    assert_eq!(text(&[127, 0, 0, 1], U8X4), "[127,0,0,1]");
    let i16x2 = Scalar::int_array(2, true, 2);
    assert_eq!(text(&[0xff, 0xff, 2, 0], i16x2), "[-1,2]");
    let u32x2 = Scalar::int_array(4, false, 2);
    assert_eq!(
        text(&[0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0], u32x2),
        "[4294967295,1]"
    );
}
