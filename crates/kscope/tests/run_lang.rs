//! `kscope run` language pieces against the real kernel: tuples, `for ($kv : @map)`
//! (a BPF-to-BPF callback of `bpf_for_each_map_elem`), `len(@map)`, `strcontains`,
//! `cgroup`, `join` and `exit(code)`. Exact outcomes from deterministic workloads, and
//! the same output as bpftrace 0.17 where 0.17 has the feature (it has no `for` over
//! maps: those follow the examples of upstream's docs/language.md).

mod runkit;

use std::process::Command;

use kscope_testkit::{Feature, require, require_all};
use runkit::{bools_as_bpftrace017, bpftrace, child, kscope, lines, run, text, workload};

/// The child calls getppid 1000 times; each of three keys sums a different constant, so
/// the values and the walk over them are exact.
#[test]
fn for_over_a_map_visits_every_element_with_exact_values() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let script = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
                  @c[1] = sum(1); @c[2] = sum(2); @c[3] = sum(3); } \
                  END { $m = 0; \
                  for ($kv : @c) { @sum = sum($kv.1); @n = count(); $m += $kv.0; } \
                  for ($kv : @c) { @b = count(); break; } \
                  printf(\"keys %d len %d\\n\", $m, len(@c)); }";
    let out = run(script, Some(&child("getppid 1000")));
    assert_eq!(
        out,
        "keys 6 len 3\n\n\n@b: 1\n@c[1]: 1000\n@c[2]: 2000\n@c[3]: 3000\n@n: 3\n@sum: 6000\n"
    );
}

/// upstream docs/language.md, "For": `$kv = (key, value)`, and `((key1, key2), value)`
/// for a map of several keys; the body reads maps, builtins and printf.
#[test]
fn for_over_a_map_matches_the_upstream_docs() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run(
        "BEGIN { @map[10] = 20; for ($kv : @map) { print($kv.0); print($kv.1); } \
         @two[10, 11] = 20; for ($kv : @two) { print($kv.0.0); print($kv.0.1); print($kv.1); \
         print($kv); printf(\"%s %d\\n\", comm, @map[$kv.0.0]); } exit(); }",
        None,
    );
    assert_eq!(
        out,
        "10\n20\n10\n11\n20\n((10, 11), 20)\nkscope 20\n\n\n@map[10]: 20\n@two[10, 11]: 20\n"
    );
}

/// `return` (and `exit()`) inside the body ends the probe, not just the loop; outer
/// strings and tuples are read and written through the callback's context.
#[test]
fn for_body_shares_outer_variables_and_return_ends_the_probe() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run(
        "BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; $s = \"x\"; $t = (0, \"y\"); $n = 0; \
         for ($kv : @m) { $n++; $s = \"seen\"; $t = ($kv.1 + 100, $s); } \
         printf(\"%d %s %d %s\\n\", $n, $s, $t.0 > 100, $t.1); \
         for ($kv : @m) { return; } printf(\"not reached\\n\"); } \
         END { printf(\"end\\n\"); }",
        Some("true"),
    );
    assert_eq!(
        out,
        "3 seen 1 seen\nend\n\n\n@m[1]: 1\n@m[2]: 2\n@m[3]: 3\n"
    );
}

/// Tuples as variables and map values print exactly as bpftrace 0.17 prints them.
#[test]
fn tuples_print_as_bpftrace_017() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let cases: &[(&str, Option<String>)] = &[
        (
            "BEGIN { $a = (1, \"hello\"); $b = (3, 4, $a, -7); print($a); print($b); \
             print($b.0); print($b.2.1); printf(\"%s %d\\n\", $a.1, $b.3); @x = $b; exit(); }",
            None,
        ),
        (
            "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
             @t[pid == cpid] = (comm, 7, \"z\"); @u[1, \"k\"] = (2, comm); }",
            Some(child("getppid 10")),
        ),
    ];
    for (script, cmd) in cases {
        let got = run(script, cmd.as_deref());
        let Some(want) = bpftrace(script, cmd.as_deref()) else {
            eprintln!("bpftrace is not installed: differential test skipped");
            return;
        };
        assert_eq!(lines(&bools_as_bpftrace017(&got)), lines(&want), "{script}");
    }
    // Exact text, independent of bpftrace.
    let got = run(cases[0].0, None);
    assert_eq!(
        got,
        "(1, hello)\n(3, 4, (1, hello), -7)\n3\nhello\nhello -7\n\n\n@x: (3, 4, (1, hello), -7)\n"
    );
}

/// `-f json`: a tuple is an array, as upstream's NDJSON.
#[test]
fn tuples_in_json_are_arrays() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = kscope(&[
        "-f",
        "json",
        "-e",
        "BEGIN { $t = (1, \"abc\"); print($t); @m[1] = (-5, \"x\"); exit(); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert!(
        got.contains("{\"type\": \"value\", \"data\": [1,\"abc\"]}\n"),
        "{got}"
    );
    assert!(
        got.contains("{\"type\": \"map\", \"data\": {\"@m\": {\"1\": [-5,\"x\"]}}}\n"),
        "{got}"
    );
}

#[test]
fn strcontains_matches_bpftrace_017() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let script = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
                  $n = \"ll\"; \
                  @a[strcontains(\"hello world\", \"o w\"), strcontains(\"hello\", \"world\")] = count(); \
                  @b[strcontains(\"abc\", \"\"), strcontains(\"\", \"a\"), strcontains(\"hello\", $n)] = count(); \
                  @c[strcontains(comm, \"zzz\")] = count(); }";
    let cmd = child("getppid 5");
    let got = run(script, Some(&cmd));
    assert_eq!(
        lines(&got),
        [
            "@a[true, false]: 5",
            "@b[true, false, true]: 5",
            "@c[false]: 5"
        ]
    );
    if let Some(want) = bpftrace(script, Some(&cmd)) {
        assert_eq!(lines(&bools_as_bpftrace017(&got)), lines(&want));
    }
}

/// The id of the cgroup v2 this process is in: the inode of its directory.
fn own_cgroup_id() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let cg = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ")
            .then(|| pre.split(' ').nth(4).map(str::to_string))?
    })?;
    let dir = format!("{mount}{path}");
    std::fs::metadata(dir).ok().map(|m| m.ino())
}

#[test]
fn cgroup_is_the_cgroup_v2_id_of_the_process() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let Some(want) = own_cgroup_id() else {
        eprintln!("no cgroup v2 hierarchy: cgroup test skipped");
        return;
    };
    let script = "BEGIN { printf(\"%d\\n\", cgroup); exit(); }";
    let got = run(script, None);
    assert_eq!(got, format!("{want}\n\n\n"));
    if let Some(b) = bpftrace(script, None) {
        assert_eq!(lines(&got), lines(&b));
    }
}

