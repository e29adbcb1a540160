//! `kscope run` reading kernel structs through BTF: `curtask` chains, casts, bitfields,
//! raw tracepoint `args` and tracepoint struct pointers, each against values the workload
//! (tests/run_btf_support.c) knows; a differential test against bpftrace 0.17; errors.

mod runkit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kscope_testkit::{Feature, require, require_all};
use runkit::{Clean, kscope, text};

/// The workload binary, compiled once per test process.
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_btf_support.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0", "-pthread"])
    })
}

/// A file for the workload's facts (pids), unique per test.
fn facts_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kscope-run-btf-{}-{test}", std::process::id()))
}

/// The numbers the workload wrote to its facts file.
fn facts(path: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(path).expect("the workload's facts file");
    let _ = std::fs::remove_file(path);
    text.split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect()
}

/// Runs `script` with `-c WORKLOAD ARGS`; returns stdout, failing on a non-zero exit.
fn run_c(script: &str, args: &str) -> String {
    let cmd = format!("{} {args}", workload().display());
    let out = kscope(&["-c", &cmd, "-e", script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The map lines of an output, sorted (entries with equal values print in an order
/// that depends on hashing).
fn sorted_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn curtask_pid_tgid_comm_and_parent_match_the_thread() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let clean = Clean::start();
    let path = facts_path("curtask");
    // The thread calls getppid once for its facts line, then 7 + 11 times.
    let out = run_c(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
         @ids[curtask->pid, curtask->tgid, curtask->real_parent->tgid] = count(); \
         @comm[curtask->comm, comm] = count(); \
         @cast[((struct task_struct *)curtask)->pid == tid] = count(); \
         @exe[str(curtask->mm->exe_file->f_path.dentry->d_name.name)] = count(); }",
        &format!("thread {} 7 11", path.display()),
    );
    let f = facts(&path);
    let (tid, pid, ppid) = (f[0], f[1], f[2]);
    assert_ne!(tid, pid, "the workload runs in a second thread");
    // str() of a kernel `char *` reached from curtask reads kernel memory even in a
    // syscall tracepoint (whose own pointer args are user memory).
    let exe = workload()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        out,
        format!(
            "\n\n@cast[true]: 19\n@comm[ksbtf-thread, ksbtf-thread]: 19\n\
             @exe[{exe}]: 19\n@ids[{tid}, {pid}, {ppid}]: 19\n"
        )
    );
    clean.check();
}

#[test]
fn bitfields_read_through_btf_have_the_values_the_workload_set() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let clean = Clean::start();
    let path = facts_path("bits");
    // task_struct.sched_reset_on_fork:1 (SCHED_RESET_ON_FORK), signal_struct
    // .is_child_subreaper:1 (PR_SET_CHILD_SUBREAPER) and tcp_sock.nonagle:4
    // (TCP_NODELAY sets TCP_NAGLE_OFF | TCP_NAGLE_PUSH = 5) of the socket at fd 100,
    // reached through files->fdt->fd[100]->private_data (a socket)->sk.
    let out = run_c(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid && curtask->files->fdt->max_fds > 100 \
         && curtask->files->fdt->fd[100] != 0/ { \
         @bits[curtask->sched_reset_on_fork, curtask->signal->is_child_subreaper, \
         ((struct tcp_sock *)((struct socket *)curtask->files->fdt->fd[100]->private_data)->sk)->nonagle] \
         = count(); }",
        &format!("thread {} 7 11", path.display()),
    );
    facts(&path);
    assert_eq!(out, "\n\n@bits[0, 0, 0]: 7\n@bits[1, 1, 5]: 11\n");
    clean.check();
}

