//! `kscope stream`: the same selection as `record`, decoded live into the text
//! `kscope report` prints (trace-cmd's `COMM-PID [CPU] SECS.USECS: EVENT: TEXT` lines).
//!
//! Each CPU's thread decodes its sub-buffers as they come (with the ring-buffer mapping,
//! the records of the sub-buffer the kernel is still writing are shown as they are
//! committed) and writes whole lines under one lock, so lines of different CPUs
//! interleave by sub-buffer rather than in strict time order. trace-cmd's plugin
//! rewrites (`sched_switch`, `sched_wakeup`, `hrtimer_*`) are not applied: those events
//! print the kernel's own format text.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kscope_ftrace::format::{Dialect, EventFormat, Kallsyms, RenderContext};
use kscope_ftrace::page::{Page, PageFormat, PageLayout};
use kscope_ftrace::tracedat::write::read_cpu_stats;

use crate::capture::{self, CpuTotals, PageSink};
use crate::{RecordError, Selection, StopReason};

/// What a stream showed.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// Per CPU: events shown and events the kernel lost.
    pub cpus: Vec<CpuTotals>,
    /// How long tracing was on.
    pub elapsed: Duration,
    /// The traced command's exit status, if a command was run.
    pub command_status: Option<std::process::ExitStatus>,
    /// Why streaming stopped (`Signal` also when the output was closed).
    pub stopped_by: StopReason,
}

impl StreamSummary {
    /// Events lost over all CPUs.
    pub fn total_lost(&self) -> u64 {
        self.cpus.iter().map(|c| c.lost).sum()
    }
}

/// Traces as `selection` says and writes one line per event to `out` until the command
/// exits, the duration passes or a signal arrives. A closed output (`EPIPE`) ends the
/// stream quietly.
pub fn stream(
    selection: &Selection,
    out: Box<dyn Write + Send>,
) -> Result<StreamSummary, RecordError> {
    let mut prepared = crate::prepare(selection, "stream")?;
    let decoder = Decoder::new(&prepared)?;
    let subbuf_size = prepared.subbuf_size.unwrap_or(decoder.page_size);
    let mut capture = capture::Capture::open(
        &prepared.instance,
        prepared.cpus,
        subbuf_size,
        selection.reader,
        true,
    )?;
    let sink = LineSink {
        decoder,
        out: Mutex::new(Output {
            out: io::BufWriter::with_capacity(1 << 16, out),
            closed: false,
            line: String::with_capacity(256),
        }),
    };
    let (stopped_by, elapsed) = capture.run(&sink, |control| {
        let closed = || sink.out.lock().is_ok_and(|o| o.closed);
        crate::trace_until_stop(&mut prepared, selection.duration, control, closed)
    })?;
    let counts = capture.counts();
    drop(capture);
    {
        let mut out = sink.out.lock().unwrap_or_else(|p| p.into_inner());
        if !out.closed {
            let _ = out.out.flush();
        }
    }
    let stats = read_cpu_stats(&prepared.instance, prepared.cpus).unwrap_or_default();
    let cpus = capture::totals(&counts, &stats);
    let command_status = crate::finish(prepared, stopped_by)?;
    Ok(StreamSummary {
        cpus,
        elapsed,
        command_status,
        stopped_by,
    })
}

struct Output {
    out: io::BufWriter<Box<dyn Write + Send>>,
    closed: bool,
    line: String,
}

struct LineSink {
    decoder: Decoder,
    out: Mutex<Output>,
}

impl PageSink for LineSink {
    fn page(&self, cpu: u32, page: &[u8]) -> Result<(), RecordError> {
        let Ok(parsed) = Page::parse(page, self.decoder.format) else {
            return Ok(());
        };
        let mut guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let out = &mut *guard;
        if out.closed {
            return Ok(());
        }
        for record in parsed.records().flatten() {
            out.line.clear();
            self.decoder
                .line(cpu, record.timestamp, record.payload, &mut out.line);
            if let Err(e) = out.out.write_all(out.line.as_bytes()) {
                return output_error(out, e);
            }
        }
        if let Err(e) = out.out.flush() {
            return output_error(out, e);
        }
        Ok(())
    }
}

fn output_error(out: &mut Output, e: io::Error) -> Result<(), RecordError> {
    out.closed = true;
    if e.kind() == io::ErrorKind::BrokenPipe {
        // The reader went away (`| head`): stop as if interrupted.
        return Ok(());
    }
    Err(RecordError::Io {
        what: "writing the stream".into(),
        source: e,
    })
}

