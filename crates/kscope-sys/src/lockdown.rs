//! The kernel lockdown mode (`/sys/kernel/security/lockdown`).
//!
//! The file lives in securityfs. When securityfs is not mounted anywhere, [`read_mode`]
//! mounts it on a private temporary directory, reads the file and unmounts it again, so the
//! system's mount table is left as it was found.

use std::io;
use std::path::{Path, PathBuf};

use crate::mounts;

/// The kernel's lockdown mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockdownMode {
    /// No lockdown.
    None,
    /// `integrity`: user space may not modify the running kernel (no function tracer
    /// patching by text pokes from user space, no kprobe writes, no /dev/mem writes, …).
    Integrity,
    /// `confidentiality`: additionally, user space may not read kernel memory
    /// (/proc/kcore, bpf_probe_read of kernel memory, …).
    Confidentiality,
}

impl LockdownMode {
    /// The name the kernel uses for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            LockdownMode::None => "none",
            LockdownMode::Integrity => "integrity",
            LockdownMode::Confidentiality => "confidentiality",
        }
    }
}

/// Where the lockdown mode was read from.
#[derive(Debug, Clone)]
pub struct LockdownReading {
    /// The mode in force.
    pub mode: LockdownMode,
    /// The modes the kernel offers, e.g. `[none, integrity, confidentiality]`.
    pub offered: Vec<String>,
    /// True when securityfs had to be mounted temporarily to read it.
    pub mounted_temporarily: bool,
}

/// Parses the lockdown file: the selected mode is in brackets, e.g.
/// `none [integrity] confidentiality`.
pub fn parse(text: &str) -> Option<(LockdownMode, Vec<String>)> {
    let mut selected = None;
    let mut offered = Vec::new();
    for word in text.split_whitespace() {
        let (name, is_selected) = match word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            Some(inner) => (inner, true),
            None => (word, false),
        };
        offered.push(name.to_string());
        if is_selected {
            selected = Some(match name {
                "none" => LockdownMode::None,
                "integrity" => LockdownMode::Integrity,
                "confidentiality" => LockdownMode::Confidentiality,
                _ => return None,
            });
        }
    }
    selected.map(|m| (m, offered))
}

fn read_at(dir: &Path) -> io::Result<(LockdownMode, Vec<String>)> {
    let text = std::fs::read_to_string(dir.join("lockdown"))?;
    parse(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unrecognised lockdown file: {text:?}"),
        )
    })
}

/// Reads the lockdown mode. Returns `ErrorKind::NotFound` when the kernel has no lockdown
/// LSM (CONFIG_SECURITY_LOCKDOWN_LSM unset), which means no lockdown.
pub fn read_mode() -> io::Result<LockdownReading> {
    if let Some(dir) = mounts::find_fstype("securityfs")?.into_iter().next() {
        let (mode, offered) = read_at(&dir)?;
        return Ok(LockdownReading {
            mode,
            offered,
            mounted_temporarily: false,
        });
    }
    let dir = temp_dir()?;
    let result = (|| -> io::Result<(LockdownMode, Vec<String>)> {
        mounts::mount_pseudo("securityfs", &dir)?;
        let read = read_at(&dir);
        let unmounted = mounts::unmount(&dir);
        let read = read?;
        unmounted?;
        Ok(read)
    })();
    let _ = std::fs::remove_dir(&dir);
    let (mode, offered) = result?;
    Ok(LockdownReading {
        mode,
        offered,
        mounted_temporarily: true,
    })
}

fn temp_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kscope-{}-securityfs", std::process::id()));
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selected_mode() {
        let (m, offered) = parse("none [integrity] confidentiality\n").unwrap();
        assert_eq!(m, LockdownMode::Integrity);
        assert_eq!(offered, ["none", "integrity", "confidentiality"]);
        assert_eq!(parse("[none] integrity").unwrap().0, LockdownMode::None);
        assert!(parse("none integrity").is_none());
    }
}
