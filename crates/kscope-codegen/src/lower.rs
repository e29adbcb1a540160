//! Reusable lowering pieces with bpftrace's semantics, built on [`Builder`]:
//!
//! - plain map access: [`lookup`], [`read_u64_or_zero`], [`update`], [`delete`];
//! - map updates in place ([`update_in_place`]): look up; on a hit change the value
//!   through the returned pointer; on a miss insert with `BPF_NOEXIST` and, if another
//!   CPU inserted first (`-EEXIST`), look up again;
//! - aggregations on per-CPU maps, [`aggregate`] with an [`Aggregation`] and a
//!   [`Storage`]: a per-CPU hash (keyed maps; [`count`], [`sum`], [`min_max`],
//!   [`avg_stats`], [`buckets_add`] are its shorthands) or a per-CPU array entry that
//!   always exists (maps without keys: no helper call but the inlined lookup). Values:
//!   count/sum one u64, min/max [`MINMAX_VALUE_SIZE`] `{u64 value, u64 is_set}`,
//!   avg/stats `{u64 count, u64 sum}`, hist/lhist an array of u64 buckets indexed by
//!   [`hist_bucket`] / [`lhist_bucket`]; [`array_slot_add`] adds 1 to a per-CPU array
//!   entry indexed by bucket;
//! - [`str_eq_literal`]: a string against a literal, byte by byte;
//! - [`ringbuf_output`]: a `{u64 format id, packed args}` record, or a per-CPU loss
//!   counter increment when the ring is full;
//! - builtins through helpers: [`pid`], [`tid`], [`nsecs`], [`cpu`], [`uid`], [`gid`],
//!   [`comm_into`];
//! - [`read_str`]: `bpf_probe_read_{kernel,user}_str` into a per-CPU scratch buffer.
//!
//! All values are 64-bit; user space sums per-CPU values when it prints.

use crate::builder::Builder;
use crate::helper::{self, BPF_NOEXIST, NEG_EEXIST};
use crate::ir::{AluOp, Base, JmpOp, Label, MapId, Operand, Size, Slot, VReg, Width};

/// Size of a `min`/`max` value: `{u64 value, u64 is_set}` (`is_set` tells a CPU that saw
/// nothing from one that saw 0).
pub const MINMAX_VALUE_SIZE: u32 = 16;
/// Size of an `avg`/`stats` value: `{u64 count, u64 sum}`.
pub const STATS_VALUE_SIZE: u32 = 16;

/// What to insert when the key is missing.
pub enum Miss<'a> {
    /// A value of `size` bytes written into a stack slot by `fill`: the value after the
    /// update applied to nothing. On `-EEXIST` the update is applied to the existing value.
    Init {
        /// Value size in bytes.
        size: u32,
        /// Writes the initial value into the slot.
        fill: &'a dyn Fn(&mut Builder, Slot),
    },
    /// Zeroes taken from `zero_map[0]` (a per-CPU array never written, for values too
    /// large for the stack); the update is then applied to the inserted value.
    Zero {
        /// The all-zero map.
        zero_map: MapId,
    },
}

/// A pointer to a new 4-byte stack slot holding `key` (array map keys).
pub fn const_key(b: &mut Builder, key: i32) -> VReg {
    let slot = b.slot(4);
    b.store(Size::W, Base::Slot(slot), 0, key);
    b.slot_addr(slot, 0)
}

/// `bpf_map_lookup_elem(map, key)`: a pointer to the value, or 0.
pub fn lookup(b: &mut Builder, map: MapId, key: VReg) -> VReg {
    let m = b.map_ptr(map);
    b.call(helper::MAP_LOOKUP_ELEM, &[m, key])
}

/// Reads the 8-byte value at byte `off` of `key`'s value in `map` into a new register, 0
/// when the key is missing (`@x[k]` read as an expression).
pub fn read_u64_or_zero(b: &mut Builder, map: MapId, key: VReg, off: i16) -> VReg {
    let res = b.imm(0);
    let done = b.label();
    let p = lookup(b, map, key);
    b.jmp_if(JmpOp::Eq, p, 0, done);
    let v = b.load(Size::DW, Base::Reg(p), off);
    b.mov(res, v);
    b.place(done);
    res
}

