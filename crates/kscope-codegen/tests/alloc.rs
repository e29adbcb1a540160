//! Register allocation under pressure, checked by running the generated code in the rbpf
//! interpreter against a Rust reference: seeded random expression trees with more values
//! live at once than there are registers, helper calls (after which r1-r5 are poisoned),
//! branches and loops.

mod support;

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::{Builder, Span, VReg};
use support::expr::{E, INPUTS, eval, fold, fold_ref, gen_expr, inputs, lower};
use support::{MIX, Rng, SUM5, build, mix, run, sum5};

#[test]
fn random_expression_trees_match_the_reference() {
    let mut total_spilled = 0;
    for seed in 0..300u64 {
        let mut r = Rng::new(seed);
        let nvars = 6 + r.below(20) as usize;
        let exprs: Vec<E> = (0..nvars).map(|i| gen_expr(&mut r, 3, i)).collect();
        let last = gen_expr(&mut r, 4, nvars);

        let mut b = Builder::new();
        let ctx = b.ctx();
        let mut vars = Vec::new();
        for (i, e) in exprs.iter().enumerate() {
            b.set_span(Span::new(i as u32, i as u32 + 1));
            let v = lower(&mut b, e, ctx, &vars);
            vars.push(v);
        }
        let l = lower(&mut b, &last, ctx, &vars);
        let acc = fold(&mut b, &vars);
        b.alu(AluOp::Xor, acc, l);
        b.exit(acc);
        let prog = build(&b.finish());
        total_spilled += prog.spilled;

        let (ins, mut mem) = inputs(&mut r);
        let mut vals = Vec::new();
        for e in &exprs {
            let v = eval(e, &ins, &vals);
            vals.push(v);
        }
        let want = fold_ref(&vals) ^ eval(&last, &ins, &vals);
        let got = run(&prog, &mut mem);
        assert_eq!(
            got,
            want,
            "seed {seed}\n{:#?}\n{}",
            exprs,
            prog.disassemble()
        );
    }
    // The point of the test: values did not fit the registers.
    assert!(
        total_spilled > 300,
        "only {total_spilled} spills in 300 programs"
    );
}

/// Twenty values live across a loop whose body calls helpers and branches.
#[test]
fn values_live_across_a_loop_with_calls() {
    for seed in 0..40u64 {
        let mut r = Rng::new(1000 + seed);
        let n = 20;
        let iters = 1 + r.below(30) as i32;
        let (ins, mut mem) = inputs(&mut r);

        let mut b = Builder::new();
        let ctx = b.ctx();
        let vars: Vec<VReg> = (0..n)
            .map(|i| {
                let x = b.load(Size::DW, Base::Reg(ctx), ((i % INPUTS) * 8) as i16);
                b.binop(AluOp::Add, x, i as i32 * 7)
            })
            .collect();
        let acc = b.imm(1);
        let i = b.imm(0);
        let head = b.label();
        let end = b.label();
        let odd = b.label();
        let next = b.label();
        b.place(head);
        b.jmp_if(JmpOp::Sge, i, iters, end);
        let m = b.call(MIX, &[acc, vars[0], vars[7], i, vars[19]]);
        b.jmp_if(JmpOp::Set, i, 1, odd);
        b.alu(AluOp::Add, acc, m);
        b.jmp(next);
        b.place(odd);
        let s = b.call(SUM5, &[m, vars[3], vars[11], vars[15], acc]);
        b.alu(AluOp::Xor, acc, s);
        b.place(next);
        b.alu(AluOp::Add, i, 1);
        b.jmp(head);
        b.place(end);
        let f = fold(&mut b, &vars);
        b.alu(AluOp::Add, acc, f);
        b.exit(acc);
        let prog = build(&b.finish());
        assert!(prog.spilled > 0);

        let v: Vec<u64> = (0..n)
            .map(|k| ins[k % INPUTS].wrapping_add(k as u64 * 7))
            .collect();
        let mut acc = 1u64;
        for i in 0..iters as u64 {
            let m = mix(acc, v[0], v[7], i, v[19]);
            if i & 1 == 0 {
                acc = acc.wrapping_add(m);
            } else {
                acc ^= sum5(m, v[3], v[11], v[15], acc);
            }
        }
        let want = acc.wrapping_add(fold_ref(&v));
        assert_eq!(
            run(&prog, &mut mem),
            want,
            "seed {seed}\n{}",
            prog.disassemble()
        );
    }
}

