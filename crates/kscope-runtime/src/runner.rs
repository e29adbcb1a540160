//! The run: compile, create maps, load, attach, run `BEGIN`, poll the ring buffer, and
//! at the end run `END`, print the maps and detach everything.

use std::any::Any;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use kscope_bpf::attach::{kprobe, perf_event, raw_tracepoint, test_run, tracepoint, uprobe};
use kscope_bpf::ringbuf::RingBuf;
use kscope_bpf::{Map, ProgType, Program};
use kscope_codegen::{CodegenError, Compiled, Function, MapId};
use kscope_lang::ast::{AttachPoint, Provider};
use kscope_lang::output::{Format, Output};
use kscope_lang::sema::{self, TypeProvider};
use kscope_lang::{Diagnostic, SourceFile, Span};
use kscope_sys::gate::GatedChild;

use crate::decode;
use crate::lower::{LowerError, Lowerer, ProbeContext};
use crate::plan::{Message, Plan};

/// What `kscope run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Positional parameters (`$1`...).
    pub params: Vec<String>,
    /// `-c CMD`: the command (program and arguments).
    pub command: Option<Vec<String>>,
    /// `-p PID`: uprobes only in this process; the run ends when it exits.
    pub pid: Option<i32>,
    /// `-f`.
    pub format: Format,
    /// `-q`: no `Attached N probes`.
    pub quiet: bool,
    /// `--dry-run`: print the AST and the BPF code, load nothing.
    pub dry_run: bool,
    /// `--unsafe`.
    pub allow_unsafe: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The script has errors (rendered rustc-style).
    #[error("{0}")]
    Script(String),
    /// Something else failed (the message says what, on what, and what to do).
    #[error("{0}")]
    Failed(String),
}

fn failed(what: impl std::fmt::Display) -> RunError {
    RunError::Failed(what.to_string())
}

/// One program to load: its attach point, type and IR.
struct Unit {
    attach: AttachPoint,
    prog_type: ProgType,
    func: Function,
}

fn prog_type(p: Provider) -> ProgType {
    match p {
        Provider::Tracepoint => ProgType::Tracepoint,
        Provider::Interval | Provider::Profile => ProgType::PerfEvent,
        Provider::Kprobe | Provider::Kretprobe | Provider::Uprobe | Provider::Uretprobe => {
            ProgType::Kprobe
        }
        _ => ProgType::RawTracepoint,
    }
}

fn diag_span(s: kscope_codegen::Span) -> Span {
    Span::new(s.start as usize, s.end as usize)
}

/// Tracepoint fields of `system:event` from tracefs.
fn tracepoint_fields(system: &str, event: &str) -> Vec<kscope_ftrace::format::Field> {
    let Ok(Some(tracefs)) = kscope_ftrace::Tracefs::discover() else {
        return Vec::new();
    };
    tracefs
        .read(&format!("events/{system}/{event}/format"))
        .ok()
        .and_then(|t| kscope_ftrace::format::EventFormat::parse_lenient(&t).ok())
        .map(|f| f.event_fields().cloned().collect())
        .unwrap_or_default()
}

