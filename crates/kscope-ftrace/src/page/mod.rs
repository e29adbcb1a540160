//! Ring-buffer sub-buffer ("page") decoding: the bytes read from
//! `per_cpu/cpuN/trace_pipe_raw`, mapped from it (Linux ≥ 6.10), or stored per CPU in a
//! trace.dat file.
//!
//! A sub-buffer is a header (`u64` timestamp, `commit` word, see [`PageLayout`]) followed
//! by events. Each event starts with a 32-bit header holding a 5-bit `type_len` and a
//! 27-bit `time_delta` (on little-endian kernels `type_len` is the low 5 bits, on
//! big-endian ones the high 5 bits):
//!
//! | `type_len` | meaning |
//! |---|---|
//! | 1–28 | a record of `type_len * 4` payload bytes right after the header |
//! | 0 | a record whose length word follows the header; it counts itself, so the payload is that many bytes minus 4, starting after it |
//! | 29 | padding: with `time_delta == 0` the rest of the page is unused; otherwise a discarded event (or the filler the writer leaves at the end of a full page) whose length word follows, not counting the 4-byte header |
//! | 30 | time extend: add `length_word << 27 \| time_delta` to the running time |
//! | 31 | time stamp: the running time becomes `length_word << 27 \| time_delta`, a 59-bit value whose top 5 bits come from the running time |
//!
//! A record's time is the page timestamp plus every delta up to and including its own.
//!
//! Decoding is zero-copy and never panics: corrupt or truncated pages give a
//! [`PageError`] naming the byte offset inside the page.
//!
//! ```
//! use kscope_ftrace::page::{Page, PageFormat};
//!
//! // A page: timestamp 1000, commit 8 (bytes used), one 4-byte record with delta 5.
//! let mut bytes = vec![0u8; 4096];
//! bytes[0..8].copy_from_slice(&1000u64.to_le_bytes());
//! bytes[8..16].copy_from_slice(&8u64.to_le_bytes());
//! bytes[16..20].copy_from_slice(&(1 | (5 << 5) as u32).to_le_bytes());
//! bytes[20..24].copy_from_slice(b"abcd");
//!
//! let format = PageFormat::default();
//! let page = Page::parse(&bytes, format).unwrap();
//! let records: Vec<_> = page.records().collect::<Result<_, _>>().unwrap();
//! assert_eq!(records[0].timestamp, 1005);
//! assert_eq!(records[0].payload, b"abcd");
//! assert_eq!(page.missed_events(), None);
//! ```

#![warn(missing_docs)]

mod error;
mod layout;
mod stream;

pub use error::PageError;
pub use layout::{Endian, PageFormat, PageLayout};
pub use stream::{CpuStream, Lost, StreamItem, StreamRecords, read_stream};

/// The bits of `commit` that hold the bytes used (the kernel's flags live above them).
pub const COMMIT_SIZE_MASK: u64 = (1 << 27) - 1;
/// `commit` flag (`RB_MISSED_EVENTS`): events were lost between the previous page read
/// and this one.
pub const MISSED_EVENTS: u64 = 1 << 31;
/// `commit` flag (`RB_MISSED_STORED`): the number of lost events (a `long`) is stored
/// right after the used data.
pub const MISSED_STORED: u64 = 1 << 30;

/// The largest `type_len` of a record whose length is in the header.
pub const TYPE_LEN_DATA_MAX: u8 = 28;
/// `type_len` of padding and discarded events.
pub const TYPE_LEN_PADDING: u8 = 29;
/// `type_len` of a time extend.
pub const TYPE_LEN_TIME_EXTEND: u8 = 30;
/// `type_len` of an absolute time stamp.
pub const TYPE_LEN_TIME_STAMP: u8 = 31;

/// The top 5 bits of a timestamp, which an absolute time stamp event does not carry.
const TS_MSB: u64 = 0xf8 << 56;
const TS_SHIFT: u32 = 27;
const DELTA_MASK: u32 = (1 << TS_SHIFT) - 1;

/// Events lost before a page, from its `commit` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Missed {
    /// Events were lost; the page had no room to store how many.
    Unknown,
    /// This many events were lost.
    Count(u64),
}

/// One record (a data event) of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its time, in trace-clock units (nanoseconds for the default `local` clock).
    pub timestamp: u64,
    /// The event's bytes: `common_type` (u16), flags, preempt count, pid, then the fields.
    /// Its length is a multiple of 4: the kernel rounds payloads up.
    pub payload: &'a [u8],
    /// Offset of the record's event header from the start of the page (any time extend
    /// before it is not included).
    pub offset_in_page: usize,
}

/// What one event header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A record (`type_len` 0–28).
    Data {
        /// The payload.
        payload: &'a [u8],
    },
    /// A discarded event, or the filler left at the end of a page (`type_len` 29 with a
    /// non-zero delta).
    Padding {
        /// Bytes it covers, its 4-byte header included.
        length: usize,
    },
    /// `type_len` 29 with a zero delta: the rest of the page is unused. Nothing follows.
    PaddingToEnd,
    /// A time extend (`type_len` 30).
    TimeExtend {
        /// The delta it adds.
        delta: u64,
    },
    /// An absolute time stamp (`type_len` 31).
    TimeStamp {
        /// The 59-bit value as stored, before its top bits are restored.
        raw: u64,
    },
}

