//! The `kscope` binary: parses the command line and wires library crates to output.
//! No logic lives here that a library crate could own.

mod cli;
mod cmd;
mod list;
mod record;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kscope: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
