//! Writing trace.dat files (trace-cmd's format) that `trace-cmd report` 3.1.6 and
//! KernelShark read: version 7 (uncompressed or zstd) and version 6.
//!
//! ```
//! use std::io::Cursor;
//! use kscope_ftrace::tracedat::write::{Metadata, TraceDatWriter, WriterOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually `Metadata::from_tracefs(&tracefs, &instance, &events)?`.
//! let metadata = Metadata {
//!     cpu_count: 2,
//!     trace_clock: "local".into(),
//!     ..Metadata::default()
//! };
//! let mut page = vec![0u8; 4096]; // one sub-buffer from per_cpu/cpuN/trace_pipe_raw
//! page[8] = 8; // commit: 8 bytes used
//! page[16] = 1; // one 4-byte record
//! let options = WriterOptions { page_size: 4096, subbuf_size: 4096, ..WriterOptions::default() };
//! let mut writer = TraceDatWriter::new(Cursor::new(Vec::new()), options, metadata)?;
//! writer.write_page(1, &page)?; // pages of any CPU, in any order
//! writer.write_page(0, &page)?;
//! writer.write_page(1, &page)?;
//! let file = writer.finish()?.into_inner();
//! assert_eq!(&file[..12], b"\x17\x08\x44tracing7\0");
//! # Ok(()) }
//! ```
//!
//! # Layout written
//!
//! **v7**: prefix; compression header; sections HEADER_INFO, FTRACE_EVENTS,
//! EVENT_FORMATS, KALLSYMS, PRINTK (compressed with zstd when asked); then the BUFFER
//! (flyrecord) section holding every CPU's pages, page-aligned; at [`TraceDatWriter::finish`]
//! the CMDLINES section, one OPTIONS section (the offsets of the metadata sections,
//! TRACECLOCK, UNAME, VERSION, CPUSTAT per CPU, CMDLINES, CPUCOUNT, BUFFER, DONE) and
//! the STRINGS section, and the header's pointer to the OPTIONS section is patched.
//!
//! **v6**: prefix; header_page/header_event; ftrace and event formats; kallsyms; printk
//! formats; cmdlines; CPU count; then room reserved for the options and the `flyrecord`
//! block (offsets per CPU and `[clock]`), which are written at `finish`; then the CPU data,
//! page-aligned.
//!
//! # Streaming design
//!
//! The CPU data goes straight into the final file, with no per-CPU temporary files, and
//! pages of different CPUs may be written in any interleaving
//! ([`TraceDatWriter::write_page`] takes the CPU). Each CPU owns a *region* of the data
//! area (see `regions.rs`): the region last in the file grows freely; the others have
//! [`WriterOptions::cpu_reserve`] bytes each and, when one is full, it is moved once to
//! the end of the file with twice the room. So:
//!
//! * writing CPU after CPU (as `trace-cmd extract` would) gives a compact file with no
//!   copy at all, whatever the reserve;
//! * a recorder that interleaves CPUs sets `cpu_reserve` to about what one CPU will
//!   produce (on a sparse-capable file system an over-estimate costs no disk space: the
//!   unused part of a reservation is never written, so it stays a hole); a CPU that
//!   outgrows it is copied once, and the copies total at most about the data size
//!   (geometric growth);
//! * [`TraceDatWriter::finish_collapsing`] then removes the gaps (unused reservations,
//!   space left by moved regions) with a caller-supplied `collapse(offset, len)`, meant to
//!   be `fallocate(FALLOC_FL_COLLAPSE_RANGE)`: on ext4 and xfs that shifts extents without
//!   copying data, so the final file is as compact as a sequential one. (This crate
//!   forbids `unsafe`, so the call itself belongs in `kscope-sys`.)
//!
//! Only the per-CPU `{offset, size}` and the section sizes depend on how much was written;
//! v7 lets sections sit anywhere, so the options are written after the data at `finish`
//! (v6 reserves their room before the data). Nothing else is held in memory but a write
//! buffer per CPU ([`WriterOptions::write_buffer`]) and, with zstd, the chunk being filled
//! (10 pages per CPU, as trace-cmd does).
//!
//! A recorder can therefore run one writer thread that copies each page straight from
//! the ring buffer (a `trace_pipe_raw` read or the ring-buffer mapping) into
//! [`TraceDatWriter::write_page`]: one copy into the write buffer, then large writes.
//!
//! Why not something else: trace-cmd 3.1.6 prints nothing at all (and exits 0) for a v7
//! file whose BUFFER option lists a CPU twice, so CPU data cannot be split into chunks
//! listed separately; a v6 file has one `{offset, size}` per CPU too.
//!
//! Pages whose `commit` word is 0 (nothing in them, nothing lost) are dropped: readers skip
//! them anyway.

