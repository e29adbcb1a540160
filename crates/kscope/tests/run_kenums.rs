//! The kernel's enums (BTF) in `kscope run`, as upstream bpftrace has them: enumerators
//! used by name, tracepoint fields declared `enum NAME`, raw tracepoint args and BTF
//! struct members of an enum type are values of that enum, so `printf("%s")`, `print`
//! and map keys and values show the enumerator's name (the number when no enumerator has
//! the value, and in JSON `print`), and arithmetic gives a plain integer. Exact outcomes
//! from the workloads of tests/run_kenums.c.

mod runkit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kscope_testkit::{Feature, require, require_all};
use runkit::{kernel_at_least, kscope, run, run_with, text};

/// The workload binary of tests/run_kenums.c (no debug info: casts use the kernel's BTF).
fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_kenums.c");
        kscope_testkit::cprogram::build_once(&src, &["-O1", "-g0"])
    })
}

fn child(args: &str) -> String {
    format!("{} {args}", workload().display())
}

/// The value of the kernel enumerator `name` in this kernel's BTF (the drop reasons are
/// renumbered between kernel versions).
fn btf_value(name: &str) -> i128 {
    let btf = kscope_btf::Btf::open_sys_vmlinux().expect("vmlinux BTF");
    btf.enum_value(name)
        .unwrap_or_else(|| panic!("{name} in BTF"))
        .1
}

