use std::io;

use crate::TracefsError;
use crate::page::PageError;

/// Why writing a trace.dat file failed. Caller mistakes (a CPU out of range, a page of the
/// wrong size, a name with a NUL in it) are reported here; the writer never panics on them.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading from or writing to the output failed.
    #[error("{what} at offset {offset}: {source}")]
    Io {
        /// What was being done, e.g. "writing the KALLSYMS section".
        what: String,
        /// The file offset the operation started at.
        offset: u64,
        /// The error.
        source: io::Error,
    },
    /// The writer options cannot describe a valid file.
    #[error("invalid trace.dat writer options: {0}")]
    Options(String),
    /// Some metadata cannot be stored (a name with a NUL in it, a size too large for its
    /// field, …).
    #[error("invalid trace.dat metadata: {0}")]
    Metadata(String),
    /// Data was given for a CPU the file does not have.
    #[error("CPU {cpu} is out of range: the file has {cpus} CPUs")]
    CpuOutOfRange {
        /// The CPU given.
        cpu: u32,
        /// The file's CPU count.
        cpus: u32,
    },
    /// A page (sub-buffer) was not exactly the sub-buffer size.
    #[error("CPU {cpu}: a page of {len} bytes was given, the sub-buffer size is {expected}")]
    PageSize {
        /// The CPU.
        cpu: u32,
        /// The length given.
        len: usize,
        /// The sub-buffer size.
        expected: usize,
    },
    /// A page's header does not describe a valid sub-buffer.
    #[error("CPU {cpu}, page {page}: {source}")]
    BadPage {
        /// The CPU.
        cpu: u32,
        /// The index of the page among this CPU's pages.
        page: u64,
        /// What is wrong with it.
        source: PageError,
    },
    /// A CPU's data stream ended inside a page.
    #[error("CPU {cpu}: the data ended {len} bytes into a page of {expected} bytes")]
    PartialPage {
        /// The CPU.
        cpu: u32,
        /// Bytes of the incomplete page.
        len: usize,
        /// The sub-buffer size.
        expected: usize,
    },
    /// Compressing a block failed.
    #[error("compressing {what}: {source}")]
    Compress {
        /// What was being compressed.
        what: String,
        /// The compressor's error.
        source: io::Error,
    },
    /// Reading the metadata from tracefs failed.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// Reading a file outside tracefs (kallsyms, uname) failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// An earlier error left the file incomplete; the writer accepts nothing more.
    #[error("the trace.dat writer failed earlier ({0}); the file is incomplete")]
    Poisoned(String),
}

impl WriteError {
    pub(crate) fn io(what: impl Into<String>, offset: u64, source: io::Error) -> WriteError {
        WriteError::Io {
            what: what.into(),
            offset,
            source,
        }
    }
}