mod encode;
mod error;
mod metadata;
mod out;
mod regions;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

pub use error::WriteError;
pub use metadata::{Metadata, instance_cpu_count, read_cpu_stats};

use encode::{CpuExtent, Enc, Order, Strings, align_up};
use out::Out;
use regions::Regions;

use crate::page::{Endian, Page, PageFormat, PageLayout};
use crate::tracedat::{SECTION_COMPRESSED, option};

/// The trace.dat version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileVersion {
    /// Version 6 (trace-cmd < 3.0, `--file-version 6`): no compression.
    V6,
    /// Version 7 (trace-cmd ≥ 3.0): sections, optional compression.
    #[default]
    V7,
}

/// Compression of a v7 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Nothing compressed (the compression header says `none`).
    #[default]
    None,
    /// zstd at this level. Metadata sections are compressed whole, CPU data in chunks of
    /// [`WriterOptions::chunk_pages`] pages, as trace-cmd does.
    Zstd {
        /// The zstd level (1–22; 0 is zstd's default, 3).
        level: i32,
    },
}

/// How to write the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// The file version (default 7).
    pub version: FileVersion,
    /// Compression (v7 only; default none).
    pub compression: Compression,
    /// The host page size (default: this machine's). The prefix stores the larger of it
    /// and [`WriterOptions::subbuf_size`]: readers cut CPU data into pages of the prefix's
    /// size (trace-cmd 3.1.6 fails "to init data" on 8 KiB sub-buffers in a file whose
    /// prefix says 4096, and reads them when it says 8192). CPU data is aligned to it.
    pub page_size: u32,
    /// The ring buffer's sub-buffer size: every page given must be exactly this long
    /// (default: the page size; larger when `buffer_subbuf_size_kb` was raised, Linux ≥
    /// 6.8). Stored in the v7 BUFFER option too.
    pub subbuf_size: u32,
    /// `sizeof(long)` of the recording user space (default: this process's).
    pub long_size: u8,
    /// Bytes of file space set aside for each CPU's region when it is started (rounded up
    /// to the page size; default 0). See the module docs.
    pub cpu_reserve: u64,
    /// Bytes buffered per CPU before they are written (default 256 KiB; 0 writes every
    /// page at once).
    pub write_buffer: usize,
    /// Pages per compressed chunk of CPU data (default 10, as trace-cmd).
    pub chunk_pages: u32,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        let page_size = u32::try_from(kscope_sys::bpf::page_size()).unwrap_or(4096);
        WriterOptions {
            version: FileVersion::V7,
            compression: Compression::None,
            page_size,
            subbuf_size: page_size,
            long_size: std::mem::size_of::<libc::c_long>() as u8,
            cpu_reserve: 0,
            write_buffer: 256 * 1024,
            chunk_pages: 10,
        }
    }
}

/// What was written for one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuWritten {
    /// Pages stored.
    pub pages: u64,
    /// Pages dropped because their `commit` word was 0.
    pub empty_pages: u64,
    /// Bytes of the CPU's data in the file (compressed size with zstd; the last chunk is
    /// counted once written, at `finish`).
    pub bytes: u64,
}

/// A zstd compressor (a context reused for every block).
struct Zstd(zstd::bulk::Compressor<'static>);

impl std::fmt::Debug for Zstd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Zstd")
    }
}

/// The id of an OPTIONS section (the same number as the DONE option).
use crate::tracedat::SECTION_OPTIONS;

/// The most bytes a v6 CPUSTAT option may hold: room for it is reserved before the data
/// (the kernel's stats text is about 150 bytes). Longer texts are cut at a line end.
pub const V6_CPUSTAT_MAX: usize = 1024;

/// Writes a trace.dat file; see the module docs.
#[derive(Debug)]
pub struct TraceDatWriter<W> {
    out: Out<W>,
    order: Order,
    options: WriterOptions,
    metadata: Metadata,
    format: PageFormat,
    strings: Strings,
    /// v7: (option id, section offset) of the metadata sections written so far.
    sections: Vec<(u16, u64)>,
    /// v7: offset of the BUFFER section header.
    buffer_section: u64,
    /// v6: where the options go; v7: unused.
    options_at: u64,
    /// First byte of CPU data.
    data_start: u64,
    regions: Regions,
    written: Vec<CpuWritten>,
    /// zstd: the chunk being filled, per CPU, and the chunks written.
    pending: Vec<Vec<u8>>,
    chunks: Vec<u32>,
    compressor: Option<Zstd>,
    poisoned: Option<String>,
}

