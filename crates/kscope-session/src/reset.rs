//! `kscope reset`: finds and removes what a killed kscope left in the kernel.
//!
//! Only kscope-named objects are considered: instances `kscope-*` and dynamic events in the
//! group `kscope`. By default only objects whose owner pid is gone are removed; with `all`,
//! every kscope-named object (including persistent probes from `kscope probe add`).

use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_ftrace::{Tracefs, TracefsError};

use crate::names;

/// What kind of leftover an object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftoverKind {
    /// A tracefs instance.
    Instance,
    /// A dynamic event (kprobe/uprobe) of this kind.
    DynamicEvent(ProbeKind),
}

/// A kscope-named kernel object that reset may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Instance or dynamic event.
    pub kind: LeftoverKind,
    /// For an instance its name; for a dynamic event `group/name`.
    pub name: String,
    /// The pid that created it, when its name records one.
    pub owner: Option<u32>,
    /// Whether the owner is still running (always false when there is no owner).
    pub owner_alive: bool,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            LeftoverKind::Instance => "tracefs instance",
            LeftoverKind::DynamicEvent(ProbeKind::Kprobe) => "kprobe event",
            LeftoverKind::DynamicEvent(ProbeKind::Uprobe) => "uprobe event",
            LeftoverKind::DynamicEvent(ProbeKind::Other) => "dynamic event",
        };
        write!(f, "{what} {}", self.name)?;
        match (self.owner, self.owner_alive) {
            (Some(pid), true) => write!(f, " (owner pid {pid}, running)"),
            (Some(pid), false) => write!(f, " (owner pid {pid}, gone)"),
            (None, _) => write!(f, " (no owner)"),
        }
    }
}

/// Lists kscope-named objects: those whose owner is gone, or with `all` every one.
pub fn find(tracefs: &Tracefs, all: bool) -> Result<Vec<Leftover>, TracefsError> {
    let mut found = Vec::new();
    if tracefs.exists("instances") {
        for name in tracefs.instance_names()? {
            let Some(owner) = names::instance_owner(&name) else {
                continue;
            };
            found.push(leftover(LeftoverKind::Instance, name, owner));
        }
    }
    for event in dynevent::list(tracefs)? {
        if event.group != names::DYNAMIC_EVENT_GROUP {
            continue;
        }
        let owner = names::dynamic_event_owner(&event.name);
        found.push(leftover(
            LeftoverKind::DynamicEvent(event.kind),
            format!("{}/{}", event.group, event.name),
            owner,
        ));
    }
    found.retain(|l| all || (l.owner.is_some() && !l.owner_alive));
    Ok(found)
}

fn leftover(kind: LeftoverKind, name: String, owner: Option<u32>) -> Leftover {
    let owner_alive = owner.is_some_and(kscope_sys::process::pid_alive);
    Leftover {
        kind,
        name,
        owner,
        owner_alive,
    }
}

/// Removes leftovers: instances first (which disables events enabled in them), then
/// dynamic events. Returns each object with the outcome of its removal.
pub fn remove(
    tracefs: &Tracefs,
    leftovers: &[Leftover],
) -> Vec<(Leftover, Result<(), TracefsError>)> {
    let mut ordered: Vec<&Leftover> = leftovers.iter().collect();
    ordered.sort_by_key(|l| l.kind != LeftoverKind::Instance);
    ordered
        .into_iter()
        .map(|l| {
            let result = match l.kind {
                LeftoverKind::Instance => tracefs.remove_instance(&l.name),
                LeftoverKind::DynamicEvent(kind) => {
                    let (group, name) = l.name.split_once('/').unwrap_or(("", &l.name));
                    dynevent::remove(tracefs, kind, group, name)
                }
            };
            (l.clone(), result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake tracefs holding only `uprobe_events` and an empty `instances/`.
    fn fake_tracefs(uprobe_events: &str) -> (Tracefs, std::path::PathBuf) {
        let root = std::env::temp_dir().join(format!("kscope-reset-test-{}", std::process::id()));
        std::fs::create_dir_all(root.join("instances")).unwrap();
        std::fs::write(root.join("uprobe_events"), uprobe_events).unwrap();
        (Tracefs::at(&root), root)
    }

    #[test]
    fn plain_reset_takes_only_dead_owners_probes_and_all_takes_every_kscope_probe() {
        let alive = std::process::id();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let (tracefs, root) = fake_tracefs(&format!(
            "p:kscope/pid{alive}_a /bin/true:0x10\n\
             p:kscope/pid{dead}_b /bin/true:0x10\n\
             p:kscope/persistent /bin/true:0x10\n\
             r:kscope/persistent__return /bin/true:0x10\n\
             p:other/pid{dead}_c /bin/true:0x10\n"
        ));
        let names = |all| -> Vec<String> {
            find(&tracefs, all)
                .unwrap()
                .into_iter()
                .map(|l| l.name)
                .collect()
        };
        assert_eq!(names(false), [format!("kscope/pid{dead}_b")]);
        assert_eq!(
            names(true),
            [
                format!("kscope/pid{alive}_a"),
                format!("kscope/pid{dead}_b"),
                "kscope/persistent".to_string(),
                "kscope/persistent__return".to_string(),
            ]
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
