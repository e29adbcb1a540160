//! A function's parameters from the DWARF debug info of one ELF file (`gcc -g`): their
//! names and types, as kscope-lang's C types ([`CType`]), and the structs and unions they
//! reach, laid out at DWARF's member offsets ([`CStruct`]). Uprobe `args` use them: the
//! value of parameter *i* is the *i*-th integer argument register, as upstream bpftrace
//! reads it (not the DWARF location).
//!
//! Base types map by size and encoding (signed, unsigned, boolean, `char`); typedefs,
//! `const`, `volatile`, `restrict` and `_Atomic` are followed; enums are integers of their
//! size; function pointers are `void *`. A floating-point parameter has no type here
//! (it is in no integer register). A stripped file's separate debug file (by build id or
//! `.gnu_debuglink`) is read in its place. Bitfield members are left out; an anonymous struct or
//! union member's members are inline at their offsets.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitOffset, constants as dw};
use kscope_lang::cdefs::{CMember, CStruct, CType};
use kscope_lang::span::Span;
use object::{Object, ObjectSection};

/// How deep types are followed (a guard against malformed DWARF).
const MAX_DEPTH: u32 = 32;

/// One formal parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name (`DW_AT_name`).
    pub name: String,
    /// Its position (0 is the first parameter).
    pub index: usize,
    /// Its type; `None` where kscope has none (floating point, 128-bit integers).
    pub ty: Option<CType>,
    /// Its type as C spells it, as upstream lists it (`const char*`, `struct Foo*`).
    pub c_type: String,
}

/// A function as its DWARF describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its named parameters in order.
    pub params: Vec<Param>,
    /// The structs and unions the parameters' types reach, each once.
    pub structs: Vec<CStruct>,
}

/// Why a file's DWARF gives no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DwarfError {
    /// The file cannot be read or is not ELF.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        why: String,
    },
    /// The file has no `.debug_info`.
    #[error("{path} has no DWARF debug info (build it with -g)")]
    NoDebugInfo {
        /// The file.
        path: String,
    },
    /// The DWARF is malformed.
    #[error("the DWARF of {path} is malformed: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// The reason.
        why: String,
    },
}

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// The parameters of function `name` in the ELF file at `path`, from its DWARF;
/// `Ok(None)` when the DWARF describes no such function (with a body or a prototype).
pub fn function(path: &Path, name: &str) -> Result<Option<Function>, DwarfError> {
    Ok(functions(path, &[name.to_string()])?.remove(name))
}

/// The parameters of the functions `names` that the DWARF of the ELF file at `path`
/// describes, read in one pass (for wildcards).
pub fn functions(path: &Path, names: &[String]) -> Result<HashMap<String, Function>, DwarfError> {
    with_dwarf(path, |d| find(d, names))
}

/// The structs and unions of `names` (`struct Foo`, `union U`) that the DWARF of the ELF
/// file at `path` defines, with the ones they reach (for casts in uprobes).
pub fn structs(path: &Path, names: &[String]) -> Result<Vec<CStruct>, DwarfError> {
    with_dwarf(path, |d| find_structs(d, names))
}

