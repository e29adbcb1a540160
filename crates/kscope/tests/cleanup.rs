//! The session guard: what a kscope process creates in the kernel is gone after SIGINT,
//! SIGTERM and panic, and `kscope reset` removes what a SIGKILL left — and nothing else.
//!
//! Each test re-runs this test binary as a child in "holder" mode (the ignored test
//! `holder`), which creates a kscope instance and a uprobe event through a session, prints
//! their names, and then waits for its fate.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

use kscope_ftrace::Tracefs;
use kscope_ftrace::dynevent::ProbeKind;
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require_all};

const MODE_VAR: &str = "KSCOPE_TEST_HOLDER_MODE";

#[inline(never)]
fn probed_function(x: u64) -> u64 {
    std::hint::black_box(x + 1)
}

/// The child side. Modes: `wait` (sleep until killed) or `panic`.
#[test]
#[ignore = "run as a child process by the other tests of this file"]
fn holder() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let session = kscope_session::Session::new();
    let instance = session.create_instance(&tracefs, "holdtest").unwrap();
    std::hint::black_box(probed_function(1));
    let (path, offset) =
        kscope_sys::process::code_location(probed_function as *const () as u64).unwrap();
    let event = session
        .add_dynamic_event(
            &tracefs,
            ProbeKind::Uprobe,
            'p',
            "hold",
            &format!("{}:0x{offset:x}", path.display()),
        )
        .unwrap();
    // Enabling the event in the instance makes removal order matter (an enabled event
    // cannot be deleted before its instance is gone).
    instance
        .set_event_enabled(event.group(), event.name(), true)
        .unwrap();
    println!(
        "READY {} {}/{}",
        instance.name(),
        event.group(),
        event.name()
    );
    if mode == "panic" {
        panic!("deliberate panic in holder");
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

struct Held {
    child: Child,
    instance: String,
    event: String,
}

fn spawn_holder(mode: &str) -> Held {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "holder",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE_VAR, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the holder child");
    // The harness prints "test holder ... " before the test's own output, on the same line.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.find("READY ").map(|at| l[at..].to_string()));
        let _ = tx.send(ready);
    });
    let ready = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Some(line)) => line,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the holder child never became ready ({other:?})");
        }
    };
    let mut parts = ready.split_whitespace().skip(1);
    let instance = parts.next().unwrap().to_string();
    let event = parts.next().unwrap().to_string();
    assert_eq!(instance, format!("kscope-{}-holdtest", child.id()));
    assert_eq!(event, format!("kscope/pid{}_hold", child.id()));
    Held {
        child,
        instance,
        event,
    }
}

fn events_of(state: &KernelState) -> Vec<String> {
    state
        .dynamic_events
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|h| h.split_once(':').map(|(_, n)| n.to_string()))
        .collect()
}

fn signal_leaves_nothing_behind(signal: i32) {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Uprobes]) else {
        return;
    };
    let before = KernelState::capture();
    let mut held = spawn_holder("wait");
    let during = KernelState::capture();
    assert!(during.instances.contains(&held.instance));
    assert!(events_of(&during).contains(&held.event));
    kscope_sys::process::send_signal(held.child.id(), signal).unwrap();
    let status = held.child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(signal),
        "the child should die of the signal"
    );
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn sigint_leaves_nothing_behind() {
    signal_leaves_nothing_behind(libc::SIGINT);
}

#[test]
fn sigterm_leaves_nothing_behind() {
    signal_leaves_nothing_behind(libc::SIGTERM);
}

#[test]
fn sighup_leaves_nothing_behind() {
    signal_leaves_nothing_behind(libc::SIGHUP);
}

#[test]
fn panic_leaves_nothing_behind() {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Uprobes]) else {
        return;
    };
    let before = KernelState::capture();
    let mut held = spawn_holder("panic");
    let status = held.child.wait().unwrap();
    assert!(!status.success(), "the holder should fail by panicking");
    assert_eq!(KernelState::capture(), before);
}

#[test]
fn reset_removes_exactly_what_a_sigkilled_kscope_left() {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Uprobes]) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    // Another tool's instance, which reset must not touch.
    let other = format!("othertool-{}", std::process::id());
    tracefs.create_instance(&other).unwrap();

    let mut held = spawn_holder("wait");
    let pid = held.child.id();
    held.child.kill().unwrap(); // SIGKILL: no chance to clean up
    held.child.wait().unwrap();
    let left = KernelState::capture();
    assert!(
        left.instances.contains(&held.instance),
        "SIGKILL cannot clean up"
    );
    assert!(events_of(&left).contains(&held.event));

    let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("reset")
        .output()
        .unwrap();
    let removal_result = tracefs.remove_instance(&other);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = printed.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!(
                "removed tracefs instance {} (owner pid {pid}, gone)",
                held.instance
            ),
            format!(
                "removed uprobe event {} (owner pid {pid}, gone)",
                held.event
            ),
        ]
    );
    removal_result.expect("the other tool's instance survived reset");
    assert_eq!(KernelState::capture(), before);

    // A second reset finds nothing.
    let again = Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("reset")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), "nothing to reset\n");
}

#[test]
fn reset_all_also_removes_ownerless_kscope_probes_and_plain_reset_does_not() {
    let Some(_kernel) = require_all(&[Feature::Tracefs, Feature::Uprobes]) else {
        return;
    };
    let tracefs = Tracefs::require().unwrap();
    let before = KernelState::capture();
    // What `kscope probe add` will make: a kscope-group probe with no owner pid.
    std::hint::black_box(probed_function(2));
    let (path, offset) =
        kscope_sys::process::code_location(probed_function as *const () as u64).unwrap();
    let definition = format!("p:kscope/persistent_test {}:0x{offset:x}", path.display());
    kscope_ftrace::dynevent::add(&tracefs, ProbeKind::Uprobe, &definition).unwrap();
    // And a probe of another tool, in another group.
    let foreign = format!(
        "p:othertool/probe_{} {}:0x{offset:x}",
        std::process::id(),
        path.display()
    );
    kscope_ftrace::dynevent::add(&tracefs, ProbeKind::Uprobe, &foreign).unwrap();

    let kscope = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kscope"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(kscope(&["reset"]), "nothing to reset\n");
    assert_eq!(
        kscope(&["reset", "--all", "--dry-run"]),
        "would remove uprobe event kscope/persistent_test (no owner)\n"
    );
    assert_eq!(
        kscope(&["reset", "--all"]),
        "removed uprobe event kscope/persistent_test (no owner)\n"
    );
    let after = KernelState::capture();
    let foreign_left =
        events_of(&after).contains(&format!("othertool/probe_{}", std::process::id()));
    kscope_ftrace::dynevent::remove(
        &tracefs,
        ProbeKind::Uprobe,
        "othertool",
        &format!("probe_{}", std::process::id()),
    )
    .unwrap();
    assert!(foreign_left, "reset --all removed another tool's probe");
    assert_eq!(KernelState::capture(), before);
}
