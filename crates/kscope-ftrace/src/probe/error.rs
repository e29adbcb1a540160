use std::path::PathBuf;

use super::elf::ElfError;
use crate::TracefsError;

/// A failed `probe add|list|del` step: what failed, on what, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The probe location could not be parsed.
    #[error("bad probe {spec:?}: {reason}")]
    BadSpec {
        /// The location as given.
        spec: String,
        /// What is wrong and the accepted forms.
        reason: String,
    },
    /// The event name is not one tracefs accepts.
    #[error("bad probe name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A binary given without a slash is not in `$PATH`.
    #[error(
        "{binary}: no such program in $PATH; give its path (e.g. ./{binary} or /usr/lib/…/{binary})"
    )]
    NotInPath {
        /// The name given.
        binary: String,
    },
    /// The binary does not exist or cannot be opened.
    #[error("cannot open the binary {}: {source}", path.display())]
    Binary {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Resolving the symbol in the binary failed.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// This kernel has no control file for the probe kind.
    #[error(
        "this kernel cannot create {what}: {file} is missing from tracefs (kernel built without {config}?)"
    )]
    Unsupported {
        /// `kprobes` or `uprobes`.
        what: &'static str,
        /// The missing control file.
        file: &'static str,
        /// The kernel option that provides it.
        config: &'static str,
    },
    /// An event of that name exists already in the group.
    #[error(
        "kscope:{name} exists already ({line}); remove it with `kscope probe del {name}` or choose another --name"
    )]
    Exists {
        /// The name.
        name: String,
        /// Its current definition.
        line: String,
    },
    /// The kernel refused the definition.
    #[error("the kernel rejected the probe `{definition}`: {errno}{}{}",
        error_log.as_deref().map(|l| format!("\n{l}")).unwrap_or_default(),
        hint.as_deref().map(|h| format!("\nhelp: {h}")).unwrap_or_default())]
    Rejected {
        /// The line written to the control file.
        definition: String,
        /// The kernel's errno as text.
        errno: std::io::Error,
        /// The kernel's `error_log` entry (message, command and caret), when it wrote one.
        error_log: Option<String>,
        /// What to do, when kscope can tell (e.g. the nearest kernel symbols).
        hint: Option<String>,
    },
    /// `probe del` matched nothing.
    #[error("no kscope probe matches {pattern:?}; `kscope probe list` shows them")]
    NoMatch {
        /// The name or glob.
        pattern: String,
    },
    /// The event cannot be removed because something uses it.
    #[error(
        "kscope:{name} is in use ({users}), so the kernel keeps it; stop that first, then delete it again"
    )]
    InUse {
        /// The event name.
        name: String,
        /// Who uses it, as far as tracefs shows.
        users: String,
    },
    /// Another tracefs failure.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
}
