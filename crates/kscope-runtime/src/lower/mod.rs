//! AST + types → kscope-codegen IR, one function per attach point.
//!
//! Every integer lives in a 64-bit virtual register, sign- or zero-extended from its type;
//! every string is a pointer to [`STR_SIZE`] NUL-padded bytes in a stack slot. Anything
//! not lowered yet is recorded as a "not built yet" error at its span (never wrong code).

mod btf;
mod builtin;
mod bytes;
mod call;
mod context;
mod expr;
mod formap;
mod kfunc;
mod maps;
mod records;
mod stmt;
mod strcmp;
mod strfuncs;
mod strtab;
mod tseries;
mod tuple;
mod uaddr;
mod uprobe_args;
mod usdt;
mod user;

use std::collections::HashMap;

use kscope_codegen::ir::{Base, JmpOp, Size};
use kscope_codegen::{Builder, Function, Slot, VReg, Width};
use kscope_lang::ast::{Expr, Probe, Provider};
use kscope_lang::sema::{Checked, Type};
use kscope_lang::span::Span;

pub use context::{ArgSource, ProbeContext};
pub use tseries::DUMMY_TS_MAP_ENV;

use crate::plan::{Layout, Plan, STR_SIZE, Scalar};

/// `bpf_map_lookup_percpu_elem` (Linux 5.19).
const HELPER_MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
/// Reading a `count`/`sum` map sums this many CPUs at most (the loop is unrolled).
const MAX_SUM_CPUS: u32 = 64;

/// The offset of `ip` in x86-64's `struct pt_regs` (a kprobe-type program's context).
const PT_REGS_IP: i16 = 128;
/// `bpf_get_func_ip` (Linux 5.15 for kprobes).
const HELPER_GET_FUNC_IP: u32 = 173;
/// `bpf_get_stackid`.
const HELPER_GET_STACKID: u32 = 27;
/// `bpf_send_signal` (Linux 5.3).
const HELPER_SEND_SIGNAL: u32 = 109;

/// A positional parameter as an integer: decimal (signed or up to `u64::MAX`) or `0x` hex;
/// anything else reads as 0, like a missing parameter.
fn parse_int(p: &str) -> i64 {
    if let Some(hex) = p.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_or(0, |v| v as i64);
    }
    p.parse::<i64>()
        .or_else(|_| p.parse::<u64>().map(|v| v as i64))
        .unwrap_or(0)
}

/// A lowered value.
#[derive(Debug, Clone, Copy)]
enum V {
    /// An integer (64-bit, extended from its type).
    Int(VReg),
    /// A pointer to a [`STR_SIZE`]-byte NUL-padded string.
    Str(VReg),
}

/// A problem found while lowering: where and what.
#[derive(Debug, Clone)]
pub struct LowerError {
    /// The script location.
    pub span: Span,
    /// What is not built yet (or wrong).
    pub message: String,
}

fn cg_span(s: Span) -> kscope_codegen::Span {
    kscope_codegen::Span::new(s.start, s.end)
}

/// Lowers one probe body for one attach point.
pub struct Lowerer<'a> {
    checked: &'a Checked,
    plan: &'a mut Plan,
    ctx: &'a ProbeContext,
    probe_index: usize,
    b: Builder,
    vars: HashMap<String, (Slot, Scalar)>,
    errors: Vec<LowerError>,
    /// Where `return` and the end of the body jump.
    out: kscope_codegen::Label,
    /// The enclosing loops: (where `continue` goes, where `break` goes).
    loops: Vec<(kscope_codegen::Label, kscope_codegen::Label)>,
    /// Tuple variables: their slots and layouts.
    tuple_vars: HashMap<String, (Slot, Layout)>,
    /// Subprograms built so far (`for` bodies over maps); `FuncId(i + 1)` is `subs[i]`.
    subs: Vec<Function>,
    /// The `for` body over a map being lowered, if any (a callback subprogram).
    callback: Option<formap::Callback>,
    /// The 8-byte slot kernel memory reads land in before their register (see btf.rs).
    read_slot: Option<Slot>,
    /// `test`/`bench` probes: the register `return N` sets, the program's return value.
    ret: Option<VReg>,
    /// Variables that only ever hold `&$x`: what they point to is kernel (stack) memory
    /// in every probe (see `user_source` in btf.rs).
    stack_pointers: std::collections::BTreeSet<String>,
}