impl TraceDatWriter<File> {
    /// Creates (or truncates) `path`, open for reading too (a CPU region that outgrows its
    /// reservation is copied), and starts a file in it.
    pub fn create(
        path: impl AsRef<Path>,
        options: WriterOptions,
        metadata: Metadata,
    ) -> Result<TraceDatWriter<File>, WriteError> {
        let path = path.as_ref();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| WriteError::io(format!("creating {}", path.display()), 0, e))?;
        TraceDatWriter::new(file, options, metadata)
    }
}

impl<W: Read + Write + Seek> TraceDatWriter<W> {
    /// Starts a file in `out` (from its offset 0): checks the options and writes the
    /// prefix and the metadata known up front.
    ///
    /// `out` must be readable as well as writable only when a CPU region has to move
    /// (interleaved writes beyond [`WriterOptions::cpu_reserve`]).
    pub fn new(
        out: W,
        options: WriterOptions,
        metadata: Metadata,
    ) -> Result<TraceDatWriter<W>, WriteError> {
        check_options(&options, &metadata)?;
        let order = Order::NATIVE;
        let layout = PageLayout::parse(&metadata.header_page)
            .unwrap_or_else(|_| PageLayout::for_long_size(usize::from(options.long_size)));
        let endian = match order {
            Order::Little => Endian::Little,
            Order::Big => Endian::Big,
        };
        let compressor = match options.compression {
            Compression::None => None,
            Compression::Zstd { level } => Some(Zstd(zstd::bulk::Compressor::new(level).map_err(
                |source| WriteError::Compress {
                    what: "nothing yet (creating the zstd compressor)".into(),
                    source,
                },
            )?)),
        };
        let cpus = metadata.cpu_count as usize;
        let preamble = if compressor.is_some() { 4 } else { 0 };
        let mut w = TraceDatWriter {
            out: Out::new(out)?,
            order,
            format: PageFormat::new(layout, endian),
            strings: Strings::default(),
            sections: Vec::new(),
            buffer_section: 0,
            options_at: 0,
            data_start: 0,
            regions: Regions::new(cpus, 0, 1, 0, 0, 0),
            written: vec![CpuWritten::default(); cpus],
            pending: vec![Vec::new(); cpus],
            chunks: vec![0; cpus],
            compressor,
            poisoned: None,
            options,
            metadata,
        };
        let result = match w.options.version {
            FileVersion::V7 => w.start_v7(),
            FileVersion::V6 => w.start_v6(),
        };
        result?;
        w.regions = Regions::new(
            cpus,
            w.data_start,
            u64::from(w.file_page_size()),
            w.options.cpu_reserve,
            w.options.write_buffer,
            preamble,
        );
        Ok(w)
    }

    /// The options the file is written with.
    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    /// The page size stored in the prefix, which the CPU data is aligned to.
    pub fn file_page_size(&self) -> u32 {
        self.options.page_size.max(self.options.subbuf_size)
    }

    /// What has been written for `cpu` so far.
    pub fn cpu_written(&self, cpu: u32) -> CpuWritten {
        self.written.get(cpu as usize).copied().unwrap_or_default()
    }

    /// How many times a CPU region outgrew its reservation and was moved.
    pub fn region_moves(&self) -> u64 {
        self.regions.moves
    }

    /// Replaces the per-CPU stats texts written as CPUSTAT options (usually read once
    /// recording has stopped).
    pub fn set_cpu_stats(&mut self, stats: Vec<String>) {
        self.metadata.cpu_stats = stats;
    }

    /// Replaces the saved cmdlines text. v7 writes it at `finish`, so the latest text
    /// (read after recording) goes in the file; a v6 file stored it at the start, so this
    /// fails there.
    pub fn set_cmdlines(&mut self, text: String) -> Result<(), WriteError> {
        if self.options.version == FileVersion::V6 {
            return Err(WriteError::Options(
                "a v6 file stores the cmdlines before the data: give them in the Metadata".into(),
            ));
        }
        self.metadata.cmdlines = text;
        Ok(())
    }

