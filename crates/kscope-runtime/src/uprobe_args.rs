//! Uprobe `args` from DWARF (upstream bpftrace's uprobe args): before the script is
//! checked, each `uprobe:BINARY:FUNC` names its parameters from the binary's DWARF
//! ([`crate::dwarf`]), the structs they reach join the script's C struct definitions
//! (so `args.p->m` reads user memory at DWARF's offsets, as script-defined structs do),
//! and [`WithUprobeArgs`] answers the checker's `args` question for those attach points.

use std::collections::BTreeMap;
use std::sync::Arc;

use kscope_lang::ast::{AttachPoint, Program, Provider};
use kscope_lang::sema::{Field, Lookup, Type, TypeProvider};

/// Parameters kscope reads from registers (x86-64: rdi, rsi, rdx, rcx, r8, r9).
pub const REGISTER_ARGS: usize = 6;

/// One named parameter of a probed function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgParam {
    /// Its name.
    pub name: String,
    /// Its position (the integer argument register it is read from).
    pub index: usize,
    /// Its type.
    pub ty: Type,
}

/// What DWARF says about one attach point's `args`: its parameters, or the message that
/// says why there are none.
pub type ArgsOf = Result<Arc<Vec<ArgParam>>, String>;

/// The `args` of every uprobe attach point of a script, by canonical attach point.
#[derive(Debug, Clone, Default)]
pub struct UprobeArgs {
    by_probe: BTreeMap<String, ArgsOf>,
}

impl UprobeArgs {
    /// Reads DWARF for each `uprobe` attach point of `program` (with wildcards in the
    /// function: each match, which must all have the same parameters) and adds the
    /// structs its parameters reach to the program's C definitions (a definition in the
    /// script wins). Attach points by address are left out.
    pub fn gather(program: &mut Program, pid: Option<i32>) -> UprobeArgs {
        let mut out = UprobeArgs::default();
        let mut structs = Vec::new();
        for ap in program.probes.iter().flat_map(|p| &p.attach_points) {
            let (Provider::Uprobe, [bin, sym]) = (ap.provider, ap.parts.as_slice()) else {
                continue;
            };
            let key = ap.canonical();
            if sym.starts_with("0x")
                || bin.contains(['*', '?', '['])
                || out.by_probe.contains_key(&key)
            {
                continue;
            }
            let (entries, found) = read(ap, bin, sym, pid);
            structs.extend(found);
            for (k, a) in entries {
                out.by_probe.entry(k).or_insert(a);
            }
        }
        for s in structs {
            if program.c_types.get(&s.name).is_none() {
                program.c_types.structs.push(s);
            }
        }
        out
    }

    /// Adds to the program's C definitions the structs and unions of `names` (`struct
    /// Foo`) it does not define that the DWARF of a uprobe's binary does, so that casts
    /// such as `(struct Foo *)arg0` read user memory at DWARF's offsets.
    pub fn add_named_structs(program: &mut Program, names: &[String], pid: Option<i32>) {
        let mut paths = Vec::new();
        for ap in program.probes.iter().flat_map(|p| &p.attach_points) {
            let (Provider::Uprobe | Provider::Uretprobe, [bin, _]) =
                (ap.provider, ap.parts.as_slice())
            else {
                continue;
            };
            if let Ok(p) = crate::uprobes::resolve_target(bin, pid)
                && !paths.contains(&p)
            {
                paths.push(p);
            }
        }
        for path in paths {
            let wanted: Vec<String> = names
                .iter()
                .filter(|n| program.c_types.get(n).is_none())
                .cloned()
                .collect();
            if wanted.is_empty() {
                break;
            }
            let Ok(found) = crate::dwarf::structs(&path, &wanted) else {
                continue;
            };
            for s in found {
                if program.c_types.get(&s.name).is_none() {
                    program.c_types.structs.push(s);
                }
            }
        }
    }

