//! Reading every CPU's ring buffer on its own thread and handing its sub-buffers to a sink.
//!
//! Each CPU is read one of three ways: `splice(2)` of `trace_pipe_raw` into a pipe (the
//! default for recordings: whole sub-buffers, moved without copying), the ring-buffer
//! mapping (Linux ≥ 6.10; the default for streams, which show partly filled sub-buffers;
//! `read` where the kernel lacks it), or `read(2)` of `trace_pipe_raw`. One thread per CPU waits with `poll` (which wakes at the instance's
//! `buffer_percent`) and passes each sub-buffer to a [`PageSink`].
//!
//! While tracing is on, a reader never hands over the sub-buffer the kernel is still
//! writing more than once: reading the writer's page again and again produced pages with
//! two events each (6.3 GB for 3 M events). With the mapping, the reader sub-buffer is
//! kept until the meta page shows entries beyond it (the writer has moved on); with
//! `read`, a CPU is left at its first sub-buffer that is not full; `splice` returns full
//! sub-buffers only.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kscope_ftrace::Instance;
use kscope_ftrace::page::{Missed, Page, PageFormat};
use kscope_sys::splice::{self, Pipe};
use kscope_sys::trace_mmap::TraceMap;

use crate::RecordError;

/// Unused bytes a sub-buffer read with `read(2)` may end with and still count as full:
/// the kernel starts a new sub-buffer when the next event does not fit.
const SLACK: usize = 512;

/// Sub-buffers moved by one splice call (a pipe holds 16 by default).
const SPLICE_PAGES: usize = 16;

/// The longest a CPU thread sleeps in `poll` (which wakes earlier at the instance's
/// `buffer_percent`): also how often the mapping is looked at when few events come.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// How a CPU's ring buffer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReaderKind {
    /// Recording: splice. Streaming: the mapping, else read.
    #[default]
    Auto,
    /// The ring-buffer mapping (Linux ≥ 6.10).
    Mmap,
    /// `splice(2)` into a pipe (full sub-buffers), `read(2)` for the last one.
    Splice,
    /// `read(2)` of `trace_pipe_raw`.
    Read,
}

impl ReaderKind {
    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            ReaderKind::Auto => "auto",
            ReaderKind::Mmap => "mmap",
            ReaderKind::Splice => "splice",
            ReaderKind::Read => "read",
        }
    }
}

/// Per-CPU totals of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTotals {
    /// The CPU.
    pub cpu: u32,
    /// Events written to the file.
    pub events: u64,
    /// Events the kernel lost (overwritten before they were read, or dropped): the larger
    /// of the `per_cpu/cpuN/stats` counts and the counts the sub-buffers carried.
    pub lost: u64,
    /// How this CPU was read.
    pub reader: ReaderKind,
}

/// Receives sub-buffers from the CPU threads.
pub(crate) trait PageSink: Sync {
    /// One sub-buffer of `cpu`, with only records not handed over before.
    fn page(&self, cpu: u32, page: &[u8]) -> Result<(), RecordError>;
}

/// What the CPU threads are told by the thread that started them.
#[derive(Debug, Default)]
pub(crate) struct Control {
    draining: AtomicBool,
    failed: AtomicBool,
}

