//! Per-CPU regions of the data area: where each CPU's bytes go in the final file.
//!
//! A CPU's data must end up contiguous (the file stores one `{offset, size}` per CPU), but
//! pages arrive for all CPUs at once. Each CPU gets a region that starts page-aligned at
//! the end of the space handed out so far, with `reserve` bytes set aside for it:
//!
//! * the region that is last in the file (the *tail*) grows without limit;
//! * another region grows within its reservation; when that is full the region *moves* to
//!   the end of the file (its bytes are copied once, unless they are all still in its
//!   write buffer) with twice the room, and becomes the tail. The space it leaves is never
//!   referenced again.
//!
//! So data written one CPU after another lands back to back with no gaps and no copies
//! (each region is the tail while it is written), and interleaved data never collides.
//! With a reservation large enough for a CPU's whole recording nothing ever moves; the
//! unused part of a reservation stays a gap between regions (a hole in a sparse file).
//!
//! Each region buffers up to `buf_limit` bytes before writing them, so a stream of pages
//! becomes a few large writes.

use std::io::{Read, Seek, Write};

use super::WriteError;
use super::encode::{CpuExtent, align_up};
use super::out::Out;

#[derive(Debug, Default)]
pub(crate) struct Region {
    /// File offset of the region (aligned).
    pub(crate) start: u64,
    /// Bytes set aside; a tail region may exceed it.
    cap: u64,
    /// Bytes already written to the file.
    flushed: u64,
    /// Bytes not yet written; they follow the flushed ones.
    buf: Vec<u8>,
}

impl Region {
    pub(crate) fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }
}

#[derive(Debug)]
pub(crate) struct Regions {
    regions: Vec<Option<Region>>,
    tail: Option<usize>,
    /// The first offset after every reservation (not counting a tail's growth).
    end: u64,
    align: u64,
    reserve: u64,
    buf_limit: usize,
    /// Bytes written at the start of every new region (the compressed count placeholder).
    preamble: usize,
    /// Number of region moves that copied data, for tests and statistics.
    pub(crate) moves: u64,
}

impl Regions {
    pub(crate) fn new(
        cpus: usize,
        data_start: u64,
        align: u64,
        reserve: u64,
        buf_limit: usize,
        preamble: usize,
    ) -> Regions {
        Regions {
            regions: (0..cpus).map(|_| None).collect(),
            tail: None,
            end: data_start,
            align,
            reserve: align_up(reserve, align),
            buf_limit,
            preamble,
            moves: 0,
        }
    }

    pub(crate) fn region(&self, cpu: usize) -> Option<&Region> {
        self.regions.get(cpu).and_then(|r| r.as_ref())
    }

    /// Where the next region may start.
    fn free_start(&self) -> u64 {
        let tail_end = self
            .tail
            .and_then(|t| self.regions[t].as_ref())
            .map_or(0, |r| r.start + r.len());
        align_up(self.end.max(tail_end), self.align)
    }

    /// Ends the current tail's right to grow: its room becomes everything up to `next`.
    fn freeze_tail(&mut self, next: u64) {
        if let Some(t) = self.tail.take()
            && let Some(r) = self.regions[t].as_mut()
        {
            r.cap = next - r.start;
        }
    }

    fn allocate(&mut self, cpu: usize) -> &mut Region {
        let start = self.free_start();
        self.freeze_tail(start);
        self.end = start + self.reserve;
        self.tail = Some(cpu);
        let mut buf = Vec::with_capacity(self.buf_limit.min(1 << 20));
        buf.resize(self.preamble, 0);
        self.regions[cpu] = Some(Region {
            start,
            cap: self.reserve,
            flushed: 0,
            buf,
        });
        self.regions[cpu].as_mut().expect("just set")
    }

