//! `kscope run` with user stacks, user symbols and wildcard attach points, against the
//! real kernel: exact frames and counts from a deterministic C workload
//! (tests/run_user.c), the `-l` listing, and differential runs against bpftrace 0.17.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require_all};
use runkit::{bools_as_bpftrace017, kscope, text};

/// The workload, compiled once with frame pointers (the kernel walks user stacks by
/// them) and without optimisation, so that every function keeps its frame.
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_user.c");
        kscope_testkit::cprogram::build_once(&src, &["-O0", "-g0", "-fno-omit-frame-pointer"])
    })
}

fn bin() -> String {
    workload().display().to_string()
}

/// Runs `script` with `-c "BIN child_args"`; returns (stdout, stderr).
fn run_c(script: &str, child_args: &str) -> (String, String) {
    let out = kscope(&["-c", &format!("{} {child_args}", bin()), "-e", script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// The kernel objects a run could leave behind, before and after.
fn kernel_state() -> kscope_testkit::snapshot::KernelState {
    let mut s = kscope_testkit::snapshot::KernelState::capture();
    // Other tests' programs and maps come and go; ours are checked by the run ending.
    s.bpf_programs.clear();
    s.bpf_maps.clear();
    s.bpf_links.clear();
    s
}

/// The frames of the single stack key `@[...]: count` in `out`: (lines, count).
fn single_stack(out: &str) -> (Vec<String>, u64) {
    let open = out
        .find("@[\n")
        .unwrap_or_else(|| panic!("no stack key in {out:?}"));
    let rest = &out[open + 3..];
    let close = rest.find("]: ").expect("the end of the key");
    let frames: Vec<String> = rest[..close].lines().map(str::to_string).collect();
    let count = rest[close + 3..]
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("a count");
    assert!(
        !rest[close..].contains("@["),
        "more than one stack key: {out}"
    );
    (frames, count)
}

/// `name+offset` → name.
fn frame_name(line: &str) -> &str {
    line.trim().split('+').next().unwrap_or("")
}

#[test]
fn ustack_of_c_is_c_b_a_main_with_exact_count() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let before = kernel_state();
    let b = bin();
    // The script ends in kscope_done while the process still lives (it then sleeps).
    let (out, err) = run_c(
        &format!(
            "uprobe:{b}:kscope_c {{ @[ustack] = count(); }} \
             uprobe:{b}:kscope_done {{ exit(); }}"
        ),
        "stack 7 wait",
    );
    assert_eq!(err, "Attached 2 probes\n");
    let (frames, count) = single_stack(&out);
    assert_eq!(count, 7, "{out}");
    let names: Vec<&str> = frames.iter().map(|f| frame_name(f)).collect();
    assert_eq!(
        names[..4],
        ["kscope_c", "kscope_b", "kscope_a", "main"],
        "{out}"
    );
    assert_eq!(frames[0], "        kscope_c+0", "{out}");
    for f in &frames {
        assert!(
            f.starts_with("        ") && !f[8..].starts_with(' '),
            "{f:?}"
        );
        let (_, off) = f.trim().split_once('+').unwrap_or(("", "x"));
        assert!(
            off.parse::<u64>().is_ok() || f.trim().starts_with("0x"),
            "frame {f:?} is neither name+offset nor 0x<hex>"
        );
    }
    assert_eq!(kernel_state(), before, "tracefs state changed");
}

#[test]
fn ustack_of_a_process_that_exited_before_the_end_still_resolves() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let b = bin();
    // The child exits before the maps are printed: its first stack announced it, and
    // its memory map was cached then (the remaining calls leave time for that).
    let (out, _) = run_c(
        &format!("uprobe:{b}:kscope_c {{ @[ustack(4)] = count(); }}"),
        "stack 100000",
    );
    let (frames, count) = single_stack(&out);
    assert_eq!(count, 100_000);
    assert_eq!(
        frames.iter().map(|f| frame_name(f)).collect::<Vec<_>>(),
        ["kscope_c", "kscope_b", "kscope_a", "main"],
        "{out}"
    );
}

#[test]
fn ustack_modes_and_limit() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = bin();
    let (out, _) = run_c(
        &format!(
            "uprobe:{b}:kscope_c {{ @p[ustack(perf)] = count(); @r[ustack(raw)] = count(); \
             @l[ustack(bpftrace, 2)] = count(); @k[ustack(3)] = count(); }} \
             uprobe:{b}:kscope_done {{ exit(); }}"
        ),
        "stack 4 wait",
    );
    let section = |name: &str| -> Vec<String> {
        let start = out.find(&format!("@{name}[\n")).expect(name) + name.len() + 3;
        let end = start + out[start..].find("]: 4\n").expect("count 4");
        out[start..end].lines().map(str::to_string).collect()
    };
    let perf = section("p");
    let raw = section("r");
    assert_eq!(perf.len(), raw.len(), "{out}");
    // perf: "\t<hex> name+off (module)"; raw: the same addresses, bare.
    for (p, r) in perf.iter().zip(&raw) {
        let (addr, rest) = p.trim_start_matches('\t').split_once(' ').expect(p);
        assert!(p.starts_with('\t'), "{p:?}");
        assert_eq!(addr, r, "{out}");
        assert!(rest.ends_with(')'), "{p:?}");
    }
    assert_eq!(perf[0], format!("\t{} kscope_c+0 ({b})", raw[0]));
    assert!(perf[1].contains(" kscope_b+") && perf[2].contains(" kscope_a+"));
    assert_eq!(
        section("l")
            .iter()
            .map(|f| frame_name(f))
            .collect::<Vec<_>>(),
        ["kscope_c", "kscope_b"]
    );
    assert_eq!(
        section("k")
            .iter()
            .map(|f| frame_name(f))
            .collect::<Vec<_>>(),
        ["kscope_c", "kscope_b", "kscope_a"]
    );
}