/// Runs a script; returns the process exit code. Program output goes to `out`, the
/// `Attached` line and warnings to `err`.
pub fn run(
    src: &SourceFile,
    opts: &RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    let options = sema::Options {
        allow_unsafe: opts.allow_unsafe,
        params: opts.params.clone(),
    };
    let tracefs_types = kscope_lang::kernel::TracefsTypes::discover();
    let types: &dyn TypeProvider = match &tracefs_types {
        Some(t) => t,
        None => &sema::NoKernelTypes,
    };
    let checked =
        kscope_lang::compile(src, &options, types).map_err(|e| RunError::Script(e.rendered))?;
    for w in &checked.warnings {
        let _ = write!(err, "{}", w.render(src));
    }
    let mut plan = Plan::new(&checked).map_err(|u| {
        let span = checked
            .maps
            .get(&u.map)
            .map(|m| m.value_span)
            .unwrap_or_default();
        RunError::Script(
            Diagnostic::error(format!("@{}: {}", u.map, u.what), span, "this map").render(src),
        )
    })?;

    // The child is forked first (held at its gate) so that `cpid` is a constant.
    let mut child = match &opts.command {
        Some(cmd) if !opts.dry_run => {
            let (prog, args) = cmd
                .split_first()
                .ok_or_else(|| failed("-c needs a command"))?;
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            Some(
                GatedChild::spawn(prog.as_ref(), &args)
                    .map_err(|e| failed(format!("cannot start `{}`: {e}", cmd.join(" "))))?,
            )
        }
        _ => None,
    };
    let start_ns = kscope_sys::process::monotonic_ns();
    let ncpus = kscope_sys::process::possible_cpus() as u32;

    let mut units = Vec::new();
    let mut errors: Vec<LowerError> = Vec::new();
    for (i, probe) in checked.program.probes.iter().enumerate() {
        for ap in &probe.attach_points {
            if !crate::lower::supported(ap.provider) {
                errors.push(LowerError {
                    span: ap.span,
                    message: format!(
                        "{} probes are not built yet in `kscope run`",
                        ap.provider.name()
                    ),
                });
                continue;
            }
            let expanded = match expand(ap) {
                Ok(v) => v,
                Err(message) => {
                    errors.push(LowerError {
                        span: ap.span,
                        message,
                    });
                    continue;
                }
            };
            for ap in &expanded {
                let fields = match (ap.provider, ap.parts.as_slice()) {
                    (Provider::Tracepoint, [s, e]) => tracepoint_fields(s, e),
                    _ => Vec::new(),
                };
                let user_pointers = matches!(ap.provider, Provider::Uprobe | Provider::Uretprobe)
                    || (ap.provider == Provider::Tracepoint
                        && ap.parts.first().is_some_and(|s| s == "syscalls"));
                let ctx = ProbeContext {
                    attach: ap.clone(),
                    args: ProbeContext::arg_source(ap.provider),
                    fields,
                    user_pointers,
                    params: opts.params.clone(),
                    ncpus,
                    cpid: child.as_ref().map(|c| c.id()),
                    start_ns,
                };
                match Lowerer::lower(&checked, &mut plan, &ctx, i, probe) {
                    Ok(func) => units.push(Unit {
                        attach: ap.clone(),
                        prog_type: prog_type(ap.provider),
                        func,
                    }),
                    Err(e) => errors.extend(e),
                }
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.span.start, e.span.end));
        errors.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        let diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| Diagnostic::error(e.message.clone(), e.span, "here"))
            .collect();
        return Err(RunError::Script(kscope_lang::diag::render_all(&diags, src)));
    }

    let compile = |u: &Unit, fds: &dyn Fn(MapId) -> Option<i32>| -> Result<Compiled, RunError> {
        kscope_codegen::compile(&u.func, fds).map_err(|e| codegen_error(&e, src, &u.attach))
    };
    if opts.dry_run {
        let _ = write!(out, "{}", checked.typed_tree());
        for u in &units {
            let c = compile(u, &|m| Some(m.0 as i32 + 1))?;
            let _ = writeln!(out, "\n{} ({:?}):", u.attach.canonical(), u.prog_type);
            let _ = write!(out, "{}", c.disassemble());
        }
        return Ok(0);
    }

    // Maps, programs, attachments. Everything is an owned value whose Drop releases it.
    // KSCOPE_BPF_STATS=1 keeps the kernel's per-program run-time statistics on while
    // this run lasts (for scripts/bench-run-events; the kernel turns them off when the
    // last such fd closes).
    let _stats = match std::env::var_os("KSCOPE_BPF_STATS") {
        Some(_) => Some(kscope_bpf::enable_stats().map_err(failed)?),
        None => None,
    };
    let _session = kscope_session::Session::new();
    kscope_session::set_interrupt_mode(kscope_session::InterruptMode::Graceful);
    let mut maps = Vec::new();
    for spec in plan.specs() {
        maps.push(Map::create(&spec).map_err(failed)?);
    }
    let fds: Vec<i32> = maps.iter().map(|m| m.fd().as_raw_fd()).collect();
    let fd_of = |m: MapId| fds.get(m.0 as usize).copied();
    let mut begin = Vec::new();
    let mut end = Vec::new();
    let mut links: Vec<Box<dyn Any>> = Vec::new();
    let mut attached = 0u64;
    for (n, u) in units.iter().enumerate() {
        let c = compile(u, &fd_of)?;
        let name = format!("ks_{n}_{}", u.attach.provider.name());
        let prog = c
            .load(u.prog_type, &name)
            .map_err(|e| codegen_error(&e, src, &u.attach))?;
        match u.attach.provider {
            Provider::Begin => begin.push(prog),
            Provider::End => end.push(prog),
            _ => {
                links.push(attach(&prog, &u.attach, opts.pid).map_err(|e| {
                    let mut d = Diagnostic::error(
                        format!("cannot attach {}: {e}", u.attach.canonical()),
                        u.attach.span,
                        "this attach point",
                    );
                    if u.attach.provider == Provider::Rawtracepoint {
                        d = d.with_help(
                            "a raw tracepoint refuses a program that reads an argN beyond \
                             the tracepoint's own arguments",
                        );
                    }
                    RunError::Script(d.render(src))
                })?);
                links.push(Box::new(prog));
            }
        }
        attached += 1;
    }
    let mut ring = RingBuf::new(&maps[plan.ringbuf.0 as usize]).map_err(failed)?;
    let mut output = Output::new(opts.format, &mut *out, &mut *err);
    if !opts.quiet {
        let _ = output.attached_probes(attached);
        let _ = output.flush();
    }
    let stacks = decode::Stacks::new(plan.stacks.map(|m| &maps[m.0 as usize]));
    let mut state = State {
        plan: &plan,
        maps: &maps,
        stacks: &stacks,
        exit: false,
        io_error: None,
    };
    for p in &begin {
        test_run::run_once(p, &[]).map_err(failed)?;
    }
    ring.consume(|rec| state.record(rec, &mut output));
    if let Some(c) = child.as_mut() {
        c.open()
            .map_err(|e| failed(format!("cannot release the -c command: {e}")))?;
    }
    let mut child_done = false;
    while !state.exit && !kscope_session::stop_requested() {
        // Records do not wake the consumer (exit() does): poll every 10 ms.
        let _ = ring.poll(Duration::from_millis(10), |rec| {
            state.record(rec, &mut output)
        });
        if let Some(c) = child.as_mut()
            && !child_done
            && matches!(c.try_wait(), Ok(Some(_)))
        {
            child_done = true;
            break;
        }
        if let Some(pid) = opts.pid
            && !kscope_sys::process::pid_alive(pid as u32)
        {
            break;
        }
    }
    // Detach, then drain what was already written, then END.
    drop(links);
    if !state.exit {
        ring.consume(|rec| state.record(rec, &mut output));
    }
    state.exit = false;
    for p in &end {
        test_run::run_once(p, &[]).map_err(failed)?;
    }
    ring.consume(|rec| state.record(rec, &mut output));
    let mut datas = Vec::new();
    for m in &plan.maps {
        datas.push(decode::read_map(m, &maps[m.id.0 as usize], &stacks).map_err(failed)?);
    }
    let _ = output.end();
    output.maps_at_exit(&datas).map_err(failed)?;
    let lost = maps[plan.loss.0 as usize]
        .lookup_u64_sum(&0u32.to_ne_bytes())
        .ok()
        .flatten()
        .unwrap_or(0);
    if lost > 0 {
        let _ = output.total_lost_warning(lost);
    }
    let _ = output.flush();
    drop(output);
    if let Some(mut c) = child {
        if !child_done {
            let _ = c.signal(libc::SIGTERM);
        }
        let _ = c.wait();
    }
    match state.io_error {
        Some(e) => Err(failed(format!("cannot write the output: {e}"))),
        None => Ok(0),
    }
}

