//! `kscope record`: records ftrace events into a trace.dat file (being built).

use std::process::ExitCode;

use crate::cli::RecordArgs;

/// Runs `kscope record`.
pub fn run(_args: &RecordArgs) -> anyhow::Result<ExitCode> {
    eprintln!("kscope record: not built yet");
    Ok(ExitCode::from(2))
}
