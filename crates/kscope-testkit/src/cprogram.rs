//! Small C programs that kernel tests build with the system's `cc` and run as workloads
//! (a known number of syscalls, a function to put a uprobe on).
//!
//! ```no_run
//! let exe = kscope_testkit::cprogram::build_once(
//!     std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/workload.c")),
//!     &["-O1"],
//! );
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Compiles `source` into `output` with `cc FLAGS -o OUTPUT SOURCE`; panics with the
/// compiler's messages when it fails (a test cannot go on without its workload).
pub fn compile(source: &Path, output: &Path, flags: &[&str]) {
    let out = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(output)
        .arg(source)
        .output()
        .unwrap_or_else(|e| panic!("running cc for {}: {e} (install gcc)", source.display()));
    assert!(
        out.status.success(),
        "cc {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Built executables by (source, flags).
type Built = HashMap<(PathBuf, Vec<String>), PathBuf>;

/// Compiles `source` with `flags` once per test process and returns the executable, kept in
/// a directory of this process under the system's temporary directory (directories of
/// processes that have exited are removed on the way).
pub fn build_once(source: &Path, flags: &[&str]) -> PathBuf {
    static BUILT: Mutex<Option<Built>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    let key = (
        source.to_path_buf(),
        flags.iter().map(|f| f.to_string()).collect(),
    );
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let dir = process_dir();
    let stem = source
        .file_stem()
        .map_or("program".into(), |s| s.to_string_lossy().into_owned());
    let output = dir.join(format!("{stem}-{}", built.len()));
    compile(source, &output, flags);
    built.insert(key, output.clone());
    output
}

/// `<tmp>/kscope-cprogram-<pid>`, created once; stale ones of exited processes removed.
fn process_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("kscope-cprogram-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("kscope-cprogram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}
