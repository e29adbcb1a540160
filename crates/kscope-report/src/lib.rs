//! Decoding trace.dat files to trace-cmd's report text, JSON and statistics.
//!
//! [`run`] decodes each CPU's ring-buffer data on its own thread (the file's per-CPU
//! cursors of `kscope_ftrace::tracedat::read`), which renders the records' text into
//! bounded batches; the calling thread merges the batches on their timestamps (a k-way
//! merge, in `MergedRecords`' order) and writes the lines. Memory does not grow with the
//! file's size: the reader releases the mapped pages it has finished with (compressed
//! data is decompressed a chunk at a time), and each CPU has at most a few batches in
//! flight.
//!
//! # Text
//!
//! Line for line what `trace-cmd report` 3.1.6 prints: a `cpus=N` header, then per record
//! `COMM-PID [CPU] SECS.FRAC: EVENT: TEXT` (microseconds rounded to the nearest, or
//! nanoseconds with `-t`), the comm taken from the saved cmdlines (`<idle>` for pid 0,
//! `<...>` when unknown, plus the comms that trace-cmd's sched plugin learns from
//! `sched_switch` and `sched_wakeup*`), an instance-name column when the file has more
//! than one buffer, `CPU:N [M EVENTS DROPPED]` lines, and trace-cmd's rewrites of
//! `sched_switch`, `sched_wakeup`, `sched_wakeup_new`, `hrtimer_start`,
//! `hrtimer_expire_entry`, `sys_enter_futex` (its futex plugin), `function` (indented by
//! the CPU's call chain, as its function plugin does), `kernel_stack` (`=> symbol
//! (addr)` lines) and `funcgraph_entry`/`funcgraph_exit` (durations, overhead marks,
//! leaves folded with their return). Like trace-cmd, `--cpu` shows the top instance only.
//! One deliberate difference: trace-cmd 3.1.6 also folds a function-graph entry with a
//! return that comes next on *another* CPU, and then reads a freed record (its output
//! goes out of order); kscope folds only a return on the same CPU, as later trace-cmd
//! versions do.
//!
//! # JSON (`--json`)
//!
//! One object per line. An event:
//!
//! ```text
//! {"ts": <ns, integer>, "cpu": <integer>, "pid": <integer>, "comm": <string>,
//!  "event": <string>, "system": <string>, "buffer": <string, "" for the top instance>,
//!  "fields": {<name>: <value>, ...}}
//! ```
//!
//! where `fields` holds the event's own (non-common) fields: integers as numbers, strings
//! (`char[N]`, `__data_loc char[]`) as strings, byte arrays and integer arrays as arrays of
//! numbers, and `null` when the record is too short for the field. Lost events:
//!
//! ```text
//! {"lost": <count or null when the kernel did not store it>, "ts": <ns>, "cpu": <integer>,
//!  "buffer": <string>}
//! ```
//!
//! # Statistics (`--stat`)
//!
//! File version, compression, clock, CPU count, then per buffer and CPU the number of
//! events, lost-event notices and lost events, and the first and last timestamps.

mod fastfmt;
mod filter;
mod num;
mod pipeline;
mod plugins;
mod stat;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use kscope_ftrace::format::{EventFormat, RenderContext, Value};
use kscope_ftrace::page::Missed;
use kscope_ftrace::tracedat::read::{EventTable, LostEvents, ReadError, TraceFile};

use filter::{Cmp, EventFilter, Selection, cmp_holds};
use pipeline::{Entry, EventInfo, Rec, Shared, Source};
use plugins::{Graph, Plugin};