    /// What DWARF gave for `ap` (`None` for attach points it was not asked about).
    pub fn get(&self, ap: &AttachPoint) -> Option<ArgsOf> {
        self.by_probe.get(&ap.canonical()).cloned()
    }
}

/// The message for an attach point whose `args` DWARF cannot give.
fn no_args(why: impl std::fmt::Display) -> ArgsOf {
    Err(format!("uprobe `args` come from the binary's DWARF: {why}"))
}

/// The `args` of `ap` (`uprobe:bin:sym`) as written and of each function it matches,
/// by canonical attach point (as the runner names them), and the structs they reach.
fn read(
    ap: &AttachPoint,
    bin: &str,
    sym: &str,
    pid: Option<i32>,
) -> (Vec<(String, ArgsOf)>, Vec<kscope_lang::cdefs::CStruct>) {
    let key = ap.canonical();
    let path = match crate::uprobes::resolve_target(bin, pid) {
        Ok(p) => p,
        Err(e) => return (vec![(key, no_args(e))], Vec::new()),
    };
    let funcs: Vec<String> = if ap.has_wildcard() {
        match crate::uprobes::functions(&path, sym) {
            Ok(f) => f,
            Err(e) => return (vec![(key, no_args(e))], Vec::new()),
        }
    } else {
        vec![sym.to_string()]
    };
    // The runner names each match with the file's name for the target.
    let shown = crate::uprobes::target_name(bin, pid);
    let named = |f: &str| {
        let mut a = ap.clone();
        a.parts = vec![shown.clone(), f.to_string()];
        a.canonical()
    };
    let base = |f: &str| f.split_once('+').map_or(f, |(f, _)| f).to_string();
    let wanted: Vec<String> = funcs.iter().map(|f| base(f)).collect();
    let found = match crate::dwarf::functions(&path, &wanted) {
        Ok(f) => f,
        Err(e) => {
            let mut v = vec![(key, no_args(&e))];
            v.extend(funcs.iter().map(|f| (named(f), no_args(&e))));
            return (v, Vec::new());
        }
    };
    let mut structs = Vec::new();
    let mut each: Vec<(String, ArgsOf)> = Vec::new();
    for (f, w) in funcs.iter().zip(&wanted) {
        let a = match found.get(w) {
            Some(fun) => {
                structs.extend(fun.structs.iter().cloned());
                Ok(Arc::new(
                    fun.params
                        .iter()
                        .filter_map(|p| {
                            Some(ArgParam {
                                ty: p.ty.as_ref()?.to_sema(),
                                name: p.name.clone(),
                                index: p.index,
                            })
                        })
                        .collect(),
                ))
            }
            None => no_args(format!(
                "the DWARF of {} does not describe the function `{w}`",
                path.display()
            )),
        };
        each.push((named(f), a));
    }
    let common = match each.iter().find(|(_, a)| *a != each[0].1) {
        None => each[0].1.clone(),
        Some((other, _)) => {
            let msg = Err(format!(
                "`args` of a wildcard uprobe needs functions with the same parameters: \
                 `{}` and `{other}` differ",
                each[0].0
            ));
            for e in &mut each {
                e.1 = msg.clone();
            }
            msg
        }
    };
    each.insert(0, (key, common));
    (each, structs)
}

/// Whether a script's text uses the word `args` anywhere (a cheap test that spares
/// reading DWARF for scripts that never ask).
pub fn mentions_args(text: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices("args").any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(word)
            && !text[i + 4..].chars().next().is_some_and(word)
    })
}

