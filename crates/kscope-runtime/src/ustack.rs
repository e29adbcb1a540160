//! User space symbols for `ustack`, `usym()` and `func` in user probes, with blazesym.
//!
//! Addresses are absolute in the process that took them, so they are symbolized by
//! pid: through `/proc/PID/maps` while the process lives. A process that may exit before
//! the maps are printed is [`remember`](UserSymbols::remember)ed early: its memory map is
//! cached, and its addresses still resolve through the files it had mapped afterwards.
//! An address that resolves nowhere prints as `0x<hex>`, as upstream's does.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;

use blazesym::Pid;
use blazesym::symbolize::source::{Process, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer, cache};

/// How one frame or symbol is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `usym()`: the name alone.
    Name,
    /// A stack frame: `name+offset`.
    Frame,
    /// A `perf`-mode stack frame: `name+offset (module)`.
    PerfFrame,
}

/// The user symbolizer of one run (its caches live as long as the run).
pub struct UserSymbols {
    symbolizer: Symbolizer,
    remembered: RefCell<HashSet<u32>>,
    refreshed: RefCell<HashSet<u32>>,
}

impl Default for UserSymbols {
    fn default() -> Self {
        UserSymbols::new()
    }
}

impl UserSymbols {
    /// A symbolizer without source lines or inlined functions (upstream's
    /// `show_debug_info` is off by default); names are demangled by [`demangle`].
    pub fn new() -> UserSymbols {
        UserSymbols {
            symbolizer: Symbolizer::builder()
                .enable_demangling(false)
                .enable_code_info(false)
                .enable_inlined_fns(false)
                .build(),
            remembered: RefCell::new(HashSet::new()),
            refreshed: RefCell::new(HashSet::new()),
        }
    }

    /// Caches the memory map of `pid` (once) so that its addresses resolve after it
    /// exits. Returns whether the cache holds it.
    pub fn remember(&self, pid: u32) -> bool {
        if pid == 0 {
            return false;
        }
        if self.remembered.borrow().contains(&pid) {
            return true;
        }
        let mut c = cache::Process::new(Pid::from(pid));
        c.cache_perf_map = false;
        let ok = self.symbolizer.cache(&cache::Cache::Process(c)).is_ok();
        if ok {
            self.remembered.borrow_mut().insert(pid);
        }
        ok
    }

    /// The symbols of `addrs` in process `pid`, spelled per `spelling`; `None` for an
    /// address that did not resolve.
    pub fn resolve(&self, pid: u32, addrs: &[u64], spelling: Spelling) -> Vec<Option<String>> {
        let unknown = || vec![None; addrs.len()];
        if pid == 0 || addrs.is_empty() {
            return unknown();
        }
        // A zombie lingers with an empty memory map: for symbols it is gone.
        let alive = std::fs::read(format!("/proc/{pid}/maps")).is_ok_and(|m| !m.is_empty());
        if alive && self.refreshed.borrow_mut().insert(pid) {
            // A map cached early may have missed libraries loaded since.
            self.remembered.borrow_mut().remove(&pid);
            self.remember(pid);
        }
        if !alive && !self.remembered.borrow().contains(&pid) {
            return unknown();
        }
        // The file's own symbols first (exported names, as upstream prints them: `getppid`
        // rather than its local alias `__GI_getppid`), then for what they leave unnamed
        // the debug files (/usr/lib/debug, `.gnu_debuglink`), which name local functions
        // such as libc's `__libc_start_call_main`.
        let mut out = self.symbolize(pid, alive, false, addrs, spelling);
        let missing: Vec<usize> = (0..addrs.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let again: Vec<u64> = missing.iter().map(|&i| addrs[i]).collect();
            for (i, name) in missing
                .into_iter()
                .zip(self.symbolize(pid, alive, true, &again, spelling))
            {
                out[i] = name;
            }
        }
        out
    }

    fn symbolize(
        &self,
        pid: u32,
        alive: bool,
        debug_syms: bool,
        addrs: &[u64],
        spelling: Spelling,
    ) -> Vec<Option<String>> {
        let mut src = Process::new(Pid::from(pid));
        src.debug_syms = debug_syms;
        src.perf_map = alive;
        // A process that is gone has no /proc/PID/map_files: use the cached paths.
        src.map_files = alive;
        let src = Source::Process(src);
        // One module that fails (an unreadable debug file) fails the whole batch: then
        // each address on its own.
        let syms = match self.symbolizer.symbolize(&src, Input::AbsAddr(addrs)) {
            Ok(s) => s,
            Err(_) => addrs
                .iter()
                .map(|a| {
                    self.symbolizer
                        .symbolize_single(&src, Input::AbsAddr(*a))
                        .unwrap_or(Symbolized::Unknown(
                            blazesym::symbolize::Reason::IgnoredError,
                        ))
                })
                .collect(),
        };
        syms.iter()
            .map(|s| match s {
                Symbolized::Sym(sym) => Some((demangle(&sym.name), sym)),
                _ => None,
            })
            .map(|s| {
                let (name, sym) = s?;
                Some(match spelling {
                    Spelling::Name => name.into_owned(),
                    Spelling::Frame => format!("{name}+{}", sym.offset),
                    Spelling::PerfFrame => match &sym.module {
                        Some(m) => format!("{name}+{} ({})", sym.offset, m.to_string_lossy()),
                        None => format!("{name}+{} ([unknown])", sym.offset),
                    },
                })
            })
            .collect()
    }
}

/// A symbol's name demangled as upstream demangles (`cpp_demangle`): only names in a
/// mangling scheme's form, `_Z…` (C++, and Rust's legacy scheme) and `_R…` (Rust v0).
/// Any other name is kept as written: a C function `f` is not the mangled type `float`,
/// which is what a demangler makes of it (blazesym's own demangling tries every name).
pub fn demangle(name: &str) -> Cow<'_, str> {
    if (name.starts_with("_R") || name.starts_with("_ZN"))
        && let Ok(d) = rustc_demangle::try_demangle(name)
    {
        return Cow::Owned(format!("{d:#}"));
    }
    if name.starts_with("_Z")
        && let Some(d) = cpp_demangle::Symbol::new(name)
            .ok()
            .and_then(|s| s.demangle().ok())
    {
        return Cow::Owned(d);
    }
    Cow::Borrowed(name)
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn only_mangled_names_are_demangled() {
        // Each of these is a valid mangled *type* to a demangler.
        for plain in ["f", "i", "d", "v", "main", "St", "Dn"] {
            assert_eq!(demangle(plain), plain);
        }
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar()");
        assert_eq!(demangle("_Z3addii"), "add(int, int)");
        assert_eq!(
            demangle("_ZN4core9panicking9panic_fmt17h5f1a6fd39197ad62E"),
            "core::panicking::panic_fmt"
        );
        assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
    }
}
