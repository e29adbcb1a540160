//! Function calls (`printf`, `str`, `delete`, `signal`…) and ringbuf output records.

use kscope_codegen::Width;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self as cg, Field};
use kscope_lang::ast::{Expr, ExprKind};
use kscope_lang::output::FormatString;
use kscope_lang::sema::Type;

use super::*;
use crate::plan::{Message, STR_SIZE, Scalar};

/// The number of a signal named as `signal()` accepts (`"KILL"` or `"SIGKILL"`).
fn signal_number(name: &str) -> Option<i64> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        _ => return None,
    })
}

impl Lowerer<'_> {
    pub(super) fn call(&mut self, name: &str, args: &[Expr], e: &Expr) -> Option<V> {
        match name {
            "printf" => self.formatted_output(args, e, "a printf format", |format, args| {
                Message::Printf { format, args }
            }),
            "exit" => {
                if !args.is_empty() {
                    self.not_built(e.span, "`exit(code)`");
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
                if name == "print" && !matches!(&target.kind, ExprKind::Map { .. }) {
                    let (fields, layouts) = self.packed_args(std::slice::from_ref(target))?;
                    let id = self.message(Message::PrintValue { layout: layouts[0] });
                    self.output(id, &fields);
                    return None;
                }
                if !matches!(&target.kind, ExprKind::Map { keys, .. } if keys.is_empty())
                    || args.len() > 1
                {
                    self.not_built(e.span, format!("`{name}()` of anything but a whole map"));
                    return None;
                }
                let (mi, _) = self.map_of(target)?;
                let msg = match name {
                    "print" => Message::Print { map: mi },
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
                let key = self.map_key(mi, &keys, e.span);
                let id = self.plan.maps[mi].id;
                cg::delete(&mut self.b, id, key);
                None
            }
            "str" => {
                let src = args.first()?;
                if self.ty(src) == Type::Str {
                    return self.expr(src);
                }
                let ptr = self.int(src);
                let size = match args.get(1).map(|a| &a.kind) {
                    Some(ExprKind::Int(n)) => (*n).min(u64::from(STR_SIZE)) as u32,
                    Some(_) => {
                        self.not_built(e.span, "`str(p, n)` with a non-literal length");
                        return None;
                    }
                    None => STR_SIZE,
                };
                let (_, p) = self.str_slot();
                let n = self.b.imm(i64::from(size.min(STR_SIZE)));
                let h = if self.ctx.user_pointers {
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
            "signal" => {
                let sig = match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Int(n)) => *n as i64,
                    Some(ExprKind::Str(name)) => {
                        match signal_number(&String::from_utf8_lossy(name)) {
                            Some(n) => n,
                            None => {
                                self.not_built(e.span, "this signal name");
                                return None;
                            }
                        }
                    }
                    _ => {
                        self.not_built(e.span, "`signal()` of a computed value");
                        return None;
                    }
                };
                let s = self.b.imm(sig);
                self.b.call_void(HELPER_SEND_SIGNAL, &[s]);
                None
            }
            "system" => self.formatted_output(args, e, "a system() command", |format, args| {
                Message::System { format, args }
            }),
            "kstack" => self.stack(false, args, e),
            "ustack" => self.stack(true, args, e),
            "usym" => self.usym(args),
            "ksym" => Some(V::Int(self.int(args.first()?))),
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
            match self.expr(a)? {
                V::Int(r) => {
                    fields.push(Field::Value(r, Width::W64));
                    layouts.push(match Scalar::of(&t) {
                        Some(sc @ (Scalar::Kstack | Scalar::Ksym)) => sc,
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
                    layouts.push(Scalar::Str);
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
        // Records wait for the consumer's next timed poll, except exit(), which wakes it.
        let flags = match self.plan.messages.get(id as usize) {
            Some(Message::Exit | Message::NewPid) => cg::BPF_RB_FORCE_WAKEUP,
            _ => cg::BPF_RB_NO_WAKEUP,
        };
        cg::ringbuf_output_with(&mut self.b, rb, loss, id, fields, flags);
    }
}