/// `join(args.argv)` of an exec: the argument strings joined, as bpftrace 0.17 prints.
#[test]
fn join_prints_the_exec_arguments() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kscope-join-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A copy of echo under a unique name, so that other processes' execs do not match.
    let echo = dir.join("ksjoinecho");
    std::fs::copy("/bin/echo", &echo).unwrap();
    let sh = dir.join("exec.sh");
    std::fs::write(&sh, format!("{} a bb ccc >/dev/null\n", echo.display())).unwrap();
    let cmd = format!("/bin/sh {}", sh.display());
    let script = "tracepoint:syscalls:sys_enter_execve \
                  /strcontains(str(args.filename), \"ksjoinecho\")/ { \
                  join(args.argv); join(args.argv, \",\"); }";
    let got = run(script, Some(&cmd));
    let e = echo.display();
    assert_eq!(got, format!("{e} a bb ccc\n{e},a,bb,ccc\n\n\n"));
    if let Some(want) = bpftrace(&script.replace("args.", "args->"), Some(&cmd)) {
        assert_eq!(got, want);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_code_is_the_run_status() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "BEGIN { @a = 1; exit(3); } END { printf(\"end\\n\"); }",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "end\n\n\n@a: 1\n");
}

/// A program of several functions passes the verifier and its disassembly names the
/// callback by distance; nothing is loaded in a dry run.
#[test]
fn dry_run_shows_the_callback_subprogram() {
    let out = kscope(&[
        "--dry-run",
        "-e",
        "BEGIN { @m[1] = 1; for ($kv : @m) { @s = sum($kv.1); } exit(); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert!(got.contains(" = func pc+"), "{got}");
    assert!(got.contains("call bpf_for_each_map_elem#164"), "{got}");
}

/// `missing_probes = warn` leaves out an attach point that does not exist (with a
/// warning at its span) and counts exactly on the others; `ignore` says nothing;
/// the default refuses the script; `print_maps_on_exit = false` prints no maps.
#[test]
fn missing_probes_and_print_maps_on_exit_config() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let body = "tracepoint:kscope_nosuch:event, tracepoint:syscalls:sys_enter_getppid \
                /pid == cpid/ { @c = count(); }";
    let c = child("getppid 400");
    let warn = kscope(&[
        "-c",
        &c,
        "-e",
        &format!("config = {{ missing_probes = warn }} {body}"),
    ]);
    assert!(warn.status.success(), "{}", text(&warn.stderr));
    assert_eq!(text(&warn.stdout), "\n\n@c: 400\n");
    let stderr = text(&warn.stderr);
    assert!(
        stderr.starts_with(
            "warning: unknown probe `tracepoint:kscope_nosuch:event`: skipped (missing_probes = warn)\n --> -e:1:36\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Attached 1 probe\n"), "{stderr}");

    let ignore = kscope(&[
        "-c",
        &c,
        "-e",
        &format!("config = {{ missing_probes = \"ignore\" }} {body}"),
    ]);
    assert!(ignore.status.success(), "{}", text(&ignore.stderr));
    assert_eq!(text(&ignore.stdout), "\n\n@c: 400\n");
    assert_eq!(text(&ignore.stderr), "Attached 1 probe\n");

    let refused = kscope(&["-c", &c, "-e", body]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).starts_with("error: unknown probe `tracepoint:kscope_nosuch:event`"),
        "{}",
        text(&refused.stderr)
    );

    for off in ["false", "0"] {
        let quiet_maps = run(
            &format!("config = {{ print_maps_on_exit = {off} }} {}", &body[32..]),
            Some(&c),
        );
        assert_eq!(quiet_maps, "\n\n", "print_maps_on_exit = {off}");
    }
}

