//! Process facts: liveness of a pid, the kernel release.

use std::io;

/// Whether a process with this pid exists and has not exited (a zombie waiting to be
/// reaped counts as gone). It may belong to another user.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(raw, 0) };
    let exists = rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// Whether `/proc/<pid>/stat` shows the process as a zombie (state `Z`) or dead (`X`).
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain spaces.
    stat.rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// The running kernel's release string (`uname -r`).
pub fn kernel_release() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/osrelease")?
        .trim()
        .to_string())
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`), which sizes per-CPU
/// kernel objects; falls back to the online count.
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Parses a kernel CPU list such as `0-3,8` and returns the highest index + 1.
pub fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut max = None;
    for part in text.split(',') {
        let last = part.rsplit('-').next()?.trim().parse::<usize>().ok()?;
        max = Some(max.map_or(last, |m: usize| m.max(last)));
    }
    max.map(|m| m + 1)
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The mapped file and file offset of a code address of this process, from
/// `/proc/self/maps` — what a uprobe on that code needs.
pub fn code_location(addr: u64) -> Option<(std::path::PathBuf, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (start, end) = f.next()?.split_once('-')?;
        let _perms = f.next()?;
        let offset = u64::from_str_radix(f.next()?, 16).ok()?;
        let path = f.nth(2)?;
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        ((start..end).contains(&addr) && path.starts_with('/'))
            .then(|| (std::path::PathBuf::from(path), addr - start + offset))
    })
}

/// Sends signal `sig` to process `pid`.
pub fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns()`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_BOOTTIME` in nanoseconds: the clock of `bpf_ktime_get_boot_ns()` (monotonic
/// time plus the time spent suspended).
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn clock_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
}

/// `CLOCK_TAI` minus `CLOCK_BOOTTIME` in nanoseconds: what `nsecs(sw_tai)` adds to
/// `bpf_ktime_get_boot_ns()` (upstream bpftrace's "triple vDSO sandwich": TAI read before
/// and after the boot clock, the tightest of five tries, the boot reading compared with
/// the middle of the two TAI readings).
pub fn tai_minus_boottime_ns() -> Option<i64> {
    let mut best: Option<(i128, i128)> = None;
    for _ in 0..5 {
        let (Some(before), Some(boot), Some(after)) = (
            clock_ns(libc::CLOCK_TAI),
            clock_ns(libc::CLOCK_BOOTTIME),
            clock_ns(libc::CLOCK_TAI),
        ) else {
            continue;
        };
        let spread = after - before;
        if spread < 0 {
            continue; // the clock stepped back
        }
        let delta = (before + after) / 2 - boot;
        if best.is_none_or(|(s, _)| spread < s) {
            best = Some((spread, delta));
        }
    }
    best.and_then(|(_, d)| i64::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_cpu_lists_parse() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,8"), Some(9));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn tai_offset_matches_the_clocks() {
        let d = tai_minus_boottime_ns().expect("CLOCK_TAI and CLOCK_BOOTTIME");
        let tai = clock_ns(libc::CLOCK_TAI).unwrap();
        let boot = clock_ns(libc::CLOCK_BOOTTIME).unwrap();
        // The two readings are microseconds apart; allow a millisecond.
        assert!((tai - boot - i128::from(d)).abs() < 1_000_000, "{d}");
    }
}
