//! Per-CPU ring-buffer data, streamed: chunks (the CPU's whole data when uncompressed, one
//! decompressed chunk at a time otherwise), sub-buffers, records, and the k-way merge of
//! several CPUs' records on their timestamps.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::compress::{Compression, Decompressor};
use super::error::{ErrorKind, Place, ReadError};
use crate::page::{Endian, Missed, Page, PageFormat};
use kscope_sys::mmap::Mapping;

/// How far a reader gets past the bytes it last released before it releases again.
const RELEASE_STEP: u64 = 1 << 20;

/// The largest decompressed chunk accepted: trace-cmd writes chunks of 10 sub-buffers.
fn chunk_limit(align: usize) -> u64 {
    ((align as u64).saturating_mul(1024)).clamp(16 << 20, 1 << 30)
}

/// One block of a CPU's data.
#[derive(Debug, Clone, Copy)]
enum Chunk<'f> {
    /// Uncompressed data, in the file at `offset`.
    Borrowed { data: &'f [u8], offset: u64 },
    /// Decompressed data, in the reader's buffer; `offset` is that of the chunk's header.
    Owned { offset: u64 },
}

impl<'f> Chunk<'f> {
    fn bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8]
    where
        'f: 'a,
    {
        match *self {
            Chunk::Borrowed { data, .. } => data,
            Chunk::Owned { .. } => buf,
        }
    }

    /// The place of byte `at` of the chunk.
    fn place(&self, at: usize) -> Place {
        match *self {
            Chunk::Borrowed { offset, .. } => Place::file(offset.saturating_add(at as u64)),
            Chunk::Owned { offset } => Place {
                offset,
                decompressed: Some(at as u64),
            },
        }
    }
}

#[derive(Debug)]
enum State {
    /// Uncompressed data not handed out yet.
    Plain {
        offset: u64,
        size: u64,
    },
    /// An uncompressed tail shorter than one sub-buffer, reported as an error.
    PartialTail {
        offset: u64,
        size: u64,
    },
    /// Compressed data whose chunk count has not been read yet.
    ChunkedStart {
        offset: u64,
        size: u64,
    },
    /// Compressed data: `remaining` chunks from `pos`.
    Chunked {
        offset: u64,
        size: u64,
        pos: u64,
        remaining: u32,
        index: u32,
    },
    Done,
}

/// Reads one CPU's data (or a latency text) block by block.
#[derive(Debug)]
pub(crate) struct ChunkReader<'f> {
    file: &'f [u8],
    endian: Endian,
    section: Cow<'static, str>,
    state: State,
    decompressor: Option<Decompressor>,
    align: usize,
    /// The file's mapping, when the bytes are mapped: consumed ranges are released.
    mapping: Option<&'f Mapping>,
    /// The file offset up to which bytes were released (or where the data starts).
    released: u64,
}

