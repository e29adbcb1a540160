//! One function per built command.

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionsArgs, DoctorArgs, ResetArgs};

/// Runs the chosen command and returns the process exit code.
pub fn dispatch(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Doctor(args) => doctor(args),
        Command::Reset(args) => reset(args),
        Command::Completions(args) => completions(args),
        Command::List(args) => crate::list::run(args),
        Command::Record(args) => crate::record::run(args, matches.subcommand_matches("record")),
        Command::Report(args) => crate::report::run(args),
        Command::Probe(args) => crate::probe::run(args),
        Command::Stream(args) => crate::stream::run(args, matches.subcommand_matches("stream")),
        Command::Run(args) => crate::run::run(args),
        other => {
            eprintln!("kscope {}: not built yet", other.name());
            Ok(ExitCode::from(2))
        }
    }
}

fn doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = kscope_doctor::run();
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(ExitCode::SUCCESS)
}

fn reset(args: &ResetArgs) -> anyhow::Result<ExitCode> {
    let (tracefs, outcome) = kscope_ftrace::Tracefs::mount().context("finding tracefs")?;
    if let kscope_ftrace::MountOutcome::Mounted(path) = outcome {
        eprintln!(
            "kscope reset: tracefs was not mounted: mounted it on {}",
            path.display()
        );
    }
    let leftovers = kscope_session::reset::find(&tracefs, args.all)
        .context("listing kscope-named tracefs objects")?;
    if leftovers.is_empty() {
        println!("nothing to reset");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        for l in &leftovers {
            println!("would remove {l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for (leftover, result) in kscope_session::reset::remove(&tracefs, &leftovers) {
        match result {
            Ok(()) => println!("removed {leftover}"),
            Err(e) => {
                failed += 1;
                eprintln!("kscope reset: could not remove {leftover}: {e}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "kscope", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
