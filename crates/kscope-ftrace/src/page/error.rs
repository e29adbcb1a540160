//! What can be wrong with a page (or with `header_page`).

/// A page, a stream of pages or a `header_page` text that cannot be decoded. Every page
/// error names the byte offset inside the page (counted from the start of the page, header
/// included) where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The page is shorter than its own header.
    #[error("page of {len} bytes is shorter than its {needed}-byte header")]
    ShortHeader {
        /// Bytes given.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The `commit` word claims more data than the page holds.
    #[error(
        "commit word at offset {offset} says {used} bytes are used, but the page has room for {room}"
    )]
    CommitTooLarge {
        /// Offset of the commit word.
        offset: usize,
        /// The used size it claims.
        used: usize,
        /// The room after the header.
        room: usize,
    },
    /// The page says a lost-events count is stored after its data, but that place is past
    /// the end of the page.
    #[error(
        "the missed-events count at offset {offset} ({size} bytes) lies past the end of the {len}-byte page"
    )]
    MissedCountOutOfPage {
        /// Where the count should be.
        offset: usize,
        /// Its size (the kernel's `long`).
        size: usize,
        /// The page length.
        len: usize,
    },
    /// An event runs past the used part of the page.
    #[error(
        "event at offset {offset} (type_len {type_len}) needs {needed} bytes but only {available} remain in the used part of the page"
    )]
    Truncated {
        /// Offset of the event header.
        offset: usize,
        /// Its `type_len`.
        type_len: u8,
        /// Bytes the event needs, header included.
        needed: u64,
        /// Bytes left up to the used size.
        available: usize,
    },
    /// A long event's length word is smaller than the word itself.
    #[error("event at offset {offset} has a length word of {length}, smaller than its own 4 bytes")]
    BadLength {
        /// Offset of the event header.
        offset: usize,
        /// The length word (`array[0]`).
        length: u32,
    },
    /// A raw stream's length is not a whole number of pages.
    #[error(
        "the stream ends with a partial page of {len} bytes at offset {offset} (pages are {page_size} bytes)"
    )]
    PartialPage {
        /// Offset of the partial page in the stream.
        offset: usize,
        /// Its length.
        len: usize,
        /// The page size.
        page_size: usize,
    },
    /// A page in a stream could not be decoded.
    #[error("page {page} (at offset {page_offset} of the stream): {source}")]
    InStream {
        /// Index of the page in the stream.
        page: usize,
        /// Offset of the page's first byte in the stream.
        page_offset: usize,
        /// What is wrong with it.
        #[source]
        source: Box<PageError>,
    },
    /// `events/header_page` could not be parsed (line 0: something is missing).
    #[error("header_page line {line}: {reason}")]
    Layout {
        /// 1-based line number, or 0 when a field is missing altogether.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl PageError {
    /// The byte offset inside the page where the problem is, when the error is about a
    /// page. For [`PageError::InStream`] this is the offset inside that page.
    pub fn offset_in_page(&self) -> Option<usize> {
        match self {
            PageError::ShortHeader { .. } => Some(0),
            PageError::CommitTooLarge { offset, .. }
            | PageError::MissedCountOutOfPage { offset, .. }
            | PageError::Truncated { offset, .. }
            | PageError::BadLength { offset, .. } => Some(*offset),
            PageError::InStream { source, .. } => source.offset_in_page(),
            PageError::PartialPage { .. } | PageError::Layout { .. } => None,
        }
    }
}
