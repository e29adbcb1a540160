use std::path::PathBuf;

use crate::select::EventId;
use crate::{FilterExplanation, Tracefs, TracefsError};

/// A tracefs instance (`instances/<name>`): a private set of ring buffers, event enables,
/// filters and tracer. This handle does not remove the instance when dropped; the session
/// guard does that.
#[derive(Debug, Clone)]
pub struct Instance {
    tracefs: Tracefs,
    name: String,
}

impl Instance {
    pub(crate) fn new(tracefs: Tracefs, name: String) -> Instance {
        Instance { tracefs, name }
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tracefs it lives in.
    pub fn tracefs(&self) -> &Tracefs {
        &self.tracefs
    }

    fn rel(&self, file: &str) -> String {
        format!("instances/{}/{}", self.name, file)
    }

    /// The absolute path of a file of this instance.
    pub fn path(&self, file: &str) -> PathBuf {
        self.tracefs.path(&self.rel(file))
    }

    /// Reads a control file of this instance.
    pub fn read(&self, file: &str) -> Result<String, TracefsError> {
        self.tracefs.read(&self.rel(file))
    }

    /// Writes a control file of this instance, replacing its setting.
    pub fn write(&self, file: &str, value: &str) -> Result<(), TracefsError> {
        self.tracefs.write(&self.rel(file), value)
    }

    /// Appends to a list-like control file of this instance.
    pub fn append(&self, file: &str, value: &str) -> Result<(), TracefsError> {
        self.tracefs.append(&self.rel(file), value)
    }

    /// Selects a tracer (`nop`, `function`, `function_graph`, …) for this instance.
    pub fn set_tracer(&self, tracer: &str) -> Result<(), TracefsError> {
        self.write("current_tracer", tracer)
    }

    /// Enables or disables one event `system/event` in this instance.
    pub fn set_event_enabled(
        &self,
        system: &str,
        event: &str,
        enabled: bool,
    ) -> Result<(), TracefsError> {
        let value = if enabled { "1" } else { "0" };
        self.write(&format!("events/{system}/{event}/enable"), value)
    }

    /// Sets a kernel-side filter (the kernel's own syntax, e.g. `prev_pid > 0 && prev_prio < 100`)
    /// on one event. A filter the kernel rejects gives [`TracefsError::FilterRejected`] with
    /// the kernel's message and a caret, and leaves the event unfiltered.
    pub fn set_filter(&self, event: &EventId, filter: &str) -> Result<(), TracefsError> {
        let file = format!("events/{}/{}/filter", event.system, event.name);
        match self.write(&file, filter) {
            Ok(()) => Ok(()),
            Err(TracefsError::Rejected { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) =>
            {
                let shown = self.read(&file).unwrap_or_default();
                // Clear the failed filter so the event is back to unfiltered.
                let _ = self.write(&file, "0");
                Err(TracefsError::FilterRejected {
                    event: event.to_string(),
                    filter: filter.to_string(),
                    explanation: FilterExplanation::parse(&shown).unwrap_or(FilterExplanation {
                        filter: filter.to_string(),
                        caret: None,
                        message: "the kernel gave no explanation".into(),
                    }),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Restricts events to these pids (thread ids). With `follow_forks`, children forked
    /// by them are added as they appear (the `event-fork` option).
    pub fn set_event_pids(&self, pids: &[u32], follow_forks: bool) -> Result<(), TracefsError> {
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        self.write("set_event_pid", &list.join(" "))?;
        self.write("options/event-fork", if follow_forks { "1" } else { "0" })
    }

    /// Sets the per-CPU buffer size in KiB.
    pub fn set_buffer_size_kb(&self, kb: u64) -> Result<(), TracefsError> {
        self.write("buffer_size_kb", &kb.to_string())
    }

    /// The trace clocks this kernel offers and the one selected (in brackets in
    /// `trace_clock`).
    pub fn trace_clocks(&self) -> Result<(Vec<String>, Option<String>), TracefsError> {
        let text = self.read("trace_clock")?;
        let mut selected = None;
        let clocks = text
            .split_whitespace()
            .map(
                |w| match w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                    Some(inner) => {
                        selected = Some(inner.to_string());
                        inner.to_string()
                    }
                    None => w.to_string(),
                },
            )
            .collect();
        Ok((clocks, selected))
    }

    /// Selects the trace clock (`local`, `global`, `mono`, `boot`, …).
    pub fn set_trace_clock(&self, clock: &str) -> Result<(), TracefsError> {
        self.write("trace_clock", clock)
    }

    /// Turns recording into this instance's buffers on or off.
    pub fn set_tracing_on(&self, on: bool) -> Result<(), TracefsError> {
        self.write("tracing_on", if on { "1" } else { "0" })
    }

    /// Writes a `print` event into this instance's buffer through `trace_marker`.
    pub fn mark(&self, text: &str) -> Result<(), TracefsError> {
        self.write("trace_marker", text)
    }

    /// Sets a trace option (`options/<name>`), e.g. `stacktrace` or `event-fork`.
    pub fn set_option(&self, name: &str, on: bool) -> Result<(), TracefsError> {
        self.write(&format!("options/{name}"), if on { "1" } else { "0" })
    }
}
