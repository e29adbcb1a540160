//! Reading every CPU's `trace_pipe_raw` into the trace.dat writer.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use kscope_ftrace::Instance;
use kscope_ftrace::page::{Page, PageFormat};
use kscope_ftrace::tracedat::write::TraceDatWriter;

use crate::RecordError;

/// Unused bytes a sub-buffer may end with and still count as full: the kernel starts a new
/// sub-buffer when the next event does not fit.
const SLACK: usize = 512;

/// Per-CPU totals of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTotals {
    /// The CPU.
    pub cpu: u32,
    /// Events written to the file.
    pub events: u64,
    /// Events the kernel lost (overwritten before they were read, or dropped).
    pub lost: u64,
}

pub(crate) struct Capture {
    output: std::path::PathBuf,
    readers: Vec<File>,
    subbuf: Vec<u8>,
    events: Vec<u64>,
    format: PageFormat,
}

impl Capture {
    pub(crate) fn open(
        instance: &Instance,
        cpus: u32,
        subbuf_size: u32,
        output: &std::path::Path,
    ) -> Result<Capture, RecordError> {
        let mut readers = Vec::new();
        for cpu in 0..cpus {
            let path = instance.path(&format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(crate::io_error(format!("opening {}", path.display())))?;
            readers.push(file);
        }
        let layout = instance
            .read("events/header_page")
            .ok()
            .and_then(|text| kscope_ftrace::page::PageLayout::parse(&text).ok())
            .unwrap_or_default();
        Ok(Capture {
            output: output.to_path_buf(),
            events: vec![0; readers.len()],
            readers,
            subbuf: vec![0; subbuf_size as usize],
            format: PageFormat {
                layout,
                endian: kscope_ftrace::page::Endian::NATIVE,
            },
        })
    }

    /// Waits up to `timeout` for a CPU's buffer to reach the kernel's `buffer_percent`,
    /// then reads what every ready CPU has.
    pub(crate) fn wait_and_read<W>(
        &mut self,
        writer: &mut TraceDatWriter<W>,
        timeout: Duration,
    ) -> Result<(), RecordError>
    where
        W: io::Read + io::Write + io::Seek,
    {
        let ready = {
            let fds: Vec<_> = self.readers.iter().map(|f| f.as_fd()).collect();
            kscope_sys::poll::wait_readable(&fds, timeout)
                .map_err(crate::io_error("waiting for trace data"))?
        };
        for (cpu, is_ready) in ready.into_iter().enumerate() {
            if is_ready {
                self.read_cpu(cpu, writer, true)?;
            }
        }
        Ok(())
    }

    /// Reads every CPU until the kernel has nothing more (tracing is off by then).
    pub(crate) fn drain<W>(&mut self, writer: &mut TraceDatWriter<W>) -> Result<(), RecordError>
    where
        W: io::Read + io::Write + io::Seek,
    {
        for cpu in 0..self.readers.len() {
            self.read_cpu(cpu, writer, false)?;
        }
        Ok(())
    }

    /// Reads CPU `cpu`'s sub-buffers into the file. While tracing is on (`live`), it stops
    /// after the first sub-buffer that is not full: that one was the page the kernel is
    /// writing, and reading it again at once would hand over a page with a few events each
    /// time — a busy CPU would fill the file with nearly empty pages.
    fn read_cpu<W>(
        &mut self,
        cpu: usize,
        writer: &mut TraceDatWriter<W>,
        live: bool,
    ) -> Result<(), RecordError>
    where
        W: io::Read + io::Write + io::Seek,
    {
        loop {
            self.subbuf.fill(0);
            match self.readers[cpu].read(&mut self.subbuf) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    let mut full = false;
                    if let Ok(page) = Page::parse(&self.subbuf, self.format) {
                        self.events[cpu] += page.records().filter(|r| r.is_ok()).count() as u64;
                        let capacity = self.subbuf.len() - self.format.layout.header_len();
                        full = page.used_size() + SLACK >= capacity;
                    }
                    writer
                        .write_page(cpu as u32, &self.subbuf)
                        .map_err(|source| RecordError::Write {
                            path: self.output.clone(),
                            source: Box::new(source),
                        })?;
                    if live && !full {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(RecordError::Io {
                        what: format!("reading CPU {cpu}'s ring buffer"),
                        source: e,
                    });
                }
            }
        }
    }

    /// Events written so far, per CPU.
    pub(crate) fn event_counts(&self) -> Vec<u64> {
        self.events.clone()
    }
}

/// Totals per CPU, with the lost counts from the final `per_cpu/cpuN/stats` texts.
pub(crate) fn totals(events: &[u64], stats: &[String]) -> Vec<CpuTotals> {
    events
        .iter()
        .enumerate()
        .map(|(cpu, &events)| CpuTotals {
            cpu: cpu as u32,
            events,
            lost: stats.get(cpu).map_or(0, |s| lost_from_stats(s)),
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
}
