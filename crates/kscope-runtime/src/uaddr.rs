//! `uaddr("sym")`: the address of a symbol of a user probe's binary. The ELF file gives
//! the symbol's address; in a position-independent file (PIE, shared library) the probe
//! adds the load bias, which it reads as the distance between where the probe runs and
//! where the file puts the probed instruction.

use std::path::Path;

use object::{Object, ObjectKind, ObjectSymbol, SymbolKind, SymbolSection};

/// A symbol that `uaddr()` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSymbol {
    /// Its address in the ELF file.
    pub address: u64,
    /// Its size in bytes (0 when the symbol table does not say).
    pub size: u64,
    /// Whether the file loads at an address of the kernel's choosing (ET_DYN: PIE and
    /// shared libraries), so that the address moves by the load bias.
    pub relocatable: bool,
}

/// Why [`lookup`] found no symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The file was read and has no such symbol.
    Missing,
    /// The file could not be read or parsed (the attach point reports that).
    Unreadable(String),
}

/// Whether the ELF file `path` loads at an address of the kernel's choosing (ET_DYN: PIE
/// and shared libraries); `None` when it cannot be read.
pub fn relocatable(path: &Path) -> Option<bool> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    Some(file.kind() == ObjectKind::Dynamic)
}

/// The symbol `name` of the ELF file `path`: its `.symtab`, then `.dynsym`, then the
/// `.symtab` of its installed debug file (a stripped binary's local variables).
/// Undefined, thread-local, section and file symbols do not count.
pub fn lookup(path: &Path, name: &str) -> Result<UserSymbol, LookupError> {
    let data = std::fs::read(path)
        .map_err(|e| LookupError::Unreadable(format!("reading {}: {e}", path.display())))?;
    let file = object::File::parse(&*data).map_err(|e| {
        LookupError::Unreadable(format!("{} is not an ELF file: {e}", path.display()))
    })?;
    let relocatable = file.kind() == ObjectKind::Dynamic;
    let symbol = |f: &object::File<'_>| {
        f.symbols()
            .chain(f.dynamic_symbols())
            .filter(|s| s.section() != SymbolSection::Undefined)
            .filter(|s| {
                !matches!(
                    s.kind(),
                    SymbolKind::Tls | SymbolKind::Section | SymbolKind::File
                )
            })
            .find(|s| s.name() == Ok(name))
            .map(|s| (s.address(), s.size()))
    };
    let found = symbol(&file).or_else(|| {
        let debug = crate::uprobes::debug_file(path, &file)?;
        let ddata = std::fs::read(debug).ok()?;
        let dfile = object::File::parse(&*ddata).ok()?;
        symbol(&dfile)
    });
    match found {
        Some((address, size)) => Ok(UserSymbol {
            address,
            size,
            relocatable,
        }),
        None => Err(LookupError::Missing),
    }
}