impl<'a> Lowerer<'a> {
    /// Lowers `probe` (index `probe_index`) as attached at `ctx`: a probe without `for`
    /// loops over maps (those need [`Lowerer::lower_program`]).
    pub fn lower(
        checked: &'a Checked,
        plan: &'a mut Plan,
        ctx: &'a ProbeContext,
        probe_index: usize,
        probe: &Probe,
    ) -> Result<Function, Vec<LowerError>> {
        let (f, subs) = Self::lower_program(checked, plan, ctx, probe_index, probe)?;
        if subs.is_empty() {
            Ok(f)
        } else {
            Err(vec![LowerError {
                span: probe.span,
                message: "this probe needs subprograms: lower it with `lower_program`".into(),
            }])
        }
    }

    /// Lowers `probe` (index `probe_index`) as attached at `ctx`: the entry function
    /// and its subprograms (`FuncId(1)`…, for [`kscope_codegen::compile_program`]).
    pub fn lower_program(
        checked: &'a Checked,
        plan: &'a mut Plan,
        ctx: &'a ProbeContext,
        probe_index: usize,
        probe: &Probe,
    ) -> Result<(Function, Vec<Function>), Vec<LowerError>> {
        let mut b = Builder::new();
        let out = b.label();
        let mut l = Lowerer {
            checked,
            plan,
            ctx,
            probe_index,
            b,
            vars: HashMap::new(),
            errors: Vec::new(),
            out,
            loops: Vec::new(),
            tuple_vars: HashMap::new(),
            subs: Vec::new(),
            callback: None,
            read_slot: None,
            ret: None,
            stack_pointers: {
                let mut w = formap::walk::Names::default();
                w.block(&probe.body);
                w.stack_pointers()
            },
        };
        l.span(probe.span);
        if matches!(ctx.attach.provider, Provider::Test | Provider::Bench) {
            l.ret = Some(l.b.imm(0));
        }
        if !matches!(
            ctx.attach.provider,
            Provider::Begin
                | Provider::End
                | Provider::SelfSignal
                | Provider::Test
                | Provider::Bench
        ) {
            // The run's stop flag (`Plan::stop`): once set, the probe does nothing.
            let flag = l.b.map_value_ptr(l.plan.stop, 0);
            let stopped = l.b.load(Size::W, Base::Reg(flag), 0);
            l.b.jmp_if(JmpOp::Ne, stopped, 0, l.out);
        }
        if ctx.attach.provider == Provider::Iter {
            // The kernel calls an iterator once more after the last object, with the
            // object pointer (the member after `meta`) NULL: that call runs no body.
            let c = l.b.ctx();
            let object = l.b.load(Size::DW, Base::Reg(c), 8);
            l.b.jmp_if(JmpOp::Eq, object, 0, l.out);
        }
        // Every variable gets its zeroed slot at entry, so a read on a path that did not
        // assign it sees 0 (never uninitialised stack, which the verifier refuses).
        let names: Vec<String> = checked.probes[probe_index]
            .variables
            .iter()
            .filter(|(_, t)| Scalar::of(t).is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            l.var_slot(&name, probe.span);
        }
        l.tuple_slots_at_entry(&probe.body, probe.span);
        if let Some(pred) = &probe.predicate {
            l.span(pred.span);
            let out = l.out;
            l.jump_unless(pred, out);
        }
        l.block(&probe.body);
        l.b.place(l.out);
        match l.ret {
            Some(r) => l.b.exit(r),
            None => l.b.exit(0),
        }
        if l.errors.is_empty() {
            Ok((l.b.finish(), l.subs))
        } else {
            Err(l.errors)
        }
    }

    pub(super) fn span(&mut self, s: Span) {
        self.b.set_span(cg_span(s));
    }

