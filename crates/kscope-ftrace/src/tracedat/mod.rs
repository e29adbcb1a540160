//! trace.dat, trace-cmd's file format, versions 6 and 7: the reader and the writer.
//!
//! Layout (trace-cmd's `trace-cmd.dat.v6.5` / `.v7.5` documents, checked with `trace-cmd
//! dump`): an 18-byte prefix (magic `17 08 44`, `tracing`, version string, endianness, long
//! size, page size), then in v6 a fixed sequence of metadata blocks followed by options and
//! per-CPU page data; in v7 a compression header and a chain of sections, each with a
//! 16-byte header `{u16 id, u16 flags, u32 description, u64 size}`.

/// The first three bytes of every trace.dat file.
pub const MAGIC: [u8; 3] = [0x17, 0x08, 0x44];

/// Option ids (v6 options and v7 sections share one numbering).
pub mod option {
    /// End of an option list; in v7 its 8-byte payload is the offset of the next OPTIONS
    /// section (0 = none).
    pub const DONE: u16 = 0;
    /// Date/offset of the trace.
    pub const DATE: u16 = 1;
    /// One per CPU: the text of `per_cpu/cpuN/stats`.
    pub const CPUSTAT: u16 = 2;
    /// A trace buffer (instance) and, in v7, where its per-CPU data sections are.
    pub const BUFFER: u16 = 3;
    /// The trace clock's name.
    pub const TRACECLOCK: u16 = 4;
    /// `uname -a` of the recording machine.
    pub const UNAME: u16 = 5;
    /// Hooks.
    pub const HOOK: u16 = 6;
    /// Timestamp offset.
    pub const OFFSET: u16 = 7;
    /// Number of CPUs (u32).
    pub const CPUCOUNT: u16 = 8;
    /// trace-cmd version string.
    pub const VERSION: u16 = 9;
    /// Process maps.
    pub const PROCMAPS: u16 = 10;
    /// Trace id.
    pub const TRACEID: u16 = 11;
    /// Time shift.
    pub const TIME_SHIFT: u16 = 12;
    /// Guest description.
    pub const GUEST: u16 = 13;
    /// TSC to nanoseconds conversion.
    pub const TSC2NSEC: u16 = 14;
    /// v7: the STRINGS section (section descriptions).
    pub const STRINGS: u16 = 15;
    /// v7: offset of the HEADER_INFO section.
    pub const HEADER_INFO: u16 = 16;
    /// v7: offset of the FTRACE_EVENTS section.
    pub const FTRACE_EVENTS: u16 = 17;
    /// v7: offset of the EVENT_FORMATS section.
    pub const EVENT_FORMATS: u16 = 18;
    /// v7: offset of the KALLSYMS section.
    pub const KALLSYMS: u16 = 19;
    /// v7: offset of the PRINTK section.
    pub const PRINTK: u16 = 20;
    /// v7: offset of the CMDLINES section.
    pub const CMDLINES: u16 = 21;
    /// v7: a text (latency) buffer.
    pub const BUFFER_TEXT: u16 = 22;
    /// BTF of the recording kernel.
    pub const BTF_FILE: u16 = 23;
    /// Last boot info.
    pub const LAST_BOOT_INFO: u16 = 24;
    /// Module list.
    pub const MODULES_FILE: u16 = 25;
}

/// v7: the id of an OPTIONS section (the same number as the DONE option).
pub const SECTION_OPTIONS: u16 = 0;

/// v7 section header flag: the payload is compressed (`{u32 compressed size, u32
/// uncompressed size, data}`).
pub const SECTION_COMPRESSED: u16 = 1;

pub mod read;
pub mod write;
