//! `kscope run`: bpftrace scripts compiled straight to eBPF and run.
//!
//! 1. [`kscope_lang::compile`] parses and type-checks the script;
//! 2. [`plan::Plan`] lays out its maps and output records;
//! 3. [`lower::Lowerer`] turns each probe, per attach point, into kscope-codegen IR;
//! 4. [`runner`] creates the maps, compiles, loads and attaches the programs, runs
//!    `BEGIN`, polls the ring buffer (printf, print, clear, time, exit), and at the end
//!    runs `END`, prints the maps as upstream bpftrace does and detaches everything.
//!
//! This crate sits above kscope-lang (front end, output formats) and kscope-codegen (IR,
//! register allocation, loading), so neither of those depends on the other.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cgroup;
pub mod decode;
pub mod dwarf;
pub mod fentry;
pub mod lower;
pub mod plan;
pub mod runner;
pub mod uaddr;
pub mod uprobe_args;
pub mod uprobes;
pub mod usdt;
pub mod ustack;

pub use runner::{RunError, RunOptions, run};
