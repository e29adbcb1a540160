//! Seeded random expression trees, their Rust reference, and their lowering.

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::{Builder, VReg};

use super::{MIX, Rng, SUM5, mix, sum5};

pub const INPUTS: usize = 8;

#[derive(Debug, Clone)]
pub enum E {
    Const(i64),
    Input(usize),
    Var(usize),
    Bin(AluOp, bool, Box<E>, Box<E>),
    Neg(Box<E>),
    Call(u32, Vec<E>),
    Sel(JmpOp, Box<E>, Box<E>, Box<E>, Box<E>),
}

pub const OPS: [AluOp; 11] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Div,
    AluOp::Mod,
    AluOp::Or,
    AluOp::And,
    AluOp::Xor,
    AluOp::Lsh,
    AluOp::Rsh,
    AluOp::Arsh,
];
pub const CMPS: [JmpOp; 11] = [
    JmpOp::Eq,
    JmpOp::Ne,
    JmpOp::Gt,
    JmpOp::Ge,
    JmpOp::Lt,
    JmpOp::Le,
    JmpOp::Sgt,
    JmpOp::Sge,
    JmpOp::Slt,
    JmpOp::Sle,
    JmpOp::Set,
];

pub fn gen_expr(r: &mut Rng, depth: u32, vars: usize) -> E {
    if depth == 0 || r.below(5) == 0 {
        return match r.below(4) {
            0 => E::Const(match r.below(3) {
                0 => r.below(16) as i64,
                1 => r.next() as i32 as i64,
                _ => r.next() as i64,
            }),
            1 if vars > 0 => E::Var(r.below(vars as u64) as usize),
            _ => E::Input(r.below(INPUTS as u64) as usize),
        };
    }
    let sub = |r: &mut Rng| Box::new(gen_expr(r, depth - 1, vars));
    match r.below(10) {
        0 => E::Neg(sub(r)),
        1 => {
            let h = if r.below(2) == 0 { MIX } else { SUM5 };
            let n = 1 + r.below(5) as usize;
            E::Call(h, (0..n).map(|_| gen_expr(r, depth - 1, vars)).collect())
        }
        2 => {
            let op = CMPS[r.below(CMPS.len() as u64) as usize];
            E::Sel(op, sub(r), sub(r), sub(r), sub(r))
        }
        _ => {
            let op = OPS[r.below(OPS.len() as u64) as usize];
            // rbpf leaves the upper half on a 32-bit modulo by zero where the kernel
            // zero-extends, so that one is left out.
            let alu32 = !matches!(op, AluOp::Arsh | AluOp::Mod) && r.below(4) == 0;
            E::Bin(op, alu32, sub(r), sub(r))
        }
    }
}

pub fn alu_ref(op: AluOp, alu32: bool, a: u64, b: u64) -> u64 {
    if alu32 {
        let (a, b) = (a as u32, b as u32);
        let v = match op {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b).unwrap_or(0),
            AluOp::Mod => a.checked_rem(b).unwrap_or(a),
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Xor => a ^ b,
            AluOp::Lsh => a << (b & 31),
            AluOp::Rsh => a >> (b & 31),
            _ => unreachable!(),
        };
        return v as u64;
    }
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => a.checked_div(b).unwrap_or(0),
        AluOp::Mod => a.checked_rem(b).unwrap_or(a),
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
        _ => unreachable!(),
    }
}

pub fn cmp_ref(op: JmpOp, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        JmpOp::Eq => a == b,
        JmpOp::Ne => a != b,
        JmpOp::Gt => a > b,
        JmpOp::Ge => a >= b,
        JmpOp::Lt => a < b,
        JmpOp::Le => a <= b,
        JmpOp::Sgt => sa > sb,
        JmpOp::Sge => sa >= sb,
        JmpOp::Slt => sa < sb,
        JmpOp::Sle => sa <= sb,
        JmpOp::Set => a & b != 0,
    }
}

/// Calls always get five arguments: the lowering pads with zeros.
pub fn call_ref(h: u32, a: &[u64]) -> u64 {
    let f = if h == MIX { mix } else { sum5 };
    f(a[0], a[1], a[2], a[3], a[4])
}

pub fn eval(e: &E, inputs: &[u64], vars: &[u64]) -> u64 {
    eval_with(e, inputs, vars, false)
}

/// The reference of [`lower_with`] with kernel calls.
pub fn eval_kernel(e: &E, inputs: &[u64], vars: &[u64]) -> u64 {
    eval_with(e, inputs, vars, true)
}

