//! Reading trace.dat files: versions 6 and 7, uncompressed or compressed with zstd or zlib,
//! as trace-cmd and kscope write them.
//!
//! [`TraceFile::open`] maps the file and reads every metadata part at once: the prefix,
//! header_page and header_event, the ftrace and per-system event formats, kallsyms, printk
//! formats, cmdlines, the CPU count, all options (typed where the format is known), and
//! where each buffer's per-CPU ring-buffer data is. The ring-buffer data itself is read
//! only when asked for, and streamed: uncompressed sub-buffers are borrowed from the
//! mapping, compressed ones are decompressed one chunk at a time, so memory does not grow
//! with the size of the file. A cursor over a mapped file tells the kernel to drop the
//! mapped pages it has moved past (every MiB, `madvise(MADV_DONTNEED)`), so they do not
//! stay resident either; reading them again (another cursor) faults them back in.
//!
//! - [`TraceFile::cpu_pages`]: one CPU's sub-buffers.
//! - [`TraceFile::cpu_records`]: one CPU's records, a cursor independent of the others (it
//!   can be moved to a thread).
//! - [`TraceFile::records`], [`TraceFile::all_records`]: the records of several CPUs merged
//!   on their timestamps, with lost-event notices.
//!
//! Nothing here panics or loops forever on a bad file, and sizes read from the file are
//! checked against the bytes that should hold them before anything is allocated: a
//! truncated or corrupted file gives a [`ReadError`] naming the part of the file and the
//! offset. (A file on disk that is truncated by someone else *while* it is mapped can still
//! raise SIGBUS, as with any mapping; use [`TraceFile::from_bytes`] for files that may
//! change.)
//!
//! Layout notes checked on trace-cmd 3.1.6's files:
//! - v7: a STRINGS section (section descriptions) follows the last OPTIONS section; no
//!   option points at it.
//! - v7 compressed: the BUFFER section is flagged compressed but its payload is not a
//!   compressed block: each CPU's data is a chunk count and chunks, and the size recorded
//!   for a CPU leaves out the 4-byte chunk count.
//! - v6 instances: a BUFFER option holds only {offset, name}; at the offset is a
//!   `flyrecord` block like the top instance's, clock text included.
//!
//! ```no_run
//! use kscope_ftrace::tracedat::read::{Item, TraceFile};
//!
//! let file = TraceFile::open("trace.dat")?;
//! let events = file.event_table();
//! for item in file.all_records() {
//!     match item? {
//!         Item::Record(r) => {
//!             let id = u16::from_le_bytes([r.payload[0], r.payload[1]]);
//!             let name = events.get(id.into()).map_or("?", |e| e.format.name.as_str());
//!             println!("[{:03}] {} {name}", r.cpu, r.timestamp);
//!         }
//!         Item::Lost(lost) => println!("CPU:{} lost {:?}", lost.cpu, lost.missed),
//!     }
//! }
//! # Ok::<(), kscope_ftrace::tracedat::read::ReadError>(())
//! ```

mod bytes;
mod compress;
mod cpu;
mod error;
mod meta;
mod options;
mod parse;
mod symbols;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

pub use compress::Compression;
pub use cpu::{CpuPages, CpuRecords, Item, LostEvents, MergedRecords, Record, TextChunks};
pub use error::{ErrorKind, Place, ReadError};
pub use meta::EventSystem;
pub use options::{
    BufferOption, BufferTextOption, CpuData, OptionValue, TraceOption, Tsc2Nsec, option_name,
};

use crate::format::{Dialect, EventFormat, FormatError, RenderContext};
use crate::page::{Endian, PageFormat};
use crate::tracedat::option as id;
use cpu::ChunkReader;
use kscope_sys::mmap::Mapping;
use parse::{Meta, cpu_section};