/// `config = { stack_mode = perf }` makes a plain `ustack` print as `ustack(perf)`;
/// a mode named in the call still wins.
#[test]
fn stack_mode_config_sets_the_default_mode() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = bin();
    let (out, _) = run_c(
        &format!(
            "config = {{ stack_mode = perf }} \
             uprobe:{b}:kscope_c {{ @d[ustack] = count(); @p[ustack(perf)] = count(); \
             @b[ustack(bpftrace)] = count(); }} uprobe:{b}:kscope_done {{ exit(); }}"
        ),
        "stack 2 wait",
    );
    let section = |name: &str| -> String {
        let start = out.find(&format!("@{name}[\n")).expect(name) + name.len() + 3;
        let end = start + out[start..].find("]: 2\n").expect("count 2");
        out[start..end].to_string()
    };
    assert_eq!(section("d"), section("p"), "{out}");
    assert!(section("p").starts_with('\t'), "{out}");
    assert!(section("b").starts_with("        kscope_c+0\n"), "{out}");
}

#[test]
fn usym_of_a_function_pointer_and_func_in_user_probes() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let mut b = bin();
    if !runkit::kernel_at_least(6, 6) {
        // The workload is a PIE: `func` in its uretprobe needs bpf_get_func_ip in uprobes,
        // and says so; a position-dependent build has the function's address as a constant.
        let out = kscope(&[
            "--dry-run",
            "-e",
            &format!("uretprobe:{b}:kscope_take_fn {{ @r[func] = count(); }}"),
        ]);
        assert!(
            text(&out.stderr).contains("needs Linux 6.6 (bpf_get_func_ip in uprobes)"),
            "{}",
            text(&out.stderr)
        );
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_user.c");
        b = kscope_testkit::cprogram::build_once(
            &src,
            &[
                "-O0",
                "-g0",
                "-fno-omit-frame-pointer",
                "-no-pie",
                "-fno-PIE",
            ],
        )
        .display()
        .to_string();
    }
    let script = format!(
        "uprobe:{b}:kscope_take_fn {{ @[usym(arg0)] = count(); $s = usym(arg0); \
         printf(\"%s in %s\\n\", $s, func); }} \
         uretprobe:{b}:kscope_take_fn {{ @r[func] = count(); }} \
         uprobe:{b}:kscope_done {{ exit(); }}"
    );
    let out = kscope(&["-c", &format!("{b} fnptr 3 wait"), "-e", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "kscope_callback in kscope_take_fn\n".repeat(3)
            + "\n\n@[kscope_callback]: 3\n@r[kscope_take_fn]: 3\n"
    );
}