/// Turns records into report lines.
struct Decoder {
    format: PageFormat,
    page_size: u32,
    events: HashMap<u32, EventFormat>,
    ctx: RenderContext,
    comms: Mutex<Comms>,
    tracefs: kscope_ftrace::Tracefs,
}

struct Comms {
    /// The last `saved_cmdlines` read.
    known: HashMap<i32, String>,
    /// The comm chosen for each pid shown so far.
    seen: HashMap<i32, String>,
}

impl Decoder {
    fn new(prepared: &crate::Prepared) -> Result<Decoder, RecordError> {
        let tracefs = &prepared.tracefs;
        let instance = &prepared.instance;
        let header = instance
            .read("events/header_page")
            .or_else(|_| tracefs.read("events/header_page"))?;
        let layout = PageLayout::parse(&header).unwrap_or_default();
        let page_size = layout
            .subbuf_size()
            .map_or(4096, |s| u32::try_from(s).unwrap_or(4096));
        let mut events = HashMap::new();
        let mut texts = Vec::new();
        for ev in &prepared.events {
            texts.push(tracefs.read(&format!("events/{}/{}/format", ev.system, ev.name))?);
        }
        // The tracers' records are ftrace's own events.
        if let Ok(dir) = std::fs::read_dir(tracefs.path("events/ftrace")) {
            for entry in dir.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path().join("format")) {
                    texts.push(text);
                }
            }
        }
        for text in texts {
            if let Ok(format) = EventFormat::parse_lenient(&text) {
                events.insert(format.id, format);
            }
        }
        let printk = tracefs.read("printk_formats").unwrap_or_default();
        let mut ctx = RenderContext::new()
            .with_printk_formats(&printk)
            .with_dialect(Dialect::TraceCmd);
        if let Ok(symbols) = Kallsyms::load("/proc/kallsyms")
            && !symbols.is_empty()
        {
            ctx = ctx.with_symbols(Arc::new(symbols));
        }
        let known = parse_cmdlines(&tracefs.read("saved_cmdlines").unwrap_or_default());
        Ok(Decoder {
            format: PageFormat::new(layout, kscope_ftrace::page::Endian::NATIVE),
            page_size,
            events,
            ctx,
            comms: Mutex::new(Comms {
                known,
                seen: HashMap::new(),
            }),
            tracefs: tracefs.clone(),
        })
    }

    fn comm(&self, pid: i32) -> String {
        if pid == 0 {
            return "<idle>".into();
        }
        let mut comms = self.comms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = comms.seen.get(&pid) {
            return c.clone();
        }
        // A live task's own comm first: the kernel saves a pid's comm in saved_cmdlines
        // only at its next context switch, and an older entry may belong to an earlier
        // task with the same pid. Then the list, read again, for tasks already gone.
        let live = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim_end_matches('\n').to_string());
        let comm = match live {
            Some(c) => c,
            None => {
                if let Ok(text) = self.tracefs.read("saved_cmdlines") {
                    comms.known = parse_cmdlines(&text);
                }
                comms
                    .known
                    .get(&pid)
                    .cloned()
                    .unwrap_or_else(|| "<...>".into())
            }
        };
        comms.seen.insert(pid, comm.clone());
        comm
    }

    /// One line as `kscope report` prints it (without trace-cmd's plugin rewrites).
    fn line(&self, cpu: u32, timestamp: u64, payload: &[u8], line: &mut String) {
        use std::fmt::Write as _;
        let id = payload
            .get(0..2)
            .map_or(0, |b| u32::from(u16::from_ne_bytes([b[0], b[1]])));
        let pid = payload
            .get(4..8)
            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let Some(format) = self.events.get(&id) else {
            let _ = writeln!(line, "ug! no event found for type {id}");
            return;
        };
        let _ = write!(line, "{:>16}-{:<5} [{:03}] ", self.comm(pid), pid, cpu);
        let t = (timestamp + 500) / 1000;
        if t > 1_000_000 {
            let _ = write!(line, "{:5}.{:06}", t / 1_000_000, t % 1_000_000);
        } else {
            let _ = write!(line, "{t:12}");
        }
        let _ = write!(line, ": {:<21} ", format!("{}:", format.name));
        line.push_str(&format.render(payload, &self.ctx));
        line.push('\n');
    }
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
