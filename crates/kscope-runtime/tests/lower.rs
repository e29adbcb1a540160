//! Lowering without the kernel: layouts, "not built yet" diagnostics at their spans, and
//! the records user space decodes.

use kscope_lang::ast::Provider;
use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::{SourceFile, compile};
use kscope_runtime::decode::{Stacks, printf_text, scalar};
use kscope_runtime::lower::{ArgSource, Lowerer, ProbeContext};
use kscope_runtime::plan::{Layout, Message, Plan, STR_SIZE, Scalar, ValueLayout};

fn ctx(checked: &kscope_lang::sema::Checked, probe: usize) -> ProbeContext {
    let ap = checked.program.probes[probe].attach_points[0].clone();
    ProbeContext {
        args: ProbeContext::arg_source(ap.provider),
        attach: ap,
        fields: Vec::new(),
        user_pointers: false,
        params: vec!["7".into(), "text".into()],
        ncpus: 2,
        cpid: Some(42),
        pid: None,
        start_ns: 0,
        tai_offset_ns: 0,
        btf: None,
        usdt: None,
        uprobe_args: None,
    }
}

/// Lowers every probe; returns the plan and the error messages with their byte ranges.
fn lower(src: &str) -> (Plan, Vec<(String, u32, u32)>) {
    let file = SourceFile::new("-e", src);
    let options = Options {
        params: vec!["7".into(), "text".into()],
        ..Options::default()
    };
    let checked = compile(&file, &options, &NoKernelTypes).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let mut errors = Vec::new();
    for (i, p) in checked.program.probes.iter().enumerate() {
        let c = ctx(&checked, i);
        match Lowerer::lower(&checked, &mut plan, &c, i, p) {
            Ok(f) => {
                kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3)).expect("compiles");
            }
            Err(es) => errors.extend(
                es.into_iter()
                    .map(|e| (e.message, e.span.start, e.span.end)),
            ),
        }
    }
    (plan, errors)
}