    pub(super) fn not_built(&mut self, span: Span, what: impl Into<String>) {
        self.errors.push(LowerError {
            span,
            message: format!("{} is not built yet in `kscope run`", what.into()),
        });
    }

    /// [`Self::not_built`] for storing a value of type `t`, with why an array in it
    /// cannot be stored (see [`crate::plan::unstored_hint`]).
    pub(super) fn not_built_value(&mut self, span: Span, what: impl Into<String>, t: &Type) {
        self.errors.push(LowerError {
            span,
            message: format!(
                "{} is not built yet in `kscope run`{}",
                what.into(),
                crate::plan::unstored_hint(t)
            ),
        });
    }

    pub(super) fn ty(&self, e: &Expr) -> Type {
        self.checked.type_of(e).clone()
    }

    /// Copies [`STR_SIZE`] bytes between two stack strings.
    pub(super) fn copy_str(&mut self, dst: VReg, src: VReg) {
        for off in (0..STR_SIZE as i16).step_by(8) {
            let w = self.b.load(Size::DW, Base::Reg(src), off);
            self.b.store(Size::DW, Base::Reg(dst), off, w);
        }
    }

    /// A string in a fresh zeroed slot; returns the slot and its address.
    pub(super) fn str_slot(&mut self) -> (Slot, VReg) {
        let s = self.b.slot(STR_SIZE);
        self.b.zero_slot(s, 0, STR_SIZE);
        let p = self.b.slot_addr(s, 0);
        (s, p)
    }

    /// Lowers an expression that must be an integer.
    pub(super) fn int(&mut self, e: &Expr) -> VReg {
        match self.expr(e) {
            Some(V::Int(r)) => r,
            Some(V::Str(_)) => {
                self.not_built(e.span, "a string used as an integer");
                self.b.imm(0)
            }
            None => self.b.imm(0),
        }
    }

    /// Lowers an expression that must be a string.
    pub(super) fn string(&mut self, e: &Expr) -> VReg {
        if matches!(self.ty(e), Type::Array(..)) {
            // An integer array's bytes, stored as a string is (see strfuncs.rs).
            return match self.array_bytes(e) {
                Some(p) => p,
                None => self.str_slot().1,
            };
        }
        match self.expr(e) {
            Some(V::Str(p)) => p,
            Some(V::Int(_)) => {
                self.not_built(e.span, "an integer used as a string");
                self.str_slot().1
            }
            None => self.str_slot().1,
        }
    }

    pub(super) fn str_literal(&mut self, bytes: &[u8]) -> VReg {
        let (s, p) = self.str_slot();
        let n = bytes.len().min(STR_SIZE as usize - 1);
        for (i, chunk) in bytes[..n].chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let v = self.b.imm(i64::from_ne_bytes(w));
            self.b.store(Size::DW, Base::Slot(s), (i * 8) as i16, v);
        }
        p
    }

    /// Extends `r` (a raw load) per an integer type.
    pub(super) fn extend(&mut self, r: VReg, t: &Type) -> VReg {
        match t.int_parts() {
            Some((bits, signed)) if bits < 64 => {
                let w = match bits {
                    8 => Width::W8,
                    16 => Width::W16,
                    _ => Width::W32,
                };
                if signed {
                    self.b.sext(r, w)
                } else {
                    self.b.zext(r, w)
                }
            }
            _ => r,
        }
    }
}

/// Whether a probe kind is lowered.
pub fn supported(p: Provider) -> bool {
    matches!(
        p,
        Provider::Begin
            | Provider::End
            | Provider::SelfSignal
            | Provider::Test
            | Provider::Bench
            | Provider::Tracepoint
            | Provider::Rawtracepoint
            | Provider::Fentry
            | Provider::Fexit
            | Provider::Iter
            | Provider::Uprobe
            | Provider::Uretprobe
            | Provider::Usdt
            | Provider::Kprobe
            | Provider::Kretprobe
            | Provider::Interval
            | Provider::Profile
            | Provider::Software
            | Provider::Watchpoint
    )
}

/// The aggregation kinds (for the docs of what is lowered).
pub const AGGREGATIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist",
];