/// One instance's ring-buffer data: where each CPU's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffer {
    /// The instance name (`""` for the top instance).
    pub name: String,
    /// The trace clock its timestamps are in (v6: from the `[clock]` text after the CPU
    /// table, present when the file has a TRACECLOCK option).
    pub clock: Option<String>,
    /// The sub-buffer size (v6: the page size).
    pub subbuf_size: u32,
    /// v6: the offset of its `flyrecord` label; v7: of its BUFFER section.
    pub offset: u64,
    /// Whether its CPU data is compressed (a chunk count, then chunks).
    pub compressed: bool,
    /// Each CPU's data, in file order.
    pub cpus: Vec<CpuData>,
}

/// A latency (text) buffer: v6 `latency`, v7 BUFFER_TEXT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBuffer {
    /// The instance name.
    pub name: String,
    /// The trace clock (v7).
    pub clock: Option<String>,
    /// The file offset of the text (or of its chunk count when compressed).
    pub offset: u64,
    /// Its size in the file.
    pub size: u64,
    /// Whether it is compressed in chunks.
    pub compressed: bool,
}

/// A v7 section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    /// The section id (the option ids: OPTIONS 0, BUFFER 3, STRINGS 15, …).
    pub id: u16,
    /// Its flags (1: compressed).
    pub flags: u16,
    /// Its description's offset in the STRINGS data.
    pub description_id: u32,
    /// Its description (`"options"`, `"buffer flyrecord "`, …), when found.
    pub description: Option<String>,
    /// The file offset of the header.
    pub offset: u64,
    /// The size of the payload after the 16-byte header, as stored.
    pub size: u64,
}

/// The CPUSTAT texts of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuStats {
    /// The instance name (`""` for the top instance).
    pub buffer: String,
    /// The text of `per_cpu/cpuN/stats` for each CPU, in file order.
    pub cpus: Vec<String>,
}

/// Every event format of a file, parsed, by id; see [`TraceFile::event_table`].
#[derive(Debug, Clone, Default)]
pub struct EventTable {
    events: Vec<EventEntry>,
    by_id: HashMap<u32, usize>,
    errors: Vec<FormatProblem>,
}

/// One parsed event format and its system.
#[derive(Debug, Clone)]
pub struct EventEntry {
    /// The system (`"ftrace"` for the ftrace formats).
    pub system: String,
    /// The format.
    pub format: EventFormat,
}

/// A format text that did not parse.
#[derive(Debug, Clone)]
pub struct FormatProblem {
    /// The system.
    pub system: String,
    /// Its index among the system's formats.
    pub index: usize,
    /// Why.
    pub error: FormatError,
}

impl EventTable {
    /// The event whose `common_type` is `id`.
    pub fn get(&self, id: u32) -> Option<&EventEntry> {
        self.by_id.get(&id).map(|&i| &self.events[i])
    }

    /// Every parsed event, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &EventEntry> {
        self.events.iter()
    }

    /// The number of parsed events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event parsed.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The formats that did not parse.
    pub fn errors(&self) -> &[FormatProblem] {
        &self.errors
    }
}

#[derive(Debug)]
enum Storage {
    Mapped(Mapping),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m.bytes(),
            Storage::Owned(v) => v,
        }
    }
}

/// An open trace.dat file: its metadata, read at open, and streaming access to its
/// ring-buffer data.
#[derive(Debug)]
pub struct TraceFile {
    storage: Storage,
    meta: Meta,
}

