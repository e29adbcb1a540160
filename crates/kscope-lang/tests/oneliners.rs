//! One-liners in the style of bpftrace's documentation and tutorial: all must parse, print,
//! and round-trip through the source writer to the same printed tree.

use kscope_lang::{parser, printer};

/// Scripts that must parse.
pub const ONE_LINERS: &[&str] = &[
    r#"BEGIN { printf("hello world\n"); }"#,
    r#"begin { printf("hello world\n"); }"#,
    r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#,
    r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }"#,
    "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
    "tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args.ret); }",
    "kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }",
    "kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start, tid); }",
    "kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }",
    "tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }",
    "profile:hz:99 { @[kstack] = count(); }",
    "tracepoint:sched:sched_switch { @[kstack] = count(); }",
    "tracepoint:block:block_rq_issue { @ = hist(args.bytes); }",
    r#"kprobe:do_nanosleep { printf("%d sleeping\n", pid); }"#,
    "uretprobe:./test:main.myprint { @=count(); }",
    r#"begin { printf("I got %d, %s (%d args)\n", $1, str($2), $#); }"#,
    r#"begin { printf("%s\n", str($1 + 1)) }"#,
    "begin { print(($1, $2)); }",
    "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
    "t:syscalls:sys_enter_read { @reads = count(); }",
    "k:vfs_read { @[comm] = count(); }",
    "kr:vfs_read { @[comm] = sum(retval); }",
    "u:/bin/bash:readline { @[pid] = count(); }",
    r#"ur:/bin/bash:readline { printf("%s\n", str(retval)); }"#,
    r#"uretprobe:/bin/bash:readline { printf("read a line\n"); }"#,
    r#"uprobe:"/usr/lib/my lib.so":f { @ = count(); }"#,
    "rawtracepoint:sched_switch { @ = count(); }",
    "rawtracepoint:vmlinux:kfree_skb { @[arg0] = count(); }",
    "rt:sys_enter { @[args.id] = count(); }",
    "interval:ms:100 { @ticks = count(); }",
    "i:s:1 { print(@x); clear(@x); }",
    "interval:1s { exit(); }",
    "p:hz:49 { @[ustack] = count(); }",
    "profile:ms:10 { @[cpu] = count(); }",
    "software:cpu-clock:1000 { @[comm] = count(); }",
    "s:faults:100 { @[comm] = count(); }",
    "software:page-faults { @[comm] = count(); }",
    "END { clear(@m); }",
    "end { print(@m, 10); }",
    "kprobe:tcp_reset,kprobe:tcp_v4_rcv { printf(\"Entered: %s\\n\", probe); }",
    "kprobe:tcp_reset,\nkprobe:*socket* { @[func] = count(); }",
    "tracepoint:syscalls:sys_enter_open,\ntracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
    "kprobe:vfs_read /arg2 < 16/ { printf(\"small read: %d byte buffer\\n\", arg2); }",
    "kprobe:vfs_read /comm == \"bash\"/ { printf(\"read by %s\\n\", comm); }",
    "begin { $x = 1<<16; printf(\"%d %d\\n\", (uint16)$x, $x); }",
    "begin { $a = 1; $a = (uint64)2; }",
    "begin { $a = 10; $b = $a > 0 ? $a : -1; print($b); }",
    "begin { $a = 1; $a == 1 ? print(\"true\") : print(\"false\"); }",
    "begin { if (pid > 10) { print(1); } else if (pid > 5) { print(2); } else { print(3); } }",
    "begin { if pid > 10 { print(1) } }",
    "interval:s:1 { unroll(3) { print(\"Unrolled\") } }",
    "begin { @map[10] = 20; for ($kv : @map) { print($kv.0); print($kv.1); } }",
    "begin { @map[10,11] = 20; for ($kv : @map) { print($kv.0.0); print($kv.0.1); print($kv.1); } }",
    "begin { for ($cpu : 0..ncpus) { print($cpu); } }",
    "begin { $a = 10; for ($i : 0..$a) { print($i); $a--; } }",
    "begin { $i = 0; while ($i < 10) { $i++; if ($i == 5) { break; } continue; } }",
    "begin { $x = 10; $y = $x--; $a = 10; $b = --$a; }",
    "begin { @x = 1; @x += 5; @x -= 1; @x *= 2; @x /= 2; @x %= 7; @x &= 3; @x |= 8; @x ^= 1; @x <<= 2; @x >>= 1; }",
    "begin { @c++; @c--; ++@c; --@c; }",
    "kprobe:f { $s = (struct task_struct *)curtask; print($s->pid); print($s.comm); }",
    "kprobe:f { print(((struct task_struct *)curtask)->real_parent->pid); }",
    "begin { print((uint8)-1); print((int32)0xffffffff); print((uint64)1_000_000); }",
    "begin { print(0x10 + 0X1F + 0123 + 2e3 + 1_000 + 10UL + 5LL + 7u); }",
    "begin { print(1m); print(1s + 10ms + 5us + 3ns); print(1h); print(2d); }",
    r#"begin { printf("\t\"quoted\"\\ \x41\101\n"); }"#,
    "begin { print(!1); print(~1); print(-1); print(- -1); }",
    "begin { print(1 + 2 * 3 - 4 / 2 % 3); print((1 + 2) * 3); print(1 << 2 >> 1); }",
    "begin { print(1 < 2 && 3 >= 2 || !(4 != 4)); print(1 | 2 ^ 3 & 4); print(1 == 1); }",
    "kprobe:f { $p = (uint64 *)arg0; print(*$p); print(&$p); print($p[1]); }",
    "begin { $t = (1, \"two\", 3); print($t.0); print($t.1); }",
    "begin { @[1, \"a\"] = count(); @m[(1, 2)] = 3; }",
    "kprobe:f { @ = stats(arg0); @a = avg(arg0); @mn = min(arg0); @mx = max(arg0); @s = sum(arg0); }",
    "kprobe:f { @h = hist(arg0); @l = lhist(arg0, 0, 100, 10); }",
    "begin { @x[1] = 1; print(has_key(@x, 1)); print(len(@x)); zero(@x); clear(@x); }",
    "kprobe:f { printf(\"%s %s\\n\", ksym(arg0), usym(arg1)); }",
    "begin { time(\"%H:%M:%S\\n\"); exit(); }",
    "begin { exit(1); }",
    "begin { print(strncmp(comm, \"bash\", 4)); print(strlen(comm)); print(strcontains(comm, \"sh\")); }",
    "kprobe:f { join(arg1); join(arg1, \",\"); }",
    "begin { print(rand); print(cgroup); print(elapsed); print(ncpus); print(cpid); print(uid); print(gid); }",
    "kprobe:f { return; }",
    "kprobe:f { if (pid == 1) { return; } @x = 1; }",
    "config = { max_map_keys = 2; stack_mode = perf } begin { exit(); }",
    "config = {\n  max_strlen = 64\n}\nbegin { }",
    "// comment\nbegin { /* inline */ print(1); // trailing\n}",
    "#!/usr/bin/env bpftrace\nbegin { print(1); }",
    "begin { print(1) }",
    "begin { print(1); ; ; }",
    "begin { }",
    "tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @[comm] = sum(args.ret); }",
    "tracepoint:syscalls:sys_enter_execve { join(args.argv); }",
    "kprobe:f /pid == 1 && tid != 2/ { @[pid, tid] = count(); }",
    "kprobe:f /(pid / 2) == 1/ { @ = count(); }",
    "kprobe:f { @k[kstack(perf)] = count(); @u[ustack(5)] = count(); @r[kstack(raw, 3)] = count(); }",
    "kprobe:f { let $x = 1; let $y; $y = $x; }",
    "kprobe:f { signal(\"KILL\"); system(\"ls\"); }",
    "uprobe:/bin/bash:readline /pid == $1/ { @ = count(); }",
    "tracepoint:a:b { print(args.x.y->z[0].w); }",
];

