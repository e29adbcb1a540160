//! `kscope stream`: the command line of [`kscope_record::stream`].

use std::process::ExitCode;

use kscope_record::StopReason;

use crate::cli::StreamArgs;

/// Runs `kscope stream`: events to stdout, the summary and lost events to stderr.
pub fn run(args: &StreamArgs, matches: Option<&clap::ArgMatches>) -> anyhow::Result<ExitCode> {
    let selection = crate::record::selection(&args.trace, matches)?;
    let summary = kscope_record::stream(&selection, Box::new(std::io::stdout()))
        .map_err(crate::record::explain)?;
    let events: u64 = summary.cpus.iter().map(|c| c.events).sum();
    eprintln!(
        "kscope stream: {events} events on {} CPUs in {:.2} s ({})",
        summary.cpus.len(),
        summary.elapsed.as_secs_f64(),
        match summary.stopped_by {
            StopReason::CommandExited => "command exited",
            StopReason::Duration => "duration reached",
            StopReason::Signal => "interrupted",
        },
    );
    if summary.total_lost() > 0 {
        for cpu in summary.cpus.iter().filter(|c| c.lost > 0) {
            eprintln!("  CPU {}: {} events lost", cpu.cpu, cpu.lost);
        }
        eprintln!(
            "kscope stream: warning: the kernel lost {} events (buffer full); raise -b or trace fewer events",
            summary.total_lost()
        );
    }
    Ok(match summary.command_status.and_then(|s| s.code()) {
        Some(code) if code != 0 => ExitCode::from(code.clamp(1, 255) as u8),
        _ => ExitCode::SUCCESS,
    })
}
