//! `kscope report` == `trace-cmd report` (3.1.6) line for line on a real recording of
//! futex calls with kernel stack traces (`kscope record -T`): trace-cmd's futex plugin
//! text (`op=FUTEX_WAKE|FUTEX_PRIVATE_FLAG uaddr=0x… val=1`) and its `kernel_stack` form
//! (`<stack trace >` then `=> symbol (addr)` lines from the file's kallsyms).

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU32;

use kscope_sys::futex;

use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require};

const WORKLOAD_VAR: &str = "KSCOPE_TEST_WORKLOAD_FUTEX";
const WAKES: usize = 500;
const WAITS: usize = 300;

/// The workload, run as the command of `kscope record`: WAKES futex wakes and WAITS
/// futex waits that return at once (the value differs), on one address, which it writes
/// to the file named by the variable.
#[test]
#[ignore = "run by the other test of this file as the traced command"]
fn workload() {
    let Ok(path) = std::env::var(WORKLOAD_VAR) else {
        return;
    };
    let word = Box::new(AtomicU32::new(0));
    std::fs::write(&path, format!("{:x}", word.as_ptr() as usize)).unwrap();
    for _ in 0..WAKES {
        assert_eq!(futex::wake(&word, 1).unwrap(), 0);
    }
    for _ in 0..WAITS {
        let e = futex::wait(&word, 42).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    drop(word);
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kscope-{}-{name}", std::process::id()))
}

#[test]
fn futex_and_kernel_stack_lines_equal_trace_cmd() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    let file = temp("futex-stacks.dat");
    let addr_file = temp("futex-addr");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(["record", "-T", "-e", "syscalls:sys_enter_futex", "-o"])
        .arg(&file)
        .arg("--")
        .arg(&exe)
        .args(["workload", "--exact", "--ignored", "--quiet"])
        .env(WORKLOAD_VAR, &addr_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    std::fs::remove_file(&addr_file).unwrap();

    let ours = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("report")
        .arg(&file)
        .output()
        .unwrap();
    assert!(ours.status.success());
    let ours = String::from_utf8(ours.stdout).unwrap();
    let wake = format!(
        " sys_enter_futex:      op=FUTEX_WAKE|FUTEX_PRIVATE_FLAG uaddr=0x{addr:0>8} val=1\n"
    );
    let wait = format!(
        " sys_enter_futex:      op=FUTEX_WAIT|FUTEX_PRIVATE_FLAG uaddr=0x{addr:0>8} \
         val=0x0000002a utime=0x00000000\n"
    );
    assert_eq!(ours.matches(&wake).count(), WAKES, "{wake:?}");
    assert_eq!(ours.matches(&wait).count(), WAITS, "{wait:?}");
    // Every event is followed by its stack, symbolised from the file's kallsyms.
    let events = ours.matches(" sys_enter_futex: ").count();
    assert_eq!(
        ours.matches(" kernel_stack:         <stack trace >\n")
            .count(),
        events
    );
    assert!(ours.contains("\n=> do_syscall_64 (ffffffff"), "{ours}");

    match Command::new("trace-cmd").arg("report").arg(&file).output() {
        Ok(theirs) => {
            assert!(theirs.status.success());
            let theirs = String::from_utf8(theirs.stdout).unwrap();
            let a: Vec<&str> = ours.lines().collect();
            let b: Vec<&str> = theirs.lines().collect();
            for i in 0..a.len().max(b.len()) {
                assert_eq!(a.get(i), b.get(i), "line {} differs", i + 1);
            }
        }
        Err(e) => {
            assert!(!kscope_testkit::kernel_required(), "trace-cmd: {e}");
            eprintln!("skipped the trace-cmd comparison: {e}");
        }
    }
    std::fs::remove_file(&file).unwrap();
    assert_eq!(KernelState::capture(), before);
}
