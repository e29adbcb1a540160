//! `kscope probe add` locations and definitions: parsing `BINARY:SYMBOL[+OFFSET]`,
//! `BINARY:0xOFFSET` and `SYMBOL[+OFFSET]`, and building the line the kernel takes.

use std::path::{Path, PathBuf};

use super::elf::{ElfImage, ResolvedSymbol};
use super::{GROUP, ProbeError};
use crate::dynevent::ProbeKind;

/// The kernel's limit on event names (`MAX_EVENT_NAME_LEN`, including the NUL).
const MAX_NAME_LEN: usize = 63;

/// Where in user space a uprobe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserPlace {
    /// A function symbol plus a byte offset into it.
    Symbol {
        /// The symbol name.
        name: String,
        /// Bytes past the symbol's start.
        offset: u64,
    },
    /// A file offset given directly.
    FileOffset(u64),
}

/// Where a probe goes, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A uprobe in a binary (path or a name looked up in `$PATH`).
    User {
        /// The binary as given.
        binary: String,
        /// The place in it.
        place: UserPlace,
    },
    /// A kprobe on a kernel symbol.
    Kernel {
        /// The kernel symbol, `MODULE:SYMBOL` for a module's.
        symbol: String,
        /// Bytes past its start.
        offset: u64,
    },
}

/// A parsed probe location and whether it is a return probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Where.
    pub location: Location,
    /// A uretprobe/kretprobe (`-r` or a `%return` suffix).
    pub is_return: bool,
}

impl ProbeSpec {
    /// Parses `BINARY:SYMBOL[+OFFSET]`, `BINARY:0xOFFSET` (uprobes) or `SYMBOL[+OFFSET]`
    /// (kprobes), each optionally followed by `%return`. `MODULE:SYMBOL` is a kprobe when
    /// MODULE is a loaded kernel module and not a program in `$PATH`.
    pub fn parse(spec: &str, is_return: bool) -> Result<ProbeSpec, ProbeError> {
        let bad = |reason: &str| ProbeError::BadSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (text, suffix_return) = match spec.strip_suffix("%return") {
            Some(t) => (t, true),
            None => (spec, false),
        };
        let is_return = is_return || suffix_return;
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "expected BINARY:SYMBOL[+OFFSET], BINARY:0xOFFSET or KERNEL_SYMBOL[+OFFSET], without spaces",
            ));
        }
        let location = if let Some((binary, place)) = text.rsplit_once(':') {
            if binary.is_empty() {
                return Err(bad("the binary is missing before ':'"));
            }
            if place.is_empty() {
                return Err(bad("the symbol or offset is missing after ':'"));
            }
            let place =
                if place.starts_with(|c: char| c.is_ascii_digit()) {
                    UserPlace::FileOffset(parse_number(place).ok_or_else(|| {
                        bad("a file offset is a number: decimal or 0x-prefixed hex")
                    })?)
                } else {
                    let (name, offset) = symbol_and_offset(place).map_err(|r| bad(&r))?;
                    UserPlace::Symbol { name, offset }
                };
            match place {
                UserPlace::Symbol { name, offset } if is_kernel_module(binary) => {
                    Location::Kernel {
                        symbol: format!("{binary}:{name}"),
                        offset,
                    }
                }
                place => Location::User {
                    binary: binary.to_string(),
                    place,
                },
            }
        } else {
            let (symbol, offset) = symbol_and_offset(text).map_err(|r| bad(&r))?;
            Location::Kernel { symbol, offset }
        };
        let offset = match &location {
            Location::User {
                place: UserPlace::Symbol { offset, .. },
                ..
            }
            | Location::Kernel { offset, .. } => *offset,
            Location::User { .. } => 0,
        };
        if is_return && offset != 0 {
            return Err(bad(
                "a return probe goes on a function's entry: drop the +OFFSET",
            ));
        }
        Ok(ProbeSpec {
            location,
            is_return,
        })
    }

    /// The probe kind: uprobe or kprobe.
    pub fn kind(&self) -> ProbeKind {
        match self.location {
            Location::User { .. } => ProbeKind::Uprobe,
            Location::Kernel { .. } => ProbeKind::Kprobe,
        }
    }

    /// Whether the probe sits on a function's first instruction (where argument registers
    /// still hold the arguments).
    fn at_function_entry(&self) -> bool {
        matches!(
            self.location,
            Location::User {
                place: UserPlace::Symbol { offset: 0, .. },
                ..
            } | Location::Kernel { offset: 0, .. }
        )
    }

    /// The default event name, as perf probe makes them: the symbol (sanitised), with
    /// `_OFFSET` for an offset and `__return` for a return probe.
    pub fn default_name(&self) -> String {
        let base = match &self.location {
            Location::User {
                place: UserPlace::Symbol { name, offset },
                ..
            }
            | Location::Kernel {
                symbol: name,
                offset,
            } => {
                // A module-qualified kernel symbol is named by its symbol, as perf does.
                let name = name.rsplit(':').next().unwrap_or(name);
                if *offset == 0 {
                    name.to_string()
                } else {
                    format!("{name}_{offset}")
                }
            }
            Location::User {
                binary,
                place: UserPlace::FileOffset(off),
            } => {
                let file = Path::new(binary)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| binary.clone());
                format!("{file}_{off:#x}")
            }
        };
        let suffix = if self.is_return { "__return" } else { "" };
        let mut name: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        name.truncate(MAX_NAME_LEN - suffix.len());
        name + suffix
    }
}