struct State<'a> {
    plan: &'a Plan,
    maps: &'a [Map],
    stacks: &'a decode::Stacks<'a>,
    exit: bool,
    io_error: Option<std::io::Error>,
}

impl State<'_> {
    fn record(&mut self, rec: &[u8], output: &mut Output<'_>) {
        if self.exit || rec.len() < 8 {
            return;
        }
        let id = u64::from_ne_bytes(rec[..8].try_into().unwrap_or_default()) as usize;
        let Some(msg) = self.plan.messages.get(id) else {
            return;
        };
        let r = match msg {
            Message::Printf { .. } => match decode::printf_text(msg, &rec[8..], self.stacks) {
                Some(t) => output.printf(&t),
                None => Ok(()),
            },
            Message::System { .. } => match decode::printf_text(msg, &rec[8..], self.stacks) {
                Some(cmd) => match std::process::Command::new("sh")
                    .args(["-c", &cmd])
                    .stderr(std::process::Stdio::inherit())
                    .output()
                {
                    Ok(o) => {
                        let text = String::from_utf8_lossy(&o.stdout);
                        output.syscall(text.strip_suffix('\n').unwrap_or(&text))
                    }
                    Err(e) => Err(std::io::Error::other(format!("system({cmd}): {e}"))),
                },
                None => Ok(()),
            },
            Message::PrintValue { layout } => {
                let v = decode::scalar(&rec[8..], *layout, self.stacks);
                output.value(&kscope_lang::output::Value::Primitive(v))
            }
            Message::Exit => {
                self.exit = true;
                Ok(())
            }
            Message::Time { format } => {
                output.time(&kscope_lang::output::time::strftime_now(format))
            }
            Message::Print { map } => {
                let m = &self.plan.maps[*map];
                match decode::read_map(m, &self.maps[m.id.0 as usize], self.stacks) {
                    Ok(d) => output
                        .print_map(&d, 0, 1)
                        .map_err(|e| std::io::Error::other(e.to_string())),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                }
            }
            Message::Clear { map, zero } => {
                let m = &self.plan.maps[*map];
                decode::clear_map(m, &self.maps[m.id.0 as usize], *zero)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            }
        };
        if let Err(e) = r
            && self.io_error.is_none()
        {
            self.io_error = Some(e);
        }
    }
}

