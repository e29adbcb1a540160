//! `kscope list`: every probe point this kernel offers, named the way `kscope run` (and
//! bpftrace) spells them: `tracepoint:SYSTEM:EVENT`, `kprobe:FUNCTION`, `fentry:vmlinux:FUNCTION`
//! (where the kernel loads fentry programs), `iter:TARGET`, `software:NAME:`,
//! `self:signal:SIGUSR1`, plus `tracer:NAME` and `option:NAME` for ftrace.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use kscope_ftrace::Tracefs;
use kscope_ftrace::format::EventFormat;
use kscope_ftrace::select::{self, glob};

use crate::cli::ListArgs;

/// perf's software events (`include/uapi/linux/perf_event.h`), as bpftrace names them.
const SOFTWARE_EVENTS: [&str; 11] = [
    "alignment-faults",
    "bpf-output",
    "context-switches",
    "cpu-clock",
    "cpu-migrations",
    "dummy",
    "emulation-faults",
    "major-faults",
    "minor-faults",
    "page-faults",
    "task-clock",
];

/// The probes on kscope itself rather than the kernel.
const SELF_PROBES: [&str; 1] = ["self:signal:SIGUSR1"];

/// Whether a probe name matches the user's glob: the whole name, the name without its
/// provider, or its last `:` part.
fn matches(pattern: Option<&str>, name: &str) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    let without_provider = name.split_once(':').map_or(name, |(_, rest)| rest);
    let last = name.rsplit(':').find(|p| !p.is_empty()).unwrap_or(name);
    glob(pattern, name) || glob(pattern, without_provider) || glob(pattern, last)
}

/// A field as bpftrace -lv prints it: `char prev_comm[16]`, `pid_t prev_pid`.
fn field_declaration(type_name: &str, name: &str) -> String {
    let is_loc = type_name.starts_with("__data_loc") || type_name.starts_with("__rel_loc");
    match type_name.find('[') {
        Some(at) if !is_loc => format!("{} {name}{}", &type_name[..at], &type_name[at..]),
        _ => format!("{type_name} {name}"),
    }
}

/// One `-v` line: `name` of BTF type `type_id` as a C declaration, indented.
fn write_declaration(
    out: &mut impl Write,
    btf: &kscope_btf::Btf,
    type_id: u32,
    name: &str,
) -> std::io::Result<()> {
    match btf.declaration(type_id, name) {
        Ok(d) => writeln!(out, "    {d}"),
        Err(e) => writeln!(out, "    ({name}: type not understood: {e})"),
    }
}

/// One probe of a BTF-backed listing: its full name, a shorter spelling a pattern may
/// match as well, and what `-v` needs to describe it.
struct BtfEntry<K> {
    name: String,
    short: Option<String>,
    key: K,
}

/// The loop the BTF-backed listings share: each entry whose name (or short spelling)
/// matches `pattern` is printed, then under `verbose` the declarations `declarations`
/// gives for it (BTF type id and name). Returns how many were shown.
fn list_btf_entries<K>(
    out: &mut impl Write,
    pattern: Option<&str>,
    verbose: bool,
    btf: &kscope_btf::Btf,
    entries: impl IntoIterator<Item = BtfEntry<K>>,
    declarations: impl Fn(&K) -> Vec<(u32, String)>,
) -> std::io::Result<usize> {
    let mut shown = 0;
    for e in entries {
        let short_matches = e.short.as_deref().is_some_and(|s| matches(pattern, s));
        if !matches(pattern, &e.name) && !short_matches {
            continue;
        }
        shown += 1;
        writeln!(out, "{}", e.name)?;
        if verbose {
            for (type_id, name) in declarations(&e.key) {
                write_declaration(out, btf, type_id, &name)?;
            }
        }
    }
    Ok(shown)
}

/// Raw tracepoints from vmlinux BTF (one `btf_trace_NAME` typedef each), named as bpftrace
/// names them, `rawtracepoint:vmlinux:NAME`; with `verbose`, their arguments as C
/// declarations. A kernel without BTF lists none. Returns how many were shown.
fn list_raw_tracepoints(
    out: &mut impl Write,
    pattern: Option<&str>,
    verbose: bool,
) -> anyhow::Result<usize> {
    let Ok(btf) = kscope_btf::Btf::open_sys_vmlinux() else {
        return Ok(0);
    };
    let mut names = btf.raw_tracepoint_names();
    names.sort_unstable();
    names.dedup();
    let entries = names.into_iter().map(|tp| BtfEntry {
        name: format!("rawtracepoint:vmlinux:{tp}"),
        short: Some(format!("rawtracepoint:{tp}")),
        key: tp,
    });
    let shown = list_btf_entries(out, pattern, verbose, &btf, entries, |tp| {
        let params = btf.raw_tracepoint_args(tp).ok().flatten();
        params
            .into_iter()
            .flatten()
            .map(|p| (p.type_id, p.name.to_string()))
            .collect()
    })?;
    Ok(shown)
}

