//! Event selection the way trace-cmd's `-e` reads it: `SYSTEM`, `EVENT`, `SYSTEM:EVENT`,
//! each part a glob (`sched:sched_w*`, `*:*_exit`), and `all`. A name without a colon
//! matches a system of that name or an event of that name in any system.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// One event: its system (group) and name, e.g. `sched` / `sched_switch`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The system (directory under `events/`).
    pub system: String,
    /// The event name.
    pub name: String,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.system, self.name)
    }
}

/// A parsed `-e` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSpec {
    /// `all`: every event.
    All,
    /// `NAME` (a glob): a system of that name, or events of that name in any system.
    SystemOrEvent(String),
    /// `SYSTEM:EVENT` (globs).
    Qualified {
        /// The system glob.
        system: String,
        /// The event glob.
        event: String,
    },
}

impl EventSpec {
    /// Parses `all`, `NAME` or `SYSTEM:EVENT` (also `SYSTEM/EVENT`, as tracefs paths read).
    pub fn parse(text: &str) -> EventSpec {
        let text = text.trim();
        if text == "all" {
            return EventSpec::All;
        }
        match text.split_once([':', '/']) {
            Some((system, event)) => EventSpec::Qualified {
                system: if system.is_empty() { "*" } else { system }.to_string(),
                event: if event.is_empty() { "*" } else { event }.to_string(),
            },
            None => EventSpec::SystemOrEvent(text.to_string()),
        }
    }

    /// Whether this spec selects `event`.
    pub fn matches(&self, event: &EventId) -> bool {
        match self {
            EventSpec::All => true,
            EventSpec::SystemOrEvent(name) => glob(name, &event.system) || glob(name, &event.name),
            EventSpec::Qualified { system, event: ev } => {
                glob(system, &event.system) && glob(ev, &event.name)
            }
        }
    }

    fn text(&self) -> String {
        match self {
            EventSpec::All => "all".into(),
            EventSpec::SystemOrEvent(n) => n.clone(),
            EventSpec::Qualified { system, event } => format!("{system}:{event}"),
        }
    }
}

/// A selection that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no event matches {spec:?}{}", suggestion(.nearest))]
pub struct NoSuchEvent {
    /// The spec as given.
    pub spec: String,
    /// The closest existing names, best first.
    pub nearest: Vec<String>,
}

fn suggestion(nearest: &[String]) -> String {
    match nearest {
        [] => "; `kscope list` shows the events this kernel has".into(),
        names => format!("; did you mean {}?", names.join(", ")),
    }
}

