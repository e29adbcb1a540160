//! Where the page header's fields live (`events/header_page`) and the byte order of the
//! kernel that wrote the pages.

use super::PageError;

/// Byte order of the kernel that wrote the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Little-endian (x86, most arm64 and riscv kernels).
    Little,
    /// Big-endian (s390x, some powerpc and mips kernels).
    Big,
}

impl Endian {
    /// The byte order of the machine this code runs on (the one to use for live tracefs
    /// reads).
    pub const NATIVE: Endian = if cfg!(target_endian = "big") {
        Endian::Big
    } else {
        Endian::Little
    };

    #[inline]
    pub(crate) fn u32_at(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    #[inline]
    pub(crate) fn u64_at(self, bytes: &[u8], at: usize) -> Option<u64> {
        let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }

    /// Reads an unsigned integer of `size` bytes (4 or 8).
    #[inline]
    pub(crate) fn uint_at(self, bytes: &[u8], at: usize, size: usize) -> Option<u64> {
        match size {
            4 => self.u32_at(bytes, at).map(u64::from),
            8 => self.u64_at(bytes, at),
            _ => None,
        }
    }
}

/// The layout of a sub-buffer header, as `events/header_page` describes it:
///
/// ```text
/// field: u64 timestamp;   offset:0;  size:8;    signed:0;
/// field: local_t commit;  offset:8;  size:8;    signed:1;
/// field: int overwrite;   offset:8;  size:1;    signed:1;
/// field: char data;       offset:16; size:4080; signed:0;
/// ```
///
/// `commit` is a kernel `long`: 8 bytes on 64-bit kernels, 4 on 32-bit ones. The
/// `overwrite` line is a leftover that overlaps `commit` and is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageLayout {
    /// Offset of the u64 page timestamp.
    pub timestamp_offset: usize,
    /// Offset of the `commit` word.
    pub commit_offset: usize,
    /// Size of the `commit` word (the kernel's `sizeof(long)`): 4 or 8.
    pub commit_size: usize,
    /// Offset where event data starts.
    pub data_offset: usize,
    /// The size of the data area, when known from `header_page` (`data_offset +
    /// data_size` is the sub-buffer size, larger than 4096 when `buffer_subbuf_size_kb`
    /// was raised, Linux ≥ 6.8).
    pub data_size: Option<usize>,
}

impl Default for PageLayout {
    /// The 64-bit kernel layout: timestamp at 0, an 8-byte commit at 8, data at 16.
    fn default() -> PageLayout {
        PageLayout::for_long_size(8)
    }
}

impl PageLayout {
    /// The usual layout for a kernel whose `long` is `long_size` bytes (4 or 8): timestamp
    /// at 0, commit at 8, data right after the commit word.
    pub fn for_long_size(long_size: usize) -> PageLayout {
        PageLayout {
            timestamp_offset: 0,
            commit_offset: 8,
            commit_size: long_size,
            data_offset: 8 + long_size,
            data_size: None,
        }
    }

    /// The same layout with a known data size (`subbuf_size - data_offset`).
    pub fn with_data_size(self, data_size: usize) -> PageLayout {
        PageLayout {
            data_size: Some(data_size),
            ..self
        }
    }

    /// The sub-buffer size `header_page` implies (`data_offset + data_size`), if it gave
    /// the data size.
    pub fn subbuf_size(&self) -> Option<usize> {
        self.data_size.and_then(|d| d.checked_add(self.data_offset))
    }

    /// The smallest page this layout can describe: one that holds its whole header.
    pub fn header_len(&self) -> usize {
        self.timestamp_offset
            .saturating_add(8)
            .max(self.commit_offset.saturating_add(self.commit_size))
            .max(self.data_offset)
    }