/// Whether `MODULE:SYMBOL` names a loaded kernel module (the kprobe syntax) rather than a
/// program: no slash, not a program in `$PATH`, and listed in /sys/module.
fn is_kernel_module(name: &str) -> bool {
    !name.contains('/')
        && find_binary(name).is_err()
        && Path::new("/sys/module").join(name).is_dir()
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn symbol_and_offset(text: &str) -> Result<(String, u64), String> {
    let (symbol, offset) = match text.split_once('+') {
        Some((s, o)) => (
            s,
            parse_number(o).ok_or_else(|| {
                format!("the offset {o:?} is not a number (decimal or 0x-prefixed hex)")
            })?,
        ),
        None => (text, 0),
    };
    if symbol.is_empty() {
        return Err("the symbol is missing".into());
    }
    Ok((symbol.to_string(), offset))
}

/// Checks a user-chosen event name: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes. A
/// `kscope:` or `kscope/` prefix is accepted and dropped.
pub fn check_name(name: &str) -> Result<String, ProbeError> {
    let bad = |reason: String| ProbeError::BadName {
        name: name.to_string(),
        reason,
    };
    let bare = match name.split_once([':', '/']) {
        Some((group, rest)) if group == GROUP => rest,
        Some((group, _)) => {
            return Err(bad(format!(
                "kscope's probes live in the group `{GROUP}`, not `{group}`"
            )));
        }
        None => name,
    };
    if bare.is_empty()
        || bare.starts_with(|c: char| c.is_ascii_digit())
        || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad(
            "use letters, digits and '_', not starting with a digit".into(),
        ));
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(bad(format!("at most {MAX_NAME_LEN} characters")));
    }
    Ok(bare.to_string())
}

/// A complete probe definition, ready to be written to `uprobe_events`/`kprobe_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDefinition {
    /// Uprobe or kprobe.
    pub kind: ProbeKind,
    /// Whether it fires on return.
    pub is_return: bool,
    /// The event name (group `kscope`).
    pub name: String,
    /// The location as the kernel takes it: `/abs/path:0xOFFSET` or `symbol[+offset]`.
    pub location: String,
    /// Fetch arguments in the kernel's syntax.
    pub args: Vec<String>,
    /// For a uprobe on a symbol, what the symbol resolved to.
    pub resolved: Option<ResolvedSymbol>,
}

