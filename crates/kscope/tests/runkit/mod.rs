//! Helpers the `kscope run` test files share: running kscope, the C workload of
//! tests/run_support.c, and the check that a run left no BPF object or tracefs change.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workload binary of tests/run_support.c, compiled once per test process.
pub fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_support.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0"])
    })
}

/// A `-c` command line running the workload with `args`.
pub fn child(args: &str) -> String {
    format!("{} {args}", workload().display())
}

/// `kscope run ARGS...`.
pub fn kscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("run")
        .args(args)
        .output()
        .expect("running kscope")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The ids of the BPF programs loaded now.
pub fn prog_ids() -> Vec<u32> {
    kscope_bpf::loaded_ids(kscope_bpf::IdKind::Prog).unwrap()
}

/// The ids in `now` that were not in `before`: what a run left behind. (Ids that vanished
/// meanwhile are an earlier run's objects the kernel freed late, not a leak.)
pub fn new_ids(now: Vec<u32>, before: &[u32]) -> Vec<u32> {
    now.into_iter().filter(|id| !before.contains(id)).collect()
}

/// Asserts that a run left no BPF program or link and no tracefs change behind.
pub struct Clean {
    progs: Vec<u32>,
    links: Vec<u32>,
    state: kscope_testkit::snapshot::KernelState,
}

impl Clean {
    /// What exists before the run.
    pub fn start() -> Clean {
        Clean {
            progs: prog_ids(),
            links: kscope_bpf::loaded_ids(kscope_bpf::IdKind::Link).unwrap(),
            state: kscope_testkit::snapshot::KernelState::capture(),
        }
    }

    /// Fails on anything the run left behind.
    pub fn check(self) {
        // The kernel frees programs asynchronously after the last fd closes.
        let deadline = Instant::now() + Duration::from_secs(5);
        // kscope hands attachments to a background process that releases them as it exits.
        let links = || kscope_bpf::loaded_ids(kscope_bpf::IdKind::Link).unwrap();
        while (!new_ids(prog_ids(), &self.progs).is_empty()
            || !new_ids(links(), &self.links).is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            new_ids(prog_ids(), &self.progs),
            Vec::<u32>::new(),
            "BPF programs left behind"
        );
        assert_eq!(
            new_ids(links(), &self.links),
            Vec::<u32>::new(),
            "BPF links left behind"
        );
        let mut now = kscope_testkit::snapshot::KernelState::capture();
        now.bpf_programs = self.state.bpf_programs.clone();
        now.bpf_maps = self.state.bpf_maps.clone();
        now.bpf_links = self.state.bpf_links.clone();
        assert_eq!(now, self.state, "tracefs state changed");
    }
}

/// `s` with every `true`/`false` word as `1`/`0`: bpftrace 0.17 prints a comparison's
/// bool as an integer, upstream (and kscope) as a word.
pub fn bools_as_bpftrace017(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "true" => "1",
            "false" => "0",
            w => w,
        });
        word.clear();
    };
    for c in s.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// bpftrace 0.17's stdout for `bpftrace [-c CMD] -e SCRIPT` without its `Attaching`
/// line; `None` when bpftrace is not installed.
pub fn bpftrace(script: &str, cmd: Option<&str>) -> Option<String> {
    let mut c = Command::new("bpftrace");
    if let Some(cmd) = cmd {
        c.args(["-c", cmd]);
    }
    let out = c.args(["-e", script]).output().ok()?;
    assert!(
        out.status.success(),
        "bpftrace failed on {script}: {}",
        text(&out.stderr)
    );
    let s = text(&out.stdout);
    Some(match s.split_once('\n') {
        Some((first, rest)) if first.starts_with("Attaching") => rest.to_string(),
        _ => s,
    })
}

/// Non-empty lines, sorted (0.17 and upstream order map entries of equal value
/// differently).
pub fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// stdout of `kscope run [EXTRA...] -e SCRIPT`, failing on a non-zero exit.
pub fn run_with(extra: &[&str], script: &str) -> String {
    let mut args = extra.to_vec();
    args.extend(["-e", script]);
    let out = kscope(&args);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// stdout of `kscope run [-c CMD] -e SCRIPT`, failing on a non-zero exit.
pub fn run(script: &str, cmd: Option<&str>) -> String {
    match cmd {
        Some(c) => run_with(&["-c", c], script),
        None => run_with(&[], script),
    }
}

/// Whether the running kernel's release is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}
