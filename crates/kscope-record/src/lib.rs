//! `kscope record`: records ftrace events from a private tracefs instance straight into a
//! trace.dat file that `trace-cmd report` and KernelShark read.
//!
//! The flow: a session creates the instance `kscope-<pid>-record` (tracing off), enables
//! the selected events with their kernel-side filters, applies pid filters (following
//! forks), buffer size, clock and options; forks the command held at a gate; turns tracing
//! on and opens the gate; then reads every CPU's `trace_pipe_raw` as its buffer fills
//! (`poll` wakes at the kernel's `buffer_percent`) and writes the sub-buffers into the
//! file's per-CPU regions. It stops when the command exits, the duration passes or a
//! signal asks it to, turns tracing off, drains what is left, records the per-CPU stats and
//! reports lost events.

#![forbid(unsafe_code)]

mod capture;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kscope_ftrace::select::{self, EventId, EventSpec};
use kscope_ftrace::tracedat::write::{
    Compression, FileVersion, Metadata, TraceDatWriter, WriteError, WriterOptions,
    instance_cpu_count, read_cpu_stats,
};
use kscope_ftrace::{Tracefs, TracefsError};
use kscope_session::{InterruptMode, Session, SessionError};
use kscope_sys::gate::GatedChild;

pub use capture::CpuTotals;

/// One `-e` selection and the `-f` filter that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// The selection (`sched`, `sched:sched_switch`, globs, `all`).
    pub spec: EventSpec,
    /// A kernel-side filter for every event the selection matches.
    pub filter: Option<String>,
}

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Event selections.
    pub events: Vec<EventRequest>,
    /// Record only these pids (their forks are followed).
    pub pids: Vec<u32>,
    /// Per-CPU buffer size in KiB.
    pub buffer_kb: Option<u64>,
    /// A kernel stack trace with every event (`options/stacktrace`).
    pub stacktrace: bool,
    /// The trace clock.
    pub clock: Option<String>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// The trace.dat file to write.
    pub output: PathBuf,
    /// trace.dat version.
    pub version: FileVersion,
    /// Compression of the event data (v7).
    pub compression: Compression,
    /// The command to run and trace (empty: none; then recording runs until a signal or
    /// the duration).
    pub command: Vec<OsString>,
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
    #[error("no events selected: give -e SYSTEM[:EVENT] (see `kscope list`)")]
    NoEvents,
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

/// Records as `options` says; see the crate docs for the flow.
pub fn record(options: &RecordOptions) -> Result<RecordSummary, RecordError> {
    if options.events.is_empty() {
        return Err(RecordError::NoEvents);
    }
    let (tracefs, _) = Tracefs::mount()?;
    let session = Session::new();
    kscope_session::set_interrupt_mode(InterruptMode::Graceful);
    let instance = session.create_instance(&tracefs, "record")?;
    instance.set_tracing_on(false)?;

    // Events and their filters.
    let available = select::list_events(&instance.path("events"))
        .map_err(io_error("listing the instance's events"))?;
    let mut chosen = Vec::new();
    for request in &options.events {
        let events = select::resolve(&available, std::slice::from_ref(&request.spec))?;
        for event in &events {
            if let Some(filter) = &request.filter {
                instance.set_filter(event, filter)?;
            }
        }
        chosen.extend(events);
    }
    chosen.sort();
    chosen.dedup();
    for event in &chosen {
        instance.set_event_enabled(&event.system, &event.name, true)?;
    }
    if let Some(kb) = options.buffer_kb {
        instance.set_buffer_size_kb(kb)?;
    }
    if let Some(clock) = &options.clock {
        instance.set_trace_clock(clock)?;
    }
    if options.stacktrace {
        instance.set_option("stacktrace", true)?;
    }

    // The command, held at its gate until tracing is on.
    let mut child = match options.command.split_first() {
        Some((program, args)) => Some(
            GatedChild::spawn(program, args)
                .map_err(io_error(format!("starting {}", program.to_string_lossy())))?,
        ),
        None => None,
    };
    let mut pids = options.pids.clone();
    if let Some(child) = &child {
        pids.push(child.id());
    }
    if !pids.is_empty() {
        instance.set_event_pids(&pids, true)?;
    }

    // The output file, written while recording.
    let cpus = instance_cpu_count(&instance).map_err(|source| RecordError::Write {
        path: options.output.clone(),
        source: Box::new(source),
    })?;
    let subbuf_size = instance
        .read("buffer_subbuf_size_kb")
        .ok()
        .and_then(|kb| kb.trim().parse::<u32>().ok())
        .map(|kb| kb * 1024);
    let write_error = |source| RecordError::Write {
        path: options.output.clone(),
        source: Box::new(source),
    };
    let metadata = Metadata::from_tracefs(&tracefs, &instance, &chosen).map_err(write_error)?;
    let mut writer_options = WriterOptions {
        version: options.version,
        compression: options.compression,
        // Room for each CPU's data before a region has to move; the gaps are collapsed
        // (or left as holes) at the end.
        cpu_reserve: 16 << 20,
        ..WriterOptions::default()
    };
    if let Some(size) = subbuf_size {
        writer_options.subbuf_size = size;
    }
    let mut writer = TraceDatWriter::create(&options.output, writer_options.clone(), metadata)
        .map_err(write_error)?;
    let mut capture =
        capture::Capture::open(&instance, cpus, writer_options.subbuf_size, &options.output)?;

    // Record.
    instance.set_tracing_on(true)?;
    let started = Instant::now();
    if let Some(child) = &mut child {
        child.open().map_err(io_error("starting the command"))?;
    }
    let stopped_by = loop {
        capture.wait_and_read(&mut writer, Duration::from_millis(100))?;
        if kscope_session::stop_requested() {
            break StopReason::Signal;
        }
        if options.duration.is_some_and(|d| started.elapsed() >= d) {
            break StopReason::Duration;
        }
        if let Some(child) = &mut child
            && child
                .try_wait()
                .map_err(io_error("waiting for the command"))?
                .is_some()
        {
            break StopReason::CommandExited;
        }
    };
    instance.set_tracing_on(false)?;
    let elapsed = started.elapsed();
    capture.drain(&mut writer)?;
    // The instance cannot be removed while its trace_pipe_raw files are open.
    let totals_events = capture.event_counts();
    drop(capture);

    // Stats, cmdlines, and the end of the file.
    let stats = read_cpu_stats(&instance, cpus).map_err(write_error)?;
    let totals = capture::totals(&totals_events, &stats);
    writer.set_cpu_stats(stats);
    if options.version == FileVersion::V7 {
        let cmdlines = tracefs.read("saved_cmdlines")?;
        writer.set_cmdlines(cmdlines).map_err(write_error)?;
    }
    let file = writer
        .finish_collapsing(|file, offset, len| kscope_sys::fs::collapse_range(file, offset, len))
        .map_err(write_error)?;
    let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);

    let command_status = match &mut child {
        Some(child) => {
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
    Ok(RecordSummary {
        events: chosen,
        cpus: totals,
        elapsed,
        file_bytes,
        command_status,
        stopped_by,
    })
}
