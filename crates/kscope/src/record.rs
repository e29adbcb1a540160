//! `kscope record`: the command line of [`kscope_record::record`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use kscope_ftrace::select::EventSpec;
use kscope_ftrace::tracedat::write::{Compression, FileVersion};
use kscope_record::{
    EventRequest, ReaderKind, RecordError, RecordOptions, Selection, StopReason, TracerOptions,
};

use crate::cli::{RecordArgs, TraceArgs};

/// Pairs each `-f FILTER` with the `-e` given before it on the command line, as trace-cmd
/// does. A filter before any `-e` is an error.
fn event_requests(
    args: &TraceArgs,
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

/// The selection `record` and `stream` share, from their common options. `matches` are
/// the subcommand's (they give the order of -e and -f).
pub(crate) fn selection(
    args: &TraceArgs,
    matches: Option<&clap::ArgMatches>,
) -> anyhow::Result<Selection> {
    Ok(Selection {
        events: event_requests(args, matches)?,
        tracer: args.plugin.as_ref().map(|name| TracerOptions {
            name: name.clone(),
            filter: args.function_filter.clone(),
            notrace: args.function_notrace.clone(),
            graph: args.graph_function.clone(),
        }),
        pids: args.pids.clone(),
        buffer_kb: args.buffer_kb,
        stacktrace: args.stacktrace,
        clock: args.clock.clone(),
        duration: args.duration.map(Duration::from_secs_f64),
        command: args.command.clone(),
        reader: match args.reader.as_str() {
            "mmap" => ReaderKind::Mmap,
            "splice" => ReaderKind::Splice,
            "read" => ReaderKind::Read,
            _ => ReaderKind::Auto,
        },
    })
}

/// Adds doctor's reason and remedy to a tracer that the kernel does not offer.
pub(crate) fn explain(error: RecordError) -> anyhow::Error {
    if let RecordError::TracerAbsent { tracer, .. } = &error {
        let check = match tracer.as_str() {
            "function" => Some("function_tracer"),
            "function_graph" => Some("function_graph_tracer"),
            _ => None,
        };
        if let Some(name) = check {
            let report = kscope_doctor::run();
            if let Some(c) = report.get(name)
                && !c.available
            {
                return anyhow::anyhow!(
                    "{error}\nkscope doctor ({name}): {}\nremedy: {}",
                    c.reason,
                    c.remedy
                );
            }
        }
    }
    error.into()
}

/// Runs `kscope record`.
pub fn run(args: &RecordArgs, matches: Option<&clap::ArgMatches>) -> anyhow::Result<ExitCode> {
    let options = RecordOptions {
        selection: selection(&args.trace, matches)?,
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
    };
    if options.version == FileVersion::V6 && options.compression != Compression::None {
        anyhow::bail!(
            "trace.dat version 6 cannot be compressed: drop --compress or use --file-version 7"
        );
    }
    let summary = kscope_record::record(&options).map_err(explain)?;
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
            "  CPU {}: {} events, {} lost (read with {})",
            cpu.cpu,
            cpu.events,
            cpu.lost,
            cpu.reader.name()
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
