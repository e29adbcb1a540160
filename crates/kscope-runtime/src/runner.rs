//! The run: compile, create maps, load, attach, run `BEGIN`, poll the ring buffer, and
//! at the end run `END`, print the maps and detach everything.

use std::any::Any;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

mod checks;

use kscope_bpf::attach::{
    breakpoint, kprobe, perf_event, raw_tracepoint, test_run, tracepoint, uprobe,
};
use kscope_bpf::ringbuf::RingBuf;
use kscope_bpf::{Map, ProgType, Program, UpdateFlags};
use kscope_codegen::{CodegenError, Compiled, Function, MapId};
use kscope_lang::ast::{AttachPoint, Provider};
use kscope_lang::lexer::parse_int;
use kscope_lang::output::{Format, Output};
use kscope_lang::sema::{self, MissingProbes, TypeProvider};
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
    /// Named options (`--name=value`, `--name`) for `getopt()`.
    pub named: Vec<String>,
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
    /// `--test`: run the `test:NAME` probes (and `BEGIN`/`END`), nothing else.
    pub test: bool,
    /// `--bench`: run the `bench:NAME` probes (and `BEGIN`/`END`), nothing else.
    pub bench: bool,
}

/// Why a run in this mode would run nothing, when it would: a script of `test:`/`bench:`
/// probes needs `--test`/`--bench`, and those modes need such a probe.
fn nothing_to_run(checked: &sema::Checked, units: &[Unit], opts: &RunOptions) -> Option<String> {
    let has = |p: Provider| {
        checked
            .program
            .probes
            .iter()
            .flat_map(|pr| &pr.attach_points)
            .any(|a| a.provider == p)
    };
    let loaded = |p: Provider| units.iter().any(|u| u.attach.provider == p);
    if opts.test && !loaded(Provider::Test) {
        return Some("--test: the script has no `test:NAME` probe to run".into());
    }
    if opts.bench && !opts.test && !loaded(Provider::Bench) {
        return Some("--bench: the script has no `bench:NAME` probe to run".into());
    }
    if units.is_empty() && has(Provider::Test) && !opts.test {
        return Some("no probes to run: use --test to run the test probes".into());
    }
    if units.is_empty() && has(Provider::Bench) && !opts.bench {
        return Some("no probes to run: use --bench to run the benchmark probes".into());
    }
    None
}

/// Whether a probe of `provider` is loaded in this mode: `test`/`bench` probes only
/// under `--test`/`--bench`, which load no probe that attaches.
fn in_mode(provider: Provider, opts: &RunOptions) -> bool {
    match provider {
        Provider::Test => opts.test,
        Provider::Bench => opts.bench && !opts.test,
        Provider::Begin | Provider::End => true,
        _ => !opts.test && !opts.bench,
    }
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
    /// The usdt site a usdt program attaches to.
    site: Option<std::sync::Arc<crate::usdt::Site>>,
    prog_type: ProgType,
    func: Function,
    /// Subprograms (`for` loop bodies over maps, called back by the kernel).
    subs: Vec<Function>,
}