/// The `struct NAME` and `union NAME` a script's text spells, each once.
pub fn named_types(text: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out: Vec<String> = Vec::new();
    for kw in ["struct", "union"] {
        for (i, _) in text.match_indices(kw) {
            if text[..i].chars().next_back().is_some_and(word) {
                continue;
            }
            let rest = &text[i + kw.len()..];
            let name_at = rest.trim_start();
            if name_at.len() == rest.len() {
                continue;
            }
            let end = name_at.find(|c: char| !word(c)).unwrap_or(name_at.len());
            let name = &name_at[..end];
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let full = format!("{kw} {name}");
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    out
}

/// A [`TypeProvider`] that answers `args` of uprobes from [`UprobeArgs`] and asks
/// `inner` everything else.
pub struct WithUprobeArgs<'a> {
    /// The kernel's types.
    pub inner: &'a dyn TypeProvider,
    /// The uprobes' parameters.
    pub args: &'a UprobeArgs,
    /// `-p PID`: where a library named without a path is looked up (`uaddr()`).
    pub pid: Option<i32>,
}

impl TypeProvider for WithUprobeArgs<'_> {
    fn probe(&self, ap: &AttachPoint) -> Lookup<()> {
        self.inner.probe(ap)
    }

    fn args(&self, ap: &AttachPoint) -> Lookup<Vec<Field>> {
        match self.args.get(ap) {
            Some(Ok(params)) => Lookup::Found(
                params
                    .iter()
                    .map(|p| Field {
                        name: p.name.clone(),
                        ty: p.ty.clone(),
                    })
                    .collect(),
            ),
            Some(Err(_)) => Lookup::Unknown,
            None => self.inner.args(ap),
        }
    }

    fn enum_value(&self, name: &str) -> Option<i64> {
        self.inner.enum_value(name)
    }

    fn enum_constant_type(&self, name: &str) -> Option<Type> {
        self.inner.enum_constant_type(name)
    }

    fn enum_type(&self, name: &str) -> Option<Type> {
        self.inner.enum_type(name)
    }

    fn kernel_enum(&self, id: u32) -> Option<kscope_lang::cdefs::CEnum> {
        self.inner.kernel_enum(id)
    }

    fn member(&self, name: &str, member: &str) -> Lookup<Type> {
        self.inner.member(name, member)
    }

    fn struct_size(&self, name: &str) -> Option<u64> {
        self.inner.struct_size(name)
    }

    fn struct_align(&self, name: &str) -> Option<u64> {
        self.inner.struct_align(name)
    }

    fn member_offset(&self, name: &str, member: &str) -> Lookup<(u64, Type)> {
        self.inner.member_offset(name, member)
    }

    fn members(&self, name: &str) -> Lookup<Vec<(String, Type)>> {
        self.inner.members(name)
    }

    fn return_type(&self, ap: &AttachPoint) -> Lookup<Type> {
        self.inner.return_type(ap)
    }

    fn kernel_function(&self, name: &str) -> Lookup<()> {
        self.inner.kernel_function(name)
    }

    fn kernel_variable(&self, name: &str) -> Lookup<()> {
        self.inner.kernel_variable(name)
    }

    fn struct_type(&self, name: &str) -> Lookup<()> {
        self.inner.struct_type(name)
    }

    fn user_symbol(&self, ap: &AttachPoint, name: &str) -> Lookup<u64> {
        let Some(target) = ap.parts.first() else {
            return Lookup::Unknown;
        };
        let Ok(path) = crate::uprobes::resolve_target(target, self.pid) else {
            return Lookup::Unknown;
        };
        match crate::uaddr::lookup(&path, name) {
            Ok(s) => Lookup::Found(s.size),
            Err(crate::uaddr::LookupError::Missing) => Lookup::Missing {
                candidates: Vec::new(),
            },
            Err(crate::uaddr::LookupError::Unreadable(_)) => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mentions_args;

    #[test]
    fn args_as_a_word() {
        assert!(mentions_args("uprobe:x:f { @ = args.n; }"));
        assert!(mentions_args("args"));
        assert!(!mentions_args("uprobe:x:f { @ = arg0 + $nargs + args_x; }"));
    }

    #[test]
    fn struct_names() {
        assert_eq!(
            super::named_types(
                "(struct Foo *)arg0; (struct  Foo*)x; union U u; mystruct X; struct 9"
            ),
            ["struct Foo", "union U"]
        );
    }
}