impl<'f> ChunkReader<'f> {
    /// `compressed`: the data is a chunk count and chunks, decompressed with `algorithm`.
    /// `align`: every block must be a whole number of this many bytes (the sub-buffer size).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        file: &'f [u8],
        endian: Endian,
        section: Cow<'static, str>,
        offset: u64,
        size: u64,
        compressed: bool,
        algorithm: &Compression,
        align: usize,
    ) -> ChunkReader<'f> {
        let state = if size == 0 {
            State::Done
        } else if compressed {
            State::ChunkedStart { offset, size }
        } else {
            State::Plain { offset, size }
        };
        ChunkReader {
            file,
            endian,
            section,
            state,
            decompressor: compressed.then(|| Decompressor::new(algorithm.clone())),
            align: align.max(1),
            mapping: None,
            released: offset,
        }
    }

    /// Releases the pages of `mapping` (the mapping of `file`) behind the reader as it
    /// goes, so that the resident memory of a long read stays bounded.
    pub(crate) fn with_release(mut self, mapping: Option<&'f Mapping>) -> ChunkReader<'f> {
        self.mapping = mapping;
        self
    }

    /// Says that the file's bytes before `upto` will not be read again.
    fn consumed(&mut self, upto: u64) {
        if let Some(m) = self.mapping
            && upto >= self.released.saturating_add(RELEASE_STEP)
        {
            // Only a hint: on failure the pages stay resident, nothing else changes.
            let _ = m.release(self.released as usize, (upto - self.released) as usize);
            self.released = upto;
        }
    }

    fn error(&self, place: Place, kind: ErrorKind) -> ReadError {
        ReadError::new(self.section.clone(), place, kind)
    }

    fn u32_at(&self, at: u64) -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        let raw: [u8; 4] = self.file.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self.endian {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn fail(&mut self, err: ReadError) -> Option<Result<Chunk<'f>, ReadError>> {
        self.state = State::Done;
        Some(Err(err))
    }

    /// The next block; decompressed data goes to `buf`.
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> Option<Result<Chunk<'f>, ReadError>> {
        loop {
            match self.state {
                State::Done => return None,
                State::Plain { offset, size } => {
                    let len = self.file.len() as u64;
                    if offset > len || size > len - offset {
                        return self.fail(self.error(
                            Place::file(offset),
                            ErrorKind::TooLarge {
                                what: "the data size",
                                size,
                                available: len.saturating_sub(offset),
                            },
                        ));
                    }
                    let whole = size - size % self.align as u64;
                    self.state = if whole < size {
                        State::PartialTail {
                            offset: offset + whole,
                            size,
                        }
                    } else {
                        State::Done
                    };
                    if whole == 0 {
                        continue;
                    }
                    let data = &self.file[offset as usize..(offset + whole) as usize];
                    return Some(Ok(Chunk::Borrowed { data, offset }));
                }
                State::PartialTail { offset, size } => {
                    let err = self.error(
                        Place::file(offset),
                        ErrorKind::PartialSubbuf {
                            size,
                            subbuf_size: self.align as u64,
                        },
                    );
                    return self.fail(err);
                }
                State::ChunkedStart { offset, size } => {
                    let Some(count) = self.u32_at(offset) else {
                        let available = (self.file.len() as u64).saturating_sub(offset);
                        let err = self.error(
                            Place::file(offset),
                            ErrorKind::Truncated {
                                what: "the chunk count",
                                needed: 4,
                                available,
                            },
                        );
                        return self.fail(err);
                    };
                    self.state = State::Chunked {
                        offset,
                        size,
                        pos: offset + 4,
                        remaining: count,
                        index: 0,
                    };
                }
                State::Chunked {
                    offset,
                    size,
                    pos,
                    remaining,
                    index,
                } => {
                    if remaining == 0 {
                        // trace-cmd 3.1.6 records the size of the chunks without the count
                        // before them; accept that and the size of the whole.
                        let used = pos - offset;
                        if used != size && used != size.saturating_add(4) {
                            let err = self.error(
                                Place::file(offset),
                                ErrorKind::ChunkedSize {
                                    recorded: size,
                                    actual: used,
                                },
                            );
                            return self.fail(err);
                        }
                        self.state = State::Done;
                        return None;
                    }
                    let section = format!("{}, chunk {index}", self.section);
                    let here = Place::file(pos);
                    let len = self.file.len() as u64;
                    let (Some(csize), Some(usize_)) = (self.u32_at(pos), self.u32_at(pos + 4))
                    else {
                        let err = ReadError::new(
                            section,
                            here,
                            ErrorKind::Truncated {
                                what: "a chunk header",
                                needed: 8,
                                available: len.saturating_sub(pos),
                            },
                        );
                        return self.fail(err);
                    };
                    let data_at = pos + 8;
                    let available = len - data_at;
                    if u64::from(csize) > available {
                        let err = ReadError::new(
                            section,
                            here,
                            ErrorKind::TooLarge {
                                what: "the compressed chunk size",
                                size: csize.into(),
                                available,
                            },
                        );
                        return self.fail(err);
                    }
                    let limit = chunk_limit(self.align);
                    if u64::from(usize_) > limit {
                        let err = ReadError::new(
                            section,
                            here,
                            ErrorKind::TooLarge {
                                what: "the uncompressed chunk size",
                                size: usize_.into(),
                                available: limit,
                            },
                        );
                        return self.fail(err);
                    }
                    if !(usize_ as usize).is_multiple_of(self.align) {
                        let err = ReadError::new(
                            section,
                            here,
                            ErrorKind::PartialSubbuf {
                                size: usize_.into(),
                                subbuf_size: self.align as u64,
                            },
                        );
                        return self.fail(err);
                    }
                    let src = &self.file[data_at as usize..(data_at + u64::from(csize)) as usize];
                    self.state = State::Chunked {
                        offset,
                        size,
                        pos: data_at + u64::from(csize),
                        remaining: remaining - 1,
                        index: index + 1,
                    };
                    let Some(decompressor) = self.decompressor.as_mut() else {
                        return self.fail(ReadError::new(section, here, ErrorKind::NotCompressed));
                    };
                    if let Err(kind) = decompressor.decompress(src, usize_.into(), buf) {
                        return self.fail(ReadError::new(section, here, kind));
                    }
                    self.consumed(data_at + u64::from(csize));
                    if usize_ == 0 {
                        continue;
                    }
                    return Some(Ok(Chunk::Owned { offset: pos }));
                }
            }
        }
    }
}

