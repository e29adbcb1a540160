//! `kscope run` with `len()` of stacks, `ustack(build_id)` and stacks inside tuples,
//! against the real kernel: exact depths, build ids and file offsets from a program
//! without libc whose whole user stack is known (tests/run_stacks.c), checked against
//! its ELF file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require_all};
use object::{Object, ObjectSegment, ObjectSymbol};
use runkit::{kscope, text};

/// The build id the workload is linked with (`ld --build-id=0x...`).
const BUILD_ID: &str = "0123456789abcdef0123456789abcdef01234567";

/// Frames of the user stack at `stk_leaf_body`, innermost first (see tests/run_stacks.c).
const DEPTH: u64 = 5;

const FLAGS: &[&str] = &[
    "-O0",
    "-g0",
    "-fno-omit-frame-pointer",
    "-fno-stack-protector",
    "-ffreestanding",
    "-fno-pie",
    "-no-pie",
    "-static",
    "-nostdlib",
];

fn build(build_id: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_stacks.c");
    let mut flags = FLAGS.to_vec();
    let id = format!("-Wl,--build-id={build_id}");
    flags.push(&id);
    kscope_testkit::cprogram::build_once(&src, &flags)
}

/// The workload with [`BUILD_ID`].
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build(&format!("0x{BUILD_ID}")))
}

/// The same workload without a build id note (the kernel then gives the addresses).
fn workload_without_build_id() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("none"))
}

/// Runs `script` with `-c "BIN stack CALLS wait"`; returns stdout, after checking that stderr is `stderr`.
fn run_c(bin: &Path, script: &str, calls: u32, stderr: &str) -> String {
    run_c_with(bin, script, &format!("stack {calls} wait"), stderr)
}

/// [`run_c`] with the workload's arguments.
fn run_c_with(bin: &Path, script: &str, args: &str, stderr: &str) -> String {
    let clean = runkit::Clean::start();
    let out = kscope(&["-c", &format!("{} {args}", bin.display()), "-e", script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), stderr, "{script}");
    clean.check();
    text(&out.stdout)
}

/// The workload's ELF file: symbol addresses, file offsets, bytes.
struct Elf {
    data: Vec<u8>,
}

impl Elf {
    fn read(path: &Path) -> Elf {
        Elf {
            data: std::fs::read(path).unwrap(),
        }
    }

    fn file(&self) -> object::File<'_> {
        object::File::parse(&*self.data).unwrap()
    }

    fn symbol(&self, name: &str) -> u64 {
        self.file()
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no symbol {name}"))
            .address()
    }

    /// The file offset of virtual address `addr`, through the loaded segments.
    fn offset(&self, addr: u64) -> u64 {
        self.file()
            .segments()
            .find(|s| (s.address()..s.address() + s.size()).contains(&addr))
            .map(|s| s.file_range().0 + (addr - s.address()))
            .unwrap_or_else(|| panic!("no segment holds {addr:#x}"))
    }

    /// The virtual address of file offset `off` (its inverse).
    fn address(&self, off: u64) -> u64 {
        self.file()
            .segments()
            .find(|s| {
                let (start, size) = s.file_range();
                (start..start + size).contains(&off)
            })
            .map(|s| s.address() + (off - s.file_range().0))
            .unwrap_or_else(|| panic!("no segment holds offset {off:#x}"))
    }

    /// Asserts that `ret` (a virtual address) is a return address: the 5 bytes before
    /// it are a `call rel32` whose target is `callee`.
    fn assert_returns_from(&self, ret: u64, callee: &str) {
        let off = self.offset(ret) as usize;
        let call = &self.data[off - 5..off];
        assert_eq!(call[0], 0xe8, "no call before {ret:#x}");
        let rel = i32::from_le_bytes(call[1..5].try_into().unwrap());
        assert_eq!(
            ret.wrapping_add_signed(i64::from(rel)),
            self.symbol(callee),
            "the call before {ret:#x} is not to {callee}"
        );
    }

    /// The callees whose calls the frames after the first return from, innermost first.
    const CALLEES: [&str; 4] = ["stk_leaf", "stk_mid", "stk_top", "stk_main"];
}

#[test]
fn len_of_user_stacks_is_the_exact_depth() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = workload().display().to_string();
    // A uprobe has no kernel stack: `len(kstack)` is 0 there.
    let out = run_c(
        workload(),
        &format!(
            "uprobe:{b}:stk_leaf_body {{ @all = len(ustack); @three = len(ustack(3)); \
             $x = ustack(3); @var = len($x); @five = len(ustack(5)); \
             @ten = len(ustack(10)); @k = len(kstack); @n[len(ustack)] = count(); \
             @m[ustack] = len(ustack); }} \
             uprobe:{b}:stk_done {{ exit(); }}"
        ),
        4,
        "Attached 2 probes\n",
    );
    assert_eq!(
        out,
        "\n\n@all: 5\n@five: 5\n@k: 0\n\
         @m[\n        stk_leaf_body+0\n        stk_mid+9\n        stk_top+9\n        \
         stk_main+115\n        _start+10\n]: 5\n\
         @n[5]: 4\n@ten: 5\n@three: 3\n@var: 3\n"
            .replace("stk_main+115", &main_frame()),
        "{out}"
    );
}