/// `cat()` prints a file named with printf's format (as bpftrace 0.17 does), at most
/// `max_cat_bytes` of it; a file that cannot be opened is an error on stderr and the
/// run goes on.
#[test]
fn cat_prints_the_named_file() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kscope-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f7"), "line one\nline two\n").unwrap();
    let d = dir.display();
    let script = format!(
        "BEGIN {{ cat(\"{d}/f%d\", 7); cat(\"{d}/missing\"); printf(\"after\\n\"); exit(); }}"
    );
    let out = kscope(&["-e", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "line one\nline two\nafter\n\n\n");
    assert!(
        text(&out.stderr).contains(&format!(
            "ERROR: failed to open file '{d}/missing': No such file or directory\n"
        )),
        "{}",
        text(&out.stderr)
    );
    if let Some(want) = bpftrace(
        &script.replace(&format!("cat(\"{d}/missing\"); "), ""),
        None,
    ) {
        assert_eq!(
            text(
                &kscope(&[
                    "-e",
                    &script.replace(&format!("cat(\"{d}/missing\"); "), "")
                ])
                .stdout
            ),
            want
        );
    }
    let short = run(
        &format!("config = {{ max_cat_bytes = 6 }} BEGIN {{ cat(\"{d}/f7\"); exit(); }}"),
        None,
    );
    assert_eq!(short, "line o\n\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The kernel's jiffies, read from /proc/timer_list.
fn timer_list_jiffies() -> u64 {
    let text = std::fs::read_to_string("/proc/timer_list").expect("/proc/timer_list");
    text.lines()
        .find_map(|l| l.strip_prefix("jiffies: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a jiffies line")
}

/// `jiffies` lies between two readings of the kernel's counter taken around the run;
/// `numaid` is the node sysfs lists for the CPU the probe ran on.
#[test]
fn jiffies_and_numaid_are_the_kernels() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let before = timer_list_jiffies();
    let out = run(
        "BEGIN { printf(\"%llu %u %u\\n\", jiffies, numaid, cpu); exit(); }",
        None,
    );
    let after = timer_list_jiffies();
    let v: Vec<u64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert!(
        before <= v[0] && v[0] <= after,
        "{before} <= {} <= {after}",
        v[0]
    );
    let node = std::fs::read_dir(format!("/sys/devices/system/cpu/cpu{}", v[2]))
        .unwrap()
        .filter_map(|e| e.ok())
        .find_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0);
    assert_eq!(v[1], node, "{out}");
}

/// `errorf()`/`warnf()` print printf's text with the call's location, as upstream's
/// docs show (`stdin:1:9-62: ERROR: ...`); in JSON they are records on stdout.
#[test]
fn errorf_and_warnf_name_the_call_location() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let script = "BEGIN { errorf(\"Something bad with args: %d, %s\", 10, \"arg2\"); \
                  warnf(\"w%d\", 7); exit(); }";
    let out = kscope(&["-e", script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n\n");
    assert_eq!(
        text(&out.stderr),
        "Attached 1 probe\nstdin:1:9-62: ERROR: Something bad with args: 10, arg2\n\
         stdin:1:64-79: WARNING: w7\n"
    );
    let json = kscope(&["-f", "json", "-e", script]);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let lines: Vec<String> = text(&json.stdout).lines().map(str::to_string).collect();
    assert_eq!(
        lines[1..],
        [
            "{\"type\": \"errorf\", \"msg\": \"Something bad with args: 10, arg2\", \"filename\": \"stdin\", \"line\": 1, \"col\": 9}",
            "{\"type\": \"warnf\", \"msg\": \"w7\", \"filename\": \"stdin\", \"line\": 1, \"col\": 64}",
        ]
    );
}

/// `ntop()` and `buf()` of the address arrays of `sock:inet_sock_set_state`, for three
/// IPv4 and three IPv6 loopback connections to a fixed port: the same maps as bpftrace
/// 0.17, and `bswap()` (newer than 0.17) of the port at two widths.
#[test]
fn ntop_buf_and_bswap_of_tcp_connections() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let cmd = child("tcp 3 47111");
    let script = "tracepoint:sock:inet_sock_set_state \
                  /args->oldstate == 2 && args->newstate == 1 && args->dport == 47111/ { \
                  if (args->family == 2) { \
                  @v4[ntop(args->saddr), ntop(args->daddr)] = count(); \
                  @b[buf(args->daddr, 4)] = count(); \
                  } else { @v6[ntop(args->saddr_v6), ntop(10, args->daddr_v6)] = count(); } }";
    let got = run(script, Some(&cmd));
    assert_eq!(
        lines(&got),
        [
            "@b[\\x7f\\x00\\x00M]: 3",
            "@v4[127.0.0.1, 127.0.0.77]: 3",
            "@v6[::1, ::1]: 3"
        ]
    );
    if let Some(want) = bpftrace(script, Some(&cmd)) {
        assert_eq!(lines(&got), lines(&want));
    }
    let got = run(
        "tracepoint:sock:inet_sock_set_state \
         /args.oldstate == 2 && args.newstate == 1 && args.dport == 47111/ { \
         @p16[bswap(args.dport)] = count(); @p32[bswap((uint32)args.dport)] = count(); \
         @s16[bswap((int16)args.dport)] = count(); }",
        Some(&cmd),
    );
    // 47111 is 0xb807.
    assert_eq!(
        lines(&got),
        ["@p16[1976]: 6", "@p32[129499136]: 6", "@s16[1976]: 6"]
    );
    // The same addresses read through BTF from the `struct sock` (arrays by address,
    // `__be32` and `__be16` members as integers), as upstream's tcpconnect.bt reads them.
    let got = run(
        "tracepoint:sock:inet_sock_set_state \
         /args.oldstate == 2 && args.newstate == 1 && args.dport == 47111/ { \
         $sk = (struct sock *)args.skaddr; \
         if ($sk->__sk_common.skc_family == 2) { \
         @v4[ntop($sk->__sk_common.skc_rcv_saddr), ntop($sk->__sk_common.skc_daddr)] = count(); \
         } else { @v6[ntop($sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8), \
         buf($sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8)] = count(); } \
         @port[bswap($sk->__sk_common.skc_dport)] = count(); }",
        Some(&cmd),
    );
    assert_eq!(
        lines(&got),
        [
            "@port[47111]: 6",
            "@v4[127.0.0.1, 127.0.0.77]: 3",
            "@v6[::1, \\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01]: 3"
        ]
    );
}

/// `kaddr()` is the kallsyms address (`ksym()` names it back), `bswap()` of constants,
/// `ntop()` of integers, and an unknown symbol is an error at its span.
#[test]
fn kaddr_bswap_and_ntop_of_constants() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { printf(\"%s %lx %x %d\\n\", ksym(kaddr(\"vfs_read\")), \
         bswap(0x0102030405060708), bswap((uint32)0x11223344), bswap((int16)0x00ff)); \
         printf(\"%s %s %s\\n\", ntop(0x0100007f), ntop(2, 0x0101a8c0), ntop(10, 0)); exit(); }",
        None,
    );
    assert_eq!(
        got,
        "vfs_read 807060504030201 44332211 -256\n127.0.0.1 192.168.1.1 ::\n\n\n"
    );
    let out = kscope(&["-e", "BEGIN { print(kaddr(\"kscope_no_such_symbol\")); }"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("`kaddr()`: no kernel symbol `kscope_no_such_symbol` in /proc/kallsyms")
            && err.contains("-e:1:21"),
        "{err}"
    );
    // An array longer than `buf()` keeps is refused, not cut short.
    let out = kscope(&[
        "--dry-run",
        "-e",
        "BEGIN { printf(\"%r\\n\", buf(curtask->mm->saved_auxv)); }",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("`buf()` reads at most 56 bytes, and this array has")
            && err.contains("-e:1:28"),
        "{err}"
    );
}

/// `strerror()`, `syscall_name()` and `signal_name()` give upstream's texts as real
/// strings: map keys, compared in a predicate, from the `#include` constants.
#[test]
fn strerror_syscall_name_and_signal_name_are_strings() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    // The child fails openat of its /nonexistent/kscope-N paths 9 times with ENOENT
    // (the loader's own misses, under cargo's LD_LIBRARY_PATH, are not counted).
    let got = run(
        "tracepoint:syscalls:sys_enter_openat \
         /pid == cpid && strcontains(str(args.filename), \"/kscope-\")/ { @open[tid] = 1; } \
         tracepoint:syscalls:sys_exit_openat /@open[tid]/ { \
         @[strerror(args.ret)] = count(); delete(@open[tid]); }",
        Some(&child("open 5")),
    );
    assert_eq!(lines(&got), ["@[No such file or directory]: 9"]);
    let got = run(
        "tracepoint:raw_syscalls:sys_enter \
         /pid == cpid && syscall_name(args.id) == \"getppid\"/ { \
         @[syscall_name(args.id)] = count(); }",
        Some(&child("getppid 1000")),
    );
    assert_eq!(lines(&got), ["@[getppid]: 1000"]);
    let got = run(
        "tracepoint:signal:signal_generate /args.pid == cpid/ { \
         @[signal_name(args.sig)] = count(); }",
        Some("sh -c 'trap \"\" USR2 HUP; kill -USR2 $$; kill -HUP $$; kill -HUP $$'"),
    );
    assert_eq!(lines(&got), ["@[Hangup]: 2", "@[User defined signal 2]: 1"]);
    let got = run(
        "#include <errno.h>\n#include <signal.h>\n#include <sys/syscall.h>\n\
         BEGIN { printf(\"%s|%s|%s|%s\\n\", strerror(EPERM), strerror(-EWOULDBLOCK), \
         strerror(4096), strerror(-2147483648)); \
         printf(\"%s|%s|%s|%s\\n\", signal_name(SIGINT), signal_name(0), signal_name(34), \
         signal_name(65)); \
         printf(\"%s|%s|%s|%s\\n\", syscall_name(__NR_read), syscall_name(SYS_openat), \
         syscall_name(547), syscall_name(-1)); exit(); }",
        None,
    );
    assert_eq!(
        got,
        "Operation not permitted|Try again (operation would block)|Unknown error|Unknown error\n\
         Interrupt|Unknown signal 0|Real-time signal 0|N/A\n\
         read|openat|pwritev2|Unknown syscall\n\n\n"
    );
}

/// `ppid`, `pcomm`, `leader_tid`, `leader_comm` (upstream's task aliases, with or
/// without parentheses or a task): the child's parent is kscope itself.
#[test]
fn task_aliases_name_the_parent_and_the_group_leader() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let cmd = child("getppid 1000");
    let kscope = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["run", "-c", &cmd, "-e"])
        .arg(
            "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
             @[pcomm, leader_comm == comm, leader_tid() == pid] = count(); \
             @p = ppid; @same = sum(ppid(curtask) == ppid()); }",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running kscope");
    let own_pid = kscope.id();
    let out = kscope.wait_with_output().expect("waiting for kscope");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lines(&text(&out.stdout)),
        [
            "@[kscope, true, true]: 1000".to_string(),
            format!("@p: {own_pid}"),
            "@same: 1000".to_string()
        ]
    );
}