    /// Adds one page (sub-buffer) of `cpu`'s data, exactly as read from
    /// `per_cpu/cpuN/trace_pipe_raw`. Pages of one CPU must come in order; pages of
    /// different CPUs may be interleaved freely.
    pub fn write_page(&mut self, cpu: u32, page: &[u8]) -> Result<(), WriteError> {
        self.check_usable()?;
        let idx = self.check_cpu(cpu)?;
        let expected = self.options.subbuf_size as usize;
        if page.len() != expected {
            return Err(WriteError::PageSize {
                cpu,
                len: page.len(),
                expected,
            });
        }
        let parsed = Page::parse(page, self.format).map_err(|source| WriteError::BadPage {
            cpu,
            page: self.written[idx].pages + self.written[idx].empty_pages,
            source,
        })?;
        if parsed.commit_word() == 0 {
            self.written[idx].empty_pages += 1;
            return Ok(());
        }
        self.written[idx].pages += 1;
        let result = if self.compressor.is_some() {
            self.pending[idx].extend_from_slice(page);
            let chunk = self.options.chunk_pages as usize * expected;
            if self.pending[idx].len() >= chunk {
                self.flush_chunk(idx)
            } else {
                Ok(())
            }
        } else {
            self.regions.append(&mut self.out, idx, page)
        };
        self.poison_on_error(result)?;
        self.update_bytes(idx);
        Ok(())
    }

    /// Adds several whole pages of `cpu` (a multiple of the sub-buffer size).
    pub fn write_pages(&mut self, cpu: u32, pages: &[u8]) -> Result<(), WriteError> {
        let size = self.options.subbuf_size as usize;
        let rest = pages.len() % size;
        if rest != 0 {
            return Err(WriteError::PartialPage {
                cpu,
                len: rest,
                expected: size,
            });
        }
        for page in pages.chunks_exact(size) {
            self.write_page(cpu, page)?;
        }
        Ok(())
    }

    /// Copies `cpu`'s pages from `reader` until it ends, or until it reports
    /// `WouldBlock` (a non-blocking `trace_pipe_raw` with nothing more to read). Returns
    /// what was written for this CPU in total.
    pub fn write_cpu_from(
        &mut self,
        cpu: u32,
        mut reader: impl Read,
    ) -> Result<CpuWritten, WriteError> {
        self.check_usable()?;
        self.check_cpu(cpu)?;
        let size = self.options.subbuf_size as usize;
        let mut page = vec![0u8; size];
        loop {
            let mut filled = 0;
            while filled < size {
                match reader.read(&mut page[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        return Err(WriteError::Read {
                            path: format!("CPU {cpu}'s data"),
                            source: e,
                        });
                    }
                }
            }
            if filled == 0 {
                break;
            }
            if filled < size {
                return Err(WriteError::PartialPage {
                    cpu,
                    len: filled,
                    expected: size,
                });
            }
            self.write_page(cpu, &page)?;
        }
        Ok(self.cpu_written(cpu))
    }

