//! Function calls (`printf`, `str`, `delete`, `signal`…) and ringbuf output records.

use kscope_codegen::Width;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Field};
use kscope_lang::ast::{Expr, ExprKind};
use kscope_lang::output::FormatString;
use kscope_lang::sema::Type;

use super::*;
use crate::plan::{JOIN_MAX, JOIN_SIZE, Message, STR_SIZE, Scalar};

/// The number of a signal named as `signal()` accepts (`"KILL"` or `"SIGKILL"`).
fn signal_number(name: &str) -> Option<i64> {
    let name = format!("SIG{}", name.strip_prefix("SIG").unwrap_or(name));
    kscope_lang::kernel_names::SIGNAL_CONSTANTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v as i64)
}

/// `bpf_send_signal_thread` (Linux 5.5).
const HELPER_SEND_SIGNAL_THREAD: u32 = 117;

/// `bpf_get_current_cgroup_id` (Linux 4.18).
const HELPER_GET_CURRENT_CGROUP_ID: u32 = 80;

/// Output records wait for the consumer's next timed poll (every 10 ms), except that the
/// records that take the waiting bytes past each quarter of the ring wake it: a burst is
/// drained before the ring fills instead of being lost.
const RECORD_WAKEUP: cg::Wakeup = cg::Wakeup::Crossing(crate::plan::RINGBUF_BYTES / 4);

