//! /dev/kmsg, /proc/kcore, /proc/kallsyms, lockdown, capabilities and sysctls.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use kscope_sys::caps::{self, cap};

use super::{Context, errno};
use crate::{Check, State};

pub(crate) fn run(ctx: &Context) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(kmsg(ctx));
    out.push(kcore(ctx));
    let (kallsyms, kallsyms_all) = kallsyms(ctx);
    out.push(kallsyms);
    out.push(kallsyms_all);
    out.push(lockdown(ctx));
    out.push(capabilities(ctx));
    out.push(cap_sys_resource(ctx));
    out.push(sysctl_check(
        "perf_event_paranoid",
        "perf_event_paranoid",
        "root and CAP_PERFMON are not limited by it; for other users -1 or 0 allows kernel profiling",
    ));
    out.push(sysctl_check(
        "kptr_restrict",
        "kptr_restrict",
        "0 or 1 (for root) shows real addresses in /proc/kallsyms",
    ));
    out.push(sysctl_check(
        "unprivileged_bpf_disabled",
        "unprivileged_bpf_disabled",
        "kscope runs BPF as root, so this only matters for other users",
    ));
    out.push(sysctl_check(
        "bpf_stats",
        "bpf_stats_enabled",
        "kscope enables it only while measuring per-program run time, and restores it",
    ));
    out
}

/// Reads `/proc/sys/kernel/<name>`, trimmed.
pub(crate) fn read_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn sysctl_check(check: &'static str, file: &str, about: &str) -> Check {
    match read_sysctl(file) {
        Some(v) => Check::ok(check, format!("kernel.{file} = {v} ({about})")),
        None => Check::not(
            check,
            State::Absent,
            format!("/proc/sys/kernel/{file} does not exist on this kernel"),
            "",
        ),
    }
}

fn kmsg(ctx: &Context) -> Check {
    const NAME: &str = "kmsg";
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg");
    let mut file = match file {
        Ok(f) => f,
        Err(e) if errno::code(&e) == libc::ENOENT => {
            return Check::not(
                NAME,
                State::Absent,
                "/dev/kmsg does not exist (CONFIG_PRINTK unset, or /dev not populated)",
                "mount devtmpfs on /dev",
            );
        }
        Err(e) => {
            let restrict = read_sysctl("dmesg_restrict").unwrap_or_else(|| "?".into());
            return Check::not(
                NAME,
                State::Blocked,
                format!(
                    "opening /dev/kmsg: {} (kernel.dmesg_restrict={restrict})",
                    errno::describe(&e)
                ),
                if ctx.has_cap(cap::SYS_ADMIN) {
                    "check the LSM policy"
                } else {
                    "run as root (CAP_SYSLOG)"
                },
            );
        }
    };
    let mut record = vec![0u8; 8192];
    match file.read(&mut record) {
        Ok(_) => Check::ok(NAME, "read a record from /dev/kmsg"),
        Err(e) if errno::code(&e) == libc::EAGAIN => {
            Check::ok(NAME, "opened /dev/kmsg (the log is empty)")
        }
        Err(e) if errno::code(&e) == libc::EPIPE => Check::ok(
            NAME,
            "read /dev/kmsg (a record was overwritten while reading)",
        ),
        Err(e) => Check::not(
            NAME,
            State::Unknown,
            format!("reading /dev/kmsg: {}", errno::describe(&e)),
            "",
        ),
    }
}

fn kcore(ctx: &Context) -> Check {
    const NAME: &str = "kcore";
    match std::fs::File::open("/proc/kcore") {
        Ok(_) => Check::ok(NAME, "/proc/kcore opens"),
        Err(e) if errno::code(&e) == libc::ENOENT => Check::not(
            NAME,
            State::Absent,
            "/proc/kcore does not exist: CONFIG_PROC_KCORE is not set",
            "use a kernel built with CONFIG_PROC_KCORE=y; kscope reads kernel objects through BPF instead",
        ),
        Err(e) => {
            let mode = ctx.lockdown_mode().map_or("?", |m| m.as_str());
            Check::not(
                NAME,
                State::Blocked,
                format!(
                    "opening /proc/kcore: {} (lockdown={mode})",
                    errno::describe(&e)
                ),
                "lockdown=confidentiality forbids reading kernel memory; boot with a weaker lockdown if permitted",
            )
        }
    }
}

/// What one read of /proc/kallsyms showed.
#[derive(Debug, Clone, Default)]
pub(crate) struct KallsymsScan {
    pub(crate) error: Option<String>,
    pub(crate) symbols: usize,
    pub(crate) addresses_visible: bool,
    pub(crate) data_symbols: bool,
    pub(crate) kprobe_target: Option<String>,
}

