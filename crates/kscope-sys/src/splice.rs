//! `splice(2)` from a tracefs `trace_pipe_raw` into a pipe.
//!
//! Splicing `trace_pipe_raw` hands whole sub-buffers to a pipe without copying them
//! (the kernel returns only full sub-buffers this way; the last, partly filled one has to
//! be read with `read(2)`). The pipe is then read into user memory.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};

/// A pipe: its read end and its write end.
#[derive(Debug)]
pub struct Pipe {
    /// The end to read from.
    pub read: File,
    /// The end `splice` writes into.
    pub write: File,
}

impl Pipe {
    /// A new close-on-exec pipe whose capacity is raised to at least `capacity` bytes when
    /// the kernel allows it (`F_SETPIPE_SZ`; a failure leaves the default).
    pub fn new(capacity: usize) -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        let size = libc::c_int::try_from(capacity).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ takes an int argument; the descriptor is valid.
        unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, size);
        }
        Ok(Pipe { read, write })
    }
}

/// Moves up to `len` bytes from `from` into the pipe's write end without blocking
/// (`SPLICE_F_NONBLOCK | SPLICE_F_MOVE`). Returns the bytes moved (0 at end of file);
/// `WouldBlock` when nothing is ready.
pub fn splice_into(from: BorrowedFd<'_>, pipe: &Pipe, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain descriptors and null offsets (both files are read/written at
        // their current positions).
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                pipe.write.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
