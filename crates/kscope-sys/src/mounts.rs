//! Mount discovery (`/proc/self/mounts`) and mounting of the pseudo file systems kscope uses.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount source (often the file system name for pseudo file systems).
    pub source: String,
    /// Where it is mounted.
    pub target: PathBuf,
    /// The file system type, e.g. `tracefs`.
    pub fstype: String,
    /// Mount options, comma separated.
    pub options: String,
}

/// Parses the text of `/proc/self/mounts`, undoing the octal escapes (`\040` for space).
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let source = unescape(parts.next()?);
            let target = PathBuf::from(unescape(parts.next()?));
            let fstype = parts.next()?.to_string();
            let options = parts.next().unwrap_or("").to_string();
            Some(MountEntry {
                source,
                target,
                fstype,
                options,
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All current mounts of this process's mount namespace.
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    Ok(parse_mounts(&std::fs::read_to_string("/proc/self/mounts")?))
}

/// Mount points of file system type `fstype`, in mount order.
pub fn find_fstype(fstype: &str) -> io::Result<Vec<PathBuf>> {
    Ok(mounts()?
        .into_iter()
        .filter(|m| m.fstype == fstype)
        .map(|m| m.target)
        .collect())
}

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Mounts a pseudo file system of type `fstype` (source = `fstype`) on `target`,
/// with `nosuid,nodev,noexec` as distributions do.
pub fn mount_pseudo(fstype: &str, target: &Path) -> io::Result<()> {
    let src = CString::new(fstype)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in fstype"))?;
    let tgt = cstr(target)?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call;
    // a null data pointer is allowed.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Unmounts `target`.
pub fn unmount(target: &Path) -> io::Result<()> {
    let tgt = cstr(target)?;
    // SAFETY: `tgt` is a valid NUL-terminated string.
    let rc = unsafe { libc::umount2(tgt.as_ptr(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_lines_with_escapes() {
        let text = "tracefs /sys/kernel/tracing tracefs rw,nosuid 0 0\n\
                    /dev/sda1 /mnt/my\\040disk ext4 rw 0 0\n";
        let m = parse_mounts(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].fstype, "tracefs");
        assert_eq!(m[0].target, PathBuf::from("/sys/kernel/tracing"));
        assert_eq!(m[1].target, PathBuf::from("/mnt/my disk"));
    }
}