fn codegen_error(e: &CodegenError, src: &SourceFile, ap: &AttachPoint) -> RunError {
    match e.span() {
        Some(s) => {
            let mut d = Diagnostic::error(
                match e {
                    CodegenError::Load {
                        rejection: Some(r), ..
                    } => format!(
                        "the kernel's BPF verifier rejected the program for {}: {}",
                        ap.canonical(),
                        r.message
                    ),
                    other => other.to_string(),
                },
                diag_span(s),
                "the code generated here",
            );
            if let CodegenError::Load { .. } = e {
                d = d.with_help("run with --dry-run to see the generated BPF code");
            }
            RunError::Script(d.render(src))
        }
        None => failed(format!("{}: {e}", ap.canonical())),
    }
}

/// The concrete attach points of `ap`: itself, or for a tracepoint or raw tracepoint
/// with wildcards every matching event in tracefs (sorted).
fn expand(ap: &AttachPoint) -> Result<Vec<AttachPoint>, String> {
    if !ap.has_wildcard() {
        return Ok(vec![ap.clone()]);
    }
    let events = || -> Result<Vec<kscope_ftrace::select::EventId>, String> {
        let tracefs = kscope_ftrace::Tracefs::discover()
            .ok()
            .flatten()
            .ok_or("tracefs is not mounted: run `kscope doctor`")?;
        kscope_ftrace::select::list_events(&tracefs.path("events"))
            .map_err(|e| format!("cannot list tracefs events: {e}"))
    };
    let with_parts = |parts: Vec<String>| {
        let mut a = ap.clone();
        a.parts = parts;
        a.raw = a.canonical();
        a
    };
    let mut out: Vec<AttachPoint> = match (ap.provider, ap.parts.as_slice()) {
        (Provider::Tracepoint, [sys, ev]) => events()?
            .into_iter()
            .filter(|e| {
                kscope_ftrace::select::glob(sys, &e.system)
                    && kscope_ftrace::select::glob(ev, &e.name)
            })
            .map(|e| with_parts(vec![e.system, e.name]))
            .collect(),
        (Provider::Rawtracepoint, [ev]) => {
            let mut names: Vec<String> = events()?
                .into_iter()
                .filter(|e| kscope_ftrace::select::glob(ev, &e.name))
                .map(|e| e.name)
                .collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| with_parts(vec![n])).collect()
        }
        _ => {
            return Err(format!(
                "wildcards in {} attach points are not built yet in `kscope run`",
                ap.provider.name()
            ));
        }
    };
    out.sort_by_key(|a| a.canonical());
    if out.is_empty() {
        return Err(format!("no probe matches {}", ap.canonical()));
    }
    Ok(out)
}

