//! Uprobe targets: a binary or library named in an attach point, and the functions of
//! its ELF file that a wildcard matches (`uprobe:/bin/bash:read*`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use kscope_ftrace::probe::elf::ElfImage;

use object::{Object, ObjectSymbol, SymbolKind, SymbolSection};

/// Where shared libraries live when neither `-p` nor `PATH` finds a name.
const LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// Whether `file` (a base name) is the library `name`: `libc` and `c` name
/// `libc.so.6`; `libc.so.6` names itself.
fn library_matches(name: &str, file: &str) -> bool {
    if file == name {
        return true;
    }
    let lib = if name.starts_with("lib") {
        name.to_string()
    } else {
        format!("lib{name}")
    };
    file.strip_prefix(&lib)
        .is_some_and(|rest| rest.starts_with(".so") || rest.starts_with('-'))
        && file.contains(".so")
}

/// The file a uprobe target names: a path (made absolute), a program in `PATH`, or a
/// library name (`libc`), looked up in the maps of `pid` when given, else in the
/// usual library directories.
pub fn resolve_target(target: &str, pid: Option<i32>) -> Result<PathBuf, String> {
    if target.contains('/') {
        return kscope_ftrace::probe::find_binary(target).map_err(|e| e.to_string());
    }
    if let Ok(p) = kscope_ftrace::probe::find_binary(target) {
        return Ok(p);
    }
    library(target, pid)
}

/// Whether a uprobe or usdt target is a glob over files (`./bin/prog_*`).
pub fn is_glob(target: &str) -> bool {
    target.contains(['*', '?', '['])
}

/// The ELF files a target glob matches, one path component at a time (a `*` does not
/// cross a `/`), sorted, spelled as the pattern spells them (`./x_*` gives `./x_a`).
/// An error when none matches.
pub fn glob_files(pattern: &str) -> Result<Vec<String>, String> {
    let absolute = pattern.starts_with('/');
    let mut found: Vec<String> = vec![if absolute { "/".into() } else { String::new() }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            let join = |name: &str| format!("{base}{name}{}", if last { "" } else { "/" });
            if !is_glob(part) {
                next.push(join(part));
                continue;
            }
            let dir = if base.is_empty() { "." } else { base.as_str() };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && kscope_ftrace::select::glob(part, n))
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join(n)));
        }
        found = next;
    }
    // Only ELF files can be probed: a glob over a directory passes over the others.
    let elf = |p: &String| {
        let mut magic = [0u8; 4];
        std::fs::File::open(p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|()| magic == *b"\x7fELF")
    };
    found.retain(|p| std::path::Path::new(p).is_file() && elf(p));
    if found.is_empty() {
        return Err(format!("no ELF file matches `{pattern}`"));
    }
    Ok(found)
}

