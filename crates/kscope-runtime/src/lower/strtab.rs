//! `strerror()`, `signal_name()`, `syscall_name()`: a number looked up in a string table
//! that user space filled (see [`StrTable`]), copied into a stack string so that the
//! result works as any string does (map keys, comparisons, printf).

use kscope_codegen::Width;
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower as cg;
use kscope_lang::ast::Expr;

use super::*;
use crate::plan::StrTable;

impl Lowerer<'_> {
    /// The text of `arg` (an `int`, as upstream's signatures: wider values are cut to
    /// 32 bits) in `table`; numbers the table does not hold read its unknown text.
    pub(super) fn str_table(&mut self, table: StrTable, arg: &Expr) -> Option<V> {
        let n = self.int(arg);
        let map = self.plan.str_table(table);
        let idx = self.b.sext(n, Width::W32);
        if table == StrTable::Errno {
            // strerror(-EPERM) is strerror(EPERM), as upstream's.
            let positive = self.b.label();
            self.b.jmp_if(JmpOp::Sge, idx, 0, positive);
            self.b.alu(AluOp::Neg, idx, 0);
            self.b.place(positive);
        }
        // Negative or past the end (unsigned compare): the last entry, the unknown text.
        let unknown = (table.entries() - 1) as i32;
        let in_range = self.b.label();
        self.b.jmp_if(JmpOp::Lt, idx, unknown, in_range);
        self.b.mov(idx, unknown);
        self.b.place(in_range);
        let key_slot = self.b.slot(4);
        self.b.store(Size::W, Base::Slot(key_slot), 0, idx);
        let key = self.b.slot_addr(key_slot, 0);
        let (_, dst) = self.str_slot();
        let done = self.b.label();
        let p = cg::lookup(&mut self.b, map, key);
        self.b.jmp_if(JmpOp::Eq, p, 0, done);
        self.copy_str(dst, p);
        self.b.place(done);
        Some(V::Str(dst))
    }
}
