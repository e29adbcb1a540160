//! Kernel memory typed by BTF: `curtask`, pointer casts, `p->member` and `s.member`
//! chains, `*p`, `p[i]`, and raw tracepoint `args`.
//!
//! A chain is lowered as an address computation (a [`Place`]): member offsets and array
//! strides are added as constants, each pointer on the way is read with one
//! `bpf_probe_read_kernel`, and the value at the end is read into a stack slot with its
//! own size, then sign- or zero-extended (bitfields shifted out of their storage).

use kscope_btf::{Btf, Kind};
use kscope_codegen::ir::{AluOp, Base, Size};
use kscope_codegen::{VReg, helper};
use kscope_ftrace::format::FieldKind;
use kscope_lang::ast::{Expr, ExprKind, UnOp};
use kscope_lang::btf_types::BtfTypes;
use kscope_lang::cdefs::CType;
use kscope_lang::sema::Type;
use kscope_lang::span::Span;

use super::*;
use crate::plan::{STR_SIZE, Scalar};

/// The type of the memory at an address.
#[derive(Clone)]
enum Mem {
    /// A BTF type (of this BTF: the kernel's or a module's).
    Btf(Btf, u32),
    /// A checker type without BTF behind it (`*(uint32 *)arg0`).
    Sema(Type),
    /// A type of the script's C definitions (`struct Foo { ... }` at the top).
    User(CType),
}

/// A value in memory: where it is and what it is.
struct Place {
    addr: VReg,
    mem: Mem,
    /// A bitfield: its first bit after `addr` (0..8) and its width.
    bits: Option<(u8, u8)>,
    /// Whether `addr` is a user-space address (read with `bpf_probe_read_user`).
    user: bool,
    /// The value is in the probe's context at this offset, read by direct loads the
    /// verifier rewrites (`addr` is then the context pointer, which must not move).
    ctx: Option<i16>,
}

/// What a BTF type is, as far as reading it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An integer, enum or bool of `size` bytes.
    Int { size: u32, signed: bool },
    /// A pointer to `target` (0: `void *`).
    Ptr { target: u32 },
    /// An array of `char` (read as a string).
    CharArray { count: u32 },
    /// Any other array.
    Array { elem: u32, count: u32 },
    /// A struct or union.
    Aggregate,
    /// Anything else (`void`, floats, functions).
    Other,
}

/// The [`Shape`] of BTF type `id` (typedefs and modifiers followed).
pub(crate) fn shape(btf: &Btf, id: u32) -> Shape {
    let Ok(rid) = btf.resolve(id) else {
        return Shape::Other;
    };
    let Ok(t) = btf.raw_type(rid) else {
        return Shape::Other;
    };
    match t.kind {
        Kind::Int => match btf.int_encoding(rid) {
            Ok(enc) => Shape::Int {
                size: t.size_or_type,
                signed: enc.signed && !enc.bool,
            },
            Err(_) => Shape::Other,
        },
        Kind::Enum | Kind::Enum64 => Shape::Int {
            size: t.size_or_type,
            signed: t.kind_flag,
        },
        Kind::Ptr => Shape::Ptr {
            target: t.size_or_type,
        },
        Kind::Array => {
            let Ok(a) = btf.array(rid) else {
                return Shape::Other;
            };
            let char_elem = btf.resolve(a.elem).is_ok_and(|e| {
                btf.kind(e).is_ok_and(|k| k == Kind::Int)
                    && btf.size_of(e).is_ok_and(|s| s == 1)
                    && (btf.int_encoding(e).is_ok_and(|enc| enc.char)
                        || btf.name(e).is_ok_and(|n| n == "char"))
            });
            if char_elem {
                Shape::CharArray { count: a.count }
            } else {
                Shape::Array {
                    elem: a.elem,
                    count: a.count,
                }
            }
        }
        Kind::Struct | Kind::Union => Shape::Aggregate,
        _ => Shape::Other,
    }
}

/// Where a member is inside its aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberAt {
    /// Bytes from the aggregate's start to the byte holding the member's first bit.
    pub offset: u64,
    /// The member's BTF type.
    pub type_id: u32,
    /// A bitfield: its first bit within that byte (0..8) and its width.
    pub bits: Option<(u8, u8)>,
}

/// Member `name` of aggregate `id`, looking through anonymous struct and union members.
pub(crate) fn member_at(btf: &Btf, id: u32, name: &str) -> Option<MemberAt> {
    let m = btf.find_member(id, name).ok()??;
    // BTF offsets of ordinary members are byte aligned; a bitfield keeps its bit
    // position within the byte.
    Some(MemberAt {
        offset: m.bit_offset / 8,
        type_id: m.type_id,
        bits: m
            .is_bitfield()
            .then_some(((m.bit_offset % 8) as u8, m.bitfield_size)),
    })
}

fn int_size(bytes: u32) -> Option<Size> {
    Some(match bytes {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        8 => Size::DW,
        _ => return None,
    })
}