impl ProbeDefinition {
    /// Resolves a parsed spec: finds the binary, looks the symbol up in its ELF symbol
    /// tables, and checks the name and fetch arguments.
    pub fn build(
        spec: &ProbeSpec,
        name: Option<&str>,
        args: &[String],
    ) -> Result<ProbeDefinition, ProbeError> {
        let name = match name {
            Some(n) => check_name(n)?,
            None => spec.default_name(),
        };
        let (location, resolved) = match &spec.location {
            Location::Kernel { symbol, offset } => (
                if *offset == 0 {
                    symbol.clone()
                } else {
                    format!("{symbol}+{offset}")
                },
                None,
            ),
            Location::User { binary, place } => {
                let path = find_binary(binary)?;
                let image = ElfImage::open(&path)?;
                let (offset, resolved) = match place {
                    UserPlace::FileOffset(off) => {
                        image.check_file_offset(*off)?;
                        (*off, None)
                    }
                    UserPlace::Symbol { name, offset } => {
                        let r = image.resolve(name, *offset)?;
                        (r.file_offset, Some(r))
                    }
                };
                (format!("{}:{offset:#x}", path.display()), resolved)
            }
        };
        let args = args
            .iter()
            .map(|a| translate_arg(a, spec))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProbeDefinition {
            kind: spec.kind(),
            is_return: spec.is_return,
            name,
            location,
            args,
            resolved,
        })
    }

    /// The line for the control file, e.g. `p:kscope/f /usr/bin/x:0x1139 arg1=%di`.
    pub fn line(&self) -> String {
        let letter = if self.is_return { 'r' } else { 'p' };
        let mut line = format!("{letter}:{GROUP}/{} {}", self.name, self.location);
        for a in &self.args {
            line.push(' ');
            line.push_str(a);
        }
        line
    }

    /// `kscope:NAME`, the event as `kscope record -e` takes it.
    pub fn event(&self) -> String {
        format!("{GROUP}:{}", self.name)
    }
}

/// Finds a binary: a path as given (made absolute), or a bare name in `$PATH`.
pub fn find_binary(binary: &str) -> Result<PathBuf, ProbeError> {
    let candidate = if binary.contains('/') {
        PathBuf::from(binary)
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
            .ok_or_else(|| ProbeError::NotInPath {
                binary: binary.to_string(),
            })?
    };
    let absolute = candidate
        .canonicalize()
        .map_err(|source| ProbeError::Binary {
            path: candidate.clone(),
            source,
        })?;
    if absolute.to_string_lossy().contains(char::is_whitespace) {
        return Err(ProbeError::BadSpec {
            spec: binary.to_string(),
            reason: format!(
                "{} contains whitespace, which uprobe_events cannot take; probe it through a symlink without spaces",
                absolute.display()
            ),
        });
    }
    Ok(absolute)
}

