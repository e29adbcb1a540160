//! A bounds-checked cursor over file (or decompressed) bytes whose errors name the section
//! and the file offset.

use std::borrow::Cow;

use super::error::{ErrorKind, Place, ReadError};
use crate::page::Endian;

/// Where a reader's bytes come from, to turn a position into a [`Place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The bytes are the file from this offset on.
    File(u64),
    /// The bytes were decompressed from the block at this file offset.
    Decompressed(u64),
}

impl Origin {
    pub(crate) fn place(self, pos: usize) -> Place {
        match self {
            Origin::File(base) => Place::file(base.saturating_add(pos as u64)),
            Origin::Decompressed(at) => Place {
                offset: at,
                decompressed: Some(pos as u64),
            },
        }
    }
}

/// A cursor over bytes in the file's byte order.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The position of `data[0]` in the coordinates of `origin`.
    base: usize,
    endian: Endian,
    origin: Origin,
    section: Cow<'static, str>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        data: &'a [u8],
        endian: Endian,
        origin: Origin,
        section: impl Into<Cow<'static, str>>,
    ) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            base: 0,
            endian,
            origin,
            section: section.into(),
        }
    }

    /// Reads integers in `endian` from now on.
    pub(crate) fn set_endian(&mut self, endian: Endian) {
        self.endian = endian;
    }

    /// Names the part of the file read from now on (for errors).
    pub(crate) fn set_section(&mut self, section: impl Into<Cow<'static, str>>) {
        self.section = section.into();
    }

    pub(crate) fn section(&self) -> &Cow<'static, str> {
        &self.section
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The [`Place`] of position `pos`.
    pub(crate) fn place_of(&self, pos: usize) -> Place {
        self.origin.place(self.base.saturating_add(pos))
    }

    /// Takes `n` bytes as a reader of their own (same section, byte order and origin).
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, ReadError> {
        let start = self.pos;
        let data = self.take(n, what)?;
        Ok(Reader {
            data,
            pos: 0,
            base: self.base.saturating_add(start),
            endian: self.endian,
            origin: self.origin,
            section: self.section.clone(),
        })
    }

    /// Like [`Reader::sub`] for a size read from the file (see [`Reader::take_sized`]).
    pub(crate) fn sub_sized(
        &mut self,
        size: u64,
        what: &'static str,
    ) -> Result<Reader<'a>, ReadError> {
        let available = self.remaining() as u64;
        if size > available {
            return Err(self.error(ErrorKind::TooLarge {
                what,
                size,
                available,
            }));
        }
        self.sub(size as usize, what)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// An error at position `pos`.
    pub(crate) fn error_at(&self, pos: usize, kind: ErrorKind) -> ReadError {
        ReadError::new(self.section.clone(), self.place_of(pos), kind)
    }

    /// An error at the current position.
    pub(crate) fn error(&self, kind: ErrorKind) -> ReadError {
        self.error_at(self.pos, kind)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReadError> {
        if n > self.remaining() {
            return Err(self.error(ErrorKind::Truncated {
                what,
                needed: n as u64,
                available: self.remaining() as u64,
            }));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes `size` bytes where `size` was read from the file: an absurd size is reported as
    /// such (not as a truncation), and nothing is allocated for it.
    pub(crate) fn take_sized(
        &mut self,
        size: u64,
        what: &'static str,
    ) -> Result<&'a [u8], ReadError> {
        let available = self.remaining() as u64;
        if size > available {
            return Err(self.error(ErrorKind::TooLarge {
                what,
                size,
                available,
            }));
        }
        self.take(size as usize, what)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ReadError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ReadError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ReadError> {
        let raw = self.array::<2>(what)?;
        Ok(match self.endian {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ReadError> {
        let raw = self.array::<4>(what)?;
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, ReadError> {
        let raw = self.array::<8>(what)?;
        Ok(match self.endian {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }

    /// A NUL-terminated string (the NUL is consumed, not returned).
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], ReadError> {
        let rest = &self.data[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(self.error(ErrorKind::Unterminated));
        };
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    /// A NUL-terminated string as text (invalid UTF-8 replaced).
    pub(crate) fn string(&mut self) -> Result<String, ReadError> {
        Ok(text(self.cstr()?))
    }

    /// A fixed label, NUL included in `label`.
    pub(crate) fn label(&mut self, label: &'static str) -> Result<(), ReadError> {
        let start = self.pos;
        let want = label.as_bytes();
        let available = self.remaining().min(want.len());
        let got = &self.data[start..start + available];
        if got != want {
            return Err(self.error_at(
                start,
                ErrorKind::BadLabel {
                    expected: label.trim_end_matches('\0'),
                    found: String::from_utf8_lossy(got).into_owned(),
                },
            ));
        }
        self.pos += want.len();
        Ok(())
    }

    /// Whether the next bytes are `label`.
    pub(crate) fn peek_label(&self, label: &str) -> bool {
        self.data[self.pos..].starts_with(label.as_bytes())
    }
}

/// Bytes as text, invalid UTF-8 replaced.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The text of an option that holds a NUL-terminated string: everything up to the first NUL.
pub(crate) fn option_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    text(&bytes[..end])
}