impl Lowerer<'_> {
    /// `curtask`: `bpf_get_current_task()`.
    pub(super) fn curtask(&mut self) -> VReg {
        self.b.call(helper::GET_CURRENT_TASK, &[])
    }

    /// The value of a member access, index or dereference (`p->m`, `s.m`, `a[i]`,
    /// `*p`) read from kernel memory, and raw tracepoint `args.NAME`.
    pub(super) fn btf_value(&mut self, e: &Expr) -> Option<V> {
        match &e.kind {
            ExprKind::Field { expr, field, .. } if self.ty(expr) == Type::Args => {
                return self.raw_arg(&field.name, e);
            }
            ExprKind::Index { expr, index } if self.ty(expr) != Type::Args => {
                if let ExprKind::Field {
                    expr: args, field, ..
                } = &expr.kind
                    && self.ty(args) == Type::Args
                    && self.ctx.args != ArgSource::Raw
                    && matches!(self.ty(expr), Type::Array(..))
                {
                    return self.args_array(&field.name, index, e);
                }
                if matches!(self.ty(expr), Type::Array(..)) && !self.is_place(expr) {
                    return self.array_element(expr, index, e);
                }
            }
            _ => {}
        }
        let p = self.place(e)?;
        self.read(p, e)
    }

    /// `a[i]` of an array held as a value (`$a = s.x; $a[0]`, `@a[0][1]`,
    /// `((int8[8])n)[0]`, `$b[1][0]` of an `int32[2][2]`): an element of its stored
    /// bytes, or a copy of them in a fresh array slot for an element that is an array
    /// itself (`$b[1]`). Nested indexes address the one array's bytes, nothing is copied
    /// on the way. A constant index was checked when compiling; another reads 0 (a
    /// zeroed array) out of bounds.
    fn array_element(&mut self, base: &Expr, index: &Expr, e: &Expr) -> Option<V> {
        let elem = match self.ty(base) {
            Type::Array(elem, _) => *elem,
            _ => return None,
        };
        let elem_size = match &elem {
            Type::Int { bits, .. } => u32::from(bits / 8),
            Type::Bool => 1,
            Type::Ptr(_) => 8,
            Type::Array(..) if crate::plan::Scalar::of(&elem).is_some() => {
                kscope_lang::sema::byte_size(&elem).unwrap_or(0) as u32
            }
            _ => {
                self.not_built(
                    e.span,
                    format!("indexing an array of `{elem}` held as a value"),
                );
                return None;
            }
        };
        // Zeroed (or 0) before any branch: what an index out of bounds reads.
        let (out, slot) = if matches!(elem, Type::Array(..)) {
            let (s, p) = self.str_slot();
            (p, Some(s))
        } else {
            (self.b.imm(0), None)
        };
        let oob = self.b.label();
        let at = self.element_address(base, index, oob)?;
        self.span(e.span);
        match slot {
            Some(s) => {
                // The widest words that divide the element (every element offset is a
                // multiple of its size, and the verifier wants aligned stack accesses).
                let word = [8u32, 4, 2, 1]
                    .into_iter()
                    .find(|w| elem_size % w == 0)
                    .unwrap_or(1);
                let wsize = int_size(word).unwrap_or(Size::B);
                for k in (0..elem_size).step_by(word as usize) {
                    let w = self.b.load(wsize, Base::Reg(at), k as i16);
                    self.b.store(wsize, Base::Slot(s), k as i16, w);
                }
                self.b.place(oob);
                Some(V::Str(out))
            }
            None => {
                let r = self.b.load(int_size(elem_size)?, Base::Reg(at), 0);
                let r = self.extend(r, &elem);
                self.b.mov(out, r);
                self.b.place(oob);
                Some(V::Int(out))
            }
        }
    }

    /// Whether `e` is an element of an array value that [`Self::array_element`] reads
    /// (rather than memory, or a tracepoint record's array).
    fn is_value_element(&self, e: &Expr) -> bool {
        let ExprKind::Index { expr, .. } = &e.kind else {
            return false;
        };
        if let ExprKind::Field { expr: args, .. } = &expr.kind
            && self.ty(args) == Type::Args
        {
            return false;
        }
        matches!(self.ty(expr), Type::Array(..)) && !self.is_place(expr)
    }

    /// The address of element `index` of the array value `base`: into its bytes, through
    /// the outer indexes of a nested one (`$b[1]` of `$b[1][0]`); a variable index out of
    /// bounds jumps to `oob`.
    fn element_address(
        &mut self,
        base: &Expr,
        index: &Expr,
        oob: kscope_codegen::Label,
    ) -> Option<VReg> {
        let Type::Array(elem, count) = self.ty(base) else {
            return None;
        };
        let stride = kscope_lang::sema::byte_size(&elem).unwrap_or(1);
        let p = match &base.kind {
            ExprKind::Index {
                expr: outer,
                index: i,
            } if self.is_value_element(base) => self.element_address(outer, i, oob)?,
            _ => self.array_bytes(base)?,
        };
        match index.kind {
            ExprKind::Int(i) => {
                if i >= count {
                    self.errors.push(LowerError {
                        span: index.span,
                        message: format!(
                            "index {i} is out of bounds: the array has {count} elements"
                        ),
                    });
                    return None;
                }
                Some(match (i * stride) as i32 {
                    0 => p,
                    off => self.b.binop(AluOp::Add, p, off),
                })
            }
            _ => {
                let i = self.int(index);
                self.b
                    .jmp_if(kscope_codegen::ir::JmpOp::Ge, i, count as i32, oob);
                let off = self.b.binop(AluOp::Mul, i, stride as i32);
                Some(self.b.binop(AluOp::Add, p, off))
            }
        }
    }

    /// `&x` of a member, element or dereference: its address.
    pub(super) fn btf_address(&mut self, e: &Expr) -> Option<V> {
        if !self.is_place(e) {
            self.not_built(e.span, "taking the address of this expression");
            return None;
        }
        let p = self.place(e)?;
        if p.bits.is_some() {
            self.errors.push(LowerError {
                span: e.span,
                message: "a bitfield has no address".into(),
            });
            return None;
        }
        if let Some(off) = p.ctx {
            return self.ctx_address(off, e.span).map(V::Int);
        }
        Some(V::Int(p.addr))
    }

    /// The address `off` bytes into the probe's context, for a kind whose context is the
    /// kernel's own memory (kprobes' `struct pt_regs`); a perf event probe's context is
    /// a view the verifier rewrites, with no address to give.
    fn ctx_address(&mut self, off: i16, span: Span) -> Option<VReg> {
        use kscope_lang::ast::Provider as P;
        if matches!(
            self.ctx.attach.provider,
            P::Interval | P::Profile | P::Software | P::Hardware
        ) {
            self.not_built(
                span,
                "the address of a part of a perf event probe's context (read its members)",
            );
            return None;
        }
        let c = self.b.ctx();
        Some(self.b.binop(AluOp::Add, c, i32::from(off)))
    }

    /// The BTF types, or an error at `span` when the kernel has no BTF.
    fn btf_types(&mut self, span: Span) -> Option<std::sync::Arc<BtfTypes>> {
        if self.ctx.btf.is_none() {
            self.errors.push(LowerError {
                span,
                message: "reading kernel structs needs the kernel's BTF \
                          (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y), which this \
                          kernel does not have"
                    .into(),
            });
        }
        self.ctx.btf.clone()
    }

    /// A raw tracepoint argument by name: the `u64` at its position in the context,
    /// extended from its BTF type.
    fn raw_arg(&mut self, name: &str, e: &Expr) -> Option<V> {
        let bt = self.btf_types(e.span)?;
        let Some((i, btf, id)) = bt.raw_tracepoint_arg(&self.ctx.attach, name) else {
            self.not_built(
                e.span,
                format!("`args.{name}` where BTF does not describe the raw tracepoint"),
            );
            return None;
        };
        let c = self.b.ctx();
        let r = self.b.load(Size::DW, Base::Reg(c), (i * 8) as i16);
        Some(V::Int(match shape(&btf, id) {
            Shape::Int { size, signed } if size < 8 => {
                self.extend(r, &Type::int(size as u8 * 8, signed))
            }
            Shape::Int { .. } | Shape::Ptr { .. } => r,
            _ => {
                self.not_built(e.span, format!("`args.{name}` of this type"));
                return None;
            }
        }))
    }

    /// `args.FIELD[N]` of a tracepoint whose format gives an array field: a direct load
    /// from the record (a constant index only: the verifier wants constant offsets).
    fn args_array(&mut self, name: &str, index: &Expr, e: &Expr) -> Option<V> {
        let f = self.ctx.fields.iter().find(|f| f.name == name).cloned();
        let Some((off, len, elem_size)) = f.and_then(|f| match f.kind {
            FieldKind::Array { len, elem_size, .. } => Some((f.offset, len, elem_size)),
            _ => None,
        }) else {
            self.not_built(e.span, format!("indexing `args.{name}`"));
            return None;
        };
        let ExprKind::Int(i) = index.kind else {
            self.not_built(
                index.span,
                "a tracepoint array index that is not a constant",
            );
            return None;
        };
        if i >= len as u64 {
            self.errors.push(LowerError {
                span: index.span,
                message: format!("index {i} is out of bounds: `args.{name}` has {len} elements"),
            });
            return None;
        }
        let Some(size) = int_size(elem_size as u32) else {
            self.not_built(
                e.span,
                format!("indexing `args.{name}` of this element size"),
            );
            return None;
        };
        let c = self.b.ctx();
        let r = self.b.load(
            size,
            Base::Reg(c),
            (off as u64 + i * elem_size as u64) as i16,
        );
        let t = self.ty(e);
        Some(V::Int(self.extend(r, &t)))
    }

    /// Whether `e` denotes memory (a member, element or dereference) rather than a value.
    pub(super) fn is_place(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Field { expr, .. } => self.ty(expr) != Type::Args,
            // An array in a tracepoint record is read from the context, not memory; an
            // element of an array value (`$a[1]` of an `int32[2][2]`) is a value too.
            ExprKind::Index { expr, .. } => match &expr.kind {
                ExprKind::Field { expr: args, .. } if self.ty(args) == Type::Args => {
                    !matches!(self.ty(expr), Type::Array(..))
                }
                _ if matches!(self.ty(expr), Type::Array(..)) => self.is_place(expr),
                _ => true,
            },
            ExprKind::Unary {
                op: UnOp::Deref, ..
            } => true,
            _ => false,
        }
    }

    /// Whether the pointer value `e` points into user space (see [`Self::user_source`]).
    pub(super) fn user_pointer(&self, e: &Expr) -> bool {
        let to_struct = self.kernel_struct(&self.ty(e));
        self.user_source(e, to_struct)
    }

    /// Whether `t` is a kernel struct or a pointer to one (not one the script defines).
    fn kernel_struct(&self, t: &Type) -> bool {
        match t {
            Type::Ptr(t) => self.kernel_struct(t),
            Type::Struct(n) => self.checked.program.c_types.get(n).is_none(),
            _ => false,
        }
    }

    /// Whether a pointer value points into user space. The checker's types carry no
    /// address space, so: pointers in syscall tracepoint `args` and uprobe arguments do
    /// (also through casts); `curtask` and what is read through it do not; any other
    /// pointer (a variable, a map value) does in those probes only when it points to a
    /// scalar, not to a kernel struct. Memory reached through a pointer, and pointer
    /// arithmetic, keep the pointer's address space.
    fn user_source(&self, e: &Expr, to_struct: bool) -> bool {
        match &e.kind {
            ExprKind::Ident(n) if n == "curtask" => false,
            ExprKind::Call { name, .. } if matches!(name.name.as_str(), "uptr" | "uaddr") => true,
            ExprKind::Call { name, .. } if name.name == "kptr" => false,
            // `&$x`: a variable's stack slot, and a variable only ever given one.
            ExprKind::Unary {
                op: UnOp::AddrOf,
                expr,
            } if matches!(expr.kind, ExprKind::Var(_)) => false,
            ExprKind::Var(n) if self.stack_pointers.contains(n.trim_start_matches('$')) => false,
            ExprKind::IncDec { target, .. }
                if matches!(&target.kind,
                ExprKind::Var(n) if self.stack_pointers.contains(n.trim_start_matches('$'))) =>
            {
                false
            }
            ExprKind::Ident(n) if n.starts_with("arg") || n == "retval" => self.ctx.user_pointers,
            ExprKind::Field { expr, .. } if self.ty(expr) == Type::Args => self.ctx.user_pointers,
            ExprKind::Cast { expr, .. } => self.user_source(expr, to_struct),
            // Memory is in the address space of the pointer it was reached through.
            ExprKind::Field { expr, .. } => {
                let to_struct = self.kernel_struct(&self.ty(expr));
                self.user_source(expr, to_struct)
            }
            ExprKind::Index { expr, .. }
            | ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } => self.user_source(expr, to_struct),
            ExprKind::Binary { lhs, .. } => self.user_source(lhs, to_struct),
            _ => self.ctx.user_pointers && !to_struct,
        }
    }

    /// Where the memory `e` denotes is, and its type.
    fn place(&mut self, e: &Expr) -> Option<Place> {
        self.span(e.span);
        match &e.kind {
            ExprKind::Field {
                expr: base, field, ..
            } => {
                let p = match self.ty(base) {
                    Type::Struct(_) if self.is_place(base) => self.place(base)?,
                    Type::Ptr(_) => self.pointer(base)?,
                    _ if self.uprobe_args_missing(base) => return None,
                    t => {
                        self.not_built(e.span, format!("member access on `{t}`"));
                        return None;
                    }
                };
                self.member(&p, &field.name, field.span)
            }
            ExprKind::Index { expr: base, index } => {
                let (addr, elem, user, count, ctx) = match self.ty(base) {
                    Type::Array(..) if self.is_place(base) => {
                        let p = self.place(base)?;
                        let (elem, count) = match &p.mem {
                            Mem::Btf(btf, id) => match shape(btf, *id) {
                                Shape::Array { elem, count } => {
                                    (Mem::Btf(btf.clone(), elem), Some(count))
                                }
                                _ => {
                                    self.not_built(base.span, "indexing this array");
                                    return None;
                                }
                            },
                            Mem::Sema(Type::Array(t, n)) => {
                                (Mem::Sema((**t).clone()), Some(*n as u32))
                            }
                            Mem::User(CType::Array(t, n)) => {
                                (Mem::User((**t).clone()), u32::try_from(*n).ok())
                            }
                            Mem::Sema(_) | Mem::User(_) => {
                                self.not_built(base.span, "indexing this array");
                                return None;
                            }
                        };
                        (p.addr, elem, p.user, count, p.ctx)
                    }
                    Type::Ptr(_) => {
                        let p = self.pointer(base)?;
                        (p.addr, p.mem, p.user, None, p.ctx)
                    }
                    t => {
                        self.not_built(e.span, format!("indexing `{t}`"));
                        return None;
                    }
                };
                let stride = self.size_of(&elem, e.span)?;
                if let Some(base_off) = ctx {
                    // The context pointer cannot move: a constant index only.
                    let ExprKind::Int(i) = index.kind else {
                        self.not_built(index.span, "indexing the probe's context by a variable");
                        return None;
                    };
                    let off = i
                        .checked_mul(stride)
                        .and_then(|o| i16::try_from(o).ok())
                        .and_then(|o| o.checked_add(base_off));
                    let Some(off) = off else {
                        self.errors.push(LowerError {
                            span: index.span,
                            message: format!("index {i} is past the end of the probe's context"),
                        });
                        return None;
                    };
                    return Some(Place {
                        addr,
                        mem: elem,
                        bits: None,
                        user,
                        ctx: Some(off),
                    });
                }
                let addr = match index.kind {
                    ExprKind::Int(i) => {
                        if let Some(n) = count.filter(|&n| n > 0 && i >= u64::from(n)) {
                            self.errors.push(LowerError {
                                span: index.span,
                                message: format!(
                                    "index {i} is out of bounds: the array has {n} elements"
                                ),
                            });
                            return None;
                        }
                        match i32::try_from(i.saturating_mul(stride)) {
                            Ok(0) => addr,
                            Ok(off) => self.b.binop(AluOp::Add, addr, off),
                            Err(_) => {
                                let off = self.b.imm(i.wrapping_mul(stride) as i64);
                                self.b.binop(AluOp::Add, addr, off)
                            }
                        }
                    }
                    _ => {
                        let i = self.int(index);
                        let off = self.b.binop(AluOp::Mul, i, stride as i32);
                        self.b.binop(AluOp::Add, addr, off)
                    }
                };
                Some(Place {
                    addr,
                    mem: elem,
                    bits: None,
                    user,
                    ctx: None,
                })
            }
            ExprKind::Unary {
                op: UnOp::Deref,
                expr,
            } => self.pointer(expr),
            _ => {
                self.not_built(e.span, "reading memory through this expression");
                None
            }
        }
    }

    /// The size of what a pointer of sema type `Ptr(inner)` points to: the scale of
    /// `ptr + n` and `ptr - n` (upstream bpftrace, like C, steps by whole elements).
    pub(super) fn pointee_size(&mut self, inner: &Type, span: Span) -> Option<u64> {
        if matches!(inner, Type::Void | Type::Unknown) {
            return Some(1);
        }
        let mem = self.mem_of(inner, span)?;
        self.size_of(&mem, span)
    }

    /// The size of one element of `mem` (an array stride).
    fn size_of(&mut self, mem: &Mem, span: Span) -> Option<u64> {
        let size = match mem {
            Mem::Btf(btf, id) => btf.size_of(*id).ok(),
            Mem::Sema(Type::Int { bits, .. } | Type::Enum { bits, .. }) => {
                Some(u64::from(*bits / 8))
            }
            Mem::Sema(Type::Bool) => Some(1),
            Mem::Sema(Type::Ptr(_) | Type::Unknown) => Some(8),
            Mem::Sema(t @ Type::Array(..)) => kscope_lang::sema::byte_size(t),
            Mem::Sema(_) => None,
            Mem::User(t) => self.checked.program.c_types.size_align(t).map(|(s, _)| s),
        };
        if size.is_none() {
            self.not_built(span, "indexing elements of this type");
        }
        size
    }

    /// What a pointer points to: its value as the address, and the pointee's type.
    fn pointer(&mut self, e: &Expr) -> Option<Place> {
        let to = |addr, mem, user| Place {
            addr,
            mem,
            bits: None,
            user,
            ctx: None,
        };
        if self.direct_ctx(e) {
            let Type::Ptr(inner) = self.ty(e) else {
                return None;
            };
            let mem = self.mem_of(&inner, e.span)?;
            return Some(Place {
                ctx: Some(0),
                ..to(self.b.ctx(), mem, false)
            });
        }
        if self.is_place(e) {
            let p = self.place(e)?;
            let target = match &p.mem {
                Mem::Btf(btf, id) => match shape(btf, *id) {
                    Shape::Ptr { target } => Some(Mem::Btf(btf.clone(), target)),
                    _ => None,
                },
                Mem::Sema(Type::Ptr(inner)) => {
                    let inner = (**inner).clone();
                    self.mem_of(&inner, e.span)
                }
                Mem::User(CType::Ptr(inner)) => {
                    let inner = (**inner).clone();
                    self.user_target(inner, e.span)
                }
                Mem::Sema(_) | Mem::User(_) => None,
            };
            let Some(target) = target else {
                self.not_built(e.span, "following this value as a pointer");
                return None;
            };
            let v = self.read_int(&p, 8, false);
            return Some(to(v, target, p.user));
        }
        match self.ty(e) {
            Type::Ptr(inner) => {
                let mem = self.mem_of(&inner, e.span)?;
                let user = self.user_source(e, matches!(mem, Mem::Btf(..)));
                let v = self.int(e);
                Some(to(v, mem, user))
            }
            t @ Type::Int { .. } => {
                let mem = self.mem_of(&t, e.span)?;
                let user = self.user_source(e, false);
                let v = self.int(e);
                Some(to(v, mem, user))
            }
            t => {
                self.not_built(e.span, format!("following `{t}` as a pointer"));
                None
            }
        }
    }

    /// The memory type of a value of type `t` inside a script-defined struct (what a
    /// pointer member points to, or a member itself): a kernel struct is BTF's.
    fn user_target(&mut self, t: CType, span: Span) -> Option<Mem> {
        match t {
            CType::Struct(name) if self.checked.program.c_types.get(&name).is_none() => {
                self.mem_of(&Type::Struct(name), span)
            }
            CType::Void => Some(Mem::Sema(Type::Void)),
            t => Some(Mem::User(t)),
        }
    }

    /// The memory type of a pointer's target as the checker typed it.
    fn mem_of(&mut self, t: &Type, span: Span) -> Option<Mem> {
        match t {
            Type::Struct(name) if self.checked.program.c_types.get(name).is_some() => {
                Some(Mem::User(CType::Struct(name.clone())))
            }
            Type::Struct(name) => {
                let bt = self.btf_types(span)?;
                match bt.aggregate_type(name) {
                    Some((btf, id)) => Some(Mem::Btf(btf, id)),
                    None => {
                        self.errors.push(LowerError {
                            span,
                            message: format!("the kernel's BTF has no type `{name}`"),
                        });
                        None
                    }
                }
            }
            t => Some(Mem::Sema(t.clone())),
        }
    }

    /// The address of a member `off` bytes into the struct at `base`: `addr + off`, or
    /// for the probe's context the same pointer at a larger offset.
    fn member_address(
        &mut self,
        base: &Place,
        off: u64,
        span: Span,
    ) -> Option<(VReg, Option<i16>)> {
        let addr = base.addr;
        if let Some(at) = base.ctx {
            let Some(at) = i16::try_from(off).ok().and_then(|o| o.checked_add(at)) else {
                self.not_built(span, "a member this far into the probe's context");
                return None;
            };
            return Some((addr, Some(at)));
        }
        match i32::try_from(off) {
            Ok(0) => Some((addr, None)),
            Ok(off) => Some((self.b.binop(AluOp::Add, addr, off), None)),
            Err(_) => {
                self.not_built(span, "a member more than 2 GiB into its struct");
                None
            }
        }
    }

    /// The member `name` of the aggregate at `base`.
    fn member(&mut self, base: &Place, name: &str, span: Span) -> Option<Place> {
        let user = base.user;
        if let Mem::User(CType::Struct(s)) = &base.mem {
            let def = self.checked.program.c_types.get(s)?;
            let Some(m) = def.members.iter().find(|m| m.name == name) else {
                self.errors.push(LowerError {
                    span,
                    message: format!("`{s}` has no member `{name}`"),
                });
                return None;
            };
            let (off, ty, bits) = (m.offset, m.ty.clone(), m.bits);
            let (addr, ctx) = self.member_address(base, off, span)?;
            // A kernel struct held by value is read through BTF from here on.
            let mem = self.user_target(ty, span)?;
            return Some(Place {
                addr,
                mem,
                bits,
                user,
                ctx,
            });
        }
        let Mem::Btf(btf, id) = base.mem.clone() else {
            self.not_built(span, "member access without BTF");
            return None;
        };
        let Some(MemberAt {
            offset: off,
            type_id,
            bits,
        }) = member_at(&btf, id, name)
        else {
            let ty = btf.type_name(id).unwrap_or_else(|_| format!("type {id}"));
            self.errors.push(LowerError {
                span,
                message: format!("the kernel's BTF has no member `{name}` in `{ty}`"),
            });
            return None;
        };
        let (addr, ctx) = self.member_address(base, off, span)?;
        Some(Place {
            addr,
            mem: Mem::Btf(btf, type_id),
            bits,
            user,
            ctx,
        })
    }

    /// The slot every read lands in: its value moves to a register at once, so one slot
    /// serves the whole probe (the BPF stack is 512 bytes).
    fn scratch(&mut self) -> kscope_codegen::Slot {
        match self.read_slot {
            Some(s) => s,
            None => {
                let s = self.b.slot(8);
                self.read_slot = Some(s);
                s
            }
        }
    }

    /// Reads an integer of `size` bytes at `p` into a stack slot and extends it.
    fn read_int(&mut self, p: &Place, size: u32, signed: bool) -> VReg {
        if let Some(off) = p.ctx {
            return self.read_ctx_int(off, size, signed);
        }
        let s = self.scratch();
        let dst = self.b.slot_addr(s, 0);
        let n = self.b.imm(i64::from(size));
        let h = if p.user {
            helper::PROBE_READ_USER
        } else {
            helper::PROBE_READ_KERNEL
        };
        self.b.call_void(h, &[dst, n, p.addr]);
        let r = self
            .b
            .load(int_size(size).unwrap_or(Size::DW), Base::Slot(s), 0);
        self.extend(r, &Type::int((size * 8) as u8, signed))
    }

    /// An integer of the probe's context at `off`: the aligned 8 bytes holding it (perf
    /// event contexts allow only 8-byte loads of their registers), shifted down and
    /// extended.
    fn read_ctx_int(&mut self, off: i16, size: u32, signed: bool) -> VReg {
        let aligned = off & !7;
        let c = self.b.ctx();
        let w = self.b.load(Size::DW, Base::Reg(c), aligned);
        let shift = i32::from(off - aligned) * 8;
        if shift > 0 {
            self.b.alu(AluOp::Rsh, w, shift);
        }
        if size >= 8 {
            return w;
        }
        // Keep the low `size` bytes, then extend them as the type says.
        self.b.alu(AluOp::Lsh, w, 64 - (size * 8) as i32);
        let op = if signed { AluOp::Arsh } else { AluOp::Rsh };
        self.b.alu(op, w, 64 - (size * 8) as i32);
        w
    }

    /// Whether `e` is the probe's context pointer (or a cast of it) where the kernel
    /// lets it be read only by direct loads at fixed offsets: kprobes, uprobes and usdt
    /// (`struct pt_regs`) and perf event probes (`struct bpf_perf_event_data`, which the
    /// verifier maps onto the kernel's own layout).
    fn direct_ctx(&self, e: &Expr) -> bool {
        use kscope_lang::ast::Provider as P;
        let kind_reads_directly = matches!(
            self.ctx.attach.provider,
            P::Kprobe
                | P::Kretprobe
                | P::Uprobe
                | P::Uretprobe
                | P::Usdt
                | P::Interval
                | P::Profile
                | P::Software
                | P::Hardware
        );
        let mut e = e;
        loop {
            match &e.kind {
                ExprKind::Ident(n) if n == "ctx" => return kind_reads_directly,
                ExprKind::Cast { expr, .. } if matches!(self.ty(e), Type::Ptr(_)) => e = expr,
                _ => return false,
            }
        }
    }

    /// Reads a bitfield: the bytes holding it, shifted and extended to 64 bits.
    fn read_bits(
        &mut self,
        p: &Place,
        first: u8,
        width: u8,
        signed: bool,
        span: Span,
    ) -> Option<VReg> {
        if p.ctx.is_some() {
            self.not_built(span, "a bitfield of the probe's context");
            return None;
        }
        let bytes = (u32::from(first) + u32::from(width)).div_ceil(8);
        if bytes > 8 || width == 0 {
            self.not_built(span, "a bitfield spanning more than 8 bytes");
            return None;
        }
        let s = self.scratch();
        self.b.zero_slot(s, 0, 8);
        let dst = self.b.slot_addr(s, 0);
        let n = self.b.imm(i64::from(bytes));
        let h = if p.user {
            helper::PROBE_READ_USER
        } else {
            helper::PROBE_READ_KERNEL
        };
        self.b.call_void(h, &[dst, n, p.addr]);
        // Little-endian: bit `first` of byte 0 is the field's lowest bit. Shift the field
        // to the top, then back down (arithmetic for a signed field).
        let w = self.b.load(Size::DW, Base::Slot(s), 0);
        let up = 64 - i32::from(first) - i32::from(width);
        if up > 0 {
            self.b.alu(AluOp::Lsh, w, up);
        }
        let down = 64 - i32::from(width);
        if down > 0 {
            self.b
                .alu(if signed { AluOp::Arsh } else { AluOp::Rsh }, w, down);
        }
        Some(w)
    }

    /// Reads the value at `p`.
    fn read(&mut self, mut p: Place, e: &Expr) -> Option<V> {
        // What a pointer to a variable's slot (`&$x`) reaches: the value as the slot
        // stores it (see [`Scalar`]). Only a slot holds strings, `username`, `ntop()` and
        // the like, so those reads are of kernel memory in every probe.
        if let Mem::Sema(t) = &p.mem {
            if !matches!(
                t,
                Type::Int { .. } | Type::Enum { .. } | Type::Bool | Type::Ptr(_) | Type::Array(..)
            ) {
                p.user = false;
            }
            match Scalar::of(t) {
                Some(
                    Scalar::Kstack
                    | Scalar::Ksym
                    | Scalar::Timestamp(_)
                    | Scalar::CgroupPath(_)
                    | Scalar::Username,
                ) => return Some(V::Int(self.read_int(&p, 8, false))),
                Some(Scalar::Inet | Scalar::Buf | Scalar::Array { .. }) => {
                    let (_, dst) = self.str_slot();
                    let n = self.b.imm(i64::from(STR_SIZE));
                    let h = if p.user {
                        helper::PROBE_READ_USER
                    } else {
                        helper::PROBE_READ_KERNEL
                    };
                    self.b.call_void(h, &[dst, n, p.addr]);
                    return Some(V::Str(dst));
                }
                _ => {}
            }
        }
        let shape = match &p.mem {
            Mem::Btf(btf, id) => shape(btf, *id),
            Mem::Sema(t @ (Type::Int { .. } | Type::Enum { .. })) => {
                let (bits, signed) = t.int_parts().unwrap_or((64, false));
                Shape::Int {
                    size: u32::from(bits / 8),
                    signed,
                }
            }
            Mem::Sema(Type::Bool) => Shape::Int {
                size: 1,
                signed: false,
            },
            Mem::Sema(Type::Ptr(_) | Type::Unknown) => Shape::Ptr { target: 0 },
            // A string variable's slot, reached through `&$s`.
            Mem::Sema(Type::Str) => Shape::CharArray {
                count: STR_SIZE - 1,
            },
            Mem::Sema(_) => Shape::Other,
            Mem::User(t) => match t {
                CType::Int { size, signed } => Shape::Int {
                    size: u32::from(*size),
                    signed: *signed,
                },
                CType::Char => Shape::Int {
                    size: 1,
                    signed: true,
                },
                CType::Bool => Shape::Int {
                    size: 1,
                    signed: false,
                },
                CType::Ptr(_) => Shape::Ptr { target: 0 },
                CType::Array(t, n) if **t == CType::Char => Shape::CharArray {
                    count: u32::try_from(*n).unwrap_or(u32::MAX),
                },
                CType::Array(_, n) => Shape::Array {
                    elem: 0,
                    count: u32::try_from(*n).unwrap_or(u32::MAX),
                },
                CType::Enum { size, .. } => Shape::Int {
                    size: u32::from(*size),
                    signed: false,
                },
                CType::Struct(_) => Shape::Aggregate,
                CType::Void => Shape::Other,
            },
        };
        match shape {
            Shape::Int { size, signed } => match p.bits {
                Some((first, width)) => {
                    let v = self.read_bits(&p, first, width, signed, e.span)?;
                    Some(V::Int(v))
                }
                None if int_size(size).is_some() => Some(V::Int(self.read_int(&p, size, signed))),
                None => {
                    self.not_built(e.span, format!("reading a {size}-byte integer"));
                    None
                }
            },
            Shape::Ptr { .. } => Some(V::Int(self.read_int(&p, 8, false))),
            Shape::CharArray { .. } | Shape::Array { .. } | Shape::Aggregate if p.ctx.is_some() => {
                self.not_built(
                    e.span,
                    "reading anything but integers from the probe's context",
                );
                None
            }
            Shape::CharArray { count } => {
                let (_, dst) = self.str_slot();
                // At most `count` bytes, NUL-terminated; the slot is zero padded.
                let n = self.b.imm(i64::from((count + 1).min(STR_SIZE)));
                let h = if p.user {
                    helper::PROBE_READ_USER_STR
                } else {
                    helper::PROBE_READ_KERNEL_STR
                };
                self.b.call_void(h, &[dst, n, p.addr]);
                Some(V::Str(dst))
            }
            Shape::Array { .. } => {
                self.not_built(e.span, "an array as a value (index it, e.g. `x[0]`)");
                None
            }
            Shape::Aggregate => {
                self.not_built(
                    e.span,
                    "a whole struct or union as a value (read one of its members)",
                );
                None
            }
            Shape::Other => {
                self.not_built(e.span, "reading a value of this type");
                None
            }
        }
    }
}