/// One event header of a page, of any kind, with the running time after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Offset of the event header from the start of the page.
    pub offset_in_page: usize,
    /// The header's `type_len` (0–31).
    pub type_len: u8,
    /// The header's 27-bit `time_delta`.
    pub time_delta: u32,
    /// The running time once this entry is applied: a record's timestamp.
    pub timestamp: u64,
    /// What the entry is.
    pub kind: EntryKind<'a>,
}

/// A decoded sub-buffer header over the page's bytes. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    bytes: &'a [u8],
    format: PageFormat,
    timestamp: u64,
    commit: u64,
    used: usize,
    missed: Option<Missed>,
}

impl<'a> Page<'a> {
    /// Reads the header of one sub-buffer. `bytes` is the whole sub-buffer (its size is
    /// the caller's: 4096 unless `buffer_subbuf_size_kb` was changed, Linux ≥ 6.8).
    ///
    /// Fails when the page is shorter than its header, when `commit` claims more bytes
    /// than the page has, or when a stored missed-events count lies outside the page.
    pub fn parse(bytes: &'a [u8], format: PageFormat) -> Result<Page<'a>, PageError> {
        let layout = &format.layout;
        if layout.commit_size != 4 && layout.commit_size != 8 {
            return Err(PageError::Layout {
                line: 0,
                reason: format!(
                    "the commit word must be 4 or 8 bytes, not {}",
                    layout.commit_size
                ),
            });
        }
        let needed = layout.header_len();
        let short = PageError::ShortHeader {
            len: bytes.len(),
            needed,
        };
        if bytes.len() < needed {
            return Err(short);
        }
        let endian = format.endian;
        let timestamp = endian
            .u64_at(bytes, layout.timestamp_offset)
            .ok_or(short.clone())?;
        let commit = endian
            .uint_at(bytes, layout.commit_offset, layout.commit_size)
            .ok_or(short)?;
        // Only the low 27 bits are the size. Above them: bit 30 (RB_MISSED_STORED) and
        // bit 31 (RB_MISSED_EVENTS). On 64-bit kernels the latter is added as a negative
        // int, so bits 32-63 are set along with it: they carry nothing.
        let used = (commit & COMMIT_SIZE_MASK) as usize;
        let room = bytes.len() - layout.data_offset;
        if used > room {
            return Err(PageError::CommitTooLarge {
                offset: layout.commit_offset,
                used,
                room,
            });
        }
        let missed = if commit & MISSED_EVENTS == 0 {
            None
        } else if commit & MISSED_STORED != 0 {
            let at = layout.data_offset + used;
            let count = endian.uint_at(bytes, at, layout.commit_size).ok_or(
                PageError::MissedCountOutOfPage {
                    offset: at,
                    size: layout.commit_size,
                    len: bytes.len(),
                },
            )?;
            Some(Missed::Count(count))
        } else {
            Some(Missed::Unknown)
        };
        Ok(Page {
            bytes,
            format,
            timestamp,
            commit,
            used,
            missed,
        })
    }

    /// The page timestamp: the base the first event's delta is added to.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Bytes of event data used (the low 27 bits of `commit`).
    pub fn used_size(&self) -> usize {
        self.used
    }

    /// The raw `commit` word, flags included.
    pub fn commit_word(&self) -> u64 {
        self.commit
    }

    /// Whether events were lost before this page, and how many when the kernel stored the
    /// count.
    pub fn missed_events(&self) -> Option<Missed> {
        self.missed
    }

    /// The whole sub-buffer, as given.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The used event data (`used_size` bytes after the header).
    pub fn data(&self) -> &'a [u8] {
        let start = self.format.layout.data_offset;
        &self.bytes[start..start + self.used]
    }

    /// The format the page is decoded with.
    pub fn format(&self) -> PageFormat {
        self.format
    }

    /// Every event header of the page in order, padding and time events included.
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            data: self.data(),
            base: self.format.layout.data_offset,
            endian: self.format.endian,
            pos: 0,
            time: self.timestamp,
            done: false,
        }
    }

    /// The records (data events) of the page in order, with their timestamps.
    pub fn records(&self) -> Records<'a> {
        Records {
            entries: self.entries(),
        }
    }
}

/// Iterator over a page's event headers; see [`Page::entries`]. It stops after the first
/// error.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    data: &'a [u8],
    base: usize,
    endian: Endian,
    pos: usize,
    time: u64,
    done: bool,
}

impl<'a> Entries<'a> {
    /// The running time: the timestamp of the last entry returned, or the page's before
    /// the first.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// `array[0]`: the word after the event header at `offset`, when there is one.
    #[inline]
    fn array0(&self, offset: usize) -> Option<u32> {
        self.endian.u32_at(self.data, offset + 4)
    }

