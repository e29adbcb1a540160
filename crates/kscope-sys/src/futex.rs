//! futex(2) on a process-private word: used by tests as a workload with exact, known
//! system calls.

use std::io;
use std::sync::atomic::AtomicU32;

/// `FUTEX_WAKE | FUTEX_PRIVATE_FLAG`: wakes up to `n` waiters on `word`; returns how many
/// were woken.
pub fn wake(word: &AtomicU32, n: i32) -> io::Result<usize> {
    // SAFETY: `word` is a live, aligned u32 for the duration of the call; FUTEX_WAKE
    // reads no other argument.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
            std::ptr::null::<libc::timespec>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// `FUTEX_WAIT | FUTEX_PRIVATE_FLAG` with no timeout: sleeps while `word` holds
/// `expected`; when it does not, fails at once with `EAGAIN` (`WouldBlock`).
pub fn wait(word: &AtomicU32, expected: u32) -> io::Result<()> {
    // SAFETY: as above; a null timeout means no timeout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