/// `bpf_map_update_elem(map, key, value, flags)` (`@x[k] = v`: flags 0, `BPF_ANY`);
/// returns the helper's result (0 or a negative errno, e.g. `-E2BIG` when full).
pub fn update(b: &mut Builder, map: MapId, key: VReg, value: VReg, flags: i32) -> VReg {
    let m = b.map_ptr(map);
    let f = b.imm(flags as i64);
    b.call(helper::MAP_UPDATE_ELEM, &[m, key, value, f])
}

/// `bpf_map_delete_elem(map, key)` (`delete(@x, k)`); returns the helper's result.
pub fn delete(b: &mut Builder, map: MapId, key: VReg) -> VReg {
    let m = b.map_ptr(map);
    b.call(helper::MAP_DELETE_ELEM, &[m, key])
}

/// Looks `key` up in `map` and runs `hit` with the value pointer; on a miss inserts per
/// `miss` with `BPF_NOEXIST` and, where needed, looks up again and runs `hit`.
pub fn update_in_place(
    b: &mut Builder,
    map: MapId,
    key: VReg,
    miss: Miss<'_>,
    hit: &dyn Fn(&mut Builder, VReg),
) {
    let missed = b.label();
    let retry = b.label();
    let done = b.label();
    let p = lookup(b, map, key);
    b.jmp_if(JmpOp::Eq, p, 0, missed);
    hit(b, p);
    b.jmp(done);
    b.place(missed);
    match miss {
        Miss::Init { size, fill } => {
            let slot = b.slot(size);
            fill(b, slot);
            let val = b.slot_addr(slot, 0);
            let m = b.map_ptr(map);
            let flags = b.imm(BPF_NOEXIST as i64);
            let r = b.call(helper::MAP_UPDATE_ELEM, &[m, key, val, flags]);
            b.jmp_if(JmpOp::Eq, r, NEG_EEXIST, retry);
            b.jmp(done);
        }
        Miss::Zero { zero_map } => {
            let zkey = const_key(b, 0);
            let z = lookup(b, zero_map, zkey);
            b.jmp_if(JmpOp::Eq, z, 0, done);
            let m = b.map_ptr(map);
            let flags = b.imm(BPF_NOEXIST as i64);
            let r = b.call(helper::MAP_UPDATE_ELEM, &[m, key, z, flags]);
            b.jmp_if(JmpOp::Eq, r, 0, retry);
            b.jmp_if(JmpOp::Ne, r, NEG_EEXIST, done);
        }
    }
    b.place(retry);
    let p = lookup(b, map, key);
    b.jmp_if(JmpOp::Eq, p, 0, done);
    hit(b, p);
    b.place(done);
}

/// `*(u64 *)(p + off) += delta`.
fn add_at(b: &mut Builder, p: VReg, off: i16, delta: Operand) {
    let v = b.load(Size::DW, Base::Reg(p), off);
    b.alu(AluOp::Add, v, delta);
    b.store(Size::DW, Base::Reg(p), off, v);
}

/// Where an aggregation keeps its per-CPU value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A per-CPU hash: a missing key is inserted (see [`update_in_place`]).
    Hash,
    /// An entry of a per-CPU array (maps without keys): it always exists, so the update
    /// is one inlined lookup and a change through the pointer, no helper call. The
    /// 8-byte word at byte `present` of the value is then set to 1, which tells user
    /// space an untouched entry from one holding 0 (`sum(0)`, `zero(@)`).
    Array {
        /// Offset of the "present" word in the value.
        present: i16,
    },
}

