//! Persistent kprobes and uprobes in the group `kscope` (`kscope probe add|list|del`).
//!
//! A probe is given as `BINARY:SYMBOL[+OFFSET]` or `BINARY:0xOFFSET` (uprobe, the symbol
//! resolved to a file offset through the ELF program headers, see [`elf`]) or
//! `SYMBOL[+OFFSET]` (kprobe), with fetch arguments in the kernel's syntax. Unlike the
//! probes of a session (`kscope/pid<N>_*`), these stay until deleted.
//!
//! Kernel versions: uprobe events since 3.5, kprobe events since 2.6.33; `$argN` for
//! kprobes since 4.20; `error_log` explanations since 5.4.

pub mod elf;
mod error;
mod manage;
mod spec;

pub use error::ProbeError;
pub use manage::{add, definition, delete, list, matching, type_name};
pub use spec::{Location, ProbeDefinition, ProbeSpec, UserPlace, check_name, find_binary};

/// The event group of every kscope probe.
pub const GROUP: &str = "kscope";
