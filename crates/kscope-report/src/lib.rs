//! Decoding trace.dat files to trace-cmd's report text, JSON and statistics.
//!
//! [`run`] streams the records of a file (a k-way merge over the CPUs' cursors of
//! `kscope_ftrace::tracedat::read`, payloads lent from the mapped file) and writes one line
//! per record, so memory does not grow with the file's size.
//!
//! # Text
//!
//! Line for line what `trace-cmd report` 3.1.6 prints: a `cpus=N` header, then per record
//! `COMM-PID [CPU] SECS.FRAC: EVENT: TEXT` (microseconds rounded to the nearest, or
//! nanoseconds with `-t`), the comm taken from the saved cmdlines (`<idle>` for pid 0,
//! `<...>` when unknown, plus the comms that trace-cmd's sched plugin learns from
//! `sched_switch` and `sched_wakeup*`), an instance-name column when the file has more
//! than one buffer, `CPU:N [M EVENTS DROPPED]` lines, and trace-cmd's plugin rewrites of
//! `sched_switch`, `sched_wakeup`, `sched_wakeup_new`, `hrtimer_start` and
//! `hrtimer_expire_entry`. Like trace-cmd, `--cpu` shows the top instance only.
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

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use kscope_ftrace::format::{EventFormat, RenderContext, Value};
use kscope_ftrace::page::Missed;
use kscope_ftrace::tracedat::read::{
    EventTable, Item, LostEvents, MergedRecords, ReadError, Record, TraceFile,
};

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

