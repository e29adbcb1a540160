//! Tracers in the private instance: `function` or `function_graph` (`-p`), with the
//! function filters `-l` (`set_ftrace_filter`), `-n` (`set_ftrace_notrace`) and `-g`
//! (`set_graph_function`).
//!
//! A filter that matches no function is an error: the kernel takes an empty
//! `set_ftrace_filter` to mean "every function", which would flood the buffer.

use kscope_ftrace::{Instance, TracefsError};

use crate::RecordError;

/// A tracer and its function filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracerOptions {
    /// The tracer as trace-cmd spells it: `function`, `function_graph` (or any name the
    /// instance's `available_tracers` lists).
    pub name: String,
    /// Trace only these functions (globs as the kernel takes them).
    pub filter: Vec<String>,
    /// Never trace these functions.
    pub notrace: Vec<String>,
    /// function_graph: graph only these functions and what they call.
    pub graph: Vec<String>,
}

/// The tracer names trace-cmd accepts for `-p` that kscope records.
const NOP: &str = "nop";

/// Sets the tracer and its filters in `instance`. The filters are written first (they
/// take effect when the tracer starts) and each is read back: a pattern that matched
/// nothing is refused.
pub(crate) fn apply(
    instance: &Instance,
    options: &TracerOptions,
    pids: &[u32],
) -> Result<(), RecordError> {
    let available = instance.read("available_tracers").unwrap_or_default();
    if !available.split_whitespace().any(|t| t == options.name) {
        return Err(RecordError::TracerAbsent {
            tracer: options.name.clone(),
            why: format!(
                "this kernel's available_tracers lists only: {}",
                available.trim()
            ),
        });
    }
    if options.name != "function_graph" && !options.graph.is_empty() {
        return Err(RecordError::Tracer(format!(
            "-g applies to the function_graph tracer, not {}",
            options.name
        )));
    }
    let refused = |e: TracefsError| match errno(&e) {
        Some(libc::EPERM | libc::EACCES) => RecordError::TracerAbsent {
            tracer: options.name.clone(),
            why: format!("the kernel refused its control files ({})", e_short(&e)),
        },
        _ => e.into(),
    };
    set_filter(
        instance,
        "set_ftrace_filter",
        "-l",
        &options.filter,
        &refused,
    )?;
    set_filter(
        instance,
        "set_ftrace_notrace",
        "-n",
        &options.notrace,
        &refused,
    )?;
    set_filter(
        instance,
        "set_graph_function",
        "-g",
        &options.graph,
        &refused,
    )?;
    if !pids.is_empty() {
        // The function tracers follow set_ftrace_pid, not set_event_pid.
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        instance
            .write("set_ftrace_pid", &list.join(" "))
            .map_err(refused)?;
        if instance.path("options/function-fork").exists() {
            instance
                .set_option("function-fork", true)
                .map_err(&refused)?;
        }
    }
    if options.name != NOP {
        instance
            .set_tracer(&options.name)
            .map_err(|e| RecordError::TracerAbsent {
                tracer: options.name.clone(),
                why: format!(
                    "selecting it in kscope's private instance failed ({})",
                    e_short(&e)
                ),
            })?;
    }
    Ok(())
}

fn set_filter(
    instance: &Instance,
    file: &str,
    flag: &str,
    patterns: &[String],
    refused: &dyn Fn(TracefsError) -> RecordError,
) -> Result<(), RecordError> {
    if patterns.is_empty() {
        return Ok(());
    }
    if !instance.path(file).exists() {
        let hint = if flag == "-g" {
            "; -l FUNC limits function_graph to FUNC instead"
        } else {
            ""
        };
        return Err(RecordError::Tracer(format!(
            "{flag} needs {file}, which this kernel does not offer in tracefs instances \
             (kscope records only in its private instance){hint}"
        )));
    }
    // Start from an empty list (the instance is new, but be explicit).
    instance.write(file, "").map_err(refused)?;
    for pattern in patterns {
        if pattern.trim().is_empty() {
            return Err(RecordError::Tracer(format!(
                "{flag}: an empty function name"
            )));
        }
        match instance.append(file, pattern) {
            Ok(()) => {}
            Err(e) if matches!(errno(&e), Some(libc::EINVAL | libc::ENODEV | libc::ENOENT)) => {
                return Err(no_match(flag, pattern));
            }
            Err(e) => return Err(refused(e)),
        }
    }
    let set = instance.read(file).map_err(refused)?;
    let entries: Vec<&str> = set
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    if entries.is_empty() {
        return Err(no_match(flag, &patterns.join(" ")));
    }
    Ok(())
}

fn no_match(flag: &str, pattern: &str) -> RecordError {
    RecordError::Tracer(format!(
        "{flag} {pattern}: matches no traceable function (see available_filter_functions; \
         inlined and notrace functions cannot be traced). Without a match the kernel would \
         trace every function"
    ))
}

fn errno(e: &TracefsError) -> Option<i32> {
    match e {
        TracefsError::Io { source, .. } | TracefsError::Rejected { source, .. } => {
            source.raw_os_error()
        }
        _ => None,
    }
}

/// The kernel's error without the error_log excerpt (which may belong to another tool).
fn e_short(e: &TracefsError) -> String {
    match e {
        TracefsError::Io { op, path, source } => format!("{op} {}: {source}", path.display()),
        TracefsError::Rejected {
            path,
            value,
            source,
            ..
        } => format!("writing {value:?} to {}: {source}", path.display()),
        other => other.to_string(),
    }
}
