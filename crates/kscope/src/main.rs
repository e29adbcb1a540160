//! The `kscope` binary: parses the command line and wires library crates to output.
//! No logic lives here that a library crate could own.

mod cli;
mod cmd;
mod list;
mod probe;
mod record;
mod report;
mod run;
mod stream;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cmd::dispatch(cli, &matches) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kscope: error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each cause only when the message before it does not already
/// include it (library errors often quote their source).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
