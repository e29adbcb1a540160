//! The errors of reading and parsing BTF.

use crate::{BTF_MAGIC, Kind, SYS_VMLINUX};
use std::path::PathBuf;

/// Errors from reading or parsing BTF. Offsets are byte offsets from the start of the blob.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The file could not be read.
    #[error(
        "reading BTF from {path} failed: {source}; check that the file exists and is \
         readable (the kernel needs CONFIG_DEBUG_INFO_BTF=y for {SYS_VMLINUX})"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The blob ends inside a structure.
    #[error(
        "BTF is truncated at byte offset {offset}: {what} needs {need} bytes but only \
         {available} remain; the input is incomplete or not raw BTF"
    )]
    Truncated {
        /// Where the structure starts.
        offset: usize,
        /// What was being read.
        what: String,
        /// Bytes it needs.
        need: usize,
        /// Bytes left in its section.
        available: usize,
    },
    /// The first two bytes are not the BTF magic in either byte order.
    #[error(
        "no BTF magic at byte offset 0: found {found:#06x}, expected {BTF_MAGIC:#06x}; the \
         input is not raw BTF (for an ELF file, extract its .BTF section first)"
    )]
    BadMagic {
        /// The 16-bit value found, read little-endian.
        found: u16,
    },
    /// The header's version byte is not 1.
    #[error(
        "unsupported BTF version {version} at byte offset 2; only version 1 is known \
         (a newer kernel? update kscope)"
    )]
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// A header field is out of range.
    #[error("invalid BTF header field at byte offset {offset}: {reason}")]
    BadHeader {
        /// Offset of the field.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A type has a kind this parser does not know (or 0, which only `void` may have).
    #[error(
        "BTF type {id} at byte offset {offset} has unknown kind {kind}; kinds 1 to 19 are \
         known (BTF from a newer kernel? update kscope)"
    )]
    BadKind {
        /// Offset of the type.
        offset: usize,
        /// The type id.
        id: u32,
        /// The kind number found.
        kind: u8,
    },
    /// A type's `name_off` points outside the string section.
    #[error(
        "BTF type {id} at byte offset {offset} has name offset {name_off}, outside the \
         {str_len}-byte string section; the BTF is corrupt"
    )]
    BadNameOffset {
        /// Offset of the type.
        offset: usize,
        /// The type id.
        id: u32,
        /// The name offset found.
        name_off: u32,
        /// Length of the string section.
        str_len: usize,
    },
    /// A string is not NUL-terminated or not UTF-8.
    #[error("bad BTF string at byte offset {offset}: {reason}; the BTF is corrupt")]
    BadString {
        /// Offset of the string in the blob.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A type does not have the kind an operation needs (e.g. members of an `int`).
    #[error("BTF type {id} ({found}) is not {want}")]
    WrongKind {
        /// The type id (after resolving typedefs and modifiers).
        id: u32,
        /// Its kind.
        found: Kind,
        /// What was needed.
        want: &'static str,
    },
    /// Typedefs, modifiers or nesting go on without end (a loop in corrupt BTF), or a
    /// walk from the type visits more types than any real BTF needs.
    #[error(
        "BTF type {id} starts a chain of more than {limit} types (or a walk over too many); \
         the BTF is corrupt"
    )]
    TooDeep {
        /// Where the chain starts.
        id: u32,
        /// The limit.
        limit: u32,
    },
    /// A type id beyond the last type was asked for.
    #[error("BTF type id {id} does not exist: this BTF has ids 0 (void) to {count}")]
    UnknownType {
        /// The id asked for.
        id: u32,
        /// The number of types.
        count: u32,
    },
}