#[test]
fn rawtracepoint_btf_args_are_the_forking_parent_and_its_children() {
    let Some(_kernel) = require_all(&[Feature::BpfRawTracepoint, Feature::Btf]) else {
        return;
    };
    let clean = Clean::start();
    let path = facts_path("fork");
    let mut script = String::from(
        "rawtracepoint:sched_process_fork /args.parent->tgid == cpid/ { \
         @[args.child->pid, args.child->tgid, args.child->real_parent->tgid, \
         args.parent->pid] = count(); }",
    );
    // sys_enter's `regs` (struct pt_regs *): clone is 56 on x86-64, its first
    // argument (flags) carries SIGCHLD (17) in the low byte for fork().
    if cfg!(target_arch = "x86_64") {
        script.push_str(
            " rawtracepoint:sys_enter /pid == cpid && args.id == 56/ \
             { @clone[args.regs->orig_ax, args.regs->di & 0xff] = count(); }",
        );
    }
    let out = run_c(&script, &format!("fork {} 3", path.display()));
    let f = facts(&path);
    let parent = f[0];
    let mut want: Vec<String> = f[1..]
        .iter()
        .map(|c| format!("@[{c}, {c}, {parent}, {parent}]: 1"))
        .collect();
    if cfg!(target_arch = "x86_64") {
        want.push("@clone[56, 17]: 3".into());
    }
    want.sort();
    assert_eq!(f.len(), 4);
    assert_eq!(sorted_lines(&out), want, "{out}");
    clean.check();
}

#[test]
fn tracepoint_struct_pointer_field_resolves_through_btf() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let clean = Clean::start();
    let path = facts_path("mm");
    // mmap_lock_start_locking's `mm` is a `struct mm_struct *` in its format file; after
    // the exec (comm is the binary's, 15 bytes) it is the workload's own mm (also in
    // exit_mmap, when curtask->mm is already NULL), whose exe_file is the workload binary.
    let out = run_c(
        "tracepoint:mmap_lock:mmap_lock_start_locking /pid == cpid && comm == \"run_btf_support\"/ \
         { @exe[str(args.mm->exe_file->f_path.dentry->d_name.name), \
         args.mm->exe_file->f_path.dentry->d_name.len, \
         args.mm == curtask->mm || curtask->mm == 0] = 1; }",
        &format!("fork {} 0", path.display()),
    );
    facts(&path);
    let name = workload()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(out, format!("\n\n@exe[{name}, {}, true]: 1\n", name.len()));
    clean.check();
}

#[test]
fn deref_and_index_of_integer_pointers_read_user_memory_in_syscalls() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let clean = Clean::start();
    // write(101, "kscope-btf", 10) 5 times: `buf` is a user pointer; "ksco" as a
    // little-endian u32 is 0x6f63736b, byte 4 is 'p' (112).
    let out = run_c(
        "tracepoint:syscalls:sys_enter_write /pid == cpid && args.fd == 101/ { \
         @[*(uint32 *)args.buf, args.buf[4], ((uint8 *)args.buf)[9], str(args.buf, 7)] = count(); }",
        &format!("write {} 5", facts_path("write").display()),
    );
    assert_eq!(out, "\n\n@[1868788587, 112, 102, kscope]: 5\n");
    clean.check();
}

#[test]
fn pointer_arithmetic_steps_by_the_pointee_size() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let clean = Clean::start();
    // "kscope-btf": as u16 little-endian, element 2 is "pe" (0x6570 = 25968) and
    // element 4 is "tf" (0x6674 = 26228); `1 + p` steps 2 bytes; `$q++` on a
    // uint32 pointer steps 4 bytes to "pe-b" (0x622d6570 = 1647142256).
    let out = run_c(
        "tracepoint:syscalls:sys_enter_write /pid == cpid && args.fd == 101/ { \
         $p = (uint16 *)args.buf; $q = (uint32 *)args.buf; $q++; \
         @[*($p + 2), *($p + 4 - 2 + 2), (uint64)(1 + $p) - (uint64)$p, *$q, \
           (uint64)((struct task_struct *)0 + 2)] = count(); }",
        &format!("write {} 3", facts_path("write").display()),
    );
    let btf = kscope_btf::Btf::open_sys_vmlinux().expect("the kernel's BTF");
    let id = btf
        .find_by_name(kscope_btf::Kind::Struct, "task_struct")
        .expect("task_struct in the kernel's BTF");
    let task = btf.size_of(id).expect("task_struct's size");
    assert_eq!(
        out,
        format!("\n\n@[25968, 26228, 2, 1647142256, {}]: 3\n", 2 * task)
    );
    clean.check();
}

