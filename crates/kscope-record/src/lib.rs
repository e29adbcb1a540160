//! `kscope record` and `kscope stream`: ftrace events (and the function tracers) from a
//! private tracefs instance, written straight into a trace.dat file that `trace-cmd
//! report` and KernelShark read, or decoded live.
//!
//! The flow: a session creates the instance `kscope-<pid>-record` (tracing off), enables
//! the selected events with their kernel-side filters, sets the tracer and its function
//! filters, applies pid filters (following forks), buffer size, clock and options; forks
//! the command held at a gate; turns tracing on and opens the gate. One thread per CPU
//! then reads that CPU's ring buffer (splice for a recording, the ring-buffer mapping
//! for a stream where the kernel has it, else read; see `capture`) and hands its
//! sub-buffers to the file's per-CPU regions, or to the decoder. It stops when the command exits, the duration
//! passes or a signal asks it to, turns tracing off, drains what is left, records the
//! per-CPU stats and reports lost events.

#![forbid(unsafe_code)]

mod capture;
mod stream;
mod tracer;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kscope_ftrace::select::{self, EventId, EventSpec};
use kscope_ftrace::tracedat::write::{
    Compression, FileVersion, Metadata, TraceDatWriter, WriteError, WriterOptions,
    instance_cpu_count, read_cpu_stats,
};
use kscope_ftrace::{Tracefs, TracefsError};
use kscope_session::{InterruptMode, OwnedInstance, Session, SessionError};
use kscope_sys::gate::GatedChild;

pub use capture::{CpuTotals, ReaderKind};
pub use stream::{StreamSummary, stream};
pub use tracer::TracerOptions;

/// One `-e` selection and the `-f` filter that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// The selection (`sched`, `sched:sched_switch`, globs, `all`).
    pub spec: EventSpec,
    /// A kernel-side filter for every event the selection matches.
    pub filter: Option<String>,
}

/// What to trace: the part of the options `record` and `stream` share.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Event selections.
    pub events: Vec<EventRequest>,
    /// A tracer (`function`, `function_graph`) and its function filters.
    pub tracer: Option<TracerOptions>,
    /// Trace only these pids (their forks are followed).
    pub pids: Vec<u32>,
    /// Per-CPU buffer size in KiB.
    pub buffer_kb: Option<u64>,
    /// A kernel stack trace with every event (`options/stacktrace`).
    pub stacktrace: bool,
    /// The trace clock.
    pub clock: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// The command to run and trace (empty: none; then tracing runs until a signal or
    /// the duration).
    pub command: Vec<OsString>,
    /// How the CPUs' ring buffers are read.
    pub reader: ReaderKind,
}

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// What to trace.
    pub selection: Selection,
    /// The trace.dat file to write.
    pub output: PathBuf,
    /// trace.dat version.
    pub version: FileVersion,
    /// Compression of the event data (v7).
    pub compression: Compression,
}

/// What a recording produced.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// The events recorded, resolved from the selections.
    pub events: Vec<EventId>,
    /// Per CPU: events written and events the kernel lost.
    pub cpus: Vec<CpuTotals>,
    /// How long tracing was on.
    pub elapsed: Duration,
    /// Bytes in the output file.
    pub file_bytes: u64,
    /// The traced command's exit status, if a command was run.
    pub command_status: Option<std::process::ExitStatus>,
    /// Why recording stopped.
    pub stopped_by: StopReason,
}

impl RecordSummary {
    /// Events written over all CPUs.
    pub fn total_events(&self) -> u64 {
        self.cpus.iter().map(|c| c.events).sum()
    }

    /// Events lost over all CPUs.
    pub fn total_lost(&self) -> u64 {
        self.cpus.iter().map(|c| c.lost).sum()
    }
}

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The traced command exited.
    CommandExited,
    /// `--duration` passed.
    Duration,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
}

/// A recording that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Nothing to record.
    #[error("no events selected: give -e SYSTEM[:EVENT] (see `kscope list`) or a tracer with -p")]
    NoEvents,
    /// The tracer cannot be used on this kernel.
    #[error("the {tracer} tracer is not available: {why}")]
    TracerAbsent {
        /// The tracer asked for.
        tracer: String,
        /// What the kernel said.
        why: String,
    },
    /// A tracer option that cannot work (e.g. a function filter that matches nothing).
    #[error("{0}")]
    Tracer(String),
    /// A selection matched no event.
    #[error(transparent)]
    NoSuchEvent(#[from] select::NoSuchEvent),
    /// tracefs refused something.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// The session could not create the instance.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Writing the trace.dat file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What failed.
        source: Box<WriteError>,
    },
    /// Reading the ring buffer or running the command failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RecordError {
    let what = what.into();
    move |source| RecordError::Io { what, source }
}

