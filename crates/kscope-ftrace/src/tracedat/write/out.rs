//! The output file with its position tracked, so that sequential writes need no seek.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::WriteError;

#[derive(Debug)]
pub(crate) struct Out<W> {
    pub(crate) inner: W,
    /// The position of `inner`, or `None` when unknown (after an error).
    pos: Option<u64>,
}

impl<W: Write + Seek> Out<W> {
    pub(crate) fn new(mut inner: W) -> Result<Out<W>, WriteError> {
        let pos = inner
            .stream_position()
            .map_err(|e| WriteError::io("finding the output's position", 0, e))?;
        if pos != 0 {
            inner
                .seek(SeekFrom::Start(0))
                .map_err(|e| WriteError::io("seeking to the start of the output", 0, e))?;
        }
        Ok(Out {
            inner,
            pos: Some(0),
        })
    }

    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        if self.pos != Some(offset) {
            self.pos = None;
            self.inner.seek(SeekFrom::Start(offset))?;
            self.pos = Some(offset);
        }
        Ok(())
    }

    /// The output, for an operation of the caller's; its position is then unknown.
    pub(crate) fn inner_mut(&mut self) -> &mut W {
        self.pos = None;
        &mut self.inner
    }

    /// Writes `bytes` at `offset`.
    pub(crate) fn write_at(
        &mut self,
        offset: u64,
        bytes: &[u8],
        what: &str,
    ) -> Result<(), WriteError> {
        let r = self.seek_to(offset).and_then(|()| {
            self.pos = None;
            self.inner.write_all(bytes)?;
            self.pos = Some(offset + bytes.len() as u64);
            Ok(())
        });
        r.map_err(|e| WriteError::io(what, offset, e))
    }

    /// Writes `len` zero bytes at `offset`.
    pub(crate) fn zeros_at(&mut self, offset: u64, len: u64, what: &str) -> Result<(), WriteError> {
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            self.write_at(at, &ZEROS[..n], what)?;
            at += n as u64;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), WriteError> {
        let at = self.pos.unwrap_or(0);
        self.inner
            .flush()
            .map_err(|e| WriteError::io("flushing the output", at, e))
    }
}

impl<W: Read + Write + Seek> Out<W> {
    /// Copies `len` bytes from `from` to `to` within the output (the ranges must not
    /// overlap).
    pub(crate) fn copy_within(
        &mut self,
        from: u64,
        to: u64,
        len: u64,
        what: &str,
    ) -> Result<(), WriteError> {
        let mut buf = vec![0u8; (1 << 20).min(len as usize)];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            let src = from + done;
            self.seek_to(src)
                .and_then(|()| {
                    self.pos = None;
                    self.inner.read_exact(&mut buf[..n])?;
                    self.pos = Some(src + n as u64);
                    Ok(())
                })
                .map_err(|e| {
                    let hint = if e.raw_os_error() == Some(libc::EBADF) {
                        " (the output must be open for reading too, to move a CPU's data)"
                    } else {
                        ""
                    };
                    WriteError::io(format!("reading back {what}{hint}"), src, e)
                })?;
            self.write_at(to + done, &buf[..n], what)?;
            done += n as u64;
        }
        Ok(())
    }
}