/// A CPU's sub-buffers in order; see [`super::TraceFile::cpu_pages`]. Uncompressed
/// sub-buffers are borrowed from the file; compressed ones are copied out of the one chunk
/// decompressed at a time. It stops after the first error.
#[derive(Debug)]
pub struct CpuPages<'f> {
    chunks: Option<ChunkReader<'f>>,
    first_error: Option<ReadError>,
    page_size: usize,
    chunk: Option<Chunk<'f>>,
    buf: Vec<u8>,
    pos: usize,
}

impl<'f> CpuPages<'f> {
    pub(crate) fn new(chunks: ChunkReader<'f>, page_size: usize) -> CpuPages<'f> {
        CpuPages {
            chunks: Some(chunks),
            first_error: None,
            page_size,
            chunk: None,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub(crate) fn failed(err: ReadError) -> CpuPages<'f> {
        CpuPages {
            chunks: None,
            first_error: Some(err),
            page_size: 1,
            chunk: None,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl<'f> Iterator for CpuPages<'f> {
    type Item = Result<Cow<'f, [u8]>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.first_error.take() {
            return Some(Err(err));
        }
        loop {
            if let Some(chunk) = self.chunk {
                let start = self.pos;
                let end = start + self.page_size;
                match chunk {
                    Chunk::Borrowed { data, .. } if end <= data.len() => {
                        self.pos = end;
                        return Some(Ok(Cow::Borrowed(&data[start..end])));
                    }
                    Chunk::Owned { .. } if end <= self.buf.len() => {
                        self.pos = end;
                        return Some(Ok(Cow::Owned(self.buf[start..end].to_vec())));
                    }
                    _ => self.chunk = None,
                }
            }
            let chunks = self.chunks.as_mut()?;
            match chunks.next_chunk(&mut self.buf) {
                None => {
                    self.chunks = None;
                    return None;
                }
                Some(Err(e)) => {
                    self.chunks = None;
                    return Some(Err(e));
                }
                Some(Ok(chunk)) => {
                    self.chunk = Some(chunk);
                    self.pos = 0;
                }
            }
        }
    }
}

impl std::iter::FusedIterator for CpuPages<'_> {}

/// A latency text in blocks; see [`super::TraceFile::text_chunks`].
#[derive(Debug)]
pub struct TextChunks<'f> {
    reader: Option<ChunkReader<'f>>,
    first_error: Option<ReadError>,
    buf: Vec<u8>,
}

impl<'f> TextChunks<'f> {
    pub(crate) fn new(reader: ChunkReader<'f>) -> TextChunks<'f> {
        TextChunks {
            reader: Some(reader),
            first_error: None,
            buf: Vec::new(),
        }
    }

    pub(crate) fn failed(err: ReadError) -> TextChunks<'f> {
        TextChunks {
            reader: None,
            first_error: Some(err),
            buf: Vec::new(),
        }
    }
}

impl<'f> Iterator for TextChunks<'f> {
    type Item = Result<Cow<'f, [u8]>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.first_error.take() {
            return Some(Err(err));
        }
        let reader = self.reader.as_mut()?;
        match reader.next_chunk(&mut self.buf) {
            None => {
                self.reader = None;
                None
            }
            Some(Err(e)) => {
                self.reader = None;
                Some(Err(e))
            }
            Some(Ok(Chunk::Borrowed { data, .. })) => Some(Ok(Cow::Borrowed(data))),
            Some(Ok(Chunk::Owned { .. })) => Some(Ok(Cow::Owned(std::mem::take(&mut self.buf)))),
        }
    }
}