/// Only names in a mangling scheme's form are demangled, as upstream: a C function `f`
/// keeps its name (a demangler reads it as the type `float`), `_Z3addii` is C++'s
/// `add(int, int)`; in `func`, `usym` and stack frames alike.
#[test]
fn only_mangled_user_symbols_are_demangled() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let b = bin();
    let script = format!(
        "uprobe:{b}:f,uprobe:{b}:_Z3addii {{ @f[func] = count(); @u[usym(reg(\"ip\"))] = count(); \
         @s[ustack(1)] = count(); }} uprobe:{b}:kscope_done {{ exit(); }}"
    );
    let out = kscope(&["-c", &format!("{b} names 4 wait"), "-e", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\n\n@f[f]: 4\n@f[add(int, int)]: 8\n\
         @s[\n        f+0\n]: 4\n@s[\n        add(int, int)+0\n]: 8\n\
         @u[f]: 4\n@u[add(int, int)]: 8\n"
    );
}

/// A glob over files in a uprobe's binary attaches to each matching ELF file (not the
/// text file beside them); the -c command runs one of the two copies, so only its probe
/// counts.
#[test]
fn uprobe_on_a_glob_of_binaries_attaches_to_each_file() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Ringbuf])
    else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("uprobe_glob");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["kg_a", "kg_b"] {
        std::fs::copy(workload(), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("kg_notes"), "not an ELF file").unwrap();
    let a = dir.join("kg_a").display().to_string();
    let glob = dir.join("kg_*").display().to_string();
    let script = format!("uprobe:{glob}:kscope_c {{ @[probe] = count(); }}");
    let out = kscope(&["-c", &format!("{a} stack 7"), "-e", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("\n\n@[uprobe:{a}:kscope_c]: 7\n")
    );
    assert_eq!(text(&out.stderr), "Attached 2 probes\n");
    let out = kscope(&[
        "--dry-run",
        "-e",
        &format!("uprobe:{}:kscope_c {{ }}", dir.join("nomatch_*").display()),
    ]);
    assert!(
        text(&out.stderr).contains("no ELF file matches"),
        "{}",
        text(&out.stderr)
    );
}

/// The functions are `kw_one`, `kw_two` and `kw_three`: short,/// The functions are `kw_one`, `kw_two` and `kw_three`: short, because `probe` strings
/// are kept in 64 bytes and the workload's path is long.
#[test]
fn uprobe_wildcard_attaches_each_function() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let before = kernel_state();
    let b = bin();
    let (out, err) = run_c(
        &format!("uprobe:{b}:kw_* {{ @[probe] = count(); }}"),
        "wild 1",
    );
    assert_eq!(err, "Attached 3 probes\n");
    assert_eq!(
        out,
        format!(
            "\n\n@[uprobe:{b}:kw_one]: 1\n@[uprobe:{b}:kw_two]: 2\n\
             @[uprobe:{b}:kw_three]: 3\n"
        )
    );
    assert_eq!(kernel_state(), before, "tracefs state changed");
}

#[test]
fn list_uprobe_glob_names_the_matching_functions() {
    let b = bin();
    let out = kscope(&["-l", &format!("uretprobe:{b}:kw_*")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "uretprobe:{b}:kw_one\nuretprobe:{b}:kw_three\n\
             uretprobe:{b}:kw_two\n"
        )
    );
    let none = kscope(&["-l", &format!("uprobe:{b}:no_such_fn*")]);
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(text(&none.stdout), "");
}

#[test]
fn uprobe_wildcard_without_match_is_an_error_at_the_attach_point() {
    let b = bin();
    let out = kscope(&["--dry-run", "-e", &format!("uprobe:{b}:no_such_fn* {{ }}")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("error: no probe matches uprobe:{b}:no_such_fn*\n")),
        "{err}"
    );
}

#[test]
fn uprobe_at_an_offset_in_a_function_names_the_function() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = bin();
    // +4: after `push %rbp; mov %rsp,%rbp` (the workload is built with frame pointers).
    let (out, _) = run_c(
        &format!(
            "uprobe:{b}:kscope_c+4 {{ @[probe, func] = count(); }} \
             uprobe:{b}:kscope_done {{ exit(); }}"
        ),
        "stack 3 wait",
    );
    assert_eq!(out, format!("\n\n@[uprobe:{b}:kscope_c+4, kscope_c]: 3\n"));
}