/// Why a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read or is corrupt (the message names the section and offset).
    #[error("{0}")]
    Read(#[from] ReadError),
    /// A `-F` argument that is malformed or not supported.
    #[error("-F {arg}: {why}")]
    Filter {
        /// The argument.
        arg: String,
        /// Why it was rejected.
        why: String,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Io(#[from] io::Error),
}

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// trace-cmd's report text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// Statistics.
    Stat,
}

/// The options of `kscope report`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these CPUs (empty: all); like trace-cmd, only the top instance is shown then.
    pub cpus: Vec<u32>,
    /// `EVENT[:FILTER]` arguments (trace-cmd's `-F`).
    pub event_filters: Vec<String>,
    /// Nanosecond timestamps (trace-cmd's `-t`).
    pub nanoseconds: bool,
    /// Output kind.
    pub mode: Mode,
}

/// The output buffer: big writes, few system calls.
const OUT_BUFFER: usize = 1 << 20;

/// Reports `path` to `out`.
pub fn run(path: &Path, opts: &Options, out: &mut dyn Write) -> Result<(), ReportError> {
    let filters = opts
        .event_filters
        .iter()
        .map(|a| EventFilter::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let file = TraceFile::open(path)?;
    let mut out = io::BufWriter::with_capacity(OUT_BUFFER, out);
    if opts.mode == Mode::Stat {
        stat::stat(&file, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let table = file.event_table();
    let ctx = file.render_context();
    let (events, conds) = event_infos(&table, &filters, &ctx);
    // The cursors to decode: trace-cmd's --cpu shows only the top instance.
    let mut wanted = Vec::new();
    for (i, b) in file.buffers().iter().enumerate() {
        if !opts.cpus.is_empty() && !b.name.is_empty() {
            continue;
        }
        for c in &b.cpus {
            if c.size > 0 && (opts.cpus.is_empty() || opts.cpus.contains(&c.cpu)) {
                wanted.push((i, c.cpu));
            }
        }
    }
    let shared = Shared {
        events,
        ctx: &ctx,
        text: opts.mode == Mode::Text,
        nanoseconds: opts.nanoseconds,
        payloads: opts.mode == Mode::Json || !filters.is_empty(),
        batch: pipeline::BatchSize::for_cursors(wanted.len()),
    };
    let result = std::thread::scope(|scope| -> Result<(), ReportError> {
        let mut sources = Vec::new();
        for &(buffer, cpu) in &wanted {
            let cursor = file.cpu_records(buffer, cpu)?;
            let (source, tx, back) = Source::new(buffer, cpu);
            let shared = &shared;
            std::thread::Builder::new()
                .name(format!("report-cpu{cpu}"))
                .spawn_scoped(scope, move || pipeline::decode(cursor, shared, tx, back))?;
            sources.push(source);
        }
        let mut r = Reporter::new(&file, opts, &shared, conds);
        // `sources` is dropped on return, which stops the decoding threads early on error.
        r.stream(sources, &mut out)
    });
    out.flush()?;
    result
}

/// Per event id: the `-F` condition sets (any of them lets a record through).
type Conditions = HashMap<u32, Vec<Vec<Vec<Cmp>>>>;

/// Per event id: how it is shown, and the `-F` conditions that apply to it.
fn event_infos<'a>(
    table: &'a EventTable,
    filters: &[EventFilter],
    ctx: &RenderContext,
) -> (Vec<Option<EventInfo<'a>>>, Conditions) {
    let mut infos: Vec<Option<EventInfo<'a>>> = Vec::new();
    let mut conds = HashMap::new();
    for e in table.iter() {
        let f = &e.format;
        let sel = if filters.is_empty() {
            Selection::All
        } else {
            let matching: Vec<_> = filters
                .iter()
                .filter(|flt| flt.matches_event(&e.system, &f.name))
                .collect();
            if matching.is_empty() {
                Selection::Never
            } else if matching.iter().any(|m| m.cond.is_none()) {
                Selection::All
            } else {
                Selection::When(matching.iter().filter_map(|m| m.cond.clone()).collect())
            }
        };
        let selected = !matches!(sel, Selection::Never);
        if let Selection::When(c) = sel {
            conds.insert(f.id, c);
        }
        let Ok(id) = usize::try_from(f.id) else {
            continue;
        };
        if id > usize::from(u16::MAX) {
            continue;
        }
        if infos.len() <= id {
            infos.resize_with(id + 1, || None);
        }
        let head = format!("{:<21} ", format!("{}:", f.name)).into_bytes();
        infos[id] = Some(EventInfo {
            format: f,
            system: &e.system,
            plugin: Plugin::of(&e.system, &f.name),
            selected,
            head: head.into_boxed_slice(),
            fast: fastfmt::plan(f, ctx),
        });
    }
    (infos, conds)
}

/// The merging thread's state.
struct Reporter<'f> {
    file: &'f TraceFile,
    opts: &'f Options,
    shared: &'f Shared<'f>,
    conds: Conditions,
    comms: Comms,
    prefix_width: Option<usize>,
    buffer_names: Vec<String>,
    /// The function plugin's per-CPU call chains.
    indent: plugins::FunctionIndent,
    /// With `-F`, lost-event notices wait for their record: like trace-cmd, one is shown
    /// only when the record after it is.
    pending: Vec<LostEvents>,
}

/// A hasher for pids: one multiply (the default SipHash costs more than the rest of a
/// line's comm lookup; the keys are not attacker-chosen in a way that matters here).
#[derive(Default)]
struct PidHasher(u64);

impl std::hash::Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i32(&mut self, v: i32) {
        self.0 = (u64::from(v as u32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Comms by pid.
type Comms = HashMap<i32, String, std::hash::BuildHasherDefault<PidHasher>>;

/// Reads `pid comm` lines of saved cmdlines.
fn parse_cmdlines(text: &str) -> Comms {
    let mut map = Comms::default();
    for line in text.lines() {
        if let Some((pid, comm)) = line.trim_start().split_once(' ')
            && let Ok(pid) = pid.parse::<i32>()
        {
            map.entry(pid).or_insert_with(|| comm.to_string());
        }
    }
    map
}

impl<'f> Reporter<'f> {
    fn new(
        file: &'f TraceFile,
        opts: &'f Options,
        shared: &'f Shared<'f>,
        conds: Conditions,
    ) -> Reporter<'f> {
        let buffer_names: Vec<String> = file.buffers().iter().map(|b| b.name.clone()).collect();
        let prefix_width = (buffer_names.len() > 1)
            .then(|| buffer_names.iter().map(|n| n.len() + 1).max().unwrap_or(0));
        Reporter {
            file,
            opts,
            shared,
            conds,
            comms: parse_cmdlines(file.cmdlines()),
            prefix_width,
            buffer_names,
            indent: plugins::FunctionIndent::default(),
            pending: Vec::new(),
        }
    }

    fn ctx(&self) -> &RenderContext {
        self.shared.ctx
    }

    fn stream(
        &mut self,
        mut sources: Vec<Source>,
        final_out: &mut dyn Write,
    ) -> Result<(), ReportError> {
        // Lines are built in place in one big buffer, written out whenever it is full.
        let mut buf = Vec::with_capacity(OUT_BUFFER + (64 << 10));
        let out = &mut buf;
        if self.opts.mode == Mode::Text {
            writeln!(out, "cpus={}", self.file.cpu_count())?;
        }
        while let Some(i) = pipeline::first(&mut sources) {
            if out.len() >= OUT_BUFFER {
                final_out.write_all(out)?;
                out.clear();
            }
            let Some(entry) = sources[i].peek() else {
                sources[i].advance();
                continue;
            };
            match entry {
                Entry::Error(_) => {
                    // The cursor's data ends with its first error, which ends the report.
                    if let Some(err) = sources[i].take_error() {
                        return Err(err.into());
                    }
                    sources[i].advance();
                }
                Entry::Lost(lost) => {
                    let lost = *lost;
                    sources[i].advance();
                    if self.opts.event_filters.is_empty() {
                        self.lost(&lost, out)?;
                    } else {
                        self.pending.push(lost);
                    }
                }
                Entry::Rec(rec) => {
                    let rec = rec.clone();
                    let buffer = sources[i].buffer;
                    let cpu = sources[i].cpu;
                    self.record(&mut sources, i, &rec, buffer, cpu, out)?;
                }
            }
        }
        for lost in std::mem::take(&mut self.pending) {
            self.lost(&lost, out)?;
        }
        final_out.write_all(out)?;
        Ok(())
    }

    fn lost(&mut self, lost: &LostEvents, out: &mut Vec<u8>) -> Result<(), ReportError> {
        match self.opts.mode {
            Mode::Json => {
                let count = match lost.missed {
                    Missed::Count(n) => serde_json::Value::from(n),
                    Missed::Unknown => serde_json::Value::Null,
                };
                let obj = serde_json::json!({
                    "lost": count,
                    "ts": lost.timestamp,
                    "cpu": lost.cpu,
                    "buffer": self.buffer_names.get(lost.buffer).cloned().unwrap_or_default(),
                });
                writeln!(out, "{obj}")?;
            }
            _ => match lost.missed {
                Missed::Count(n) => writeln!(out, "CPU:{} [{n} EVENTS DROPPED]", lost.cpu)?,
                Missed::Unknown => writeln!(out, "CPU:{} [EVENTS DROPPED]", lost.cpu)?,
            },
        }
        Ok(())
    }

    fn comm(&self, pid: i32) -> &str {
        comm_of(&self.comms, pid)
    }

    /// Handles the record at the head of `sources[i]`, and moves past it (and past the
    /// return a function-graph leaf swallows).
    fn record(
        &mut self,
        sources: &mut [Source],
        i: usize,
        rec: &Rec,
        buffer: usize,
        cpu: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), ReportError> {
        let lost = if self.pending.is_empty() {
            None
        } else {
            let at = self
                .pending
                .iter()
                .position(|l| l.buffer == buffer && l.cpu == cpu);
            at.map(|at| self.pending.swap_remove(at))
        };
        let Some(batch) = sources[i].batch() else {
            sources[i].advance();
            return Ok(());
        };
        let payload = &batch.data[rec.payload.clone()];
        if !self.selected(rec, payload) {
            sources[i].advance();
            return Ok(());
        }
        if let Some(lost) = lost {
            self.lost(&lost, out)?;
        }
        if !rec.known {
            sources[i].advance();
            if self.opts.event_filters.is_empty() && self.opts.mode == Mode::Text {
                writeln!(out, "ug! no event found for type {}", rec.id)?;
            }
            return Ok(());
        }
        if self.opts.mode == Mode::Json {
            let r = self.json(rec, payload, buffer, cpu, out);
            sources[i].advance();
            return r;
        }
        let line = out;
        if let Some(w) = self.prefix_width {
            let start = line.len();
            let name = &self.buffer_names[buffer];
            if !name.is_empty() {
                line.extend_from_slice(name.as_bytes());
                line.push(b':');
            }
            line.resize(start + w + 1, b' ');
        }
        let comm = self.comm(rec.pid);
        let width = if comm.is_ascii() {
            comm.len()
        } else {
            comm.chars().count()
        };
        line.resize(line.len() + 16usize.saturating_sub(width), b' ');
        line.extend_from_slice(comm.as_bytes());
        let text = &batch.text;
        let learned = rec
            .learned
            .as_ref()
            .and_then(|(pid, r)| Some((*pid, std::str::from_utf8(&text[r.clone()]).ok()?)))
            .filter(|(pid, _)| !self.comms.contains_key(pid))
            .map(|(pid, c)| (pid, c.to_string()));
        match rec.graph {
            Graph::Entry { func, depth } => {
                line.extend_from_slice(&text[rec.line.start..rec.body]);
                sources[i].advance();
                match self.leaf_return(sources, buffer, cpu, rec.pid, func) {
                    Some(duration) => plugins::graph_leaf(line, self.ctx(), func, depth, duration),
                    None => plugins::graph_nested(line, self.ctx(), func, depth),
                }
            }
            Graph::Function { ip, parent } => {
                line.extend_from_slice(&text[rec.line.start..rec.body]);
                sources[i].advance();
                let ctx = self.shared.ctx;
                self.indent.render(line, ctx, cpu, ip, parent);
            }
            _ => {
                line.extend_from_slice(&text[rec.line.clone()]);
                sources[i].advance();
            }
        }
        // trace-cmd ends a line with the event text's own newline when it has one
        // (`kernel_stack`, `user_stack`).
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        if let Some((pid, comm)) = learned {
            self.comms.insert(pid, comm);
        }
        Ok(())
    }

    /// trace-cmd prints a function-graph entry as a leaf when the next record is the
    /// return of the same function in the same task on the same CPU; it then skips that
    /// return. Returns its duration, having moved past it. (trace-cmd 3.1.6 also takes a
    /// return on another CPU, and then reads a freed record; later versions require the
    /// same CPU, as here.)
    fn leaf_return(
        &self,
        sources: &mut [Source],
        buffer: usize,
        cpu: u32,
        pid: i32,
        func: u64,
    ) -> Option<u64> {
        let j = pipeline::first(sources)?;
        if sources[j].buffer != buffer || sources[j].cpu != cpu {
            return None;
        }
        let Some(Entry::Rec(next)) = sources[j].peek() else {
            return None;
        };
        match next.graph {
            Graph::Exit {
                func: f, duration, ..
            } if next.pid == pid && f == func => {
                sources[j].advance();
                Some(duration)
            }
            _ => None,
        }
    }

    /// Whether `-F` lets the record through.
    fn selected(&self, rec: &Rec, p: &[u8]) -> bool {
        if self.opts.event_filters.is_empty() {
            return true;
        }
        let Some((fmt, info)) = self.shared.event(rec.id) else {
            return false;
        };
        if !info.selected {
            return false;
        }
        let Some(sets) = self.conds.get(&rec.id) else {
            return true;
        };
        sets.iter().any(|disj| {
            disj.iter().any(|conj| {
                conj.iter().all(|c| {
                    let v = if c.field == "COMM" {
                        Some(Value::Str(self.comm(rec.pid).to_string()))
                    } else {
                        fmt.field_value_by_name(p, &c.field)
                    };
                    v.is_some_and(|v| cmp_holds(c, &v))
                })
            })
        })
    }

    fn json(
        &self,
        rec: &Rec,
        p: &[u8],
        buffer: usize,
        cpu: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), ReportError> {
        let Some((fmt, info)) = self.shared.event(rec.id) else {
            return Ok(());
        };
        json_line(self, fmt, info.system, rec, p, buffer, cpu, out)
    }
}

fn comm_of(comms: &Comms, pid: i32) -> &str {
    if pid == 0 {
        return "<idle>";
    }
    comms.get(&pid).map_or("<...>", String::as_str)
}

#[allow(clippy::too_many_arguments)]
fn json_line(
    r: &Reporter<'_>,
    fmt: &EventFormat,
    system: &str,
    rec: &Rec,
    p: &[u8],
    buffer: usize,
    cpu: u32,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let mut fields = serde_json::Map::new();
    for f in fmt.event_fields() {
        let v = fmt.field_value_with(p, f, r.ctx());
        fields.insert(f.name.clone(), json_value(v));
    }
    let obj = serde_json::json!({
        "ts": rec.timestamp,
        "cpu": cpu,
        "pid": rec.pid,
        "comm": r.comm(rec.pid),
        "event": fmt.name,
        "system": system,
        "buffer": r.buffer_names.get(buffer).cloned().unwrap_or_default(),
        "fields": fields,
    });
    writeln!(out, "{obj}")?;
    Ok(())
}

fn json_value(v: Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Signed(n) => J::from(n),
        Value::Unsigned(n) => J::from(n),
        Value::Str(s) => J::from(s),
        Value::Bytes(b) => J::from(b),
        Value::SignedArray(a) => J::from(a),
        Value::UnsignedArray(a) => J::from(a),
        Value::Unavailable => J::Null,
    }
}