/// Reads /proc/kallsyms once: symbol count, whether addresses are shown, whether data
/// symbols (`init_task`, `jiffies`) are listed, and a function good for a test kprobe.
pub(crate) fn scan_kallsyms() -> KallsymsScan {
    let text = match std::fs::read_to_string("/proc/kallsyms") {
        Ok(t) => t,
        Err(e) => {
            return KallsymsScan {
                error: Some(errno::describe(&e)),
                ..Default::default()
            };
        }
    };
    let mut scan = KallsymsScan::default();
    const TARGETS: [&str; 3] = ["do_sys_openat2", "vfs_read", "do_nanosleep"];
    let mut best_target = usize::MAX;
    for line in text.lines() {
        let mut f = line.split(' ');
        let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        scan.symbols += 1;
        if !scan.addresses_visible && addr.bytes().any(|b| b != b'0') {
            scan.addresses_visible = true;
        }
        if matches!(name, "init_task" | "jiffies") && matches!(kind, "d" | "D" | "b" | "B") {
            scan.data_symbols = true;
        }
        if let Some(rank) = TARGETS.iter().position(|t| *t == name)
            && rank < best_target
            && matches!(kind, "t" | "T")
            && f.next().is_none()
        {
            best_target = rank;
            scan.kprobe_target = Some(name.to_string());
        }
    }
    scan
}

fn kallsyms(ctx: &Context) -> (Check, Check) {
    let scan = ctx.kallsyms().clone();
    if let Some(e) = scan.error {
        let reason = format!("reading /proc/kallsyms: {e}");
        return (
            Check::not(
                "kallsyms",
                State::Absent,
                reason.clone(),
                "CONFIG_KALLSYMS=y is needed",
            ),
            Check::not("kallsyms_all", State::Absent, reason, ""),
        );
    }
    let kptr = read_sysctl("kptr_restrict").unwrap_or_else(|| "?".into());
    let kallsyms = if scan.addresses_visible {
        Check::ok(
            "kallsyms",
            format!("{} symbols with addresses", scan.symbols),
        )
    } else {
        Check::not(
            "kallsyms",
            State::Blocked,
            format!(
                "{} symbols, all addresses zero (kernel.kptr_restrict={kptr})",
                scan.symbols
            ),
            "run as root, or set kernel.kptr_restrict=0 or 1",
        )
    };
    let all = if scan.data_symbols {
        Check::ok(
            "kallsyms_all",
            "data symbols (init_task, jiffies) are listed",
        )
    } else {
        Check::not(
            "kallsyms_all",
            State::Absent,
            "only text symbols are listed (no init_task, jiffies): CONFIG_KALLSYMS_ALL is not set",
            "kscope resolves data through BTF where it can; a kernel with CONFIG_KALLSYMS_ALL=y lists them",
        )
    };
    (kallsyms, all)
}

fn lockdown(ctx: &Context) -> Check {
    const NAME: &str = "lockdown";
    match &ctx.lockdown {
        Some(l) if l.mode == kscope_sys::lockdown::LockdownMode::None => {
            Check::ok(NAME, "lockdown=none: nothing is restricted")
        }
        Some(l) => Check::not(
            NAME,
            State::Blocked,
            format!(
                "lockdown={}: the kernel refuses features that could change{} it (the function tracers, writes to kernel memory{})",
                l.mode.as_str(),
                if l.mode == kscope_sys::lockdown::LockdownMode::Confidentiality {
                    " or read"
                } else {
                    ""
                },
                if l.mode == kscope_sys::lockdown::LockdownMode::Confidentiality {
                    ", /proc/kcore, BPF reads of kernel memory"
                } else {
                    ""
                }
            ),
            "boot with lockdown=none if the kernel allows it; kscope uses what lockdown permits",
        ),
        None => Check::ok(
            NAME,
            "no lockdown LSM (no /sys/kernel/security/lockdown): nothing is restricted",
        ),
    }
}

fn capabilities(ctx: &Context) -> Check {
    const NAME: &str = "capabilities";
    let Some(mask) = ctx.cap_eff else {
        return Check::not(
            NAME,
            State::Unknown,
            "could not read CapEff from /proc/self/status",
            "",
        );
    };
    let wanted = [cap::SYS_ADMIN, cap::BPF, cap::PERFMON];
    let have: Vec<&str> = wanted
        .iter()
        .filter(|c| caps::has(mask, **c))
        .map(|c| caps::name(*c))
        .collect();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !caps::has(mask, **c))
        .map(|c| caps::name(*c))
        .collect();
    if caps::has(mask, cap::SYS_ADMIN) || missing.is_empty() {
        Check::ok(NAME, format!("CapEff={mask:#x}: {}", have.join(", ")))
    } else {
        Check::not(
            NAME,
            State::Blocked,
            format!("CapEff={mask:#x}: missing {}", missing.join(", ")),
            "run kscope as root",
        )
    }
}

fn cap_sys_resource(ctx: &Context) -> Check {
    const NAME: &str = "cap_sys_resource";
    match ctx.cap_eff {
        Some(mask) if caps::has(mask, cap::SYS_RESOURCE) => Check::ok(
            NAME,
            "CAP_SYS_RESOURCE is effective (RLIMIT_MEMLOCK can be raised)",
        ),
        Some(_) => Check::not(
            NAME,
            State::Blocked,
            "CAP_SYS_RESOURCE is not in CapEff: RLIMIT_MEMLOCK cannot be raised",
            "none needed on Linux ≥ 5.11, where BPF memory is charged to the memory cgroup",
        ),
        None => Check::not(NAME, State::Unknown, "could not read CapEff", ""),
    }
}
