//! The session guard: the one owner of every kernel resource kscope creates.
//!
//! Persistent kernel objects (tracefs instances and dynamic events) are registered here
//! *before* they are created and released on normal exit (drop), on error, on SIGINT,
//! SIGTERM and SIGHUP, and on panic. File-descriptor objects (BPF programs, maps, links,
//! perf events) are released by the kernel when the process exits, however it exits.
//!
//! Everything carries a `kscope` name with the owner's pid, so [`reset`] can find what a
//! killed kscope (`kill -9`) left behind:
//! - tracefs instances are named `kscope-<pid>-<purpose>`;
//! - dynamic events live in the group `kscope` and are named `pid<pid>_<name>`.

#![forbid(unsafe_code)]

mod guard;
mod names;
pub mod reset;
mod session;

pub use guard::{InterruptMode, Usr1, set_interrupt_mode, stop_requested};
pub use names::{DYNAMIC_EVENT_GROUP, INSTANCE_PREFIX, dynamic_event_owner, instance_owner};
pub use session::{OwnedDynamicEvent, OwnedInstance, Session, SessionError};
