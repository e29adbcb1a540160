use std::io;
use std::path::PathBuf;

/// A failed tracefs operation: what was attempted, on which file, and the kernel's answer.
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    /// tracefs is not mounted and could not be mounted.
    #[error(
        "tracefs is not available: {reason}; mount it with `mount -t tracefs nodev /sys/kernel/tracing` (needs root)"
    )]
    NotMounted {
        /// Why it could not be found or mounted.
        reason: String,
    },
    /// Reading, creating or removing a tracefs file or directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, e.g. "reading" or "creating instance".
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The kernel's error.
        source: io::Error,
    },
    /// The kernel refused a value written to a control file.
    #[error("writing {value:?} to {path}: {source}{}", error_log.as_deref().map(|l| format!("\n{l}")).unwrap_or_default())]
    Rejected {
        /// The control file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The kernel's error.
        source: io::Error,
        /// The matching tail of tracefs `error_log`, when the kernel wrote one: the message
        /// and the command with a caret under the offending part.
        error_log: Option<String>,
    },
}

impl TracefsError {
    /// The errno behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TracefsError::NotMounted { .. } => None,
            TracefsError::Io { source, .. } | TracefsError::Rejected { source, .. } => {
                source.raw_os_error()
            }
        }
    }
}