    /// A sink for `cpu`'s pages that also implements [`io::Write`] (bytes are cut into
    /// pages; an incomplete last page is an error at [`CpuData::finish`]).
    pub fn cpu_data(&mut self, cpu: u32) -> Result<CpuData<'_, W>, WriteError> {
        self.check_usable()?;
        self.check_cpu(cpu)?;
        Ok(CpuData {
            writer: self,
            cpu,
            partial: Vec::new(),
        })
    }

    /// Writes the rest of the file (the last compressed chunks, CMDLINES in v7, the
    /// options, the per-CPU offsets and section sizes) and returns the output.
    pub fn finish(self) -> Result<W, WriteError> {
        self.finish_collapsing(|_, _, _| Ok(false))
    }

    /// [`TraceDatWriter::finish`], first removing the unused space between CPU regions
    /// (unused reservations, space left by moved regions) with `collapse(out, offset,
    /// len)`, which must remove `len` bytes at `offset` and shift the rest of the file
    /// down, as `fallocate(FALLOC_FL_COLLAPSE_RANGE)` does without copying on ext4 and
    /// xfs. Offsets and lengths are multiples of the file's page size. `collapse`
    /// returns `Ok(false)` when it cannot (e.g. `EOPNOTSUPP`): the remaining gaps then
    /// stay, which is valid.
    pub fn finish_collapsing<F>(mut self, collapse: F) -> Result<W, WriteError>
    where
        F: FnMut(&mut W, u64, u64) -> io::Result<bool>,
    {
        self.check_usable()?;
        let result = self.finish_inner(collapse);
        self.poison_on_error(result)?;
        Ok(self.out.inner)
    }

    fn finish_inner<F>(&mut self, mut collapse: F) -> Result<(), WriteError>
    where
        F: FnMut(&mut W, u64, u64) -> io::Result<bool>,
    {
        if self.compressor.is_some() {
            for idx in 0..self.pending.len() {
                if !self.pending[idx].is_empty() {
                    self.flush_chunk(idx)?;
                }
            }
        }
        self.regions.flush_all(&mut self.out)?;
        if self.compressor.is_some() {
            for idx in 0..self.chunks.len() {
                if let Some(region) = self.regions.region(idx) {
                    let mut e = Enc::new(self.order);
                    e.u32(self.chunks[idx]);
                    let at = region.start;
                    self.out
                        .write_at(at, &e.bytes, &format!("writing CPU {idx}'s chunk count"))?;
                }
            }
        }
        // The gaps from the highest down, so that the lower ones stay where they are.
        for (offset, len) in self.regions.gaps(self.data_start).into_iter().rev() {
            let collapsed = collapse(self.out.inner_mut(), offset, len).map_err(|e| {
                WriteError::io("collapsing the space between CPU regions", offset, e)
            })?;
            if !collapsed {
                break;
            }
            self.regions.shift_down(offset, len);
        }
        for idx in 0..self.written.len() {
            self.update_bytes(idx);
        }
        let data_end = self.regions.data_end(self.data_start);
        let extents = self.regions.extents(self.data_start);
        match self.options.version {
            FileVersion::V7 => self.finish_v7(data_end, &extents)?,
            FileVersion::V6 => self.finish_v6(&extents)?,
        }
        self.out.flush()
    }

    fn check_usable(&self) -> Result<(), WriteError> {
        match &self.poisoned {
            Some(why) => Err(WriteError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn check_cpu(&self, cpu: u32) -> Result<usize, WriteError> {
        if cpu >= self.metadata.cpu_count {
            return Err(WriteError::CpuOutOfRange {
                cpu,
                cpus: self.metadata.cpu_count,
            });
        }
        Ok(cpu as usize)
    }

    fn poison_on_error<T>(&mut self, r: Result<T, WriteError>) -> Result<T, WriteError> {
        if let Err(e) = &r {
            self.poisoned = Some(e.to_string());
        }
        r
    }

    fn update_bytes(&mut self, idx: usize) {
        self.written[idx].bytes = self.regions.region(idx).map_or(0, |r| r.len());
    }

    /// Compresses the pending pages of CPU `idx` into one chunk and appends it.
    fn flush_chunk(&mut self, idx: usize) -> Result<(), WriteError> {
        let data = std::mem::take(&mut self.pending[idx]);
        let Some(compressor) = self.compressor.as_mut() else {
            return Ok(());
        };
        let compressed = compressor
            .0
            .compress(&data)
            .map_err(|source| WriteError::Compress {
                what: format!("a chunk of CPU {idx}'s data"),
                source,
            })?;
        let mut e = Enc::new(self.order);
        e.u32(encode::u32_size(compressed.len(), "a compressed chunk")?);
        e.u32(encode::u32_size(data.len(), "a chunk")?);
        e.raw(&compressed);
        self.regions.append(&mut self.out, idx, &e.bytes)?;
        self.chunks[idx] += 1;
        let mut data = data;
        data.clear();
        self.pending[idx] = data;
        Ok(())
    }

    /// Compresses a metadata block when the file is compressed: `{u32 compressed size,
    /// u32 size, data}`. Returns the payload and the section flags.
    fn section_payload(&mut self, data: Vec<u8>, what: &str) -> Result<(Vec<u8>, u16), WriteError> {
        let order = self.order;
        let Some(compressor) = self.compressor.as_mut() else {
            return Ok((data, 0));
        };
        let compressed = compressor
            .0
            .compress(&data)
            .map_err(|source| WriteError::Compress {
                what: what.to_string(),
                source,
            })?;
        let mut e = Enc::new(order);
        e.u32(encode::u32_size(compressed.len(), what)?);
        e.u32(encode::u32_size(data.len(), what)?);
        e.raw(&compressed);
        Ok((e.bytes, SECTION_COMPRESSED))
    }

    /// Writes a v7 section at `at`; returns the offset after it.
    fn write_section(
        &mut self,
        at: u64,
        id: u16,
        desc: &str,
        data: Vec<u8>,
        compress: bool,
    ) -> Result<u64, WriteError> {
        let desc_id = self.strings.id(desc)?;
        let (payload, flags) = if compress {
            self.section_payload(data, desc)?
        } else {
            (data, 0)
        };
        let mut bytes =
            encode::section_header(self.order, id, flags, desc_id, payload.len() as u64);
        bytes.extend_from_slice(&payload);
        self.out
            .write_at(at, &bytes, &format!("writing the {desc} section"))?;
        Ok(at + bytes.len() as u64)
    }

    fn start_v7(&mut self) -> Result<(), WriteError> {
        let o = self.order;
        let m = &self.metadata;
        let mut head = encode::prefix(o, 7, self.options.long_size, self.file_page_size());
        match self.options.compression {
            Compression::None => head.extend_from_slice(b"none\0\0"),
            Compression::Zstd { .. } => {
                head.extend_from_slice(b"zstd\0");
                head.extend_from_slice(zstd::zstd_safe::version_string().as_bytes());
                head.push(0);
            }
        }
        // The offset of the first OPTIONS section, patched at finish.
        self.options_at = head.len() as u64;
        head.extend_from_slice(&[0; 8]);
        self.out.write_at(0, &head, "writing the file header")?;
        let mut at = head.len() as u64;

        let blocks: Vec<(u16, &str, Vec<u8>)> = vec![
            (
                option::HEADER_INFO,
                "headers",
                encode::header_info(o, &m.header_page, &m.header_event),
            ),
            (
                option::FTRACE_EVENTS,
                "ftrace events",
                encode::ftrace_formats(o, &m.ftrace_formats)?,
            ),
            (
                option::EVENT_FORMATS,
                "events format",
                encode::event_formats(o, &m.event_formats)?,
            ),
            (
                option::KALLSYMS,
                "kallsyms",
                encode::text32(o, &m.kallsyms, "kallsyms")?,
            ),
            (
                option::PRINTK,
                "printk",
                encode::text32(o, &m.printk_formats, "printk formats")?,
            ),
        ];
        for (id, desc, data) in blocks {
            let start = at;
            at = self.write_section(at, id, desc, data, true)?;
            self.sections.push((id, start));
        }

        // The BUFFER section's header; its size is patched at finish.
        self.buffer_section = at;
        let desc = format!("buffer flyrecord {}", self.metadata.buffer_name);
        let desc_id = self.strings.id(&desc)?;
        let flags = if self.compressor.is_some() {
            SECTION_COMPRESSED
        } else {
            0
        };
        let header = encode::section_header(o, option::BUFFER, flags, desc_id, 0);
        self.out
            .write_at(at, &header, "writing the BUFFER section header")?;
        at += header.len() as u64;
        self.data_start = align_up(at, u64::from(self.file_page_size()));
        self.out
            .zeros_at(at, self.data_start - at, "padding the BUFFER section")?;
        Ok(())
    }

    fn finish_v7(&mut self, data_end: u64, extents: &[CpuExtent]) -> Result<(), WriteError> {
        let o = self.order;
        // The BUFFER section's size: from its header's end to the end of the data.
        let buffer_size = data_end - (self.buffer_section + 16);
        let mut size = Enc::new(o);
        size.u64(buffer_size);
        self.out.write_at(
            self.buffer_section + 8,
            &size.bytes,
            "patching the BUFFER section size",
        )?;

        let cmdlines = encode::text64(o, &self.metadata.cmdlines);
        let cmdlines_at = data_end;
        let options_at = self.write_section(
            cmdlines_at,
            option::CMDLINES,
            "command lines",
            cmdlines,
            true,
        )?;

        let mut e = Enc::new(o);
        for &(id, offset) in &self.sections {
            let mut v = Enc::new(o);
            v.u64(offset);
            encode::option(&mut e, id, &v.bytes)?;
        }
        self.common_options(&mut e, usize::MAX)?;
        let mut v = Enc::new(o);
        v.u64(cmdlines_at);
        encode::option(&mut e, option::CMDLINES, &v.bytes)?;
        let mut v = Enc::new(o);
        v.u32(self.metadata.cpu_count);
        encode::option(&mut e, option::CPUCOUNT, &v.bytes)?;
        let buffer = encode::buffer_option_v7(
            o,
            self.buffer_section,
            &self.metadata.buffer_name,
            &self.metadata.trace_clock,
            self.options.subbuf_size,
            extents,
        )?;
        encode::option(&mut e, option::BUFFER, &buffer)?;
        let mut v = Enc::new(o);
        v.u64(0);
        encode::option(&mut e, option::DONE, &v.bytes)?;
        let strings_at =
            self.write_section(options_at, SECTION_OPTIONS, "options", e.bytes, false)?;

        let _ = self.strings.id("strings")?;
        let table = self.strings.bytes.clone();
        self.write_section(strings_at, option::STRINGS, "strings", table, true)?;

        let mut first = Enc::new(o);
        first.u64(options_at);
        let patch_at = self.options_at;
        self.out
            .write_at(patch_at, &first.bytes, "patching the options offset")?;
        Ok(())
    }

    /// TRACECLOCK, UNAME, VERSION and the CPUSTATs (each cut to `cpustat_max` bytes, and
    /// preceded by a `CPU: N` line as trace-cmd writes them).
    fn common_options(&self, e: &mut Enc, cpustat_max: usize) -> Result<(), WriteError> {
        let m = &self.metadata;
        let clock = encode::trace_clock_text(&m.trace_clock, &m.trace_clocks);
        encode::option(
            e,
            option::TRACECLOCK,
            &encode::cstr_data(&clock, "the trace clock")?,
        )?;
        encode::option(e, option::UNAME, &encode::cstr_data(&m.uname, "uname")?)?;
        if let Some(version) = &m.version {
            encode::option(
                e,
                option::VERSION,
                &encode::cstr_data(version, "the version")?,
            )?;
        }
        for (cpu, stat) in m.cpu_stats.iter().enumerate() {
            // trace-cmd stores the stats after a `CPU: N` line of its own.
            let stat = if stat.starts_with("CPU:") {
                stat.clone()
            } else {
                format!("CPU: {cpu}\n{stat}")
            };
            let stat = cut_at_line(&stat, cpustat_max.saturating_sub(1));
            encode::option(
                e,
                option::CPUSTAT,
                &encode::cstr_data(stat, "a CPU's stats")?,
            )?;
        }
        Ok(())
    }

    fn start_v6(&mut self) -> Result<(), WriteError> {
        let o = self.order;
        let m = &self.metadata;
        let mut e = Enc::new(o);
        e.raw(&encode::prefix(
            o,
            6,
            self.options.long_size,
            self.file_page_size(),
        ));
        e.raw(&encode::header_info(o, &m.header_page, &m.header_event));
        e.raw(&encode::ftrace_formats(o, &m.ftrace_formats)?);
        e.raw(&encode::event_formats(o, &m.event_formats)?);
        e.raw(&encode::text32(o, &m.kallsyms, "kallsyms")?);
        e.raw(&encode::text32(o, &m.printk_formats, "printk formats")?);
        e.raw(&encode::text64(o, &m.cmdlines));
        e.u32(m.cpu_count);
        self.options_at = e.len() as u64;
        self.out.write_at(0, &e.bytes, "writing the file header")?;

        // Room for the options (CPUSTATs at their largest) and the flyrecord block.
        let mut probe = Enc::new(o);
        let stats = std::mem::take(&mut self.metadata.cpu_stats);
        self.common_options(&mut probe, V6_CPUSTAT_MAX)?;
        self.metadata.cpu_stats = stats;
        let room = 10
            + probe.len()
            + (self.metadata.cpu_count as usize) * (6 + V6_CPUSTAT_MAX)
            + 2
            + encode::flyrecord_v6_len(
                self.metadata.cpu_count as usize,
                &self.metadata.trace_clock,
            );
        self.data_start = align_up(
            self.options_at + room as u64,
            u64::from(self.file_page_size()),
        );
        Ok(())
    }

    fn finish_v6(&mut self, extents: &[CpuExtent]) -> Result<(), WriteError> {
        let o = self.order;
        let mut e = Enc::new(o);
        e.raw(b"options  \0");
        let stats = self.metadata.cpu_stats.len();
        let cpus = self.metadata.cpu_count as usize;
        if stats > cpus {
            self.metadata.cpu_stats.truncate(cpus);
        }
        self.common_options(&mut e, V6_CPUSTAT_MAX)?;
        e.u16(option::DONE);
        e.raw(&encode::flyrecord_v6(
            o,
            extents,
            &self.metadata.trace_clock,
        ));
        let end = self.options_at + e.len() as u64;
        if end > self.data_start {
            return Err(WriteError::Metadata(format!(
                "the v6 options need {} bytes, {} were reserved",
                e.len(),
                self.data_start - self.options_at
            )));
        }
        self.out
            .write_at(self.options_at, &e.bytes, "writing the options")?;
        self.out
            .zeros_at(end, self.data_start - end, "padding before the CPU data")
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends at a line end (or at a char
/// boundary when there is no line end).
fn cut_at_line(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s[..end].rfind('\n') {
        Some(nl) => &s[..=nl],
        None => &s[..end],
    }
}

fn check_options(o: &WriterOptions, m: &Metadata) -> Result<(), WriteError> {
    let bad = |s: String| Err(WriteError::Options(s));
    if !o.page_size.is_power_of_two() || o.page_size < 512 {
        return bad(format!(
            "page size {} is not a power of two ≥ 512",
            o.page_size
        ));
    }
    if o.subbuf_size < 64 || o.subbuf_size as u64 > crate::page::COMMIT_SIZE_MASK + 1 {
        return bad(format!("sub-buffer size {} is out of range", o.subbuf_size));
    }
    if o.long_size != 4 && o.long_size != 8 {
        return bad(format!("long size {} is not 4 or 8", o.long_size));
    }
    if o.chunk_pages == 0
        || u64::from(o.chunk_pages) * u64::from(o.subbuf_size) > u64::from(u32::MAX)
    {
        return bad(format!("{} pages per chunk is out of range", o.chunk_pages));
    }
    if o.version == FileVersion::V6 {
        if o.compression != Compression::None {
            return bad("version 6 files cannot be compressed".into());
        }
        if !m.buffer_name.is_empty() {
            return bad(format!(
                "a v6 file stores only the top buffer; the buffer name {:?} needs v7",
                m.buffer_name
            ));
        }
    }
    if m.cpu_count == 0 {
        return Err(WriteError::Metadata("the CPU count is 0".into()));
    }
    if m.trace_clock.is_empty() {
        return Err(WriteError::Metadata("the trace clock is empty".into()));
    }
    encode::check_no_nul(&m.buffer_name, "the buffer name")?;
    encode::check_no_nul(&m.trace_clock, "the trace clock")?;
    Ok(())
}

/// A sink for one CPU's pages; see [`TraceDatWriter::cpu_data`].
#[derive(Debug)]
pub struct CpuData<'a, W: Read + Write + Seek> {
    writer: &'a mut TraceDatWriter<W>,
    cpu: u32,
    partial: Vec<u8>,
}

impl<W: Read + Write + Seek> CpuData<'_, W> {
    /// Adds one whole page.
    pub fn write_page(&mut self, page: &[u8]) -> Result<(), WriteError> {
        if !self.partial.is_empty() {
            return Err(WriteError::PartialPage {
                cpu: self.cpu,
                len: self.partial.len(),
                expected: self.writer.options.subbuf_size as usize,
            });
        }
        self.writer.write_page(self.cpu, page)
    }

    /// Ends this CPU's sink; fails if bytes of an incomplete page are left.
    pub fn finish(mut self) -> Result<CpuWritten, WriteError> {
        let partial = std::mem::take(&mut self.partial);
        if !partial.is_empty() {
            return Err(WriteError::PartialPage {
                cpu: self.cpu,
                len: partial.len(),
                expected: self.writer.options.subbuf_size as usize,
            });
        }
        Ok(self.writer.cpu_written(self.cpu))
    }
}

impl<W: Read + Write + Seek> Write for CpuData<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let size = self.writer.options.subbuf_size as usize;
        let mut rest = buf;
        if !self.partial.is_empty() {
            let take = (size - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() == size {
                let page = std::mem::take(&mut self.partial);
                self.writer
                    .write_page(self.cpu, &page)
                    .map_err(io::Error::other)?;
            }
        }
        while rest.len() >= size {
            self.writer
                .write_page(self.cpu, &rest[..size])
                .map_err(io::Error::other)?;
            rest = &rest[size..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Read + Write + Seek> Drop for CpuData<'_, W> {
    fn drop(&mut self) {
        if !self.partial.is_empty() && self.writer.poisoned.is_none() {
            self.writer.poisoned = Some(
                WriteError::PartialPage {
                    cpu: self.cpu,
                    len: self.partial.len(),
                    expected: self.writer.options.subbuf_size as usize,
                }
                .to_string(),
            );
        }
    }
}
