//! Effective capabilities of the current process, read from `/proc/self/status`.

use std::io;

/// Capability numbers from `include/uapi/linux/capability.h` that kscope cares about.
pub mod cap {
    /// CAP_SYS_ADMIN: mounts, most of bpf(2) and perf on older kernels.
    pub const SYS_ADMIN: u32 = 21;
    /// CAP_SYS_RESOURCE: raising RLIMIT_MEMLOCK.
    pub const SYS_RESOURCE: u32 = 24;
    /// CAP_PERFMON (Linux ≥ 5.8): perf_event_open and tracing BPF programs.
    pub const PERFMON: u32 = 38;
    /// CAP_BPF (Linux ≥ 5.8): bpf(2) without CAP_SYS_ADMIN.
    pub const BPF: u32 = 39;
}

/// The effective capability mask (`CapEff`) of the current process.
pub fn effective() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_cap_eff(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no CapEff line in /proc/self/status",
        )
    })
}

/// Extracts the `CapEff` mask from the text of a `/proc/<pid>/status` file.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// Whether capability `cap` is set in the mask `mask`.
pub fn has(mask: u64, cap: u32) -> bool {
    cap < 64 && mask & (1u64 << cap) != 0
}

/// The user-space name of a capability number, for messages.
pub fn name(cap: u32) -> &'static str {
    match cap {
        cap::SYS_ADMIN => "CAP_SYS_ADMIN",
        cap::SYS_RESOURCE => "CAP_SYS_RESOURCE",
        cap::PERFMON => "CAP_PERFMON",
        cap::BPF => "CAP_BPF",
        _ => "CAP_?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_eff_and_tests_bits() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        let mask = parse_cap_eff(status).unwrap();
        assert_eq!(mask, 0x1fffeffffff);
        assert!(has(mask, cap::SYS_ADMIN));
        assert!(!has(mask, cap::SYS_RESOURCE));
        assert!(has(mask, cap::BPF));
        assert!(!has(mask, 64));
    }
}
