use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_ftrace::{Instance, Tracefs, TracefsError};

use crate::guard::{self, Entry, Resource};
use crate::names;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A failure to create a session-owned resource.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The kernel refused to create or remove something.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// The requested name is not one kscope can own.
    #[error("invalid name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A scope that owns kernel resources. Dropping it releases what it still owns; a signal
/// or a panic releases the resources of every session in the process.
#[derive(Debug)]
pub struct Session {
    id: u64,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// Starts a session, installing the process-wide signal and panic hooks on first use.
    pub fn new() -> Session {
        guard::install();
        Session {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn register(&self, resource: Resource) -> u64 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        guard::registry().push(Entry {
            id,
            session: self.id,
            resource,
        });
        id
    }

    /// Releases one registered resource now. When that fails the entry goes back into the
    /// registry, so the session's end (or a signal) tries again.
    fn release_entry(id: u64) -> Result<(), SessionError> {
        // Already released by a signal or by the session.
        let Some(entry) = Session::take(id) else {
            return Ok(());
        };
        match entry.resource.release() {
            Ok(()) => Ok(()),
            Err(e) => {
                guard::registry().push(entry);
                Err(e.into())
            }
        }
    }

    fn take(id: u64) -> Option<Entry> {
        let mut reg = guard::registry();
        let pos = reg.iter().position(|e| e.id == id)?;
        Some(reg.remove(pos))
    }

    /// Creates a private tracefs instance `kscope-<pid>-<purpose>` (with a numeric suffix
    /// if this process already has one for that purpose).
    pub fn create_instance(
        &self,
        tracefs: &Tracefs,
        purpose: &str,
    ) -> Result<OwnedInstance, SessionError> {
        let base = names::instance_name(std::process::id(), purpose);
        let mut name = base.clone();
        let mut n = 1;
        while tracefs.path("instances").join(&name).exists() {
            n += 1;
            name = format!("{base}-{n}");
        }
        // Registered before it exists, so a signal arriving in between still removes it.
        let id = self.register(Resource::Instance {
            tracefs: tracefs.clone(),
            name: name.clone(),
        });
        match tracefs.create_instance(&name) {
            Ok(instance) => Ok(OwnedInstance {
                id,
                instance: Some(instance),
            }),
            Err(e) => {
                Session::take(id);
                Err(e.into())
            }
        }
    }

    /// Creates a dynamic event `kscope/pid<pid>_<name>` of `kind`. `letter` is `p` or `r`
    /// (probe or return probe); `spec` is the location and fetch arguments, e.g.
    /// `/usr/bin/bash:0x4f3e0 arg1=%di` or `do_sys_openat2 dfd=%di`.
    pub fn add_dynamic_event(
        &self,
        tracefs: &Tracefs,
        kind: ProbeKind,
        letter: char,
        name: &str,
        spec: &str,
    ) -> Result<OwnedDynamicEvent, SessionError> {
        if !matches!(letter, 'p' | 'r') {
            return Err(SessionError::InvalidName {
                name: letter.to_string(),
                why: "a probe is 'p' (entry) or 'r' (return)",
            });
        }
        let name = names::dynamic_event_name(std::process::id(), name);
        let group = names::DYNAMIC_EVENT_GROUP.to_string();
        let id = self.register(Resource::DynamicEvent {
            tracefs: tracefs.clone(),
            kind,
            group: group.clone(),
            name: name.clone(),
        });
        let definition = format!("{letter}:{group}/{name} {spec}");
        match dynevent::add(tracefs, kind, &definition) {
            Ok(()) => Ok(OwnedDynamicEvent {
                id,
                group,
                name,
                released: false,
            }),
            Err(e) => {
                Session::take(id);
                Err(e.into())
            }
        }
    }

    /// Releases everything this session still owns, reporting the first failure.
    pub fn close(self) -> Result<(), String> {
        let failures = self.release_own();
        std::mem::forget(self);
        match failures.into_iter().next() {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    fn release_own(&self) -> Vec<String> {
        let mine: Vec<Entry> = {
            let mut reg = guard::registry();
            let (mine, others): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut *reg)
                .into_iter()
                .partition(|e| e.session == self.id);
            *reg = others;
            mine
        };
        guard::release_entries(mine)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for failure in self.release_own() {
            eprintln!("kscope: cleanup: {failure}");
        }
    }
}

/// A tracefs instance owned by a session; removed when dropped.
#[derive(Debug)]
pub struct OwnedInstance {
    id: u64,
    instance: Option<Instance>,
}

impl OwnedInstance {
    /// Removes the instance now, reporting failure.
    pub fn remove(mut self) -> Result<(), SessionError> {
        self.release()
    }

    fn release(&mut self) -> Result<(), SessionError> {
        if self.instance.take().is_none() {
            return Ok(());
        }
        Session::release_entry(self.id)
    }
}

impl Deref for OwnedInstance {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        self.instance
            .as_ref()
            .expect("an OwnedInstance holds its instance until it is dropped")
    }
}

impl Drop for OwnedInstance {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!("kscope: cleanup: {e}");
        }
    }
}

/// A dynamic event owned by a session; removed when dropped.
#[derive(Debug)]
pub struct OwnedDynamicEvent {
    id: u64,
    group: String,
    name: String,
    released: bool,
}

impl OwnedDynamicEvent {
    /// The event group (`kscope`).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The event name (`pid<pid>_<name>`), as it appears under `events/kscope/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Removes the event now, reporting failure.
    pub fn remove(mut self) -> Result<(), SessionError> {
        self.release()
    }

    fn release(&mut self) -> Result<(), SessionError> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        Session::release_entry(self.id)
    }
}

impl Drop for OwnedDynamicEvent {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!("kscope: cleanup: {e}");
        }
    }
}