/// `usermode`: 1 in a uprobe (and in BEGIN, which runs in kscope), 0 in a syscall
/// tracepoint (the kernel), as upstream folds it.
#[test]
fn usermode_is_one_in_uprobes_and_zero_in_tracepoints() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let script = format!(
        "BEGIN {{ @b = usermode(); }} \
         uprobe:{}:kscope_target /pid == cpid/ {{ @u[usermode] = count(); }} \
         tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {{ @t[usermode] = count(); }}",
        workload().display()
    );
    let got = run(&script, Some(&child("call 300")));
    assert_eq!(lines(&got), ["@b: 1", "@u[1]: 300"]);
    let got = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @t[usermode] = count(); }",
        Some(&child("getppid 10")),
    );
    assert_eq!(lines(&got), ["@t[0]: 10"]);
}

/// Macros as upstream's docs/language.md shows them: expression, variable and map
/// parameters, a block argument run three times, nested macros, a body's own variable
/// kept apart from the caller's; and one in a tracepoint counting the child's getppid.
#[test]
fn macros_expand_as_upstream_documents() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "macro one() { 1 }\n\
         macro add_one(x) { x + 1 }\n\
         macro add_one_to_each($a, @b) { $a += 1; @b += 1; }\n\
         macro side_effects(x) { x; x; x; }\n\
         macro add_two(x) { add_one(x) + 1 }\n\
         macro double(x) { let $x = x; $x + $x }\n\
         begin {\n\
           print(one()); print(one);\n\
           $a = 10; print(add_one($a)); print(add_one(1 + 1));\n\
           @b = 5; add_one_to_each($a, @b); print($a + @b);\n\
           side_effects({ printf(\"hi\") }); printf(\"\\n\");\n\
           print(add_two(1));\n\
           $x = 100; print(double($x + 1)); print($x);\n\
           exit();\n\
         }",
        None,
    );
    assert_eq!(got, "1\n1\n11\n3\n17\nhihihi\n3\n202\n100\n\n\n@b: 6\n");
    let got = run(
        "macro is_child() { pid == cpid }\n\
         macro tally(@m, k) { @m[k] = count(); }\n\
         tracepoint:syscalls:sys_enter_getppid /is_child/ { tally(@calls, comm == comm); }",
        Some(&child("getppid 250")),
    );
    assert_eq!(lines(&got), ["@calls[true]: 250"]);
}

/// `strftime()` turns `nsecs` (since boot) into local wall-clock time, as bpftrace 0.17
/// does: `%s` is the Unix time of the event, `%f` its microseconds; timestamps work as
/// map keys and variables.
#[test]
fn strftime_prints_the_wall_clock_time_of_the_event() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let script = "BEGIN { $t = strftime(\"%s\", nsecs); \
                  printf(\"%s %s\\n\", $t, strftime(\"%f|%%f|%Y\", nsecs)); exit(); }";
    let before = unix();
    let got = run(script, None);
    let after = unix();
    let (secs, rest) = got.trim().split_once(' ').expect("two fields");
    let secs: u64 = secs.parse().expect("seconds");
    assert!(
        before <= secs && secs <= after,
        "{secs} not in {before}..={after}"
    );
    let (micros, rest) = rest.split_once('|').expect("%f");
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{micros}"
    );
    let (literal, year) = rest.split_once('|').expect("%%f");
    assert_eq!(literal, "%f");
    if let Some(theirs) = bpftrace(
        "BEGIN { printf(\"%s\\n\", strftime(\"%Y\", nsecs)); exit(); }",
        None,
    ) {
        assert_eq!(lines(&theirs), [year.to_string()]);
    }
    // The key is the timestamp, printed through its format: one key per event, as
    // bpftrace 0.17 prints it.
    let script = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
                  @[strftime(\"%Y\", nsecs)] = count(); }";
    let cmd = child("getppid 100");
    let got = run(script, Some(&cmd));
    assert_eq!(lines(&got), vec![format!("@[{year}]: 1"); 100]);
    if let Some(theirs) = bpftrace(script, Some(&cmd)) {
        assert_eq!(lines(&got), lines(&theirs));
    }
}

/// `getopt()` reads `--name[=value]` after `--` (typed by its default), beside the
/// positional `$1`; an option the script does not read is refused, naming those it does.
/// `for` loops take upstream's spelling without parentheses too.
#[test]
fn getopt_reads_named_options_and_for_needs_no_parentheses() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let script = "BEGIN { printf(\"%d %d %s %d %d\\n\", getopt(\"depth\", 35, \"Maximum depth\"), \
                  getopt(\"flag\"), getopt(\"who\", \"me\"), getopt(\"neg\", -3), $1); \
                  for $i : 0..getopt(\"depth\", 35) { @n = count(); } exit(); }";
    let out = kscope(&["-e", script, "7", "--", "--depth=5", "--flag", "--who=you"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "5 1 you -3 7\n\n\n@n: 5\n");
    let out = kscope(&["-e", script, "7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "35 0 me -3 7\n\n\n@n: 35\n");
    let out = kscope(&["-e", script, "--", "--dpth=5"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "kscope: error: the script has no option `--dpth`: it reads --depth, --flag, --who, --neg\n"
    );
}

/// Indexing a string gives its bytes as `int8` (0 past the buffer), as upstream's
/// opensnoop.bt compares `$path[0] != "/"[0]`.
#[test]
fn string_index_reads_its_bytes() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { $s = \"/etc\"; $i = 2; \
         printf(\"%d %d %d %d %c%c\\n\", $s[0] == \"/\"[0], $s[1], \"ab\"[1], $s[100], $s[$i], \
         $s[$i + 1]); exit(); }",
        None,
    );
    assert_eq!(got, "1 101 98 0 tc\n\n\n");
}

/// `cgroupid(path)` is the id `cgroup` reads for a process in that cgroup, and
/// `cgroup_path()` names it in every hierarchy, as bpftrace 0.17 prints.
#[test]
fn cgroupid_and_cgroup_path_name_the_process_cgroup() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let Some(id) = own_cgroup_id() else {
        eprintln!("no cgroup v2 hierarchy: cgroup_path test skipped");
        return;
    };
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = mounts
        .lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            post.starts_with("cgroup2 ")
                .then(|| pre.split(' ').nth(4).map(str::to_string))?
        })
        .unwrap();
    let dir = format!("{mount}{path}");
    let script = format!(
        "BEGIN {{ printf(\"%d %d %s\\n\", cgroupid(\"{dir}\"), cgroupid(\"{dir}\") == cgroup, \
         cgroup_path(cgroup, \"unif*\")); exit(); }}"
    );
    let got = run(&script, None);
    assert_eq!(got, format!("{id} 1 unified:{path}\n\n\n"));
    let script = "BEGIN { printf(\"%s\\n\", cgroup_path(cgroup)); exit(); }";
    let got = run(script, None);
    assert!(got.starts_with(&format!("unified:{path}")), "{got}");
    if let Some(b) = bpftrace(script, None) {
        assert_eq!(lines(&got), lines(&b));
    }
}

