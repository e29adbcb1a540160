//! Kernel symbols from `/proc/kallsyms`: address → `function+offset`.
//!
//! Without `CAP_SYSLOG` (or with `kernel.kptr_restrict=2`) the kernel shows every address
//! as 0; [`KernelSymbols::load`] then fails with a message saying so. kscope runs as root.

use std::io;

/// One kernel symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Its address.
    pub addr: u64,
    /// Its name, e.g. `__x64_sys_getppid`.
    pub name: String,
    /// The `nm`-style type letter (`T`, `t`, `W`, `d`, ...).
    pub kind: char,
    /// The module it belongs to, `None` for the kernel image.
    pub module: Option<String>,
}

/// A symbol table sorted by address.
#[derive(Debug, Clone, Default)]
pub struct KernelSymbols {
    syms: Vec<KernelSymbol>,
}

impl KernelSymbols {
    /// Reads and sorts `/proc/kallsyms`.
    pub fn load() -> io::Result<KernelSymbols> {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|e| io::Error::new(e.kind(), format!("reading /proc/kallsyms: {e}")))?;
        let syms = KernelSymbols::parse(&text);
        if syms.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "/proc/kallsyms shows no addresses (all are 0): run as root, or lower \
                 kernel.kptr_restrict",
            ));
        }
        Ok(syms)
    }

    /// Parses kallsyms text (`ADDR TYPE NAME [MODULE]` lines), dropping zero addresses.
    pub fn parse(text: &str) -> KernelSymbols {
        let mut syms: Vec<KernelSymbol> = text
            .lines()
            .filter_map(|line| {
                let mut it = line.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let kind = it.next()?.chars().next()?;
                let name = it.next()?.to_string();
                let module = it
                    .next()
                    .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string());
                (addr != 0).then_some(KernelSymbol {
                    addr,
                    name,
                    kind,
                    module,
                })
            })
            .collect();
        syms.sort_by_key(|s| s.addr);
        KernelSymbols { syms }
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The symbol containing `addr` (the last one at or below it) and the offset into it.
    pub fn resolve(&self, addr: u64) -> Option<(&KernelSymbol, u64)> {
        let i = self.syms.partition_point(|s| s.addr <= addr);
        let sym = self.syms.get(i.checked_sub(1)?)?;
        Some((sym, addr - sym.addr))
    }

    /// The address of symbol `name` (the first one of that name).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.syms.iter().find(|s| s.name == name).map(|s| s.addr)
    }

    /// Whether any variable is listed (`d`/`b` symbols of the kernel itself, not the
    /// section markers every kernel lists): kernels built without
    /// `CONFIG_KALLSYMS_ALL` list functions only.
    pub fn has_data_symbols(&self) -> bool {
        self.syms
            .iter()
            .any(|s| matches!(s.kind, 'd' | 'b') && s.module.is_none())
    }

    /// `name+0xoff` as bpftrace's `kstack` prints it (`name` alone at offset 0), or the
    /// address in hex when no symbol covers it.
    pub fn format(&self, addr: u64) -> String {
        match self.resolve(addr) {
            Some((s, 0)) => s.name.clone(),
            Some((s, off)) => format!("{}+{off}", s.name),
            None => format!("0x{addr:x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_resolve() {
        let k = KernelSymbols::parse(
            "ffffffff81000200 T second\n\
             ffffffff81000100 t first\n\
             0000000000000000 A zero\n\
             ffffffffc0000000 t modfn\t[kvm]\n",
        );
        assert_eq!(k.len(), 3);
        assert_eq!(k.resolve(0xffffffff81000100).unwrap().0.name, "first");
        let (s, off) = k.resolve(0xffffffff810001ff).unwrap();
        assert_eq!((s.name.as_str(), off), ("first", 0xff));
        assert_eq!(k.format(0xffffffff81000210), "second+16");
        assert_eq!(k.format(0xffffffff81000200), "second");
        assert_eq!(k.format(0x10), "0x10");
        let (m, _) = k.resolve(0xffffffffc0000004).unwrap();
        assert_eq!(m.module.as_deref(), Some("kvm"));
        assert_eq!(k.address_of("second"), Some(0xffffffff81000200));
    }
}