impl std::iter::FusedIterator for TextChunks<'_> {}

/// What a record iterator yields: a record, or a notice that events were lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<P> {
    /// A record.
    Record(Record<P>),
    /// Events were lost on a CPU before its next record.
    Lost(LostEvents),
}

/// One record of a CPU's ring buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<P> {
    /// Index of its buffer in [`super::TraceFile::buffers`].
    pub buffer: usize,
    /// The CPU it was recorded on.
    pub cpu: u32,
    /// Its time, in trace-clock units as recorded (no OFFSET or TSC2NSEC applied).
    pub timestamp: u64,
    /// The event's bytes: `common_type` (u16), flags, preempt count, pid, then the fields.
    pub payload: P,
}

/// Events lost on a CPU, reported before the first record after the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostEvents {
    /// Index of the buffer.
    pub buffer: usize,
    /// The CPU.
    pub cpu: u32,
    /// The time of the record that follows (or, at the end of the data, of the sub-buffer
    /// that carried the flag).
    pub timestamp: u64,
    /// How many, when the kernel stored the count.
    pub missed: Missed,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    timestamp: u64,
    start: usize,
    len: usize,
}

/// An item taken from a cursor, before its payload is looked up.
enum Taken {
    Record(Slot),
    Lost(LostEvents),
}

/// One CPU's records in order, decoded one sub-buffer at a time; see
/// [`super::TraceFile::cpu_records`].
///
/// Independent of every other cursor (it is `Send`), so CPUs can be decoded on separate
/// threads. [`CpuRecords::next_ref`] lends payloads without copying; the [`Iterator`]
/// impl yields them as [`Cow`]s, borrowed from the file when it is not compressed. After an
/// error it yields nothing more.
#[derive(Debug)]
pub struct CpuRecords<'f> {
    buffer: usize,
    cpu: u32,
    section: Cow<'static, str>,
    chunks: Option<ChunkReader<'f>>,
    format: PageFormat,
    page_size: usize,
    chunk: Option<Chunk<'f>>,
    buf: Vec<u8>,
    pos: usize,
    page_index: u64,
    slots: Vec<Slot>,
    next: usize,
    lost: Option<(Missed, u64)>,
    error: Option<ReadError>,
    last_timestamp: u64,
}