    /// Appends `bytes` to `cpu`'s region, moving it when it is full.
    pub(crate) fn append<W: Read + Write + Seek>(
        &mut self,
        out: &mut Out<W>,
        cpu: usize,
        bytes: &[u8],
    ) -> Result<(), WriteError> {
        if self.regions[cpu].is_none() {
            self.allocate(cpu);
        }
        let is_tail = self.tail == Some(cpu);
        let region = self.regions[cpu].as_ref().expect("allocated");
        let needed = region.len() + bytes.len() as u64;
        if !is_tail && needed > region.cap {
            self.relocate(out, cpu, needed)?;
        }
        let limit = self.buf_limit;
        let region = self.regions[cpu].as_mut().expect("allocated");
        region.buf.extend_from_slice(bytes);
        if region.buf.len() >= limit {
            flush_region(out, cpu, region)?;
        }
        Ok(())
    }

    /// Moves `cpu`'s region to the end of the file with room for at least `needed` bytes.
    fn relocate<W: Read + Write + Seek>(
        &mut self,
        out: &mut Out<W>,
        cpu: usize,
        needed: u64,
    ) -> Result<(), WriteError> {
        let new_start = self.free_start();
        self.freeze_tail(new_start);
        let reserve = self.reserve;
        let align = self.align;
        let region = self.regions[cpu].as_mut().expect("allocated");
        if region.flushed > 0 {
            // (Data still in the buffer just moves with the region.)
            flush_region(out, cpu, region)?;
            out.copy_within(
                region.start,
                new_start,
                region.flushed,
                &format!("CPU {cpu}'s data"),
            )?;
            self.moves += 1;
        }
        region.start = new_start;
        region.cap = align_up(reserve.max(needed.saturating_mul(2)), align);
        self.end = new_start + region.cap;
        self.tail = Some(cpu);
        Ok(())
    }

    /// Writes every buffered byte.
    pub(crate) fn flush_all<W: Write + Seek>(
        &mut self,
        out: &mut Out<W>,
    ) -> Result<(), WriteError> {
        for (cpu, region) in self.regions.iter_mut().enumerate() {
            if let Some(region) = region {
                flush_region(out, cpu, region)?;
            }
        }
        Ok(())
    }

    /// The unused spans between `data_start` and the last region's data, in file order:
    /// `(offset, len)`, both multiples of the alignment. Call after [`Regions::flush_all`].
    pub(crate) fn gaps(&self, data_start: u64) -> Vec<(u64, u64)> {
        let mut spans: Vec<(u64, u64)> = self
            .regions
            .iter()
            .flatten()
            .map(|r| (r.start, r.start + r.len()))
            .collect();
        spans.sort_unstable();
        let mut gaps = Vec::new();
        let mut at = data_start;
        for (start, end) in spans {
            let from = align_up(at, self.align);
            if start > from {
                gaps.push((from, start - from));
            }
            at = at.max(end);
        }
        gaps
    }

    /// Records that `len` bytes at `offset` were removed from the file: every region
    /// after them moves down.
    pub(crate) fn shift_down(&mut self, offset: u64, len: u64) {
        for r in self.regions.iter_mut().flatten() {
            if r.start >= offset + len {
                r.start -= len;
            }
        }
        self.end = self.end.saturating_sub(len);
    }

    /// The end of the data: the last byte of any region (at least `data_start`).
    pub(crate) fn data_end(&self, data_start: u64) -> u64 {
        self.regions
            .iter()
            .flatten()
            .map(|r| r.start + r.len())
            .fold(data_start, u64::max)
    }

    /// `{cpu, offset, size}` for every CPU; a CPU without data gets `empty_offset` and 0.
    pub(crate) fn extents(&self, empty_offset: u64) -> Vec<CpuExtent> {
        self.regions
            .iter()
            .enumerate()
            .map(|(cpu, r)| CpuExtent {
                cpu: cpu as u32,
                offset: r.as_ref().map_or(empty_offset, |r| r.start),
                size: r.as_ref().map_or(0, |r| r.len()),
            })
            .collect()
    }
}

fn flush_region<W: Write + Seek>(
    out: &mut Out<W>,
    cpu: usize,
    region: &mut Region,
) -> Result<(), WriteError> {
    if region.buf.is_empty() {
        return Ok(());
    }
    out.write_at(
        region.start + region.flushed,
        &region.buf,
        &format!("writing CPU {cpu}'s data"),
    )?;
    region.flushed += region.buf.len() as u64;
    region.buf.clear();
    Ok(())
}