/// One aggregation update, as [`aggregate`] applies it.
#[derive(Debug, Clone, Copy)]
pub enum Aggregation {
    /// `count()`: the 8-byte value `+= 1`.
    Count,
    /// `sum(v)`: the 8-byte value `+= v`.
    Sum(VReg),
    /// `min(v)` / `max(v)` on `{value, is_set}` ([`MINMAX_VALUE_SIZE`]).
    MinMax {
        /// The value.
        v: VReg,
        /// `max` (else `min`).
        max: bool,
        /// Compare signed.
        signed: bool,
    },
    /// `avg(v)` / `stats(v)` on `{count, sum}` ([`STATS_VALUE_SIZE`]).
    AvgStats(VReg),
    /// `hist`/`lhist`: bucket `index` of an array of `nbuckets` 8-byte counters `+= 1`
    /// (an index past the end is ignored). A missing hash key is inserted from
    /// `zero_map[0]`, a per-CPU array at least as large that is never written.
    Bucket {
        /// The bucket index.
        index: VReg,
        /// The number of buckets.
        nbuckets: u32,
        /// The all-zero map (unused with [`Storage::Array`]).
        zero_map: MapId,
    },
}

impl Aggregation {
    /// Changes the value at `p` (a map value pointer).
    fn apply(self, b: &mut Builder, p: VReg) {
        match self {
            Aggregation::Count => add_at(b, p, 0, Operand::Imm(1)),
            Aggregation::Sum(v) => add_at(b, p, 0, Operand::Reg(v)),
            Aggregation::MinMax { v, max, signed } => {
                let write = b.label();
                let skip = b.label();
                let set = b.load(Size::DW, Base::Reg(p), 8);
                b.jmp_if(JmpOp::Eq, set, 0, write);
                let old = b.load(Size::DW, Base::Reg(p), 0);
                // Keep the old value unless v beats it.
                let keep = match (max, signed) {
                    (true, true) => JmpOp::Sle,
                    (true, false) => JmpOp::Le,
                    (false, true) => JmpOp::Sge,
                    (false, false) => JmpOp::Ge,
                };
                b.jmp_if(keep, v, old, skip);
                b.place(write);
                b.store(Size::DW, Base::Reg(p), 0, v);
                b.store(Size::DW, Base::Reg(p), 8, 1);
                b.place(skip);
            }
            Aggregation::AvgStats(v) => {
                add_at(b, p, 0, Operand::Imm(1));
                add_at(b, p, 8, Operand::Reg(v));
            }
            Aggregation::Bucket {
                index, nbuckets, ..
            } => {
                let skip = b.label();
                // The verifier needs the index bounded before it is added to the pointer.
                let i = b.copy(index);
                b.jmp_if(JmpOp::Gt, i, nbuckets as i32 - 1, skip);
                b.alu(AluOp::Lsh, i, 3);
                let q = b.binop(AluOp::Add, p, i);
                add_at(b, q, 0, Operand::Imm(1));
                b.place(skip);
            }
        }
    }
}

/// Applies `agg` to `key`'s value in per-CPU `map`, stored as `storage`.
pub fn aggregate(b: &mut Builder, map: MapId, key: VReg, agg: Aggregation, storage: Storage) {
    match storage {
        Storage::Array { present } => {
            let done = b.label();
            let p = lookup(b, map, key);
            b.jmp_if(JmpOp::Eq, p, 0, done);
            agg.apply(b, p);
            b.store(Size::DW, Base::Reg(p), present, 1);
            b.place(done);
        }
        Storage::Hash => {
            // The value a missing key gets: the update applied to zeroes.
            let fill = move |b: &mut Builder, s: Slot| {
                let (first, second) = match agg {
                    Aggregation::Count => (Operand::Imm(1), None),
                    Aggregation::Sum(v) => (Operand::Reg(v), None),
                    Aggregation::MinMax { v, .. } => (Operand::Reg(v), Some(Operand::Imm(1))),
                    Aggregation::AvgStats(v) => (Operand::Imm(1), Some(Operand::Reg(v))),
                    Aggregation::Bucket { .. } => return,
                };
                b.store(Size::DW, Base::Slot(s), 0, first);
                if let Some(second) = second {
                    b.store(Size::DW, Base::Slot(s), 8, second);
                }
            };
            let miss = match agg {
                Aggregation::Bucket { zero_map, .. } => Miss::Zero { zero_map },
                Aggregation::Count | Aggregation::Sum(_) => Miss::Init {
                    size: 8,
                    fill: &fill,
                },
                Aggregation::MinMax { .. } => Miss::Init {
                    size: MINMAX_VALUE_SIZE,
                    fill: &fill,
                },
                Aggregation::AvgStats(_) => Miss::Init {
                    size: STATS_VALUE_SIZE,
                    fill: &fill,
                },
            };
            update_in_place(b, map, key, miss, &|b, p| agg.apply(b, p));
        }
    }
}

