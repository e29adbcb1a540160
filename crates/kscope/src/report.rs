//! `kscope report`: decodes a trace.dat file (being built).

use std::process::ExitCode;

use crate::cli::ReportArgs;

/// Runs `kscope report`.
pub fn run(_args: &ReportArgs) -> anyhow::Result<ExitCode> {
    eprintln!("kscope report: not built yet");
    Ok(ExitCode::from(2))
}