impl Lowerer<'_> {
    /// A struct or `args` used as a whole value: a zeroed stack slot holding it as the
    /// record `record` (see [`kscope_lang::sema::Checked::struct_values`]), each member
    /// read on its own (nested structs recursively).
    pub(super) fn struct_record_value(
        &mut self,
        e: &Expr,
        record: &Type,
    ) -> Option<(VReg, crate::plan::Layout)> {
        let Some(l) = crate::plan::Layout::of(record) else {
            self.not_built(e.span, format!("a struct stored as {record}"));
            return None;
        };
        let slot = self.b.slot(l.size());
        self.b.zero_slot(slot, 0, l.size());
        let base = self.b.slot_addr(slot, 0);
        if self.ty(e) == Type::Args {
            let Type::Record(fields) = record else {
                return None;
            };
            for (i, (name, t)) in fields.iter().enumerate() {
                let (off, _) = l.element(i)?;
                let v = if self.ctx.args == ArgSource::Raw {
                    self.raw_arg(name, e)?
                } else {
                    self.args_field(name, t, e.span)?
                };
                let at = self.offset(base, off);
                self.store_v(at, v);
            }
        } else {
            if !self.is_place(e) {
                self.not_built(e.span, "this struct as a whole value");
                return None;
            }
            let p = self.place(e)?;
            self.store_members(base, &p, &l, e)?;
        }
        self.span(e.span);
        Some((self.b.slot_addr(slot, 0), l))
    }

    /// Reads the members of the struct at `p` into the record `l` at `dst`.
    fn store_members(
        &mut self,
        dst: VReg,
        p: &Place,
        l: &crate::plan::Layout,
        e: &Expr,
    ) -> Option<()> {
        use crate::plan::{Layout, Scalar};
        let Layout::Record(fields) = l else {
            return None;
        };
        for (i, (name, fl)) in fields.iter().enumerate() {
            let (off, _) = l.element(i)?;
            let m = self.member(p, name, e.span)?;
            let at = self.offset(dst, off);
            match fl {
                Layout::Record(_) => self.store_members(at, &m, fl, e)?,
                Layout::Scalar(Scalar::Array { .. }) if m.ctx.is_some() => {
                    self.not_built(e.span, "an array member of the probe's context");
                    return None;
                }
                Layout::Scalar(Scalar::Array { .. }) => {
                    // The elements as they are in memory, in the zeroed slot.
                    let n = self.size_of(&m.mem, e.span)?.min(u64::from(STR_SIZE));
                    let n = self.b.imm(n as i64);
                    let h = if m.user {
                        helper::PROBE_READ_USER
                    } else {
                        helper::PROBE_READ_KERNEL
                    };
                    self.b.call_void(h, &[at, n, m.addr]);
                }
                _ => {
                    let v = self.read(m, e)?;
                    self.store_v(at, v);
                }
            }
        }
        Some(())
    }

    /// Stores a value at `dst`: an integer as 8 bytes, a string as [`STR_SIZE`].
    fn store_v(&mut self, dst: VReg, v: V) {
        match v {
            V::Int(r) => self.b.store(Size::DW, Base::Reg(dst), 0, r),
            V::Str(s) => self.copy_str(dst, s),
        }
    }
}