/// fentry/fexit functions (`fentry:vmlinux:FUNC`, `fexit:vmlinux:FUNC`, as bpftrace
/// lists them), only when this kernel loads fentry programs; with `verbose`, the
/// parameters as C declarations and fexit's `retval`. Returns how many were shown.
fn list_functions(
    out: &mut impl Write,
    pattern: Option<&str>,
    verbose: bool,
) -> anyhow::Result<usize> {
    let Ok(btf) = kscope_btf::Btf::open_sys_vmlinux() else {
        return Ok(0);
    };
    if !kscope_runtime::fentry::kernel_supports(&btf) {
        return Ok(0);
    }
    let functions = kscope_runtime::fentry::traceable(&btf, "*");
    let entries = ["fentry", "fexit"].into_iter().flat_map(|provider| {
        functions.iter().map(move |f| BtfEntry {
            name: format!("{provider}:vmlinux:{f}"),
            short: Some(format!("{provider}:{f}")),
            key: (provider, f.as_str()),
        })
    });
    let shown = list_btf_entries(out, pattern, verbose, &btf, entries, |&(provider, f)| {
        let Ok(Some(proto)) = btf.func_args(f) else {
            return Vec::new();
        };
        let mut decls: Vec<(u32, String)> = proto
            .params
            .iter()
            .map(|p| (p.type_id, p.name.to_string()))
            .collect();
        if provider == "fexit" && proto.ret != 0 {
            decls.push((proto.ret, "retval".to_string()));
        }
        decls
    })?;
    Ok(shown)
}

/// BPF iterators (`iter:TARGET`, one per `bpf_iter_TARGET` function in vmlinux BTF); with
/// `verbose`, the members of their `ctx` (`struct bpf_iter__TARGET`) other than `meta`.
fn list_iterators(
    out: &mut impl Write,
    pattern: Option<&str>,
    verbose: bool,
) -> anyhow::Result<usize> {
    let Ok(btf) = kscope_btf::Btf::open_sys_vmlinux() else {
        return Ok(0);
    };
    let entries = kscope_lang::btf_types::iter_targets(&btf)
        .into_iter()
        .map(|target| BtfEntry {
            name: format!("iter:{target}"),
            short: None,
            key: target,
        });
    let shown = list_btf_entries(out, pattern, verbose, &btf, entries, |target| {
        let ctx = btf.find_by_name(kscope_btf::Kind::Struct, &format!("bpf_iter__{target}"));
        let Some(ctx) = ctx else {
            return Vec::new();
        };
        let mut decls = Vec::new();
        for m in btf.members(ctx).unwrap_or_default() {
            // The members sit in anonymous unions (`union { struct task_struct *task; }`).
            let inner = if m.name.is_empty() {
                btf.members(m.type_id).unwrap_or_default()
            } else {
                vec![m]
            };
            let named = inner.into_iter().filter(|m| m.name != "meta");
            decls.extend(named.map(|m| (m.type_id, m.name.to_string())));
        }
        decls
    })?;
    Ok(shown)
}

/// Under `-v`, a uprobe's parameters from its binary's DWARF, one `    TYPE NAME` line
/// each, as upstream lists them (nothing without DWARF, and for usdt probes).
fn uprobe_parameters(probe: &str, pid: Option<i32>) -> String {
    let Some(("uprobe" | "uretprobe", rest)) = probe.split_once(':') else {
        return String::new();
    };
    let Some((bin, func)) = rest.rsplit_once(':') else {
        return String::new();
    };
    let Ok(path) = kscope_runtime::uprobes::resolve_target(bin, pid) else {
        return String::new();
    };
    match kscope_runtime::dwarf::function(&path, func) {
        Ok(Some(f)) => f
            .params
            .iter()
            .map(|p| format!("    {} {}\n", p.c_type, p.name))
            .collect(),
        _ => String::new(),
    }
}

/// Runs `kscope list`.
pub fn run(args: &ListArgs) -> anyhow::Result<ExitCode> {
    run_for_pid(args, None)
}