/// `username` (as bpftrace 0.17 prints it), `has_cpid`, `probetype`, `strstr()`, and
/// `macaddr()` of six bytes a child writes (as bpftrace 0.17 formats them).
#[test]
fn username_probetype_strstr_and_macaddr() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let script = "BEGIN { printf(\"%s\\n\", username); @[username] = count(); exit(); }";
    let got = run(script, None);
    let me = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&"0")).then(|| f[0].to_string())
        })
        .unwrap();
    assert_eq!(got, format!("{me}\n\n\n@[{me}]: 1\n"));
    if let Some(theirs) = bpftrace(script, None) {
        assert_eq!(lines(&got), lines(&theirs));
    }
    let got = run(
        "BEGIN { printf(\"%d %s %d %d %d\\n\", has_cpid, probetype, strstr(\"hello world\", \"world\"), \
         strstr(\"hello\", \"xyz\"), strstr(\"abc\", \"\")); } \
         tracepoint:syscalls:sys_enter_getppid /has_cpid() && pid == cpid/ { @[probetype()] = count(); }",
        Some(&child("getppid 7")),
    );
    assert_eq!(got, "1 special 6 -1 0\n\n\n@[tracepoint]: 7\n");
    let dir = std::env::temp_dir().join(format!("kscope-mac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sh = dir.join("mac.sh");
    std::fs::write(&sh, "printf '\\002\\374\\253\\315\\357\\001' > /dev/null\n").unwrap();
    let cmd = format!("/bin/sh {}", sh.display());
    let script = "tracepoint:syscalls:sys_enter_write /pid == cpid/ { \
                  @[macaddr(args->buf), args->count] = count(); }";
    let got = run(script, Some(&cmd));
    assert_eq!(lines(&got), ["@[02:FC:AB:CD:EF:01, 6]: 1"]);
    if let Some(theirs) = bpftrace(script, Some(&cmd)) {
        assert_eq!(lines(&got), lines(&theirs));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `reg()` reads the probe's registers (`di` is the first argument), `is_err()` is the
/// kernel's IS_ERR(), `assert()` ends the run with an error and status 1, and
/// `signal_thread(N)` (a computed number, `--unsafe`) kills the child's thread.
#[test]
fn reg_is_err_assert_and_signal_thread() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    let script = format!(
        "uprobe:{}:kscope_target /pid == cpid/ {{ \
         @[reg(\"di\") == arg0, is_err(0), is_err(-2), is_err(-4096)] = count(); }} \
         BEGIN {{ assert(1 == 1, \"fine\"); }}",
        workload().display()
    );
    let got = run(&script, Some(&child("call 20")));
    assert_eq!(lines(&got), ["@[true, false, true, false]: 20"]);
    let out = kscope(&[
        "-e",
        "BEGIN { assert(1 == 2, \"one is not two\"); printf(\"no\\n\"); }",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("no"), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("ERROR: assert failed: one is not two"),
        "{}",
        text(&out.stderr)
    );
    let out = kscope(&[
        "--unsafe",
        "-c",
        &child("getppid 1000000000"),
        "-e",
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c = count(); $k = 9; \
         signal_thread($k); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n\n@c: 1\n");
}

/// `bool` values print `true`/`false` and pointers as `0x` hex, in `print`, tuples, map
/// keys and values (upstream's tests/runtime/bool and types_format.cpp); JSON gives a
/// pointer as its number. The child's 7 getppid calls make the counts exact.
#[test]
fn bools_print_as_words_and_pointers_as_hex() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { print((true, false)); print(1 == 1); print((uint8 *)255); \
         printf(\"%d %s %p\\n\", true, false, (int8 *)16); @a[true] = false; \
         @p[(int8 *)3] = (uint8 *)4096; } \
         tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c[pid == cpid] = count(); }",
        Some(&child("getppid 7")),
    );
    assert_eq!(
        got,
        "(true, false)\ntrue\n0xff\n1 false 0x10\n\n\n@a[true]: false\n@c[true]: 7\n@p[0x3]: 0x1000\n"
    );
    let out = kscope(&[
        "-f",
        "json",
        "-e",
        "BEGIN { print(2 > 1); @p[(int8 *)3] = (uint8 *)4096; exit(); }",
    ]);
    assert_eq!(
        text(&out.stdout),
        "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n\
         {\"type\": \"value\", \"data\": true}\n\
         {\"type\": \"map\", \"data\": {\"@p\": {\"0x3\": 4096}}}\n"
    );
}

/// `let $x: T` converts every value stored to `T` (as a cast: `$y += 2` wraps a
/// `uint8`), `typeof` names another value's type in casts, `let` and macro arguments,
/// `_ =` discards a value, and the compile-time `is_*()` functions answer from types.
#[test]
fn declared_types_and_typeof_convert_as_casts() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "macro as_type(t, v) { (t)v } \
         macro boxed(t) { let $v: t = 255; $v } \
         BEGIN { $x = (uint8)1; let $y: typeof($x) = 250; $y += 10; \
         $big = (int64)70000; let $z: int16; $z = $big; let $s: string = comm; \
         $w = (typeof($z))100000; @m[2] = 1; _ = has_key(@m, 1); \
         printf(\"%d %d %d %s %d\\n\", $y, $z, $w, $s, sizeof(typeof($z))); \
         print((as_type(typeof(uint8), 511), boxed(typeof(uint8)), boxed($z))); \
         print((is_str($s), is_ptr(curtask), is_integer($x), is_unsigned_integer($z), \
         is_literal(-1))); exit(); }",
        None,
    );
    assert_eq!(
        got,
        "4 4464 -31072 kscope 2\n(255, 255, 255)\n(true, true, true, false, true)\n\n\n@m[2]: 1\n"
    );
}

#[test]
fn find_tuple_equality_nested_tuple_keys_scalar_delete_and_string_to_bool() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { @a[1] = 10; @b[\"k\"] = \"v\"; @c[1, (\"x\", (int8)5)] = (7, \"seven\"); \
         $i = 0; $s = \"none\"; $t = (0, \"\"); \
         $hit = find(@a, 1, $i); $miss = find(@a, 2, $i); \
         $sh = find(@b, \"k\", $s); $th = find(@c, (1, (\"x\", 5)), $t); \
         $tm = find(@c, (1, (\"y\", 5)), $t); \
         print(($hit, $miss, $i, $sh, $s, $th, $tm, $t.0, $t.1)); \
         print(($t == (7, \"seven\"), $t != (7, \"seven\"), (1, \"a\") == (1, \"b\"), \
         (bool)\"hello\", (bool)\"\")); \
         @x = 3; $d1 = delete(@x); $d2 = delete(@x); $d3 = delete(@a, 1); $d4 = delete(@a, 1); \
         print(($d1, $d2, $d3, $d4)); exit(); }",
        None,
    );
    assert_eq!(
        got,
        "(true, false, 10, true, v, true, false, 7, seven)\n(true, false, false, true, false)\n\
         (true, false, true, false)\n\n\n@b[k]: v\n@c[1, (x, 5)]: (7, seven)\n"
    );
}

#[test]
fn container_of_finds_the_enclosing_struct() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
         $t = container_of(&curtask->tasks, struct task_struct, tasks); \
         $u = container_of(&curtask->tasks, typeof(struct task_struct), tasks); \
         print(($t == curtask, $u == curtask, $t->pid == tid)); exit(); }",
        Some(&child("getppid 1")),
    );
    assert_eq!(got, "(true, true, true)\n\n\n");
}

