use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kscope_sys::mounts;

use crate::{Instance, TracefsError};

/// The conventional tracefs mount point.
pub const DEFAULT_MOUNT: &str = "/sys/kernel/tracing";

/// A mounted tracefs: the root directory of the top-level trace buffer and its control files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracefs {
    root: PathBuf,
}

/// What [`Tracefs::mount`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    /// tracefs was already mounted at this path.
    AlreadyMounted(PathBuf),
    /// kscope mounted tracefs at this path.
    Mounted(PathBuf),
}

impl Tracefs {
    /// A tracefs rooted at `root` (for tests and unusual mounts); nothing is checked.
    pub fn at(root: impl Into<PathBuf>) -> Tracefs {
        Tracefs { root: root.into() }
    }

    /// Finds a mounted tracefs: a `tracefs` mount, or `tracing/` under a debugfs mount.
    pub fn discover() -> Result<Option<Tracefs>, TracefsError> {
        let all = mounts::mounts().map_err(|source| TracefsError::Io {
            op: "reading",
            path: "/proc/self/mounts".into(),
            source,
        })?;
        if let Some(m) = all.iter().find(|m| m.fstype == "tracefs") {
            return Ok(Some(Tracefs::at(&m.target)));
        }
        Ok(all
            .iter()
            .filter(|m| m.fstype == "debugfs")
            .map(|m| m.target.join("tracing"))
            .find(|p| p.join("events").is_dir())
            .map(Tracefs::at))
    }

    /// Finds tracefs, mounting it at /sys/kernel/tracing when it is not mounted anywhere.
    pub fn mount() -> Result<(Tracefs, MountOutcome), TracefsError> {
        if let Some(t) = Tracefs::discover()? {
            let root = t.root.clone();
            return Ok((t, MountOutcome::AlreadyMounted(root)));
        }
        let target = PathBuf::from(DEFAULT_MOUNT);
        mounts::mount_pseudo("tracefs", &target).map_err(|e| TracefsError::NotMounted {
            reason: format!("mounting tracefs on {DEFAULT_MOUNT} failed: {e}"),
        })?;
        Ok((Tracefs::at(&target), MountOutcome::Mounted(target)))
    }

    /// Finds tracefs or fails with an error that says how to mount it.
    pub fn require() -> Result<Tracefs, TracefsError> {
        Tracefs::discover()?.ok_or_else(|| TracefsError::NotMounted {
            reason: "no tracefs mount found in /proc/self/mounts".into(),
        })
    }

    /// The mount point.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of a tracefs file, given relative to the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether a tracefs file or directory exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Reads a control file as text.
    pub fn read(&self, rel: &str) -> Result<String, TracefsError> {
        read_file(&self.path(rel))
    }

    /// Writes `value` to a control file, replacing its setting.
    pub fn write(&self, rel: &str, value: &str) -> Result<(), TracefsError> {
        write_file(self, &self.path(rel), value, false)
    }

    /// Appends a line to a list-like control file (`uprobe_events`, `set_event`, …) without
    /// clearing what is already there.
    pub fn append(&self, rel: &str, value: &str) -> Result<(), TracefsError> {
        write_file(self, &self.path(rel), value, true)
    }

    /// Names of all instances under `instances/`, sorted.
    pub fn instance_names(&self) -> Result<Vec<String>, TracefsError> {
        let dir = self.path("instances");
        let entries = fs::read_dir(&dir).map_err(|source| TracefsError::Io {
            op: "listing",
            path: dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Creates the instance `instances/<name>`. It stays until [`Tracefs::remove_instance`].
    pub fn create_instance(&self, name: &str) -> Result<Instance, TracefsError> {
        let path = self.path("instances").join(name);
        fs::create_dir(&path).map_err(|source| TracefsError::Io {
            op: "creating instance",
            path: path.clone(),
            source,
        })?;
        Ok(Instance::new(self.clone(), name.to_string()))
    }

    /// A handle on an existing instance.
    pub fn instance(&self, name: &str) -> Instance {
        Instance::new(self.clone(), name.to_string())
    }

    /// Removes `instances/<name>`. The kernel disables its events and frees its buffers.
    /// EBUSY (a file of the instance still open) is retried briefly.
    pub fn remove_instance(&self, name: &str) -> Result<(), TracefsError> {
        let path = self.path("instances").join(name);
        let mut attempt = 0;
        loop {
            match fs::remove_dir(&path) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 50 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(TracefsError::Io {
                        op: "removing instance",
                        path,
                        source,
                    });
                }
            }
        }
    }

    /// The last entry of tracefs `error_log` (message, command and caret lines), if any.
    pub fn last_error_log(&self) -> Option<String> {
        let text = fs::read_to_string(self.path("error_log")).ok()?;
        last_error_entry(&text)
    }
}

/// Extracts the last entry from the text of `error_log`: an entry starts with a line that
/// begins with `[` (the timestamp) and runs to the next such line.
pub fn last_error_entry(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().rposition(|l| l.starts_with('['))?;
    Some(lines[start..].join("\n"))
}

fn read_file(path: &Path) -> Result<String, TracefsError> {
    let io_error = |source| TracefsError::Io {
        op: "reading",
        path: path.to_path_buf(),
        source,
    };
    // Some control files (event `filter`, for one) answer only a read at offset 0, so the
    // first read() must be large enough for the whole text.
    let mut file = fs::File::open(path).map_err(io_error)?;
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn write_file(
    tracefs: &Tracefs,
    path: &Path,
    value: &str,
    append: bool,
) -> Result<(), TracefsError> {
    // The kernel logs only some refusals (dynamic events, triggers, filters): an entry
    // that was already there belongs to an earlier write, perhaps another tool's.
    let before = tracefs.last_error_log();
    let result = fs::OpenOptions::new()
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .and_then(|mut f| {
            // One write() per command: tracefs parses each write on its own.
            let n = f.write(value.as_bytes())?;
            if n != value.len() {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
            }
            Ok(())
        });
    result.map_err(|source| {
        if !path.exists() {
            return TracefsError::Io {
                op: "opening",
                path: path.to_path_buf(),
                source,
            };
        }
        let after = tracefs.last_error_log();
        let error_log = match (before, after) {
            (Some(b), Some(a)) if a == b => None,
            (_, a) => a,
        };
        TracefsError::Rejected {
            path: path.to_path_buf(),
            value: value.trim_end().to_string(),
            source,
            error_log,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_entry_takes_the_final_block() {
        let log = "[  1.0] trace_kprobe: error: Unknown symbol\n  Command: p:a/b nosuch\n              ^\n\
                   [  2.0] trace_uprobe: error: Invalid argument\n  Command: p:c/d /x:0 %zz\n                    ^\n";
        let e = last_error_entry(log).unwrap();
        assert!(e.starts_with("[  2.0] trace_uprobe"));
        assert_eq!(e.lines().count(), 3);
        assert_eq!(last_error_entry(""), None);
    }
}