/// A call whose arguments sit in each other's registers (a cycle in the argument moves).
#[test]
fn argument_moves_with_cycles() {
    for rot in 0..5usize {
        let mut b = Builder::new();
        let ctx = b.ctx();
        let vals: Vec<VReg> = (0..5)
            .map(|i| b.load(Size::DW, Base::Reg(ctx), (i * 8) as i16))
            .collect();
        let args: Vec<VReg> = (0..5).map(|k| vals[(k + rot) % 5]).collect();
        let r1 = b.call(MIX, &args);
        let args2: Vec<VReg> = (0..5).map(|k| vals[(5 - k + rot) % 5]).collect();
        let r2 = b.call(MIX, &args2);
        let out = b.binop(AluOp::Xor, r1, r2);
        b.exit(out);
        let prog = build(&b.finish());
        let ins: Vec<u64> = (0..5).map(|i| 1000 + i * 77).collect();
        let mut mem: Vec<u8> = ins.iter().flat_map(|x| x.to_ne_bytes()).collect();
        let g = |k: usize| ins[k];
        let a1: Vec<u64> = (0..5).map(|k| g((k + rot) % 5)).collect();
        let a2: Vec<u64> = (0..5).map(|k| g((5 - k + rot) % 5)).collect();
        let want = mix(a1[0], a1[1], a1[2], a1[3], a1[4]) ^ mix(a2[0], a2[1], a2[2], a2[3], a2[4]);
        assert_eq!(
            run(&prog, &mut mem),
            want,
            "rot {rot}\n{}",
            prog.disassemble()
        );
    }
}

/// bpftrace's hist and lhist bucket code, run for many values, matches the reference.
#[test]
fn hist_and_lhist_buckets_in_bpf() {
    use kscope_codegen::lower::{hist_bucket, hist_index, lhist_bucket, lhist_index};
    let mut values: Vec<i64> = vec![
        i64::MIN,
        -1,
        0,
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
        1023,
        1024,
        i64::MAX,
    ];
    // Every power of 2 and its neighbours: the edges of the log2 steps.
    for i in 0..63 {
        values.extend([(1i64 << i) - 1, 1i64 << i, (1i64 << i) + 1]);
    }
    let mut r = Rng::new(7);
    for _ in 0..300 {
        let shift = r.below(64);
        values.push((r.next() >> shift) as i64);
    }
    for k in 0..=5u32 {
        let mut b = Builder::new();
        let ctx = b.ctx();
        let v = b.load(Size::DW, Base::Reg(ctx), 0);
        let h = hist_bucket(&mut b, v, k);
        b.exit(h);
        let prog = build(&b.finish());
        for &x in &values {
            let mut mem = x.to_ne_bytes().to_vec();
            assert_eq!(run(&prog, &mut mem), hist_index(x, k), "hist({x}, {k})");
        }
    }
    for &(lo, hi, step) in &[(0i64, 100i64, 10i64), (-50, 50, 7), (0, 1 << 40, 1 << 33)] {
        let mut b = Builder::new();
        let ctx = b.ctx();
        let v = b.load(Size::DW, Base::Reg(ctx), 0);
        let h = lhist_bucket(&mut b, v, lo, hi, step);
        b.exit(h);
        let prog = build(&b.finish());
        for &x in values.iter().chain(&[lo - 1, lo, hi - 1, hi, hi + 1]) {
            let mut mem = x.to_ne_bytes().to_vec();
            assert_eq!(
                run(&prog, &mut mem),
                lhist_index(x, lo, hi, step),
                "lhist({x}, {lo}, {hi}, {step})"
            );
        }
    }
}
