//! ELF symbol to file offset, the location a uprobe takes (`BINARY:0xOFFSET`).
//!
//! The kernel places a uprobe at a file offset, not a virtual address. A symbol's value
//! is a virtual address; the `PT_LOAD` program header that contains it says where those
//! bytes sit in the file (`p_offset + (addr - p_vaddr)`). This holds for PIE and non-PIE
//! executables and for shared libraries alike, whatever their load base.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol, SegmentFlags, SymbolKind, SymbolSection};

use crate::select::edit_distance;

/// `PF_X`: the segment is executable.
const PF_X: u32 = 1;

/// Which symbol table a symbol came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolTable {
    /// `.symtab`: every symbol, absent from stripped files.
    Symtab,
    /// `.dynsym`: exported symbols only, kept by `strip`.
    Dynsym,
}

impl SymbolTable {
    /// The section name: `.symtab` or `.dynsym`.
    pub fn section(self) -> &'static str {
        match self {
            SymbolTable::Symtab => ".symtab",
            SymbolTable::Dynsym => ".dynsym",
        }
    }
}

/// A symbol resolved to the file offset a uprobe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSymbol {
    /// The symbol name as found.
    pub name: String,
    /// Its virtual address (the symbol value).
    pub address: u64,
    /// Its size in bytes (0 when the table does not say).
    pub size: u64,
    /// The file offset of `address + offset`.
    pub file_offset: u64,
    /// The table it was found in.
    pub table: SymbolTable,
}

/// Why a symbol or offset could not be resolved in an ELF file.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not an ELF object this code can read.
    #[error("{} is not a readable ELF file: {reason}", path.display())]
    NotElf {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// No function of that name is defined in the file.
    #[error("{}: no function named {symbol:?}{}{}", path.display(), suggest(suggestions), stripped_note(*stripped))]
    NoSymbol {
        /// The file.
        path: PathBuf,
        /// The name looked up.
        symbol: String,
        /// The nearest function names in the file.
        suggestions: Vec<String>,
        /// Whether the file has no `.symtab` (only `.dynsym` was searched).
        stripped: bool,
    },
    /// The symbol names data, not code.
    #[error("{}: {symbol:?} is not a function (it is {kind})", path.display())]
    NotFunction {
        /// The file.
        path: PathBuf,
        /// The symbol.
        symbol: String,
        /// What it is instead.
        kind: String,
    },
    /// Several functions of that name with different addresses.
    #[error("{}: {symbol:?} names {} different functions (at file offsets {}); probe one as BINARY:0xOFFSET", path.display(), file_offsets.len(), hex_list(file_offsets))]
    Ambiguous {
        /// The file.
        path: PathBuf,
        /// The symbol.
        symbol: String,
        /// The file offsets of the distinct functions.
        file_offsets: Vec<u64>,
    },
    /// The offset lies past the end of the function.
    #[error("{symbol}+{offset} is past the end of {symbol}, which is {size} bytes long")]
    PastEnd {
        /// The symbol.
        symbol: String,
        /// The offset asked for.
        offset: u64,
        /// The symbol's size.
        size: u64,
    },
    /// The address is in no executable `PT_LOAD` segment of the file.
    #[error("{}: {what} (address {address:#x}) is not in an executable PT_LOAD segment, so it cannot be probed", path.display())]
    NotInCode {
        /// The file.
        path: PathBuf,
        /// What was being placed: a symbol or an offset.
        what: String,
        /// The virtual address.
        address: u64,
    },
    /// A file offset given directly is in no executable segment.
    #[error("{}: file offset {offset:#x} is not inside an executable PT_LOAD segment (executable ranges: {ranges})", path.display())]
    OffsetNotInCode {
        /// The file.
        path: PathBuf,
        /// The offset given.
        offset: u64,
        /// The executable file ranges, for the message.
        ranges: String,
    },
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", names.join(", "))
    }
}

fn stripped_note(stripped: bool) -> &'static str {
    if stripped {
        " (the file is stripped: it has no .symtab, so only its exported .dynsym functions \
         were searched; use an unstripped build or give a file offset, BINARY:0xOFFSET)"
    } else {
        ""
    }
}

fn hex_list(addresses: &[u64]) -> String {
    let v: Vec<String> = addresses.iter().map(|a| format!("{a:#x}")).collect();
    v.join(", ")
}

/// An ELF file read into memory for symbol lookups.
pub struct ElfImage {
    path: PathBuf,
    data: Vec<u8>,
}

