//! Dynamic events: kprobes, kretprobes, uprobes and uretprobes created through
//! `kprobe_events` / `uprobe_events` (or `dynamic_events`).

use crate::{Tracefs, TracefsError};

/// Which kind of dynamic probe an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A kprobe or kretprobe (`kprobe_events`).
    Kprobe,
    /// A uprobe or uretprobe (`uprobe_events`).
    Uprobe,
    /// Another dynamic event type listed in `dynamic_events` (synthetic, eprobe, fprobe, …).
    Other,
}

impl ProbeKind {
    /// The control file that creates and removes events of this kind.
    pub fn control_file(self) -> &'static str {
        match self {
            ProbeKind::Kprobe => "kprobe_events",
            ProbeKind::Uprobe => "uprobe_events",
            ProbeKind::Other => "dynamic_events",
        }
    }
}

/// One dynamic event as the kernel lists it, e.g. `p:kscope/open /bin/true:0x1040 arg=%di`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicEvent {
    /// The kind, known from the control file the line was read from (or guessed from the
    /// probe location when read from `dynamic_events`).
    pub kind: ProbeKind,
    /// The type letter: `p` (probe), `r` (return probe), `e`, `s`, `f`, `t`, …
    pub letter: char,
    /// The event group (system), e.g. `kscope`.
    pub group: String,
    /// The event name.
    pub name: String,
    /// The whole line as listed.
    pub line: String,
}

impl DynamicEvent {
    /// The `-:group/name` command that removes this event.
    pub fn removal_command(&self) -> String {
        format!("-:{}/{}", self.group, self.name)
    }
}

/// Parses one listed line. `kind` is the file's kind; lines from `dynamic_events` are
/// classified by their location (a uprobe location contains `/` and `:` — a path and offset).
pub fn parse_line(line: &str, kind: ProbeKind) -> Option<DynamicEvent> {
    let line = line.trim();
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let (letter, full) = head.split_once(':')?;
    let letter = letter.chars().next()?;
    let (group, name) = full.split_once('/')?;
    let kind = match kind {
        ProbeKind::Other if matches!(letter, 'p' | 'r') => {
            let location = rest.split_whitespace().next().unwrap_or("");
            if location.starts_with('/') && location.contains(':') {
                ProbeKind::Uprobe
            } else {
                ProbeKind::Kprobe
            }
        }
        k => k,
    };
    Some(DynamicEvent {
        kind,
        letter,
        group: group.to_string(),
        name: name.to_string(),
        line: line.to_string(),
    })
}

/// Every kprobe and uprobe event currently defined, from `kprobe_events` and
/// `uprobe_events` (whichever exist), or `dynamic_events` when neither does.
pub fn list(tracefs: &Tracefs) -> Result<Vec<DynamicEvent>, TracefsError> {
    let mut events = Vec::new();
    let mut found_any = false;
    for kind in [ProbeKind::Kprobe, ProbeKind::Uprobe] {
        if tracefs.exists(kind.control_file()) {
            found_any = true;
            let text = tracefs.read(kind.control_file())?;
            events.extend(text.lines().filter_map(|l| parse_line(l, kind)));
        }
    }
    if !found_any && tracefs.exists("dynamic_events") {
        let text = tracefs.read("dynamic_events")?;
        events.extend(text.lines().filter_map(|l| parse_line(l, ProbeKind::Other)));
    }
    Ok(events)
}

/// Whether this kernel can create dynamic events of `kind` through tracefs.
pub fn supported(tracefs: &Tracefs, kind: ProbeKind) -> bool {
    tracefs.exists(kind.control_file())
}

/// Creates a dynamic event by appending its definition (e.g.
/// `p:kscope/x /usr/bin/true:0x1040`) to the control file of `kind`.
pub fn add(tracefs: &Tracefs, kind: ProbeKind, definition: &str) -> Result<(), TracefsError> {
    tracefs.append(kind.control_file(), definition)
}

/// Removes the event `group/name` of `kind`.
pub fn remove(
    tracefs: &Tracefs,
    kind: ProbeKind,
    group: &str,
    name: &str,
) -> Result<(), TracefsError> {
    tracefs.append(kind.control_file(), &format!("-:{group}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uprobe_and_kprobe_lines() {
        let u = parse_line(
            "p:kscope/pid12_x /usr/bin/true:0x0000000000001040",
            ProbeKind::Uprobe,
        )
        .unwrap();
        assert_eq!(
            (u.letter, u.group.as_str(), u.name.as_str()),
            ('p', "kscope", "pid12_x")
        );
        assert_eq!(u.removal_command(), "-:kscope/pid12_x");
        let k = parse_line(
            "r4:kprobes/ret do_sys_openat2 ret=$retval",
            ProbeKind::Other,
        )
        .unwrap();
        assert_eq!((k.kind, k.letter), (ProbeKind::Kprobe, 'r'));
        let u2 = parse_line("p:g/n /bin/ls:0x10 a=%di", ProbeKind::Other).unwrap();
        assert_eq!(u2.kind, ProbeKind::Uprobe);
        assert!(parse_line("garbage", ProbeKind::Other).is_none());
    }
}
