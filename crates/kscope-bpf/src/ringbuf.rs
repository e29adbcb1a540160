//! Consuming a BPF ring buffer map (`BPF_MAP_TYPE_RINGBUF`, Linux 5.8) from user space.
//!
//! Records come out in the order they were reserved by the producers (all CPUs share one
//! ring), which is the order of `bpf_ringbuf_reserve`/`bpf_ringbuf_output` calls. A record
//! still being written (busy bit) stops the read: later records wait for it, which keeps
//! the order. Discarded records are skipped. Records that wrap at the end of the ring are
//! handed out as one slice (the kernel maps the data pages twice).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use kscope_sys::bpf_ringbuf::{BUSY_BIT, DISCARD_BIT, HDR_SIZE, RingbufMapping};

use crate::{BpfError, Map, MapType};

/// A reader of one ring buffer map. It keeps its own reference to the map.
#[derive(Debug)]
pub struct RingBuf {
    mapping: RingbufMapping,
    fd: OwnedFd,
    name: String,
}

impl RingBuf {
    /// Maps `map`, which must be a [`MapType::Ringbuf`].
    pub fn new(map: &Map) -> Result<RingBuf, BpfError> {
        let spec = map.spec();
        let err = |source: io::Error| BpfError::MapOp {
            op: "mapping the ring buffer",
            name: spec.name.clone(),
            id: map.info().id,
            source,
        };
        if spec.map_type != MapType::Ringbuf {
            return Err(err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is a {} map, not a ringbuf", spec.map_type),
            )));
        }
        let fd = map.fd().try_clone_to_owned().map_err(err)?;
        let mapping =
            RingbufMapping::new(fd.as_fd(), map.info().max_entries as usize).map_err(err)?;
        Ok(RingBuf {
            mapping,
            fd,
            name: spec.name.clone(),
        })
    }

    /// The map's fd, for an external `poll`/`epoll` loop (readable when records wait).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes reserved by producers and not yet consumed (committed or not).
    pub fn pending_bytes(&self) -> u64 {
        self.mapping
            .producer_pos()
            .saturating_sub(self.mapping.consumer_pos())
    }

    /// Hands every committed record to `f`, in order, and releases its space; stops at the
    /// first record still being written. Returns the number of records handed out
    /// (discarded ones are skipped and not counted).
    pub fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut count = 0;
        let mut cons = self.mapping.consumer_pos();
        loop {
            let prod = self.mapping.producer_pos();
            if cons >= prod {
                return count;
            }
            while cons < prod {
                let header = self.mapping.header(cons);
                if header & BUSY_BIT != 0 {
                    return count;
                }
                let len = (header & !(BUSY_BIT | DISCARD_BIT)) as usize;
                if header & DISCARD_BIT == 0 {
                    match self.mapping.record(cons, len) {
                        Some(data) => {
                            f(data);
                            count += 1;
                        }
                        // A length larger than the ring cannot come from the kernel; stop
                        // rather than read past the mapping.
                        None => return count,
                    }
                }
                cons += (len + HDR_SIZE).next_multiple_of(8) as u64;
                self.mapping.set_consumer_pos(cons);
            }
        }
    }

    /// Waits up to `timeout` until at least one record could be handed out (returns at
    /// once if some are ready), consuming like [`RingBuf::consume`]. Returns 0 on timeout
    /// or when a signal interrupts the wait. A wakeup that only brought discarded records
    /// goes back to waiting.
    pub fn poll(&mut self, timeout: Duration, mut f: impl FnMut(&[u8])) -> io::Result<usize> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let n = self.consume(&mut f);
            if n > 0 {
                return Ok(n);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            if self.pending_bytes() > 0 {
                // A producer is still writing the next record: it takes nanoseconds.
                std::thread::yield_now();
                continue;
            }
            let ready = kscope_sys::poll::wait_readable(&[self.fd.as_fd()], left)?;
            if !ready.iter().any(|&r| r) && self.pending_bytes() == 0 {
                // Timeout, or a signal (EINTR): let the caller look at its flags.
                return Ok(0);
            }
        }
    }
}