impl TraceFile {
    /// Maps the file at `path` and reads its metadata.
    pub fn open(path: impl AsRef<Path>) -> Result<TraceFile, ReadError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| {
            ReadError::at(format!("file {}", path.display()), 0, ErrorKind::Io(e))
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let storage = if len == 0 {
            Storage::Owned(Vec::new())
        } else {
            let len = usize::try_from(len).map_err(|_| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file is too large to map",
                ))
            })?;
            Storage::Mapped(Mapping::read_only(file.as_fd(), len).map_err(io)?)
        };
        TraceFile::with_storage(storage)
    }

    /// Reads a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<TraceFile, ReadError> {
        TraceFile::with_storage(Storage::Owned(bytes))
    }

    fn with_storage(storage: Storage) -> Result<TraceFile, ReadError> {
        let meta = parse::parse(storage.bytes())?;
        if let Storage::Mapped(m) = &storage {
            // Everything parsed is copied out; the data sections are read (and released)
            // later, as they are streamed. Only a hint: failure changes nothing.
            let _ = m.release(0, m.bytes().len());
        }
        Ok(TraceFile { storage, meta })
    }

    fn mapping(&self) -> Option<&Mapping> {
        match &self.storage {
            Storage::Mapped(m) => Some(m),
            Storage::Owned(_) => None,
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// The file version: 6 or 7.
    pub fn version(&self) -> u32 {
        self.meta.version
    }

    /// The byte order of the recording machine.
    pub fn endian(&self) -> Endian {
        self.meta.endian
    }

    /// `sizeof(long)` of the recorder's user space (the kernel's is in header_page).
    pub fn long_size(&self) -> u8 {
        self.meta.long_size
    }

    /// The recording machine's page size.
    pub fn page_size(&self) -> u32 {
        self.meta.page_size
    }

    /// The compression algorithm (v6: [`Compression::None`]).
    pub fn compression(&self) -> &Compression {
        &self.meta.compression
    }

    /// The compression algorithm's name and version as stored (v7; empty in v6).
    pub fn compression_header(&self) -> (&str, &str) {
        (&self.meta.compression_name, &self.meta.compression_version)
    }

    /// The text of `events/header_page`.
    pub fn header_page(&self) -> &str {
        &self.meta.header.header_page
    }

    /// The text of `events/header_event`.
    pub fn header_event(&self) -> &str {
        &self.meta.header.header_event
    }

    /// How to decode the ring-buffer pages (layout from header_page, the file's byte
    /// order).
    pub fn page_format(&self) -> PageFormat {
        self.meta.page_format
    }

    /// The ftrace event formats (`events/ftrace/*/format`).
    pub fn ftrace_formats(&self) -> &[String] {
        &self.meta.ftrace_formats
    }

    /// The event formats of each system.
    pub fn event_systems(&self) -> &[EventSystem] {
        &self.meta.systems
    }

    /// The kallsyms text (empty when the file has none).
    pub fn kallsyms(&self) -> &str {
        &self.meta.kallsyms
    }

    /// The printk formats text.
    pub fn printk_formats(&self) -> &str {
        &self.meta.printk_formats
    }

    /// The saved cmdlines text (`pid comm` per line).
    pub fn cmdlines(&self) -> &str {
        &self.meta.cmdlines
    }

    /// The number of CPUs: v6 from the header, v7 from CPUCOUNT (else from the buffers).
    pub fn cpu_count(&self) -> u32 {
        self.meta.cpu_count
    }

    /// Every option in file order (v7: DONE options included, one per OPTIONS section).
    pub fn options(&self) -> &[TraceOption] {
        &self.meta.options
    }

    fn text_option(&self, option: u16) -> Option<&str> {
        self.meta
            .options
            .iter()
            .find(|o| o.id == option)
            .and_then(|o| o.text())
    }

    /// UNAME: `uname -a`-style text of the recording machine.
    pub fn uname(&self) -> Option<&str> {
        self.text_option(id::UNAME)
    }

    /// TRACECLOCK: the content of `trace_clock` (`[local] global …`).
    pub fn trace_clocks(&self) -> Option<&str> {
        self.text_option(id::TRACECLOCK)
    }

    /// VERSION: the version of the program that wrote the file.
    pub fn recorder_version(&self) -> Option<&str> {
        self.text_option(id::VERSION)
    }

    /// DATE.
    pub fn date(&self) -> Option<&str> {
        self.text_option(id::DATE)
    }

    /// OFFSET: a fixed time added to every timestamp when reporting.
    pub fn time_offset(&self) -> Option<&str> {
        self.text_option(id::OFFSET)
    }

    /// CPUCOUNT.
    pub fn cpu_count_option(&self) -> Option<u32> {
        self.meta.options.iter().find_map(|o| match o.value {
            OptionValue::CpuCount(n) => Some(n),
            _ => None,
        })
    }

    /// TRACEID.
    pub fn trace_id(&self) -> Option<u64> {
        self.meta.options.iter().find_map(|o| match o.value {
            OptionValue::TraceId(n) => Some(n),
            _ => None,
        })
    }

    /// TSC2NSEC.
    pub fn tsc2nsec(&self) -> Option<Tsc2Nsec> {
        self.meta.options.iter().find_map(|o| match o.value {
            OptionValue::Tsc2Nsec(t) => Some(t),
            _ => None,
        })
    }

    /// The CPUSTAT texts, grouped by instance (trace-cmd separates instances with a
    /// CPUSTAT option reading `Buffer: NAME`).
    pub fn cpu_stats(&self) -> Vec<CpuStats> {
        let mut out = vec![CpuStats {
            buffer: String::new(),
            cpus: Vec::new(),
        }];
        for option in self.meta.options.iter().filter(|o| o.id == id::CPUSTAT) {
            let Some(text) = option.text() else { continue };
            if let Some(name) = text.trim_start().strip_prefix("Buffer:") {
                out.push(CpuStats {
                    buffer: name.trim().to_string(),
                    cpus: Vec::new(),
                });
            } else if let Some(last) = out.last_mut() {
                last.cpus.push(text.to_string());
            }
        }
        if out.len() > 1 && out[0].cpus.is_empty() {
            out.remove(0);
        }
        out
    }

    /// The instances whose ring-buffer data the file holds (the top instance first when
    /// there is one).
    pub fn buffers(&self) -> &[Buffer] {
        &self.meta.buffers
    }

    /// The latency (text) buffers.
    pub fn text_buffers(&self) -> &[TextBuffer] {
        &self.meta.text_buffers
    }

    /// v7: every section header read, in the order read (empty for v6).
    pub fn sections(&self) -> &[SectionInfo] {
        &self.meta.sections
    }

    fn chunk_reader(&self, buffer: usize, cpu: u32) -> Result<(ChunkReader<'_>, usize), ReadError> {
        let b = self.meta.buffers.get(buffer).ok_or_else(|| {
            ReadError::at(
                "buffers",
                0,
                ErrorKind::NoSuch(format!(
                    "buffer {buffer} (the file has {})",
                    self.meta.buffers.len()
                )),
            )
        })?;
        let data = b.cpus.iter().find(|c| c.cpu == cpu).ok_or_else(|| {
            ReadError::at(
                "buffers",
                b.offset,
                ErrorKind::NoSuch(format!("CPU {cpu} in buffer {:?}", b.name)),
            )
        })?;
        let reader = ChunkReader::new(
            self.bytes(),
            self.meta.endian,
            cpu_section(&b.name, cpu).into(),
            data.offset,
            data.size,
            b.compressed,
            &self.meta.compression,
            b.subbuf_size as usize,
        )
        .with_release(self.mapping());
        Ok((reader, b.subbuf_size as usize))
    }

    /// The sub-buffers of CPU `cpu` of buffer `buffer` (an index into
    /// [`TraceFile::buffers`]), in order. Uncompressed ones are borrowed from the file;
    /// compressed ones are decompressed one chunk at a time. An unknown buffer or CPU gives
    /// one error.
    pub fn cpu_pages(&self, buffer: usize, cpu: u32) -> CpuPages<'_> {
        match self.chunk_reader(buffer, cpu) {
            Ok((reader, page_size)) => CpuPages::new(reader, page_size),
            Err(e) => CpuPages::failed(e),
        }
    }

    /// The records of CPU `cpu` of buffer `buffer`, in order, with lost-event notices.
    pub fn cpu_records(&self, buffer: usize, cpu: u32) -> Result<CpuRecords<'_>, ReadError> {
        let (reader, page_size) = self.chunk_reader(buffer, cpu)?;
        Ok(CpuRecords::new(
            buffer,
            cpu,
            reader,
            self.meta.page_format,
            page_size,
        ))
    }

    /// The records of every CPU of buffer `buffer`, merged in time order.
    pub fn records(&self, buffer: usize) -> Result<MergedRecords<'_>, ReadError> {
        let b = self.meta.buffers.get(buffer).ok_or_else(|| {
            ReadError::at("buffers", 0, ErrorKind::NoSuch(format!("buffer {buffer}")))
        })?;
        let cursors = b
            .cpus
            .iter()
            .filter(|c| c.size > 0)
            .map(|c| self.cpu_records(buffer, c.cpu))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MergedRecords::new(cursors))
    }

    /// The records of every CPU of every buffer, merged in time order (ties: the lower
    /// buffer index, then the lower CPU).
    pub fn all_records(&self) -> MergedRecords<'_> {
        let cursors = self
            .meta
            .buffers
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                b.cpus
                    .iter()
                    .filter(|c| c.size > 0)
                    .map(move |c| (i, c.cpu))
            })
            .filter_map(|(i, cpu)| self.cpu_records(i, cpu).ok())
            .collect();
        MergedRecords::new(cursors)
    }

    /// The text of latency buffer `index` (see [`TraceFile::text_buffers`]), in blocks:
    /// borrowed from the file, or decompressed one chunk at a time.
    pub fn text_chunks(&self, index: usize) -> TextChunks<'_> {
        match self.meta.text_buffers.get(index) {
            Some(t) => TextChunks::new(ChunkReader::new(
                self.bytes(),
                self.meta.endian,
                "latency text".into(),
                t.offset,
                t.size,
                t.compressed,
                &self.meta.compression,
                1,
            )),
            None => TextChunks::failed(ReadError::at(
                "latency text",
                0,
                ErrorKind::NoSuch(format!("text buffer {index}")),
            )),
        }
    }

    /// Parses every event format (ftrace's under the system `ftrace`). Formats that do not
    /// parse are listed in [`EventTable::errors`]; an unparsable `print fmt` is kept (see
    /// [`EventFormat::parse_lenient`]).
    pub fn event_table(&self) -> EventTable {
        let mut table = EventTable::default();
        let all = self
            .meta
            .ftrace_formats
            .iter()
            .enumerate()
            .map(|(i, t)| ("ftrace", i, t))
            .chain(self.meta.systems.iter().flat_map(|s| {
                s.formats
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (s.name.as_str(), i, t))
            }));
        for (system, index, text) in all {
            match EventFormat::parse_lenient(text) {
                Ok(format) => {
                    table.by_id.insert(format.id, table.events.len());
                    table.events.push(EventEntry {
                        system: system.to_string(),
                        format,
                    });
                }
                Err(error) => table.errors.push(FormatProblem {
                    system: system.to_string(),
                    index,
                    error,
                }),
            }
        }
        table
    }

    /// A context for rendering this file's records as trace-cmd does: its kallsyms and
    /// printk formats, byte order and kernel `long` size.
    pub fn render_context(&self) -> RenderContext {
        let mut ctx = RenderContext::new()
            .with_printk_formats(&self.meta.printk_formats)
            .with_dialect(Dialect::TraceCmd);
        if !self.meta.kallsyms.is_empty() {
            ctx = ctx.with_symbols(Arc::new(symbols::LazyKallsyms::new(
                self.meta.kallsyms.clone(),
            )));
        }
        ctx.big_endian = self.meta.endian == Endian::Big;
        ctx.long_size = self.meta.page_format.layout.commit_size as u8;
        ctx
    }
}