/// Adds `delta` to the 8-byte value of `key` in per-CPU hash `map` (count/sum).
pub fn add(b: &mut Builder, map: MapId, key: VReg, delta: Operand) {
    let fill = move |b: &mut Builder, s: Slot| b.store(Size::DW, Base::Slot(s), 0, delta);
    update_in_place(
        b,
        map,
        key,
        Miss::Init {
            size: 8,
            fill: &fill,
        },
        &|b, p| add_at(b, p, 0, delta),
    );
}

/// `count()`: adds 1 to `key`'s value.
pub fn count(b: &mut Builder, map: MapId, key: VReg) {
    aggregate(b, map, key, Aggregation::Count, Storage::Hash);
}

/// `sum(v)`: adds `v` to `key`'s value.
pub fn sum(b: &mut Builder, map: MapId, key: VReg, v: VReg) {
    aggregate(b, map, key, Aggregation::Sum(v), Storage::Hash);
}

/// `min(v)` (`max == false`) or `max(v)` on a `{value, is_set}` per-CPU value; `signed`
/// selects the comparison.
pub fn min_max(b: &mut Builder, map: MapId, key: VReg, v: VReg, max: bool, signed: bool) {
    aggregate(
        b,
        map,
        key,
        Aggregation::MinMax { v, max, signed },
        Storage::Hash,
    );
}

/// `avg(v)` / `stats(v)`: `count += 1; sum += v` on a `{count, sum}` per-CPU value.
pub fn avg_stats(b: &mut Builder, map: MapId, key: VReg, v: VReg) {
    aggregate(b, map, key, Aggregation::AvgStats(v), Storage::Hash);
}

/// Number of buckets of `hist(n, k)`: indexes run from 0 (negative values) to that of
/// the largest positive 64-bit value.
pub fn hist_buckets(k: u32) -> u32 {
    let k = k.min(5);
    ((64 - k) << k) + 1
}

/// The bucket index bpftrace's `hist(n, k)` (`0 <= k <= 5`) gives the signed value `n`,
/// as a reference for tests and user space: 0 for negative values; `n + 1` for
/// `0 <= n < 2^k`; otherwise, with `l = floor(log2 n)`, `((l - k + 1) << k) + x + 1` where
/// `x` is the `k` bits below the leading one (`2^k` buckets per power of 2).
pub fn hist_index(n: i64, k: u32) -> u64 {
    let k = k.min(5);
    if n < 0 {
        return 0;
    }
    let n = n as u64;
    let mask = (1u64 << k) - 1;
    if n <= mask {
        return n + 1;
    }
    let l = 63 - n.leading_zeros() as u64 - k as u64;
    let x = (n >> l) & mask;
    ((l + 1) << k) + x + 1
}

/// Emits the computation of [`hist_index`]`(v, k)` into a new register.
pub fn hist_bucket(b: &mut Builder, v: VReg, k: u32) -> VReg {
    let k = k.min(5);
    let res = b.vreg(Width::W64);
    let done = b.label();
    let not_neg = b.label();
    let big = b.label();
    b.jmp_if(JmpOp::Sge, v, 0, not_neg);
    b.mov(res, 0);
    b.jmp(done);
    b.place(not_neg);
    let mask = (1i32 << k) - 1;
    b.jmp_if(JmpOp::Sgt, v, mask, big);
    b.mov(res, v);
    b.alu(AluOp::Add, res, 1);
    b.jmp(done);
    b.place(big);
    // l = floor(log2 v) by halving the search range: 32, 16, 8, 4, 2, 1 bits, without
    // branches (write sizes and latencies vary from event to event: a branch per step
    // mispredicts). Before the step of s bits n < 2^(2s), so x = n >> s < 2^s, and
    // (x + 2^s - 1) >> s is 1 exactly when x != 0.
    let n = b.copy(v);
    let l = b.imm(0);
    let low32 = b.imm(0xFFFF_FFFF);
    for s in [32i32, 16, 8, 4, 2, 1] {
        let x = b.binop(AluOp::Rsh, n, s);
        if s > 1 {
            if s == 32 {
                b.alu(AluOp::Add, x, low32);
            } else {
                b.alu(AluOp::Add, x, (1 << s) - 1);
            }
            b.alu(AluOp::Rsh, x, s);
            b.alu(AluOp::Lsh, x, s.trailing_zeros() as i32);
        }
        // x is now s or 0: the bits to drop.
        b.alu(AluOp::Rsh, n, x);
        b.alu(AluOp::Add, l, x);
    }
    if k == 0 {
        // One bucket per power of 2: index l + 2.
        b.mov(res, l);
        b.alu(AluOp::Add, res, 2);
    } else {
        b.alu(AluOp::Sub, l, k as i32);
        let x = b.binop(AluOp::Rsh, v, l);
        b.alu(AluOp::And, x, mask);
        b.mov(res, l);
        b.alu(AluOp::Add, res, 1);
        b.alu(AluOp::Lsh, res, k as i32);
        b.alu(AluOp::Add, res, x);
        b.alu(AluOp::Add, res, 1);
    }
    b.place(done);
    res
}

