//! v7 compression: the algorithms trace-cmd names in the file header, and bounded
//! decompression of one block into a reusable buffer.

use std::io::Read;

use super::error::ErrorKind;

/// The compression algorithm a v7 file names in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    /// `none`: nothing is compressed (and every v6 file).
    None,
    /// `zstd`.
    Zstd,
    /// `zlib` (zlib-wrapped deflate, as zlib's `compress2` writes it).
    Zlib,
    /// An algorithm this reader does not know; compressed data in the file cannot be read,
    /// the rest can.
    Other(String),
}

impl Compression {
    pub(crate) fn from_name(name: &str) -> Compression {
        match name {
            "" | "none" => Compression::None,
            "zstd" => Compression::Zstd,
            "zlib" => Compression::Zlib,
            other => Compression::Other(other.to_string()),
        }
    }
}

/// Decompress in one call into a buffer of the stated size only when the size is at most
/// this many times the compressed size (plus 1 MiB); otherwise stream, so that memory grows
/// with the data actually produced.
const BULK_RATIO: u64 = 4096;

/// A decompressor for one file's blocks. Keeps its zstd context between blocks.
pub(crate) struct Decompressor {
    algorithm: Compression,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    pub(crate) fn new(algorithm: Compression) -> Decompressor {
        Decompressor {
            algorithm,
            zstd: None,
        }
    }

    /// Decompresses `src` into `out` (cleared first), which must come to exactly `expected`
    /// bytes. Memory grows only with the data actually produced, and never past
    /// `expected + 1` bytes.
    pub(crate) fn decompress(
        &mut self,
        src: &[u8],
        expected: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), ErrorKind> {
        out.clear();
        match &self.algorithm {
            Compression::None => return Err(ErrorKind::NotCompressed),
            Compression::Other(name) => return Err(ErrorKind::UnknownCompression(name.clone())),
            Compression::Zstd => {
                // When the frame states the same size, decompress in one call into a buffer
                // of that size; otherwise stream, so that a wrong size allocates nothing.
                let stated = zstd::zstd_safe::get_frame_content_size(src).ok().flatten();
                let plausible =
                    expected <= (src.len() as u64).saturating_mul(BULK_RATIO) + (1 << 20);
                if stated == Some(expected) && plausible && usize::try_from(expected).is_ok() {
                    let ctx = match &mut self.zstd {
                        Some(ctx) => ctx,
                        slot @ None => slot.insert(
                            zstd::bulk::Decompressor::new()
                                .map_err(|e| ErrorKind::Decompress(e.to_string()))?,
                        ),
                    };
                    out.reserve(expected as usize);
                    if let Err(e) = ctx.decompress_to_buffer(src, out) {
                        out.clear();
                        // The context may be left mid-frame; start afresh next time.
                        self.zstd = None;
                        return Err(ErrorKind::Decompress(e.to_string()));
                    }
                } else {
                    let mut decoder = zstd::stream::read::Decoder::with_buffer(src)
                        .map_err(|e| ErrorKind::Decompress(e.to_string()))?;
                    // No window larger than the data itself: a damaged frame header
                    // must not make the decoder allocate up to 128 MiB for one.
                    let window_log = (64 - expected.leading_zeros()).clamp(10, 27) + 1;
                    decoder
                        .window_log_max(window_log)
                        .map_err(|e| ErrorKind::Decompress(e.to_string()))?;
                    read_limited(decoder, src.len(), expected, out)?;
                }
            }
            Compression::Zlib => {
                if zlib_header_ok(src) {
                    read_limited(
                        flate2::read::ZlibDecoder::new(src),
                        src.len(),
                        expected,
                        out,
                    )?;
                } else {
                    read_limited(
                        flate2::read::DeflateDecoder::new(src),
                        src.len(),
                        expected,
                        out,
                    )?;
                }
            }
        }
        if out.len() as u64 != expected {
            let actual = out.len() as u64;
            out.clear();
            return Err(ErrorKind::SizeMismatch { expected, actual });
        }
        Ok(())
    }
}

/// Whether `src` starts with a valid zlib header (RFC 1950): deflate, and a check sum that
/// is a multiple of 31.
fn zlib_header_ok(src: &[u8]) -> bool {
    match src {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn read_limited(
    reader: impl Read,
    src_len: usize,
    expected: u64,
    out: &mut Vec<u8>,
) -> Result<(), ErrorKind> {
    let guess = (src_len as u64)
        .saturating_mul(8)
        .saturating_add(4096)
        .min(expected);
    out.reserve(guess as usize);
    let mut limited = reader.take(expected.saturating_add(1));
    if let Err(e) = limited.read_to_end(out) {
        out.clear();
        return Err(ErrorKind::Decompress(e.to_string()));
    }
    Ok(())
}
