//! Disassembly snapshots of fixed programs (in the verifier log's format), and the
//! errors of code generation: stack over 512 bytes, broken IR, spans and relocations.

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self, Field};
use kscope_codegen::{Builder, CodegenError, Compiled, MapId, Span, VReg, Width, compile};

fn build(b: Builder) -> Compiled {
    compile(&b.finish(), &|m: MapId| Some(3 + m.0 as i32)).unwrap_or_else(|e| panic!("{e}"))
}

fn arith() -> Compiled {
    let mut b = Builder::new();
    let ctx = b.ctx();
    let x = b.load(Size::DW, Base::Reg(ctx), 0);
    let y = b.load(Size::DW, Base::Reg(ctx), 8);
    let s = b.binop(AluOp::Add, x, 5);
    let p = b.binop(AluOp::Mul, s, y);
    b.exit(p);
    build(b)
}

fn count_by_pid() -> Compiled {
    let mut b = Builder::new();
    let p = lower::pid(&mut b);
    let k = b.slot(8);
    b.store(Size::DW, Base::Slot(k), 0, p);
    let kp = b.slot_addr(k, 0);
    lower::count(&mut b, MapId(0), kp);
    b.exit(0);
    build(b)
}

fn printf_record() -> Compiled {
    let mut b = Builder::new();
    let p = lower::pid(&mut b);
    let c = lower::cpu(&mut b);
    lower::ringbuf_output(
        &mut b,
        MapId(0),
        MapId(1),
        2,
        &[Field::Value(p, Width::W32), Field::Value(c, Width::W32)],
    );
    b.exit(0);
    build(b)
}

/// Twelve values live across a helper call: four fit r6-r9, the rest are spilled.
fn spilling() -> Compiled {
    let mut b = Builder::new();
    let ctx = b.ctx();
    let vals: Vec<VReg> = (0..12)
        .map(|i| b.load(Size::DW, Base::Reg(ctx), i * 8))
        .collect();
    b.call_void(kscope_codegen::helper::KTIME_GET_NS, &[]);
    let acc = b.imm(0);
    for v in &vals {
        b.alu(AluOp::Add, acc, *v);
    }
    b.exit(acc);
    build(b)
}

#[test]
fn snapshot_arith() {
    assert_eq!(
        arith().disassemble(),
        "\
0: (bf) r0 = r1
1: (79) r1 = *(u64 *)(r0 +0)
2: (79) r0 = *(u64 *)(r0 +8)
3: (07) r1 += 5
4: (2f) r1 *= r0
5: (bf) r0 = r1
6: (95) exit
"
    );
}

#[test]
fn snapshot_count() {
    assert_eq!(
        count_by_pid().disassemble(),
        "\
0: (85) call bpf_get_current_pid_tgid#14
1: (77) r0 >>= 32
2: (7b) *(u64 *)(r10 -8) = r0
3: (bf) r6 = r10
4: (07) r6 += -8
5: (18) r1 = map[fd:3]
7: (bf) r2 = r6
8: (85) call bpf_map_lookup_elem#1
9: (15) if r0 == 0x0 goto pc+4
10: (79) r1 = *(u64 *)(r0 +0)
11: (07) r1 += 1
12: (7b) *(u64 *)(r0 +0) = r1
13: (05) goto pc+19
14: (7a) *(u64 *)(r10 -16) = 1
15: (bf) r3 = r10
16: (07) r3 += -16
17: (18) r1 = map[fd:3]
19: (b7) r0 = 1
20: (bf) r2 = r6
21: (bf) r4 = r0
22: (85) call bpf_map_update_elem#2
23: (15) if r0 == 0xffffffef goto pc+1
24: (05) goto pc+8
25: (18) r1 = map[fd:3]
27: (bf) r2 = r6
28: (85) call bpf_map_lookup_elem#1
29: (15) if r0 == 0x0 goto pc+3
30: (79) r1 = *(u64 *)(r0 +0)
31: (07) r1 += 1
32: (7b) *(u64 *)(r0 +0) = r1
33: (b7) r0 = 0
34: (95) exit
"
    );
}