/// Compares the string at `p` with `lit` (cut at its first NUL) byte by byte, up to and
/// including the literal's terminating NUL: jumps to `differ` at the first byte that is
/// not equal, falls through when the strings are equal. Bytes of `p` after a mismatch
/// are never read, so `p` needs no NUL padding. Byte loads also avoid the stall of a
/// word load over bytes a helper has just stored in several pieces (`comm`).
pub fn str_eq_literal(b: &mut Builder, p: VReg, lit: &[u8], differ: Label) {
    let end = lit.iter().position(|&c| c == 0).unwrap_or(lit.len());
    for (i, &c) in lit[..end].iter().chain(std::iter::once(&0u8)).enumerate() {
        let x = b.load(Size::B, Base::Reg(p), i as i16);
        b.jmp_if(JmpOp::Ne, x, i32::from(c), differ);
    }
}

/// Number of buckets of `lhist(n, min, max, step)`: below `min`, one per `step`, and
/// the last for values above `max`.
pub fn lhist_buckets(min: i64, max: i64, step: i64) -> u32 {
    (max.saturating_sub(min) / step.max(1)) as u32 + 2
}

/// The bucket bpftrace's `lhist(n, min, max, step)` gives `n`: 0 below `min`,
/// `1 + (max - min) / step` above `max`, else `1 + (n - min) / step`.
pub fn lhist_index(n: i64, min: i64, max: i64, step: i64) -> u64 {
    let step = step.max(1);
    if n < min {
        0
    } else if n > max {
        1 + (max.wrapping_sub(min) as u64 / step as u64)
    } else {
        1 + (n.wrapping_sub(min) as u64 / step as u64)
    }
}

/// Emits the computation of [`lhist_index`]`(v, min, max, step)` into a new register
/// (`step > 0`, checked by the type checker).
pub fn lhist_bucket(b: &mut Builder, v: VReg, min: i64, max: i64, step: i64) -> VReg {
    let res = b.vreg(Width::W64);
    let done = b.label();
    let not_low = b.label();
    let in_range = b.label();
    let lo = b.imm(min);
    let hi = b.imm(max);
    b.jmp_if(JmpOp::Sge, v, lo, not_low);
    b.mov(res, 0);
    b.jmp(done);
    b.place(not_low);
    b.jmp_if(JmpOp::Sle, v, hi, in_range);
    b.set_imm(
        res,
        lhist_index(max.saturating_add(1), min, max, step) as i64,
    );
    b.jmp(done);
    b.place(in_range);
    b.mov(res, v);
    b.alu(AluOp::Sub, res, lo);
    match i32::try_from(step) {
        Ok(s) if s > 0 => b.alu(AluOp::Div, res, s),
        _ => {
            let s = b.imm(step);
            b.alu(AluOp::Div, res, s);
        }
    }
    b.alu(AluOp::Add, res, 1);
    b.place(done);
    res
}