impl Control {
    /// Whether a CPU thread failed (the others and the main loop then stop).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

enum Source {
    Mapped(TraceMap),
    Spliced { file: File, pipe: Pipe },
    Read(File),
}

struct CpuReader {
    cpu: u32,
    source: Source,
    /// Deliver the records of a partly filled sub-buffer while tracing is on (streaming).
    partial: bool,
    buf: Vec<u8>,
    format: PageFormat,
    /// Mapping: the reader sub-buffer last seen, the data bytes of it delivered, and
    /// whether `buf` holds a copy of it with undelivered records.
    current: Option<u32>,
    delivered: usize,
    pending: bool,
    events: u64,
    missed: u64,
}

/// The per-CPU readers of an instance.
pub(crate) struct Capture {
    readers: Vec<CpuReader>,
}

fn open_pipe(instance: &Instance, cpu: u32) -> Result<File, RecordError> {
    let path = instance.path(&format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
    File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(crate::io_error(format!("opening {}", path.display())))
}

impl Capture {
    /// Opens every CPU's `trace_pipe_raw` the way `kind` says (with `Auto`, the first
    /// that works). `partial` delivers partly filled sub-buffers while tracing is on.
    pub(crate) fn open(
        instance: &Instance,
        cpus: u32,
        subbuf_size: u32,
        kind: ReaderKind,
        partial: bool,
    ) -> Result<Capture, RecordError> {
        let layout = instance
            .read("events/header_page")
            .ok()
            .and_then(|text| kscope_ftrace::page::PageLayout::parse(&text).ok())
            .unwrap_or_default();
        let format = PageFormat::new(layout, kscope_ftrace::page::Endian::NATIVE);
        let size = subbuf_size as usize;
        let mut readers = Vec::new();
        for cpu in 0..cpus {
            let source = open_source(instance, cpu, size, kind, partial)?;
            readers.push(CpuReader {
                cpu,
                source,
                partial,
                buf: vec![0; size],
                format,
                current: None,
                delivered: 0,
                pending: false,
                events: 0,
                missed: 0,
            });
        }
        Ok(Capture { readers })
    }

    /// Runs one thread per CPU that hands sub-buffers to `sink`, and `main` on this
    /// thread. `main` decides when to stop and must turn tracing off before it returns;
    /// the CPU threads then drain what is left and end.
    pub(crate) fn run<S, R>(
        &mut self,
        sink: &S,
        main: impl FnOnce(&Control) -> Result<R, RecordError>,
    ) -> Result<R, RecordError>
    where
        S: PageSink,
    {
        let control = Control::default();
        std::thread::scope(|scope| {
            let control = &control;
            let handles: Vec<_> = self
                .readers
                .iter_mut()
                .map(|reader| {
                    std::thread::Builder::new()
                        .name(format!("kscope-cpu{}", reader.cpu))
                        .spawn_scoped(scope, move || {
                            let result = reader.run(sink, control);
                            if result.is_err() {
                                control.failed.store(true, Ordering::Relaxed);
                            }
                            result
                        })
                })
                .collect();
            let mut first_error = None;
            let mut threads = Vec::new();
            for handle in handles {
                match handle {
                    Ok(h) => threads.push(h),
                    Err(e) => {
                        control.failed.store(true, Ordering::Relaxed);
                        first_error.get_or_insert(RecordError::Io {
                            what: "starting a reader thread".into(),
                            source: e,
                        });
                    }
                }
            }
            let outcome = main(control);
            control.draining.store(true, Ordering::Relaxed);
            for thread in threads {
                match thread.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            match (outcome, first_error) {
                (Ok(_), Some(e)) | (Err(e), _) => Err(e),
                (Ok(r), None) => Ok(r),
            }
        })
    }

    /// Per CPU: events delivered, events the sub-buffers said were lost, how it was read.
    pub(crate) fn counts(&self) -> Vec<(u64, u64, ReaderKind)> {
        self.readers
            .iter()
            .map(|r| (r.events, r.missed, r.kind()))
            .collect()
    }
}

fn open_source(
    instance: &Instance,
    cpu: u32,
    subbuf_size: usize,
    kind: ReaderKind,
    partial: bool,
) -> Result<Source, RecordError> {
    let what = |how: &str| format!("reading CPU {cpu}'s ring buffer with {how}");
    // A recording takes whole sub-buffers: splice moves them without copying and was the
    // cheapest per event (docs/BENCHMARKS.md, "record"). The mapping is for streams: it
    // shows the records of the sub-buffer the kernel is still writing, which splice
    // never hands over. (Its GET_READER walks every event of a sub-buffer in the kernel
    // with interrupts off, which made it the costliest way to record.)
    if kind == ReaderKind::Splice || (kind == ReaderKind::Auto && !partial) {
        let pipe =
            Pipe::new(subbuf_size * SPLICE_PAGES).map_err(crate::io_error(what("splice")))?;
        return Ok(Source::Spliced {
            file: open_pipe(instance, cpu)?,
            pipe,
        });
    }
    if matches!(kind, ReaderKind::Auto | ReaderKind::Mmap) {
        match TraceMap::new(open_pipe(instance, cpu)?) {
            Ok(map) if map.subbuf_size() == subbuf_size => return Ok(Source::Mapped(map)),
            Ok(map) if kind == ReaderKind::Mmap => {
                return Err(RecordError::Io {
                    what: what("the ring-buffer mapping"),
                    source: io::Error::other(format!(
                        "its sub-buffers are {} bytes, the file's {subbuf_size}",
                        map.subbuf_size()
                    )),
                });
            }
            Ok(_) => {}
            Err(source) if kind == ReaderKind::Mmap => {
                return Err(RecordError::Io {
                    what: what("the ring-buffer mapping (Linux 6.10 or later)"),
                    source,
                });
            }
            Err(_) => {}
        }
    }
    Ok(Source::Read(open_pipe(instance, cpu)?))
}

impl CpuReader {
    fn kind(&self) -> ReaderKind {
        match self.source {
            Source::Mapped(_) => ReaderKind::Mmap,
            Source::Spliced { .. } => ReaderKind::Splice,
            Source::Read(_) => ReaderKind::Read,
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::Mapped(map) => map.file().as_fd(),
            Source::Spliced { file, .. } | Source::Read(file) => file.as_fd(),
        }
    }

    fn run<S: PageSink>(&mut self, sink: &S, control: &Control) -> Result<(), RecordError> {
        loop {
            if control.failed() {
                return Ok(());
            }
            if control.draining.load(Ordering::Relaxed) {
                return self.pump(false, sink);
            }
            let ready = kscope_sys::poll::wait_readable(&[self.fd()], POLL_TIMEOUT).map_err(
                crate::io_error(format!("waiting for CPU {}'s data", self.cpu)),
            )?;
            // The mapping is asked on every wake-up: one ioctl shows whether the writer
            // has moved on, and a stream shows new records without waiting for the
            // kernel's buffer_percent.
            if ready[0] || matches!(self.source, Source::Mapped(_)) {
                self.pump(true, sink)?;
            }
        }
    }

    /// Hands over what is ready; with `live` false (tracing is off), everything.
    fn pump<S: PageSink>(&mut self, live: bool, sink: &S) -> Result<(), RecordError> {
        let result = match self.source {
            Source::Mapped(_) => self.pump_mapped(live, sink),
            Source::Spliced { .. } => self.pump_spliced(live, sink),
            Source::Read(_) => self.pump_read(live, sink),
        };
        result.map_err(|e| match e {
            Failure::Io(source) => RecordError::Io {
                what: format!(
                    "reading CPU {}'s ring buffer ({})",
                    self.cpu,
                    self.kind().name()
                ),
                source,
            },
            Failure::Sink(e) => *e,
        })
    }

    /// Hands `buf` to the sink. With `from` > 0 (the sub-buffer grew after part of it
    /// was handed over), only its records from data offset `from` on are new: they are
    /// moved into a sub-buffer of their own, whose time stamp is the time reached at
    /// `from`, as the kernel's `read` does with a partly read sub-buffer.
    fn deliver<S: PageSink>(&mut self, sink: &S, from: usize) -> Result<(), Failure> {
        let Ok(page) = Page::parse(&self.buf, self.format) else {
            return sink
                .page(self.cpu, &self.buf)
                .map_err(|e| Failure::Sink(Box::new(e)));
        };
        let layout = self.format.layout;
        let start = layout.data_offset + from;
        self.events += page
            .records()
            .filter(|r| r.as_ref().is_ok_and(|r| r.offset_in_page >= start))
            .count() as u64;
        if from == 0 {
            if let Some(missed) = page.missed_events() {
                self.missed += match missed {
                    Missed::Count(n) => n,
                    Missed::Unknown => 0,
                };
            }
            return sink
                .page(self.cpu, &self.buf)
                .map_err(|e| Failure::Sink(Box::new(e)));
        }
        let mut time = page.timestamp();
        for entry in page.entries() {
            match entry {
                Ok(e) if e.offset_in_page < start => time = e.timestamp,
                _ => break,
            }
        }
        let used = page.used_size();
        let rest = used.saturating_sub(from);
        let mut split = vec![0u8; self.buf.len()];
        let ts = layout.timestamp_offset;
        split[ts..ts + 8].copy_from_slice(&time.to_ne_bytes());
        let commit = layout.commit_offset;
        match layout.commit_size {
            4 => split[commit..commit + 4].copy_from_slice(&(rest as u32).to_ne_bytes()),
            _ => split[commit..commit + 8].copy_from_slice(&(rest as u64).to_ne_bytes()),
        }
        let data = layout.data_offset;
        split[data..data + rest].copy_from_slice(&self.buf[start..start + rest]);
        sink.page(self.cpu, &split)
            .map_err(|e| Failure::Sink(Box::new(e)))
    }

    fn used(&self) -> usize {
        Page::parse(&self.buf, self.format).map_or(0, |p| p.used_size())
    }

    fn pump_mapped<S: PageSink>(&mut self, live: bool, sink: &S) -> Result<(), Failure> {
        let mut unchanged = 0;
        loop {
            let Source::Mapped(map) = &self.source else {
                return Ok(());
            };
            map.get_reader().map_err(Failure::Io)?;
            let meta = map.meta();
            if self.current != Some(meta.reader_id) {
                // The previous reader sub-buffer went back to the kernel. If part of it
                // was not handed over, nothing was added to it after the copy in `buf`
                // (else the kernel would have kept it as the reader): hand the copy over.
                if self.pending {
                    self.pending = false;
                    self.deliver(sink, self.delivered)?;
                }
                self.current = Some(meta.reader_id);
                self.delivered = 0;
                unchanged = 0;
            } else {
                unchanged += 1;
            }
            let Source::Mapped(map) = &self.source else {
                return Ok(());
            };
            map.copy_subbuf(meta.reader_id, &mut self.buf)
                .map_err(Failure::Io)?;
            let used = self.used();
            // Entries beyond the reader sub-buffer: the writer has left it.
            let writer_left = meta.unread() > 0;
            if used > self.delivered {
                if !live || writer_left || self.partial {
                    self.pending = false;
                    let from = self.delivered;
                    self.delivered = used;
                    self.deliver(sink, from)?;
                } else {
                    self.pending = true;
                }
            }
            if !writer_left || unchanged > 2 {
                return Ok(());
            }
        }
    }

    fn pump_read<S: PageSink>(&mut self, live: bool, sink: &S) -> Result<(), Failure> {
        loop {
            self.buf.fill(0);
            let Source::Read(file) = &mut self.source else {
                return Ok(());
            };
            match file.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    let capacity = self.buf.len() - self.format.layout.header_len();
                    let full = self.used() + SLACK >= capacity;
                    self.deliver(sink, 0)?;
                    if live && !full {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }

    fn pump_spliced<S: PageSink>(&mut self, live: bool, sink: &S) -> Result<(), Failure> {
        let size = self.buf.len();
        loop {
            let Source::Spliced { file, pipe } = &mut self.source else {
                return Ok(());
            };
            let moved = match splice::splice_into(file.as_fd(), pipe, size * SPLICE_PAGES) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => return Err(Failure::Io(e)),
            };
            if moved == 0 {
                break;
            }
            if !moved.is_multiple_of(size) {
                return Err(Failure::Io(io::Error::other(format!(
                    "splice moved {moved} bytes, not whole sub-buffers of {size}"
                ))));
            }
            for _ in 0..moved / size {
                let Source::Spliced { pipe, .. } = &mut self.source else {
                    return Ok(());
                };
                pipe.read.read_exact(&mut self.buf).map_err(Failure::Io)?;
                self.deliver(sink, 0)?;
            }
        }
        if live {
            return Ok(());
        }
        // Tracing is off: the last, partly filled sub-buffers come only through read(2).
        loop {
            self.buf.fill(0);
            let Source::Spliced { file, .. } = &mut self.source else {
                return Ok(());
            };
            match file.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(_) => self.deliver(sink, 0)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }
}

enum Failure {
    Io(io::Error),
    Sink(Box<RecordError>),
}

/// Totals per CPU: the events delivered and the larger of the lost counts from the final
/// `per_cpu/cpuN/stats` texts and from the sub-buffers' flags.
pub(crate) fn totals(counts: &[(u64, u64, ReaderKind)], stats: &[String]) -> Vec<CpuTotals> {
    counts
        .iter()
        .enumerate()
        .map(|(cpu, &(events, missed, reader))| CpuTotals {
            cpu: cpu as u32,
            events,
            lost: stats.get(cpu).map_or(0, |s| lost_from_stats(s)).max(missed),
            reader,
        })
        .collect()
}

/// Events lost according to a `per_cpu/cpuN/stats` text: `overrun` (overwritten before
/// being read) plus `dropped events` (discarded when the buffer was full).
pub(crate) fn lost_from_stats(stats: &str) -> u64 {
    let value = |key: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    value("overrun:") + value("dropped events:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_events_come_from_overrun_and_dropped() {
        let stats = "entries: 10\noverrun: 7\ncommit overrun: 0\nbytes: 100\noldest event ts: 1.0\nnow ts: 2.0\ndropped events: 3\nread events: 5\n";
        assert_eq!(lost_from_stats(stats), 10);
        assert_eq!(lost_from_stats(""), 0);
    }

    struct Collect(std::sync::Mutex<Vec<Vec<u8>>>);

    impl PageSink for Collect {
        fn page(&self, _cpu: u32, page: &[u8]) -> Result<(), RecordError> {
            self.0.lock().unwrap().push(page.to_vec());
            Ok(())
        }
    }

    /// A 4096-byte page (64-bit layout) at time 1000 with three 8-byte records whose
    /// deltas are 10, 20 and 30, payloads 1, 2 and 3.
    fn page_of_three() -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        page[0..8].copy_from_slice(&1000u64.to_ne_bytes());
        page[8..16].copy_from_slice(&36u64.to_ne_bytes());
        for (i, delta) in [10u32, 20, 30].into_iter().enumerate() {
            let at = 16 + i * 12;
            page[at..at + 4].copy_from_slice(&(2 | (delta << 5)).to_ne_bytes());
            page[at + 4..at + 12].copy_from_slice(&(i as u64 + 1).to_ne_bytes());
        }
        page
    }

    fn reader_with(buf: Vec<u8>) -> CpuReader {
        CpuReader {
            cpu: 0,
            source: Source::Read(File::open("/dev/null").unwrap()),
            partial: false,
            buf,
            format: PageFormat::new(
                kscope_ftrace::page::PageLayout::for_long_size(8),
                kscope_ftrace::page::Endian::NATIVE,
            ),
            current: None,
            delivered: 0,
            pending: false,
            events: 0,
            missed: 0,
        }
    }

    fn records(page: &[u8], format: PageFormat) -> Vec<(u64, Vec<u8>)> {
        Page::parse(page, format)
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r.timestamp, r.payload.to_vec()))
            .collect()
    }

    #[test]
    fn a_sub_buffer_that_grew_is_handed_over_with_only_its_new_records() {
        let mut reader = reader_with(page_of_three());
        let sink = Collect(Default::default());
        let whole = records(&reader.buf, reader.format);
        assert_eq!(
            whole.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1010, 1030, 1060]
        );
        reader.deliver(&sink, 12).ok().unwrap();
        let pages = sink.0.lock().unwrap();
        assert_eq!(pages.len(), 1);
        // The records after the first one, with the same times and payloads.
        assert_eq!(records(&pages[0], reader.format), whole[1..]);
        assert_eq!(reader.events, 2);
    }

    #[test]
    fn a_whole_sub_buffer_is_handed_over_as_it_is() {
        let page = page_of_three();
        let mut reader = reader_with(page.clone());
        let sink = Collect(Default::default());
        reader.deliver(&sink, 0).ok().unwrap();
        assert_eq!(sink.0.lock().unwrap()[0], page);
        assert_eq!(reader.events, 3);
    }

    #[test]
    fn page_flags_count_when_the_stats_say_less() {
        let stats = vec!["overrun: 2\n".to_string(), "overrun: 9\n".to_string()];
        let t = totals(
            &[(5, 4, ReaderKind::Mmap), (6, 1, ReaderKind::Read)],
            &stats,
        );
        assert_eq!((t[0].events, t[0].lost), (5, 4));
        assert_eq!((t[1].events, t[1].lost), (6, 9));
    }
}