/// A UDP port on 127.0.0.1 that nothing listens on (bound once, then released).
fn closed_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// upstream's runtime tests call printf_enum_symbolize*, other "symbolize enum in map
/// key/value/tuple", "no symbolize enum after arithmetic", btf enum_value_reference and
/// json-output enum_not_symbolized / enum_symbolized_printf, with the kernel's enums:
/// `BTF_VAR_*` (an anonymous enum of the UAPI btf.h) and `enum bpf_core_relo_kind`
/// (UAPI bpf.h, BPF_CORE_TYPE_ID_LOCAL = 6).
#[test]
fn kernel_enumerators_print_their_names_as_upstream() {
    let Some(_kernel) = require_all(&[Feature::BpfRawTracepoint, Feature::Btf]) else {
        return;
    };
    let cases: &[(&str, &str)] = &[
        (
            "BEGIN { printf(\"[%d] [%s] %d %s\\n\", BTF_VAR_STATIC, BTF_VAR_STATIC, \
             BTF_VAR_GLOBAL_EXTERN, BTF_VAR_GLOBAL_EXTERN); \
             printf(\"%d\\n\", sizeof(BTF_VAR_STATIC)); \
             $v = BTF_VAR_GLOBAL_EXTERN; print($v); printf(\"%-16s|%5s|\\n\", BTF_VAR_STATIC, $v); \
             exit() }",
            "[0] [BTF_VAR_STATIC] 2 BTF_VAR_GLOBAL_EXTERN\n8\nBTF_VAR_GLOBAL_EXTERN\n\
             BTF_VAR_STATIC  |BTF_VAR_GLOBAL_EXTERN|\n\n\n",
        ),
        (
            "BEGIN { @[BTF_VAR_STATIC] = 11; @[BTF_VAR_GLOBAL_EXTERN] = 22; \
             @m[BTF_VAR_STATIC, BTF_VAR_GLOBAL_EXTERN] = -1; @v = BTF_VAR_GLOBAL_EXTERN; \
             @t = (BTF_VAR_STATIC, BTF_VAR_GLOBAL_EXTERN); \
             @n[BTF_VAR_STATIC + 1] = BTF_VAR_GLOBAL_EXTERN - 1; exit() }",
            "\n\n@[BTF_VAR_STATIC]: 11\n@[BTF_VAR_GLOBAL_EXTERN]: 22\n\
             @m[BTF_VAR_STATIC, BTF_VAR_GLOBAL_EXTERN]: -1\n@n[1]: 1\n\
             @t: (BTF_VAR_STATIC, BTF_VAR_GLOBAL_EXTERN)\n@v: BTF_VAR_GLOBAL_EXTERN\n",
        ),
        // A cast names the enumerator; a value that has none prints as its number
        // (printf_enum_symbolize_cast, printf_invalid_enum_symbolize_cast).
        (
            "BEGIN { printf(\"%d %s\\n\", BPF_CORE_TYPE_ID_LOCAL, \
             (enum bpf_core_relo_kind)6); $x = 100; \
             printf(\"%d %s\\n\", BPF_CORE_TYPE_ID_LOCAL, (enum bpf_core_relo_kind)$x); \
             print((enum bpf_core_relo_kind)6); exit() }",
            "6 BPF_CORE_TYPE_ID_LOCAL\n6 100\nBPF_CORE_TYPE_ID_LOCAL\n\n\n",
        ),
    ];
    for (script, want) in cases {
        assert_eq!(run(script, None), *want, "{script}");
    }
    let out = run_with(
        &["-q", "-f", "json"],
        "BEGIN { $f = BTF_VAR_GLOBAL_EXTERN; print($f); \
         printf(\"%d %s\\n\", BTF_VAR_GLOBAL_EXTERN, BTF_VAR_GLOBAL_EXTERN); exit() }",
    );
    assert_eq!(
        out,
        "{\"type\": \"value\", \"data\": 2}\n\
         {\"type\": \"printf\", \"data\": \"2 BTF_VAR_GLOBAL_EXTERN\\n\"}\n"
    );
    // A literal with no enumerator is refused, as upstream refuses it.
    let out = kscope(&["-e", "BEGIN { print((enum bpf_core_relo_kind)99); }"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("error: `enum bpf_core_relo_kind` has no enumerator of value 99"),
        "{}",
        text(&out.stderr)
    );
}

/// upstream's printf_enum_symbolize_tracepoint: skb:kfree_skb's `reason` is declared
/// `enum skb_drop_reason` in its format file. A datagram to a closed UDP port on
/// loopback is freed with SKB_DROP_REASON_NO_SOCKET in the sender's context (the
/// workload names itself "kenums-udp"); the first one the probe sees ends the run.
#[test]
fn tracepoint_enum_field_prints_its_enumerator() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let n = btf_value("SKB_DROP_REASON_NO_SOCKET");
    let workload = child(&format!("udp {} 50", closed_udp_port()));
    let out = run(
        "tracepoint:skb:kfree_skb /comm == \"kenums-udp\" && @seen == 0/ { @seen = 1; \
         $r = args.reason; printf(\"%d %s %s\\n\", args.reason, $r, \
         args.reason == SKB_DROP_REASON_NO_SOCKET ? \"same\" : \"other\"); \
         @[args.reason] = count(); @v = args.reason; @plus = args.reason + 0; exit() }",
        Some(&workload),
    );
    assert_eq!(
        out,
        format!(
            "{n} SKB_DROP_REASON_NO_SOCKET same\n\n\n@[SKB_DROP_REASON_NO_SOCKET]: 1\n\
             @plus: {n}\n@seen: 1\n@v: SKB_DROP_REASON_NO_SOCKET\n"
        )
    );
    // The raw tracepoint's BTF-typed `reason`; JSON prints the number, printf the name.
    let out = run_with(
        &["-q", "-f", "json", "-c", &workload],
        "rawtracepoint:kfree_skb /comm == \"kenums-udp\" && @seen == 0/ { @seen = 1; \
         print(args.reason); printf(\"%s\\n\", args.reason); exit() }",
    );
    assert_eq!(
        out,
        format!(
            "{{\"type\": \"value\", \"data\": {n}}}\n\
             {{\"type\": \"printf\", \"data\": \"SKB_DROP_REASON_NO_SOCKET\\n\"}}\n\
             {{\"type\": \"map\", \"data\": {{\"@seen\": 1}}}}\n"
        )
    );
}

/// Listings still show the field's C declaration.
#[test]
fn tracepoint_listings_keep_the_enum_declaration() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let list = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["list", "-v", "tracepoint:skb:kfree_skb"])
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        text(&list.stdout).contains("\n    enum skb_drop_reason reason\n"),
        "{}",
        text(&list.stdout)
    );
    let out = kscope(&["-lv", "tracepoint:skb:kfree_skb"]);
    assert_eq!(text(&out.stdout), text(&list.stdout));
}

