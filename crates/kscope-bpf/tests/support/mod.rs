//! Shared pieces of the attach tests: the C workload, a tiny assembler with labels, and
//! the leak check.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kscope_bpf::insn::{JmpOp, Reg};
use kscope_bpf::{IdKind, Insn, loaded_ids};

/// Compiles `workload.c` once per test process with `cc` and returns the executable.
pub fn workload() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/workload.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g"])
    })
}

/// A running workload child that waits for "go" bytes on stdin.
#[allow(unused_imports)]
pub use kscope_testkit::cprogram::BatchChild as Workload;

/// The ELF file offset of function `sym` in `path`, from `readelf` output: the symbol's
/// address minus its PT_LOAD segment's virtual address plus that segment's file offset.
pub fn file_offset(path: &Path, sym: &str) -> u64 {
    let syms = Command::new("readelf")
        .arg("-sW")
        .arg(path)
        .output()
        .unwrap();
    let syms = String::from_utf8_lossy(&syms.stdout);
    let addr = syms
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && f[7] == sym && f[3] == "FUNC")
                .then(|| u64::from_str_radix(f[1], 16).unwrap())
        })
        .unwrap_or_else(|| panic!("{sym} not in readelf -s of {}", path.display()));
    let phdrs = Command::new("readelf")
        .arg("-lW")
        .arg(path)
        .output()
        .unwrap();
    let phdrs = String::from_utf8_lossy(&phdrs.stdout);
    for l in phdrs.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() != Some(&"LOAD") || f.len() < 6 {
            continue;
        }
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let (off, vaddr, memsz) = (hex(f[1]), hex(f[2]), hex(f[5]));
        if (vaddr..vaddr + memsz).contains(&addr) {
            return addr - vaddr + off;
        }
    }
    panic!("no PT_LOAD segment holds {sym} at {addr:#x}");
}

/// Builds a program with named jump targets.
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: HashMap<&'static str, usize>,
    jumps: Vec<(usize, &'static str)>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    pub fn i(&mut self, insn: Insn) -> &mut Asm {
        self.insns.push(insn);
        self
    }

    pub fn wide(&mut self, pair: [Insn; 2]) -> &mut Asm {
        self.insns.extend(pair);
        self
    }

    pub fn label(&mut self, name: &'static str) -> &mut Asm {
        self.labels.insert(name, self.insns.len());
        self
    }

    /// `if dst op imm goto label`.
    pub fn jmp(&mut self, op: JmpOp, dst: Reg, imm: i32, label: &'static str) -> &mut Asm {
        self.jumps.push((self.insns.len(), label));
        self.insns.push(Insn::jmp_imm(op, dst, imm, 0));
        self
    }

    /// `goto label`.
    pub fn ja(&mut self, label: &'static str) -> &mut Asm {
        self.jumps.push((self.insns.len(), label));
        self.insns.push(Insn::ja(0));
        self
    }

    pub fn finish(&mut self) -> Vec<Insn> {
        let mut out = self.insns.clone();
        for &(at, label) in &self.jumps {
            let target = self.labels[label];
            let off = (target as i64 - at as i64 - 1) as i16;
            let i = out[at];
            out[at] = Insn::new(i.code, i.dst, i.src, off, i.imm);
        }
        out
    }
}

fn bpf_fds() -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy().to_string();
            if t.starts_with("anon_inode:bpf") || t.contains("perf_event") {
                v.push(t);
            }
        }
    }
    v.sort();
    v
}

/// Records the BPF program and link ids and this process's BPF/perf fds before a test, and
/// checks afterwards that the ids are as before and the fds too. Ids that other processes
/// created meanwhile are reported but only the test's own programs (see
/// [`LeakCheck::track`]) fail the check: other helpers load programs concurrently.
pub struct LeakCheck {
    progs: Vec<u32>,
    links: Vec<u32>,
    fds: Vec<String>,
    ours: Vec<u32>,
}

impl LeakCheck {
    pub fn start() -> LeakCheck {
        LeakCheck {
            progs: loaded_ids(IdKind::Prog).unwrap(),
            links: loaded_ids(IdKind::Link).unwrap(),
            fds: bpf_fds(),
            ours: Vec::new(),
        }
    }

    /// Marks a program id as this test's.
    pub fn track(&mut self, prog: &kscope_bpf::Program) {
        self.ours.push(prog.id().unwrap());
    }

    /// Waits up to 5 s for the ids and fds to be as before.
    pub fn assert_clean(self) {
        assert!(!self.ours.is_empty(), "the test tracked no program");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let progs = loaded_ids(IdKind::Prog).unwrap();
            let links = loaded_ids(IdKind::Link).unwrap();
            let new_progs: Vec<u32> = progs
                .iter()
                .copied()
                .filter(|i| !self.progs.contains(i))
                .collect();
            let new_links: Vec<u32> = links
                .into_iter()
                .filter(|i| !self.links.contains(i))
                .collect();
            let ours_left: Vec<u32> = self
                .ours
                .iter()
                .copied()
                .filter(|i| progs.contains(i))
                .collect();
            let fds = bpf_fds();
            if new_progs.is_empty() && new_links.is_empty() && fds == self.fds {
                return;
            }
            if Instant::now() > deadline {
                assert!(
                    ours_left.is_empty() && fds == self.fds,
                    "left behind: our programs {ours_left:?}, fds {fds:?} (before: {:?})",
                    self.fds
                );
                eprintln!(
                    "note: programs {new_progs:?} and links {new_links:?} appeared during the \
                     test but are not this test's (another process loaded them)"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