fn eval_with(e: &E, inputs: &[u64], vars: &[u64], kc: bool) -> u64 {
    match e {
        E::Const(c) => *c as u64,
        E::Input(i) => inputs[*i],
        E::Var(v) => vars[*v],
        E::Bin(op, w, a, b) => alu_ref(
            *op,
            *w,
            eval_with(a, inputs, vars, kc),
            eval_with(b, inputs, vars, kc),
        ),
        E::Neg(a) => eval_with(a, inputs, vars, kc).wrapping_neg(),
        E::Call(h, args) => {
            let mut v: Vec<u64> = args
                .iter()
                .map(|a| eval_with(a, inputs, vars, kc))
                .collect();
            v.resize(5, 0);
            if kc {
                call_ref(SUM5, &v)
            } else {
                call_ref(*h, &v)
            }
        }
        E::Sel(op, a, b, t, f) => {
            if cmp_ref(
                *op,
                eval_with(a, inputs, vars, kc),
                eval_with(b, inputs, vars, kc),
            ) {
                eval_with(t, inputs, vars, kc)
            } else {
                eval_with(f, inputs, vars, kc)
            }
        }
    }
}

pub fn lower(b: &mut Builder, e: &E, ctx: VReg, vars: &[VReg]) -> VReg {
    lower_with(b, e, ctx, vars, false)
}

/// With `kernel_calls`, a call node calls the real `bpf_ktime_get_ns` (which clobbers
/// r0-r5) and computes SUM5 of its arguments inline; evaluate it with [`eval_kernel`].
pub fn lower_with(b: &mut Builder, e: &E, ctx: VReg, vars: &[VReg], kc: bool) -> VReg {
    match e {
        E::Const(c) => b.imm(*c),
        E::Input(i) => b.load(Size::DW, Base::Reg(ctx), (*i * 8) as i16),
        E::Var(v) => vars[*v],
        E::Bin(op, w, a, rhs) => {
            let a = lower_with(b, a, ctx, vars, kc);
            let dst = b.copy(a);
            let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
            match (&**rhs, shift) {
                (E::Const(c), true) => {
                    let m = if *w { 31 } else { 63 };
                    emit_alu(b, *op, *w, dst, (*c & m) as i32);
                }
                (E::Const(c), false) if i32::try_from(*c).is_ok() && !*w => {
                    emit_alu(b, *op, *w, dst, *c as i32);
                }
                _ => {
                    let r = lower_with(b, rhs, ctx, vars, kc);
                    if shift {
                        let m = b.copy(r);
                        b.alu(AluOp::And, m, if *w { 31 } else { 63 });
                        emit_alu(b, *op, *w, dst, m);
                    } else {
                        emit_alu(b, *op, *w, dst, r);
                    }
                }
            }
            dst
        }
        E::Neg(a) => {
            let a = lower_with(b, a, ctx, vars, kc);
            let d = b.copy(a);
            b.alu(AluOp::Neg, d, 0);
            d
        }
        E::Call(h, args) => {
            let mut regs: Vec<VReg> = args
                .iter()
                .map(|a| lower_with(b, a, ctx, vars, kc))
                .collect();
            while regs.len() < 5 {
                regs.push(b.imm(0));
            }
            if kc {
                b.call_void(kscope_codegen::helper::KTIME_GET_NS, &[]);
                let acc = b.copy(regs[0]);
                for r in &regs[1..] {
                    b.alu(AluOp::Add, acc, *r);
                }
                acc
            } else {
                b.call(*h, &regs)
            }
        }
        E::Sel(op, x, y, t, f) => {
            let x = lower_with(b, x, ctx, vars, kc);
            let y = lower_with(b, y, ctx, vars, kc);
            let res = b.vreg(kscope_codegen::Width::W64);
            let yes = b.label();
            let done = b.label();
            b.jmp_if(*op, x, y, yes);
            let fv = lower_with(b, f, ctx, vars, kc);
            b.mov(res, fv);
            b.jmp(done);
            b.place(yes);
            let tv = lower_with(b, t, ctx, vars, kc);
            b.mov(res, tv);
            b.place(done);
            res
        }
    }
}

pub fn emit_alu(
    b: &mut Builder,
    op: AluOp,
    alu32: bool,
    dst: VReg,
    src: impl Into<kscope_codegen::Operand>,
) {
    if alu32 {
        b.alu32(op, dst, src);
    } else {
        b.alu(op, dst, src);
    }
}

/// `acc = acc * 31 + v` over all values, so that every one stays live to the end.
pub fn fold_ref(vals: &[u64]) -> u64 {
    vals.iter()
        .fold(17u64, |acc, v| acc.wrapping_mul(31).wrapping_add(*v))
}

pub fn fold(b: &mut Builder, vals: &[VReg]) -> VReg {
    let acc = b.imm(17);
    for v in vals {
        b.alu(AluOp::Mul, acc, 31);
        b.alu(AluOp::Add, acc, *v);
    }
    acc
}

pub fn inputs(r: &mut Rng) -> ([u64; INPUTS], Vec<u8>) {
    let mut ins = [0u64; INPUTS];
    for x in ins.iter_mut() {
        *x = match r.below(3) {
            0 => r.below(100),
            1 => r.next() as i32 as i64 as u64,
            _ => r.next(),
        };
    }
    let mem = ins.iter().flat_map(|x| x.to_ne_bytes()).collect();
    (ins, mem)
}