#[test]
fn typeinfo_fields_are_known_when_compiling() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "config = { unstable_typeinfo = enable } \
         BEGIN { $a = (uint64)((uint64)5 - (uint64)3); \
         if (typeinfo($a).full_type != \"uint64\") { printf(\"wrong\\n\"); } \
         print((typeinfo(curtask).full_type, typeinfo(comm).base_type, \
         typeinfo($a) == typeinfo(uint64))); exit(); }",
        None,
    );
    assert_eq!(got, "(struct task_struct *, string, true)\n\n\n");
}

/// Only the branch an `if comptime` selects is checked and compiled: the other may give
/// a map another type.
#[test]
fn if_comptime_compiles_only_the_branch_it_selects() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "BEGIN { $a = 1; if comptime is_str($a) { @n = \"s\"; } else { @n = 5; } \
         if comptime ($1 > 3) { @big = 1; } else { @big = \"no\"; } \
         if comptime ($1 > 30) { @huge = 1; } exit(); }",
        "7",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n\n@big: 1\n@n: 5\n");
}

#[test]
fn kfunc_exist_reads_the_kernel_btf() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let got = run(
        "BEGIN { print((kfunc_exist(\"vfs_read\"), kfunc_exist(\"kscope_no_such_function\"))); \
         if comptime kfunc_exist(\"kscope_no_such_function\") { @x = \"never\"; } \
         exit(); }",
        None,
    );
    assert_eq!(got, "(true, false)\n\n\n");
}

/// `percpu_kaddr` reads per-CPU variables through `bpf_this_cpu_ptr`/`bpf_per_cpu_ptr`;
/// the verifier finds their addresses in kallsyms, so this needs its data symbols.
#[test]
fn percpu_kaddr_reads_this_and_another_cpus_variable() {
    let Some(_kernel) = require(Feature::KallsymsAll) else {
        return;
    };
    let got = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
         $here = (struct rq *)percpu_kaddr(\"runqueues\"); \
         $first = (struct rq *)percpu_kaddr(\"runqueues\", 0); \
         if ($first != 0) { \
         print(($here->cpu == cpu, $first->cpu, percpu_kaddr(\"runqueues\", 100000) == 0)); } \
         exit(); }",
        Some(&child("getppid 1")),
    );
    assert_eq!(got, "(true, 0, true)\n\n\n");
}

/// Without kallsyms data symbols the verifier cannot resolve the variable: kscope says so
/// at the call instead of passing on the verifier's message.
#[test]
fn percpu_kaddr_without_kallsyms_data_is_a_clear_error() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let data_symbols = kscope_testkit::doctor_report()
        .get(Feature::KallsymsAll.check_name())
        .is_some_and(|c| c.available);
    if data_symbols {
        eprintln!("skip: this kernel lists data symbols in kallsyms");
        return;
    }
    let out = kscope(&["-e", "BEGIN { $p = percpu_kaddr(\"runqueues\"); }"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("without CONFIG_KALLSYMS_ALL") && err.contains("-e:1:27"),
        "{err}"
    );
}

/// min/max/avg maps read in expressions combine the CPUs as printing does; `sizeof` of a
/// tuple or record is its C layout (upstream); `buf()` takes a string's bytes.
#[test]
fn aggregation_reads_tuple_sizes_buffers_of_strings_and_pointer_maps_stepping() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { @a = avg(5); @c = count(); @mn = min(7); @mn = min(3); @mx = max(-1); \
         @n = avg(-1); @n = avg(-1); @n = avg(-10); \
         print((@a, @c, @mn, @mx, @n, @n == -4)); \
         $t = ((int8)1, (int64)1, (int8)1, (int64)1); $u = ((int32)1, (int16)1, (int8)1); \
         print((sizeof($t), sizeof($u), sizeof((a=(int8)1, b=(int16)2)))); \
         $b = buf(\"bye\", 3); \
         printf(\"%rx %rh %r %d %d\\n\", buf(\"Hello\\0\", 6), buf(\"Hi\", 2), $b, \
         $b == buf(\"bye\", 3), $b != buf(\"by\", 2)); \
         clear(@a); clear(@c); clear(@mn); clear(@mx); clear(@n); \
         @p = (int32 *)0x32; @p--; @q = (int64 *)0x10; @q++; ++@q; exit(); }",
        None,
    );
    assert_eq!(
        got,
        "(5, 1, 3, -1, -4, true)\n(32, 8, 4)\n\\x48\\x65\\x6c\\x6c\\x6f\\x00 48 69 bye 1 1\n\n\n\
         @p: 0x2e\n@q: 0x20\n"
    );
}

/// Kernel structs and `args` as whole values: `print(struct)`, a struct in a map and in
/// a tuple, nested structs and anonymous unions inline (`fs_struct`'s lock), as upstream
/// and bpftrace 0.17 print them; `args` as a map value (upstream; 0.17 refuses it).
#[test]
fn whole_kernel_structs_and_args_are_values() {
    let Some(_kernel) = require_all(&[
        Feature::BpfRawTracepoint,
        Feature::BpfTracepoint,
        Feature::Btf,
    ]) else {
        return;
    };
    // A nice-0 task's load weight is fixed: 1024 << 10 and its inverse 2^32 / 1024.
    let script = "BEGIN { print(curtask->se.load); @x = curtask->se.load; \
                  @t = (7, curtask->se.load); $l = curtask->se.load; @w = $l.weight; exit(); }";
    let got = run(script, None);
    let load = "{ .weight = 1048576, .inv_weight = 4194304 }";
    assert_eq!(
        got,
        format!("{load}\n\n\n@t: (7, {load})\n@w: 1048576\n@x: {load}\n")
    );
    if let Some(want) = bpftrace(script, None) {
        assert_eq!(lines(&got), lines(&want));
    }
    // Nested structs, with the members of anonymous unions inline.
    let fs = run("BEGIN { print(*curtask->fs); exit(); }", None);
    assert!(
        fs.starts_with("{ .users = ")
            && fs.contains(", .lock = { .rlock = { .raw_lock = { .val = { .counter = ")
            && fs.contains(", .umask = ")
            && fs.contains(", .root = { .mnt = 0x"),
        "{fs}"
    );
    let args = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @a = args; @[args] = count(); }",
        Some(&format!("{} getppid 100", runkit::workload().display())),
    );
    assert_eq!(
        args,
        "\n\n@[{ .__syscall_nr = 110 }]: 100\n@a: { .__syscall_nr = 110 }\n"
    );
}

/// Integer arrays held as values are indexed (a constant index checked when compiling,
/// another reading 0 past the end), and an integer casts to an array of its size.
#[test]
fn arrays_held_as_values_are_indexed() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "begin { printf(\"%x\\n\", ((int8[8])12345)[0]); $a = (int16[4])0x0004000300020001; \
         $i = 2; printf(\"%d %d %d\\n\", $a[3], $a[$i], $a[$i + 5]); \
         @m[1] = (uint8[4])0x04030201; printf(\"%d\\n\", @m[1][2]); print($a); exit(); }",
        None,
    );
    assert_eq!(got, "39\n4 3 0\n3\n[1,2,3,4]\n\n\n@m[1]: [1,2,3,4]\n");
}

