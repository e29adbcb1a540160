//! Errno names for reasons that a person can look up.

use std::io;

/// `EPERM (Operation not permitted)`-style text for an I/O error.
pub(crate) fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let msg = io::Error::from_raw_os_error(code).to_string();
            let msg = msg.split(" (os error").next().unwrap_or(&msg).to_string();
            match name(code) {
                Some(n) => format!("{n} ({msg})"),
                None => format!("errno {code} ({msg})"),
            }
        }
        None => e.to_string(),
    }
}

/// The symbolic name of an errno value, for the ones kernel probes return.
pub(crate) fn name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        524 => "ENOTSUPP",
        _ => return None,
    })
}

/// The errno code of an error, or 0.
pub(crate) fn code(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}
