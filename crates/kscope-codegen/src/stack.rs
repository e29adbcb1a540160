//! Stack slot sharing: slots whose lifetimes do not overlap get the same bytes of the
//! frame, so that a long probe (many string temporaries, map keys, tuples) fits the
//! kernel's 512 bytes.
//!
//! A slot's lifetime is the span of instruction indexes from its first to its last
//! reference, where a reference is a `Base::Slot` access or any use or definition of a
//! register that may hold an address inside it (from `SlotAddr`, through `Mov` and ALU
//! operations). It is widened to cover every loop (a backward jump and its target) it
//! overlaps, so a value carried around a loop keeps its bytes. A slot whose address is
//! stored to memory is live for the whole function.

use crate::ir::{Base, Function, Label, Op, Operand};

/// A slot that lives for the whole function.
fn whole(f: &Function) -> (usize, usize) {
    (0, f.insts.len().saturating_sub(1))
}

/// The lifetime `(first, last)` instruction index of each slot (`None`: never used).
pub fn lifetimes(f: &Function) -> Vec<Option<(usize, usize)>> {
    let nslots = f.slots.len();
    let nregs = f.widths.len();
    // Which slots each register may point into.
    let mut taint: Vec<Vec<u32>> = vec![Vec::new(); nregs];
    let mut changed = true;
    while changed {
        changed = false;
        for inst in &f.insts {
            let (dst, from): (_, Vec<u32>) = match &inst.op {
                Op::SlotAddr { dst, slot, .. } => (*dst, vec![slot.0]),
                Op::Mov {
                    dst,
                    src: Operand::Reg(s),
                }
                | Op::Alu {
                    dst,
                    src: Operand::Reg(s),
                    ..
                } => (*dst, taint[s.index()].clone()),
                _ => continue,
            };
            for s in from {
                if !taint[dst.index()].contains(&s) {
                    taint[dst.index()].push(s);
                    changed = true;
                }
            }
        }
    }
    let mut life: Vec<Option<(usize, usize)>> = vec![None; nslots];
    let mut escaped = vec![false; nslots];
    let touch = |life: &mut Vec<Option<(usize, usize)>>, s: u32, i: usize| {
        let e = &mut life[s as usize];
        *e = Some(match *e {
            None => (i, i),
            Some((a, b)) => (a.min(i), b.max(i)),
        });
    };
    for (i, inst) in f.insts.iter().enumerate() {
        match &inst.op {
            Op::Load {
                base: Base::Slot(s),
                ..
            }
            | Op::Store {
                base: Base::Slot(s),
                ..
            }
            | Op::SlotAddr { slot: s, .. } => touch(&mut life, s.0, i),
            _ => {}
        }
        if let Op::Store {
            src: Operand::Reg(v),
            ..
        } = &inst.op
        {
            for &s in &taint[v.index()] {
                escaped[s as usize] = true;
            }
        }
        for r in inst.op.uses().into_iter().chain(inst.op.def()) {
            for &s in &taint[r.index()] {
                touch(&mut life, s, i);
            }
        }
    }
    // Loops: a backward jump at `j` to the label at `t`.
    let mut label_at = std::collections::HashMap::<Label, usize>::new();
    for (i, inst) in f.insts.iter().enumerate() {
        if let Op::Label(l) = inst.op {
            label_at.insert(l, i);
        }
    }
    let loops: Vec<(usize, usize)> = f
        .insts
        .iter()
        .enumerate()
        .filter_map(|(j, inst)| match inst.op {
            Op::Jmp { target } | Op::JmpIf { target, .. } => {
                label_at.get(&target).filter(|&&t| t <= j).map(|&t| (t, j))
            }
            _ => None,
        })
        .collect();
    for (k, l) in life.iter_mut().enumerate() {
        if escaped[k] {
            *l = Some(whole(f));
            continue;
        }
        let Some((mut a, mut b)) = *l else {
            continue;
        };
        let mut grew = true;
        while grew {
            grew = false;
            for &(t, j) in &loops {
                if a <= j && t <= b && (t < a || j > b) {
                    a = a.min(t);
                    b = b.max(j);
                    grew = true;
                }
            }
        }
        *l = Some((a, b));
    }
    life
}

/// Frame offsets (bytes below `r10`, positive) for slots of `sizes` (multiples of 8)
/// with `lifetimes`: first fit, in order of first use; returns the offsets (the slot
/// occupies `[off - size, off)` below `r10`) and the bytes used.
pub fn assign(sizes: &[u32], lifetimes: &[Option<(usize, usize)>]) -> (Vec<u32>, u32) {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| (lifetimes[i].map_or(usize::MAX, |l| l.0), i));
    let mut placed: Vec<(usize, u32)> = Vec::new(); // (slot, start byte)
    let mut start = vec![0u32; sizes.len()];
    let mut used = 0u32;
    for i in order {
        let size = sizes[i];
        let live = lifetimes[i];
        // Byte ranges taken by slots alive at the same time.
        let mut busy: Vec<(u32, u32)> = placed
            .iter()
            .filter(|&&(j, _)| match (live, lifetimes[j]) {
                (Some((a, b)), Some((c, d))) => a <= d && c <= b,
                // An unused slot still gets its own bytes (never read).
                _ => true,
            })
            .map(|&(j, s)| (s, s + sizes[j]))
            .collect();
        busy.sort();
        let mut at = 0u32;
        for (s, e) in busy {
            if at + size <= s {
                break;
            }
            at = at.max(e);
        }
        start[i] = at;
        placed.push((i, at));
        used = used.max(at + size);
    }
    (start.iter().zip(sizes).map(|(s, z)| s + z).collect(), used)
}
