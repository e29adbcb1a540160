//! The tracefs ring-buffer mapping (Linux ≥ 6.10, `Documentation/trace/ring-buffer-map.rst`).
//!
//! `mmap` of `per_cpu/cpuN/trace_pipe_raw` shows, from offset 0, one meta page
//! (`struct trace_buffer_meta` of `include/uapi/linux/trace_mmap.h`) followed by every
//! sub-buffer of that CPU's ring buffer, in the order of their ids. The kernel hands one
//! sub-buffer to the reader at a time; `ioctl(TRACE_MMAP_IOCTL_GET_READER)` marks the
//! current reader sub-buffer as read and, when it has been read entirely, swaps in the
//! next one. The meta page then names the reader sub-buffer (`reader.id`) and the counts
//! of entries, overruns and entries read.
//!
//! While a CPU buffer is mapped the kernel refuses to resize it or to take snapshots.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// `_IO('R', 0x20)`: swap in the next reader sub-buffer.
pub const TRACE_MMAP_IOCTL_GET_READER: libc::c_ulong = (b'R' as libc::c_ulong) << 8 | 0x20;

/// The size of `struct trace_buffer_meta` this code reads (the fields up to `read`).
const META_MIN_LEN: u32 = 64;

/// What the meta page says after the last [`TraceMap::get_reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaSnapshot {
    /// Events lost when the reader sub-buffer was swapped in.
    pub reader_lost_events: u64,
    /// The id of the reader sub-buffer.
    pub reader_id: u32,
    /// Bytes of the reader sub-buffer's data the kernel counts as read.
    pub reader_read: u32,
    /// Entries ever written to this CPU's buffer.
    pub entries: u64,
    /// Entries overwritten before they were read.
    pub overrun: u64,
    /// Entries read.
    pub read: u64,
}

impl MetaSnapshot {
    /// Entries written and neither read nor overwritten. Right after
    /// [`TraceMap::get_reader`] the reader sub-buffer counts as read, so a non-zero value
    /// means the writer has moved past the reader sub-buffer.
    pub fn unread(&self) -> u64 {
        self.entries
            .saturating_sub(self.overrun)
            .saturating_sub(self.read)
    }
}

/// One CPU's ring buffer, mapped read-only; unmapped on drop.
#[derive(Debug)]
pub struct TraceMap {
    file: File,
    ptr: *mut libc::c_void,
    len: usize,
    meta_page_size: usize,
    subbuf_size: usize,
    nr_subbufs: u32,
}

// SAFETY: the mapping is read-only memory owned by this value; the kernel's concurrent
// writes are read through volatile loads and copies, as from any thread.
unsafe impl Send for TraceMap {}

/// Maps `len` bytes of `fd` from offset 0, read-only and shared.
fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<*mut libc::c_void> {
    // SAFETY: a fresh mapping at a kernel-chosen address; the arguments are plain values.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr)
}