/// Bytes of the output file reserved for each CPU's data before its region moves.
const CPU_RESERVE: u64 = 512 << 20;

/// A private instance set up as a [`Selection`] says, with its command waiting at the gate.
pub(crate) struct Prepared {
    pub(crate) tracefs: Tracefs,
    pub(crate) session: Session,
    pub(crate) instance: OwnedInstance,
    pub(crate) events: Vec<EventId>,
    pub(crate) child: Option<GatedChild>,
    pub(crate) cpus: u32,
    /// `buffer_subbuf_size_kb` in bytes (Linux ≥ 6.8), else `None` (one page).
    pub(crate) subbuf_size: Option<u32>,
}

/// Creates the instance `kscope-<pid>-<purpose>` and configures it; tracing stays off.
pub(crate) fn prepare(selection: &Selection, purpose: &str) -> Result<Prepared, RecordError> {
    if selection.events.is_empty() && selection.tracer.is_none() {
        return Err(RecordError::NoEvents);
    }
    let (tracefs, _) = Tracefs::mount()?;
    let session = Session::new();
    kscope_session::set_interrupt_mode(InterruptMode::Graceful);
    let instance = session.create_instance(&tracefs, purpose)?;
    instance.set_tracing_on(false)?;

    // Events and their filters.
    let mut chosen = Vec::new();
    if !selection.events.is_empty() {
        let available = select::list_events(&instance.path("events"))
            .map_err(io_error("listing the instance's events"))?;
        for request in &selection.events {
            let events = select::resolve(&available, std::slice::from_ref(&request.spec))?;
            for event in &events {
                if let Some(filter) = &request.filter {
                    instance.set_filter(event, filter)?;
                }
            }
            chosen.extend(events);
        }
    }
    chosen.sort();
    chosen.dedup();
    for event in &chosen {
        instance.set_event_enabled(&event.system, &event.name, true)?;
    }
    if let Some(kb) = selection.buffer_kb {
        instance.set_buffer_size_kb(kb)?;
    }
    if let Some(clock) = &selection.clock {
        instance.set_trace_clock(clock)?;
    }
    if selection.stacktrace {
        instance.set_option("stacktrace", true)?;
    }

    // The command, held at its gate until tracing is on.
    let child = match selection.command.split_first() {
        Some((program, args)) => Some(
            GatedChild::spawn(program, args)
                .map_err(io_error(format!("starting {}", program.to_string_lossy())))?,
        ),
        None => None,
    };
    let mut pids = selection.pids.clone();
    if let Some(child) = &child {
        pids.push(child.id());
    }
    if !pids.is_empty() {
        instance.set_event_pids(&pids, true)?;
    }
    if let Some(tracer) = &selection.tracer {
        tracer::apply(&instance, tracer, &pids)?;
    }

    let cpus = instance_cpu_count(&instance).map_err(|source| RecordError::Write {
        path: PathBuf::from("(none yet)"),
        source: Box::new(source),
    })?;
    let subbuf_size = instance
        .read("buffer_subbuf_size_kb")
        .ok()
        .and_then(|kb| kb.trim().parse::<u32>().ok())
        .map(|kb| kb * 1024);
    Ok(Prepared {
        tracefs,
        session,
        instance,
        events: chosen,
        child,
        cpus,
        subbuf_size,
    })
}

/// Turns tracing on, opens the command's gate and waits until the command exits, the
/// duration passes, a signal arrives or a reader thread fails; then turns tracing off.
pub(crate) fn trace_until_stop(
    prepared: &mut Prepared,
    duration: Option<Duration>,
    control: &capture::Control,
    output_closed: impl Fn() -> bool,
) -> Result<(StopReason, Duration), RecordError> {
    prepared.instance.set_tracing_on(true)?;
    let started = Instant::now();
    if let Some(child) = &mut prepared.child {
        child.open().map_err(io_error("starting the command"))?;
    }
    let stopped_by = loop {
        std::thread::sleep(Duration::from_millis(10));
        if kscope_session::stop_requested() || control.failed() || output_closed() {
            break StopReason::Signal;
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break StopReason::Duration;
        }
        if let Some(child) = &mut prepared.child
            && child
                .try_wait()
                .map_err(io_error("waiting for the command"))?
                .is_some()
        {
            break StopReason::CommandExited;
        }
    };
    prepared.instance.set_tracing_on(false)?;
    Ok((stopped_by, started.elapsed()))
}

