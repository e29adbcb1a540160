//! What can be wrong with a trace.dat file: every error names the part of the file it was
//! reading and the file offset where the problem is.

use std::borrow::Cow;
use std::fmt;

use crate::page::PageError;

/// A trace.dat file that cannot be read: the part of the file (`section`), where (`offset`,
/// and for data that had to be decompressed first, the byte of the decompressed data), and
/// what is wrong (`kind`).
///
/// Its text reads like `event formats of system sched, file offset 2063 (byte 812 of the
/// decompressed data): the size 4294967295 needs more than the 3301 bytes left`.
#[derive(Debug, thiserror::Error)]
#[error("{section}, {place}: {kind}")]
pub struct ReadError {
    /// The part of the file being read: "file prefix", "options", "event formats of system
    /// sched", "CPU 1 data", …
    pub section: Cow<'static, str>,
    /// Where the problem is.
    pub place: Place,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// Where in the file an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// A file offset: the byte where the problem is, or for compressed data, the first byte
    /// of the compressed block that holds it.
    pub offset: u64,
    /// For compressed data: the offset inside the decompressed block.
    pub decompressed: Option<u64>,
}

impl Place {
    /// A plain file offset.
    pub fn file(offset: u64) -> Place {
        Place {
            offset,
            decompressed: None,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file offset {}", self.offset)?;
        if let Some(at) = self.decompressed {
            write!(
                f,
                " (byte {at} of the data decompressed from the block there)"
            )?;
        }
        Ok(())
    }
}

impl ReadError {
    pub(crate) fn new(
        section: impl Into<Cow<'static, str>>,
        place: Place,
        kind: ErrorKind,
    ) -> ReadError {
        ReadError {
            section: section.into(),
            place,
            kind,
        }
    }

    pub(crate) fn at(section: impl Into<Cow<'static, str>>, offset: u64, kind: ErrorKind) -> Self {
        ReadError::new(section, Place::file(offset), kind)
    }

    /// The file offset of the problem (see [`Place::offset`]).
    pub fn offset(&self) -> u64 {
        self.place.offset
    }
}

/// What is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be opened, examined or mapped.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// The data ends before the item being read.
    #[error("{what} needs {needed} bytes but only {available} are left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// The magic bytes or the `tracing` label are wrong.
    #[error("not a trace.dat file: the first 10 bytes are {0:02x?}")]
    BadMagic(Vec<u8>),
    /// A version other than 6 or 7.
    #[error("unsupported trace.dat version {0:?} (6 and 7 are known)")]
    BadVersion(String),
    /// A byte that must be 0 or 1 (endianness), 4 or 8 (long size), …
    #[error("bad {what}: {value}")]
    BadValue {
        /// Which value.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A fixed label (`header_page`, `options  `, `flyrecord`) is not there.
    #[error("expected {expected:?}, found {found:?}")]
    BadLabel {
        /// The label expected.
        expected: &'static str,
        /// What the file holds there.
        found: String,
    },
    /// A NUL-terminated string runs to the end of its data.
    #[error("a string has no terminating NUL")]
    Unterminated,
    /// A size or count larger than what is left of the data that should hold it.
    #[error("{what} {size} is larger than the {available} bytes left")]
    TooLarge {
        /// What the size is of.
        what: &'static str,
        /// The size found.
        size: u64,
        /// Bytes available.
        available: u64,
    },
    /// An offset that points outside the file (or to a place it cannot).
    #[error("{what} {target} is outside the file ({len} bytes)")]
    BadOffset {
        /// What the offset is of.
        what: &'static str,
        /// The offset found.
        target: u64,
        /// The file's length.
        len: u64,
    },
    /// A v7 section header with another id than the option pointing at it implies.
    #[error("expected a section with id {expected}, found id {found}")]
    WrongSection {
        /// The expected id.
        expected: u16,
        /// The id found.
        found: u16,
    },
    /// Compressed data in a file whose compression algorithm is not known here.
    #[error("the data is compressed with {0:?}, which this reader does not know")]
    UnknownCompression(String),
    /// Compressed data in a file whose header says it is not compressed.
    #[error("the data is marked compressed but the file names no compression algorithm")]
    NotCompressed,
    /// The decompressor failed.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// Decompressed data of another size than its header says.
    #[error("decompressed to {actual} bytes but the header says {expected}")]
    SizeMismatch {
        /// The size in the header.
        expected: u64,
        /// The size obtained (or a lower bound when decompression was stopped).
        actual: u64,
    },
    /// Compressed CPU data whose chunks do not add up to the size recorded for it.
    #[error("the recorded size {recorded} disagrees with the chunks, which take {actual} bytes")]
    ChunkedSize {
        /// The size in the BUFFER option.
        recorded: u64,
        /// The bytes the chunk count and the chunks take.
        actual: u64,
    },
    /// Data that overlaps another part of the file.
    #[error("it overlaps {other} (file offsets {other_start}..{other_end})")]
    Overlap {
        /// The other part.
        other: String,
        /// Where the other part starts.
        other_start: u64,
        /// Where it ends.
        other_end: u64,
    },
    /// CPU data outside the payload of its BUFFER section.
    #[error("it lies outside its buffer section's payload (file offsets {start}..{end})")]
    OutsideSection {
        /// Where the payload starts.
        start: u64,
        /// Where it ends.
        end: u64,
    },
    /// Bytes left in a section after the last item its format defines.
    #[error("{0} bytes are left after the end of the list")]
    TrailingBytes(u64),
    /// The v7 chain of OPTIONS sections loops.
    #[error("the chain of options sections comes back to offset {0}")]
    OptionsLoop(u64),
    /// A required part is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// A sub-buffer size that cannot be right.
    #[error(
        "sub-buffer size {0} is not usable (it must hold the page header and be at most 128 MiB)"
    )]
    BadSubbufSize(u64),
    /// A decompressed block of CPU data that is not a whole number of sub-buffers.
    #[error("{size} bytes are not a whole number of {subbuf_size}-byte sub-buffers")]
    PartialSubbuf {
        /// The block's size.
        size: u64,
        /// The sub-buffer size.
        subbuf_size: u64,
    },
    /// `header_page` cannot be parsed.
    #[error("{0}")]
    HeaderPage(#[source] PageError),
    /// A ring-buffer page cannot be decoded.
    #[error("sub-buffer {index}: {source}")]
    Page {
        /// Index of the sub-buffer in the CPU's data.
        index: u64,
        /// What is wrong with it.
        #[source]
        source: PageError,
    },
    /// No buffer with that index, or no such CPU in it.
    #[error("no such {0}")]
    NoSuch(String),
}
