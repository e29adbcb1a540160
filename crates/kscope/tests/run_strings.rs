//! `kscope run` byte and string functions against the real kernel: `memcmp()`,
//! `str_concat()`, `pton()` and `strcap()`, and integer arrays as values (printed,
//! compared, cast, map keys). Exact outcomes from literals and deterministic workloads;
//! the same output as bpftrace 0.17 where 0.17 has the feature (`pton()`, printing an
//! array; 0.17 types `pton()` as `int8[N]`, upstream and kscope as `uint8[N]`, so the
//! shared cases keep every byte below 128).

mod runkit;

use kscope_testkit::{Feature, require};
use runkit::{bpftrace, child, kscope, lines, run, text, workload};

/// stderr of a `kscope run -e SCRIPT` that must fail to compile.
fn compile_error(script: &str) -> String {
    let out = kscope(&["-e", script]);
    assert!(!out.status.success(), "kscope run accepted: {script}");
    text(&out.stderr)
}

/// The workload's `comm`: its file name cut to 15 bytes.
fn workload_comm() -> String {
    let name = workload()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    name.chars().take(15).collect()
}

#[test]
fn memcmp_orders_by_the_first_differing_byte() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "begin { printf(\"%d %d\\n\", memcmp(\"abc\", \"abd\", 3) < 0, memcmp(\"abc\", \"abc\", 3)); \
         printf(\"%d %d %d %d\\n\", memcmp(\"abd\", \"abc\", 3), memcmp(\"abc\", \"abd\", 2), \
         memcmp(\"ab\", \"abc\", 3), memcmp(\"x\", \"y\", 0)); \
         printf(\"%d %d %d\\n\", memcmp((uint32)0x01020304, (uint32)0x01020305, 4), \
         memcmp(1, 1, 8), memcmp(\"\\x80\", \"\\x01\", 1)); \
         $a = \"hello\"; $b = str_concat(\"hel\", \"lo\"); \
         printf(\"%d %d\\n\", memcmp($a, $b, 64), memcmp($a, comm, 1) != 0); exit(); }",
        None,
    );
    // Bytes compare as `char` (signed), as upstream's __memcmp: 0x80 - 0x01 is -129.
    assert_eq!(got, "1 0\n1 0 -99 0\n-1 0 -129\n0 1\n\n\n");
}

#[test]
fn str_concat_joins_literals_variables_and_comm() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    // upstream's tests/self/strings.bt.
    let got = run(
        "begin { $log = \"log\"; $filename = \"system.journal\"; \
         $path = str_concat(\"var\", \"/\"); $path = str_concat(\"/\", $path); \
         $path = str_concat($path, \"log/\"); $path = str_concat($path, $filename); \
         printf(\"%s %d\\n\", $path, $path == \"/var/log/system.journal\"); \
         print(str_concat(\"\", \"\")); print(str_concat(str_concat(\"a\", \"\"), \"b\")); \
         $long = str_concat(\"0123456789012345678901234567890123456789\", \
         \"abcdefghijklmnopqrstuvwxyz\"); \
         printf(\"%s %d\\n\", $long, strlen($long)); exit(); }",
        None,
    );
    // A kscope string holds 63 characters and its NUL: the second part is cut.
    assert_eq!(
        got,
        "/var/log/system.journal 1\n\nab\n\
         0123456789012345678901234567890123456789abcdefghijklmnopqrstuvw 63\n\n\n"
    );
    let comm = workload_comm();
    let cmd = child("getppid 3");
    let got = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
         @k[str_concat(\"ab\", comm)] = count(); @v = str_concat(comm, \"!\"); \
         if (str_concat(comm, \"\") == comm) { @same = count(); } }",
        Some(&cmd),
    );
    assert_eq!(
        lines(&got),
        [
            format!("@k[ab{comm}]: 3"),
            "@same: 3".to_string(),
            format!("@v: {comm}!"),
        ]
    );
    // A pointer to characters reads as the string there (the openat path, user memory).
    let cmd = child("open 1");
    let got = run(
        "tracepoint:syscalls:sys_enter_openat /pid == cpid && strcontains(str(args.filename), \"kscope-\")/ { \
         @[str_concat(args.filename, \"?\"), strcap(args.filename)] = count(); }",
        Some(&cmd),
    );
    assert_eq!(lines(&got), ["@[/nonexistent/kscope-0?, 21]: 1"]);
}

