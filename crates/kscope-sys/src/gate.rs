//! Starting a command only once tracing is on: the child is forked, then held before
//! `exec` until the parent opens the gate. The parent knows the child's pid first, so it can
//! filter on it before the command runs a single instruction of its own.
//!
//! `std::process::Command` cannot do this: its `spawn` waits until the child has called
//! `exec`. So this module forks and execs itself, preparing every allocation before `fork`
//! so that the child only makes async-signal-safe calls.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// A child process forked and waiting before `exec` for [`GatedChild::open`].
#[derive(Debug)]
pub struct GatedChild {
    pid: libc::pid_t,
    gate: Option<std::fs::File>,
    status: Option<ExitStatus>,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Finds `program` the way a shell does: as given when it contains a `/`, else in `PATH`.
pub fn find_program(program: &OsStr) -> io::Result<PathBuf> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: command not found", program.to_string_lossy()),
        )
    };
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}

impl GatedChild {
    /// Forks a child that will run `program` with `args` (`argv[0]` is `program` as given),
    /// inheriting this process's standard streams and environment. The child waits before
    /// `exec` until [`GatedChild::open`]; if the gate is dropped unopened it exits with 127
    /// without running the command.
    pub fn spawn(program: &OsStr, args: &[OsString]) -> io::Result<GatedChild> {
        let path = cstring(find_program(program)?.as_os_str())?;
        let mut argv_owned = vec![cstring(program)?];
        for arg in args {
            argv_owned.push(cstring(arg)?);
        }
        let mut argv: Vec<*const libc::c_char> = argv_owned.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let (read_end, write_end) = pipe()?;
        let (raw_read, raw_write) = (read_end.as_raw_fd(), write_end.as_raw_fd());

        // SAFETY: fork has no preconditions; the child below only makes async-signal-safe
        // calls (close, read, execv, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: in the child; see above.
            unsafe {
                libc::close(raw_write);
                let mut byte = 0u8;
                loop {
                    let n = libc::read(raw_read, (&mut byte as *mut u8).cast(), 1);
                    if n == 1 {
                        break;
                    }
                    if n == 0 || *libc::__errno_location() != libc::EINTR {
                        libc::_exit(127);
                    }
                }
                libc::close(raw_read);
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        drop(read_end);
        Ok(GatedChild {
            pid,
            gate: Some(std::fs::File::from(write_end)),
            status: None,
        })
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Lets the child `exec` the command.
    pub fn open(&mut self) -> io::Result<()> {
        match self.gate.take() {
            Some(mut gate) => gate.write_all(&[1]),
            None => Ok(()),
        }
    }

    fn waitpid(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        loop {
            let mut raw = 0;
            // SAFETY: `raw` is a valid out-pointer; `pid` is our own child.
            let rc = unsafe { libc::waitpid(self.pid, &mut raw, flags) };
            if rc == self.pid {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                return Ok(Some(status));
            }
            if rc == 0 {
                return Ok(None);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Waits for the child to exit (closing an unopened gate first, so it cannot block).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.gate = None;
        Ok(self
            .waitpid(0)?
            .expect("a blocking waitpid returns a status"))
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.waitpid(libc::WNOHANG)
    }

    /// Sends a signal to the child (unless it has already been reaped).
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        crate::process::send_signal(self.id(), sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn marker_command(file: &Path) -> (OsString, Vec<OsString>) {
        (
            "sh".into(),
            vec!["-c".into(), format!("echo ran > {}", file.display()).into()],
        )
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kscope-gate-{}-{name}", std::process::id()))
    }

    #[test]
    fn the_command_runs_only_after_the_gate_opens() {
        let file = temp("open");
        let (program, args) = marker_command(&file);
        let mut gated = GatedChild::spawn(&program, &args).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            gated.try_wait().unwrap().is_none(),
            "the child waits at the gate"
        );
        assert!(!file.exists(), "the command has not run yet");
        gated.open().unwrap();
        assert!(gated.wait().unwrap().success());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "ran\n");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn a_closed_gate_exits_without_running_the_command() {
        let file = temp("closed");
        let (program, args) = marker_command(&file);
        let mut gated = GatedChild::spawn(&program, &args).unwrap();
        assert_eq!(gated.wait().unwrap().code(), Some(127));
        assert!(!file.exists());
    }

    #[test]
    fn an_unknown_program_is_an_error_before_forking() {
        let err = GatedChild::spawn(OsStr::new("no-such-program-kscope"), &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .contains("no-such-program-kscope: command not found")
        );
    }
}