impl Lowerer<'_> {
    /// `path(p [, n])`: `bpf_d_path` into a string. The verifier wants the `struct path`
    /// as a BTF pointer it tracks, so the argument is computed by direct loads from the
    /// context (`args.file.f_path` in fentry, `ctx.file.f_path` in iter probes), never
    /// through `bpf_probe_read_kernel`; a NULL pointer on the way, or a path longer than
    /// a string holds, gives an empty string.
    pub(super) fn path_call(&mut self, args: &[Expr], e: &Expr) -> Option<V> {
        let target = args.first()?;
        let (_, buf) = self.str_slot();
        let skip = self.b.label();
        let (addr, _, _) = self.trusted_struct(target, skip)?;
        let n = match args.get(1).map(|a| &a.kind) {
            Some(ExprKind::Int(n)) => (*n).clamp(1, u64::from(STR_SIZE)),
            Some(_) => {
                self.not_built(args[1].span, "a `path()` size that is not a literal");
                return None;
            }
            None => u64::from(STR_SIZE),
        };
        let n = self.b.imm(n as i64);
        self.span(e.span);
        let r = self.b.call(helper::D_PATH, &[addr, buf, n]);
        // A path longer than the string (-ENAMETOOLONG) leaves only its tail in the
        // buffer, which the kernel does not promise: it reads as an empty string.
        self.b.jmp_if(kscope_codegen::ir::JmpOp::Sge, r, 0, skip);
        self.b.store(Size::B, Base::Reg(buf), 0, 0);
        self.b.place(skip);
        Some(V::Str(buf))
    }

    /// The address of the struct `e` denotes (a struct, or what a pointer points to) as
    /// the verifier's BTF pointer, with its BTF and type id; NULL pointers jump to `skip`.
    fn trusted_struct(
        &mut self,
        e: &Expr,
        skip: kscope_codegen::Label,
    ) -> Option<(VReg, Btf, u32)> {
        let untrusted = |l: &mut Self| {
            l.not_built(
                e.span,
                "`path()` of a value not reached from the probe's `args` or `ctx` by members",
            );
            None
        };
        let (addr, btf, type_id) = match &e.kind {
            ExprKind::Ident(n) if n == "ctx" => {
                let bt = self.btf_types(e.span)?;
                let Type::Ptr(p) = self.ty(e) else {
                    return untrusted(self);
                };
                let Type::Struct(name) = *p else {
                    return untrusted(self);
                };
                let (btf, id) = bt.aggregate_type(&name)?;
                return Some((self.b.ctx(), btf, id));
            }
            ExprKind::Field { expr, field, .. } if self.ty(expr) == Type::Args => {
                if self.ctx.args != ArgSource::Raw {
                    return untrusted(self);
                }
                let bt = self.btf_types(e.span)?;
                let (slot, btf, id) = bt.raw_tracepoint_arg(&self.ctx.attach, &field.name)?;
                if !matches!(shape(&btf, id), Shape::Ptr { .. }) {
                    return untrusted(self);
                }
                let c = self.b.ctx();
                let v = self.b.load(Size::DW, Base::Reg(c), (slot * 8) as i16);
                (v, btf, id)
            }
            ExprKind::Field { expr, field, .. } => {
                let (base, btf, sid) = self.trusted_struct(expr, skip)?;
                let Some(m) = member_at(&btf, sid, &field.name) else {
                    return untrusted(self);
                };
                let off = i16::try_from(m.offset).ok()?;
                match shape(&btf, m.type_id) {
                    // A pointer member: loaded straight from the BTF pointer.
                    Shape::Ptr { .. } => {
                        let v = self.b.load(Size::DW, Base::Reg(base), off);
                        (v, btf, m.type_id)
                    }
                    Shape::Aggregate => {
                        let a = self.b.binop(AluOp::Add, base, i32::from(off));
                        return Some((a, btf, m.type_id));
                    }
                    _ => return untrusted(self),
                }
            }
            _ => return untrusted(self),
        };
        // `addr` holds a pointer of BTF type `type_id`: NULL skips, else its pointee.
        let Shape::Ptr { target } = shape(&btf, type_id) else {
            return Some((addr, btf, type_id));
        };
        self.b.jmp_if(kscope_codegen::ir::JmpOp::Eq, addr, 0, skip);
        Some((addr, btf, target))
    }
}
