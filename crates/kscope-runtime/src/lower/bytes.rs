//! Functions whose values are bytes or constants rather than kernel reads of their own:
//! `ntop()` (an address and its family), `buf()` (raw bytes), `bswap()` and `kaddr()`.

use std::sync::OnceLock;

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_lang::ast::{Expr, ExprKind};
use kscope_lang::sema::{BUF_MAX, Type};

use super::*;
use crate::plan::STR_SIZE;

const _: () = assert!(BUF_MAX + 8 <= STR_SIZE as u64);

/// `AF_INET`.
const AF_INET: i64 = 2;
/// `AF_INET6`.
const AF_INET6: i64 = 10;

/// The kernel's symbols, read once per run for `kaddr()`.
fn kernel_symbols() -> Option<&'static kscope_bpf::ksym::KernelSymbols> {
    static SYMS: OnceLock<Option<kscope_bpf::ksym::KernelSymbols>> = OnceLock::new();
    SYMS.get_or_init(|| kscope_bpf::ksym::KernelSymbols::load().ok())
        .as_ref()
}

impl Lowerer<'_> {
    /// The address of the bytes `e` denotes: an array in kernel memory (a struct
    /// member) by its address, any other value (a tracepoint array, a pointer) as is.
    fn bytes_address(&mut self, e: &Expr) -> VReg {
        if matches!(self.ty(e), Type::Array(..))
            && self.is_place(e)
            && let Some(V::Int(a)) = self.btf_address(e)
        {
            return a;
        }
        match self.expr(e) {
            // An array value on the stack (`pton()`, a variable): its bytes' address.
            Some(V::Int(a) | V::Str(a)) => a,
            None => self.b.imm(0),
        }
    }

    /// The kernel or user read helper for memory `e` points into.
    fn read_helper(&self, e: &Expr) -> u32 {
        // A string value is on the BPF stack.
        if self.user_pointer(e) && self.ty(e) != Type::Str {
            kscope_codegen::helper::PROBE_READ_USER
        } else {
            kscope_codegen::helper::PROBE_READ_KERNEL
        }
    }

    /// `ntop([af,] addr)`: a zeroed string slot holding the family and the address
    /// bytes. An integer address is stored as it is in memory (network order when read
    /// from a `__be32`); an array is copied, its size giving the family when none is.
    pub(super) fn ntop(&mut self, args: &[Expr]) -> Option<V> {
        let addr = args.last()?;
        let (slot, p) = self.str_slot();
        let len = match self.ty(addr) {
            Type::Array(_, n) => Some(n as u32),
            _ => None,
        };
        let af = match args {
            [af, _] => self.int(af),
            _ => self.b.imm(if len == Some(16) { AF_INET6 } else { AF_INET }),
        };
        self.b.store(Size::DW, Base::Slot(slot), 0, af);
        let v = self.bytes_address(addr);
        match len {
            Some(n) => {
                let dst = self.offset(p, 8);
                let n = self.b.imm(i64::from(n));
                let h = self.read_helper(addr);
                self.b.call_void(h, &[dst, n, v]);
            }
            None => self.b.store(Size::DW, Base::Slot(slot), 8, v),
        }
        Some(V::Str(p))
    }

    /// `macaddr(mac)`: the 6 bytes at `mac` as `AA:BB:CC:DD:EE:FF` (upper-case hex, as
    /// upstream prints), a string.
    pub(super) fn macaddr(&mut self, mac: &Expr) -> Option<V> {
        let raw = self.b.slot(8);
        self.b.zero_slot(raw, 0, 8);
        let src = self.bytes_address(mac);
        let dst = self.b.slot_addr(raw, 0);
        let six = self.b.imm(6);
        let h = self.read_helper(mac);
        self.b.call_void(h, &[dst, six, src]);
        let (s, p) = self.str_slot();
        for i in 0..6i16 {
            let byte = self.b.load(Size::B, Base::Slot(raw), i);
            for (k, shift) in [(0i16, 4), (1, 0)] {
                let n = self.b.copy(byte);
                if shift > 0 {
                    self.b.alu(AluOp::Rsh, n, shift);
                }
                self.b.alu(AluOp::And, n, 0xf);
                let digit = self.b.label();
                self.b.jmp_if(JmpOp::Le, n, 9, digit);
                self.b.alu(AluOp::Add, n, i32::from(b'A' - b'0' - 10));
                self.b.place(digit);
                self.b.alu(AluOp::Add, n, i32::from(b'0'));
                self.b.store(Size::B, Base::Slot(s), i * 3 + k, n);
            }
            if i < 5 {
                let colon = self.b.imm(i64::from(b':'));
                self.b.store(Size::B, Base::Slot(s), i * 3 + 2, colon);
            }
        }
        Some(V::Str(p))
    }

    /// `buf(p [, len])`: a zeroed string slot holding the length (at most [`BUF_MAX`],
    /// an array's size when none is given) and that many bytes read from `p`.
    pub(super) fn buf(&mut self, args: &[Expr]) -> Option<V> {
        let src = args.first()?;
        let (slot, p) = self.str_slot();
        let len = match (args.get(1), self.ty(src)) {
            (Some(n), _) => {
                let n = self.int(n);
                let ok = self.b.label();
                self.b.jmp_if(JmpOp::Le, n, BUF_MAX as i32, ok);
                self.b.mov(n, BUF_MAX as i32);
                self.b.place(ok);
                n
            }
            (None, Type::Array(elem, count)) => {
                let size = count * elem_size(&elem);
                self.b.imm(size.min(BUF_MAX) as i64)
            }
            (None, _) => self.b.imm(0),
        };
        self.b.store(Size::DW, Base::Slot(slot), 0, len);
        let v = self.bytes_address(src);
        let dst = self.offset(p, 8);
        let h = self.read_helper(src);
        self.b.call_void(h, &[dst, len, v]);
        Some(V::Str(p))
    }

    /// `bswap(x)`: the bytes of `x`'s type in reverse order, extended back to 64 bits
    /// by the type's sign.
    pub(super) fn bswap(&mut self, arg: &Expr) -> Option<V> {
        let (bits, signed) = self
            .ty(arg)
            .int_parts()
            .map_or((64, false), |(b, s)| (u32::from(b), s));
        let x = self.int(arg);
        let n = bits / 8;
        let out = self.b.imm(0);
        for i in 0..n {
            let byte = self.b.binop(AluOp::Rsh, x, (8 * i) as i32);
            self.b.alu(AluOp::And, byte, 0xff);
            let to = 8 * (n - 1 - i);
            if to > 0 {
                self.b.alu(AluOp::Lsh, byte, to as i32);
            }
            self.b.alu(AluOp::Or, out, byte);
        }
        if signed && bits < 64 {
            let shift = (64 - bits) as i32;
            self.b.alu(AluOp::Lsh, out, shift);
            self.b.alu(AluOp::Arsh, out, shift);
        }
        Some(V::Int(out))
    }

    /// `percpu_kaddr("name" [, cpu])`: the address of a per-CPU kernel variable on this
    /// CPU (`bpf_this_cpu_ptr`) or on `cpu` (`bpf_per_cpu_ptr`, NULL past the last CPU),
    /// the variable named by its BTF id.
    pub(super) fn percpu_kaddr(&mut self, args: &[Expr]) -> Option<V> {
        let ExprKind::Str(name) = &args.first()?.kind else {
            return None;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        // The verifier resolves the variable's address through kallsyms.
        if kernel_symbols().is_some_and(|k| !k.has_data_symbols()) {
            self.errors.push(LowerError {
                span: args[0].span,
                message: format!(
                    "`percpu_kaddr(\"{name}\")` cannot be loaded on this kernel: the verifier \
                     finds a variable's address in /proc/kallsyms, which lists functions only \
                     here (the kernel was built without CONFIG_KALLSYMS_ALL)"
                ),
            });
            return None;
        }
        let id = self
            .ctx
            .btf
            .as_ref()
            .and_then(|b| b.btf().find_by_name(kscope_btf::Kind::Var, &name));
        let Some(id) = id else {
            self.errors.push(LowerError {
                span: args[0].span,
                message: format!("`percpu_kaddr()`: no variable `{name}` in the kernel's BTF"),
            });
            return None;
        };
        let var = self.b.btf_var_addr(id);
        Some(V::Int(match args.get(1) {
            Some(cpu) => {
                let cpu = self.int(cpu);
                self.b
                    .call(kscope_codegen::helper::PER_CPU_PTR, &[var, cpu])
            }
            None => self.b.call(kscope_codegen::helper::THIS_CPU_PTR, &[var]),
        }))
    }

    /// `kaddr("name")`: the address of a kernel symbol from /proc/kallsyms, a constant.
    pub(super) fn kaddr(&mut self, arg: &Expr) -> Option<V> {
        let ExprKind::Str(name) = &arg.kind else {
            return None;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        match kernel_symbols().and_then(|k| k.address_of(&name)) {
            Some(addr) => Some(V::Int(self.b.imm(addr as i64))),
            None => {
                let why = match kernel_symbols() {
                    None => "/proc/kallsyms cannot be read",
                    Some(k) if !k.has_data_symbols() => {
                        "this kernel's /proc/kallsyms lists functions only (it was built \
                         without CONFIG_KALLSYMS_ALL)"
                    }
                    Some(_) => "a typo, or a symbol of a module that is not loaded",
                };
                self.errors.push(LowerError {
                    span: arg.span,
                    message: format!(
                        "`kaddr()`: no kernel symbol `{name}` in /proc/kallsyms: {why}"
                    ),
                });
                None
            }
        }
    }
}

/// The size in bytes of an array element type (integers; 1 for anything else).
fn elem_size(t: &Type) -> u64 {
    match t {
        Type::Int { bits, .. } => u64::from(*bits / 8),
        Type::Ptr(_) => 8,
        _ => 1,
    }
}