/// Every event under an `events/` directory (of tracefs or of an instance).
pub fn list_events(events_dir: &Path) -> std::io::Result<Vec<EventId>> {
    let mut out = Vec::new();
    for system in std::fs::read_dir(events_dir)? {
        let system = system?;
        if !system.file_type()?.is_dir() {
            continue;
        }
        let system_name = system.file_name().to_string_lossy().into_owned();
        for event in std::fs::read_dir(system.path())? {
            let event = event?;
            if event.file_type()?.is_dir() {
                out.push(EventId {
                    system: system_name.clone(),
                    name: event.file_name().to_string_lossy().into_owned(),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Resolves specs against the events that exist. Every spec must match at least one event;
/// the first that matches none is an error with the nearest names.
pub fn resolve(available: &[EventId], specs: &[EventSpec]) -> Result<Vec<EventId>, NoSuchEvent> {
    let mut chosen = BTreeSet::new();
    for spec in specs {
        let before = chosen.len();
        let mut any = false;
        for event in available.iter().filter(|e| spec.matches(e)) {
            any = true;
            chosen.insert(event.clone());
        }
        if !any && chosen.len() == before {
            return Err(NoSuchEvent {
                spec: spec.text(),
                nearest: nearest_names(available, spec),
            });
        }
    }
    Ok(chosen.into_iter().collect())
}

fn nearest_names(available: &[EventId], spec: &EventSpec) -> Vec<String> {
    let wanted = spec.text();
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for e in available {
        candidates.insert(e.system.clone());
        candidates.insert(e.name.clone());
        candidates.insert(e.to_string());
    }
    let limit = (wanted.len() / 3).max(2);
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted, &c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Levenshtein distance between two strings (bytes), for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Shell-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!x]` a class.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t)
}

fn glob_at(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => match class(&p[pi..], t[ti]) {
                    Some((true, next)) => {
                        pi += next;
                        ti += 1;
                        continue;
                    }
                    Some((false, _)) => {}
                    // An unclosed `[` is a literal character.
                    None if t[ti] == '[' => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    None => {}
                },
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class at the start of `p` (`[...]`); returns whether it matched
/// and the class's length, or `None` when the class is not closed (then `[` is literal).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let end = p.iter().skip(1).position(|&x| x == ']')? + 1;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut matched = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            matched |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= body[i] == c;
            i += 1;
        }
    }
    Some((matched != negate, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, n: &str) -> EventId {
        EventId {
            system: s.into(),
            name: n.into(),
        }
    }

    fn available() -> Vec<EventId> {
        vec![
            ev("sched", "sched_switch"),
            ev("sched", "sched_wakeup"),
            ev("sched", "sched_wakeup_new"),
            ev("syscalls", "sys_enter_read"),
            ev("syscalls", "sys_exit_read"),
            ev("irq", "irq_handler_entry"),
        ]
    }

    #[test]
    fn globs_match_like_the_shell() {
        assert!(glob("sched_w*", "sched_wakeup_new"));
        assert!(glob("*", ""));
        assert!(glob("sys_*_read", "sys_exit_read"));
        assert!(!glob("sys_*_read", "sys_exit_write"));
        assert!(glob("irq_?andler*", "irq_handler_entry"));
        assert!(glob("sys_[ef]*", "sys_enter_read"));
        assert!(!glob("sys_[!e]*", "sys_enter_read"));
        assert!(glob("a[b-d]e", "ace"));
        assert!(glob("[", "["), "an unclosed class is literal");
        assert!(!glob("abc", "abcd"));
    }

    #[test]
    fn specs_select_systems_events_and_qualified_globs() {
        let all = available();
        let names = |specs: &[&str]| -> Vec<String> {
            let specs: Vec<EventSpec> = specs.iter().map(|s| EventSpec::parse(s)).collect();
            resolve(&all, &specs)
                .unwrap()
                .iter()
                .map(|e| e.to_string())
                .collect()
        };
        assert_eq!(names(&["sched"]).len(), 3);
        assert_eq!(names(&["sched_switch"]), ["sched:sched_switch"]);
        assert_eq!(
            names(&["sched:sched_w*"]),
            ["sched:sched_wakeup", "sched:sched_wakeup_new"]
        );
        assert_eq!(
            names(&["*:sys_*_read"]),
            ["syscalls:sys_enter_read", "syscalls:sys_exit_read"]
        );
        assert_eq!(
            names(&["syscalls/sys_exit_read"]),
            ["syscalls:sys_exit_read"]
        );
        assert_eq!(names(&["all"]).len(), all.len());
        assert_eq!(names(&["irq", "sched_switch"]).len(), 2);
    }

    #[test]
    fn a_spec_matching_nothing_suggests_the_nearest_names() {
        let err = resolve(&available(), &[EventSpec::parse("sched:sched_swich")]).unwrap_err();
        assert_eq!(
            err.nearest.first().map(String::as_str),
            Some("sched:sched_switch")
        );
        assert!(err.to_string().contains("did you mean sched:sched_switch"));
        let err = resolve(&available(), &[EventSpec::parse("zzzzzzzzzz")]).unwrap_err();
        assert!(err.nearest.is_empty());
        assert!(err.to_string().contains("kscope list"));
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
