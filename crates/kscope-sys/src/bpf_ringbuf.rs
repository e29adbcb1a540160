//! The memory mappings of a `BPF_MAP_TYPE_RINGBUF` map (Linux 5.8).
//!
//! A ring buffer map of `size` data bytes is mapped in two parts: the consumer page at
//! offset 0, read-write, whose first `u64` is the consumer position; and from offset one
//! page, read-only, the producer page (first `u64`: the producer position) followed by the
//! data pages mapped **twice** in a row, so that a record that wraps at the end of the ring
//! reads as one contiguous slice. Each record starts with an 8-byte header: a `u32` length
//! whose bit 31 ([`BUSY_BIT`]) is set while the producer still writes it and bit 30
//! ([`DISCARD_BIT`]) when it was discarded, then a `u32` page offset used by the kernel.
//! Records are padded to 8 bytes. The positions only grow; `pos & (size - 1)` is the offset.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `BPF_RINGBUF_BUSY_BIT`: the record is still being written.
pub const BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: the producer discarded the record; skip it.
pub const DISCARD_BIT: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`: size of a record header.
pub const HDR_SIZE: usize = 8;

/// The two mappings of one ring buffer map, unmapped on drop.
#[derive(Debug)]
pub struct RingbufMapping {
    consumer: *mut libc::c_void,
    producer: *mut libc::c_void,
    page: usize,
    size: usize,
}

// SAFETY: the mappings are owned by this value; all shared accesses to positions and
// headers are atomic, and data reads only cover records the producer has committed.
unsafe impl Send for RingbufMapping {}
// SAFETY: as above.
unsafe impl Sync for RingbufMapping {}

fn map(
    fd: BorrowedFd<'_>,
    len: usize,
    prot: libc::c_int,
    offset: usize,
) -> io::Result<*mut libc::c_void> {
    // SAFETY: a new shared mapping at a kernel-chosen address; arguments are plain values.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if ptr == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ptr)
    }
}

impl RingbufMapping {
    /// Maps the ring buffer map `fd` whose data area is `size` bytes (its `max_entries`, a
    /// power of two multiple of the page size).
    pub fn new(fd: BorrowedFd<'_>, size: usize) -> io::Result<RingbufMapping> {
        let page = crate::bpf::page_size();
        if !size.is_power_of_two() || size < page {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ring buffer size {size} is not a power-of-two multiple of the page size {page}"
                ),
            ));
        }
        let consumer = map(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = match map(fd, page + 2 * size, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: `consumer` is the mapping made just above, unmapped once.
                unsafe { libc::munmap(consumer, page) };
                return Err(e);
            }
        };
        Ok(RingbufMapping {
            consumer,
            producer,
            page,
            size,
        })
    }

    /// The data area's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn consumer_atomic(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped, page-aligned and lives as long as `self`.
        unsafe { AtomicU64::from_ptr(self.consumer as *mut u64) }
    }

    /// The consumer position (only this process writes it).
    pub fn consumer_pos(&self) -> u64 {
        self.consumer_atomic().load(Ordering::Acquire)
    }

    /// The producer position: everything before it is reserved (maybe still busy).
    pub fn producer_pos(&self) -> u64 {
        // SAFETY: the producer page is mapped, page-aligned and lives as long as `self`;
        // the kernel only writes it, so an atomic load through a shared pointer is sound.
        let p = unsafe { AtomicU64::from_ptr(self.producer as *mut u64) };
        p.load(Ordering::Acquire)
    }

    /// Publishes a new consumer position, releasing the space before it to the producer.
    pub fn set_consumer_pos(&self, pos: u64) {
        self.consumer_atomic().store(pos, Ordering::Release);
    }

    /// The length word of the record header at position `pos` (with the busy and discard
    /// bits), read with acquire ordering so that the record's data is visible after it.
    pub fn header(&self, pos: u64) -> u32 {
        let off = (pos as usize) & (self.size - 1);
        // SAFETY: `off + 4 <= size` lies in the first data mapping, 8-byte aligned because
        // records are; the kernel updates it atomically.
        let word = unsafe {
            AtomicU32::from_ptr((self.producer as *mut u8).add(self.page + off) as *mut u32)
        };
        word.load(Ordering::Acquire)
    }

    /// The `len` data bytes of the record whose header is at `pos`; contiguous even when
    /// the record wraps, thanks to the double mapping. `None` if `len` exceeds the ring.
    pub fn record(&self, pos: u64, len: usize) -> Option<&[u8]> {
        if len > self.size - HDR_SIZE {
            return None;
        }
        let off = (pos as usize) & (self.size - 1);
        // SAFETY: `off + HDR_SIZE + len <= 2 * size`, inside the double data mapping that
        // lives as long as `self`; the producer committed these bytes (header not busy).
        Some(unsafe {
            std::slice::from_raw_parts(
                (self.producer as *const u8).add(self.page + off + HDR_SIZE),
                len,
            )
        })
    }
}

impl Drop for RingbufMapping {
    fn drop(&mut self) {
        // SAFETY: both mappings came from successful mmaps and are unmapped exactly once.
        unsafe {
            libc::munmap(self.producer, self.page + 2 * self.size);
            libc::munmap(self.consumer, self.page);
        }
    }
}
