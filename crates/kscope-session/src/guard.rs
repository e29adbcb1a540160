//! Process-wide registry of live kernel resources, and the signal and panic hooks that
//! release them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use kscope_ftrace::Tracefs;
use kscope_ftrace::dynevent::{self, ProbeKind};

/// A persistent kernel object owned by a session.
#[derive(Debug, Clone)]
pub(crate) enum Resource {
    Instance {
        tracefs: Tracefs,
        name: String,
    },
    DynamicEvent {
        tracefs: Tracefs,
        kind: ProbeKind,
        group: String,
        name: String,
    },
}

impl Resource {
    pub(crate) fn release(&self) -> Result<(), kscope_ftrace::TracefsError> {
        let gone = |e: &kscope_ftrace::TracefsError| e.raw_os_error() == Some(libc::ENOENT);
        let result = match self {
            Resource::Instance { tracefs, name } => tracefs.remove_instance(name),
            Resource::DynamicEvent {
                tracefs,
                kind,
                group,
                name,
            } => {
                let still_there = dynevent::list(tracefs)
                    .map(|l| l.iter().any(|e| &e.group == group && &e.name == name))
                    .unwrap_or(true);
                if still_there {
                    dynevent::remove(tracefs, *kind, group, name)
                } else {
                    Ok(())
                }
            }
        };
        match result {
            Err(e) if gone(&e) => Ok(()),
            r => r,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) session: u64,
    pub(crate) resource: Resource,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

pub(crate) fn registry() -> MutexGuard<'static, Vec<Entry>> {
    // The registry's code never panics while holding the lock, but a poisoned lock must
    // still release resources.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a session reacts to SIGINT, SIGTERM and SIGHUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptMode {
    /// Release every resource and terminate with the signal (the default).
    Exit,
    /// The first signal only sets [`stop_requested`], so a long-running command (record,
    /// stream) can finish its output; a second signal releases everything and terminates.
    Graceful,
}

/// Chooses how the next SIGINT/SIGTERM/SIGHUP is handled.
pub fn set_interrupt_mode(mode: InterruptMode) {
    GRACEFUL.store(mode == InterruptMode::Graceful, Ordering::SeqCst);
}

/// True once a signal asked a graceful command to stop.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A flag SIGUSR1 sets (and that no longer terminates the process), for `self:signal`
/// probes; read it with [`Usr1::take`].
#[derive(Debug, Clone)]
pub struct Usr1(std::sync::Arc<AtomicBool>);

impl Usr1 {
    /// Starts catching SIGUSR1 for the rest of the process's life.
    pub fn watch() -> std::io::Result<Usr1> {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, flag.clone())?;
        Ok(Usr1(flag))
    }

    /// Whether SIGUSR1 arrived since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// Releases every registered resource of every session, newest first. Returns the
/// failures as text (printed by the caller that can print).
pub(crate) fn release_all() -> Vec<String> {
    let entries: Vec<Entry> = std::mem::take(&mut *registry());
    release_entries(entries)
}

pub(crate) fn release_entries(mut entries: Vec<Entry>) -> Vec<String> {
    // Newest first, and instances before dynamic events: an event enabled in an instance
    // cannot be removed until the instance is gone.
    entries.sort_by_key(|e| {
        (
            matches!(e.resource, Resource::DynamicEvent { .. }),
            std::cmp::Reverse(e.id),
        )
    });
    entries
        .iter()
        .filter_map(|e| e.resource.release().err().map(|err| err.to_string()))
        .collect()
}

/// Installs the signal thread and the panic hook, once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        install_signal_thread();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            for failure in release_all() {
                eprintln!("kscope: cleanup after panic: {failure}");
            }
            previous(info);
        }));
    });
}

fn install_signal_thread() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "kscope: warning: cannot install signal handlers ({e}); Ctrl-C will not clean up"
            );
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("kscope-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if GRACEFUL.load(Ordering::SeqCst) && !STOP.swap(true, Ordering::SeqCst) {
                    continue;
                }
                for failure in release_all() {
                    eprintln!("kscope: cleanup on signal {sig}: {failure}");
                }
                // Terminate the way the signal would have, so the exit status tells the
                // parent which signal ended us.
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
    if let Err(e) = spawned {
        eprintln!(
            "kscope: warning: cannot start the signal thread ({e}); Ctrl-C will not clean up"
        );
    }
}
