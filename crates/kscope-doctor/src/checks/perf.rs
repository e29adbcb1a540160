//! perf_event_open: software and hardware counters, hardware breakpoints.

use kscope_sys::perf;

use super::{Context, errno};
use crate::{Check, State};

pub(crate) fn run(ctx: &Context) -> Vec<Check> {
    vec![perf_sw(ctx), perf_hw(ctx), perf_breakpoint(ctx)]
}

fn refused(ctx: &Context, name: &'static str, what: &str, e: &std::io::Error) -> Check {
    let code = errno::code(e);
    let paranoid = super::host::read_sysctl("perf_event_paranoid").unwrap_or_else(|| "?".into());
    if code == libc::EACCES || code == libc::EPERM {
        let reason = if ctx.has_cap(kscope_sys::caps::cap::PERFMON)
            || ctx.has_cap(kscope_sys::caps::cap::SYS_ADMIN)
        {
            format!(
                "{what}: {} (lockdown or an LSM refuses it)",
                errno::describe(e)
            )
        } else {
            format!(
                "{what}: {} with kernel.perf_event_paranoid={paranoid} and no CAP_PERFMON",
                errno::describe(e)
            )
        };
        return Check::not(
            name,
            State::Blocked,
            reason,
            "run as root, or lower kernel.perf_event_paranoid",
        );
    }
    if code == libc::ENOSYS {
        return Check::not(
            name,
            State::Absent,
            format!("{what}: ENOSYS: CONFIG_PERF_EVENTS is not set"),
            "use a kernel built with CONFIG_PERF_EVENTS=y",
        );
    }
    Check::not(
        name,
        State::Unknown,
        format!("{what}: {}", errno::describe(e)),
        "",
    )
}

fn perf_sw(ctx: &Context) -> Check {
    const NAME: &str = "perf_sw";
    match perf::open_counter(perf::TYPE_SOFTWARE, perf::SW_CPU_CLOCK) {
        Ok(_fd) => Check::ok(NAME, "opened the cpu-clock software event"),
        Err(e) => refused(ctx, NAME, "perf_event_open(cpu-clock)", &e),
    }
}

/// The check for an event that opened (`ok`), does not exist here (one of `absent`'s
/// errnos: `why` and `fix` say so), or was refused.
struct Probe<'a> {
    name: &'static str,
    what: &'a str,
    ok: &'a str,
    absent: &'a [i32],
    why: &'a str,
    fix: &'a str,
}

impl Probe<'_> {
    fn check(&self, ctx: &Context, opened: std::io::Result<std::os::fd::OwnedFd>) -> Check {
        match opened {
            Ok(_fd) => Check::ok(self.name, self.ok),
            Err(e) if self.absent.contains(&errno::code(&e)) => Check::not(
                self.name,
                State::Absent,
                format!("{}: {}: {}", self.what, errno::describe(&e), self.why),
                self.fix,
            ),
            Err(e) => refused(ctx, self.name, self.what, &e),
        }
    }
}

fn perf_hw(ctx: &Context) -> Check {
    let probe = Probe {
        name: "perf_hw",
        what: "perf_event_open(cycles)",
        ok: "opened the cycles hardware counter",
        absent: &[libc::ENOENT, libc::EOPNOTSUPP, libc::ENODEV],
        why: "no hardware PMU is exposed to this kernel (usual in VMs)",
        fix: "run on bare metal or in a VM with a virtual PMU; software events and tracepoints still work",
    };
    probe.check(
        ctx,
        perf::open_counter(perf::TYPE_HARDWARE, perf::HW_CPU_CYCLES),
    )
}

/// A write watch on a variable of this process (`watchpoint:` probes).
fn perf_breakpoint(ctx: &Context) -> Check {
    static WATCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let kind = perf::BreakpointKind {
        read: false,
        write: true,
        execute: false,
    };
    let probe = Probe {
        name: "perf_breakpoint",
        what: "perf_event_open(breakpoint)",
        ok: "opened a hardware write breakpoint on a variable",
        absent: &[libc::ENOENT, libc::EOPNOTSUPP, libc::ENODEV, libc::ENOSPC],
        why: "no hardware breakpoints here",
        fix: "watchpoint probes need debug registers (CONFIG_HAVE_HW_BREAKPOINT)",
    };
    let addr = WATCHED.as_ptr() as u64;
    probe.check(ctx, perf::open_breakpoint(addr, 8, kind, 0, -1))
}
