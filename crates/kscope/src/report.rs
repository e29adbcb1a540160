//! `kscope report`: decodes a trace.dat file (see the `kscope-report` crate).

use std::io;
use std::process::ExitCode;

use kscope_report::{Mode, Options, ReportError};

use crate::cli::ReportArgs;

/// Runs `kscope report`.
pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let opts = Options {
        cpus: args.cpus.clone(),
        event_filters: args.event_filters.clone(),
        nanoseconds: args.nanoseconds,
        mode: if args.stat {
            Mode::Stat
        } else if args.json {
            Mode::Json
        } else {
            Mode::Text
        },
    };
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    match kscope_report::run(&args.file, &opts, &mut lock) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ReportError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("kscope report: {}: {e}", args.file.display());
            Ok(ExitCode::from(1))
        }
    }
}