/// `kscope list`, and `kscope run -l` (whose `-p PID` resolves library names in uprobe
/// patterns through that process's mappings).
pub fn run_for_pid(args: &ListArgs, pid: Option<i32>) -> anyhow::Result<ExitCode> {
    // `uprobe:BINARY:GLOB`: the functions of that file, as `bpftrace -l` lists them;
    // `usdt:BINARY:[PROVIDER:]GLOB`: the file's USDT probes.
    if let Some(listed) = args.glob.as_deref().and_then(|g| {
        kscope_runtime::uprobes::list(g, pid).or_else(|| kscope_runtime::usdt::list(g, pid))
    }) {
        let names = listed.map_err(anyhow::Error::msg)?;
        let mut out = std::io::stdout().lock();
        for n in &names {
            let mut text = format!("{n}\n");
            if args.verbose {
                text.push_str(&uprobe_parameters(n, pid));
            }
            match out.write_all(text.as_bytes()) {
                // `| head`: the reader is gone.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                r => r?,
            }
        }
        return Ok(if names.is_empty() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let (tracefs, _) = Tracefs::mount().context("finding tracefs")?;
    let pattern = args.glob.as_deref();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut shown = 0usize;

    let events = select::list_events(&tracefs.path("events"))
        .with_context(|| format!("listing {}", tracefs.path("events").display()))?;
    for event in &events {
        // ftrace's own record types (events/ftrace/*) describe the tracers' output and
        // cannot be enabled: they have no `enable` file.
        let rel = format!("events/{}/{}", event.system, event.name);
        if !tracefs.exists(&format!("{rel}/enable")) {
            continue;
        }
        let name = format!("tracepoint:{}:{}", event.system, event.name);
        if !matches(pattern, &name) {
            continue;
        }
        shown += 1;
        writeln!(out, "{name}")?;
        if args.verbose {
            match tracefs
                .read(&format!("{rel}/format"))
                .map(|t| EventFormat::parse_lenient(&t))
            {
                Ok(Ok(format)) => {
                    for field in format.event_fields() {
                        writeln!(
                            out,
                            "    {}",
                            field_declaration(&field.type_name, &field.name)
                        )?;
                    }
                }
                Ok(Err(e)) => writeln!(out, "    (format not understood: {e})")?,
                Err(e) => writeln!(out, "    (format unreadable: {e})")?,
            }
        }
    }

    shown += list_raw_tracepoints(&mut out, pattern, args.verbose)?;
    shown += list_functions(&mut out, pattern, args.verbose)?;
    shown += list_iterators(&mut out, pattern, args.verbose)?;

    // kprobe-able functions; lockdown may refuse the list (EPERM), which is not an error.
    if tracefs.exists("kprobe_events")
        && let Ok(functions) = tracefs.read("available_filter_functions")
    {
        for line in functions.lines() {
            let function = line.split_whitespace().next().unwrap_or("");
            let name = format!("kprobe:{function}");
            if !function.is_empty() && matches(pattern, &name) {
                shown += 1;
                writeln!(out, "{name}")?;
            }
        }
    }

    for event in SOFTWARE_EVENTS {
        let name = format!("software:{event}:");
        if matches(pattern, &name) {
            shown += 1;
            writeln!(out, "{name}")?;
        }
    }
    // kscope's own events (`self:signal:SIGUSR1` runs once per SIGUSR1), as upstream lists.
    for name in SELF_PROBES {
        if matches(pattern, name) {
            shown += 1;
            writeln!(out, "{name}")?;
        }
    }
    if let Ok(tracers) = tracefs.read("available_tracers") {
        for tracer in tracers.split_whitespace() {
            let name = format!("tracer:{tracer}");
            if matches(pattern, &name) {
                shown += 1;
                writeln!(out, "{name}")?;
            }
        }
    }
    if let Ok(options) = std::fs::read_dir(tracefs.path("options")) {
        let mut names: Vec<String> = options
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for option in names {
            let name = format!("option:{option}");
            if matches(pattern, &name) {
                shown += 1;
                writeln!(out, "{name}")?;
            }
        }
    }
    out.flush()?;
    drop(out);
    if shown == 0 && pattern.is_some() {
        eprintln!(
            "kscope list: no probe matches {:?}",
            pattern.unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names_names_without_provider_and_last_parts() {
        let n = "tracepoint:sched:sched_switch";
        assert!(matches(None, n));
        assert!(matches(Some("tracepoint:sched:*"), n));
        assert!(matches(Some("sched:sched_sw*"), n));
        assert!(matches(Some("*switch"), n));
        assert!(!matches(Some("kprobe:*"), n));
        assert!(matches(Some("cpu-clock"), "software:cpu-clock:"));
    }

    #[test]
    fn fields_are_declared_like_c() {
        assert_eq!(
            field_declaration("char[16]", "prev_comm"),
            "char prev_comm[16]"
        );
        assert_eq!(field_declaration("pid_t", "prev_pid"), "pid_t prev_pid");
        assert_eq!(
            field_declaration("__data_loc char[]", "name"),
            "__data_loc char[] name"
        );
    }
}