#[test]
fn maps_get_their_layouts() {
    let (plan, errors) = lower(
        "BEGIN { @c = count(); @s[comm, 1] = sum(2); @m = max(-1); @a = avg(3); \
         @h = hist(5); @l = lhist(5, 0, 100, 10); @x = \"str\"; @i[7] = 1; \
         @t[1, (\"a\", (int8)2)] = 1; }",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let get = |n: &str| plan.map(n).unwrap().1.clone();
    assert_eq!(get("c").value, ValueLayout::Sum);
    let int = Layout::Scalar(Scalar::Int { signed: true });
    assert_eq!(
        get("s").keys,
        vec![Layout::Scalar(Scalar::Str), int.clone()]
    );
    assert_eq!(get("s").key_size(), STR_SIZE + 8);
    // A tuple key part keeps its shape; its integers widen to 8 bytes.
    assert_eq!(
        get("t").keys,
        vec![
            int.clone(),
            Layout::Tuple(vec![Layout::Scalar(Scalar::Str), int])
        ]
    );
    assert_eq!(get("t").key_size(), 8 + STR_SIZE + 8);
    assert_eq!(
        get("m").value,
        ValueLayout::MinMax {
            max: true,
            signed: true
        }
    );
    assert_eq!(get("a").value_size(), 16);
    assert_eq!(get("h").value_size(), 65 * 8);
    assert_eq!(get("l").value_size(), 12 * 8);
    assert_eq!(get("x").value, ValueLayout::Plain(Scalar::Str));
    assert_eq!(
        get("c").key_size(),
        4,
        "an aggregation without keys is a per-CPU array with one 4-byte zero key"
    );
    assert!(get("c").is_array() && get("h").is_array() && !get("s").is_array());
    // Its value ends with the "present" word.
    assert_eq!(get("h").spec().value_size, 65 * 8 + 8);
    // Bucket maps without keys need no zero map...
    assert_eq!(plan.zero, None);
    // ...keyed ones get one as large as the largest bucket array.
    let (plan, errors) = lower("BEGIN { @h[1] = hist(5); @l[2] = lhist(5, 0, 100, 10); }");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(plan.zero.map(|z| z.1), Some(65 * 8));
}

#[test]
fn unlowered_constructs_say_not_built_yet_at_their_span() {
    let src = "BEGIN { $a = (1, 2); $b = &$a; print($b); printf(\"%s\", $a); }";
    let (_, errors) = lower(src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (msg, start, end) = &errors[0];
    assert_eq!(
        msg,
        "a tuple or record as an output argument is not built yet in `kscope run`"
    );
    assert_eq!(&src[*start as usize..*end as usize], "$a");
}

#[test]
fn tuples_get_layouts_and_decode() {
    use kscope_runtime::decode::{join_text, layout_value};
    use kscope_runtime::plan::Layout;
    let (plan, errors) = lower("BEGIN { @t[1] = (2, \"ab\", (3, -4)); $x = (1, 2); print($x); }");
    assert!(errors.is_empty(), "{errors:?}");
    let int = Layout::Scalar(Scalar::Int { signed: true });
    let want = Layout::Tuple(vec![
        int.clone(),
        Layout::Scalar(Scalar::Str),
        Layout::Tuple(vec![int.clone(), int.clone()]),
    ]);
    let m = plan.map("t").unwrap().1.clone();
    assert_eq!(m.value, ValueLayout::Tuple(want.clone()));
    assert_eq!(m.value_size(), 8 + STR_SIZE + 16);
    assert_eq!(want.element(2).map(|(off, _)| off), Some(8 + STR_SIZE));
    let mut rec = 2i64.to_ne_bytes().to_vec();
    let mut s = b"ab".to_vec();
    s.resize(STR_SIZE as usize, 0);
    rec.extend(s);
    rec.extend(3i64.to_ne_bytes());
    rec.extend((-4i64).to_ne_bytes());
    let v = layout_value(&rec, &want, &Stacks::new(None));
    assert_eq!(kscope_lang::output::text::primitive(&v), "(2, ab, (3, -4))");
    assert!(matches!(plan.messages[0], Message::PrintTuple { .. }));
    // join(): a count, then 64-byte slots.
    let mut j = 2u64.to_ne_bytes().to_vec();
    for w in ["ls", "-l", "unused"] {
        let mut s = w.as_bytes().to_vec();
        s.resize(64, 0);
        j.extend(s);
    }
    assert_eq!(join_text(&j, ","), "ls,-l");
}

#[test]
fn for_over_a_map_lowers_to_a_callback_subprogram() {
    let file = SourceFile::new(
        "-e",
        "BEGIN { @m[1] = 1; $n = 0; for ($kv : @m) { $n += $kv.1; } }",
    );
    let checked = compile(&file, &Options::default(), &NoKernelTypes).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let c = ctx(&checked, 0);
    let p = &checked.program.probes[0];
    let (main, subs) = Lowerer::lower_program(&checked, &mut plan, &c, 0, p).expect("lowers");
    assert_eq!(subs.len(), 1);
    let mut funcs = vec![main];
    funcs.extend(subs);
    let prog = kscope_codegen::compile_program(
        &funcs,
        &|m| Some(m.0 as i32 + 3),
        &kscope_codegen::Options::default(),
    )
    .expect("compiles");
    assert_eq!(prog.func_starts.len(), 2);
    assert_eq!(prog.func_params, vec![1, 4]);
    let text = prog.disassemble();
    assert!(text.contains("call bpf_for_each_map_elem#164"), "{text}");
    assert!(text.contains("= func pc+"), "{text}");
    // The plain entry point refuses a probe that needs subprograms.
    assert!(Lowerer::lower(&checked, &mut plan, &c, 0, p).is_err());
}

#[test]
fn printf_records_decode_in_argument_order() {
    let (plan, errors) = lower("BEGIN { printf(\"%d %s %u\\n\", -5, \"ab\", 7); exit(); }");
    assert!(errors.is_empty(), "{errors:?}");
    let Message::Printf { args, .. } = &plan.messages[0] else {
        panic!("first message is printf: {:?}", plan.messages);
    };
    assert_eq!(
        args,
        &vec![
            Scalar::Int { signed: true },
            Scalar::Str,
            Scalar::Int { signed: true }
        ]
    );
    let mut rec = Vec::new();
    rec.extend((-5i64).to_ne_bytes());
    let mut s = b"ab".to_vec();
    s.resize(STR_SIZE as usize, 0);
    rec.extend(s);
    rec.extend(7u64.to_ne_bytes());
    let stacks = Stacks::new(None);
    assert_eq!(
        printf_text(&plan.messages[0], &rec, &stacks).unwrap(),
        "-5 ab 7\n"
    );
    assert!(matches!(plan.messages[1], Message::Exit));
    assert_eq!(
        scalar(
            &(-1i64).to_ne_bytes(),
            Scalar::Int { signed: false },
            &stacks
        )
        .as_bits(),
        Some(u64::MAX)
    );
}

#[test]
fn probe_kinds_read_arguments_from_their_context() {
    assert_eq!(
        ProbeContext::arg_source(Provider::Uprobe),
        ArgSource::PtRegs
    );
    assert_eq!(
        ProbeContext::arg_source(Provider::Kretprobe),
        ArgSource::PtRegs
    );
    assert_eq!(
        ProbeContext::arg_source(Provider::Rawtracepoint),
        ArgSource::Raw
    );
    assert_eq!(
        ProbeContext::arg_source(Provider::Tracepoint),
        ArgSource::None
    );
    let (_, errors) = lower(
        "uprobe:/bin/true:main { @ = arg0 + arg5; } uretprobe:/bin/true:main { @r = retval; }",
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn loops_strings_and_positional_parameters_compile() {
    let (_, errors) = lower(
        "BEGIN { $s = $2; if ($s == \"text\") { @p = $1; } \
         for ($i : 0..$1) { if ($i == 3) { break; } @n = count(); } \
         $j = 0; while ($j < 3) { $j++; } @t = strncmp(comm, \"ks\", 2); @len = strlen($s); }",
    );
    assert!(errors.is_empty(), "{errors:?}");
}

/// Lowers and compiles every probe; returns the plan and the instructions of all of them.
fn lower_insns(src: &str) -> (Plan, Vec<kscope_bpf::insn::Insn>) {
    let file = SourceFile::new("-e", src);
    let checked = compile(&file, &Options::default(), &NoKernelTypes).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let mut insns = Vec::new();
    for (i, p) in checked.program.probes.iter().enumerate() {
        let c = ctx(&checked, i);
        let f = Lowerer::lower(&checked, &mut plan, &c, i, p).expect("lowers");
        let compiled = kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3)).expect("compiles");
        insns.extend(compiled.insns);
    }
    (plan, insns)
}

/// The calls of helper `id` among `insns`.
fn helper_calls(insns: &[kscope_bpf::insn::Insn], id: i32) -> usize {
    insns
        .iter()
        .filter(|i| i.code == 0x85 && i.src == 0 && i.imm == id)
        .count()
}

const GET_STACKID: i32 = 27;
const GET_STACK: i32 = 67;

#[test]
fn len_of_a_stack_walks_stacks_of_its_kind_a_second_time() {
    // No len(): stacks are taken once, with bpf_get_stackid only.
    let (plan, insns) = lower_insns("BEGIN { @k[kstack] = count(); @u[ustack] = count(); }");
    assert_eq!(helper_calls(&insns, GET_STACKID), 2);
    assert_eq!(helper_calls(&insns, GET_STACK), 0);
    assert_eq!(plan.frames_buf, None);
    // len(kstack): every kernel stack also counts its frames (user stacks do not).
    let (plan, insns) =
        lower_insns("BEGIN { @k[kstack] = count(); @u[ustack] = count(); @n = len(kstack); }");
    assert_eq!(helper_calls(&insns, GET_STACKID), 3);
    assert_eq!(helper_calls(&insns, GET_STACK), 2);
    let buf = plan.frames_buf.expect("a frame buffer");
    let spec = &plan.specs()[buf.0 as usize];
    assert_eq!(
        (
            spec.map_type,
            spec.key_size,
            spec.value_size,
            spec.max_entries
        ),
        (kscope_bpf::MapType::PercpuArray, 4, 127 * 8, 1)
    );
    // len($s) of a user stack variable: the count travels in the stack word.
    let (_, insns) = lower_insns("BEGIN { $s = ustack(3); @n = len($s); @k[kstack] = 1; }");
    assert_eq!(helper_calls(&insns, GET_STACK), 1);
}

#[test]
fn ustack_build_id_gets_stack_maps_of_build_ids() {
    use kscope_runtime::plan::StackMap;
    let (plan, _) = lower_insns(
        "BEGIN { @a[ustack] = 1; @b[ustack(build_id)] = 1; @c[ustack(build_id, 30)] = 1; \
         @d[ustack(build_id, 30)] = 2; }",
    );
    let maps: Vec<(bool, u32, bool)> = plan
        .stack_maps
        .iter()
        .map(|m: &StackMap| (m.user, m.depth, m.build_id))
        .collect();
    assert_eq!(
        maps,
        [(true, 127, false), (true, 127, true), (true, 30, true)]
    );
    let specs = plan.specs();
    let b = &specs[plan.stack_maps[1].id.0 as usize];
    assert_eq!((b.value_size, b.flags), (127 * 32, 1 << 5));
    assert_eq!(b.name, "ks_ustackb127");
    let c = &specs[plan.stack_maps[2].id.0 as usize];
    assert_eq!((c.value_size, c.flags), (30 * 32, 1 << 5));
    let a = &specs[plan.stack_maps[0].id.0 as usize];
    assert_eq!((a.value_size, a.flags), (127 * 8, 0));
}