/// Runs `f` over the DWARF of the ELF file at `path`.
fn with_dwarf<T>(
    path: &Path,
    f: impl FnOnce(&gimli::Dwarf<R<'_>>) -> gimli::Result<T>,
) -> Result<T, DwarfError> {
    let shown = path.display().to_string();
    let read = |why: String| DwarfError::Read {
        path: shown.clone(),
        why,
    };
    let data = std::fs::read(path).map_err(|e| read(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| read(e.to_string()))?;
    if file.section_by_name(".debug_info").is_none() {
        // A stripped file's DWARF may be in its separate debug file.
        return match crate::uprobes::debug_file(path, &file) {
            Some(debug) => with_dwarf(&debug, f).map_err(|e| match e {
                DwarfError::NoDebugInfo { .. } => DwarfError::NoDebugInfo { path: shown },
                e => e,
            }),
            None => Err(DwarfError::NoDebugInfo { path: shown }),
        };
    }
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, DwarfError> {
        match file.section_by_name(id.name()) {
            Some(s) => s.uncompressed_data().map_err(|e| read(e.to_string())),
            None => Ok(Cow::Borrowed(&[][..])),
        }
    };
    let sections = gimli::DwarfSections::load(load)?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    f(&dwarf).map_err(|e| DwarfError::Malformed {
        path: shown.clone(),
        why: e.to_string(),
    })
}

/// Searches every unit for definitions of the structs and unions `names`.
fn find_structs(dwarf: &gimli::Dwarf<R<'_>>, names: &[String]) -> gimli::Result<Vec<CStruct>> {
    let mut out: Vec<CStruct> = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        if names.iter().all(|n| out.iter().any(|s| &s.name == n)) {
            break;
        }
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        while let Some(die) = entries.next_dfs()? {
            let kw = match die.tag() {
                dw::DW_TAG_structure_type | dw::DW_TAG_class_type => "struct",
                dw::DW_TAG_union_type => "union",
                _ => continue,
            };
            let Some(n) = die.attr_value(dw::DW_AT_name) else {
                continue;
            };
            let name = format!(
                "{kw} {}",
                String::from_utf8_lossy(dwarf.attr_string(&unit, n)?.slice())
            );
            if !names.contains(&name)
                || out.iter().any(|s| s.name == name)
                || die.attr(dw::DW_AT_declaration).is_some()
            {
                continue;
            }
            let die = die.clone();
            let mut conv = Conv {
                dwarf,
                unit: &unit,
                structs: Vec::new(),
                names: HashMap::new(),
            };
            conv.record(die.offset(), &die, None, 0)?;
            for s in conv.structs {
                if !out.iter().any(|o| o.name == s.name) {
                    out.push(s);
                }
            }
        }
    }
    Ok(out)
}

/// Searches every unit for the subprograms `names`; a definition wins over a declaration.
fn find(dwarf: &gimli::Dwarf<R<'_>>, names: &[String]) -> gimli::Result<HashMap<String, Function>> {
    // name → (function, whether only a declaration was seen).
    let mut found: HashMap<String, (Function, bool)> = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let done = |found: &HashMap<String, (Function, bool)>| {
            found.len() == names.len() && found.values().all(|(_, decl)| !decl)
        };
        if done(&found) {
            break;
        }
        let unit = dwarf.unit(header)?;
        let mut entries = unit.entries();
        while let Some(die) = entries.next_dfs()? {
            if die.tag() != dw::DW_TAG_subprogram {
                continue;
            }
            let Some(n) = die.attr_value(dw::DW_AT_name) else {
                continue;
            };
            let n = dwarf.attr_string(&unit, n)?;
            let Some(name) = names.iter().find(|x| x.as_bytes() == n.slice()) else {
                continue;
            };
            let is_decl = matches!(
                die.attr_value(dw::DW_AT_declaration),
                Some(AttributeValue::Flag(true))
            );
            if found.get(name).is_some_and(|(_, decl)| !decl || is_decl) {
                continue;
            }
            let offset = die.offset();
            let mut conv = Conv {
                dwarf,
                unit: &unit,
                structs: Vec::new(),
                names: HashMap::new(),
            };
            found.insert(name.clone(), (conv.params(offset)?, is_decl));
        }
    }
    Ok(found.into_iter().map(|(k, (f, _))| (k, f)).collect())
}

/// Converts types of one unit.
struct Conv<'a, 'd> {
    dwarf: &'a gimli::Dwarf<R<'d>>,
    unit: &'a gimli::Unit<R<'d>>,
    structs: Vec<CStruct>,
    /// DIE offset of a struct → its name (set before its members are converted).
    names: HashMap<usize, String>,
}