#[test]
fn uprobe_on_a_library_name_is_named_by_its_path() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let listed = kscope(&["-l", "uprobe:libc:getppid"]);
    let name = text(&listed.stdout);
    let name = name.trim_end();
    assert!(
        name.starts_with("uprobe:/") && name.ends_with("/libc.so.6:getppid"),
        "{name:?}"
    );
    let (out, err) = run_c(
        "uprobe:libc:getppid /pid == cpid/ { @[probe] = count(); }",
        "getppid 7",
    );
    assert_eq!(err, "Attached 1 probe\n");
    assert_eq!(out, format!("\n\n@[{name}]: 7\n"));
}

/// bpftrace 0.17's stdout for `script`, with the workload started once bpftrace has
/// attached (without -c, so that the process is alive when bpftrace symbolizes);
/// `None` when bpftrace is not installed.
fn bpftrace_attached_then_child(script: &str, child_args: &str) -> Option<String> {
    let mut bt = Command::new("bpftrace")
        .args(["-B", "line", "-e", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut lines = BufReader::new(bt.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("bpftrace's first line");
    assert!(first.starts_with("Attaching"), "bpftrace said {first:?}");
    // bpftrace 0.17 prints that line before its uprobes are all in place.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Should it miss the exit probe, it is ended after 30 s (and the comparison fails).
    let bt_pid = bt.id();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = Command::new("kill")
            .arg(bt_pid.to_string())
            .stderr(Stdio::null())
            .status();
    });
    let mut child = Command::new(workload())
        .args(child_args.split_whitespace())
        .spawn()
        .expect("the workload");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut lines, &mut rest).expect("bpftrace's output");
    let _ = bt.wait();
    let _ = child.kill();
    let _ = child.wait();
    Some(rest)
}

/// perf-mode frames (`\t<hex> name+off (module)`) with the address masked: address
/// space layout randomisation moves it from run to run.
fn mask_addresses(s: &str) -> String {
    s.lines()
        .map(
            |l| match l.strip_prefix('\t').and_then(|r| r.split_once(' ')) {
                Some((_, rest)) => format!("\tADDR {rest}\n"),
                None => format!("{l}\n"),
            },
        )
        .collect()
}

/// bpftrace 0.17 indents user stack frames by 4 spaces; upstream (and kscope) by 8.
fn upstream_indent(s: &str) -> String {
    s.lines()
        .map(|l| match l.strip_prefix("    ") {
            Some(rest) if !rest.starts_with(' ') => format!("        {rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn differential_ustack_and_wildcard_against_bpftrace() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    if Command::new("bpftrace").arg("--version").output().is_err() {
        eprintln!("skipped: bpftrace is not installed");
        return;
    }
    let b = bin();
    let comm: String = workload()
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(15).collect())
        .unwrap_or_default();
    let done = format!("uprobe:{b}:kscope_done {{ exit(); }}");
    let cases = [
        (
            format!("uprobe:{b}:kscope_c {{ @[ustack] = count(); }} {done}"),
            "stack 5 wait",
        ),
        (
            format!("uprobe:{b}:kscope_c {{ @[ustack(perf)] = count(); }} {done}"),
            "stack 3 wait",
        ),
        (
            format!("uprobe:{b}:kscope_c {{ @[ustack(2), pid > 0] = count(); }} {done}"),
            "stack 6 wait",
        ),
        (
            format!("uprobe:{b}:kw_* {{ @[probe] = count(); }} {done}"),
            "wild 2 wait",
        ),
        (
            format!("uprobe:{b}:kscope_take_fn {{ @[usym(arg0), func] = count(); }} {done}"),
            "fnptr 4 wait",
        ),
        (
            format!("uretprobe:{b}:kw_t* {{ @[probe] = sum(retval); }} {done}"),
            "wild 3 wait",
        ),
        // A user stack from a tracepoint: libc's getppid (its exported name, not the
        // local alias), then the frame-pointer walk's next frame.
        (
            format!(
                "tracepoint:syscalls:sys_enter_getppid /comm == \"{comm}\"/ \
                 {{ @[ustack] = count(); }} {done}"
            ),
            "getppid 5 wait",
        ),
    ];
    for (script, args) in &cases {
        let (ours, _) = run_c(script, args);
        let Some(theirs) = bpftrace_attached_then_child(script, args) else {
            return;
        };
        assert_eq!(
            mask_addresses(&bools_as_bpftrace017(&ours)),
            mask_addresses(&upstream_indent(&theirs)),
            "{script}"
        );
    }
}

#[test]
fn differential_kstack_modes_against_bpftrace() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint]) else {
        return;
    };
    let script = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
                  @[kstack(perf)] = count(); @b[kstack] = count(); @l[kstack(2)] = count(); }";
    let (ours, _) = run_c(script, "getppid 10");
    let Ok(theirs) = Command::new("bpftrace")
        .args(["-c", &format!("{} getppid 10", bin()), "-e", script])
        .output()
    else {
        eprintln!("skipped: bpftrace is not installed");
        return;
    };
    let theirs = text(&theirs.stdout);
    let theirs = theirs.split_once('\n').map_or("", |(_, rest)| rest);
    assert!(ours.contains("]: 10\n@b["), "{ours}");
    assert_eq!(ours, upstream_indent(theirs));
}

