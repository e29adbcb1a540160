//! A file's kallsyms, parsed on the first lookup: most reports never look a symbol up,
//! and the parsed table of a full kallsyms is several times the size of its text.

use std::sync::{Arc, OnceLock};

use crate::format::{Kallsyms, Symbol, SymbolLookup};

/// Kallsyms text whose table is built when first needed.
pub(crate) struct LazyKallsyms {
    text: Arc<str>,
    table: OnceLock<Kallsyms>,
}

impl LazyKallsyms {
    pub(crate) fn new(text: Arc<str>) -> LazyKallsyms {
        LazyKallsyms {
            text,
            table: OnceLock::new(),
        }
    }
}

impl SymbolLookup for LazyKallsyms {
    fn lookup(&self, addr: u64) -> Option<Symbol<'_>> {
        self.table
            .get_or_init(|| Kallsyms::parse(&self.text))
            .lookup(addr)
    }
}