/// `stk_main+N`: the return address in stk_main, named as the bpftrace mode prints it
/// (N depends on the compiler's code for stk_main's loop).
fn main_frame() -> String {
    let elf = Elf::read(workload());
    let top = elf.symbol("stk_top");
    let main = elf.symbol("stk_main");
    // The first call to stk_top in stk_main is the one in the loop.
    let off = elf.offset(main) as usize;
    let at = (0..200usize)
        .find(|&i| {
            let c = &elf.data[off + i..off + i + 5];
            c[0] == 0xe8
                && (main + i as u64 + 5)
                    .wrapping_add_signed(i64::from(i32::from_le_bytes(c[1..5].try_into().unwrap())))
                    == top
        })
        .expect("stk_main calls stk_top");
    format!("stk_main+{}", at + 5)
}

#[test]
fn len_of_kernel_stacks_is_the_number_of_frames_printed() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Tracepoints]) else {
        return;
    };
    // The workload's exit: a kernel stack from the exit syscall down to the tracepoint
    // (syscall tracepoints have none on Linux 6.1: their programs get the user registers).
    let out = run_c_with(
        workload(),
        "tracepoint:sched:sched_process_exit /pid == cpid/ { @k[kstack] = count(); \
         @n = len(kstack); @two = len(kstack(2)); @raw = len(kstack(raw, 3)); }",
        "stack 0",
        "Attached 1 probe\n",
    );
    let key = out
        .split_once("@k[\n")
        .and_then(|(_, r)| r.split_once("]: 1\n"))
        .map(|(k, _)| k)
        .unwrap_or_else(|| panic!("no stack key: {out}"));
    let frames = key.lines().count();
    assert!(frames >= 3, "{out}");
    assert!(
        key.lines()
            .all(|l| l.starts_with("        ") && l.contains('+')),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("@n: {frames}\n@raw: 3\n@two: 2\n")),
        "{out}"
    );
}

#[test]
fn ustack_build_id_prints_the_build_id_and_file_offsets() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let elf = Elf::read(workload());
    assert_eq!(
        elf.file().build_id().unwrap().map(|id| id.to_vec()),
        Some(
            (0..20)
                .map(|i| u8::from_str_radix(&BUILD_ID[2 * i..2 * i + 2], 16).unwrap())
                .collect()
        )
    );
    let b = workload().display().to_string();
    let out = run_c(
        workload(),
        &format!(
            "uprobe:{b}:stk_leaf_body {{ print(ustack(build_id)); @[ustack(build_id, 2)] = count(); \
             @n = len(ustack(build_id)); }} uprobe:{b}:stk_done {{ exit(); }}"
        ),
        2,
        "Attached 2 probes\n",
    );
    // Each print: the stack (a newline, then one line per frame) and a newline.
    let first = out[1..].split("\n\n").next().unwrap_or("");
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len() as u64, DEPTH, "{out}");
    // `<build id> 0x<file offset>`, unindented, as upstream's EXPECT_REGEX
    // `^[\da-fA-F]+ 0x[\da-fA-F]+$`.
    let offsets: Vec<u64> = lines
        .iter()
        .map(|l| {
            let (id, off) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
            assert_eq!(id, BUILD_ID, "{out}");
            u64::from_str_radix(off.strip_prefix("0x").expect(l), 16).unwrap()
        })
        .collect();
    // The first frame is the probed address; the others return from the calls.
    assert_eq!(offsets[0], elf.offset(elf.symbol("stk_leaf_body")), "{out}");
    for (off, callee) in offsets[1..].iter().zip(Elf::CALLEES) {
        elf.assert_returns_from(elf.address(*off), callee);
    }
    let stack = format!("\n{first}\n\n");
    assert_eq!(
        out,
        format!(
            "{stack}{stack}\n\n@[\n{BUILD_ID} {:#x}\n{BUILD_ID} {:#x}\n]: 2\n@n: 5\n",
            offsets[0], offsets[1]
        ),
    );
}

#[test]
fn ustack_build_id_of_a_file_without_one_prints_the_addresses() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let bin = workload_without_build_id();
    let elf = Elf::read(bin);
    assert_eq!(elf.file().build_id().unwrap(), None);
    let b = bin.display().to_string();
    let out = run_c(
        bin,
        &format!(
            "uprobe:{b}:stk_leaf_body {{ print(ustack(build_id, 3)); }} \
             uprobe:{b}:stk_done {{ exit(); }}"
        ),
        1,
        "Attached 2 probes\n",
    );
    // BPF_STACK_BUILD_ID_IP: upstream prints the bare hex address (here, non-PIE, the
    // ELF virtual address).
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    let addrs: Vec<u64> = lines
        .iter()
        .map(|l| u64::from_str_radix(l, 16).unwrap_or_else(|_| panic!("{l:?}")))
        .collect();
    assert_eq!(addrs[0], elf.symbol("stk_leaf_body"), "{out}");
    elf.assert_returns_from(addrs[1], "stk_leaf");
    elf.assert_returns_from(addrs[2], "stk_mid");
    assert_eq!(
        out,
        format!("\n{:x}\n{:x}\n{:x}\n\n\n\n", addrs[0], addrs[1], addrs[2])
    );
}