fn parse_ns(unit: &str, value: &str) -> Option<u64> {
    let (unit, value) = if unit.is_empty() {
        let i = value.find(|c: char| !c.is_ascii_digit())?;
        (&value[i..], &value[..i])
    } else {
        (unit, value)
    };
    let n: u64 = value.parse().ok()?;
    Some(match unit {
        "s" => n * 1_000_000_000,
        "ms" => n * 1_000_000,
        "us" => n * 1_000,
        "ns" => n,
        _ => return None,
    })
}

fn attach(prog: &Program, ap: &AttachPoint, pid: Option<i32>) -> Result<Box<dyn Any>, String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    Ok(match (ap.provider, ap.parts.as_slice()) {
        (Provider::Tracepoint, [s, ev]) => {
            Box::new(tracepoint::attach(prog, s, ev).map_err(|x| e(&x))?)
        }
        (Provider::Rawtracepoint, [.., ev]) => {
            Box::new(raw_tracepoint::attach(prog, ev).map_err(|x| e(&x))?)
        }
        (Provider::Uprobe | Provider::Uretprobe, [bin, sym]) => {
            let path = kscope_ftrace::probe::find_binary(bin).map_err(|x| e(&x))?;
            let image = kscope_ftrace::probe::elf::ElfImage::open(&path).map_err(|x| e(&x))?;
            let r = image.resolve(sym, 0).map_err(|x| e(&x))?;
            let opts = uprobe::UprobeOptions {
                retprobe: ap.provider == Provider::Uretprobe,
                pid,
            };
            Box::new(
                uprobe::attach(prog, Path::new(&path), r.file_offset, opts).map_err(|x| e(&x))?,
            )
        }
        (Provider::Kprobe | Provider::Kretprobe, [.., f]) => {
            let (func, off) = match f.split_once('+') {
                Some((f, o)) => (f, o.parse().unwrap_or(0)),
                None => (f.as_str(), 0),
            };
            Box::new(
                kprobe::attach(prog, func, off, ap.provider == Provider::Kretprobe)
                    .map_err(|x| e(&x))?,
            )
        }
        (Provider::Interval, [unit, value]) => {
            let ns = parse_ns(unit, value).ok_or("interval needs s, ms, us or ns and a count")?;
            Box::new(
                perf_event::attach(prog, &perf_event::SamplingSpec::interval_ns(ns))
                    .map_err(|x| e(&x))?,
            )
        }
        (Provider::Profile, [unit, value]) => {
            let spec = if unit == "hz" {
                perf_event::SamplingSpec::profile_hz(value.parse().map_err(|_| "bad rate")?)
            } else {
                perf_event::SamplingSpec::profile_period_ns(
                    parse_ns(unit, value).ok_or("profile needs hz, s, ms, us or ns")?,
                )
            };
            Box::new(perf_event::attach(prog, &spec).map_err(|x| e(&x))?)
        }
        _ => return Err(format!("{} is not built yet", ap.canonical())),
    })
}
