use std::path::PathBuf;

use crate::{Tracefs, TracefsError};

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
}