/// `each` of the files `target` names (itself, or the files its glob matches), the
/// results joined: a file it finds nothing in is left out, and when it finds nothing in
/// any the first file's error is the answer.
pub fn each_file<T>(
    target: &str,
    mut each: impl FnMut(&str) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, String> {
    let files = if is_glob(target) {
        glob_files(target)?
    } else {
        vec![target.to_string()]
    };
    let mut out = Vec::new();
    let mut first_error = None;
    for file in &files {
        match each(file) {
            Ok(found) => out.extend(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

/// The attach point spelling of a uprobe target: a library name becomes the library's
/// path, as upstream names the probe (`uprobe:libc:f` is `uprobe:/lib/.../libc.so.6:f`);
/// paths and programs stay as written.
pub fn target_name(target: &str, pid: Option<i32>) -> String {
    if target.contains('/') || kscope_ftrace::probe::find_binary(target).is_ok() {
        return target.to_string();
    }
    library(target, pid).map_or_else(|_| target.to_string(), |p| p.display().to_string())
}

/// A library by name: in the maps of `pid`, else in [`LIBRARY_DIRS`] (not made
/// canonical: `/lib/x86_64-linux-gnu/libc.so.6` as the loader's cache spells it).
fn library(target: &str, pid: Option<i32>) -> Result<PathBuf, String> {
    if let Some(pid) = pid
        && let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps"))
    {
        for line in maps.lines() {
            let Some(path) = line.split_whitespace().nth(5) else {
                continue;
            };
            let base = path.rsplit('/').next().unwrap_or(path);
            if path.starts_with('/') && library_matches(target, base) {
                return Ok(PathBuf::from(path));
            }
        }
    }
    for dir in LIBRARY_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| library_matches(target, f))
            .collect();
        // `libc.so.6` before `libc.so` (a linker script) and `libc-2.x.so`.
        names.sort_by_key(|n| (!n.contains(".so."), n.len()));
        if let Some(n) = names.first() {
            return Ok(Path::new(dir).join(n));
        }
    }
    Err(format!(
        "`{target}` is neither a file, a program in PATH, nor a library in {}{}: give its path",
        LIBRARY_DIRS.join(", "),
        if pid.is_some() {
            " or the maps of -p PID"
        } else {
            ""
        }
    ))
}

/// Where the separate debug file of a stripped ELF file lives (`/usr/lib/debug`, found
/// by its build id or its `.gnu_debuglink`), if it is installed.
pub(crate) fn debug_file(path: &Path, file: &object::File<'_>) -> Option<PathBuf> {
    if let Ok(Some(id)) = file.build_id()
        && let Some((first, rest)) = id.split_first()
    {
        let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
        let p = PathBuf::from(format!("/usr/lib/debug/.build-id/{first:02x}/{hex}.debug"));
        if p.is_file() {
            return Some(p);
        }
    }
    let (name, _crc) = file.gnu_debuglink().ok().flatten()?;
    let name = String::from_utf8_lossy(name).into_owned();
    let dir = path.parent()?;
    [
        dir.join(&name),
        dir.join(".debug").join(&name),
        Path::new("/usr/lib/debug")
            .join(dir.strip_prefix("/").unwrap_or(dir))
            .join(&name),
    ]
    .into_iter()
    .find(|p| p.is_file() && p != path)
}

/// The defined function symbols of one symbol table: (name, address).
fn text_symbols<'d>(
    symbols: impl Iterator<Item = object::Symbol<'d, 'd>>,
) -> impl Iterator<Item = (String, u64)> {
    symbols
        .filter(|s| s.kind() == SymbolKind::Text && s.section() != SymbolSection::Undefined)
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
        .filter(|(n, _)| !n.is_empty())
}

/// An ELF file read for uprobes, kept while it is unchanged: a wildcard's hundreds of
/// attach points then read and parse it once.
struct Loaded {
    stamp: (u64, Option<SystemTime>),
    image: Option<Rc<ElfImage>>,
    functions: Option<Rc<Vec<(String, u64)>>>,
}

thread_local! {
    static LOADED: RefCell<HashMap<PathBuf, Loaded>> = RefCell::new(HashMap::new());
}

/// The cache entry of `path` (emptied when the file changed), passed to `f`.
fn with_loaded<T>(path: &Path, f: impl FnOnce(&mut Loaded) -> T) -> T {
    let stamp = std::fs::metadata(path).map_or((0, None), |m| (m.len(), m.modified().ok()));
    LOADED.with(|l| {
        let mut l = l.borrow_mut();
        let e = l.entry(path.to_path_buf()).or_insert(Loaded {
            stamp,
            image: None,
            functions: None,
        });
        if e.stamp != stamp {
            *e = Loaded {
                stamp,
                image: None,
                functions: None,
            };
        }
        f(e)
    })
}

fn image(path: &Path) -> Result<Rc<ElfImage>, String> {
    if let Some(i) = with_loaded(path, |e| e.image.clone()) {
        return Ok(i);
    }
    let i = Rc::new(ElfImage::open(path).map_err(|e| e.to_string())?);
    with_loaded(path, |e| e.image = Some(Rc::clone(&i)));
    Ok(i)
}

/// [`read_functions`], cached.
fn all_functions(path: &Path) -> Result<Rc<Vec<(String, u64)>>, String> {
    if let Some(f) = with_loaded(path, |e| e.functions.clone()) {
        return Ok(f);
    }
    let f = Rc::new(read_functions(path)?);
    with_loaded(path, |e| e.functions = Some(Rc::clone(&f)));
    Ok(f)
}

/// Every function symbol of the ELF file `path` with its address: `.symtab`, or for a
/// stripped file `.dynsym` and the `.symtab` of its debug file when installed (which
/// names local functions too, as upstream lists them).
fn read_functions(path: &Path) -> Result<Vec<(String, u64)>, String> {
    let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|e| format!("{} is not an ELF file: {e}", path.display()))?;
    let mut all: Vec<(String, u64)> = text_symbols(file.symbols()).collect();
    if all.is_empty() {
        all.extend(text_symbols(file.dynamic_symbols()));
        if let Some(debug) = debug_file(path, &file)
            && let Ok(ddata) = std::fs::read(&debug)
            && let Ok(dfile) = object::File::parse(&*ddata)
        {
            all.extend(text_symbols(dfile.symbols()));
        }
    }
    Ok(all)
}

/// The function symbols of the ELF file `path` matching the glob `pattern`, sorted and
/// without repeats (see [`all_functions`]).
pub fn functions(path: &Path, pattern: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = all_functions(path)?
        .iter()
        // Upstream skips the `.part.N` pieces of split functions.
        .filter(|(n, _)| !n.contains(".part.") && kscope_ftrace::select::glob(pattern, n))
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The file offset a uprobe on `symbol` in `path` takes: from the file's own symbols,
/// else (a local function of a stripped file) from its debug file's.
pub fn file_offset(path: &Path, symbol: &str) -> Result<u64, String> {
    probe_location(path, symbol).map(|(_, offset)| offset)
}

/// Where a uprobe on `symbol` (`f`, `f+4` or an address `0x401000`) in `path` goes: the
/// virtual address in the ELF file and its file offset (see [`file_offset`]).
pub fn probe_location(path: &Path, symbol: &str) -> Result<(u64, u64), String> {
    let image = image(path)?;
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse::<u64>().ok(),
    };
    // `uprobe:BIN:0x401000`: a virtual address.
    if symbol.starts_with("0x")
        && let Some(addr) = number(symbol)
    {
        let offset = image
            .file_offset_of(addr)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{addr:#x} is in no code segment of {}", path.display()))?;
        return Ok((addr, offset));
    }
    // `uprobe:BIN:func+4`: an offset into the function.
    let (symbol, offset) = match symbol.rsplit_once('+') {
        Some((s, o)) => match number(o) {
            Some(o) => (s, o),
            None => return Err(format!("bad offset `{o}` in `{symbol}`: give a number")),
        },
        None => (symbol, 0),
    };
    let err = match image.resolve(symbol, offset) {
        Ok(r) => return Ok((r.address + offset, r.file_offset)),
        Err(e) => e,
    };
    if !matches!(err, kscope_ftrace::probe::elf::ElfError::NoSymbol { .. }) {
        return Err(err.to_string());
    }
    let mut addrs: Vec<u64> = all_functions(path)?
        .iter()
        .filter(|(n, _)| n == symbol)
        .map(|(_, a)| *a)
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    match addrs.as_slice() {
        [a] => image
            .file_offset_of(*a + offset)
            .map_err(|e| e.to_string())?
            .map(|o| (*a + offset, o))
            .ok_or_else(|| {
                format!(
                    "{symbol} at {a:#x} is in no code segment of {}",
                    path.display()
                )
            }),
        [] => Err(err.to_string()),
        _ => Err(format!(
            "{symbol} names {} functions in {} (its debug file): attach by address",
            addrs.len(),
            path.display()
        )),
    }
}

/// `-l 'uprobe:BINARY:GLOB'` (or `uretprobe:`): the matching probes as upstream's
/// `bpftrace -l` lists them, one name a line; `None` when `pattern` is not a uprobe
/// pattern with a binary.
pub fn list(pattern: &str, pid: Option<i32>) -> Option<Result<Vec<String>, String>> {
    let (provider, rest) = pattern.split_once(':')?;
    if !matches!(provider, "uprobe" | "uretprobe") {
        return None;
    }
    let (bin, func) = rest.rsplit_once(':')?;
    let name = target_name(bin, pid);
    Some(resolve_target(bin, pid).and_then(|path| {
        Ok(functions(&path, func)?
            .into_iter()
            .map(|f| format!("{provider}:{name}:{f}"))
            .collect())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_match_their_files() {
        assert!(library_matches("libc", "libc.so.6"));
        assert!(library_matches("c", "libc.so.6"));
        assert!(library_matches("libc.so.6", "libc.so.6"));
        assert!(library_matches("libc", "libc-2.31.so"));
        assert!(!library_matches("libc", "libcap.so.2"));
        assert!(!library_matches("libc", "libc.a"));
    }

    #[test]
    fn libc_resolves_and_lists_malloc() {
        let p = resolve_target("libc", None).expect("libc");
        assert!(p.to_string_lossy().contains("libc.so"), "{}", p.display());
        let f = functions(&p, "mallo?").expect("symbols");
        assert_eq!(f, vec!["malloc".to_string()]);
        let off = file_offset(&p, "malloc").expect("malloc's offset");
        assert!(off > 0);
        assert_eq!(file_offset(&p, "malloc+4"), Ok(off + 4));
        assert!(file_offset(&p, "malloc+x").is_err());
    }
}
