//! USDT probes (`usdt:BINARY:[PROVIDER:]NAME`): the SDT notes of an ELF file read into
//! probe sites (file offset, semaphore, argument specs), attach points expanded to one
//! uprobe per site, the `-l` listing, and the attach with the semaphore's reference
//! counter.

pub mod notes;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kscope_bpf::Program;
use kscope_bpf::attach::uprobe;
use kscope_lang::ast::AttachPoint;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolSection};

/// One place in a file where a USDT probe fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The ELF file.
    pub path: PathBuf,
    /// The provider.
    pub provider: String,
    /// The probe's name.
    pub name: String,
    /// The site's virtual address (after the `.stapsdt.base` adjustment).
    pub pc: u64,
    /// Where the uprobe goes: the file offset of `pc`.
    pub file_offset: u64,
    /// The file offset of the probe's semaphore, when it has one.
    pub ref_ctr_offset: Option<u64>,
    /// The argument specs as the note writes them.
    pub spec: String,
    /// The arguments, or why the specs do not parse.
    pub args: Result<Vec<spec::Arg>, String>,
    /// The addresses of the symbols that `sym(%rip)` arguments name (those found).
    pub symbols: Vec<(String, u64)>,
}

/// The file offset of virtual address `addr` through the `PT_LOAD` segment holding it.
fn file_offset(file: &object::File<'_>, addr: u64) -> Option<u64> {
    file.segments().find_map(|s| {
        let (off, size) = s.file_range();
        (addr >= s.address() && addr < s.address() + size).then(|| off + (addr - s.address()))
    })
}

/// Every USDT site of the ELF file `path`, in note order.
pub fn sites(path: &Path) -> Result<Vec<Site>, String> {
    let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not an ELF file: {e}", path.display()))?;
    let section = file.section_by_name(".note.stapsdt").ok_or_else(|| {
        format!(
            "{} has no USDT probes (no .note.stapsdt section)",
            path.display()
        )
    })?;
    let bytes = section
        .data()
        .map_err(|e| format!("reading .note.stapsdt of {}: {e}", path.display()))?;
    let addr_size = if file.is_64() { 8 } else { 4 };
    let list = notes::parse(bytes, addr_size, file.is_little_endian())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let symbol = |name: &str| {
        file.symbols()
            .chain(file.dynamic_symbols())
            .find(|s| s.section() != SymbolSection::Undefined && s.name() == Ok(name))
            .map(|s| s.address())
    };
    let mut out = Vec::new();
    for n in list {
        let (pc, sem) = notes::adjusted(&n, base);
        let file_offset = file_offset(&file, pc).ok_or_else(|| {
            format!(
                "usdt {}:{} at {pc:#x} is in no loadable segment of {}",
                n.provider,
                n.name,
                path.display()
            )
        })?;
        let ref_ctr_offset = match sem {
            0 => None,
            s => Some(file_offset_of_sem(&file, s, &n, path)?),
        };
        let args = spec::parse_args(&n.args).map_err(|e| {
            format!(
                "{e} (usdt:{}:{}:{} at {pc:#x})",
                path.display(),
                n.provider,
                n.name
            )
        });
        let mut symbols = Vec::new();
        if let Ok(args) = &args {
            for a in args {
                if let spec::Location::Symbol { name, .. } = &a.location
                    && let Some(addr) = symbol(name)
                {
                    symbols.push((name.clone(), addr));
                }
            }
        }
        out.push(Site {
            path: path.to_path_buf(),
            provider: n.provider,
            name: n.name,
            pc,
            file_offset,
            ref_ctr_offset,
            spec: n.args,
            args,
            symbols,
        });
    }
    Ok(out)
}

fn file_offset_of_sem(
    file: &object::File<'_>,
    sem: u64,
    n: &notes::Note,
    path: &Path,
) -> Result<u64, String> {
    file_offset(file, sem).ok_or_else(|| {
        format!(
            "the semaphore of usdt {}:{} at {sem:#x} is in no loadable segment of {}",
            n.provider,
            n.name,
            path.display()
        )
    })
}

/// The sites of `path` that `provider` (a glob; `None`: any) and `name` (a glob) match.
fn matching<'s>(all: &'s [Site], provider: Option<&str>, name: &str) -> Vec<&'s Site> {
    all.iter()
        .filter(|s| {
            provider.is_none_or(|p| kscope_ftrace::select::glob(p, &s.provider))
                && kscope_ftrace::select::glob(name, &s.name)
        })
        .collect()
}