/// Adds 1 to slot `index` of a per-CPU array of 8-byte counters (keyless `hist`/`lhist`:
/// the array has one entry per bucket; an index past the end is ignored).
pub fn array_slot_add(b: &mut Builder, array: MapId, index: VReg) {
    let done = b.label();
    let slot = b.slot(4);
    b.store(Size::W, Base::Slot(slot), 0, index);
    let key = b.slot_addr(slot, 0);
    let p = lookup(b, array, key);
    b.jmp_if(JmpOp::Eq, p, 0, done);
    add_at(b, p, 0, Operand::Imm(1));
    b.place(done);
}

/// Adds 1 to bucket `index` of `key`'s value in a per-CPU hash whose value is an array of
/// `nbuckets` 8-byte counters (keyed `hist`/`lhist`); a missing key is inserted from
/// `zero_map` (whose value must be at least as large).
pub fn buckets_add(
    b: &mut Builder,
    map: MapId,
    key: VReg,
    index: VReg,
    nbuckets: u32,
    zero_map: MapId,
) {
    let agg = Aggregation::Bucket {
        index,
        nbuckets,
        zero_map,
    };
    aggregate(b, map, key, agg, Storage::Hash);
}

/// One field of an output record.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// The low `Width` bytes of a register.
    Value(VReg, Width),
    /// `len` bytes read from kernel memory at a pointer (a string in a scratch buffer,
    /// `comm` on the stack) with `bpf_probe_read_kernel`.
    Bytes {
        /// Where to copy from.
        ptr: VReg,
        /// How many bytes.
        len: u32,
    },
}

impl Field {
    fn len(self) -> u32 {
        match self {
            Field::Value(_, w) => w.bytes(),
            Field::Bytes { len, .. } => len,
        }
    }
}

/// Size in bytes of a record with these fields: 8 for the format id, then the fields
/// packed without padding.
pub fn record_size(fields: &[Field]) -> u32 {
    fields
        .iter()
        .fold(8u32, |acc, f| acc.saturating_add(f.len()))
}

/// The largest output record [`ringbuf_output`] builds (its fields are addressed with
/// 16-bit offsets).
pub const MAX_RECORD: u32 = i16::MAX as u32;

/// Sends `{u64 fmt_id, fields...}` through `ringbuf`; when the ring has no room, adds 1
/// to entry 0 of `loss` (a per-CPU array of one 8-byte counter).
pub fn ringbuf_output(b: &mut Builder, ringbuf: MapId, loss: MapId, fmt_id: u64, fields: &[Field]) {
    ringbuf_output_with(b, ringbuf, loss, fmt_id, fields, Wakeup::Kernel);
}

/// `bpf_ringbuf_submit` flag: do not wake the consumer (it polls on a timer).
pub const BPF_RB_NO_WAKEUP: i32 = 1;
/// `bpf_ringbuf_submit` flag: wake the consumer now.
pub const BPF_RB_FORCE_WAKEUP: i32 = 2;
/// `bpf_ringbuf_query` flag: bytes written and not consumed yet.
const BPF_RB_AVAIL_DATA: i64 = 0;
/// `bpf_ringbuf_query` (Linux 5.8).
const HELPER_RINGBUF_QUERY: u32 = 134;

/// When a submitted record wakes the ring buffer's consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// The kernel's default: when the consumer had caught up (a wake-up per record when
    /// it keeps up, which is most of a record's cost).
    Kernel,
    /// Never: the consumer polls on a timer.
    Never,
    /// Always (an `exit()` that must be seen at once).
    Always,
    /// When the bytes waiting cross a multiple of this power of two (landing within
    /// [`WAKEUP_WINDOW`] bytes past it): a timer-polling consumer drains a burst before the
    /// ring fills, at the cost of one `bpf_ringbuf_query` per record. Waking only at the
    /// crossings (not on every record above it) keeps a slow consumer from being woken
    /// thousands of times per drain.
    Crossing(u32),
}

/// How far past a [`Wakeup::Crossing`] multiple a record still wakes the consumer: records
/// reserved on other CPUs at the same moment may step over the exact crossing.
pub const WAKEUP_WINDOW: u32 = 4096;

