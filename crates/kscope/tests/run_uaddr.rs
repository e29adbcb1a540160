//! `kscope run` with `uaddr()` against the real kernel: the globals of a C workload
//! (tests/run_uaddr.c) read through their symbols' addresses in a uprobe, a uretprobe and
//! a usdt probe, in a position-dependent executable and in a PIE (where the load bias is
//! added when the probe runs), typed by the symbols' sizes as upstream types them; the
//! position-dependent build against bpftrace 0.17.

mod runkit;

use std::path::{Path, PathBuf};

use kscope_testkit::{Feature, require_all};
use runkit::{bpftrace, kernel_at_least, kscope, text};

/// The workload, as a position-dependent executable (`pie` false) or a PIE.
fn workload(pie: bool) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_uaddr.c");
    let flags: &[&str] = if pie {
        &["-O1", "-fPIE", "-pie"]
    } else {
        &["-O1", "-fno-PIE", "-no-pie"]
    };
    kscope_testkit::cprogram::build_once(&src, flags)
}

/// Every global read at each of 3 calls, before the call changes `global_a` (uprobe)
/// and after (uretprobe), then once more at the usdt site: the values the program holds.
#[test]
fn uaddr_reads_the_globals_of_pie_and_fixed_executables() {
    let Some(_kernel) = require_all(&[Feature::BpfKprobe, Feature::Uprobes]) else {
        return;
    };
    for pie in [false, true] {
        let bin = workload(pie).display().to_string();
        let uretprobe = !pie || kernel_at_least(6, 6);
        let mut script = format!(
            "uprobe:{bin}:bump {{ printf(\"in %x %x %x %lx %s\\n\", *uaddr(\"global_a\"), \
             *uaddr(\"global_s\"), *uaddr(\"global_c\"), *uaddr(\"global_l\"), \
             str(uaddr(\"global_str\"))); }} \
             usdt:{bin}:kscope:done {{ printf(\"done %x\\n\", *uaddr(\"global_a\")); }}"
        );
        if uretprobe {
            script += &format!(
                " uretprobe:{bin}:bump {{ printf(\"out %x\\n\", *uaddr(\"global_a\")); }}"
            );
        }
        let out = kscope(&["-c", &format!("{bin} 3"), "-e", &script]);
        assert!(out.status.success(), "pie {pie}: {}", text(&out.stderr));
        let mut expected = String::new();
        for i in 0..3 {
            expected += &format!("in {:x} 1234 33 1122334455667788 hello\n", 0x55555555 + i);
            if uretprobe {
                expected += &format!("out {:x}\n", 0x55555556 + i);
            }
        }
        expected += "done 55555558\n\n\n";
        assert_eq!(text(&out.stdout), expected, "pie {pie}");
        // bpftrace 0.17 adds no load bias (a PIE's globals read 0 there), so only the
        // position-dependent build is compared.
        if !pie && let Some(peer) = bpftrace(&script, Some(&format!("{bin} 3"))) {
            assert_eq!(peer, expected, "bpftrace 0.17");
        }
    }
}

/// The pointer's type follows the symbol's size (1, 2, 4, 8 bytes; else `uint64 *`).
#[test]
fn uaddr_is_typed_by_the_symbol_size() {
    let bin = workload(true).display().to_string();
    let out = kscope(&[
        "--dry-run",
        "-e",
        &format!(
            "uprobe:{bin}:bump {{ $c = uaddr(\"global_c\"); $s = uaddr(\"global_s\"); \
             $a = uaddr(\"global_a\"); $l = uaddr(\"global_l\"); $t = uaddr(\"global_str\"); }}"
        ),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ast = text(&out.stdout);
    for (name, ty) in [
        ("global_c", "uint8 *"),
        ("global_s", "uint16 *"),
        ("global_a", "uint32 *"),
        ("global_l", "uint64 *"),
        ("global_str", "uint64 *"),
    ] {
        assert!(
            ast.contains(&format!(
                "call: uaddr :: {ty}\n          string: \"{name}\""
            )),
            "{name}: {ast}"
        );
    }
}

/// A symbol the binary lacks, and `uaddr()` outside user probes, are errors at the call.
#[test]
fn uaddr_of_a_missing_symbol_or_outside_user_probes_is_an_error() {
    let bin = workload(false).display().to_string();
    let out = kscope(&[
        "--dry-run",
        "-e",
        &format!("uprobe:{bin}:bump {{ $x = uaddr(\"no_such_global\"); }}"),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("error: `{bin}` has no symbol `no_such_global`")),
        "{err}"
    );
    let out = kscope(&[
        "--dry-run",
        "-e",
        "tracepoint:syscalls:sys_enter_read { $x = uaddr(\"global_a\"); }",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("error: `uaddr()` is not available in tracepoint probes"),
        "{err}"
    );
}