/// The probes of `sites` as `PROVIDER:NAME`, sorted, each once.
fn probe_names(sites: &[Site]) -> Vec<String> {
    let mut v: Vec<String> = sites
        .iter()
        .map(|s| format!("{}:{}", s.provider, s.name))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The concrete attach points of a usdt attach point: one per matching site (a probe
/// used at N places attaches N uprobes), named `usdt:BINARY:PROVIDER:NAME`, with the
/// site each one attaches to.
pub fn expand(ap: &AttachPoint, pid: Option<i32>) -> Result<Vec<(AttachPoint, Arc<Site>)>, String> {
    let (bin, provider, name) = match ap.parts.as_slice() {
        [b, n] => (b, None, n),
        [b, p, n] => (b, Some(p.as_str()), n),
        _ => {
            return Err("a usdt probe names its binary: usdt:BINARY:[PROVIDER:]NAME".to_string());
        }
    };
    if crate::uprobes::is_glob(bin) {
        return crate::uprobes::each_file(bin, |file| {
            let mut one = ap.clone();
            one.parts[0] = file.to_string();
            expand(&one, pid)
        });
    }
    let path = crate::uprobes::resolve_target(bin, pid)?;
    let shown = crate::uprobes::target_name(bin, pid);
    let all = sites(&path)?;
    let found = matching(&all, provider, name);
    if found.is_empty() {
        let names = probe_names(&all);
        let wanted = match provider {
            Some(p) => format!("{p}:{name}"),
            None => name.clone(),
        };
        let candidates: Vec<&str> = match provider {
            Some(_) => names.iter().map(String::as_str).collect(),
            None => names
                .iter()
                .filter_map(|n| n.split_once(':').map(|(_, b)| b))
                .collect(),
        };
        let hint = match kscope_lang::suggest::nearest(&wanted, candidates) {
            Some(s) => format!(": did you mean `{s}`?"),
            None if names.len() <= 8 => format!(": it has {}", names.join(", ")),
            None => format!(
                ": it has {} probes (kscope list 'usdt:{shown}:*')",
                names.len()
            ),
        };
        return Err(format!(
            "no usdt probe `{wanted}` in {}{hint}",
            path.display()
        ));
    }
    if provider.is_none() && !name.contains(['*', '?', '[']) {
        let mut providers: Vec<&str> = found.iter().map(|s| s.provider.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        if providers.len() > 1 {
            return Err(format!(
                "`{name}` names probes of several providers in {} ({}): name one, as in \
                 usdt:{shown}:{}:{name}",
                path.display(),
                providers.join(", "),
                providers[0]
            ));
        }
    }
    let mut out: Vec<(AttachPoint, Arc<Site>)> = found
        .into_iter()
        .map(|s| {
            let mut a = ap.clone();
            a.parts = vec![shown.clone(), s.provider.clone(), s.name.clone()];
            a.raw = a.canonical();
            (a, Arc::new(s.clone()))
        })
        .collect();
    out.sort_by_key(|(a, s)| (a.canonical(), s.pc));
    Ok(out)
}

/// `-l 'usdt:BINARY:GLOB'` or `-l 'usdt:BINARY:PROVIDER:NAME'` (globs): the probes as
/// upstream lists them, `usdt:BINARY:PROVIDER:NAME` one a line, each once; `None` when
/// `pattern` is not a usdt pattern with a binary.
pub fn list(pattern: &str, pid: Option<i32>) -> Option<Result<Vec<String>, String>> {
    let rest = pattern.strip_prefix("usdt:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (bin, provider, name) = match parts.as_slice() {
        [b] => (*b, None, "*"),
        [b, n] => (*b, None, *n),
        [b, p, n] => (*b, Some(*p), *n),
        _ => return None,
    };
    if bin.is_empty() || bin.contains(['*', '?', '[']) {
        return None;
    }
    let shown = crate::uprobes::target_name(bin, pid);
    Some(crate::uprobes::resolve_target(bin, pid).and_then(|path| {
        let all = match sites(&path) {
            Ok(s) => s,
            // A file without notes simply has no usdt probes to list.
            Err(_) if path.is_file() => Vec::new(),
            Err(e) => return Err(e),
        };
        let found: Vec<Site> = matching(&all, provider, name)
            .into_iter()
            .cloned()
            .collect();
        Ok(probe_names(&found)
            .into_iter()
            .map(|n| format!("usdt:{shown}:{n}"))
            .collect())
    }))
}

/// Attaches `prog` to `site` (in `pid` only, when given). A site with a semaphore passes
/// its offset to the uprobe PMU, so that the kernel raises it while the probe is
/// installed; a kernel without `ref_ctr_offset` (before Linux 4.20) is an error that says
/// so, since the program would then never fire the probe.
pub fn attach(prog: &Program, site: &Site, pid: Option<i32>) -> Result<uprobe::UprobeLink, String> {
    if site.ref_ctr_offset.is_some() && uprobe::ref_ctr_shift().is_none() {
        return Err(format!(
            "usdt {}:{} has a semaphore, and this kernel's uprobe PMU cannot raise it (no \
             /sys/bus/event_source/devices/uprobe/format/ref_ctr_offset; Linux ≥ 4.20): the \
             program fires the probe only while its semaphore is set",
            site.provider, site.name
        ));
    }
    let opts = uprobe::UprobeOptions {
        retprobe: false,
        pid,
    };
    uprobe::attach_with_ref_ctr(
        prog,
        &site.path,
        site.file_offset,
        site.ref_ctr_offset,
        opts,
    )
    .map_err(|e| e.to_string())
}
