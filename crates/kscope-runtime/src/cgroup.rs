//! `cgroup_path()`'s text: where a cgroup id is in the mounted cgroup hierarchies, read
//! from /proc/mounts and the hierarchies' directories when the value is printed.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Directory levels searched below a hierarchy's root.
const MAX_DEPTH: u32 = 64;

/// The mounted hierarchies as (name, root): cgroup2 ones as `unified`, then cgroup v1
/// ones by their mount directory's name, sorted.
fn hierarchies() -> Vec<(String, String)> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in mounts.lines() {
        let mut f = line.split(' ');
        let (Some(fstype), Some(dir)) = (f.next(), f.next()) else {
            continue;
        };
        if !Path::new(dir).is_dir() {
            continue;
        }
        match fstype {
            "cgroup2" => v2.push(("unified".to_string(), dir.to_string())),
            "cgroup" => {
                let name = Path::new(dir)
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                v1.push((name, dir.to_string()));
            }
            _ => {}
        }
    }
    v1.sort();
    v2.extend(v1);
    v2
}

/// The path below `root` (`/` for the root itself) of the directory whose inode number,
/// the kernfs id, is `id`.
fn find(root: &Path, dir: &Path, id: u64, depth: u32) -> Option<String> {
    if std::fs::metadata(dir).ok()?.ino() == id {
        let rel = dir.strip_prefix(root).ok()?;
        return Some(format!("/{}", rel.display()));
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Some(p) = find(root, &entry.path(), id, depth + 1)
        {
            return Some(p);
        }
    }
    None
}

/// `NAME:PATH` for every hierarchy matching the glob `filter` that holds cgroup `id`,
/// joined by commas (empty when none does), as upstream bpftrace prints it.
pub fn paths_text(id: u64, filter: &str) -> String {
    let mut out = Vec::new();
    for (name, root) in hierarchies() {
        if !kscope_ftrace::select::glob(filter, &name) {
            continue;
        }
        let root = Path::new(&root);
        if let Some(p) = find(root, root, id, 0) {
            out.push(format!("{name}:{p}"));
        }
    }
    out.join(",")
}
