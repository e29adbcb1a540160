//! Letting go of BPF and perf objects in the background.
//!
//! Closing the last fd of a perf event that carries a BPF program (a tracepoint, kprobe or
//! uprobe attachment) waits in the kernel for RCU grace periods: 20–70 ms each here. A tool
//! that closes them itself before exiting keeps its user waiting that long after `exit()`.
//! [`release_in_background`] hands the objects to a detached process instead: it holds
//! its own references to them, closes everything else (so no pipe of the caller stays
//! open), and exits; the kernel's release runs in that process's exit while the caller
//! goes on. Whatever happens to that process, its exit closes the objects: nothing can leak.

use std::io;

/// The `/proc/self/fd` link targets of the objects handed over: programs, links and perf
/// events (maps stay referenced by the programs that use them).
const HANDED_OVER: [&str; 3] = [
    "anon_inode:bpf-prog",
    "anon_inode:bpf_link",
    "anon_inode:[perf_event]",
];

/// What the caller holds while it closes its own copies of the handed-over fds: dropping
/// it tells the background process to let go (the reference it drops last is the one that
/// waits in the kernel).
#[derive(Debug)]
pub struct Handover {
    _go: std::os::fd::OwnedFd,
}

impl Handover {
    /// Lets the background process release the objects now (the same as dropping this).
    pub fn release(self) {}
}

/// Forks a detached process that holds every BPF program, BPF link and perf event fd open
/// now and releases them as it exits, once the returned [`Handover`] is dropped. Until
/// then, closing those fds here is quick (the kernel only drops a reference); the caller
/// closes its copies first, then drops the `Handover`, and the objects go away moments
/// later, in the background process's exit. The caller must already have stopped the
/// programs from doing anything (kscope's stop flag): they stay attached until then.
pub fn release_in_background() -> io::Result<Handover> {
    let mut keep: Vec<u32> = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path())
            && HANDED_OVER.iter().any(|t| target.as_os_str() == *t)
        {
            keep.push(fd);
        }
    }
    let mut ends = [0i32; 2];
    // SAFETY: `ends` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two fds, owned by nobody else.
    let (wait_end, go) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(ends[0]),
            std::os::fd::OwnedFd::from_raw_fd(ends[1]),
        )
    };
    let wait_raw = ends[0];
    keep.push(wait_raw as u32);
    keep.sort_unstable();
    // SAFETY: the child runs only async-signal-safe calls (close_range, fork, read, _exit)
    // on memory allocated before the fork, so other threads' locks cannot deadlock it.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        close_all_but(&keep);
        // The grandchild holds the objects; the child exits at once so that the caller can
        // reap it, and the grandchild, re-parented, never becomes the caller's zombie.
        // SAFETY: fork, prctl, read and _exit are async-signal-safe; the name is a valid C
        // string and `byte` a valid buffer.
        unsafe {
            if libc::fork() == 0 {
                // Named for `ps`: it lives only as long as the kernel takes to release.
                libc::prctl(libc::PR_SET_NAME, c"kscope-release".as_ptr());
                // End of file once the caller has dropped its Handover (or died).
                let mut byte = 0u8;
                while libc::read(wait_raw, (&raw mut byte).cast(), 1) < 0
                    && *libc::__errno_location() == libc::EINTR
                {}
            }
            libc::_exit(0);
        }
    }
    drop(wait_end);
    let mut status = 0;
    // SAFETY: `child` is our own child; `status` is a valid, writable int.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    Ok(Handover { _go: go })
}

/// Closes every fd not in `keep` (sorted), with `close_range` over the gaps.
fn close_all_but(keep: &[u32]) {
    let mut next = 0u32;
    for &fd in keep {
        if fd > next {
            close_range(next, fd - 1);
        }
        next = fd + 1;
    }
    if next > 0 {
        close_range(next, u32::MAX);
    }
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range takes plain integers; closing fds is all it does.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_background_process_keeps_no_other_fd_open() {
        // A pipe the caller holds: once the caller closes its write end, the read end must
        // see end of file at once, while the background process is still alive (waiting
        // for the Handover). It would block if that process had kept a copy.
        let (mut reader, writer) = std::io::pipe().unwrap();
        let handover = release_in_background().unwrap();
        drop(writer);
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&reader),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(ready, 1, "the read end did not see end of file");
        let mut buf = Vec::new();
        assert_eq!(reader.read_to_end(&mut buf).unwrap(), 0);
        handover.release();
    }
}