/// BTF struct members of enum types read from kernel memory: the workload's fd 100 is
/// an unconnected TCP socket (`socket_state`, a typedef'd anonymous enum:
/// SS_UNCONNECTED = 1) whose sockfs inode has no write hint (`enum rw_hint`, one byte
/// since Linux 6.9: WRITE_LIFE_NOT_SET = 0; an `unsigned short` before).
#[test]
fn btf_struct_members_of_enum_types_print_their_enumerators() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Btf]) else {
        return;
    };
    let out = run(
        "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { \
         $f = curtask->files->fdt->fd[100]; $s = (struct socket *)$f->private_data; \
         printf(\"%d %s %d %s\\n\", $s->state, $s->state, $f->f_inode->i_write_hint, \
         $f->f_inode->i_write_hint); @[$s->state, $s->type] = count(); \
         @h = $f->f_inode->i_write_hint; }",
        Some(&child("sock 3")),
    );
    // Before 6.9 `i_write_hint` is an `unsigned short` and prints as a number.
    let hint = if kernel_at_least(6, 9) {
        "WRITE_LIFE_NOT_SET"
    } else {
        "0"
    };
    assert_eq!(
        out,
        format!("1 SS_UNCONNECTED 0 {hint}\n").repeat(3)
            + &format!("\n\n@[SS_UNCONNECTED, 1]: 3\n@h: {hint}\n")
    );
}

/// A whole kernel struct with an enum member (`struct bpf_core_relo`, UAPI) read as a
/// value prints the member's enumerator as a script's struct does, in `print`, a map
/// value and a map key; JSON prints the number. The workload passes user memory laid
/// out as the struct.
#[test]
fn whole_structs_print_their_enum_members_by_name() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes, Feature::Btf]) else {
        return;
    };
    let bin = workload().display().to_string();
    // (Through `arg0` itself: a variable holding a pointer to a kernel struct would be
    // read as kernel memory.)
    let r = "((struct bpf_core_relo *)arg0)";
    let out = run(
        &format!(
            "uprobe:{bin}:kenums_relo {{ print(*{r}); \
             printf(\"%d %s\\n\", {r}->kind, {r}->kind); @[{r}->kind] = count(); @s = *{r}; }}"
        ),
        Some(&child("relo 2")),
    );
    let first = "{ .insn_off = 1, .type_id = 2, .access_str_off = 3, \
                 .kind = BPF_CORE_TYPE_ID_LOCAL }\n6 BPF_CORE_TYPE_ID_LOCAL\n";
    assert_eq!(
        out,
        format!(
            "{first}{first}{{ .insn_off = 4, .type_id = 5, .access_str_off = 6, .kind = 42 }}\n\
             42 42\n\n\n@[42]: 1\n@[BPF_CORE_TYPE_ID_LOCAL]: 2\n\
             @s: {{ .insn_off = 4, .type_id = 5, .access_str_off = 6, .kind = 42 }}\n"
        )
    );
    let out = run_with(
        &["-q", "-f", "json", "-c", &child("relo 1")],
        &format!("uprobe:{bin}:kenums_relo {{ print(*(struct bpf_core_relo *)arg0); }}"),
    );
    assert_eq!(
        out,
        "{\"type\": \"value\", \"data\": {\"insn_off\": 1, \"type_id\": 2, \
         \"access_str_off\": 3, \"kind\": 6}}\n\
         {\"type\": \"value\", \"data\": {\"insn_off\": 4, \"type_id\": 5, \
         \"access_str_off\": 6, \"kind\": 42}}\n"
    );
}

/// fentry args and fexit's retval of an enum type (this VM loads no tracing programs:
/// `--dry-run` type-checks and compiles without loading).
#[test]
fn fentry_args_and_fexit_retval_have_their_enum_types() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let out = kscope(&[
        "--dry-run",
        "-e",
        "fentry:hrtimer_start_range_ns { @[args.mode] = count(); } \
         fexit:hrtimer_wakeup { $r = retval; printf(\"%s\\n\", $r); }",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tree = text(&out.stdout);
    assert!(
        tree.contains("\n          .mode :: enum hrtimer_mode\n")
            && tree.contains("\n        builtin: retval :: enum hrtimer_restart\n")
            && tree.contains("\n        variable: $r :: enum hrtimer_restart\n"),
        "{tree}"
    );
}