#[test]
fn snapshot_printf() {
    assert_eq!(
        printf_record().disassemble(),
        "\
0: (85) call bpf_get_current_pid_tgid#14
1: (bf) r6 = r0
2: (77) r6 >>= 32
3: (85) call bpf_get_smp_processor_id#8
4: (bf) r7 = r0
5: (18) r1 = map[fd:3]
7: (b7) r2 = 16
8: (b7) r3 = 0
9: (85) call bpf_ringbuf_reserve#131
10: (bf) r1 = r0
11: (15) if r1 == 0x0 goto pc+6
12: (7a) *(u64 *)(r1 +0) = 2
13: (63) *(u32 *)(r1 +8) = r6
14: (63) *(u32 *)(r1 +12) = r7
15: (b7) r2 = 0
16: (85) call bpf_ringbuf_submit#132
17: (05) goto pc+10
18: (62) *(u32 *)(r10 -8) = 0
19: (bf) r2 = r10
20: (07) r2 += -8
21: (18) r1 = map[fd:4]
23: (85) call bpf_map_lookup_elem#1
24: (15) if r0 == 0x0 goto pc+3
25: (79) r1 = *(u64 *)(r0 +0)
26: (07) r1 += 1
27: (7b) *(u64 *)(r0 +0) = r1
28: (b7) r0 = 0
29: (95) exit
"
    );
}

#[test]
fn snapshot_spill() {
    assert_eq!(
        spilling().disassemble(),
        "\
0: (bf) r0 = r1
1: (79) r6 = *(u64 *)(r0 +0)
2: (79) r7 = *(u64 *)(r0 +8)
3: (79) r8 = *(u64 *)(r0 +16)
4: (79) r9 = *(u64 *)(r0 +24)
5: (79) r4 = *(u64 *)(r0 +32)
6: (7b) *(u64 *)(r10 -8) = r4
7: (79) r4 = *(u64 *)(r0 +40)
8: (7b) *(u64 *)(r10 -16) = r4
9: (79) r4 = *(u64 *)(r0 +48)
10: (7b) *(u64 *)(r10 -24) = r4
11: (79) r4 = *(u64 *)(r0 +56)
12: (7b) *(u64 *)(r10 -32) = r4
13: (79) r4 = *(u64 *)(r0 +64)
14: (7b) *(u64 *)(r10 -40) = r4
15: (79) r4 = *(u64 *)(r0 +72)
16: (7b) *(u64 *)(r10 -48) = r4
17: (79) r4 = *(u64 *)(r0 +80)
18: (7b) *(u64 *)(r10 -56) = r4
19: (79) r4 = *(u64 *)(r0 +88)
20: (7b) *(u64 *)(r10 -64) = r4
21: (85) call bpf_ktime_get_ns#5
22: (b7) r0 = 0
23: (0f) r0 += r6
24: (0f) r0 += r7
25: (0f) r0 += r8
26: (0f) r0 += r9
27: (79) r5 = *(u64 *)(r10 -8)
28: (0f) r0 += r5
29: (79) r5 = *(u64 *)(r10 -16)
30: (0f) r0 += r5
31: (79) r5 = *(u64 *)(r10 -24)
32: (0f) r0 += r5
33: (79) r5 = *(u64 *)(r10 -32)
34: (0f) r0 += r5
35: (79) r5 = *(u64 *)(r10 -40)
36: (0f) r0 += r5
37: (79) r5 = *(u64 *)(r10 -48)
38: (0f) r0 += r5
39: (79) r5 = *(u64 *)(r10 -56)
40: (0f) r0 += r5
41: (79) r5 = *(u64 *)(r10 -64)
42: (0f) r0 += r5
43: (95) exit
"
    );
}