#[test]
fn stacks_inside_tuples_print_as_upstream() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let elf = Elf::read(workload());
    let leaf = elf.offset(elf.symbol("stk_leaf_body"));
    let b = workload().display().to_string();
    let out = run_c(
        workload(),
        &format!(
            "uprobe:{b}:stk_leaf_body {{ $a = (1, ustack(3)); $b = (1, ustack(build_id, 1)); \
             $c = (1, ustack(build_id, 30)); $e = (1, kstack(raw)); \
             print($a); print($b); print($e); @c = $c; @t[(2, ustack(2))] = count(); }} \
             uprobe:{b}:stk_done {{ exit(); }}"
        ),
        1,
        "Attached 2 probes\n",
    );
    let (printed, maps) = out.split_at(out.find("\n\n@c").expect("the maps"));
    // The user stack names the process it was taken in (its pid is stored beside it).
    assert_eq!(
        printed,
        format!(
            "(1, \n        stk_leaf_body+0\n        stk_mid+9\n        stk_top+9\n)\n\
             (1, \n{BUILD_ID} {leaf:#x}\n)\n\
             (1, \n)\n"
        ),
        "{out}"
    );
    let c = maps
        .strip_prefix("\n\n@c: (1, \n")
        .and_then(|r| r.split_once(")\n"))
        .map(|(s, _)| s)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(c.lines().count() as u64, DEPTH, "{out}");
    assert!(
        c.lines().all(|l| l.starts_with(&format!("{BUILD_ID} 0x"))),
        "{out}"
    );
    assert!(
        // A tuple key prints as the key parts it is, as upstream's.
        maps.ends_with("@t[2, \n        stk_leaf_body+0\n        stk_mid+9\n]: 1\n"),
        "{out}"
    );
}

/// Upstream's regression test "stack modes and size" (bpftrace issue 4945): stacks of
/// every mode and size in tuples compile and load.
#[test]
fn stack_modes_and_sizes_in_tuples_load() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Ringbuf]) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "begin { $a = (1, ustack); $b = (1, ustack(build_id)); $c = (1, ustack(build_id, 30)); \
         $d = (1, kstack); $e = (1, kstack(raw)); $f = (1, kstack(raw, 30)); exit(); }",
    ]);
    assert_eq!(text(&out.stderr), "Attached 1 probe\n");
    assert!(out.status.success());
}

#[test]
fn kstack_build_id_is_an_error_as_upstream() {
    let out = kscope(&["--dry-run", "-e", "begin { print(kstack(build_id)); }"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: 'build_id' stack mode can only be used for ustack\n --> -e:1:15\n  |\n\
         1 | begin { print(kstack(build_id)); }\n  |               ^^^^^^^^^^^^^^^^ a kernel stack\n"
    );
    // `stack_mode = build_id` makes `kstack(3)` one too, and a bare `kstack` raw with a
    // warning (upstream's).
    let out = kscope(&[
        "--dry-run",
        "-e",
        "config = { stack_mode = build_id } begin { print(kstack(3)); }",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: 'build_id' stack mode can only be used for ustack\n"),
        "{}",
        text(&out.stderr)
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "config = { stack_mode = build_id } begin { print(kstack); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(
            "warning: 'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode.\n"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// `config = { stack_mode = build_id }`: a bare `ustack` prints build ids, a bare
/// `kstack` raw addresses.
#[test]
fn stack_mode_build_id_config() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let elf = Elf::read(workload());
    let leaf = elf.offset(elf.symbol("stk_leaf_body"));
    let b = workload().display().to_string();
    let clean = runkit::Clean::start();
    let out = kscope(&[
        "-c",
        &format!("{b} stack 1 wait"),
        "-e",
        &format!(
            "config = {{ stack_mode = build_id }} uprobe:{b}:stk_leaf_body {{ \
             print(ustack(1)); print(ustack(raw, 1)); @k = len(kstack); }} \
             uprobe:{b}:stk_done {{ exit(); }}"
        ),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    clean.check();
    assert!(
        text(&out.stderr)
            .starts_with("warning: 'build_id' stack mode can only be used for ustack."),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        format!(
            "\n{BUILD_ID} {leaf:#x}\n\n\n{:x}\n\n\n\n@k: 0\n",
            elf.symbol("stk_leaf_body")
        )
    );
}