fn prog_type(p: Provider) -> ProgType {
    match p {
        Provider::Tracepoint => ProgType::Tracepoint,
        Provider::Interval | Provider::Profile | Provider::Software | Provider::Watchpoint => {
            ProgType::PerfEvent
        }
        Provider::Kprobe
        | Provider::Kretprobe
        | Provider::Uprobe
        | Provider::Uretprobe
        | Provider::Usdt => ProgType::Kprobe,
        Provider::Fentry | Provider::Fexit | Provider::Iter => ProgType::Tracing,
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
        named: opts.named.clone(),
    };
    // Kernel BTF over tracefs: struct types and raw tracepoint `args` from BTF,
    // tracepoint `args` from their format files; tracefs alone without BTF.
    let btf_types = kscope_lang::btf_types::BtfTypes::discover().map(std::sync::Arc::new);
    let tracefs_types = match btf_types {
        Some(_) => None,
        None => kscope_lang::kernel::TracefsTypes::discover(),
    };
    let types: &dyn TypeProvider = match (&btf_types, &tracefs_types) {
        (Some(b), _) => b.as_ref(),
        (None, Some(t)) => t,
        (None, None) => &sema::NoKernelTypes,
    };
    let script = |e: kscope_lang::CompileError| RunError::Script(e.rendered);
    let mut program = kscope_lang::parse(src).map_err(script)?;
    substitute_positional(&mut program, &opts.params)
        .map_err(|d| RunError::Script(d.render(src)))?;
    // Uprobe `args` and casts to the binary's structs read DWARF, when the script asks.
    let uprobe_args = if crate::uprobe_args::mentions_args(src.text()) {
        crate::uprobe_args::UprobeArgs::gather(&mut program, opts.pid)
    } else {
        crate::uprobe_args::UprobeArgs::default()
    };
    let named = crate::uprobe_args::named_types(src.text());
    if !named.is_empty() {
        crate::uprobe_args::UprobeArgs::add_named_structs(&mut program, &named, opts.pid);
    }
    let types = crate::uprobe_args::WithUprobeArgs {
        inner: types,
        args: &uprobe_args,
        pid: opts.pid,
    };
    let checked = kscope_lang::check_parsed(src, program, &options, &types).map_err(script)?;
    for w in &checked.warnings {
        let _ = write!(err, "{}", w.render(src));
    }
    for n in &opts.named {
        let name = n[2..].split('=').next().unwrap_or_default();
        if !checked.option_names.iter().any(|o| o == name) {
            let known = if checked.option_names.is_empty() {
                "it reads none (getopt())".to_string()
            } else {
                let list: Vec<String> = checked
                    .option_names
                    .iter()
                    .map(|o| format!("--{o}"))
                    .collect();
                format!("it reads {}", list.join(", "))
            };
            return Err(failed(format!(
                "the script has no option `--{name}`: {known}"
            )));
        }
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
    let tai_offset_ns = kscope_sys::process::tai_minus_boottime_ns().unwrap_or(0);
    let ncpus = kscope_sys::process::possible_cpus() as u32;

    let missing = checked.missing_probes();
    // Under `missing_probes = warn`, says why an attach point is left out.
    let skip_warning = |err: &mut dyn Write, span: Span, message: String| {
        if missing == MissingProbes::Warn {
            let d = Diagnostic::warning(
                format!("{message}: skipped (missing_probes = warn)"),
                span,
                "this attach point",
            );
            let _ = write!(err, "{}", d.render(src));
        }
    };
    let mut units = Vec::new();
    let mut errors: Vec<LowerError> = Vec::new();
    for (i, probe) in checked.program.probes.iter().enumerate() {
        for ap in &probe.attach_points {
            if checked.skipped_attach_points.contains(&ap.span) || !in_mode(ap.provider, opts) {
                continue;
            }
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
            let expanded = match expand_sites(ap, opts.pid) {
                Ok(v) => v,
                Err(message) if missing != MissingProbes::Error => {
                    skip_warning(&mut *err, ap.span, message);
                    continue;
                }
                Err(message) => {
                    errors.push(LowerError {
                        span: ap.span,
                        message,
                    });
                    continue;
                }
            };
            let written_args = uprobe_args.get(ap);
            for (ap, site) in &expanded {
                let fields = match (ap.provider, ap.parts.as_slice()) {
                    (Provider::Tracepoint, [s, e]) => tracepoint_fields(s, e),
                    _ => Vec::new(),
                };
                let user_pointers = matches!(
                    ap.provider,
                    Provider::Uprobe | Provider::Uretprobe | Provider::Usdt
                ) || (ap.provider == Provider::Tracepoint
                    && ap.parts.first().is_some_and(|s| s == "syscalls"));
                let ctx = ProbeContext {
                    attach: ap.clone(),
                    args: ProbeContext::arg_source(ap.provider),
                    fields,
                    user_pointers,
                    params: opts.params.clone(),
                    ncpus,
                    cpid: child.as_ref().map(|c| c.id()),
                    pid: opts.pid,
                    start_ns,
                    tai_offset_ns,
                    btf: btf_types.clone(),
                    usdt: site.clone(),
                    uprobe_args: uprobe_args.get(ap).or_else(|| written_args.clone()),
                };
                match Lowerer::lower_program(&checked, &mut plan, &ctx, i, probe) {
                    Ok((func, subs)) => units.push(Unit {
                        attach: ap.clone(),
                        site: site.clone(),
                        prog_type: prog_type(ap.provider),
                        func,
                        subs,
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
    if let Some(why) = nothing_to_run(&checked, &units, opts) {
        return Err(failed(why));
    }

    let compile = |u: &Unit, fds: &dyn Fn(MapId) -> Option<i32>| -> Result<Compiled, RunError> {
        let mut funcs = vec![u.func.clone()];
        funcs.extend(u.subs.iter().cloned());
        kscope_codegen::compile_program(&funcs, fds, &kscope_codegen::Options::default())
            .map_err(|e| codegen_error(&e, src, &u.attach))
    };
    if opts.dry_run {
        let _ = write!(out, "{}", checked.typed_tree());
        for u in &units {
            let c = compile(u, &|m| Some(m.0 as i32 + 1))?;
            let _ = writeln!(out, "\n{} ({:?}):", u.attach.canonical(), u.prog_type);
            let mut text = c.disassemble();
            for (id, name) in &plan.kfuncs {
                text = text.replace(
                    &format!("call kernel-function#{id}\n"),
                    &format!("call {name}#{id}\n"),
                );
            }
            let _ = write!(out, "{text}");
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
    for &(table, id) in &plan.str_tables {
        let map = &maps[id.0 as usize];
        for i in 0..table.entries() {
            map.update(&i.to_ne_bytes(), &table.entry(i), UpdateFlags::Any)
                .map_err(failed)?;
        }
    }
    let fds: Vec<i32> = maps.iter().map(|m| m.fd().as_raw_fd()).collect();
    let fd_of = |m: MapId| fds.get(m.0 as usize).copied();
    let mut begin = Vec::new();
    let mut iters = Vec::new();
    let mut end = Vec::new();
    let mut on_usr1 = Vec::new();
    let mut checks = Vec::new();
    let mut links: Vec<Box<dyn Any + Send>> = Vec::new();
    let mut attached = 0u64;
    for (n, u) in units.iter().enumerate() {
        let c = compile(u, &fd_of)?;
        let name = format!("ks_{n}_{}", u.attach.provider.name());
        let mut spec = c.spec(u.prog_type, &name);
        if u.attach.provider == Provider::Iter {
            crate::fentry::set_iter_target(&mut spec, &u.attach, btf_types.as_deref()).map_err(
                |m| {
                    RunError::Script(
                        Diagnostic::error(m, u.attach.span, "this attach point").render(src),
                    )
                },
            )?;
        } else if u.prog_type == ProgType::Tracing {
            crate::fentry::set_target(&mut spec, &u.attach, btf_types.as_deref()).map_err(|m| {
                RunError::Script(
                    Diagnostic::error(m, u.attach.span, "this attach point").render(src),
                )
            })?;
        }
        let prog = c
            .load_spec(&spec)
            .map_err(|e| codegen_error(&e, src, &u.attach))?;
        match u.attach.provider {
            Provider::Begin => begin.push(prog),
            Provider::Iter => iters.push((prog, u.attach.canonical())),
            Provider::End => end.push(prog),
            Provider::SelfSignal => on_usr1.push(prog),
            Provider::Test | Provider::Bench => checks.push(checks::Check {
                name: u.attach.parts.first().cloned().unwrap_or_default(),
                prog,
            }),
            _ => {
                let link = match u.site.as_deref() {
                    Some(site) => crate::usdt::attach(&prog, site, opts.pid)
                        .map(|l| Box::new(l) as Box<dyn Any + Send>),
                    // A watchpoint watches the -c command when there is no -p.
                    None if u.attach.provider == Provider::Watchpoint => {
                        let pid = opts.pid.or(child.as_ref().map(|c| c.id() as i32));
                        attach(&prog, &u.attach, pid)
                    }
                    None => attach(&prog, &u.attach, opts.pid),
                };
                let link = match link {
                    Err(e) if missing != MissingProbes::Error => {
                        let what = format!("cannot attach {}: {e}", u.attach.canonical());
                        skip_warning(&mut *err, u.attach.span, what);
                        continue;
                    }
                    r => r,
                };
                links.push(link.map_err(|e| {
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
    // SIGUSR1 runs the `self:signal:SIGUSR1` probes (and never ends the run), as
    // upstream's runtime; caught before `Attached` tells the user they may send it.
    let usr1 = kscope_session::Usr1::watch().map_err(|e| failed(format!("SIGUSR1: {e}")))?;
    let mut ring = RingBuf::new(&maps[plan.ringbuf.0 as usize]).map_err(failed)?;
    let mut output = Output::new(opts.format, &mut *out, &mut *err);
    let check_mode = opts.test || opts.bench;
    if !opts.quiet && !check_mode {
        let _ = output.attached_probes(attached);
        let _ = output.flush();
    }
    let stacks = decode::Stacks::for_plan(&plan, &maps);
    if plan.seen_pids.is_some() {
        remember_targets(&stacks, &units, opts.pid);
    }
    let mut state = State {
        plan: &plan,
        maps: &maps,
        stacks: &stacks,
        exit: false,
        io_error: None,
        code: 0,
        errors: 0,
        max_cat_bytes: match checked.program.config_value("max_cat_bytes") {
            Some(kscope_lang::ast::ConfigValue::Int(n)) => *n,
            _ => 10240,
        },
        src,
    };
    for p in &begin {
        test_run::run_once(p, &[]).map_err(failed)?;
    }
    ring.consume(|rec| state.record(rec, &mut output));
    // An iterator runs over every object once, then the run ends (as upstream's).
    for (p, target) in &iters {
        if state.exit {
            break;
        }
        let seq = kscope_bpf::attach::iter::run(p, target).map_err(failed)?;
        if !seq.is_empty() {
            let _ = output.printf(&String::from_utf8_lossy(&seq));
        }
        ring.consume(|rec| state.record(rec, &mut output));
        let _ = output.flush();
    }
    if !iters.is_empty() {
        state.exit = true;
    }
    if let Some(c) = child.as_mut() {
        c.open()
            .map_err(|e| failed(format!("cannot release the -c command: {e}")))?;
    }
    let mut checks_passed = true;
    if check_mode && !state.exit {
        // The kernel counts the programs' run time while this fd is open.
        let _stats = kscope_bpf::enable_stats().map_err(failed)?;
        checks_passed = if opts.test {
            checks::run_tests(&checks, &mut ring, &mut state, &mut output)?
        } else {
            checks::run_benches(&checks, &mut ring, &mut state, &mut output)?
        };
        let _ = output.flush();
    }
    let mut child_done = false;
    while !check_mode && !state.exit && !kscope_session::stop_requested() {
        // Records do not wake the consumer (exit() does): poll every 10 ms.
        let read = ring.poll(Duration::from_millis(10), |rec| {
            state.record(rec, &mut output)
        });
        // Output is block-buffered: a batch reaches the reader when the ring is drained.
        if matches!(read, Ok(n) if n > 0) {
            let _ = output.flush();
        }
        if usr1.take() {
            for p in &on_usr1 {
                test_run::run_once(p, &[]).map_err(failed)?;
            }
            ring.consume(|rec| state.record(rec, &mut output));
            let _ = output.flush();
        }
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
    // Stop the probes, then drain what was already written, then END.
    stop_probes(&maps[plan.stop.0 as usize], links);
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
    if checked.print_maps_on_exit() && !check_mode {
        output.maps_at_exit(&datas).map_err(failed)?;
    }
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
        None if !checks_passed => Ok(1),
        None => Ok(state.code),
    }
}

struct State<'a> {
    plan: &'a Plan,
    maps: &'a [Map],
    stacks: &'a decode::Stacks<'a>,
    exit: bool,
    io_error: Option<std::io::Error>,
    /// The code given to `exit(code)` (the run's exit status).
    code: i32,
    /// `errorf()` reports printed (a test that reports one fails).
    errors: u32,
    /// How much of a file `cat()` prints (config `max_cat_bytes`, upstream's 10240).
    max_cat_bytes: u64,
    /// The script (`errorf()`/`warnf()` name their location in it).
    src: &'a SourceFile,
}

/// The first `limit` bytes of the file `name`.
fn read_prefix(name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(name)?
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

impl State<'_> {
    /// Forgets the previous test's `exit()`, exit code and error reports.
    fn reset_outcome(&mut self) {
        self.exit = false;
        self.code = 0;
        self.errors = 0;
    }

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
            Message::Report { error, span, .. } => {
                self.errors += u32::from(*error);
                match decode::printf_text(msg, &rec[8..], self.stacks) {
                    Some(text) => {
                        let (line, col) = self.src.line_col(span.start as usize);
                        let (_, end_col) = self.src.line_col(span.end as usize);
                        // Upstream names an inline or piped program `stdin`.
                        let file = match self.src.name() {
                            "-e" | "-" | "stdin" => "stdin",
                            name => name,
                        };
                        let at = kscope_lang::output::SourceLocation {
                            file,
                            line,
                            col,
                            end_col,
                        };
                        output.report(*error, &text, &at)
                    }
                    None => Ok(()),
                }
            }
            Message::Cat { .. } => match decode::printf_text(msg, &rec[8..], self.stacks) {
                Some(name) => match read_prefix(&name, self.max_cat_bytes) {
                    Ok(text) => output.cat(&String::from_utf8_lossy(&text)),
                    Err(e) => {
                        // Upstream's words: "failed to open file 'NAME': <strerror>".
                        let why = e.to_string();
                        let why = why.split(" (os error").next().unwrap_or(&why);
                        output.runtime_error(&format!("failed to open file '{name}': {why}"))
                    }
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
            Message::ExitCode => {
                self.exit = true;
                let raw = rec.get(8..16).and_then(|b| b.try_into().ok());
                self.code = raw.map_or(0, |b: [u8; 8]| i64::from_ne_bytes(b) as i32);
                Ok(())
            }
            Message::PrintTuple { layout } => {
                let v = decode::layout_value(&rec[8..], layout, self.stacks);
                output.value(&kscope_lang::output::Value::Primitive(v))
            }
            Message::Join { sep } => output.join(&decode::join_text(&rec[8..], sep)),
            Message::NewPid => {
                let pid = rec.get(8..16).map_or(0, |b| {
                    u64::from_ne_bytes(b.try_into().unwrap_or_default()) as u32
                });
                self.stacks.users().remember(pid);
                Ok(())
            }
            Message::Time { format } => {
                output.time(&kscope_lang::output::time::strftime_now(format))
            }
            Message::Print { map, top, div } => {
                let m = &self.plan.maps[*map];
                match decode::read_map(m, &self.maps[m.id.0 as usize], self.stacks) {
                    Ok(d) => output
                        .print_map(&d, *top, *div)
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

/// Stops every probe and releases the attachments. Setting the stop flag (which every
/// probe reads first) takes effect at once, so the order of the detaches no longer
/// matters; the attachments then go to a background process ([`kscope_sys::reaper`])
/// whose exit pays the kernel's RCU grace periods, so `exit()` returns the prompt in a
/// few milliseconds instead of 20–70 ms per probe. `KSCOPE_DETACH=sync`, or a failure on
/// the way, detaches here and waits.
fn stop_probes(stop: &Map, links: Vec<Box<dyn Any + Send>>) {
    let stopped = stop
        .update(&0u32.to_ne_bytes(), &1u32.to_ne_bytes(), UpdateFlags::Any)
        .is_ok();
    let sync = std::env::var_os("KSCOPE_DETACH").is_some_and(|v| v == "sync");
    let handover = if stopped && !sync {
        kscope_sys::reaper::release_in_background().ok()
    } else {
        None
    };
    match handover {
        Some(handover) => {
            // Each close only drops this process's reference; perf events are disabled
            // on the way (see PerfLink's Drop). Then the background process drops the
            // last ones.
            drop(links);
            handover.release();
        }
        None => detach_all(links),
    }
}

/// Closes attachments and programs from several threads at once. Each close of a perf
/// event or link can wait for an RCU grace period in the kernel (tracepoint_synchronize_
/// unregister: 20–60 ms here); concurrent waiters share grace periods, so N probes detach
/// in about the time of one instead of N.
fn detach_all(items: Vec<Box<dyn Any + Send>>) {
    const THREADS: usize = 16;
    if items.len() <= 2 {
        drop(items);
        return;
    }
    let mut shares: Vec<Vec<Box<dyn Any + Send>>> = (0..THREADS).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        shares[i % THREADS].push(item);
    }
    std::thread::scope(|s| {
        for share in shares.into_iter().filter(|s| !s.is_empty()) {
            // When a thread cannot start, its closure (and the share) is dropped right here.
            let _ = std::thread::Builder::new().spawn_scoped(s, move || drop(share));
        }
    });
}

/// [`expand`], and for usdt probes one attach point per site of the probe
/// ([`crate::usdt::expand`]) with the site.
type Expanded = Vec<(AttachPoint, Option<std::sync::Arc<crate::usdt::Site>>)>;

fn expand_sites(ap: &AttachPoint, pid: Option<i32>) -> Result<Expanded, String> {
    if ap.provider == Provider::Usdt {
        let sites = crate::usdt::expand(ap, pid)?;
        return Ok(sites.into_iter().map(|(a, s)| (a, Some(s))).collect());
    }
    Ok(expand(ap, pid)?.into_iter().map(|a| (a, None)).collect())
}

/// The concrete attach points of `ap`: itself, or with wildcards every match (sorted):
/// tracepoint events in tracefs, raw tracepoints in vmlinux BTF, uprobe functions in the ELF file's
/// symbols, kprobe functions in `available_filter_functions` (less the kprobe blacklist).
fn expand(ap: &AttachPoint, pid: Option<i32>) -> Result<Vec<AttachPoint>, String> {
    let mut ap = ap.clone();
    if let (Provider::Uprobe | Provider::Uretprobe, [bin, _]) =
        (ap.provider, ap.parts.as_mut_slice())
    {
        *bin = crate::uprobes::target_name(bin, pid);
        ap.raw = ap.canonical();
    }
    // Raw tracepoints and fentry/fexit are named with their BTF's module, as upstream
    // names them (`rawtracepoint:vmlinux:sched_switch`, `fentry:vmlinux:vfs_read`).
    if matches!(
        ap.provider,
        Provider::Rawtracepoint | Provider::Fentry | Provider::Fexit
    ) && ap.parts.len() == 1
    {
        ap.parts.insert(0, "vmlinux".to_string());
        ap.raw = ap.canonical();
    }
    let ap = &ap;
    if matches!(ap.provider, Provider::Fentry | Provider::Fexit) {
        return crate::fentry::expand(ap);
    }
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
        (Provider::Rawtracepoint, [module, ev]) => {
            // A module glob (`vmlinu*`, `*`) matching the kernel alone is the kernel.
            let modules = loaded_btf_modules()
                .into_iter()
                .filter(|m| kscope_ftrace::select::glob(module, m))
                .collect::<Vec<_>>();
            if let Some(m) = modules.first() {
                return Err(format!(
                    "wildcards over module raw tracepoints are not built yet in `kscope run`: \
                     `{module}` matches the module {m}; name the kernel's (vmlinux) or one event"
                ));
            }
            if !kscope_ftrace::select::glob(module, "vmlinux") {
                return Err(format!(
                    "no module `{module}` with raw tracepoints: only vmlinux's are built yet"
                ));
            }
            let module = &"vmlinux".to_string();
            // Raw tracepoints are the kernel's `btf_trace_NAME` typedefs: tracefs also lists
            // events that are not raw tracepoints (each syscalls:sys_enter_* rides on
            // raw_syscalls' sys_enter).
            let btf = kscope_btf::Btf::open_sys_vmlinux()
                .map_err(|e| format!("wildcards in raw tracepoints need the kernel's BTF: {e}"))?;
            let mut names: Vec<String> = btf
                .raw_tracepoint_names()
                .into_iter()
                .filter(|n| kscope_ftrace::select::glob(ev, n))
                .map(str::to_string)
                .collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .map(|n| with_parts(vec![module.clone(), n]))
                .collect()
        }
        (Provider::Uprobe | Provider::Uretprobe, [bin, func]) => {
            crate::uprobes::each_file(bin, |file| {
                let path = crate::uprobes::resolve_target(file, pid)?;
                Ok(crate::uprobes::functions(&path, func)?
                    .into_iter()
                    .map(|f| with_parts(vec![file.to_string(), f]))
                    .collect())
            })?
        }
        (Provider::Kprobe | Provider::Kretprobe, [rest @ .., func]) => {
            let module = rest.first().map(String::as_str);
            kernel_functions(func, module)?
                .into_iter()
                .map(|f| {
                    let mut parts: Vec<String> = rest.to_vec();
                    parts.push(f);
                    with_parts(parts)
                })
                .collect()
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

/// Caches the memory maps of the processes that user stacks and symbols may come from
/// and that run already (`-p PID`, and those running a uprobe's binary), as upstream
/// does at attach time: their addresses then resolve even if they exit before the end.
fn remember_targets(stacks: &decode::Stacks<'_>, units: &[Unit], pid: Option<i32>) {
    if let Some(p) = pid {
        stacks.users().remember(p as u32);
    }
    let mut targets: Vec<std::path::PathBuf> = units
        .iter()
        .filter(|u| {
            matches!(
                u.attach.provider,
                Provider::Uprobe | Provider::Uretprobe | Provider::Usdt
            )
        })
        .filter_map(|u| crate::uprobes::resolve_target(u.attach.parts.first()?, pid).ok())
        .collect();
    targets.sort();
    targets.dedup();
    if targets.is_empty() || pid.is_some() {
        return;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.filter_map(|e| e.ok()) {
        let Some(n) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if std::fs::read_link(p.path().join("exe")).is_ok_and(|exe| targets.contains(&exe)) {
            stacks.users().remember(n);
        }
    }
}

/// The kernel modules that have BTF loaded (`/sys/kernel/btf/NAME` other than vmlinux).
fn loaded_btf_modules() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/btf") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "vmlinux")
        .collect()
}

/// The kernel functions a kprobe may take that match `pattern` (and `module`, a glob on
/// the `[module]` column), from tracefs `available_filter_functions`, without the ones
/// in the kprobe blacklist; sorted, without repeats. A kernel without the function
/// tracer has no `available_filter_functions` (EPERM or ENOENT): the text symbols of
/// `/proc/kallsyms` stand in, which is what kprobes resolve names against.
fn kernel_functions(pattern: &str, module: Option<&str>) -> Result<Vec<String>, String> {
    let tracefs = kscope_ftrace::Tracefs::discover()
        .ok()
        .flatten()
        .ok_or("tracefs is not mounted: run `kscope doctor`")?;
    let list = match tracefs.read("available_filter_functions") {
        Ok(list) => list,
        Err(e) => kallsyms_functions().map_err(|k| {
            format!(
                "cannot expand a kprobe wildcard: available_filter_functions: {e}; \
                 /proc/kallsyms: {k} (see `kscope doctor`)"
            )
        })?,
    };
    let blacklist: std::collections::HashSet<String> =
        std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
    let mut names: Vec<String> = list
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let m = w.next().map(|m| m.trim_matches(['[', ']']));
            let module_ok = match module {
                None => true,
                Some(p) => m.is_some_and(|m| kscope_ftrace::select::glob(p, m)),
            };
            (module_ok
                && !name.starts_with("__ftrace_invalid_address__")
                && !name.contains(".part.")
                && kscope_ftrace::select::glob(pattern, name)
                && !blacklist.contains(name))
            .then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// `/proc/kallsyms`' text symbols as `available_filter_functions` lines: `name [module]`
/// (compiler-split pieces such as `.cold` are left out: they are not function entries).
fn kallsyms_functions() -> Result<String, std::io::Error> {
    let text = std::fs::read_to_string("/proc/kallsyms")?;
    let mut out = String::with_capacity(text.len() / 2);
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (Some(_addr), Some(kind), Some(name)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if !matches!(kind, "t" | "T") || name.contains(".cold") || name.starts_with("__pfx_") {
            continue;
        }
        out.push_str(name);
        if let Some(m) = w.next() {
            out.push(' ');
            out.push_str(m);
        }
        out.push('\n');
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

fn attach(
    prog: &Program,
    ap: &AttachPoint,
    pid: Option<i32>,
) -> Result<Box<dyn Any + Send>, String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    Ok(match (ap.provider, ap.parts.as_slice()) {
        (Provider::Tracepoint, [s, ev]) => {
            Box::new(tracepoint::attach(prog, s, ev).map_err(|x| e(&x))?)
        }
        (Provider::Rawtracepoint, [.., ev]) => {
            Box::new(raw_tracepoint::attach(prog, ev).map_err(|x| e(&x))?)
        }
        (Provider::Fentry | Provider::Fexit, _) => {
            Box::new(kscope_bpf::attach::tracing::attach(prog, &ap.canonical()).map_err(|x| e(&x))?)
        }
        (Provider::Uprobe | Provider::Uretprobe, [bin, sym]) => {
            let path = crate::uprobes::resolve_target(bin, pid)?;
            let file_offset = crate::uprobes::file_offset(&path, sym)?;
            let opts = uprobe::UprobeOptions {
                retprobe: ap.provider == Provider::Uretprobe,
                pid,
            };
            Box::new(uprobe::attach(prog, Path::new(&path), file_offset, opts).map_err(|x| e(&x))?)
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
        (Provider::Software, [event, rest @ ..]) => {
            let spec = software_spec(event, rest.first().map(String::as_str))?;
            Box::new(perf_event::attach(prog, &spec).map_err(|x| e(&x))?)
        }
        (Provider::Watchpoint, [addr, len, mode]) => {
            let bp = breakpoint::Breakpoint {
                addr: parse_int(addr).map_err(|e| format!("watchpoint address: {e}"))?,
                len: parse_int(len).map_err(|e| format!("watchpoint length: {e}"))?,
                kind: kscope_sys::perf::BreakpointKind {
                    read: mode.contains('r'),
                    write: mode.contains('w'),
                    execute: mode.contains('x'),
                },
            };
            // The process's threads (-p, or the -c command), else every task per CPU.
            let watched = match pid {
                Some(p) => breakpoint::Watched::Threads(threads_of(p)?),
                None => breakpoint::Watched::AllCpus,
            };
            Box::new(breakpoint::attach(prog, &bp, &watched).map_err(|x| e(&x))?)
        }
        _ => return Err(format!("{} is not built yet", ap.canonical())),
    })
}

/// Positional parameters in attach points (`interval:ms:$1`, `uprobe:$1:main`,
/// `watchpoint:$1:8:w`): each `$N` in a part becomes the N-th parameter, as upstream
/// reads them; one not given is an error at the attach point.
fn substitute_positional(
    program: &mut kscope_lang::ast::Program,
    params: &[String],
) -> Result<(), kscope_lang::Diagnostic> {
    for ap in program
        .probes
        .iter_mut()
        .flat_map(|p| p.attach_points.iter_mut())
    {
        if !ap.parts.iter().any(|p| p.contains('$')) {
            continue;
        }
        for part in &mut ap.parts {
            let mut out = String::new();
            let mut rest = part.as_str();
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let digits = rest[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
                let n: usize = rest[i + 1..i + 1 + digits].parse().unwrap_or(0);
                if n == 0 {
                    out.push('$');
                    rest = &rest[i + 1..];
                    continue;
                }
                let Some(value) = params.get(n - 1) else {
                    return Err(kscope_lang::Diagnostic::error(
                        format!("`${n}` in {} is not given", ap.raw),
                        ap.span,
                        "this attach point",
                    )
                    .with_help(format!(
                        "pass it after the script: kscope run -e '...' {}",
                        (1..=n)
                            .map(|k| format!("ARG{k}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )));
                };
                out.push_str(value);
                rest = &rest[i + 1 + digits..];
            }
            out.push_str(rest);
            *part = out;
        }
        ap.raw = ap.canonical();
    }
    Ok(())
}

/// The threads of process `pid` (`/proc/PID/task`).
fn threads_of(pid: i32) -> Result<Vec<i32>, String> {
    let dir = format!("/proc/{pid}/task");
    let tids: Vec<i32> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {dir}: {e}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    if tids.is_empty() {
        return Err(format!("process {pid} has no threads"));
    }
    Ok(tids)
}

/// `software:EVENT[:COUNT]`: the perf software event (by name or alias) sampled every
/// COUNT occurrences (bpftrace's default period when absent) on every online CPU.
fn software_spec(event: &str, count: Option<&str>) -> Result<perf_event::SamplingSpec, String> {
    let Some(&(_, _, config, default)) = kscope_sys::perf::SOFTWARE_EVENTS
        .iter()
        .find(|(name, alias, _, _)| *name == event || (!alias.is_empty() && *alias == event))
    else {
        return Err(format!("unknown software event `{event}`"));
    };
    let period = match count {
        Some(c) => c
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid software event count `{c}`"))?,
        None => default,
    };
    Ok(perf_event::SamplingSpec {
        type_: kscope_sys::perf::TYPE_SOFTWARE,
        config,
        rate: kscope_sys::perf::SampleRate::Period(period),
        cpus: perf_event::Cpus::AllOnline,
    })
}