    /// Parses the text of `events/header_page` (tracefs, or the copy stored in a trace.dat
    /// file). Fields other than `timestamp`, `commit` and `data` are ignored.
    ///
    /// ```
    /// use kscope_ftrace::page::PageLayout;
    ///
    /// let text = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
    ///             \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
    ///             \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
    ///             \tfield: char data;\toffset:16;\tsize:8176;\tsigned:0;\n";
    /// let layout = PageLayout::parse(text).unwrap();
    /// assert_eq!(layout.data_offset, 16);
    /// assert_eq!(layout.subbuf_size(), Some(8192));
    /// ```
    pub fn parse(text: &str) -> Result<PageLayout, PageError> {
        let mut timestamp = None;
        let mut commit = None;
        let mut data = None;
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            let Some(rest) = line.strip_prefix("field:") else {
                if line.is_empty() {
                    continue;
                }
                return Err(PageError::Layout {
                    line: line_no,
                    reason: format!("expected a `field:` line, found {line:?}"),
                });
            };
            let mut parts = rest.split(';').map(str::trim);
            let decl = parts.next().unwrap_or_default();
            let name = decl
                .rsplit(|c: char| c.is_whitespace() || c == '*')
                .next()
                .unwrap_or_default();
            let name = name.split('[').next().unwrap_or_default();
            let mut offset = None;
            let mut size = None;
            for part in parts {
                if let Some(v) = part.strip_prefix("offset:") {
                    offset = Some(parse_number(v, line_no, "offset")?);
                } else if let Some(v) = part.strip_prefix("size:") {
                    size = Some(parse_number(v, line_no, "size")?);
                }
            }
            let (Some(offset), Some(size)) = (offset, size) else {
                return Err(PageError::Layout {
                    line: line_no,
                    reason: format!("field {name:?} lacks an offset or a size"),
                });
            };
            match name {
                "timestamp" => {
                    if size != 8 {
                        return Err(PageError::Layout {
                            line: line_no,
                            reason: format!("the timestamp must be 8 bytes, not {size}"),
                        });
                    }
                    timestamp = Some(offset);
                }
                "commit" => {
                    if size != 4 && size != 8 {
                        return Err(PageError::Layout {
                            line: line_no,
                            reason: format!("the commit word must be 4 or 8 bytes, not {size}"),
                        });
                    }
                    commit = Some((offset, size));
                }
                "data" => data = Some((offset, size)),
                _ => {}
            }
        }
        let missing = |what: &str| PageError::Layout {
            line: 0,
            reason: format!("no `{what}` field"),
        };
        let (commit_offset, commit_size) = commit.ok_or_else(|| missing("commit"))?;
        let (data_offset, data_size) = data.ok_or_else(|| missing("data"))?;
        Ok(PageLayout {
            timestamp_offset: timestamp.ok_or_else(|| missing("timestamp"))?,
            commit_offset,
            commit_size,
            data_offset,
            data_size: Some(data_size),
        })
    }
}

fn parse_number(text: &str, line: usize, what: &str) -> Result<usize, PageError> {
    text.trim().parse().map_err(|_| PageError::Layout {
        line,
        reason: format!("bad {what} {text:?}"),
    })
}

/// Everything needed to decode pages: the header layout and the byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageFormat {
    /// Where the header fields are.
    pub layout: PageLayout,
    /// The byte order of every integer in the page.
    pub endian: Endian,
}

impl PageFormat {
    /// A format from a layout and a byte order.
    pub fn new(layout: PageLayout, endian: Endian) -> PageFormat {
        PageFormat { layout, endian }
    }

    /// The format of pages written by the running kernel, assuming its `long` is as wide as
    /// ours (read `events/header_page` to be sure).
    pub fn native() -> PageFormat {
        PageFormat {
            layout: PageLayout::for_long_size(std::mem::size_of::<usize>()),
            endian: Endian::NATIVE,
        }
    }
}

impl Default for PageFormat {
    /// [`PageFormat::native`].
    fn default() -> PageFormat {
        PageFormat::native()
    }
}