#[test]
fn at_least_sixty_one_liners() {
    assert!(ONE_LINERS.len() >= 60, "{}", ONE_LINERS.len());
}

#[test]
fn every_one_liner_parses() {
    let mut failed = Vec::new();
    for src in ONE_LINERS {
        if let Err(d) = parser::parse(src) {
            let file = kscope_lang::SourceFile::new("-e", *src);
            failed.push(d.render(&file));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn printer_round_trip() {
    for src in ONE_LINERS {
        let first = parser::parse(src).unwrap();
        let printed = first.to_string();
        let written = printer::to_source(&first);
        let second = parser::parse(&written)
            .unwrap_or_else(|d| panic!("{src}\nwrote:\n{written}\n{d:?}"));
        assert_eq!(printed, second.to_string(), "source: {src}\nwritten:\n{written}");
        // Writing the re-parsed tree again gives the same text.
        assert_eq!(written, printer::to_source(&second));
    }
}

/// One-liners that read a map no probe assigns: they parse, but the checker rejects them.
const READ_ONLY_MAPS: &[&str] = &[
    "i:s:1 { print(@x); clear(@x); }",
    "END { clear(@m); }",
    "end { print(@m, 10); }",
];

#[test]
fn every_one_liner_type_checks() {
    let opts = kscope_lang::sema::Options {
        allow_unsafe: true,
        params: vec!["1".into(), "hello".into()],
    };
    let mut failed = Vec::new();
    for src in ONE_LINERS {
        let file = kscope_lang::SourceFile::new("-e", *src);
        let r = kscope_lang::compile(&file, &opts, &kscope_lang::sema::NoKernelTypes);
        match (r, READ_ONLY_MAPS.contains(src)) {
            (Ok(_), false) => {}
            (Err(e), true) if e.rendered.contains("undefined map") => {}
            (Ok(_), true) => failed.push(format!("{src}: compiled, expected undefined map")),
            (Err(e), _) => failed.push(e.rendered),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