/// The registers that hold integer arguments at a function's entry, by the platform ABI.
#[cfg(target_arch = "x86_64")]
const ARG_REGISTERS: &[&str] = &["%di", "%si", "%dx", "%cx", "%r8", "%r9"];
#[cfg(target_arch = "aarch64")]
const ARG_REGISTERS: &[&str] = &["%x0", "%x1", "%x2", "%x3", "%x4", "%x5", "%x6", "%x7"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARG_REGISTERS: &[&str] = &[];

/// Passes a fetch argument through in the kernel's syntax, except `argN`/`$argN`: kprobes
/// take `$argN` themselves; for uprobes (which do not) it becomes the ABI register.
fn translate_arg(arg: &str, spec: &ProbeSpec) -> Result<String, ProbeError> {
    let bad = |reason: String| ProbeError::BadSpec {
        spec: arg.to_string(),
        reason,
    };
    if arg.is_empty() || arg.chars().any(|c| c.is_control()) {
        return Err(bad(
            "a fetch argument must be non-empty text on one line".into()
        ));
    }
    let (given_name, rest) = match arg.split_once('=') {
        Some((n, r))
            if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            (Some(n), r)
        }
        _ => (None, arg),
    };
    let (value, type_suffix) = match rest.split_once(':') {
        Some((v, t)) => (v, Some(t)),
        None => (rest, None),
    };
    let Some(n) = value
        .strip_prefix('$')
        .unwrap_or(value)
        .strip_prefix("arg")
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|&n| n >= 1)
    else {
        return Ok(arg.to_string());
    };
    let name = given_name.map_or_else(|| format!("arg{n}"), str::to_string);
    let typed = |v: &str| match type_suffix {
        Some(t) => format!("{name}={v}:{t}"),
        None => format!("{name}={v}"),
    };
    match spec.kind() {
        ProbeKind::Kprobe | ProbeKind::Other => Ok(typed(&format!("$arg{n}"))),
        ProbeKind::Uprobe => {
            if spec.is_return {
                return Err(bad(
                    "function arguments are gone by the time a function returns; a return probe can fetch $retval".into(),
                ));
            }
            if !spec.at_function_entry() {
                return Err(bad(
                    "argN is only known at a function's entry (SYMBOL without +OFFSET); use registers (%di, %si, …) elsewhere".into(),
                ));
            }
            let reg = ARG_REGISTERS.get(n - 1).ok_or_else(|| {
                bad(format!(
                    "this architecture passes {} arguments in registers; fetch later ones from the stack ($stackN)",
                    ARG_REGISTERS.len()
                ))
            })?;
            Ok(typed(reg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> ProbeSpec {
        ProbeSpec::parse(s, false).unwrap()
    }

    #[test]
    fn locations_parse() {
        assert_eq!(
            spec("/bin/x:main+0x10").location,
            Location::User {
                binary: "/bin/x".into(),
                place: UserPlace::Symbol {
                    name: "main".into(),
                    offset: 16
                }
            }
        );
        assert_eq!(
            spec("x:0x1139").location,
            Location::User {
                binary: "x".into(),
                place: UserPlace::FileOffset(0x1139)
            }
        );
        assert_eq!(
            spec("do_sys_openat2+4").location,
            Location::Kernel {
                symbol: "do_sys_openat2".into(),
                offset: 4
            }
        );
        let r = spec("/bin/x:main%return");
        assert!(r.is_return);
        assert_eq!(r.default_name(), "main__return");
        assert!(ProbeSpec::parse("f+8", true).is_err());
        assert!(ProbeSpec::parse("x:", false).is_err());
        assert!(ProbeSpec::parse(":f", false).is_err());
        assert!(ProbeSpec::parse("f+zz", false).is_err());
        assert!(ProbeSpec::parse("a b", false).is_err());
    }

    #[test]
    fn default_names_follow_perf() {
        assert_eq!(spec("x:foo.isra.0").default_name(), "foo_isra_0");
        assert_eq!(spec("foo+12").default_name(), "foo_12");
        assert_eq!(spec("/p/prog:0x40").default_name(), "prog_0x40");
        assert_eq!(
            ProbeSpec::parse("f", true).unwrap().default_name(),
            "f__return"
        );
        let module = ProbeSpec {
            location: Location::Kernel {
                symbol: "ext4:ext4_file_open".into(),
                offset: 0,
            },
            is_return: true,
        };
        assert_eq!(module.default_name(), "ext4_file_open__return");
        let long = "a".repeat(100);
        let n = ProbeSpec::parse(&long, true).unwrap().default_name();
        assert_eq!(n.len(), MAX_NAME_LEN);
        assert!(n.ends_with("__return"));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("kscope:abc").unwrap(), "abc");
        assert_eq!(check_name("kscope/abc").unwrap(), "abc");
        assert!(check_name("probe_libc:abc").is_err());
        assert!(check_name("1abc").is_err());
        assert!(check_name("a-b").is_err());
        assert!(check_name(&"a".repeat(64)).is_err());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn arg_n_becomes_a_register_for_uprobes_and_stays_for_kprobes() {
        let u = spec("/bin/x:f");
        assert_eq!(translate_arg("arg1", &u).unwrap(), "arg1=%di");
        assert_eq!(translate_arg("n=$arg2:s32", &u).unwrap(), "n=%si:s32");
        assert_eq!(
            translate_arg("+0(%si):string", &u).unwrap(),
            "+0(%si):string"
        );
        assert_eq!(translate_arg("argv", &u).unwrap(), "argv");
        assert!(translate_arg("arg7", &u).is_err());
        assert!(translate_arg("arg1", &spec("/bin/x:f+4")).is_err());
        assert!(translate_arg("arg1", &ProbeSpec::parse("/bin/x:f", true).unwrap()).is_err());
        let k = spec("do_sys_openat2");
        assert_eq!(translate_arg("arg1", &k).unwrap(), "arg1=$arg1");
        assert_eq!(translate_arg("dfd=%di:s32", &k).unwrap(), "dfd=%di:s32");
    }

    #[test]
    fn kernel_definitions_are_lines_the_kernel_takes() {
        let d = ProbeDefinition::build(
            &ProbeSpec::parse("do_sys_openat2", true).unwrap(),
            None,
            &["ret=$retval".into()],
        )
        .unwrap();
        assert_eq!(
            d.line(),
            "r:kscope/do_sys_openat2__return do_sys_openat2 ret=$retval"
        );
        assert_eq!(d.event(), "kscope:do_sys_openat2__return");
    }
}