/// `uptr()` makes a kernel probe read an address as user memory: BEGIN runs in
/// kscope's own context, so `curtask->mm->arg_start` is kscope's argv[0]; without
/// `uptr` the read is a kernel one and gives an empty string (as bpftrace 0.17).
#[test]
fn uptr_reads_user_memory_from_a_kernel_probe() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = runkit::kscope(&[
        "-e",
        "BEGIN { printf(\"%s|%s|%d\\n\", str(uptr(curtask->mm->arg_start)), \
         str(curtask->mm->arg_start), kptr(5)); exit(); }",
    ]);
    assert!(out.status.success(), "{}", runkit::text(&out.stderr));
    // Strings hold 63 bytes and the NUL.
    let argv0 = &env!("CARGO_BIN_EXE_kscope")[..env!("CARGO_BIN_EXE_kscope").len().min(63)];
    assert_eq!(runkit::text(&out.stdout), format!("{argv0}||5\n\n\n"));
}

/// Replaces each whole number in `out` equal to one of `pids` by its label.
fn label_pids(out: &str, pids: &[(u32, &str)]) -> String {
    let mut res = String::new();
    let mut num = String::new();
    let flush = |num: &mut String, res: &mut String| {
        if !num.is_empty() {
            let label = num
                .parse::<u32>()
                .ok()
                .and_then(|n| pids.iter().find(|(p, _)| *p == n));
            res.push_str(label.map_or(num.as_str(), |(_, l)| l));
            num.clear();
        }
    };
    for c in out.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            flush(&mut num, &mut res);
            res.push(c);
        }
    }
    flush(&mut num, &mut res);
    res
}

#[test]
fn btf_one_liners_equal_bpftrace() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    if Command::new("bpftrace").arg("--version").output().is_err() {
        eprintln!("skipped: bpftrace is not installed");
        return;
    }
    let scripts = [
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[curtask->pid, curtask->tgid] = count(); }",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[curtask->comm] = count(); }",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[curtask->real_parent->tgid] = count(); }",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[curtask->sched_reset_on_fork, curtask->signal->is_child_subreaper] = count(); }",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[((struct task_struct *)curtask)->tgid] = count(); }",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @w = sum(curtask->se.load.weight); @rl = max(curtask->signal->rlim[7].rlim_cur); }",
    ];
    for script in scripts {
        let path = facts_path("diff");
        let cmd = format!("{} thread {} 7 11", workload().display(), path.display());
        let ours = kscope(&["-c", &cmd, "-e", script]);
        assert!(ours.status.success(), "{script}: {}", text(&ours.stderr));
        let f = facts(&path);
        let ours = label_pids(
            &text(&ours.stdout),
            &[(f[0], "TID"), (f[1], "PID"), (f[2], "PPID")],
        );
        let theirs = Command::new("bpftrace")
            .args(["-c", &cmd, "-e", script])
            .output()
            .expect("running bpftrace");
        assert!(
            theirs.status.success(),
            "bpftrace: {script}: {}",
            text(&theirs.stderr)
        );
        let f = facts(&path);
        // bpftrace's own parent is this test, as kscope's child's parent is kscope.
        let theirs = text(&theirs.stdout);
        let theirs = theirs
            .split_once('\n')
            .filter(|(first, _)| first.starts_with("Attaching"))
            .map_or(theirs.as_str(), |(_, rest)| rest);
        let theirs = label_pids(theirs, &[(f[0], "TID"), (f[1], "PID"), (f[2], "PPID")]);
        assert_eq!(ours, theirs, "{script}");
    }
}