/// Reports `path` to `out`.
pub fn run(path: &Path, opts: &Options, out: &mut dyn Write) -> Result<(), ReportError> {
    let filters = opts
        .event_filters
        .iter()
        .map(|a| EventFilter::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let file = TraceFile::open(path)?;
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    if opts.mode == Mode::Stat {
        stat(&file, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let mut r = Reporter::new(&file, opts, filters);
    let result = r.stream(&mut out);
    out.flush()?;
    result
}

/// A parsed `-F EVENT[:FILTER]`.
#[derive(Debug, Clone)]
struct EventFilter {
    /// `SYSTEM/` part, if given (glob).
    system: Option<String>,
    /// Event name (glob).
    event: String,
    /// Disjunction of conjunctions of comparisons.
    cond: Option<Vec<Vec<Cmp>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Operand {
    Int(i128),
    Str(String),
}

#[derive(Debug, Clone)]
struct Cmp {
    field: String,
    op: Op,
    value: Operand,
}

impl EventFilter {
    fn parse(arg: &str) -> Result<EventFilter, ReportError> {
        let err = |why: &str| ReportError::Filter {
            arg: arg.to_string(),
            why: why.to_string(),
        };
        let (name, cond) = match arg.split_once(':') {
            Some((n, c)) => (n.trim(), Some(c.trim())),
            None => (arg.trim(), None),
        };
        if name.is_empty() {
            return Err(err("no event name"));
        }
        let (system, event) = match name.split_once('/') {
            Some((s, e)) => (Some(s.to_string()), e.to_string()),
            None => (None, name.to_string()),
        };
        let cond = match cond {
            None | Some("") => None,
            Some(c) => Some(parse_cond(c).map_err(|w| err(&w))?),
        };
        Ok(EventFilter {
            system,
            event,
            cond,
        })
    }

    fn matches_event(&self, system: &str, event: &str) -> bool {
        glob(&self.event, event) && self.system.as_deref().is_none_or(|s| glob(s, system))
    }
}

const UNSUPPORTED: &str = "this filter is not supported yet: only FIELD OP VALUE \
     comparisons (OP one of == != < <= > >=) joined by && or || without parentheses are";

fn parse_cond(text: &str) -> Result<Vec<Vec<Cmp>>, String> {
    if text.contains(['(', ')', '!']) && !text.contains("!=") || text.contains('~') {
        return Err(UNSUPPORTED.to_string());
    }
    text.split("||")
        .map(|conj| conj.split("&&").map(parse_cmp).collect())
        .collect()
}

fn parse_cmp(text: &str) -> Result<Cmp, String> {
    let text = text.trim();
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    for (sym, op) in OPS {
        if let Some((field, value)) = text.split_once(sym) {
            let field = field.trim();
            let value = value.trim();
            if field.is_empty()
                || value.is_empty()
                || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(UNSUPPORTED.to_string());
            }
            let value = if let Some(v) = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            {
                Operand::Str(v.to_string())
            } else if let Some(n) = parse_int(value) {
                Operand::Int(n)
            } else {
                Operand::Str(value.to_string())
            };
            return Ok(Cmp {
                field: field.to_string(),
                op,
                value,
            });
        }
    }
    Err(UNSUPPORTED.to_string())
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()?
    } else {
        s.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Shell-style glob with `*` and `?`.
fn glob(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn cmp_holds(c: &Cmp, v: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (v, &c.value) {
        (Value::Signed(a), Operand::Int(b)) => i128::from(*a).cmp(b),
        (Value::Unsigned(a), Operand::Int(b)) => i128::from(*a).cmp(b),
        (Value::Str(a), Operand::Str(b)) => {
            if b.contains(['*', '?']) && matches!(c.op, Op::Eq | Op::Ne) {
                let m = glob(b, a);
                return (c.op == Op::Eq) == m;
            }
            a.as_str().cmp(b.as_str())
        }
        (Value::Str(a), Operand::Int(b)) => a.as_str().cmp(b.to_string().as_str()),
        _ => return false,
    };
    match c.op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

/// Per event id: whether it is shown, and under which conditions.
enum Selection {
    All,
    Never,
    /// Any of these condition sets (an empty inner list: unconditional).
    When(Vec<Vec<Vec<Cmp>>>),
}

/// The plugin rewrite trace-cmd applies to an event.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plugin {
    None,
    SchedSwitch,
    SchedWakeup,
    HrtimerStart,
    HrtimerExpireEntry,
}

struct EventInfo {
    plugin: Plugin,
    selected: bool,
}

struct Reporter<'f> {
    file: &'f TraceFile,
    opts: &'f Options,
    table: EventTable,
    info: HashMap<u32, EventInfo>,
    conds: HashMap<u32, Vec<Vec<Vec<Cmp>>>>,
    ctx: RenderContext,
    comms: HashMap<i32, String>,
    prefix_width: Option<usize>,
    buffer_names: Vec<String>,
    line: String,
    /// With `-F`, lost-event notices wait for their record: like trace-cmd, one is shown
    /// only when the record after it is.
    pending: Vec<LostEvents>,
}

/// Reads `pid comm` lines of saved cmdlines.
fn parse_cmdlines(text: &str) -> HashMap<i32, String> {
    let mut map = HashMap::new();
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
    fn new(file: &'f TraceFile, opts: &'f Options, filters: Vec<EventFilter>) -> Reporter<'f> {
        let table = file.event_table();
        let mut info = HashMap::new();
        let mut conds = HashMap::new();
        for e in table.iter() {
            let f = &e.format;
            let plugin = match (e.system.as_str(), f.name.as_str()) {
                ("sched", "sched_switch") => Plugin::SchedSwitch,
                ("sched", "sched_wakeup" | "sched_wakeup_new") => Plugin::SchedWakeup,
                ("timer", "hrtimer_start") => Plugin::HrtimerStart,
                ("timer", "hrtimer_expire_entry") => Plugin::HrtimerExpireEntry,
                _ => Plugin::None,
            };
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
            info.insert(f.id, EventInfo { plugin, selected });
        }
        let buffer_names: Vec<String> = file.buffers().iter().map(|b| b.name.clone()).collect();
        let prefix_width = (buffer_names.len() > 1)
            .then(|| buffer_names.iter().map(|n| n.len() + 1).max().unwrap_or(0));
        Reporter {
            file,
            opts,
            table,
            info,
            conds,
            ctx: file.render_context(),
            comms: parse_cmdlines(file.cmdlines()),
            prefix_width,
            buffer_names,
            line: String::with_capacity(256),
            pending: Vec::new(),
        }
    }

    /// The merged cursors for the selected buffers and CPUs.
    fn cursors(&self) -> Result<MergedRecords<'f>, ReadError> {
        let mut cursors = Vec::new();
        for (i, b) in self.file.buffers().iter().enumerate() {
            // trace-cmd's --cpu shows only the top instance.
            if !self.opts.cpus.is_empty() && !b.name.is_empty() {
                continue;
            }
            for c in &b.cpus {
                if c.size == 0 || (!self.opts.cpus.is_empty() && !self.opts.cpus.contains(&c.cpu)) {
                    continue;
                }
                cursors.push(self.file.cpu_records(i, c.cpu)?);
            }
        }
        Ok(MergedRecords::new(cursors))
    }

    fn stream(&mut self, out: &mut dyn Write) -> Result<(), ReportError> {
        let mut merged = self.cursors()?;
        if self.opts.mode == Mode::Text {
            writeln!(out, "cpus={}", self.file.cpu_count())?;
        }
        while let Some(item) = merged.next_ref() {
            match item? {
                Item::Record(rec) => self.record(&rec, out)?,
                Item::Lost(lost) if !self.opts.event_filters.is_empty() => {
                    self.pending.push(lost);
                }
                Item::Lost(lost) => self.lost(&lost, out)?,
            }
        }
        for lost in std::mem::take(&mut self.pending) {
            self.lost(&lost, out)?;
        }
        Ok(())
    }

    fn lost(&mut self, lost: &LostEvents, out: &mut dyn Write) -> Result<(), ReportError> {
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
        if pid == 0 {
            return "<idle>";
        }
        self.comms.get(&pid).map_or("<...>", String::as_str)
    }

    fn record(&mut self, rec: &Record<&[u8]>, out: &mut dyn Write) -> Result<(), ReportError> {
        let lost = if self.pending.is_empty() {
            None
        } else {
            let i = self
                .pending
                .iter()
                .position(|l| l.buffer == rec.buffer && l.cpu == rec.cpu);
            i.map(|i| self.pending.swap_remove(i))
        };
        if !self.selected(rec) {
            return Ok(());
        }
        if let Some(lost) = lost {
            self.lost(&lost, out)?;
        }
        self.show(rec, out)
    }

    fn pid(&self, p: &[u8]) -> i32 {
        p.get(4..8)
            .map(|b| {
                let a = [b[0], b[1], b[2], b[3]];
                if self.ctx.big_endian {
                    i32::from_be_bytes(a)
                } else {
                    i32::from_le_bytes(a)
                }
            })
            .unwrap_or(0)
    }

    fn id(&self, p: &[u8]) -> u32 {
        p.get(0..2)
            .map(|b| {
                let a = [b[0], b[1]];
                u32::from(if self.ctx.big_endian {
                    u16::from_be_bytes(a)
                } else {
                    u16::from_le_bytes(a)
                })
            })
            .unwrap_or(0)
    }

    /// Whether `-F` lets the record through.
    fn selected(&self, rec: &Record<&[u8]>) -> bool {
        if self.opts.event_filters.is_empty() {
            return true;
        }
        let p = rec.payload;
        let id = self.id(p);
        let Some(entry) = self.table.get(id) else {
            return false;
        };
        if !self.info.get(&id).is_some_and(|i| i.selected) {
            return false;
        }
        let Some(sets) = self.conds.get(&id) else {
            return true;
        };
        let pid = self.pid(p);
        sets.iter().any(|disj| {
            disj.iter().any(|conj| {
                conj.iter().all(|c| {
                    let v = if c.field == "COMM" {
                        Some(Value::Str(self.comm(pid).to_string()))
                    } else {
                        entry.format.field_value_by_name(p, &c.field)
                    };
                    v.is_some_and(|v| cmp_holds(c, &v))
                })
            })
        })
    }

    fn show(&mut self, rec: &Record<&[u8]>, out: &mut dyn Write) -> Result<(), ReportError> {
        let p = rec.payload;
        let id = self.id(p);
        let pid = self.pid(p);
        let Some(entry) = self.table.get(id) else {
            if self.opts.event_filters.is_empty() && self.opts.mode == Mode::Text {
                writeln!(out, "ug! no event found for type {id}")?;
            }
            return Ok(());
        };
        let fmt = &entry.format;
        let plugin = self.info.get(&id).map_or(Plugin::None, |i| i.plugin);
        if self.opts.mode == Mode::Json {
            return self.json(rec, fmt, &entry.system, pid, out);
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        use std::fmt::Write as _;
        if let Some(w) = self.prefix_width {
            let name = &self.buffer_names[rec.buffer];
            if name.is_empty() {
                let _ = write!(line, "{:w$} ", "");
            } else {
                let _ = write!(line, "{:<w$} ", format!("{name}:"));
            }
        }
        let _ = write!(line, "{:>16}-{:<5} [{:03}] ", self.comm(pid), pid, rec.cpu);
        let (p10, div) = if self.opts.nanoseconds {
            (1_000_000_000u64, 1u64)
        } else {
            (1_000_000, 1000)
        };
        let t = (rec.timestamp + div / 2) / div;
        if p10 > 1 && p10 < t {
            let prec = if self.opts.nanoseconds { 9 } else { 6 };
            let _ = write!(line, "{:5}.{:0prec$}", t / p10, t % p10);
        } else {
            let _ = write!(line, "{t:12}");
        }
        let _ = write!(line, ": {:<21} ", format!("{}:", fmt.name));
        let learned = self.render(plugin, fmt, p, &mut line);
        if let Some((pid, comm)) = learned {
            self.comms.entry(pid).or_insert(comm);
        }
        line.push('\n');
        let r = out.write_all(line.as_bytes());
        self.line = line;
        r?;
        Ok(())
    }

    fn json(
        &self,
        rec: &Record<&[u8]>,
        fmt: &EventFormat,
        system: &str,
        pid: i32,
        out: &mut dyn Write,
    ) -> Result<(), ReportError> {
        let mut fields = serde_json::Map::new();
        for f in fmt.event_fields() {
            let v = fmt.field_value_with(rec.payload, f, &self.ctx);
            fields.insert(f.name.clone(), json_value(v));
        }
        let obj = serde_json::json!({
            "ts": rec.timestamp,
            "cpu": rec.cpu,
            "pid": pid,
            "comm": self.comm(pid),
            "event": fmt.name,
            "system": system,
            "buffer": self.buffer_names.get(rec.buffer).cloned().unwrap_or_default(),
            "fields": fields,
        });
        writeln!(out, "{obj}")?;
        Ok(())
    }

    /// The event text: trace-cmd's plugin rewrite, or the format's own rendering.
    /// Returns a comm the sched plugin learned (pid, comm).
    fn render(
        &self,
        plugin: Plugin,
        fmt: &EventFormat,
        p: &[u8],
        line: &mut String,
    ) -> Option<(i32, String)> {
        use std::fmt::Write as _;
        let get = |name: &str| fmt.field_value_by_name(p, name);
        let num = |name: &str| match get(name) {
            Some(Value::Signed(v)) => Some(v as u64),
            Some(Value::Unsigned(v)) => Some(v),
            _ => None,
        };
        let signed = |name: &str| match get(name) {
            Some(Value::Signed(v)) => Some(v),
            Some(Value::Unsigned(v)) => Some(v as i64),
            _ => None,
        };
        let string = |name: &str| match get(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        };
        let func = |addr: u64| -> String {
            match self.ctx.symbols.as_ref().and_then(|s| s.lookup(addr)) {
                Some(sym) => format!("{}/0x{:x}", sym.name, sym.start.wrapping_sub(addr)),
                None => format!("0x{addr:08x}"),
            }
        };
        match plugin {
            Plugin::SchedSwitch => {
                if let (Some(pc), Some(pp), Some(ppr), Some(st), Some(nc), Some(np), Some(npr)) = (
                    string("prev_comm"),
                    signed("prev_pid"),
                    signed("prev_prio"),
                    num("prev_state"),
                    string("next_comm"),
                    signed("next_pid"),
                    signed("next_prio"),
                ) {
                    let _ = write!(line, "{pc}:{pp} [{ppr}] ");
                    const STATES: &[u8] = b"SDTtZXxW";
                    let mut found = false;
                    for (i, c) in STATES.iter().enumerate() {
                        if st & (1 << i) != 0 {
                            if found {
                                line.push('|');
                            }
                            found = true;
                            line.push(*c as char);
                        }
                    }
                    if !found {
                        line.push('R');
                    }
                    let _ = write!(line, " ==> {nc}:{np} [{npr}]");
                    return Some((np as i32, nc));
                }
            }
            Plugin::SchedWakeup => {
                if let (Some(c), Some(pid), Some(prio)) =
                    (string("comm"), signed("pid"), signed("prio"))
                {
                    let _ = write!(line, "{c}:{pid} [{prio}]");
                    if let Some(s) = signed("success")
                        && fmt.field("success").is_some()
                    {
                        let _ = write!(line, " success={s}");
                    }
                    if let Some(t) = signed("target_cpu") {
                        let _ = write!(line, " CPU:{t:03}");
                    }
                    return Some((pid as i32, c));
                }
            }
            Plugin::HrtimerStart => {
                if let (Some(h), Some(f), Some(e), Some(s)) = (
                    num("hrtimer"),
                    num("function"),
                    num("expires"),
                    num("softexpires"),
                ) {
                    let _ = write!(
                        line,
                        "hrtimer=0x{h:x} function={} expires={e} softexpires={s}",
                        func(f)
                    );
                    return None;
                }
            }
            Plugin::HrtimerExpireEntry => {
                if let (Some(h), Some(now), Some(f)) = (num("hrtimer"), num("now"), num("function"))
                {
                    let _ = write!(line, "hrtimer=0x{h:x} now={now} function={}", func(f));
                    return None;
                }
            }
            Plugin::None => {}
        }
        line.push_str(&fmt.render(p, &self.ctx));
        None
    }
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

#[derive(Default, Clone, Copy)]
struct CpuCount {
    events: u64,
    lost_notices: u64,
    lost: u64,
    first: Option<u64>,
    last: Option<u64>,
}

fn stat(file: &TraceFile, out: &mut dyn Write) -> Result<(), ReportError> {
    let (alg, ver) = file.compression_header();
    writeln!(out, "version: {}", file.version())?;
    if alg.is_empty() {
        writeln!(out, "compression: none")?;
    } else {
        writeln!(out, "compression: {alg} {ver}")?;
    }
    writeln!(out, "cpus: {}", file.cpu_count())?;
    for (i, b) in file.buffers().iter().enumerate() {
        let name = if b.name.is_empty() {
            "(top)"
        } else {
            b.name.as_str()
        };
        writeln!(out, "buffer {name}:")?;
        writeln!(out, "  clock: {}", b.clock.as_deref().unwrap_or("unknown"))?;
        let mut counts: Vec<(u32, CpuCount)> = Vec::new();
        for c in &b.cpus {
            let mut n = CpuCount::default();
            if c.size > 0 {
                let mut cur = file.cpu_records(i, c.cpu)?;
                while let Some(item) = cur.next_ref() {
                    match item? {
                        Item::Record(r) => {
                            n.events += 1;
                            n.first.get_or_insert(r.timestamp);
                            n.last = Some(r.timestamp);
                        }
                        Item::Lost(l) => {
                            n.lost_notices += 1;
                            if let Missed::Count(k) = l.missed {
                                n.lost += k;
                            }
                        }
                    }
                }
            }
            counts.push((c.cpu, n));
        }
        let ts = |t: Option<u64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
        let mut total = CpuCount::default();
        for (cpu, n) in &counts {
            writeln!(
                out,
                "  cpu {cpu}: events {} lost-notices {} lost {} first {} last {}",
                n.events,
                n.lost_notices,
                n.lost,
                ts(n.first),
                ts(n.last)
            )?;
            total.events += n.events;
            total.lost_notices += n.lost_notices;
            total.lost += n.lost;
            total.first = match (total.first, n.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            total.last = total.last.max(n.last);
        }
        writeln!(
            out,
            "  total: events {} lost-notices {} lost {} first {} last {}",
            total.events,
            total.lost_notices,
            total.lost,
            ts(total.first),
            ts(total.last)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("sched_*", "sched_switch"));
        assert!(glob("*wake*", "sched_wakeup_new"));
        assert!(!glob("sched_w?", "sched_wakeup"));
        assert!(glob("irq", "irq"));
    }

    #[test]
    fn filters_parse() {
        let f = EventFilter::parse("sched/sched_switch:prev_pid == 0 && next_pid > 3").unwrap();
        assert_eq!(f.system.as_deref(), Some("sched"));
        assert_eq!(f.cond.unwrap()[0].len(), 2);
        assert!(EventFilter::parse("x:(a == 1)").is_err());
        assert!(EventFilter::parse("x:a ~ 1").is_err());
    }
}
