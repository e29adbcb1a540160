//! Shared pieces of the code generation tests: running generated code in the rbpf
//! interpreter, and a seeded random generator.

#![allow(dead_code)]

pub mod expr;

use kscope_bpf::Insn;
use kscope_codegen::{Compiled, Function, Options, compile_with};

/// Test helper ids (above any kernel helper) and their Rust reference implementations.
pub const MIX: u32 = 9001;
pub const SUM5: u32 = 9002;

pub fn mix(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ b.rotate_left(13)
        ^ c.wrapping_add(7)
        ^ d.wrapping_mul(3)
        ^ e.rotate_right(5)
}

pub fn sum5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a.wrapping_add(b)
        .wrapping_add(c)
        .wrapping_add(d)
        .wrapping_add(e)
}

/// Compiles with r1-r5 poisoned after each call (rbpf's helpers leave them alone).
pub fn build(f: &Function) -> Compiled {
    compile_with(
        f,
        &|_| None,
        &Options {
            poison_after_calls: true,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `prog` in rbpf with `mem` as the context (`r1`).
pub fn run(prog: &Compiled, mem: &mut [u8]) -> u64 {
    let bytes: Vec<u8> = prog
        .insns
        .iter()
        .flat_map(|i: &Insn| i.to_bytes())
        .collect();
    let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).unwrap();
    vm.register_helper(MIX, mix).unwrap();
    vm.register_helper(SUM5, sum5).unwrap();
    vm.execute_program(mem)
        .unwrap_or_else(|e| panic!("{e}\n{}", prog.disassemble()))
}

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub mod kernel {
    //! The C workload and the leak check of the kernel tests.

    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use kscope_bpf::{IdKind, Program, loaded_ids};

    /// Compiles `workload.c` once per test process with `cc`.
    pub fn workload() -> &'static Path {
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        PATH.get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/workload.c");
            kscope_testkit::cprogram::build_once(&src, &["-O1"])
        })
    }

    /// A workload child waiting for "go" bytes on stdin.
    #[allow(unused_imports)]
    pub use kscope_testkit::cprogram::BatchChild as Workload;

    /// Program ids before a test; afterwards the same ids must be loaded (other helpers'
    /// programs that come and go meanwhile are reported, but only ours fail the check).
    pub struct LeakCheck {
        before: Vec<u32>,
        ours: Vec<u32>,
    }

    impl LeakCheck {
        pub fn start() -> LeakCheck {
            LeakCheck {
                before: loaded_ids(IdKind::Prog).unwrap(),
                ours: Vec::new(),
            }
        }

        pub fn track(&mut self, prog: &Program) {
            self.ours.push(prog.id().unwrap());
        }

        pub fn assert_clean(self) {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let now = loaded_ids(IdKind::Prog).unwrap();
                if now == self.before {
                    return;
                }
                let ours_left: Vec<u32> = self
                    .ours
                    .iter()
                    .copied()
                    .filter(|i| now.contains(i))
                    .collect();
                if Instant::now() > deadline {
                    assert!(
                        ours_left.is_empty(),
                        "our programs {ours_left:?} are still loaded"
                    );
                    eprintln!(
                        "note: program ids changed from {:?} to {now:?}, not by this test",
                        self.before
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