/// kprobe wildcards expand over available_filter_functions (kprobes are absent on this
/// machine: the lab runs this).
#[test]
fn lab_run_kprobe_wildcard_counts_per_function() {
    let Some(_kernel) = require_all(&[Feature::Kprobes, Feature::BpfKprobe]) else {
        return;
    };
    let f = kscope_testkit::getppid_function();
    let glob = format!("{}*", &f[..f.len() - 1]);
    let (out, err) = run_c(
        &format!("kprobe:{glob} /pid == cpid/ {{ @[probe] = count(); }}"),
        "getppid 300",
    );
    assert_eq!(err, "Attached 1 probe\n");
    assert_eq!(out, format!("\n\n@[kprobe:{f}]: 300\n"));
}

/// A whole struct as a value (upstream's `print(*p)`, `@s = *p`, `@[*p]`): a script-defined
/// struct read from the uprobe's argument is stored as a record of its members (nested
/// struct, char array as a string, integer array) and printed as upstream prints structs.
#[test]
fn whole_structs_are_values_printed_as_upstream() {
    let Some(_kernel) = require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    let b = bin();
    let (out, _) = run_c(
        &format!(
            "struct kscope_inner {{ short s; unsigned char b[4]; }} \
             struct kscope_pair {{ int m; long n; char name[8]; struct kscope_inner in; }} \
             uprobe:{b}:kscope_take_pair {{ $p = *(struct kscope_pair *)arg0; @[$p] = count(); \
             @last = $p.in; if ($p.m == 2) {{ print(*(struct kscope_pair *)arg0); }} }}"
        ),
        "pair 30",
    );
    let mut lines: Vec<&str> = out.lines().collect();
    let prints: Vec<&str> = lines.drain(..10).collect();
    assert!(
        prints
            .iter()
            .all(|l| *l == "{ .m = 2, .n = -2000, .name = p2, .in = { .s = 1, .b = [1,2,3,2] } }"),
        "{out}"
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            "",
            "",
            "@[{ .m = 0, .n = 0, .name = p0, .in = { .s = -1, .b = [1,2,3,0] } }]: 10",
            "@[{ .m = 1, .n = -1000, .name = p1, .in = { .s = 0, .b = [1,2,3,1] } }]: 10",
            "@[{ .m = 2, .n = -2000, .name = p2, .in = { .s = 1, .b = [1,2,3,2] } }]: 10",
            "@last: { .s = 1, .b = [1,2,3,2] }",
        ],
        "{out}"
    );
}

/// `ctx` in uprobes is the `struct pt_regs *` of the call (upstream's typing), read by
/// direct loads: on entry `di` is `arg0`, on return `ax` is `retval` (kw_one(i) returns i).
#[test]
fn ctx_is_the_registers_of_a_uprobe() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let b = bin();
    let (out, _) = run_c(
        &format!(
            "uprobe:{b}:kw_one {{ @in[ctx.di == arg0, (int32)ctx.di] = count(); }} \
             uretprobe:{b}:kw_one {{ @out[ctx->ax == retval, (int32)ctx->ax] = count(); }}"
        ),
        "wild 3",
    );
    // Equal counts print in the map's own order: compare the sorted lines.
    let mut lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "@in[true, 0]: 1",
            "@in[true, 1]: 1",
            "@in[true, 2]: 1",
            "@out[true, 0]: 1",
            "@out[true, 1]: 1",
            "@out[true, 2]: 1"
        ],
        "{out}"
    );
}