/// `iter:task` and `iter:task_file` run once over the kernel's tasks and end the run:
/// a child held asleep with stdin, stdout and stderr open is seen exactly once, with
/// each of those three fds once; `exit()` in an iterator still ends after its first object.
#[test]
fn iterators_visit_every_task_and_file_once() {
    let Some(_kernel) = require_all(&[Feature::Btf, Feature::BpfRawTracepoint]) else {
        return;
    };
    let mut sleeper = sleeper_on_dev_null();
    let pid = sleeper.id();
    let tasks = run(
        &format!(
            "BEGIN {{ printf(\"begin\\n\"); }} \
             iter:task /ctx.task.pid == {pid}/ {{ @[ctx.task.comm, ctx.task.tgid] = count(); }} \
             END {{ printf(\"end\\n\"); }}"
        ),
        None,
    );
    let files = run(
        &format!("it:task_file /ctx.task.pid == {pid} && ctx.fd < 3/ {{ @[ctx.fd] = count(); }}"),
        None,
    );
    let first = run(
        "iter:task { printf(\"%d\\n\", ctx.meta.seq_num); exit(); }",
        None,
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(tasks, format!("begin\nend\n\n\n@[sleep, {pid}]: 1\n"));
    // (The test harness's own fds above 2 may be inherited too.)
    assert_eq!(lines(&files), ["@[0]: 1", "@[1]: 1", "@[2]: 1"]);
    assert_eq!(first, "0\n\n\n");
}

/// C enums at the top of the script, as upstream's runtime tests (call: printf_enum_*,
/// other: "symbolize enum ...", json-output: enum_*): enumerators are constants, `%s`
/// and `print` show the enumerator's name (or the number for a value that has none),
/// map keys and values too; arithmetic drops the enum; JSON `print` shows the number.
#[test]
fn c_enum_values_print_as_upstream() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let cases: &[(&str, &str)] = &[
        (
            "enum Foo { ONE = 1, TWO = 2, OTHER = 99999 }; BEGIN { $two = TWO; @other = OTHER; \
             printf(\"%d %s %d %s %d %s\\n\", ONE, ONE, $two, $two, @other, @other); \
             printf(\"%d %s\\n\", ONE, (enum Foo)1); $x = 100; \
             printf(\"%d %s\\n\", ONE, (enum Foo)$x); exit() }",
            "1 ONE 2 TWO 99999 OTHER\n1 ONE\n1 100\n\n\n@other: OTHER\n",
        ),
        (
            "enum Foo { A, B, C, }; BEGIN { printf(\"%-5s %5s %s\\n\", A, B, C); exit() }",
            "A         B C\n\n\n",
        ),
        (
            "enum { ONE = 1, TWO = 2 }; BEGIN { @[ONE] = 11; @[TWO] = 22; @m[ONE, TWO] = -1; \
             @v = ONE; @t = (ONE, TWO); @n[ONE + 1] = TWO - 1; exit() }",
            "\n\n@[ONE]: 11\n@[TWO]: 22\n@m[ONE, TWO]: -1\n@n[2]: 1\n@t: (ONE, TWO)\n@v: ONE\n",
        ),
        (
            "enum BAZ { FOO = 333, BAR, NEG = -1 }; BEGIN { $f = FOO; print($f); \
             $t = (FOO, BAR); print($t); print((enum BAZ)333); $x = 444; \
             print((enum BAZ)$x); print(NEG); print(sizeof(enum BAZ)); exit() }",
            "FOO\n(FOO, BAR)\nFOO\n444\nNEG\n4\n\n\n",
        ),
    ];
    for (script, want) in cases {
        assert_eq!(run(script, None), *want, "{script}");
    }
    let out = kscope(&[
        "-q",
        "-f",
        "json",
        "-e",
        "enum { FOO = 333 }; BEGIN { $f = FOO; print($f); printf(\"%s\\n\", FOO); exit() }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"type\": \"value\", \"data\": 333}\n{\"type\": \"printf\", \"data\": \"FOO\\n\"}\n"
    );
}

/// A ternary of tuples (or records) picks one whole tuple, strings of either length too
/// (upstream's "ternary tuple" runtime test).
#[test]
fn a_ternary_of_tuples_picks_one() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "BEGIN { $a = nsecs ? (\"hellolongstr\", \"a\") : (\"b\", \"hellolongstr\"); print($a); \
         $b = pid == 0 ? (1, \"x\") : (2, \"yy\"); @b = $b; \
         $r = nsecs > 0 ? (n = 1, s = \"r\") : (n = 2, s = \"q\"); print($r); exit(); }",
        None,
    );
    assert_eq!(
        got,
        "(hellolongstr, a)\n{ .n = 1, .s = r }\n\n\n@b: (2, yy)\n"
    );
}

/// `&$x` is the address of the variable's slot: reading through it sees the variable's
/// current value, and a byte pointer walks a string variable (upstream's runtime tests).
#[test]
fn the_address_of_a_variable_reads_back_its_value() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "begin { $a = 1; $b = &$a; printf(\"%d\\n\", *$b); $a = 5; printf(\"%d\\n\", *$b); \
         $s = \"hello\"; $c = (int8 *)&$s; printf(\"%c %c\\n\", *$c, *++$c); exit(); }",
        None,
    );
    assert_eq!(got, "1\n5\nh e\n\n\n");
}

/// `args.argv` of an exec is a pointer to strings (`const char *const *`): `argv[i]` is a
/// string pointer, and `str(p, n)` takes a length known only when running (at most 64).
#[test]
fn exec_argv_elements_are_strings_and_str_takes_a_runtime_length() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let got = run(
        "tracepoint:syscalls:sys_enter_execve /pid == cpid/ { \
         printf(\"%s|%s|\", str(args.argv[0]), str(args.argv[1])); $n = 3; \
         printf(\"%s|%s\\n\", str(args.argv[1], $n + 2), str(args.argv[1], $n * 1000)); exit(); }",
        // A child that prints nothing: its output would share kscope's stdout.
        Some("/bin/true abcdefgh"),
    );
    assert_eq!(got, "/bin/true|abcdefgh|abcd|abcdefgh\n\n\n");
}

/// `__attribute__((packed))` and `aligned(N)` after a C definition lay it out as gcc does
/// (upstream's "packed struct" runtime tests: 12, 9, 9), and a bare `args` statement
/// is allowed on any probe with `args`.
#[test]
fn packed_and_aligned_definitions_have_gccs_sizes() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "struct foo { int x; char y; int z; } \
         struct bar { int x; char y; int z; } __attribute__((packed)) \
         struct bar2 { int x; char y; int z; } __attribute__((packed)) __attribute__((aligned(1))) \
         struct b3 { char c; } __attribute__((aligned(8))); \
         struct b4 { char c; short s; } /**/ __attribute__ /**/ ((__packed__, aligned(4))) \
         begin { print((sizeof(struct foo), sizeof(struct bar), sizeof(struct bar2), \
         sizeof(struct b3), sizeof(struct b4), offsetof(struct b4, s))); exit() }",
        None,
    );
    assert_eq!(got, "(12, 9, 9, 8, 4, 1)\n\n\n");
}