/// Reaps the command (terminating it first unless it exited on its own), removes the
/// instance and closes the session.
pub(crate) fn finish(
    prepared: Prepared,
    stopped_by: StopReason,
) -> Result<Option<std::process::ExitStatus>, RecordError> {
    let Prepared {
        session,
        instance,
        child,
        ..
    } = prepared;
    let command_status = match child {
        Some(mut child) => {
            if stopped_by != StopReason::CommandExited {
                let _ = child.signal(libc::SIGTERM);
            }
            Some(child.wait().map_err(io_error("waiting for the command"))?)
        }
        None => None,
    };
    instance.remove()?;
    session.close().map_err(|e| RecordError::Io {
        what: "cleaning up".into(),
        source: std::io::Error::other(e),
    })?;
    Ok(command_status)
}

/// Hands each sub-buffer to the trace.dat writer (one lock per sub-buffer; the writer
/// keeps one region per CPU).
struct FileSink {
    writer: Mutex<TraceDatWriter<std::fs::File>>,
    output: PathBuf,
}

impl capture::PageSink for FileSink {
    fn page(&self, cpu: u32, page: &[u8]) -> Result<(), RecordError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .write_page(cpu, page)
            .map_err(|source| RecordError::Write {
                path: self.output.clone(),
                source: Box::new(source),
            })
    }
}

/// Records as `options` says; see the crate docs for the flow.
pub fn record(options: &RecordOptions) -> Result<RecordSummary, RecordError> {
    let mut prepared = prepare(&options.selection, "record")?;
    let write_error = |source| RecordError::Write {
        path: options.output.clone(),
        source: Box::new(source),
    };
    let metadata = Metadata::from_tracefs(&prepared.tracefs, &prepared.instance, &prepared.events)
        .map_err(write_error)?;
    let mut writer_options = WriterOptions {
        version: options.version,
        compression: options.compression,
        // Room for each CPU's data before its region has to move. A move copies the region
        // while the other CPUs' threads wait for the writer, and at a few hundred thousand
        // events per second that wait overflowed the kernel buffers (16 MiB gave 3-6 %
        // lost events; see docs/BENCHMARKS.md). The unused part of a reservation is never
        // written (a hole) and the gaps are collapsed at the end (ext4, xfs) or stay holes.
        cpu_reserve: CPU_RESERVE,
        ..WriterOptions::default()
    };
    if let Some(size) = prepared.subbuf_size {
        writer_options.subbuf_size = size;
    }
    let writer = TraceDatWriter::create(&options.output, writer_options.clone(), metadata)
        .map_err(write_error)?;
    let mut capture = capture::Capture::open(
        &prepared.instance,
        prepared.cpus,
        writer_options.subbuf_size,
        options.selection.reader,
        false,
    )?;
    let sink = FileSink {
        writer: Mutex::new(writer),
        output: options.output.clone(),
    };
    let (stopped_by, elapsed) = capture.run(&sink, |control| {
        trace_until_stop(&mut prepared, options.selection.duration, control, || false)
    })?;
    let counts = capture.counts();
    // The instance cannot be removed while its trace_pipe_raw files are open or mapped.
    drop(capture);
    let mut writer = sink.writer.into_inner().unwrap_or_else(|p| p.into_inner());

    // Stats, cmdlines, and the end of the file.
    let stats = read_cpu_stats(&prepared.instance, prepared.cpus).map_err(write_error)?;
    let totals = capture::totals(&counts, &stats);
    writer.set_cpu_stats(stats);
    if options.version == FileVersion::V7 {
        let cmdlines = prepared.tracefs.read("saved_cmdlines")?;
        writer.set_cmdlines(cmdlines).map_err(write_error)?;
    }
    let file = writer
        .finish_collapsing(|file, offset, len| kscope_sys::fs::collapse_range(file, offset, len))
        .map_err(write_error)?;
    let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);

    let events = prepared.events.clone();
    let command_status = finish(prepared, stopped_by)?;
    Ok(RecordSummary {
        events,
        cpus: totals,
        elapsed,
        file_bytes,
        command_status,
        stopped_by,
    })
}