impl<'d> Conv<'_, 'd> {
    fn params(&mut self, sub: UnitOffset) -> gimli::Result<Function> {
        let mut params = Vec::new();
        let mut tree = self.unit.entries_tree(Some(sub))?;
        let mut children = tree.root()?.children();
        let mut index = 0;
        let mut found = Vec::new();
        while let Some(child) = children.next()? {
            let die = child.entry();
            if die.tag() != dw::DW_TAG_formal_parameter {
                continue;
            }
            let name = self.name(die)?;
            let ty = self.type_ref(die);
            found.push((name, index, ty));
            index += 1;
        }
        for (name, index, ty) in found {
            let (ty, c_type) = match ty {
                Some(off) => (self.ctype(off, None, 0)?, self.spell(off, 0)?),
                None => (None, "void".to_string()),
            };
            if let Some(name) = name {
                params.push(Param {
                    name,
                    index,
                    ty,
                    c_type,
                });
            }
        }
        Ok(Function {
            params,
            structs: std::mem::take(&mut self.structs),
        })
    }

    fn name(&self, die: &gimli::DebuggingInformationEntry<R<'d>>) -> gimli::Result<Option<String>> {
        match die.attr_value(dw::DW_AT_name) {
            Some(v) => Ok(Some(
                String::from_utf8_lossy(self.dwarf.attr_string(self.unit, v)?.slice()).into_owned(),
            )),
            None => Ok(None),
        }
    }

    fn type_ref(&self, die: &gimli::DebuggingInformationEntry<R<'d>>) -> Option<UnitOffset> {
        match die.attr_value(dw::DW_AT_type) {
            Some(AttributeValue::UnitRef(o)) => Some(o),
            _ => None,
        }
    }

    fn udata(die: &gimli::DebuggingInformationEntry<R<'d>>, at: dw::DwAt) -> Option<u64> {
        die.attr_value(at).and_then(|v| v.udata_value())
    }

    /// The C type of the DIE at `off`; `hint` names an anonymous struct after its typedef.
    fn ctype(
        &mut self,
        off: UnitOffset,
        hint: Option<&str>,
        depth: u32,
    ) -> gimli::Result<Option<CType>> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        let die = self.unit.entry(off)?;
        let inner = self.type_ref(&die);
        Ok(match die.tag() {
            dw::DW_TAG_base_type => {
                let size = Self::udata(&die, dw::DW_AT_byte_size).unwrap_or(0);
                let enc = match die.attr_value(dw::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => return Ok(None),
                };
                match (enc, size) {
                    (dw::DW_ATE_boolean, 1) => Some(CType::Bool),
                    (dw::DW_ATE_signed_char, 1) => Some(CType::Char),
                    (dw::DW_ATE_signed | dw::DW_ATE_signed_char, 1 | 2 | 4 | 8) => {
                        Some(CType::Int {
                            size: size as u8,
                            signed: true,
                        })
                    }
                    (
                        dw::DW_ATE_unsigned | dw::DW_ATE_unsigned_char | dw::DW_ATE_boolean,
                        1 | 2 | 4 | 8,
                    ) => Some(CType::Int {
                        size: size as u8,
                        signed: false,
                    }),
                    _ => None,
                }
            }
            dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type => {
                let to = match inner {
                    Some(o) => self.ctype(o, None, depth + 1)?.unwrap_or(CType::Void),
                    None => CType::Void,
                };
                Some(CType::Ptr(Box::new(to)))
            }
            dw::DW_TAG_typedef => {
                let name = self.name(&die)?;
                match inner {
                    Some(o) => self.ctype(o, name.as_deref(), depth + 1)?,
                    None => Some(CType::Void),
                }
            }
            dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => match inner {
                Some(o) => self.ctype(o, hint, depth + 1)?,
                None => Some(CType::Void),
            },
            dw::DW_TAG_enumeration_type => {
                let size = Self::udata(&die, dw::DW_AT_byte_size).unwrap_or(4);
                let signed = match inner {
                    Some(o) => matches!(
                        self.ctype(o, None, depth + 1)?,
                        Some(CType::Int { signed: true, .. })
                    ),
                    None => false,
                };
                matches!(size, 1 | 2 | 4 | 8).then_some(CType::Int {
                    size: size as u8,
                    signed,
                })
            }
            dw::DW_TAG_array_type => {
                let Some(elem) = inner else { return Ok(None) };
                let Some(mut t) = self.ctype(elem, None, depth + 1)? else {
                    return Ok(None);
                };
                let Some(dims) = self.dims(off)? else {
                    return Ok(None);
                };
                if dims.is_empty() {
                    return Ok(None);
                }
                for n in dims.into_iter().rev() {
                    t = CType::Array(Box::new(t), n);
                }
                Some(t)
            }
            dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                Some(CType::Struct(self.record(off, &die, hint, depth)?))
            }
            _ => None,
        })
    }

    /// The lengths of the array type at `off`, outermost first; `None` where one is not
    /// given (a flexible array).
    fn dims(&self, off: UnitOffset) -> gimli::Result<Option<Vec<u64>>> {
        let mut dims = Vec::new();
        let mut tree = self.unit.entries_tree(Some(off))?;
        let mut children = tree.root()?.children();
        while let Some(c) = children.next()? {
            let d = c.entry();
            if d.tag() != dw::DW_TAG_subrange_type {
                continue;
            }
            let n = match Self::udata(d, dw::DW_AT_count) {
                Some(n) => n,
                None => match Self::udata(d, dw::DW_AT_upper_bound) {
                    Some(u) => u + 1,
                    None => return Ok(None),
                },
            };
            dims.push(n);
        }
        Ok(Some(dims))
    }

    /// The C spelling of the type at `off` (`unsigned int`, `const char*`, `my_t`).
    fn spell(&self, off: UnitOffset, depth: u32) -> gimli::Result<String> {
        if depth > MAX_DEPTH {
            return Ok("?".into());
        }
        let die = self.unit.entry(off)?;
        let inner = |this: &Self| -> gimli::Result<String> {
            match this.type_ref(&die) {
                Some(o) => this.spell(o, depth + 1),
                None => Ok("void".into()),
            }
        };
        let named = |this: &Self, kw: &str| -> gimli::Result<String> {
            Ok(match this.name(&die)? {
                Some(n) => format!("{kw}{n}"),
                None => format!("{kw}(anonymous)"),
            })
        };
        Ok(match die.tag() {
            dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type => format!("{}*", inner(self)?),
            dw::DW_TAG_const_type => format!("const {}", inner(self)?),
            dw::DW_TAG_volatile_type => format!("volatile {}", inner(self)?),
            dw::DW_TAG_restrict_type | dw::DW_TAG_atomic_type => inner(self)?,
            dw::DW_TAG_structure_type | dw::DW_TAG_class_type => named(self, "struct ")?,
            dw::DW_TAG_union_type => named(self, "union ")?,
            dw::DW_TAG_enumeration_type => named(self, "enum ")?,
            dw::DW_TAG_array_type => {
                let dims: String = match self.dims(off)? {
                    Some(d) => d.iter().map(|n| format!("[{n}]")).collect(),
                    None => "[]".into(),
                };
                format!("{}{dims}", inner(self)?)
            }
            dw::DW_TAG_subroutine_type => "void (*)()".into(),
            _ => named(self, "")?,
        })
    }

    /// The name of the struct or union at `off`, defined (once) in `self.structs`.
    fn record(
        &mut self,
        off: UnitOffset,
        die: &gimli::DebuggingInformationEntry<R<'d>>,
        hint: Option<&str>,
        depth: u32,
    ) -> gimli::Result<String> {
        if let Some(n) = self.names.get(&off.0) {
            return Ok(n.clone());
        }
        let kw = if die.tag() == dw::DW_TAG_union_type {
            "union"
        } else {
            "struct"
        };
        let name = match self.name(die)?.as_deref().or(hint) {
            Some(n) => format!("{kw} {n}"),
            None => format!("{kw} anon_{:x}", off.0),
        };
        self.names.insert(off.0, name.clone());
        if matches!(
            die.attr_value(dw::DW_AT_declaration),
            Some(AttributeValue::Flag(true))
        ) {
            return Ok(name);
        }
        let size = Self::udata(die, dw::DW_AT_byte_size).unwrap_or(0);
        let mut raw = Vec::new();
        {
            let mut tree = self.unit.entries_tree(Some(off))?;
            let mut children = tree.root()?.children();
            while let Some(c) = children.next()? {
                let d = c.entry();
                if d.tag() != dw::DW_TAG_member || d.attr(dw::DW_AT_bit_size).is_some() {
                    continue;
                }
                let offset = Self::udata(d, dw::DW_AT_data_member_location).unwrap_or(0);
                raw.push((self.name(d)?, self.type_ref(d), offset));
            }
        }
        let mut members = Vec::new();
        for (mname, ty, offset) in raw {
            let Some(ty_off) = ty else { continue };
            let Some(t) = self.ctype(ty_off, None, depth + 1)? else {
                continue;
            };
            match (mname, &t) {
                (Some(n), _) => members.push(CMember {
                    name: n,
                    ty: t,
                    offset,
                    // Bitfield members are left out before this (see above).
                    bits: None,
                    span: Span::new(0, 0),
                }),
                // An anonymous struct or union: its members inline.
                (None, CType::Struct(inner)) => {
                    if let Some(s) = self.structs.iter().find(|s| &s.name == inner) {
                        members.extend(s.members.iter().map(|m| CMember {
                            offset: m.offset + offset,
                            ..m.clone()
                        }));
                    }
                }
                (None, _) => {}
            }
        }
        let align = [8, 4, 2].into_iter().find(|a| size % a == 0).unwrap_or(1);
        self.structs.push(CStruct {
            name: name.clone(),
            members,
            size,
            align,
            span: Span::new(0, 0),
        });
        Ok(name)
    }
}

#[cfg(test)]
mod tests;
