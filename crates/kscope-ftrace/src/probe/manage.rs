//! Creating, listing and removing the probes of the group `kscope`.

use super::{GROUP, ProbeDefinition, ProbeError};
use crate::dynevent::{self, DynamicEvent, ProbeKind};
use crate::select::{edit_distance, glob};
use crate::{Tracefs, TracefsError};

/// Creates the probe and returns the event as the kernel lists it.
pub fn add(tracefs: &Tracefs, definition: &ProbeDefinition) -> Result<DynamicEvent, ProbeError> {
    let kind = definition.kind;
    if !dynevent::supported(tracefs, kind) {
        return Err(match kind {
            ProbeKind::Kprobe => ProbeError::Unsupported {
                what: "kprobes",
                file: "kprobe_events",
                config: "CONFIG_KPROBE_EVENTS",
            },
            _ => ProbeError::Unsupported {
                what: "uprobes",
                file: "uprobe_events",
                config: "CONFIG_UPROBE_EVENTS",
            },
        });
    }
    if let Some(existing) = list(tracefs)?
        .into_iter()
        .find(|e| e.name == definition.name)
    {
        return Err(ProbeError::Exists {
            name: definition.name.clone(),
            line: existing.line,
        });
    }
    let line = definition.line();
    match dynevent::add(tracefs, kind, &line) {
        Ok(()) => {}
        Err(TracefsError::Rejected {
            source, error_log, ..
        }) => {
            let hint = match source.raw_os_error() {
                Some(libc::EACCES | libc::EPERM) => Some(format!(
                    "writing {} needs root (CAP_SYS_ADMIN); run kscope with sudo",
                    kind.control_file()
                )),
                _ if kind == ProbeKind::Kprobe => kernel_symbol_hint(&definition.location),
                _ => None,
            };
            return Err(ProbeError::Rejected {
                definition: line,
                errno: source,
                error_log,
                hint,
            });
        }
        Err(e) => return Err(e.into()),
    }
    list(tracefs)?
        .into_iter()
        .find(|e| e.name == definition.name)
        .ok_or_else(|| ProbeError::Rejected {
            definition: line,
            errno: std::io::Error::from_raw_os_error(libc::ENOENT),
            error_log: None,
            hint: Some("the kernel accepted the write but does not list the event".into()),
        })
}

/// Every dynamic event of the group `kscope`.
pub fn list(tracefs: &Tracefs) -> Result<Vec<DynamicEvent>, ProbeError> {
    Ok(dynevent::list(tracefs)?
        .into_iter()
        .filter(|e| e.group == GROUP)
        .collect())
}

/// `uprobe`, `uretprobe`, `kprobe`, `kretprobe`, or the type letter of another kind.
pub fn type_name(event: &DynamicEvent) -> String {
    match (event.kind, event.letter) {
        (ProbeKind::Uprobe, 'p') => "uprobe".into(),
        (ProbeKind::Uprobe, 'r') => "uretprobe".into(),
        (ProbeKind::Kprobe, 'p') => "kprobe".into(),
        (ProbeKind::Kprobe, 'r') => "kretprobe".into(),
        (_, letter) => format!("dynamic ({letter})"),
    }
}

/// The definition part of a listed line: the location and the fetch arguments.
pub fn definition(event: &DynamicEvent) -> &str {
    event
        .line
        .split_once(char::is_whitespace)
        .map_or("", |(_, rest)| rest.trim())
}

/// The kscope probes whose name matches `pattern` (a name or a glob; a `kscope:` prefix
/// is allowed), or all of them when `pattern` is `None`. A pattern matching nothing is an
/// error; an empty group with `None` is not.
pub fn matching(tracefs: &Tracefs, pattern: Option<&str>) -> Result<Vec<DynamicEvent>, ProbeError> {
    let events = list(tracefs)?;
    let Some(pattern) = pattern else {
        return Ok(events);
    };
    let bare = pattern
        .strip_prefix("kscope:")
        .or_else(|| pattern.strip_prefix("kscope/"))
        .unwrap_or(pattern);
    let found: Vec<DynamicEvent> = events.into_iter().filter(|e| glob(bare, &e.name)).collect();
    if found.is_empty() {
        return Err(ProbeError::NoMatch {
            pattern: pattern.to_string(),
        });
    }
    Ok(found)
}