impl<'f> CpuRecords<'f> {
    pub(crate) fn new(
        buffer: usize,
        cpu: u32,
        chunks: ChunkReader<'f>,
        format: PageFormat,
        page_size: usize,
    ) -> CpuRecords<'f> {
        CpuRecords {
            buffer,
            cpu,
            section: chunks.section.clone(),
            chunks: Some(chunks),
            format,
            page_size,
            chunk: None,
            buf: Vec::new(),
            pos: 0,
            page_index: 0,
            slots: Vec::new(),
            next: 0,
            lost: None,
            error: None,
            last_timestamp: 0,
        }
    }

    /// The buffer index.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// The CPU.
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// Decodes sub-buffers until a record is ready, an error is pending or the data ends.
    fn fill(&mut self) {
        while self.next >= self.slots.len() && self.error.is_none() && self.chunks.is_some() {
            self.load_page();
        }
    }

    fn load_page(&mut self) {
        self.slots.clear();
        self.next = 0;
        let chunk = loop {
            if let Some(chunk) = self.chunk
                && self.pos + self.page_size <= chunk.bytes(&self.buf).len()
            {
                break chunk;
            }
            self.chunk = None;
            let Some(chunks) = self.chunks.as_mut() else {
                return;
            };
            match chunks.next_chunk(&mut self.buf) {
                None => {
                    self.chunks = None;
                    return;
                }
                Some(Err(e)) => {
                    self.chunks = None;
                    self.error = Some(e);
                    return;
                }
                Some(Ok(chunk)) => {
                    self.chunk = Some(chunk);
                    self.pos = 0;
                }
            }
        };
        let start = self.pos;
        if let (Chunk::Borrowed { offset, .. }, Some(chunks)) = (chunk, self.chunks.as_mut()) {
            chunks.consumed(offset + start as u64);
        }
        let bytes = &chunk.bytes(&self.buf)[start..start + self.page_size];
        let index = self.page_index;
        self.pos += self.page_size;
        self.page_index += 1;
        let page_error = |source: crate::page::PageError| {
            let at = start + source.offset_in_page().unwrap_or(0);
            (chunk.place(at), ErrorKind::Page { index, source })
        };
        let page = match Page::parse(bytes, self.format) {
            Ok(page) => page,
            Err(e) => {
                let (place, kind) = page_error(e);
                self.error = Some(ReadError::new(self.section.clone(), place, kind));
                self.chunks = None;
                return;
            }
        };
        if let Some(missed) = page.missed_events() {
            self.lost = Some(match self.lost {
                Some((Missed::Count(a), ts)) => match missed {
                    Missed::Count(b) => (Missed::Count(a.saturating_add(b)), ts),
                    Missed::Unknown => (Missed::Unknown, ts),
                },
                Some((Missed::Unknown, ts)) => (Missed::Unknown, ts),
                None => (missed, page.timestamp()),
            });
        }
        let base = bytes.as_ptr() as usize;
        let mut failure = None;
        for record in page.records() {
            match record {
                Ok(r) => self.slots.push(Slot {
                    timestamp: r.timestamp,
                    start: start + (r.payload.as_ptr() as usize - base),
                    len: r.payload.len(),
                }),
                Err(e) => {
                    failure = Some(page_error(e));
                    break;
                }
            }
        }
        if let Some((place, kind)) = failure {
            self.error = Some(ReadError::new(self.section.clone(), place, kind));
            self.chunks = None;
        }
    }

    /// The time of the next item (record, lost notice or error), decoding as needed;
    /// `None` at the end.
    pub fn peek_timestamp(&mut self) -> Option<u64> {
        self.fill();
        if let Some(slot) = self.slots.get(self.next) {
            return Some(slot.timestamp);
        }
        if let Some((_, ts)) = self.lost {
            return Some(ts);
        }
        self.error.as_ref().map(|_| self.last_timestamp)
    }

    fn take_item(&mut self) -> Option<Result<Taken, ReadError>> {
        self.fill();
        if let Some((missed, ts)) = self.lost.take() {
            let timestamp = self.slots.get(self.next).map_or(ts, |s| s.timestamp);
            return Some(Ok(Taken::Lost(LostEvents {
                buffer: self.buffer,
                cpu: self.cpu,
                timestamp,
                missed,
            })));
        }
        if let Some(&slot) = self.slots.get(self.next) {
            self.next += 1;
            self.last_timestamp = slot.timestamp;
            return Some(Ok(Taken::Record(slot)));
        }
        self.error.take().map(Err)
    }

    fn lend(&self, taken: Taken) -> Item<&[u8]> {
        match taken {
            Taken::Lost(lost) => Item::Lost(lost),
            Taken::Record(slot) => {
                let bytes = self.chunk.map_or(&[][..], |c| c.bytes(&self.buf));
                Item::Record(Record {
                    buffer: self.buffer,
                    cpu: self.cpu,
                    timestamp: slot.timestamp,
                    payload: &bytes[slot.start..slot.start + slot.len],
                })
            }
        }
    }

    fn give(&self, taken: Taken) -> Item<Cow<'f, [u8]>> {
        match taken {
            Taken::Lost(lost) => Item::Lost(lost),
            Taken::Record(slot) => {
                let range = slot.start..slot.start + slot.len;
                let payload = match self.chunk {
                    Some(Chunk::Borrowed { data, .. }) => Cow::Borrowed(&data[range]),
                    Some(Chunk::Owned { .. }) => Cow::Owned(self.buf[range].to_vec()),
                    None => Cow::Borrowed(&[][..]),
                };
                Item::Record(Record {
                    buffer: self.buffer,
                    cpu: self.cpu,
                    timestamp: slot.timestamp,
                    payload,
                })
            }
        }
    }

    /// The next item, its payload lent from the cursor (valid until the next call).
    pub fn next_ref(&mut self) -> Option<Result<Item<&[u8]>, ReadError>> {
        let taken = self.take_item()?;
        Some(taken.map(|t| self.lend(t)))
    }
}

