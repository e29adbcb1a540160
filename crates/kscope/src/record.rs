//! `kscope record`: the command line of [`kscope_record::record`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use kscope_ftrace::select::EventSpec;
use kscope_ftrace::tracedat::write::{Compression, FileVersion};
use kscope_record::{EventRequest, RecordOptions, StopReason};

use crate::cli::RecordArgs;

/// Pairs each `-f FILTER` with the `-e` given before it on the command line, as trace-cmd
/// does. A filter before any `-e` is an error.
fn event_requests(
    args: &RecordArgs,
    matches: Option<&clap::ArgMatches>,
) -> anyhow::Result<Vec<EventRequest>> {
    let mut requests: Vec<EventRequest> = args
        .events
        .iter()
        .map(|e| EventRequest {
            spec: EventSpec::parse(e),
            filter: None,
        })
        .collect();
    if args.filters.is_empty() {
        return Ok(requests);
    }
    let positions = |id: &str| -> Vec<usize> {
        matches
            .and_then(|m| m.indices_of(id))
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let event_at = positions("events");
    for (filter, at) in args.filters.iter().zip(positions("filters")) {
        let owner = event_at
            .iter()
            .rposition(|&e| e < at)
            .with_context(|| format!("-f {filter:?} must follow the -e whose events it filters"))?;
        if requests[owner].filter.is_some() {
            anyhow::bail!(
                "-e {} has two -f filters; combine them with &&",
                args.events[owner]
            );
        }
        requests[owner].filter = Some(filter.clone());
    }
    Ok(requests)
}

/// Runs `kscope record`.
pub fn run(args: &RecordArgs, matches: Option<&clap::ArgMatches>) -> anyhow::Result<ExitCode> {
    let options = RecordOptions {
        events: event_requests(args, matches)?,
        pids: args.pids.clone(),
        buffer_kb: args.buffer_kb,
        stacktrace: args.stacktrace,
        clock: args.clock.clone(),
        duration: args.duration.map(Duration::from_secs_f64),
        output: args.output.clone(),
        version: if args.file_version == 6 {
            FileVersion::V6
        } else {
            FileVersion::V7
        },
        compression: match args.compress.as_str() {
            "zstd" => Compression::Zstd { level: 3 },
            _ => Compression::None,
        },
        command: args.command.clone(),
    };
    if options.version == FileVersion::V6 && options.compression != Compression::None {
        anyhow::bail!(
            "trace.dat version 6 cannot be compressed: drop --compress or use --file-version 7"
        );
    }
    let summary = kscope_record::record(&options)?;
    eprintln!(
        "kscope record: {} events on {} CPUs in {:.2} s ({}) -> {} ({} bytes)",
        summary.total_events(),
        summary.cpus.len(),
        summary.elapsed.as_secs_f64(),
        match summary.stopped_by {
            StopReason::CommandExited => "command exited",
            StopReason::Duration => "duration reached",
            StopReason::Signal => "interrupted",
        },
        args.output.display(),
        summary.file_bytes,
    );
    for cpu in &summary.cpus {
        eprintln!(
            "  CPU {}: {} events, {} lost",
            cpu.cpu, cpu.events, cpu.lost
        );
    }
    if summary.total_lost() > 0 {
        eprintln!(
            "kscope record: warning: the kernel lost {} events (buffer full); raise -b or record fewer events",
            summary.total_lost()
        );
    }
    Ok(match summary.command_status.and_then(|s| s.code()) {
        Some(code) if code != 0 => ExitCode::from(code.clamp(1, 255) as u8),
        _ => ExitCode::SUCCESS,
    })
}
