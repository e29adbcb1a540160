//! Private (copy-on-write) read-only file mappings, for files such as
//! `/sys/kernel/btf/vmlinux` that refuse `MAP_SHARED` (EACCES) but allow `MAP_PRIVATE`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A read-only `MAP_PRIVATE` mapping of a whole file, unmapped on drop.
#[derive(Debug)]
pub struct PrivateMapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is private, read-only memory owned by this value; sharing the pointer
// between threads is no different from sharing a `&[u8]`.
unsafe impl Send for PrivateMapping {}
// SAFETY: as above.
unsafe impl Sync for PrivateMapping {}

impl PrivateMapping {
    /// Maps the whole of the file at `path` (its size from `fstat`), read-only and private.
    /// An empty file gives an empty mapping without calling `mmap`.
    pub fn open(path: &Path) -> io::Result<PrivateMapping> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large to map"))?;
        if len == 0 {
            return Ok(PrivateMapping {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh mapping at a kernel-chosen address; the arguments are plain values
        // and the descriptor is open for the duration of the call.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(PrivateMapping { ptr, len })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` points to `len` readable bytes for as long as `self` lives, and no
        // one writes to a private read-only mapping.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl AsRef<[u8]> for PrivateMapping {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Drop for PrivateMapping {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped exactly once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