/// `path()` names a `struct path` through the kernel's bpf_d_path, which iterators may
/// call: a child with stdin, stdout and stderr on /dev/null shows exactly that; a size
/// too small for the name gives an empty string.
#[test]
fn path_names_the_files_an_iterator_sees() {
    let Some(_kernel) = require_all(&[Feature::Btf, Feature::BpfRawTracepoint]) else {
        return;
    };
    let mut sleeper = sleeper_on_dev_null();
    let pid = sleeper.id();
    let got = run(
        &format!(
            "iter:task_file /ctx.task.pid == {pid} && ctx.fd < 3/ {{ \
             @[ctx.fd, path(ctx.file.f_path), path(ctx.file.f_path, 5)] = count(); }}"
        ),
        None,
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(
        lines(&got),
        [
            "@[0, /dev/null, ]: 1",
            "@[1, /dev/null, ]: 1",
            "@[2, /dev/null, ]: 1"
        ]
    );
}

/// `comm(pid)` in an iterator (bpf_task_from_pid, Linux 6.2): a sleeper's comm by its
/// pid, the running kscope's own (upstream's `comm from pid` test prints bpftrace's),
/// "N/A" for a pid that does not exist, and for every task the comm its pid finds is
/// the task's own (tasks that exit meanwhile give "N/A"). Outside tracing programs it is
/// an error when compiling, as upstream's.
#[test]
fn comm_of_a_pid_names_that_process() {
    let Some(_kernel) = require_all(&[Feature::Btf, Feature::BpfRawTracepoint]) else {
        return;
    };
    let has_task_kfuncs = runkit::kernel_at_least(6, 2);
    let mut sleeper = sleeper_on_dev_null();
    let pid = sleeper.id();
    let script = format!(
        "iter:task {{ if (ctx.meta.seq_num == 0) {{ printf(\"%s %s %s\\n\", comm({pid}), comm(pid), \
         comm(0x7ffffff0)); }} $c = comm(ctx.task.pid); \
         if ($c != \"N/A\" && $c != ctx.task.comm) {{ @wrong[ctx.task.pid] = count(); }} }}"
    );
    let out = kscope(&["-e", &script]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    if has_task_kfuncs {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "sleep kscope N/A\n\n\n");
        // --dry-run names the kfuncs it calls.
        let dry = kscope(&[
            "--dry-run",
            "-e",
            "iter:task { @[comm(ctx.task.pid)] = count(); }",
        ]);
        let listing = text(&dry.stdout);
        assert!(listing.contains(") call bpf_task_from_pid#"), "{listing}");
        assert!(listing.contains(") call bpf_task_release#"), "{listing}");
        assert!(!listing.contains("kernel-function#"), "{listing}");
    } else {
        assert!(
            text(&out.stderr).contains("the kernel's BTF has no function `bpf_task_from_pid`"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = kscope(&[
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @ = comm(1); }",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("error: `comm(PID)` is not available in tracepoint probes"),
        "{}",
        text(&out.stderr)
    );
}

/// A `sleep 30` child with stdin, stdout and stderr on /dev/null (for iterator tests).
fn sleeper_on_dev_null() -> std::process::Child {
    Command::new("sleep")
        .arg("30")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting sleep")
}

/// `ctx` in perf event probes is `struct bpf_perf_event_data *` (upstream's typing), read
/// by direct loads the verifier maps onto the kernel's layout: an interval's period in
/// nanoseconds, the sampled registers (`reg()` reads the same), and a cast of `ctx`
/// (upstream's `((struct x *)ctx).x`: the first register).
#[test]
fn ctx_of_a_perf_event_probe_is_its_sample() {
    let Some(_kernel) = require_all(&[Feature::PerfSw, Feature::BpfPerfEvent]) else {
        return;
    };
    let out = run(
        "struct x { unsigned long x; } interval:ms:5 { \
         @p[ctx.sample_period, ctx.regs.ip == reg(\"ip\"), ((struct x *)ctx).x == reg(\"r15\")] = count(); \
         @n++; if (@n == 3) { exit(); } }",
        None,
    );
    assert_eq!(out, "\n\n@n: 3\n@p[5000000, true, true]: 3\n");
}

/// A module glob on a raw tracepoint that matches only the kernel is the kernel
/// (upstream's `rawtracepoint:vmlinu*:sys_exit`); one matching no module says so.
#[test]
fn raw_tracepoint_module_globs_match_vmlinux() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let out = run(
        "rawtracepoint:vmlinu*:sys_exit { printf(\"%s\\n\", probe); exit(); }",
        None,
    );
    // Both CPUs may fire before exit() lands: every line names the one probe.
    let fired: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(!fired.is_empty(), "{out:?}");
    assert!(
        fired.iter().all(|l| *l == "rawtracepoint:vmlinux:sys_exit"),
        "{out:?}"
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "rawtracepoint:nomod*:sys_exit { exit(); }",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "error: no module `nomod*` with raw tracepoints: only vmlinux's are built yet"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// `import "PATH"` (upstream's root-level imports): a directory's `.bt` and `.h` files,
/// each once, relative to the importing file. The imported BEGIN runs first (it comes
/// first), its macro, map declaration and the header's struct and enum serve the script.
/// A script given on stdin or with -e imports from the current directory.
#[test]
fn imports_bring_probes_macros_maps_and_c_definitions() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("run_imports");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let files = [
        (
            "lib/helpers.bt",
            "macro greet(n) { printf(\"hello %d\\n\", n); }\nlet @seen = lruhash(4);\n\
             BEGIN { printf(\"from helpers\\n\"); }\n",
        ),
        (
            "lib/types.h",
            "struct pair { int a; long b; };\nenum color { RED, GREEN = 5 };\n",
        ),
        (
            "main.bt",
            "import \"lib\";\nimport \"lib/helpers.bt\";\n\
             BEGIN { greet(3); @seen[1] = 1; $p = (struct pair *)0; \
             printf(\"%d %d %s\\n\", sizeof(*$p), GREEN, (enum color)5); exit(); }\n",
        ),
    ];
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    for d in [&dir, &dir.join("lib")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = kscope(&[dir.join("main.bt").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "from helpers\nhello 3\n16 5 GREEN\n\n\n@seen[1]: 1\n"
    );
    assert!(
        text(&out.stderr).contains("Attached 2 probes"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .current_dir(&dir)
        .args([
            "run",
            "-e",
            "import \"lib/types.h\"; BEGIN { print(sizeof(struct pair)); exit(); }",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "16\n\n\n", "{}", text(&out.stderr));
}

/// Positional parameters in attach points (`interval:ms:$1`, `uprobe:$1:FUNC`): `$N`
/// becomes the N-th parameter before the probe is looked up; one not given is an error
/// at the attach point.
#[test]
fn positional_parameters_in_attach_points() {
    let Some(_kernel) = require(Feature::BpfPerfEvent) else {
        return;
    };
    let out = kscope(&[
        "-e",
        "interval:ms:$1 { printf(\"%s %s\\n\", probe, str($2)); exit(); }",
        "20",
        "x",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "interval:ms:20 x\n\n\n");
    let out = kscope(&["--dry-run", "-e", "tracepoint:syscalls:sys_enter_$1 { }"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("`$1` in tracepoint:syscalls:sys_enter_$1 is not given"),
        "{}",
        text(&out.stderr)
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_$1 { }",
        "getppid",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("tracepoint:syscalls:sys_enter_getppid"),
        "{}",
        text(&out.stdout)
    );
}
