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
    /// The kernel refused an event filter.
    #[error("the kernel rejected the filter {filter:?} for {event}:\n{explanation}")]
    FilterRejected {
        /// `system:event`.
        event: String,
        /// The filter as given.
        filter: String,
        /// The kernel's explanation with a caret.
        explanation: FilterExplanation,
    },
}

/// The kernel's explanation of a rejected event filter, as the `filter` file shows it after
/// the failed write: the filter, a caret under the offending token, and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterExplanation {
    /// The filter text as the kernel echoed it.
    pub filter: String,
    /// The caret line (spaces then `^`), if the kernel gave one.
    pub caret: Option<String>,
    /// The message, e.g. `parse_error: Field not found`.
    pub message: String,
}

impl FilterExplanation {
    /// Parses the text of a `filter` file after a rejected write.
    pub fn parse(text: &str) -> Option<FilterExplanation> {
        let lines: Vec<&str> = text.lines().collect();
        let message_at = lines.iter().position(|l| l.contains("error:"))?;
        let caret = lines[..message_at]
            .iter()
            .rev()
            .find(|l| l.trim() == "^")
            .map(|l| l.to_string());
        Some(FilterExplanation {
            filter: lines.first().map(|l| l.to_string()).unwrap_or_default(),
            caret,
            message: lines[message_at].trim().to_string(),
        })
    }
}

impl std::fmt::Display for FilterExplanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "  {}", self.filter)?;
        if let Some(caret) = &self.caret {
            writeln!(f, "  {caret}")?;
        }
        write!(f, "  {}", self.message)
    }
}

impl TracefsError {
    /// The errno behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TracefsError::NotMounted { .. } => None,
            TracefsError::FilterRejected { .. } => Some(libc::EINVAL),
            TracefsError::Io { source, .. } | TracefsError::Rejected { source, .. } => {
                source.raw_os_error()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_filter_file_is_explained() {
        let text =
            "prev_pid > > 0\n            ^\nparse_error: Invalid value (did you forget quotes)?\n";
        let e = FilterExplanation::parse(text).unwrap();
        assert_eq!(e.filter, "prev_pid > > 0");
        assert_eq!(e.caret.as_deref(), Some("            ^"));
        assert_eq!(
            e.message,
            "parse_error: Invalid value (did you forget quotes)?"
        );
        assert_eq!(FilterExplanation::parse("prev_pid > 0\n"), None);
    }
}