#[test]
fn btf_errors_name_the_nearest_struct_and_bounds() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let out = kscope(&["-e", "BEGIN { @ = ((struct task_strct *)curtask)->pid; }"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: unknown type `struct task_strct`\n \
         --> -e:1:14\n  |\n\
         1 | BEGIN { @ = ((struct task_strct *)curtask)->pid; }\n  \
         |              ^^^^^^^^^^^^^^^^^^^^ not in the kernel's BTF\n  \
         = help: did you mean `struct task_struct`?\n"
    );
    let out = kscope(&["-e", "BEGIN { @ = curtask->real_parnt->pid; }"]);
    assert!(
        text(&out.stderr).contains("= help: did you mean `real_parent`?"),
        "{}",
        text(&out.stderr)
    );
    // task_struct's `signal->rlim` has RLIM_NLIMITS (16) elements.
    let out = kscope(&["-e", "BEGIN { @ = curtask->signal->rlim[16].rlim_cur; }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(
            "error: index 16 is out of bounds for `struct rlimit[16]`, which has 16 elements\n"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = kscope(&["-e", "BEGIN { @ = *curtask; }"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Kernel memory reads inside a `for` body (a callback subprogram with its own stack).
#[test]
fn btf_reads_inside_a_for_body_over_a_map() {
    let Some(_kernel) = kscope_testkit::require_all(&[
        kscope_testkit::Feature::Btf,
        kscope_testkit::Feature::BpfRawTracepoint,
    ]) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "BEGIN { @c[1] = 5; @c[2] = 7; for ($kv : @c) { \
         @t[curtask->tgid == pid, $kv.0] = sum($kv.1 + curtask->pid - tid); } \
         clear(@c); exit(); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n\n@t[true, 1]: 5\n@t[true, 2]: 7\n");
}

/// `sizeof` of types and expressions prints what bpftrace 0.17 prints; `offsetof` (newer
/// than 0.17) equals bpftool's reading of the BTF member offsets and the run-time address
/// difference of the same member.
#[test]
fn sizeof_equals_bpftrace_and_offsetof_equals_bpftool() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let script = "BEGIN { printf(\"%d %d %d %d %d %d\\n\", sizeof(struct task_struct), \
                  sizeof(struct sock), sizeof(uint32), sizeof(curtask->pid), sizeof(*curtask), \
                  sizeof(curtask)); exit(); }";
    let ours = kscope(&["-e", script]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    let ours = text(&ours.stdout);
    if let Ok(theirs) = Command::new("bpftrace").args(["-e", script]).output() {
        assert!(theirs.status.success(), "{}", text(&theirs.stderr));
        let theirs = text(&theirs.stdout);
        let theirs = theirs.split_once('\n').map_or(theirs.as_str(), |(_, r)| r);
        assert_eq!(ours, theirs);
    }
    // bpftool's raw dump: `[N] STRUCT 'task_struct' size=S vlen=V`, then one line per
    // member: `'pid' type_id=T bits_offset=B`.
    let dump = Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        .output()
        .expect("bpftool (CI installs it)");
    assert!(dump.status.success());
    let dump = String::from_utf8_lossy(&dump.stdout);
    let mut lines = dump
        .lines()
        .skip_while(|l| !(l.contains("] STRUCT 'task_struct' ")));
    let header = lines.next().expect("task_struct in BTF");
    let size: u64 = header
        .split_once("size=")
        .and_then(|(_, r)| r.split(' ').next()?.parse().ok())
        .expect("size=");
    let bits = |member: &str| -> u64 {
        dump.lines()
            .skip_while(|l| !(l.contains("] STRUCT 'task_struct' ")))
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .find(|l| l.trim_start().starts_with(&format!("'{member}' ")))
            .and_then(|l| l.split_once("bits_offset=")?.1.parse().ok())
            .unwrap_or_else(|| panic!("task_struct.{member} in bpftool's dump"))
    };
    let out = kscope(&[
        "-e",
        "BEGIN { printf(\"%d %d %d %d\\n\", sizeof(struct task_struct), \
         offsetof(struct task_struct, pid), offsetof(*curtask, comm), \
         offsetof(struct task_struct, pid) == (uint64)&curtask->pid - (uint64)curtask); exit(); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{size} {} {} 1\n\n\n", bits("pid") / 8, bits("comm") / 8)
    );
    let bad = kscope(&[
        "-e",
        "BEGIN { print(offsetof(struct task_struct, se.vruntim)); }",
    ]);
    assert!(!bad.status.success());
    let err = text(&bad.stderr);
    assert!(
        err.contains("error: `struct sched_entity` has no field `vruntim`")
            && err.contains("did you mean `vruntime`?"),
        "{err}"
    );
}