impl TraceMap {
    /// Maps the ring buffer behind `file`, an open `per_cpu/cpuN/trace_pipe_raw`. Fails
    /// with `ENODEV`/`EINVAL`/`ENOTTY`-like errors on kernels without the interface.
    pub fn new(file: File) -> io::Result<TraceMap> {
        let page = page_size();
        let first = map(file.as_fd(), page)?;
        let field = |offset: usize| {
            // SAFETY: `first` maps one page; `offset + 4 <= 16` and 4-byte aligned.
            unsafe { std::ptr::read_volatile((first as *const u8).add(offset) as *const u32) }
        };
        let (meta_page_size, meta_struct_len, subbuf_size, nr_subbufs) =
            (field(0) as usize, field(4), field(8) as usize, field(12));
        // SAFETY: `first` came from a successful one-page mmap and is unmapped once.
        unsafe {
            libc::munmap(first, page);
        }
        if meta_struct_len < META_MIN_LEN
            || meta_page_size < page
            || subbuf_size == 0
            || !subbuf_size.is_multiple_of(page)
            || nr_subbufs == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "unexpected ring-buffer meta page (meta_page_size {meta_page_size}, \
                     struct length {meta_struct_len}, sub-buffer size {subbuf_size}, \
                     {nr_subbufs} sub-buffers)"
                ),
            ));
        }
        let len = meta_page_size + subbuf_size * nr_subbufs as usize;
        let ptr = map(file.as_fd(), len)?;
        Ok(TraceMap {
            file,
            ptr,
            len,
            meta_page_size,
            subbuf_size,
            nr_subbufs,
        })
    }

    fn meta_u32(&self, offset: usize) -> u32 {
        debug_assert!(offset + 4 <= self.meta_page_size);
        // SAFETY: the meta page is mapped and `offset` is inside it and 4-byte aligned;
        // the kernel updates it concurrently, hence the volatile load.
        unsafe { std::ptr::read_volatile((self.ptr as *const u8).add(offset) as *const u32) }
    }

    fn meta_u64(&self, offset: usize) -> u64 {
        debug_assert!(offset + 8 <= self.meta_page_size);
        // SAFETY: as in `meta_u32`, 8-byte aligned.
        unsafe { std::ptr::read_volatile((self.ptr as *const u8).add(offset) as *const u64) }
    }

    /// The file the buffer is mapped from (for `poll`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The size of one sub-buffer, header included.
    pub fn subbuf_size(&self) -> usize {
        self.subbuf_size
    }

    /// How many sub-buffers the mapping shows (the ring plus the reader's).
    pub fn nr_subbufs(&self) -> u32 {
        self.nr_subbufs
    }

    /// `TRACE_MMAP_IOCTL_GET_READER`: marks the reader sub-buffer read and, when it was
    /// read entirely and more data exists, swaps in the next one.
    pub fn get_reader(&self) -> io::Result<()> {
        loop {
            // SAFETY: an ioctl without argument on a descriptor this value owns.
            let rc =
                unsafe { libc::ioctl(self.file.as_raw_fd(), TRACE_MMAP_IOCTL_GET_READER as _) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// The meta page's reader and counters.
    pub fn meta(&self) -> MetaSnapshot {
        MetaSnapshot {
            reader_lost_events: self.meta_u64(16),
            reader_id: self.meta_u32(24),
            reader_read: self.meta_u32(28),
            entries: self.meta_u64(40),
            overrun: self.meta_u64(48),
            read: self.meta_u64(56),
        }
    }

    /// Copies sub-buffer `id` into `out` (which must be [`TraceMap::subbuf_size`] long).
    /// The copy runs from low to high addresses, so the `commit` word in the header is
    /// read before the data it covers: a sub-buffer the kernel is still writing is
    /// copied consistently up to that commit.
    pub fn copy_subbuf(&self, id: u32, out: &mut [u8]) -> io::Result<()> {
        if id >= self.nr_subbufs || out.len() != self.subbuf_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "sub-buffer {id} of {} (buffer of {} bytes for {})",
                    self.nr_subbufs,
                    out.len(),
                    self.subbuf_size
                ),
            ));
        }
        let start = self.meta_page_size + id as usize * self.subbuf_size;
        // SAFETY: `start..start + subbuf_size` lies inside the mapping (checked above).
        let src = unsafe { (self.ptr as *const u8).add(start) };
        // The header (time stamp and commit) first, then a fence, then the rest.
        for (i, byte) in out[..16].iter_mut().enumerate() {
            // SAFETY: `i < 16 <= subbuf_size`, inside the mapping; volatile because the
            // kernel may be writing this sub-buffer.
            *byte = unsafe { std::ptr::read_volatile(src.add(i)) };
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // SAFETY: source and destination are `subbuf_size` bytes long and do not overlap
        // (one is the kernel's mapping, the other our buffer). Bytes past the copied
        // commit may be changing; callers decode only up to the commit.
        unsafe {
            std::ptr::copy_nonoverlapping(src.add(16), out[16..].as_mut_ptr(), out.len() - 16);
        }
        Ok(())
    }
}

impl Drop for TraceMap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped exactly once.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}
