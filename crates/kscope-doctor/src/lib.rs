//! `kscope doctor`: probes the running kernel, for real, for every channel kscope uses.
//!
//! Each check tries the thing itself (selects a tracer in a private instance, loads a BPF
//! program, opens a perf event, …) rather than reading the kernel config, and reports
//! whether it works, why not, and what to do. Everything a check creates is released before
//! [`run`] returns; tracefs objects are owned by a [`kscope_session::Session`].

mod checks;
mod report;

pub use report::{Check, Report, State};

use std::time::Instant;

/// Runs every check and returns the report. Mounts tracefs and debugfs when they are not
/// mounted (the report's notes say so); creates nothing else that outlives the call.
pub fn run() -> Report {
    let started = Instant::now();
    let mut ctx = checks::Context::new();
    let mut checks = Vec::new();
    checks::run_all(&mut ctx, &mut checks);
    Report {
        kernel: kscope_sys::process::kernel_release().unwrap_or_else(|_| "unknown".into()),
        checks,
        notes: ctx.take_notes(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    }
}
