//! The probes, grouped by channel. Each pushes [`Check`]s in a fixed order.

mod bpf;
mod errno;
mod host;
mod perf;
mod tracefs;

use std::sync::{Mutex, OnceLock};

use kscope_session::Session;
use kscope_sys::lockdown::{LockdownMode, LockdownReading};

use crate::{Check, State};

/// State shared by the probes of one doctor run. The probe groups run on threads of their
/// own: most of doctor's time is the kernel waiting for RCU grace periods (removing an
/// instance, disabling an event, unregistering a uprobe), and those waits overlap.
pub(crate) struct Context {
    pub(crate) session: Session,
    pub(crate) tracefs: Option<kscope_ftrace::Tracefs>,
    pub(crate) lockdown: Option<LockdownReading>,
    pub(crate) cap_eff: Option<u64>,
    notes: Mutex<Vec<String>>,
    kallsyms: Mutex<Option<std::thread::JoinHandle<host::KallsymsScan>>>,
    kallsyms_scan: OnceLock<host::KallsymsScan>,
}

impl Context {
    pub(crate) fn new() -> Context {
        Context {
            session: Session::new(),
            tracefs: None,
            lockdown: kscope_sys::lockdown::read_mode().ok(),
            cap_eff: kscope_sys::caps::effective().ok(),
            notes: Mutex::new(Vec::new()),
            // /proc/kallsyms takes the kernel ~80 ms to format: scan it while the other
            // probes run.
            kallsyms: Mutex::new(
                std::thread::Builder::new()
                    .name("kscope-kallsyms".into())
                    .spawn(host::scan_kallsyms)
                    .ok(),
            ),
            kallsyms_scan: OnceLock::new(),
        }
    }

    /// Records something doctor did to the system.
    pub(crate) fn note(&self, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note);
    }

    /// The notes recorded so far.
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The lockdown mode, `None` when it could not be read.
    pub(crate) fn lockdown_mode(&self) -> Option<LockdownMode> {
        self.lockdown.as_ref().map(|l| l.mode)
    }

    /// Whether lockdown is active (integrity or confidentiality).
    pub(crate) fn locked_down(&self) -> bool {
        matches!(
            self.lockdown_mode(),
            Some(LockdownMode::Integrity | LockdownMode::Confidentiality)
        )
    }

    /// Whether the process has capability `cap` (assumes yes when CapEff is unreadable).
    pub(crate) fn has_cap(&self, cap: u32) -> bool {
        self.cap_eff.is_none_or(|m| kscope_sys::caps::has(m, cap))
    }

    /// The kallsyms scan, waiting for the background read if needed.
    pub(crate) fn kallsyms(&self) -> &host::KallsymsScan {
        self.kallsyms_scan.get_or_init(|| {
            let handle = self
                .kallsyms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            handle
                .and_then(|h| h.join().ok())
                .unwrap_or_else(host::scan_kallsyms)
        })
    }
}

/// Runs every probe and appends the checks in their fixed order.
pub(crate) fn run_all(ctx: &mut Context, out: &mut Vec<Check>) {
    let (tracefs_check, instance) = tracefs::mount_and_instance(ctx);
    out.push(tracefs_check);
    out.push(tracefs::debugfs(ctx));
    let ctx: &Context = ctx;
    std::thread::scope(|scope| {
        let in_instance = scope.spawn(move || tracefs::instance_checks(ctx, instance));
        let kprobes = scope.spawn(|| tracefs::kprobes(ctx));
        let uprobes = scope.spawn(|| tracefs::uprobes(ctx));
        let bpf = scope.spawn(|| bpf::run(ctx));
        let mut rest = perf::run(ctx);
        rest.extend(host::run(ctx));
        let join = |h: std::thread::ScopedJoinHandle<'_, Vec<Check>>| {
            h.join().unwrap_or_else(|_| {
                vec![Check::not(
                    "doctor",
                    State::Unknown,
                    "a probe thread panicked",
                    "report a bug",
                )]
            })
        };
        out.extend(join(in_instance));
        out.extend(join(kprobes));
        out.extend(join(uprobes));
        out.extend(join(bpf));
        out.extend(rest);
    });
}
