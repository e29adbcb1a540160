//! File-space operations: removing a range from the middle of a file without copying.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Removes `len` bytes at `offset` from `file`, shifting the rest down
/// (`fallocate(FALLOC_FL_COLLAPSE_RANGE)`; ext4 and xfs, block-aligned ranges). Returns
/// `Ok(false)` when the file system cannot do it (EOPNOTSUPP, EINVAL), so the caller can
/// leave the gap instead.
pub fn collapse_range(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Ok(false);
    };
    // SAFETY: fallocate only takes plain values and a descriptor owned by `file`.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, off, n) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) => Ok(false),
        _ => Err(err),
    }
}

/// The text of a small pseudo file (`id`, `cpu/online`): open and `read(2)` only.
/// `std::fs::read_to_string` also calls `statx` for a size hint, which a traced
/// `statx` (statsnoop) would record as kscope's own while probes are being attached.
pub fn read_small(path: &std::path::Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