#[test]
fn every_instruction_has_the_span_it_came_from() {
    let mut b = Builder::new();
    b.set_span(Span::new(1, 4));
    let x = b.imm(1 << 40);
    let y = b.with_span(Span::new(5, 9), |b| b.binop(AluOp::Add, x, 2));
    b.set_span(Span::new(10, 12));
    let m = b.map_ptr(MapId(1));
    let s = b.binop(AluOp::Add, y, m);
    b.exit(s);
    let c = build(b);
    assert_eq!(c.insns.len(), c.spans.len());
    // ld_imm64 (2), add (the copy lands in the same register), ld_imm64 map (2), add,
    // exit; the unused context is not saved.
    let want = [
        Span::new(1, 4),
        Span::new(1, 4),
        Span::new(5, 9),
        Span::new(10, 12),
        Span::new(10, 12),
    ];
    assert_eq!(&c.spans[..want.len()], &want, "\n{}", c.disassemble());
    assert!(
        c.spans[want.len()..]
            .iter()
            .all(|s| *s == Span::new(10, 12))
    );
    assert_eq!(c.map_relocs, vec![(3, MapId(1))]);
    assert_eq!(c.insns[3].imm, 4, "map fd of MapId(1)");
    assert_eq!(c.span_at(2), Some(Span::new(5, 9)));
    let mut patched = c.clone();
    patched
        .patch_maps(&|m| (m == MapId(1)).then_some(42))
        .unwrap();
    assert_eq!(patched.insns[3].imm, 42);
    assert!(patched.patch_maps(&|_| None).is_err());
    assert_eq!(c.span_at(1000), None);
    let log = "3: (18) r1 = map[fd:4]\nR1 type=map_ptr expected=fp\nprocessed 6 insns";
    let r = c.rejection(log).unwrap();
    assert_eq!((r.insn, r.span), (3, Span::new(10, 12)));
    assert_eq!(r.message, "R1 type=map_ptr expected=fp");
}

#[test]
fn stack_over_512_bytes_names_the_biggest_user() {
    let mut b = Builder::new();
    b.set_span(Span::new(0, 3));
    let a = b.slot(100);
    b.set_span(Span::new(4, 20));
    let big = b.slot(400);
    b.set_span(Span::new(21, 30));
    let c = b.slot(16);
    for s in [a, big, c] {
        b.zero_slot(s, 0, 8);
    }
    // All three are alive at once (read after all were written).
    let acc = b.imm(0);
    for s in [a, big, c] {
        let v = b.load(Size::DW, Base::Slot(s), 0);
        b.alu(AluOp::Add, acc, v);
    }
    b.exit(acc);
    let err = compile(&b.finish(), &|_| None).unwrap_err();
    match &err {
        CodegenError::StackTooLarge { used, span, bytes } => {
            assert_eq!(
                (*used, *span, *bytes),
                (104 + 400 + 16, Span::new(4, 20), 400)
            );
        }
        e => panic!("{e}"),
    }
    assert_eq!(err.span(), Some(Span::new(4, 20)));
    assert!(err.to_string().contains("520 bytes"), "{err}");

    // Exactly 512 is allowed.
    let mut b = Builder::new();
    let s = b.slot(512);
    b.zero_slot(s, 0, 512);
    b.exit(0);
    assert_eq!(compile(&b.finish(), &|_| None).unwrap().stack_size, 512);
}

/// Slots alive at different times share bytes: two 400-byte temporaries used one after
/// the other fit in 400 bytes; one used around a loop keeps its bytes through the loop.
#[test]
fn slots_with_disjoint_lifetimes_share_the_stack() {
    let mut b = Builder::new();
    let x = b.slot(400);
    b.zero_slot(x, 0, 400);
    let v = b.load(Size::DW, Base::Slot(x), 392);
    let y = b.slot(400);
    b.store(Size::DW, Base::Slot(y), 0, v);
    let p = b.slot_addr(y, 0);
    let w = b.load(Size::DW, Base::Reg(p), 0);
    b.exit(w);
    let c = compile(&b.finish(), &|_| None).unwrap();
    assert_eq!(c.stack_size, 400);

    // `keep` is written before a loop and read after it: a slot used only inside the
    // loop gets other bytes.
    let mut b = Builder::new();
    let keep = b.slot(8);
    b.store(Size::DW, Base::Slot(keep), 0, 7);
    let i = b.imm(0);
    let head = b.label();
    let done = b.label();
    b.place(head);
    b.jmp_if(JmpOp::Sge, i, 4, done);
    let tmp = b.slot(8);
    b.store(Size::DW, Base::Slot(tmp), 0, i);
    let t = b.load(Size::DW, Base::Slot(tmp), 0);
    b.alu(AluOp::Add, i, 1);
    b.alu(AluOp::Add, i, t);
    b.jmp(head);
    b.place(done);
    let k = b.load(Size::DW, Base::Slot(keep), 0);
    b.exit(k);
    let c = compile(&b.finish(), &|_| None).unwrap();
    assert_eq!(c.stack_size, 16);
}