impl ElfImage {
    /// Reads `path` and checks that it parses as ELF.
    pub fn open(path: &Path) -> Result<ElfImage, ElfError> {
        let data = std::fs::read(path).map_err(|source| ElfError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let image = ElfImage {
            path: path.to_path_buf(),
            data,
        };
        image.parse()?;
        Ok(image)
    }

    fn parse(&self) -> Result<object::File<'_>, ElfError> {
        let file = object::File::parse(&*self.data).map_err(|e| ElfError::NotElf {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(ElfError::NotElf {
                path: self.path.clone(),
                reason: format!("it is {:?}", file.format()),
            });
        }
        Ok(file)
    }

    /// Whether the file has a `.symtab` (it is not stripped).
    pub fn has_symtab(&self) -> bool {
        self.parse()
            .is_ok_and(|f| f.section_by_name(".symtab").is_some())
    }

    /// The file offset of virtual address `address` through the executable `PT_LOAD`
    /// segment that contains it, or `None` when no executable segment does.
    pub fn file_offset_of(&self, address: u64) -> Result<Option<u64>, ElfError> {
        let file = self.parse()?;
        Ok(code_segments(&file)
            .into_iter()
            .find(|s| address >= s.vaddr && address < s.vaddr + s.filesz)
            .map(|s| s.offset + (address - s.vaddr)))
    }

    /// Checks that a file offset given directly lies in an executable segment.
    pub fn check_file_offset(&self, offset: u64) -> Result<(), ElfError> {
        let file = self.parse()?;
        let segments = code_segments(&file);
        if segments
            .iter()
            .any(|s| offset >= s.offset && offset < s.offset + s.filesz)
        {
            return Ok(());
        }
        let ranges: Vec<String> = segments
            .iter()
            .map(|s| format!("{:#x}..{:#x}", s.offset, s.offset + s.filesz))
            .collect();
        Err(ElfError::OffsetNotInCode {
            path: self.path.clone(),
            offset,
            ranges: if ranges.is_empty() {
                "none".into()
            } else {
                ranges.join(", ")
            },
        })
    }

    /// Resolves `symbol + offset` to a file offset: `.symtab` first, then `.dynsym`.
    pub fn resolve(&self, symbol: &str, offset: u64) -> Result<ResolvedSymbol, ElfError> {
        let file = self.parse()?;
        let mut found: Option<(SymbolTable, Vec<Found>)> = None;
        for (table, symbols) in [
            (SymbolTable::Symtab, file.symbols()),
            (SymbolTable::Dynsym, file.dynamic_symbols()),
        ] {
            let matches: Vec<Found> = symbols
                .filter(|s| s.section() != SymbolSection::Undefined)
                .filter(|s| s.name() == Ok(symbol))
                .map(|s| Found {
                    address: s.address(),
                    size: s.size(),
                    kind: s.kind(),
                })
                .collect();
            if !matches.is_empty() {
                found = Some((table, matches));
                break;
            }
        }
        let Some((table, matches)) = found else {
            return Err(ElfError::NoSymbol {
                path: self.path.clone(),
                symbol: symbol.to_string(),
                suggestions: nearest_functions(&file, symbol),
                stripped: file.section_by_name(".symtab").is_none(),
            });
        };
        let functions: Vec<&Found> = matches
            .iter()
            .filter(|f| matches!(f.kind, SymbolKind::Text | SymbolKind::Unknown))
            .collect();
        let Some(first) = functions.first() else {
            return Err(ElfError::NotFunction {
                path: self.path.clone(),
                symbol: symbol.to_string(),
                kind: format!("{:?}", matches[0].kind).to_lowercase(),
            });
        };
        let mut addresses: Vec<u64> = functions.iter().map(|f| f.address).collect();
        addresses.sort_unstable();
        addresses.dedup();
        if addresses.len() > 1 {
            let mut file_offsets = Vec::new();
            for a in addresses {
                file_offsets.extend(self.file_offset_of(a)?);
            }
            return Err(ElfError::Ambiguous {
                path: self.path.clone(),
                symbol: symbol.to_string(),
                file_offsets,
            });
        }
        if first.size > 0 && offset >= first.size {
            return Err(ElfError::PastEnd {
                symbol: symbol.to_string(),
                offset,
                size: first.size,
            });
        }
        let address = first.address + offset;
        let file_offset = self
            .file_offset_of(address)?
            .ok_or_else(|| ElfError::NotInCode {
                path: self.path.clone(),
                what: if offset == 0 {
                    symbol.to_string()
                } else {
                    format!("{symbol}+{offset}")
                },
                address,
            })?;
        Ok(ResolvedSymbol {
            name: symbol.to_string(),
            address: first.address,
            size: first.size,
            file_offset,
            table,
        })
    }
}

struct Found {
    address: u64,
    size: u64,
    kind: SymbolKind,
}

struct CodeSegment {
    vaddr: u64,
    offset: u64,
    filesz: u64,
}

/// The executable `PT_LOAD` segments (object lists only `PT_LOAD` as segments for ELF).
fn code_segments(file: &object::File<'_>) -> Vec<CodeSegment> {
    file.segments()
        .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & PF_X != 0))
        .map(|s| {
            let (offset, filesz) = s.file_range();
            CodeSegment {
                vaddr: s.address(),
                offset,
                filesz,
            }
        })
        .collect()
}

/// Up to three defined function names close to `wanted`: names containing it first, then
/// by edit distance.
fn nearest_functions(file: &object::File<'_>, wanted: &str) -> Vec<String> {
    let lower = wanted.to_ascii_lowercase();
    let limit = (wanted.len() / 3).max(2);
    let mut scored: Vec<(usize, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.section() != SymbolSection::Undefined)
        .filter_map(|s| s.name().ok().map(str::to_string))
        .filter(|n| !n.is_empty())
        .filter_map(|name| {
            let lname = name.to_ascii_lowercase();
            if lname.contains(&lower)
                || (lower.len() >= 4 && lower.contains(&lname) && lname.len() >= 4)
            {
                return Some((0, name));
            }
            if lname.len().abs_diff(lower.len()) > limit {
                return None;
            }
            let d = edit_distance(&lower, &lname);
            (d <= limit).then_some((d, name))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}