impl<'f> Iterator for CpuRecords<'f> {
    type Item = Result<Item<Cow<'f, [u8]>>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let taken = self.take_item()?;
        Some(taken.map(|t| self.give(t)))
    }
}

impl std::iter::FusedIterator for CpuRecords<'_> {}

/// Several CPUs' records merged into one time-ordered sequence (a k-way merge on
/// timestamps; ties go to the lower buffer index, then the lower CPU number, as
/// trace-cmd's report orders them). Lost-event notices come right before the record they
/// precede. An error ends its CPU's part; the other CPUs go on.
#[derive(Debug)]
pub struct MergedRecords<'f> {
    cursors: Vec<CpuRecords<'f>>,
    heap: BinaryHeap<Reverse<(u64, usize, u32, usize)>>,
    started: bool,
    requeue: Option<usize>,
}

impl<'f> MergedRecords<'f> {
    /// Merges the given cursors.
    pub fn new(cursors: Vec<CpuRecords<'f>>) -> MergedRecords<'f> {
        MergedRecords {
            heap: BinaryHeap::with_capacity(cursors.len()),
            cursors,
            started: false,
            requeue: None,
        }
    }

    fn push(&mut self, index: usize) {
        let cursor = &mut self.cursors[index];
        if let Some(ts) = cursor.peek_timestamp() {
            self.heap
                .push(Reverse((ts, cursor.buffer, cursor.cpu, index)));
        }
    }

    fn take(&mut self) -> Option<(usize, Result<Taken, ReadError>)> {
        if !self.started {
            self.started = true;
            for index in 0..self.cursors.len() {
                self.push(index);
            }
        }
        loop {
            if let Some(index) = self.requeue.take() {
                self.push(index);
            }
            let Reverse((_, _, _, index)) = self.heap.pop()?;
            self.requeue = Some(index);
            if let Some(taken) = self.cursors[index].take_item() {
                return Some((index, taken));
            }
        }
    }

    /// The next item, its payload lent from the cursor (valid until the next call).
    pub fn next_ref(&mut self) -> Option<Result<Item<&[u8]>, ReadError>> {
        let (index, taken) = self.take()?;
        Some(taken.map(|t| self.cursors[index].lend(t)))
    }
}

impl<'f> Iterator for MergedRecords<'f> {
    type Item = Result<Item<Cow<'f, [u8]>>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (index, taken) = self.take()?;
        Some(taken.map(|t| self.cursors[index].give(t)))
    }
}

impl std::iter::FusedIterator for MergedRecords<'_> {}