#[test]
fn spills_count_towards_the_stack() {
    let mut b = Builder::new();
    let s = b.slot(480);
    b.zero_slot(s, 0, 8);
    let ctx = b.ctx();
    b.set_span(Span::new(7, 8));
    let vals: Vec<VReg> = (0..12)
        .map(|i| b.load(Size::DW, Base::Reg(ctx), i * 8))
        .collect();
    b.call_void(kscope_codegen::helper::KTIME_GET_NS, &[]);
    let acc = b.imm(0);
    for v in &vals {
        b.alu(AluOp::Add, acc, *v);
    }
    b.exit(acc);
    let err = compile(&b.finish(), &|_| None).unwrap_err();
    assert!(
        matches!(err, CodegenError::StackTooLarge { used: 544, .. }),
        "{err}"
    );
}

#[test]
fn broken_ir_is_an_error_not_a_panic() {
    let expect = |b: Builder, what: &str| {
        let e = compile(&b.finish(), &|_| None).unwrap_err();
        assert!(matches!(e, CodegenError::InvalidIr { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    let b = Builder::new();
    expect(b, "run off its end");

    let mut b = Builder::new();
    let l = b.label();
    b.jmp(l);
    expect(b, "never placed");

    let mut b = Builder::new();
    let l = b.label();
    b.place(l);
    b.place(l);
    b.exit(0);
    expect(b, "placed twice");

    let mut b = Builder::new();
    let x = b.imm(1);
    b.call(1, &[x, x, x, x, x, x]);
    b.exit(0);
    expect(b, "at most 5 arguments");

    let mut b = Builder::new();
    let v = b.vreg(Width::W64);
    b.set_span(Span::new(3, 4));
    b.exit(v);
    let e = compile(&b.finish(), &|_| None).unwrap_err();
    assert!(e.to_string().contains("read before it is written"), "{e}");
    assert_eq!(e.span(), Some(Span::new(3, 4)));

    let mut b = Builder::new();
    let v = b.imm(1);
    b.alu(AluOp::Lsh, v, 64);
    b.exit(v);
    expect(b, "out of range");

    let mut b = Builder::new();
    let m = b.map_ptr(MapId(9));
    b.exit(m);
    let e = compile(&b.finish(), &|_| None).unwrap_err();
    assert!(matches!(e, CodegenError::UnknownMap { .. }), "{e}");
}

/// A value defined in only one branch but read after the join is refused.
#[test]
fn maybe_unset_register_is_refused() {
    let mut b = Builder::new();
    let ctx = b.ctx();
    let x = b.load(Size::DW, Base::Reg(ctx), 0);
    let v = b.vreg(Width::W64);
    let skip = b.label();
    b.jmp_if(JmpOp::Eq, x, 0, skip);
    b.mov(v, 1);
    b.place(skip);
    b.exit(v);
    let e = compile(&b.finish(), &|_| None).unwrap_err();
    assert!(e.to_string().contains("read before it is written"), "{e}");
}

fn two_functions() -> Compiled {
    use kscope_codegen::{FuncId, Options, compile_program};
    let mut s = Builder::subprogram(2);
    let (a, b2) = (s.params()[0], s.params()[1]);
    let r = s.binop(AluOp::Sub, a, b2);
    s.exit(r);
    let mut m = Builder::new();
    let ctx = m.ctx();
    let x = m.load(Size::DW, Base::Reg(ctx), 0);
    let y = m.load(Size::DW, Base::Reg(ctx), 8);
    let r = m.call_sub(FuncId(1), &[y, x]);
    m.alu(AluOp::Add, r, x);
    m.exit(r);
    // An uncalled subprogram is left out.
    let mut unused = Builder::subprogram(0);
    unused.exit(7);
    compile_program(
        &[m.finish(), s.finish(), unused.finish()],
        &|_| None,
        &Options::default(),
    )
    .unwrap()
}

#[test]
fn snapshot_subprogram() {
    assert_eq!(
        two_functions().disassemble(),
        "\
0: (bf) r0 = r1
1: (79) r6 = *(u64 *)(r0 +0)
2: (79) r1 = *(u64 *)(r0 +8)
3: (bf) r2 = r6
4: (85) call pc+2
5: (0f) r0 += r6
6: (95) exit
7: (1f) r1 -= r2
8: (bf) r0 = r1
9: (95) exit
"
    );
}

#[test]
fn subprogram_errors() {
    use kscope_codegen::{FuncId, Options, compile_program};
    // Recursion.
    let mut m = Builder::new();
    let r = m.call_sub(FuncId(1), &[]);
    m.exit(r);
    let mut s = Builder::subprogram(0);
    s.set_span(Span::new(9, 10));
    let r = s.call_sub(FuncId(1), &[]);
    s.exit(r);
    let e = compile_program(&[m.finish(), s.finish()], &|_| None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("recursively"), "{e}");
    assert_eq!(e.span(), Some(Span::new(9, 10)));

    // Unknown subprogram.
    let mut m = Builder::new();
    let r = m.call_sub(FuncId(5), &[]);
    m.exit(r);
    let e = compile_program(&[m.finish()], &|_| None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("unknown subprogram"), "{e}");

    // Stack over a chain: 304 + 320 bytes, each frame rounded up to 32: 640.
    let mut m = Builder::new();
    m.set_span(Span::new(0, 1));
    let a = m.slot(300);
    m.zero_slot(a, 0, 8);
    let r = m.call_sub(FuncId(1), &[]);
    m.exit(r);
    let mut s = Builder::subprogram(0);
    s.set_span(Span::new(2, 3));
    let b = s.slot(320);
    s.zero_slot(b, 0, 8);
    s.exit(0);
    let e = compile_program(&[m.finish(), s.finish()], &|_| None, &Options::default()).unwrap_err();
    match e {
        CodegenError::StackTooLarge { used, span, bytes } => {
            assert_eq!((used, span, bytes), (320 + 320, Span::new(2, 3), 320));
        }
        e => panic!("{e}"),
    }

    // Parameters are only read on entry.
    let mut s = Builder::subprogram(1);
    let x = s.imm(1);
    let p = s.vreg(Width::W64);
    s.push(kscope_codegen::ir::Op::Param { dst: p, index: 1 });
    let r = s.binop(AluOp::Add, x, p);
    s.exit(r);
    let mut m = Builder::new();
    let one = m.imm(1);
    let r = m.call_sub(FuncId(1), &[one]);
    m.exit(r);
    let e = compile_program(&[m.finish(), s.finish()], &|_| None, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("only read on entry"), "{e}");
}

/// Random, mostly broken IR: compiling it returns a result (an error or a program),
/// never panics.
#[test]
fn random_ir_never_panics() {
    use kscope_codegen::ir::{Function, Inst, Op, Operand};
    use kscope_codegen::{FuncId, Label, Options, Slot, compile_program};
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let mut ok = 0;
    for _ in 0..3000 {
        let mut b = Builder::new();
        let nv = 1 + next(12) as usize;
        let regs: Vec<VReg> = (0..nv).map(|_| b.vreg(Width::W64)).collect();
        let labels: Vec<Label> = (0..3).map(|_| b.label()).collect();
        let slots: Vec<Slot> = (0..2).map(|_| b.slot(next(600) as u32)).collect();
        let mut f: Function = b.finish();
        let r = |n: &mut dyn FnMut(u64) -> u64| regs[n(nv as u64) as usize];
        for _ in 0..next(30) {
            let opnd = |n: &mut dyn FnMut(u64) -> u64| {
                if n(2) == 0 {
                    Operand::Imm(n(200) as i32 - 100)
                } else {
                    Operand::Reg(regs[n(nv as u64) as usize])
                }
            };
            let base = |n: &mut dyn FnMut(u64) -> u64| {
                if n(2) == 0 {
                    Base::Slot(slots[n(2) as usize])
                } else {
                    Base::Reg(regs[n(nv as u64) as usize])
                }
            };
            let op = match next(11) {
                0 => Op::Mov {
                    dst: r(&mut next),
                    src: opnd(&mut next),
                },
                1 => Op::Alu {
                    op: AluOp::Add,
                    alu32: next(2) == 0,
                    dst: r(&mut next),
                    src: opnd(&mut next),
                },
                2 => Op::Alu {
                    op: AluOp::Lsh,
                    alu32: false,
                    dst: r(&mut next),
                    src: Operand::Imm(next(80) as i32),
                },
                3 => Op::Load {
                    size: Size::DW,
                    dst: r(&mut next),
                    base: base(&mut next),
                    off: next(16) as i16 - 8,
                },
                4 => Op::Store {
                    size: Size::W,
                    base: base(&mut next),
                    off: 0,
                    src: opnd(&mut next),
                },
                5 => Op::Call {
                    helper: 5,
                    kfunc: false,
                    args: (0..next(7)).map(|_| r(&mut next)).collect(),
                    ret: Some(r(&mut next)),
                },
                6 => Op::CallSub {
                    func: FuncId(next(3) as u32),
                    args: vec![],
                    ret: None,
                },
                7 => Op::Jmp {
                    target: labels[next(3) as usize],
                },
                8 => Op::JmpIf {
                    op: JmpOp::Eq,
                    a: r(&mut next),
                    b: opnd(&mut next),
                    target: labels[next(3) as usize],
                },
                9 => Op::Label(labels[next(3) as usize]),
                _ => Op::Exit {
                    value: opnd(&mut next),
                },
            };
            f.insts.push(Inst {
                op,
                span: Span::new(0, 1),
            });
        }
        let mut sub = Builder::subprogram(next(3) as u8);
        let p = sub.params().first().copied();
        match p {
            Some(p) => sub.exit(p),
            None => sub.exit(0),
        }
        if compile_program(&[f, sub.finish()], &|_| Some(3), &Options::default()).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 0, "no random program was valid");
}

/// A helper callback: its address is an `ld_imm64` with `BPF_PSEUDO_FUNC` whose immediate
/// is the distance to the callback, and the program gets one BTF `FUNC` per function.
#[test]
fn snapshot_callback_address() {
    use kscope_codegen::{FuncId, Options, compile_program};
    let mut cb = Builder::subprogram(4);
    let v = cb.load(Size::DW, Base::Reg(cb.params()[2]), 0);
    cb.store(Size::DW, Base::Reg(cb.params()[3]), 0, v);
    cb.exit(0);
    let mut m = Builder::new();
    let s = m.slot(8);
    m.store(Size::DW, Base::Slot(s), 0, 0);
    let mp = m.map_ptr(MapId(0));
    let fp = m.func_ptr(FuncId(1));
    let cp = m.slot_addr(s, 0);
    let fl = m.imm(0);
    let n = m.call(164, &[mp, fp, cp, fl]);
    m.exit(n);
    let c = compile_program(
        &[m.finish(), cb.finish()],
        &|_| Some(7),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        c.disassemble(),
        "\
0: (7a) *(u64 *)(r10 -8) = 0
1: (18) r1 = map[fd:7]
3: (18) r2 = func pc+7
5: (bf) r3 = r10
6: (07) r3 += -8
7: (b7) r0 = 0
8: (bf) r4 = r0
9: (85) call bpf_for_each_map_elem#164
10: (95) exit
11: (bf) r0 = r4
12: (79) r1 = *(u64 *)(r3 +0)
13: (7b) *(u64 *)(r0 +0) = r1
14: (b7) r0 = 0
15: (95) exit
"
    );
    assert_eq!(c.func_starts, vec![0, 11]);
    let btf = kscope_codegen::btf::func_btf(&c.func_starts, &c.func_params);
    assert_eq!(btf.funcs, vec![(0, 4), (11, 6)]);
}