/// The `bpf_ringbuf_submit` flags for `wakeup`, in a register.
pub fn submit_flags(b: &mut Builder, ringbuf: MapId, wakeup: Wakeup) -> VReg {
    match wakeup {
        Wakeup::Kernel => b.imm(0),
        Wakeup::Never => b.imm(i64::from(BPF_RB_NO_WAKEUP)),
        Wakeup::Always => b.imm(i64::from(BPF_RB_FORCE_WAKEUP)),
        Wakeup::Crossing(step) => {
            let step = step.next_power_of_two().clamp(2 * WAKEUP_WINDOW, 1 << 30);
            let flags = b.imm(i64::from(BPF_RB_NO_WAKEUP));
            let m = b.map_ptr(ringbuf);
            let q = b.imm(BPF_RB_AVAIL_DATA);
            let waiting = b.call(HELPER_RINGBUF_QUERY, &[m, q]);
            let quiet = b.label();
            b.jmp_if(JmpOp::Lt, waiting, step as i32, quiet);
            b.alu(AluOp::And, waiting, (step - 1) as i32);
            b.jmp_if(JmpOp::Ge, waiting, WAKEUP_WINDOW as i32, quiet);
            b.mov(flags, BPF_RB_FORCE_WAKEUP);
            b.place(quiet);
            flags
        }
    }
}

/// [`ringbuf_output`] with a choice of consumer wake-up (see [`Wakeup`]).
pub fn ringbuf_output_with(
    b: &mut Builder,
    ringbuf: MapId,
    loss: MapId,
    fmt_id: u64,
    fields: &[Field],
    wakeup: Wakeup,
) {
    let lost = b.label();
    let done = b.label();
    let size = record_size(fields);
    if size > MAX_RECORD {
        b.error(format!(
            "an output record of {size} bytes is larger than the {MAX_RECORD} bytes allowed: \
             print fewer or shorter values"
        ));
        return;
    }
    let m = b.map_ptr(ringbuf);
    let sz = b.imm(size as i64);
    let flags = b.imm(0);
    let rec = b.call(helper::RINGBUF_RESERVE, &[m, sz, flags]);
    b.jmp_if(JmpOp::Eq, rec, 0, lost);
    match i32::try_from(fmt_id) {
        Ok(id) => b.store(Size::DW, Base::Reg(rec), 0, id),
        Err(_) => {
            let id = b.imm(fmt_id as i64);
            b.store(Size::DW, Base::Reg(rec), 0, id);
        }
    }
    let mut off = 8i16;
    for f in fields {
        match *f {
            Field::Value(v, w) => b.store(w.size(), Base::Reg(rec), off, v),
            Field::Bytes { ptr, len } => {
                let dst = b.binop(AluOp::Add, rec, off as i32);
                let n = b.imm(len as i64);
                b.call_void(helper::PROBE_READ_KERNEL, &[dst, n, ptr]);
            }
        }
        off += f.len() as i16;
    }
    let flags = submit_flags(b, ringbuf, wakeup);
    b.call_void(helper::RINGBUF_SUBMIT, &[rec, flags]);
    b.jmp(done);
    b.place(lost);
    let key = const_key(b, 0);
    let p = lookup(b, loss, key);
    b.jmp_if(JmpOp::Eq, p, 0, done);
    add_at(b, p, 0, Operand::Imm(1));
    b.place(done);
}

/// `pid`: the current thread group id (upper half of `bpf_get_current_pid_tgid`).
pub fn pid(b: &mut Builder) -> VReg {
    let r = b.call(helper::GET_CURRENT_PID_TGID, &[]);
    b.alu(AluOp::Rsh, r, 32);
    r
}

/// `tid`: the current thread id (lower half of `bpf_get_current_pid_tgid`).
pub fn tid(b: &mut Builder) -> VReg {
    let r = b.call(helper::GET_CURRENT_PID_TGID, &[]);
    b.alu32(AluOp::Mov, r, r);
    r
}

/// `uid`: lower half of `bpf_get_current_uid_gid`.
pub fn uid(b: &mut Builder) -> VReg {
    let r = b.call(helper::GET_CURRENT_UID_GID, &[]);
    b.alu32(AluOp::Mov, r, r);
    r
}

