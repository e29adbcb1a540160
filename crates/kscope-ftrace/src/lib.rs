//! tracefs control for kscope: finding or mounting tracefs, private instances, event
//! enabling, tracers, and dynamic events (kprobes, uprobes).
//!
//! This crate holds the mechanism only. Who owns an instance or a probe, and when it is
//! removed, is the session guard's business (`kscope-session`).

#![forbid(unsafe_code)]

pub mod dynevent;
mod error;
pub mod format;
mod instance;
pub mod page;
pub mod probe;
pub mod select;
pub mod tracedat;
mod tracefs;

pub use error::{FilterExplanation, TracefsError};
pub use instance::Instance;
pub use tracefs::{MountOutcome, Tracefs};
