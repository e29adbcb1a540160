//! `@m[keys] = tseries(v, interval_ns, num_intervals [, agg])`.
//!
//! The time (`CLOCK_TAI`, as upstream) divided by the interval is the epoch; the epoch
//! modulo the number of intervals is the bucket, appended to the map key. Each CPU's
//! bucket value is `{value, meta, epoch}` (see
//! [`tseries::Slot`](kscope_lang::output::tseries::Slot)):
//!
//! - no aggregation: `value = v`, `meta = now` (user space keeps the latest write);
//! - `sum`/`avg`/`min`/`max`: the bucket is reset when it held an older epoch, then
//!   `value += v` (`avg` also `meta += 1`), or the smaller/larger with `meta = 1` once set;
//! - then `epoch` is stored.
//!
//! A missing bucket is inserted with `BPF_NOEXIST` from a stack copy the update was
//! applied to; if another program inserted it meanwhile the update goes through the
//! existing value (see [`kscope_codegen::lower::update_in_place`]).

use kscope_codegen::VReg;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Miss};
use kscope_lang::ast::Expr;
use kscope_lang::output::tseries::SLOT_SIZE;
use kscope_lang::sema::TseriesAgg;
use kscope_lang::span::Span;

use super::*;
use crate::plan::ValueLayout;

/// The environment variable upstream's runtime tests set to a scalar map (`@ts`) whose
/// value `tseries()` takes as the time instead of the clock.
pub const DUMMY_TS_MAP_ENV: &str = "BPFTRACE_DUMMY_TS_MAP";

/// The registers one update needs.
#[derive(Clone, Copy)]
struct Update {
    agg: TseriesAgg,
    signed: bool,
    v: VReg,
    now: VReg,
    epoch: VReg,
}

impl Update {
    /// Applies the update to the bucket value at `base`.
    fn apply(self, b: &mut kscope_codegen::Builder, base: Base) {
        if self.agg != TseriesAgg::Last {
            // A bucket still holding an older interval starts again from nothing.
            let same = b.label();
            let old = b.load(Size::DW, base, 16);
            b.jmp_if(JmpOp::Eq, old, self.epoch, same);
            b.store(Size::DW, base, 0, 0);
            b.store(Size::DW, base, 8, 0);
            b.place(same);
        }
        match self.agg {
            TseriesAgg::Last => {
                b.store(Size::DW, base, 0, self.v);
                b.store(Size::DW, base, 8, self.now);
            }
            TseriesAgg::Sum | TseriesAgg::Avg => {
                let sum = b.load(Size::DW, base, 0);
                b.alu(AluOp::Add, sum, self.v);
                b.store(Size::DW, base, 0, sum);
                if self.agg == TseriesAgg::Avg {
                    let n = b.load(Size::DW, base, 8);
                    b.alu(AluOp::Add, n, 1);
                    b.store(Size::DW, base, 8, n);
                }
            }
            TseriesAgg::Min | TseriesAgg::Max => {
                let write = b.label();
                let skip = b.label();
                let set = b.load(Size::DW, base, 8);
                b.jmp_if(JmpOp::Eq, set, 0, write);
                let old = b.load(Size::DW, base, 0);
                // Keep the old value unless v beats it.
                let keep = match (self.agg == TseriesAgg::Max, self.signed) {
                    (true, true) => JmpOp::Sle,
                    (true, false) => JmpOp::Le,
                    (false, true) => JmpOp::Sge,
                    (false, false) => JmpOp::Ge,
                };
                b.jmp_if(keep, self.v, old, skip);
                b.place(write);
                b.store(Size::DW, base, 0, self.v);
                b.store(Size::DW, base, 8, 1);
                b.place(skip);
            }
        }
        b.store(Size::DW, base, 16, self.epoch);
    }
}

impl Lowerer<'_> {
    /// `@m[keys] = tseries(args)` into map `mi` (a [`ValueLayout::Tseries`] map).
    pub(super) fn tseries(&mut self, mi: usize, keys: &[Expr], args: &[Expr], span: Span) {
        let m = self.plan.maps[mi].clone();
        let ValueLayout::Tseries {
            interval_ns,
            num_intervals,
            agg,
            signed,
        } = m.value
        else {
            self.not_built(span, "`tseries()` into this map");
            return;
        };
        let Some(value) = args.first() else {
            return;
        };
        let key = self.map_key_sized(mi, keys, span, 8);
        self.span(value.span);
        let v = self.int(value);
        self.span(span);
        let Some(now) = self.tseries_now(span) else {
            return;
        };
        // 64-bit constants go through registers (ALU immediates are 32-bit).
        let interval = self.b.imm(interval_ns as i64);
        let epoch = self.b.binop(AluOp::Div, now, interval);
        let count = self.b.imm(num_intervals as i64);
        let bucket = self.b.binop(AluOp::Mod, epoch, count);
        let at = m.user_key_size() as i16;
        self.b.store(Size::DW, Base::Reg(key), at, bucket);
        let up = Update {
            agg,
            signed,
            v,
            now,
            epoch,
        };
        let fill = move |b: &mut kscope_codegen::Builder, s: kscope_codegen::Slot| {
            b.zero_slot(s, 0, SLOT_SIZE);
            up.apply(b, Base::Slot(s));
        };
        cg::update_in_place(
            &mut self.b,
            m.id,
            key,
            Miss::Init {
                size: SLOT_SIZE,
                fill: &fill,
            },
            &|b, p| up.apply(b, Base::Reg(p)),
        );
    }

    /// The time `tseries()` buckets by: `CLOCK_TAI` nanoseconds, or the value of the
    /// scalar map [`DUMMY_TS_MAP_ENV`] names.
    fn tseries_now(&mut self, span: Span) -> Option<VReg> {
        let Some(name) = self.plan.tseries_clock.clone() else {
            return Some(self.b.call(kscope_codegen::helper::KTIME_GET_TAI_NS, &[]));
        };
        let bare = name.strip_prefix('@').unwrap_or(&name);
        let found = self
            .plan
            .map(bare)
            .map(|(_, m)| (m.id, m.keys.is_empty(), m.value.clone()));
        match found {
            Some((id, true, ValueLayout::Plain(Scalar::Int { signed: false }))) => {
                let slot = self.b.slot(8);
                self.b.zero_slot(slot, 0, 8);
                let key = self.b.slot_addr(slot, 0);
                Some(cg::read_u64_or_zero(&mut self.b, id, key, 0))
            }
            _ => {
                self.errors.push(LowerError {
                    span,
                    message: format!(
                        "{DUMMY_TS_MAP_ENV}={name}: not a map without keys holding an unsigned integer"
                    ),
                });
                None
            }
        }
    }
}