/// `gid`: upper half of `bpf_get_current_uid_gid`.
pub fn gid(b: &mut Builder) -> VReg {
    let r = b.call(helper::GET_CURRENT_UID_GID, &[]);
    b.alu(AluOp::Rsh, r, 32);
    r
}

/// `nsecs`: `bpf_ktime_get_ns()`.
pub fn nsecs(b: &mut Builder) -> VReg {
    b.call(helper::KTIME_GET_NS, &[])
}

/// `cpu`: `bpf_get_smp_processor_id()`.
pub fn cpu(b: &mut Builder) -> VReg {
    b.call(helper::GET_SMP_PROCESSOR_ID, &[])
}

/// The length of `comm` (`TASK_COMM_LEN`).
pub const COMM_LEN: u32 = 16;

/// `comm`: `bpf_get_current_comm(dst, 16)` into 16 bytes at `dst` (stack or scratch).
/// Linux 6.1 leaves the bytes after the NUL as they were (6.18 zeroes them): where they
/// matter (map keys, comparisons) zero `dst` first, as kscope-runtime's string slots are.
pub fn comm_into(b: &mut Builder, dst: VReg) {
    let n = b.imm(COMM_LEN as i64);
    b.call_void(helper::GET_CURRENT_COMM, &[dst, n]);
}

/// Reads a NUL-terminated string of at most `size` bytes (including the NUL) from `src`
/// (user memory when `user`) into entry 0 of per-CPU `scratch` (value size ≥ `size`).
/// Returns the buffer pointer and the helper's result (length with the NUL, or a negative
/// errno); jumps to `fail` if the scratch lookup fails.
pub fn read_str(
    b: &mut Builder,
    scratch: MapId,
    src: VReg,
    size: u32,
    user: bool,
    fail: Label,
) -> (VReg, VReg) {
    let key = const_key(b, 0);
    let buf = lookup(b, scratch, key);
    b.jmp_if(JmpOp::Eq, buf, 0, fail);
    let n = b.imm(size as i64);
    let h = if user {
        helper::PROBE_READ_USER_STR
    } else {
        helper::PROBE_READ_KERNEL_STR
    };
    let len = b.call(h, &[buf, n, src]);
    (buf, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_indexes_follow_bpftrace() {
        // k = 0: (-inf,0) -> 0, 0 -> 1, 1 -> 2, [2,4) -> 3, [4,8) -> 4 ...
        assert_eq!(hist_index(-5, 0), 0);
        assert_eq!(hist_index(0, 0), 1);
        assert_eq!(hist_index(1, 0), 2);
        assert_eq!(hist_index(2, 0), 3);
        assert_eq!(hist_index(3, 0), 3);
        assert_eq!(hist_index(4, 0), 4);
        assert_eq!(hist_index(1023, 0), 11);
        assert_eq!(hist_index(1024, 0), 12);
        assert_eq!(hist_index(i64::MAX, 0), 64);
        // k = 2: 0..3 -> 1..4, then 4 buckets per power of 2.
        assert_eq!(hist_index(3, 2), 4);
        assert_eq!(hist_index(4, 2), 5);
        assert_eq!(hist_index(7, 2), 8);
        assert_eq!(hist_index(8, 2), 9);
        assert_eq!(hist_index(9, 2), 9);
        assert_eq!(hist_index(10, 2), 10);
        for k in 0..=5 {
            assert_eq!(hist_index(i64::MAX, k) + 1, hist_buckets(k) as u64, "k={k}");
        }
    }

    #[test]
    fn lhist_indexes_follow_bpftrace() {
        assert_eq!(lhist_index(-1, 0, 100, 10), 0);
        assert_eq!(lhist_index(0, 0, 100, 10), 1);
        assert_eq!(lhist_index(9, 0, 100, 10), 1);
        assert_eq!(lhist_index(10, 0, 100, 10), 2);
        assert_eq!(lhist_index(99, 0, 100, 10), 10);
        assert_eq!(lhist_index(100, 0, 100, 10), 11);
        assert_eq!(lhist_index(1000, 0, 100, 10), 11);
        assert_eq!(lhist_buckets(0, 100, 10), 12);
    }
}