/// Removes one kscope probe. When the kernel refuses with EBUSY, says who uses it.
pub fn delete(tracefs: &Tracefs, event: &DynamicEvent) -> Result<(), ProbeError> {
    if event.group != GROUP {
        return Err(ProbeError::NoMatch {
            pattern: format!("{}/{}", event.group, event.name),
        });
    }
    match dynevent::remove(tracefs, event.kind, &event.group, &event.name) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(ProbeError::InUse {
            name: event.name.clone(),
            users: users(tracefs, &event.name),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Who has the event enabled, as tracefs shows it; perf and BPF users are not visible there.
fn users(tracefs: &Tracefs, name: &str) -> String {
    let enable = format!("events/{GROUP}/{name}/enable");
    let enabled = |rel: &str| {
        tracefs
            .read(rel)
            .is_ok_and(|v| v.trim_start().starts_with('1'))
    };
    let mut users = Vec::new();
    if enabled(&enable) {
        users.push("enabled in the top-level trace buffer".to_string());
    }
    for instance in tracefs.instance_names().unwrap_or_default() {
        if enabled(&format!("instances/{instance}/{enable}")) {
            users.push(format!("enabled in tracefs instance {instance}"));
        }
    }
    if users.is_empty() {
        "open through perf_event_open or BPF, e.g. by a running `kscope record`".into()
    } else {
        users.join(", ")
    }
}

/// For a rejected kprobe: when the symbol is not a kernel function, the nearest ones.
fn kernel_symbol_hint(location: &str) -> Option<String> {
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").ok()?;
    hint_from_kallsyms(&kallsyms, location)
}

/// The hint for a kprobe location (`[MODULE:]SYMBOL[+OFFSET]`) given the text of
/// /proc/kallsyms: `None` when the symbol is a kernel function.
fn hint_from_kallsyms(kallsyms: &str, location: &str) -> Option<String> {
    let symbol = location.split('+').next()?;
    let symbol = symbol.rsplit(':').next()?;
    let text_symbols = kallsyms.lines().filter_map(|l| {
        let mut f = l.split_whitespace();
        let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
        matches!(kind, "t" | "T").then_some(name)
    });
    let mut scored: Vec<(usize, &str)> = Vec::new();
    for name in text_symbols {
        if name == symbol {
            return None;
        }
        let limit = (symbol.len() / 3).max(2);
        // The distance is at least the length difference: skip the sure misses cheaply
        // (kallsyms has ~200k names).
        if name.len().abs_diff(symbol.len()) > limit {
            continue;
        }
        let d = edit_distance(symbol, name);
        if d <= limit {
            scored.push((d, name));
        }
    }
    scored.sort();
    scored.dedup();
    let nearest: Vec<&str> = scored.into_iter().take(3).map(|(_, n)| n).collect();
    Some(if nearest.is_empty() {
        format!("{symbol} is not a kernel function in /proc/kallsyms")
    } else {
        format!(
            "{symbol} is not a kernel function in /proc/kallsyms; did you mean {}?",
            nearest.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "ffffffff81000000 T __x64_sys_getppid\n\
                            ffffffff81000010 t do_sys_openat2\n\
                            ffffffff81000020 D some_data\n\
                            ffffffffc0000030 t ext4_file_open\t[ext4]\n";

    #[test]
    fn a_kprobe_on_an_unknown_symbol_gets_the_nearest_kernel_functions() {
        assert_eq!(
            hint_from_kallsyms(KALLSYMS, "__x64_sys_getppidx").as_deref(),
            Some(
                "__x64_sys_getppidx is not a kernel function in /proc/kallsyms; did you mean __x64_sys_getppid?"
            )
        );
        assert_eq!(hint_from_kallsyms(KALLSYMS, "do_sys_openat2+4"), None);
        assert_eq!(hint_from_kallsyms(KALLSYMS, "ext4:ext4_file_open"), None);
        assert_eq!(
            hint_from_kallsyms(KALLSYMS, "some_data").as_deref(),
            Some("some_data is not a kernel function in /proc/kallsyms")
        );
    }
}
