//! A per-CPU raw stream: the pages of one CPU back to back, as read from
//! `per_cpu/cpuN/trace_pipe_raw` or stored for one CPU in a trace.dat file.

use super::{Missed, Page, PageError, PageFormat, Record, Records};

/// One item of a per-CPU stream, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem<'a> {
    /// Events were lost before page `page` (it comes before that page's records).
    Lost {
        /// Index of the page that carries the flag.
        page: usize,
        /// How many, when known.
        missed: Missed,
    },
    /// A record.
    Record {
        /// Index of the page it is on.
        page: usize,
        /// The record.
        record: Record<'a>,
    },
}

/// Streaming decoder over a per-CPU raw stream: records and lost-event marks in order,
/// one page at a time, without allocating. It stops after the first error, which is a
/// [`PageError::InStream`] naming the page (or [`PageError::PartialPage`]).
///
/// ```
/// use kscope_ftrace::page::{PageFormat, StreamItem, StreamRecords};
///
/// let stream = vec![0u8; 2 * 4096]; // two empty pages
/// let items: Vec<StreamItem> = StreamRecords::new(&stream, 4096, PageFormat::default())
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert!(items.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct StreamRecords<'a> {
    data: &'a [u8],
    page_size: usize,
    format: PageFormat,
    next_page: usize,
    current: Option<(usize, Records<'a>)>,
    done: bool,
}

impl<'a> StreamRecords<'a> {
    /// Decodes `data` as pages of `page_size` bytes each (the sub-buffer size).
    pub fn new(data: &'a [u8], page_size: usize, format: PageFormat) -> StreamRecords<'a> {
        StreamRecords {
            data,
            page_size,
            format,
            next_page: 0,
            current: None,
            done: false,
        }
    }

    fn in_page(&self, page: usize, source: PageError) -> PageError {
        PageError::InStream {
            page,
            page_offset: page.saturating_mul(self.page_size),
            source: Box::new(source),
        }
    }

    /// Opens the next page; `Ok(None)` at the end of the stream.
    fn open_next_page(&mut self) -> Result<Option<StreamItem<'a>>, PageError> {
        let index = self.next_page;
        let start = index.saturating_mul(self.page_size);
        if start >= self.data.len() || self.page_size == 0 {
            self.done = true;
            return Ok(None);
        }
        let rest = &self.data[start..];
        if rest.len() < self.page_size {
            return Err(PageError::PartialPage {
                offset: start,
                len: rest.len(),
                page_size: self.page_size,
            });
        }
        let page = Page::parse(&rest[..self.page_size], self.format)
            .map_err(|e| self.in_page(index, e))?;
        self.next_page += 1;
        self.current = Some((index, page.records()));
        Ok(page.missed_events().map(|missed| StreamItem::Lost {
            page: index,
            missed,
        }))
    }
}

impl<'a> Iterator for StreamRecords<'a> {
    type Item = Result<StreamItem<'a>, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some((page, records)) = &mut self.current {
                let page = *page;
                match records.next() {
                    Some(Ok(record)) => return Some(Ok(StreamItem::Record { page, record })),
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(self.in_page(page, e)));
                    }
                    None => self.current = None,
                }
            }
            match self.open_next_page() {
                Ok(Some(lost)) => return Some(Ok(lost)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl std::iter::FusedIterator for StreamRecords<'_> {}

/// Events lost in a stream, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// The page that carries the flag.
    pub page: usize,
    /// Index in [`CpuStream::records`] of the first record after the loss.
    pub before_record: usize,
    /// How many, when known.
    pub missed: Missed,
}

/// A whole per-CPU stream decoded into memory; see [`read_stream`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStream<'a> {
    /// Every record, in order.
    pub records: Vec<Record<'a>>,
    /// Every lost-events mark, in order.
    pub lost: Vec<Lost>,
    /// The number of pages.
    pub pages: usize,
}

impl CpuStream<'_> {
    /// The sum of the known lost counts, and whether some pages lost an unknown number.
    pub fn lost_total(&self) -> (u64, bool) {
        let mut total = 0u64;
        let mut unknown = false;
        for lost in &self.lost {
            match lost.missed {
                Missed::Count(n) => total = total.saturating_add(n),
                Missed::Unknown => unknown = true,
            }
        }
        (total, unknown)
    }
}

/// Decodes a whole per-CPU raw stream (pages of `page_size` bytes back to back) into
/// records and lost-event marks. For large inputs prefer [`StreamRecords`], which does not
/// collect.
pub fn read_stream(
    data: &[u8],
    page_size: usize,
    format: PageFormat,
) -> Result<CpuStream<'_>, PageError> {
    let mut out = CpuStream {
        records: Vec::new(),
        lost: Vec::new(),
        pages: data.len().checked_div(page_size).unwrap_or(0),
    };
    for item in StreamRecords::new(data, page_size, format) {
        match item? {
            StreamItem::Record { record, .. } => out.records.push(record),
            StreamItem::Lost { page, missed } => out.lost.push(Lost {
                page,
                before_record: out.records.len(),
                missed,
            }),
        }
    }
    Ok(out)
}
