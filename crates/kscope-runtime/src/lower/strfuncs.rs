//! `memcmp()`, `str_concat()`, `pton()` and `strcap()` of a pointer, plus arrays as
//! values: their bytes on the BPF stack for printing, `==`/`!=` and casts to an integer
//! of the same size.
//!
//! An array value (of integers, bools or pointers, of any dimension) lives as a string
//! does: [`STR_SIZE`] zero-padded bytes in a stack slot ([`Scalar::Array`]), its
//! elements in C's order. `pton()` writes its bytes there when compiling; an array in
//! kernel memory or in a tracepoint record is read into such a slot.

use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::{VReg, Width};
use kscope_lang::ast::{BinOp, Expr, ExprKind};
use kscope_lang::sema::{STR_CAP, Type, byte_size, pton_bytes};

use super::*;
use crate::plan::{STR_SIZE, Scalar};

const _: () = assert!(STR_CAP == STR_SIZE as u64);

/// The load size of an integer of `bytes` bytes.
fn int_size(bytes: u64) -> Option<Size> {
    match bytes {
        1 => Some(Size::B),
        2 => Some(Size::H),
        4 => Some(Size::W),
        8 => Some(Size::DW),
        _ => None,
    }
}

impl Lowerer<'_> {
    /// Lowers `memcmp`, `str_concat`, `pton` and `strcap` (the checker made `strcap` of
    /// a string or an array a literal, and `memcmp`'s count one).
    pub(super) fn string_func(&mut self, name: &str, args: &[Expr], e: &Expr) -> Option<V> {
        match (name, args) {
            ("memcmp", [l, r, n]) => {
                let ExprKind::Int(n) = n.kind else {
                    self.not_built(n.span, "a `memcmp()` count that is not a constant");
                    return None;
                };
                let a = self.bytes_of(l)?;
                let b = self.bytes_of(r)?;
                Some(V::Int(self.memcmp(a, b, n)))
            }
            ("str_concat", [s1, s2]) => {
                let a = self.string_like(s1);
                let b = self.string_like(s2);
                Some(V::Str(self.str_concat(a, b)))
            }
            ("pton", [addr]) => {
                let ExprKind::Str(text) = &addr.kind else {
                    return None;
                };
                let bytes = pton_bytes(&String::from_utf8_lossy(text))?;
                let (s, p) = self.str_slot();
                for (i, chunk) in bytes.chunks(8).enumerate() {
                    let mut w = [0u8; 8];
                    w[..chunk.len()].copy_from_slice(chunk);
                    let v = self.b.imm(i64::from_le_bytes(w));
                    self.b.store(Size::DW, Base::Slot(s), (i * 8) as i16, v);
                }
                Some(V::Str(p))
            }
            ("strcap", [x]) => {
                // A pointer to characters: the length of the string there, as upstream.
                let p = self.string_like(x);
                Some(V::Int(self.nonzero_bytes(p, STR_SIZE as i16 - 1)))
            }
            _ => {
                self.not_built(e.span, format!("this call of `{name}()`"));
                None
            }
        }
    }

    /// The number of non-NUL bytes among the first `n` of the string at `p` (its length:
    /// strings are NUL padded).
    fn nonzero_bytes(&mut self, p: VReg, n: i16) -> VReg {
        let len = self.b.imm(0);
        for off in 0..n {
            let skip = self.b.label();
            let c = self.b.load(Size::B, Base::Reg(p), off);
            self.b.jmp_if(JmpOp::Eq, c, 0, skip);
            self.b.alu(AluOp::Add, len, 1);
            self.b.place(skip);
        }
        len
    }

    /// A string operand that may also be a pointer to characters (read as `str(p)`).
    fn string_like(&mut self, e: &Expr) -> VReg {
        if !matches!(self.ty(e), Type::Ptr(_) | Type::Unknown) {
            return self.string(e);
        }
        let ptr = self.int(e);
        let (_, p) = self.str_slot();
        let n = self.b.imm(i64::from(STR_SIZE));
        let h = if self.user_pointer(e) {
            kscope_codegen::helper::PROBE_READ_USER_STR
        } else {
            kscope_codegen::helper::PROBE_READ_KERNEL_STR
        };
        self.b.call_void(h, &[p, n, ptr]);
        p
    }

    /// `str_concat(a, b)`: a fresh string holding `a`, then as much of `b` as fits
    /// before the last byte (always a NUL). `a`'s length is counted byte by byte, so on
    /// every verifier path it is a constant and `out + len` a fixed stack offset.
    fn str_concat(&mut self, a: VReg, b: VReg) -> VReg {
        let (_, out) = self.str_slot();
        self.copy_str(out, a);
        let len = self.nonzero_bytes(out, STR_SIZE as i16 - 1);
        let dst = self.b.binop(AluOp::Add, out, len);
        let room = self.b.imm(i64::from(STR_SIZE));
        self.b.alu(AluOp::Sub, room, len);
        self.b.call_void(
            kscope_codegen::helper::PROBE_READ_KERNEL_STR,
            &[dst, room, b],
        );
        out
    }

    /// `memcmp(a, b, n)` over stack bytes: 0 when the first `n` bytes are equal, else
    /// the difference of the first differing bytes as `char`s (signed, as upstream's
    /// `__memcmp`). Unrolled: `n` is at most [`MEMCMP_MAX`](kscope_lang::sema::MEMCMP_MAX).
    fn memcmp(&mut self, a: VReg, b: VReg, n: u64) -> VReg {
        let res = self.b.imm(0);
        if n == 0 {
            // No bytes: equal (and no differing-byte code the verifier finds unreachable).
            return res;
        }
        let x = self.b.vreg(Width::W64);
        let y = self.b.vreg(Width::W64);
        let differ = self.b.label();
        let done = self.b.label();
        for off in 0..n.min(u64::from(STR_SIZE)) as i16 {
            let lx = self.b.load(Size::B, Base::Reg(a), off);
            self.b.mov(x, lx);
            let ly = self.b.load(Size::B, Base::Reg(b), off);
            self.b.mov(y, ly);
            self.b.jmp_if(JmpOp::Ne, x, y, differ);
        }
        self.b.jmp(done);
        self.b.place(differ);
        let sx = self.b.sext(x, Width::W8);
        let sy = self.b.sext(y, Width::W8);
        let d = self.b.binop(AluOp::Sub, sx, sy);
        self.b.mov(res, d);
        self.b.place(done);
        res
    }

    /// A pointer to at least [`STR_SIZE`] stack bytes holding `e`'s bytes from its
    /// first: a string's, an array's (read from kernel or user memory, or a tracepoint
    /// record, when it lives there), an integer's or pointer's value in memory order.
    fn bytes_of(&mut self, e: &Expr) -> Option<VReg> {
        match self.ty(e) {
            Type::Str => Some(self.string(e)),
            Type::Array(..) => self.array_bytes(e),
            _ => {
                let v = self.int(e);
                let s = self.b.slot(8);
                self.b.store(Size::DW, Base::Slot(s), 0, v);
                Some(self.b.slot_addr(s, 0))
            }
        }
    }

    /// The bytes of array `e` in a [`STR_SIZE`]-byte zero-padded stack slot (its first
    /// [`STR_SIZE`] bytes); the value's own slot when it already is one (`pton()`, a
    /// variable, a map value).
    pub(super) fn array_bytes(&mut self, e: &Expr) -> Option<VReg> {
        let size = byte_size(&self.ty(e)).unwrap_or(0).min(u64::from(STR_SIZE));
        let (src, user) = if self.is_place(e) {
            match self.btf_address(e)? {
                V::Int(a) => (a, self.user_pointer(e)),
                V::Str(p) => return Some(p),
            }
        } else {
            match self.expr(e)? {
                V::Str(p) => return Some(p),
                // An array in a tracepoint record: its address in the (kernel) record.
                V::Int(a) => (a, false),
            }
        };
        let (_, p) = self.str_slot();
        let n = self.b.imm(size as i64);
        let h = if user {
            kscope_codegen::helper::PROBE_READ_USER
        } else {
            kscope_codegen::helper::PROBE_READ_KERNEL
        };
        self.b.call_void(h, &[p, n, src]);
        Some(p)
    }

    /// An array as an output argument (`print`, `printf`): its bytes, printed as
    /// `[1,2,3,4]`, `[[5,6],[7,8]]`, `[true,false]`.
    pub(super) fn array_value(&mut self, e: &Expr) -> Option<V> {
        let t = self.ty(e);
        if Scalar::of(&t).is_none() {
            self.not_built_value(e.span, format!("printing a `{t}`"), &t);
            return None;
        }
        Some(V::Str(self.array_bytes(e)?))
    }

    /// `(T)arr`: an integer array read as an integer of its own size, in the machine's
    /// byte order (the checker matched the sizes).
    pub(super) fn array_cast(&mut self, arr: &Expr, to: &Type) -> Option<V> {
        let Type::Int { bits, .. } = to else {
            return None;
        };
        let size = int_size(u64::from(*bits / 8))?;
        let p = self.array_bytes(arr)?;
        let v = self.b.load(size, Base::Reg(p), 0);
        Some(V::Int(self.extend(v, to)))
    }

    /// `a == b` / `a != b` on integer arrays of one type: their bytes compared.
    pub(super) fn array_eq(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<V> {
        let n = byte_size(&self.ty(lhs)).unwrap_or(0);
        if n > u64::from(STR_SIZE) {
            self.not_built(
                lhs.span,
                format!("comparing arrays of more than {STR_SIZE} bytes"),
            );
            return None;
        }
        let a = self.array_bytes(lhs)?;
        let b = self.array_bytes(rhs)?;
        let d = self.memcmp(a, b, n);
        let j = if op == BinOp::Eq {
            JmpOp::Eq
        } else {
            JmpOp::Ne
        };
        Some(V::Int(self.bool_of(j, d, None)))
    }
}
