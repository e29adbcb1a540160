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
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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

/// A workload child that runs in batches: it waits for a `g` byte on its stdin, runs one
/// batch (a known number of syscalls or calls), prints `done` and waits again; it exits
/// when its stdin closes. Tests attach between batches, so counts are exact. Killed on drop.
pub struct BatchChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl BatchChild {
    /// Starts `program ARGS...`; it blocks until [`BatchChild::run_batch`].
    pub fn start(program: &Path, args: &[&str]) -> BatchChild {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        BatchChild {
            child,
            stdin,
            stdout,
        }
    }

    /// The child's pid (= its tgid).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Lets one batch run and waits until it printed `done`.
    pub fn run_batch(&mut self) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        stdin.write_all(b"g").expect("writing to the workload");
        stdin.flush().expect("writing to the workload");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("reading the workload's output");
        assert_eq!(line.trim(), "done", "workload batch did not finish");
    }

    /// Closes its stdin and waits for it to exit successfully.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("waiting for the workload");
        assert!(status.success(), "workload exited with {status}");
    }
}

impl Drop for BatchChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
