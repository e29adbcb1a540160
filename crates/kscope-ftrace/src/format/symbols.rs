//! Kernel symbol lookup for `%pS`/`%ps`/`%pB`.

use std::io;
use std::path::Path;

/// A kernel symbol that contains an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// The symbol name.
    pub name: &'a str,
    /// Its start address.
    pub start: u64,
    /// Its size in bytes (the distance to the next symbol).
    pub size: u64,
    /// The module it belongs to; `None` for the kernel image.
    pub module: Option<&'a str>,
}

/// Maps addresses to kernel symbols (kallsyms).
pub trait SymbolLookup {
    /// The symbol containing `addr`, if any.
    fn lookup(&self, addr: u64) -> Option<Symbol<'_>>;
}

#[derive(Debug, Clone)]
struct Entry {
    addr: u64,
    name: String,
    module: Option<String>,
}

/// A symbol table read from `/proc/kallsyms` (or the kallsyms text of a trace.dat file).
#[derive(Debug, Clone, Default)]
pub struct Kallsyms {
    /// Sorted by address; among equal addresses, in file order.
    entries: Vec<Entry>,
    /// The end of the kernel image (`_end`, else `_etext`), bounding the last image symbol.
    image_end: Option<u64>,
}

impl Kallsyms {
    /// Parses kallsyms text: `address type name [module]` per line. Lines with a zero
    /// address (hidden by `kptr_restrict`) and malformed lines are skipped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut entries = Vec::new();
        let mut end = None;
        let mut etext = None;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(_ty), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if addr == 0 {
                continue;
            }
            let module = parts
                .next()
                .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string());
            if module.is_none() {
                match name {
                    "_end" => end = Some(addr),
                    "_etext" => etext = Some(addr),
                    _ => {}
                }
            }
            entries.push(Entry {
                addr,
                name: name.to_string(),
                module,
            });
        }
        entries.sort_by_key(|e| e.addr);
        Kallsyms {
            entries,
            image_end: end.or(etext),
        }
    }

    /// Reads and parses a kallsyms file, normally `/proc/kallsyms`.
    pub fn load(path: impl AsRef<Path>) -> io::Result<Kallsyms> {
        Ok(Kallsyms::parse(&std::fs::read_to_string(path)?))
    }

    /// The number of symbols.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty (for example, all addresses were hidden).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Modules' last symbols have no known end; accept addresses this far past them.
const MODULE_TAIL: u64 = 1 << 20;

impl SymbolLookup for Kallsyms {
    fn lookup(&self, addr: u64) -> Option<Symbol<'_>> {
        let after = self.entries.partition_point(|e| e.addr <= addr);
        if after == 0 {
            return None;
        }
        let last_le = after - 1;
        let start = self.entries[last_le].addr;
        // The first of the aliases at this address.
        let first = self.entries[..=last_le].partition_point(|e| e.addr < start);
        let entry = &self.entries[first];
        let next = self.entries.get(after).map(|e| e.addr);
        let size = match (&entry.module, next) {
            (None, Some(n)) if self.image_end.is_none_or(|end| n <= end) => n - start,
            (None, _) => {
                let end = self.image_end?;
                if addr >= end {
                    return None;
                }
                end - start
            }
            (Some(_), Some(n)) if n - start <= MODULE_TAIL => n - start,
            (Some(_), _) => {
                if addr - start >= MODULE_TAIL {
                    return None;
                }
                MODULE_TAIL
            }
        };
        if addr - start >= size {
            return None;
        }
        Some(Symbol {
            name: &entry.name,
            start,
            size,
            module: entry.module.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_containing_symbol() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff81000000 T _text\n\
             ffffffff81000100 T foo\n\
             ffffffff81000180 t bar\n\
             ffffffff81000200 T _etext\n\
             ffffffff82000000 B _end\n\
             ffffffffc0001000 t modfn\t[mymod]\n\
             ffffffffc0001040 t modfn2\t[mymod]\n\
             0000000000000000 T hidden\n",
        );
        let s = k.lookup(0xffffffff81000110).unwrap();
        assert_eq!(
            (s.name, s.start, s.size, s.module),
            ("foo", 0xffffffff81000100, 0x80, None)
        );
        assert_eq!(k.lookup(0xffffffff81000000).unwrap().name, "_stext");
        assert!(k.lookup(0xffffffff80000000).is_none());
        assert!(k.lookup(0xffffffff82000000).is_none(), "past _end");
        let m = k.lookup(0xffffffffc0001004).unwrap();
        assert_eq!((m.name, m.size, m.module), ("modfn", 0x40, Some("mymod")));
        assert_eq!(k.len(), 8);
    }
}