#[test]
fn pton_is_a_byte_array_in_network_order() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "begin { printf(\"%x\\n\", (uint32)pton(\"127.0.0.1\")); print(pton(\"1.2.3.4\")); \
         print(pton(\"fe80::1\")); $a = pton(\"10.0.0.1\"); \
         printf(\"%d %d %d\\n\", $a == pton(\"10.0.0.1\"), $a != pton(\"10.0.0.1\"), \
         $a == pton(\"10.0.0.2\")); \
         printf(\"%d %d\\n\", memcmp($a, pton(\"10.0.0.2\"), 4), memcmp($a, pton(\"10.0.0.2\"), 3)); \
         printf(\"%s %s\\n\", ntop(pton(\"192.168.1.9\")), ntop(pton(\"2001:db8::ff\"))); \
         @m[pton(\"1.2.3.4\")] = 7; exit(); }",
        None,
    );
    assert_eq!(
        got,
        "100007f\n[1,2,3,4]\n[254,128,0,0,0,0,0,0,0,0,0,0,0,0,0,1]\n\
         1 0 0\n-1 0\n192.168.1.9 2001:db8::ff\n\n\n@m[[1,2,3,4]]: 7\n"
    );
    // upstream's runtime tests (call: pton ipv4/ipv6) and what 0.17 prints.
    let script = "BEGIN { printf(\"IP: %s %s\\n\", ntop(2, pton(\"127.0.0.1\")), ntop(10, pton(\"::1\"))); \
                  print(pton(\"::1\")); @a[pton(\"10.1.2.3\")] = 1; exit(); }";
    let got = run(script, None);
    assert_eq!(
        got,
        "IP: 127.0.0.1 ::1\n[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]\n\n\n@a[[10,1,2,3]]: 1\n"
    );
    if let Some(want) = bpftrace(script, None) {
        assert_eq!(got, want);
    }
    let err = compile_error("begin { print(pton(\"1.2.3.999\")); }");
    assert!(
        err.contains("error: `pton()`: \"1.2.3.999\" is not an IPv4 address\n --> -e:1:20\n"),
        "{err}"
    );
}

/// `memcmp()`, `==` and casts of the `__u8[4]`/`__u8[16]` address arrays of
/// `sock:inet_sock_set_state` (a tracepoint record) and of the same addresses read
/// through BTF from the `struct sock` (kernel memory), against `pton()` constants.
#[test]
fn pton_and_memcmp_against_kernel_address_bytes() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let cmd = child("tcp 2 47121");
    let got = run(
        "tracepoint:sock:inet_sock_set_state \
         /args.oldstate == 2 && args.newstate == 1 && args.dport == 47121/ { \
         $sk = (struct sock *)args.skaddr; \
         if (args.family == 2) { \
         @v4[args.daddr == pton(\"127.0.0.77\"), memcmp(args.daddr, pton(\"127.0.0.77\"), 4), \
         memcmp(pton(\"127.0.0.1\"), args.daddr, 4), (uint32)args.daddr] = count(); \
         @a4[args.daddr] = count(); \
         } else { \
         @v6[memcmp(args.daddr_v6, pton(\"::1\"), 16), args.saddr_v6 == args.daddr_v6, \
         memcmp($sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, pton(\"::1\"), 16), \
         $sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8 == pton(\"::2\")] = count(); \
         @a6[$sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32] = count(); } }",
        Some(&cmd),
    );
    // 127.0.0.77 is 0x4d00007f read little-endian (1291845759); 1 - 77 = -76.
    assert_eq!(
        lines(&got),
        [
            "@a4[[127,0,0,77]]: 2",
            "@a6[[0,0,0,16777216]]: 2",
            "@v4[true, 0, -76, 1291845759]: 2",
            "@v6[0, true, 0, false]: 2",
        ]
    );
}

#[test]
fn strcap_is_the_capacity_when_compiling() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let got = run(
        "begin { printf(\"%d %d %d\\n\", strcap(\"abc\"), strcap(comm), strcap(str_concat(\"a\", \"b\"))); \
         static_assert(strcap(\"\") == 64, \"strings hold 64 bytes\"); exit(); }",
        None,
    );
    assert_eq!(got, "64 64 64\n\n\n");
}