impl Lowerer<'_> {
    /// `strcontains(h, n)`: 1 when string `n` occurs in string `h` (an empty needle
    /// always does).
    fn strcontains(&mut self, h: VReg, n: VReg) -> VReg {
        let at = self.strstr(h, n);
        self.bool_of(JmpOp::Sge, at, None)
    }

    /// `strstr(h, n)`: the index of the first occurrence of string `n` in string `h`
    /// (0 for an empty needle), -1 when there is none; two bounded loops over the
    /// NUL-padded buffers.
    fn strstr(&mut self, h: VReg, n: VReg) -> VReg {
        let size = STR_SIZE as i32;
        let found = self.b.imm(-1);
        let i = self.b.imm(0);
        let outer = self.b.label();
        let inner = self.b.label();
        let next = self.b.label();
        let hit = self.b.label();
        let done = self.b.label();
        self.b.place(outer);
        self.b.jmp_if(JmpOp::Ge, i, size, done);
        let j = self.b.imm(0);
        self.b.place(inner);
        self.b.jmp_if(JmpOp::Ge, j, size, hit);
        let np = self.b.binop(AluOp::Add, n, j);
        let c = self.b.load(Size::B, Base::Reg(np), 0);
        self.b.jmp_if(JmpOp::Eq, c, 0, hit);
        let k = self.b.binop(AluOp::Add, i, j);
        self.b.jmp_if(JmpOp::Ge, k, size, next);
        let hp = self.b.binop(AluOp::Add, h, k);
        let d = self.b.load(Size::B, Base::Reg(hp), 0);
        self.b.jmp_if(JmpOp::Ne, d, c, next);
        self.b.alu(AluOp::Add, j, 1);
        self.b.jmp(inner);
        self.b.place(next);
        let hp = self.b.binop(AluOp::Add, h, i);
        let d = self.b.load(Size::B, Base::Reg(hp), 0);
        self.b.jmp_if(JmpOp::Eq, d, 0, done);
        self.b.alu(AluOp::Add, i, 1);
        self.b.jmp(outer);
        self.b.place(hit);
        self.b.mov(found, i);
        self.b.place(done);
        found
    }

    /// `strcontains(h, "literal")`: the needle's bytes are immediates (no stack copy); a
    /// bounded loop over the haystack's start positions.
    fn strcontains_literal(&mut self, h: VReg, lit: &[u8]) -> VReg {
        let lit: Vec<u8> = lit
            .iter()
            .copied()
            .take_while(|&c| c != 0)
            .take(STR_SIZE as usize - 1)
            .collect();
        if lit.is_empty() {
            return self.b.imm(1);
        }
        let last = STR_SIZE as i32 - lit.len() as i32;
        let found = self.b.imm(0);
        let i = self.b.imm(0);
        let outer = self.b.label();
        let next = self.b.label();
        let done = self.b.label();
        self.b.place(outer);
        self.b.jmp_if(JmpOp::Sgt, i, last, done);
        let hp = self.b.binop(AluOp::Add, h, i);
        let first = self.b.load(Size::B, Base::Reg(hp), 0);
        self.b.jmp_if(JmpOp::Eq, first, 0, done);
        for (k, &c) in lit.iter().enumerate() {
            let d = if k == 0 {
                first
            } else {
                self.b.load(Size::B, Base::Reg(hp), k as i16)
            };
            self.b.jmp_if(JmpOp::Ne, d, i32::from(c), next);
        }
        self.b.mov(found, 1);
        self.b.jmp(done);
        self.b.place(next);
        self.b.alu(AluOp::Add, i, 1);
        self.b.jmp(outer);
        self.b.place(done);
        found
    }

    /// `join(arr, sep)`: a ring buffer record with the strings of the NULL-terminated
    /// pointer array `arr` (at most [`JOIN_MAX`] of [`JOIN_SIZE`] bytes), reserved in the
    /// ring buffer itself (it is larger than the BPF stack).
    fn join(&mut self, arr: VReg, sep: String) {
        let id = self.message(Message::Join { sep });
        let (read, read_str) = if self.ctx.user_pointers {
            (
                kscope_codegen::helper::PROBE_READ_USER,
                kscope_codegen::helper::PROBE_READ_USER_STR,
            )
        } else {
            (
                kscope_codegen::helper::PROBE_READ_KERNEL,
                kscope_codegen::helper::PROBE_READ_KERNEL_STR,
            )
        };
        let size = 16 + JOIN_MAX * JOIN_SIZE;
        let rb = self.b.map_ptr(self.plan.ringbuf);
        let sz = self.b.imm(i64::from(size));
        let zero = self.b.imm(0);
        let rec = self
            .b
            .call(kscope_codegen::helper::RINGBUF_RESERVE, &[rb, sz, zero]);
        let lost = self.b.label();
        let end = self.b.label();
        self.b.jmp_if(JmpOp::Eq, rec, 0, lost);
        let idv = self.b.imm(id as i64);
        self.b.store(Size::DW, Base::Reg(rec), 0, idv);
        let count = self.b.imm(0);
        let filled = self.b.label();
        let ps = self.b.slot(8);
        for i in 0..JOIN_MAX {
            self.b.store(Size::DW, Base::Slot(ps), 0, 0);
            let pp = self.b.slot_addr(ps, 0);
            let eight = self.b.imm(8);
            let src = self.b.binop(AluOp::Add, arr, (i * 8) as i32);
            self.b.call_void(read, &[pp, eight, src]);
            let p = self.b.load(Size::DW, Base::Slot(ps), 0);
            self.b.jmp_if(JmpOp::Eq, p, 0, filled);
            let dst = self.b.binop(AluOp::Add, rec, (16 + i * JOIN_SIZE) as i32);
            let n = self.b.imm(i64::from(JOIN_SIZE));
            self.b.call_void(read_str, &[dst, n, p]);
            self.b.alu(AluOp::Add, count, 1);
        }
        self.b.place(filled);
        self.b.store(Size::DW, Base::Reg(rec), 8, count);
        let flags = cg::submit_flags(&mut self.b, self.plan.ringbuf, RECORD_WAKEUP);
        self.b
            .call_void(kscope_codegen::helper::RINGBUF_SUBMIT, &[rec, flags]);
        self.b.jmp(end);
        self.b.place(lost);
        let key = cg::const_key(&mut self.b, 0);
        cg::add(
            &mut self.b,
            self.plan.loss,
            key,
            kscope_codegen::Operand::Imm(1),
        );
        self.b.place(end);
    }

    pub(super) fn call(&mut self, name: &str, args: &[Expr], e: &Expr) -> Option<V> {
        match name {
            "printf" => self.formatted_output(args, e, "a printf format", |format, args| {
                Message::Printf { format, args }
            }),
            "exit" => {
                // Raise the stop flag here, so that no probe body runs after this one
                // (user space raising it on the record would leave the ring's latency).
                let flag = self.b.map_value_ptr(self.plan.stop, 0);
                self.b.store(
                    kscope_codegen::ir::Size::W,
                    kscope_codegen::ir::Base::Reg(flag),
                    0,
                    1,
                );
                if let Some(code) = args.first() {
                    let v = self.int(code);
                    let id = self.message(Message::ExitCode);
                    self.output(id, &[Field::Value(v, Width::W64)]);
                    self.leave();
                    return None;
                }
                let id = self.message(Message::Exit);
                self.output(id, &[]);
                self.leave();
                None
            }
            "time" => {
                let format = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Str(f)) => String::from_utf8_lossy(f).into_owned(),
                    None => "%H:%M:%S\n".to_string(),
                    _ => {
                        self.not_built(e.span, "a time format that is not a literal");
                        return None;
                    }
                };
                let id = self.message(Message::Time { format });
                self.output(id, &[]);
                None
            }
            "print" | "clear" | "zero" => {
                let Some(target) = args.first() else {
                    self.not_built(e.span, format!("`{name}()` without arguments"));
                    return None;
                };
                let whole_map =
                    matches!(&target.kind, ExprKind::Map { keys, .. } if keys.is_empty());
                if name == "print"
                    && !whole_map
                    && (matches!(self.ty(target), Type::Tuple(_) | Type::Record(_))
                        || self.checked.struct_value(target).is_some())
                {
                    let (p, layout) = self.tuple_value(target)?;
                    let len = layout.size();
                    let id = self.message(Message::PrintTuple { layout });
                    self.output(id, &[Field::Bytes { ptr: p, len }]);
                    return None;
                }
                if name == "print" && !whole_map {
                    // A value, or one element of a map (`print(@x[1])`): printed as a value.
                    let (fields, layouts) = self.packed_args(std::slice::from_ref(target))?;
                    let id = self.message(Message::PrintValue { layout: layouts[0] });
                    self.output(id, &fields);
                    return None;
                }
                if !whole_map || (name != "print" && args.len() > 1) {
                    self.not_built(e.span, format!("`{name}()` of anything but a whole map"));
                    return None;
                }
                // `print(@m, top, div)`: both literal integers, as upstream requires.
                let mut limits = [0u64, 1u64];
                for (slot, a) in limits.iter_mut().zip(&args[1..]) {
                    match a.kind {
                        ExprKind::Int(n) => *slot = n,
                        _ => {
                            self.not_built(a.span, "a `print()` top or div that is not a literal");
                            return None;
                        }
                    }
                }
                let (mi, _) = self.map_of(target)?;
                let msg = match name {
                    "print" => Message::Print {
                        map: mi,
                        top: usize::try_from(limits[0]).unwrap_or(usize::MAX),
                        div: limits[1].max(1),
                    },
                    _ => Message::Clear {
                        map: mi,
                        zero: name == "zero",
                    },
                };
                let id = self.message(msg);
                self.output(id, &[]);
                None
            }
            "delete" => {
                let (mi, keys) = match args {
                    [m] => self.map_of(m)?,
                    [m, rest @ ..] => {
                        let (mi, _) = self.map_of(m)?;
                        (mi, rest.to_vec())
                    }
                    [] => return None,
                };
                if keys.is_empty()
                    && (self.plan.maps[mi].is_array() || self.plan.maps[mi].is_tseries())
                {
                    // A keyless aggregation lives in an array, whose elements cannot be
                    // deleted: clear it as `clear()` does.
                    let id = self.message(Message::Clear {
                        map: mi,
                        zero: false,
                    });
                    self.output(id, &[]);
                    return Some(V::Int(self.b.imm(1)));
                }
                let key = self.map_key(mi, &keys, e.span);
                let id = self.plan.maps[mi].id;
                let r = cg::delete(&mut self.b, id, key);
                Some(V::Int(self.bool_of(JmpOp::Eq, r, None)))
            }
            "path" => self.path_call(args, e),
            "uaddr" => self.uaddr(args, e),
            "comm" if args.len() == 1 => self.comm_of_pid(&args[0], e),
            "str" => {
                let src = args.first()?;
                if self.ty(src) == Type::Str {
                    return self.expr(src);
                }
                let ptr = self.int(src);
                let (_, p) = self.str_slot();
                let n = match args.get(1) {
                    Some(a) => match a.kind {
                        ExprKind::Int(n) => self.b.imm(n.min(u64::from(STR_SIZE)) as i64),
                        // A length known only when running: at most the slot's size (the
                        // verifier needs the bound).
                        _ => {
                            let v = self.int(a);
                            let n = self.b.vreg(kscope_codegen::Width::W64);
                            self.b.mov(n, v);
                            let ok = self.b.label();
                            self.b.jmp_if(JmpOp::Le, v, STR_SIZE as i32, ok);
                            self.b.mov(n, STR_SIZE as i32);
                            self.b.place(ok);
                            n
                        }
                    },
                    None => self.b.imm(i64::from(STR_SIZE)),
                };
                let h = if self.user_pointer(src) {
                    kscope_codegen::helper::PROBE_READ_USER_STR
                } else {
                    kscope_codegen::helper::PROBE_READ_KERNEL_STR
                };
                self.b.call_void(h, &[p, n, ptr]);
                Some(V::Str(p))
            }
            "has_key" => {
                let [m, rest @ ..] = args else {
                    return None;
                };
                let (mi, _) = self.map_of(m)?;
                let key = self.map_key(mi, rest, e.span);
                let id = self.plan.maps[mi].id;
                let p = cg::lookup(&mut self.b, id, key);
                Some(V::Int(self.bool_of(JmpOp::Ne, p, None)))
            }
            "strlen" => {
                let p = self.string(args.first()?);
                // Strings are NUL padded: the length is the number of non-NUL bytes.
                let n = self.b.imm(0);
                for off in 0..STR_SIZE as i16 {
                    let skip = self.b.label();
                    let c = self.b.load(Size::B, Base::Reg(p), off);
                    self.b.jmp_if(JmpOp::Eq, c, 0, skip);
                    self.b.alu(AluOp::Add, n, 1);
                    self.b.place(skip);
                }
                Some(V::Int(n))
            }
            "strncmp" => {
                let [a, b, n] = args else {
                    return None;
                };
                let ExprKind::Int(n) = n.kind else {
                    self.not_built(e.span, "`strncmp` with a non-literal length");
                    return None;
                };
                let a = self.string(a);
                let b = self.string(b);
                // 0 when the first n bytes are equal (NUL padding makes that strncmp's
                // equality), else 1.
                let res = self.b.imm(1);
                let differ = self.b.label();
                for off in 0..(n.min(u64::from(STR_SIZE)) as i16) {
                    let x = self.b.load(Size::B, Base::Reg(a), off);
                    let y = self.b.load(Size::B, Base::Reg(b), off);
                    self.b.jmp_if(JmpOp::Ne, x, y, differ);
                }
                self.b.mov(res, 0);
                self.b.place(differ);
                Some(V::Int(res))
            }
            "signal" | "signal_thread" => {
                let arg = args.first()?;
                let s = match &arg.kind {
                    ExprKind::Str(sig) => {
                        let sig = String::from_utf8_lossy(sig);
                        match signal_number(&sig) {
                            Some(n) => self.b.imm(n),
                            None => {
                                self.errors.push(LowerError {
                                    span: arg.span,
                                    message: format!("unknown signal `{sig}`"),
                                });
                                return None;
                            }
                        }
                    }
                    _ => self.int(arg),
                };
                let helper = if name == "signal" {
                    HELPER_SEND_SIGNAL
                } else {
                    HELPER_SEND_SIGNAL_THREAD
                };
                self.b.call_void(helper, &[s]);
                None
            }
            "is_err" | "assert" => None,
            "reg" => self.reg(args.first()?, e),
            "system" => self.formatted_output(args, e, "a system() command", |format, args| {
                Message::System { format, args }
            }),
            // The address space only matters where the value is followed (user_source).
            "uptr" | "kptr" => self.expr(args.first()?),
            "cat" => self.formatted_output(args, e, "a cat() file name", |format, args| {
                Message::Cat { format, args }
            }),
            "errorf" | "warnf" => {
                let error = name == "errorf";
                let span = e.span;
                self.formatted_output_with(args, e, "an errorf()/warnf() format", |format, args| {
                    Message::Report {
                        format,
                        args,
                        error,
                        span,
                    }
                })
            }
            "len" => {
                let target = args.first()?;
                if !matches!(&target.kind, ExprKind::Map { keys, .. } if keys.is_empty()) {
                    if !matches!(self.ty(target), Type::Kstack | Type::Ustack) {
                        self.not_built(e.span, "`len()` of this value");
                        return None;
                    }
                    return self.stack_len(target);
                }
                let (mi, _) = self.map_of(target)?;
                if self.plan.maps[mi].keys.is_empty() {
                    self.not_built(e.span, "`len()` of a map without keys");
                    return None;
                }
                Some(V::Int(self.map_len(mi)))
            }
            "strcontains" => {
                let [h, n] = args else {
                    return None;
                };
                let h = self.string(h);
                if let ExprKind::Str(lit) = &n.kind {
                    let lit = lit.clone();
                    return Some(V::Int(self.strcontains_literal(h, &lit)));
                }
                let n = self.string(n);
                Some(V::Int(self.strcontains(h, n)))
            }
            "cgroup" => Some(V::Int(self.b.call(HELPER_GET_CURRENT_CGROUP_ID, &[]))),
            "join" => {
                let arr = self.int(args.first()?);
                let sep = match args.get(1).map(|a| &a.kind) {
                    Some(ExprKind::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                    None => " ".to_string(),
                    Some(_) => {
                        self.not_built(e.span, "a `join()` separator that is not a literal");
                        return None;
                    }
                };
                self.join(arr, sep);
                None
            }
            "kstack" => self.stack(false, args, e),
            "ustack" => self.stack(true, args, e),
            "usym" => self.usym(args),
            "ksym" => Some(V::Int(self.int(args.first()?))),
            "ntop" => self.ntop(args),
            "buf" => self.buf(args),
            "bswap" => self.bswap(args.first()?),
            "kaddr" => self.kaddr(args.first()?),
            "percpu_kaddr" => self.percpu_kaddr(args),
            "strftime" => Some(V::Int(self.int(args.get(1)?))),
            "cgroup_path" => Some(V::Int(self.int(args.first()?))),
            "macaddr" => self.macaddr(args.first()?),
            "memcmp" | "str_concat" | "pton" | "strcap" => self.string_func(name, args, e),
            "strstr" => {
                let [h, n] = args else {
                    return None;
                };
                let h = self.string(h);
                let n = self.string(n);
                Some(V::Int(self.strstr(h, n)))
            }
            "nsecs" => {
                let helper = match args.first().map(|a| &a.kind) {
                    None => kscope_codegen::helper::KTIME_GET_BOOT_NS,
                    Some(ExprKind::Ident(m)) if m == "boot" => {
                        kscope_codegen::helper::KTIME_GET_BOOT_NS
                    }
                    Some(ExprKind::Ident(m)) if m == "monotonic" => {
                        kscope_codegen::helper::KTIME_GET_NS
                    }
                    Some(ExprKind::Ident(m)) if m == "tai" => {
                        kscope_codegen::helper::KTIME_GET_TAI_NS
                    }
                    // Upstream's approximation for kernels without the TAI helper: the
                    // boot clock plus the offset user space measured at the start.
                    Some(ExprKind::Ident(m)) if m == "sw_tai" => {
                        let boot = self.b.call(kscope_codegen::helper::KTIME_GET_BOOT_NS, &[]);
                        let offset = self.b.imm(self.ctx.tai_offset_ns);
                        return Some(V::Int(self.b.binop(AluOp::Add, boot, offset)));
                    }
                    Some(_) => {
                        self.not_built(e.span, "this `nsecs()` clock");
                        return None;
                    }
                };
                Some(V::Int(self.b.call(helper, &[])))
            }
            "strerror" | "signal_name" | "syscall_name" => {
                let table = crate::plan::StrTable::of_function(name)?;
                self.str_table(table, args.first()?)
            }
            "count" | "sum" | "avg" | "min" | "max" | "stats" | "hist" | "lhist" => {
                self.not_built(e.span, format!("`{name}()` outside a map assignment"));
                None
            }
            other => {
                self.not_built(e.span, format!("the function `{other}()`"));
                None
            }
        }
    }

    /// Evaluates output arguments: the record fields and their layouts.
    /// printf-like calls: a literal format (`what` names it in the error otherwise) and
    /// its arguments packed into one ringbuf record of the message `make` builds.
    pub(super) fn formatted_output(
        &mut self,
        args: &[Expr],
        e: &Expr,
        what: &str,
        make: fn(FormatString, Vec<Scalar>) -> Message,
    ) -> Option<V> {
        self.formatted_output_with(args, e, what, make)
    }

    /// [`Self::formatted_output`] with a message that captures more than the format.
    pub(super) fn formatted_output_with(
        &mut self,
        args: &[Expr],
        e: &Expr,
        what: &str,
        make: impl FnOnce(FormatString, Vec<Scalar>) -> Message,
    ) -> Option<V> {
        let Some(ExprKind::Str(fmt)) = args.first().map(|a| &a.kind) else {
            self.not_built(e.span, format!("{what} that is not a literal"));
            return None;
        };
        let format = FormatString::parse(&String::from_utf8_lossy(fmt));
        let (fields, layouts) = self.packed_args(&args[1..])?;
        self.span(e.span);
        let id = self.message(make(format, layouts));
        self.output(id, &fields);
        None
    }

    pub(super) fn packed_args(&mut self, args: &[Expr]) -> Option<(Vec<Field>, Vec<Scalar>)> {
        let mut fields = Vec::new();
        let mut layouts = Vec::new();
        for a in args {
            let t = self.ty(a);
            if matches!(t, Type::Tuple(_) | Type::Record(_)) {
                self.not_built(a.span, "a tuple or record as an output argument");
                return None;
            }
            let v = match t {
                Type::Array(..) => self.array_value(a)?,
                _ => self.expr(a)?,
            };
            match v {
                V::Int(r) => {
                    fields.push(Field::Value(r, Width::W64));
                    layouts.push(match Scalar::of(&t) {
                        Some(
                            sc @ (Scalar::Kstack
                            | Scalar::Bool
                            | Scalar::Ptr
                            | Scalar::Ksym
                            | Scalar::Timestamp(_)
                            | Scalar::CgroupPath(_)
                            | Scalar::Username
                            | Scalar::Enum(_)),
                        ) => sc,
                        Some(sc @ (Scalar::Ustack | Scalar::Usym)) => {
                            let pid = self.pid_field();
                            fields.push(pid);
                            sc
                        }
                        _ => Scalar::Int {
                            signed: t.is_signed(),
                        },
                    });
                }
                V::Str(p) => {
                    fields.push(Field::Bytes {
                        ptr: p,
                        len: STR_SIZE,
                    });
                    layouts.push(match Scalar::of(&t) {
                        Some(sc @ (Scalar::Inet | Scalar::Buf | Scalar::Array { .. })) => sc,
                        _ => Scalar::Str,
                    });
                }
            }
        }
        Some((fields, layouts))
    }

    pub(super) fn message(&mut self, m: Message) -> u64 {
        self.plan.messages.push(m);
        self.plan.messages.len() as u64 - 1
    }

    pub(super) fn output(&mut self, id: u64, fields: &[Field]) {
        let (rb, loss) = (self.plan.ringbuf, self.plan.loss);
        // exit() wakes the consumer at once; other records per RECORD_WAKEUP.
        let flags = match self.plan.messages.get(id as usize) {
            Some(Message::Exit | Message::ExitCode | Message::NewPid) => cg::Wakeup::Always,
            _ => RECORD_WAKEUP,
        };
        cg::ringbuf_output_with(&mut self.b, rb, loss, id, fields, flags);
    }
}
