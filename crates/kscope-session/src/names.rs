//! The naming scheme that marks kernel objects as kscope's and records their owner.

/// Every tracefs instance kscope creates starts with this.
pub const INSTANCE_PREFIX: &str = "kscope-";
/// The dynamic event group (system) of every kprobe/uprobe kscope creates.
pub const DYNAMIC_EVENT_GROUP: &str = "kscope";

/// Reduces a purpose or probe name to `[a-z0-9_]`, which both tracefs directory names and
/// dynamic event names accept.
pub fn sanitize(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "x".into() } else { s }
}

/// `kscope-<pid>-<purpose>`.
pub fn instance_name(pid: u32, purpose: &str) -> String {
    format!("{INSTANCE_PREFIX}{pid}-{}", sanitize(purpose))
}

/// `pid<pid>_<name>`.
pub fn dynamic_event_name(pid: u32, name: &str) -> String {
    format!("pid{pid}_{}", sanitize(name))
}

/// The owner pid of a kscope instance name, `None` if the name is not of the form
/// `kscope-<pid>-…`. Returns `Some(None)`-like information through two levels: the outer
/// `Option` says whether the name is kscope's at all.
pub fn instance_owner(name: &str) -> Option<Option<u32>> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    let pid = rest.split('-').next().and_then(|p| p.parse().ok());
    Some(pid)
}

/// The owner pid of a dynamic event in the kscope group (`pid<pid>_…`); `None` for a
/// kscope event without an owner (a persistent probe from `kscope probe add`).
pub fn dynamic_event_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("pid")?;
    let (pid, _) = rest.split_once('_')?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_their_owner() {
        assert_eq!(instance_name(42, "Record CPU#0"), "kscope-42-record_cpu_0");
        assert_eq!(instance_owner("kscope-42-record"), Some(Some(42)));
        assert_eq!(instance_owner("kscope-doctor"), Some(None));
        assert_eq!(instance_owner("trace-cmd-1"), None);
        assert_eq!(dynamic_event_name(7, "open-at"), "pid7_open_at");
        assert_eq!(dynamic_event_owner("pid7_open_at"), Some(7));
        assert_eq!(dynamic_event_owner("myprobe"), None);
    }
}