    fn fail(&mut self, err: PageError) -> Option<Result<Entry<'a>, PageError>> {
        self.done = true;
        Some(Err(err))
    }

    fn truncated(&mut self, type_len: u8, needed: u64) -> Option<Result<Entry<'a>, PageError>> {
        let err = PageError::Truncated {
            offset: self.base + self.pos,
            type_len,
            needed,
            available: self.data.len() - self.pos,
        };
        self.fail(err)
    }
}

/// Restores the top 5 bits an absolute time stamp lacks from the running time (as the
/// kernel's `rb_fix_abs_ts` does), carrying when the 59-bit value wrapped.
fn fix_abs_ts(abs: u64, running: u64) -> u64 {
    if running & TS_MSB == 0 {
        return abs;
    }
    let fixed = abs | (running & TS_MSB);
    if fixed < running {
        fixed.wrapping_add(1 << 59)
    } else {
        fixed
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.data.len() {
            self.done = true;
            return None;
        }
        let offset = self.pos;
        let available = self.data.len() - offset;
        let Some(word) = self.endian.u32_at(self.data, offset) else {
            return self.truncated(0, 4);
        };
        let (type_len, time_delta) = match self.endian {
            Endian::Little => ((word & 0x1f) as u8, word >> 5),
            Endian::Big => ((word >> 27) as u8, word & DELTA_MASK),
        };
        let at = self.base + offset;
        let entry = move |timestamp, kind| Entry {
            offset_in_page: at,
            type_len,
            time_delta,
            timestamp,
            kind,
        };
        let (kind, length) = match type_len {
            TYPE_LEN_PADDING if time_delta == 0 => {
                self.done = true;
                return Some(Ok(entry(self.time, EntryKind::PaddingToEnd)));
            }
            TYPE_LEN_PADDING => {
                let Some(len) = self.array0(offset) else {
                    return self.truncated(type_len, 8);
                };
                let length = 4 + u64::from(len);
                if length > available as u64 {
                    return self.truncated(type_len, length);
                }
                // Like trace-cmd (libtraceevent's kbuffer) and the kernel's own
                // time-delta checker, the delta of a discarded event counts: the event
                // after it was timed against it. (The kernel's reader skips it, so its
                // text output can differ by that delta.)
                self.time = self.time.wrapping_add(u64::from(time_delta));
                let length = length as usize;
                (EntryKind::Padding { length }, length)
            }
            TYPE_LEN_TIME_EXTEND => {
                let Some(high) = self.array0(offset) else {
                    return self.truncated(type_len, 8);
                };
                let delta = (u64::from(high) << TS_SHIFT) | u64::from(time_delta);
                self.time = self.time.wrapping_add(delta);
                (EntryKind::TimeExtend { delta }, 8)
            }
            TYPE_LEN_TIME_STAMP => {
                let Some(high) = self.array0(offset) else {
                    return self.truncated(type_len, 8);
                };
                let raw = (u64::from(high) << TS_SHIFT) | u64::from(time_delta);
                self.time = fix_abs_ts(raw, self.time);
                (EntryKind::TimeStamp { raw }, 8)
            }
            0 => {
                let Some(len) = self.array0(offset) else {
                    return self.truncated(type_len, 8);
                };
                if len < 4 {
                    let err = PageError::BadLength {
                        offset: at,
                        length: len,
                    };
                    return self.fail(err);
                }
                let payload_len = (len - 4) as usize;
                let needed = 8 + payload_len as u64;
                if needed > available as u64 {
                    return self.truncated(type_len, needed);
                }
                self.time = self.time.wrapping_add(u64::from(time_delta));
                let payload = &self.data[offset + 8..offset + 8 + payload_len];
                // The kernel keeps events 4-byte aligned.
                let length = (8 + payload_len).next_multiple_of(4);
                (EntryKind::Data { payload }, length)
            }
            _ => {
                let payload_len = usize::from(type_len) * 4;
                if 4 + payload_len > available {
                    return self.truncated(type_len, 4 + payload_len as u64);
                }
                self.time = self.time.wrapping_add(u64::from(time_delta));
                let payload = &self.data[offset + 4..offset + 4 + payload_len];
                (EntryKind::Data { payload }, 4 + payload_len)
            }
        };
        self.pos = offset + length;
        Some(Ok(entry(self.time, kind)))
    }
}

impl std::iter::FusedIterator for Entries<'_> {}

/// Iterator over a page's records; see [`Page::records`]. It stops after the first error.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    entries: Entries<'a>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.entries.next()? {
                Err(err) => return Some(Err(err)),
                Ok(Entry {
                    kind: EntryKind::Data { payload },
                    timestamp,
                    offset_in_page,
                    ..
                }) => {
                    return Some(Ok(Record {
                        timestamp,
                        payload,
                        offset_in_page,
                    }));
                }
                Ok(_) => continue,
            }
        }
    }
}

impl std::iter::FusedIterator for Records<'_> {}
