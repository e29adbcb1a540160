//! tracefs, debugfs, tracepoints, the ring-buffer mapping, tracers, hist triggers and the
//! dynamic probes (kprobes, uprobes).

use std::path::{Path, PathBuf};

use kscope_ftrace::dynevent::{self, ProbeKind};
use kscope_ftrace::{Instance, MountOutcome, Tracefs, TracefsError};
use kscope_session::OwnedInstance;
use kscope_sys::caps::cap;

use super::{Context, errno};
use crate::{Check, State};

/// Checks that need the private instance, which is removed at the end.
pub(crate) fn instance_checks(ctx: &Context, owned: Option<OwnedInstance>) -> Vec<Check> {
    let instance = owned.as_deref();
    let checks = vec![
        tracepoints(instance),
        ring_buffer_mmap(instance),
        subbuf_size(ctx, instance),
        tracer(
            ctx,
            instance,
            "function_tracer",
            "function",
            "CONFIG_FUNCTION_TRACER",
        ),
        tracer(
            ctx,
            instance,
            "function_graph_tracer",
            "function_graph",
            "CONFIG_FUNCTION_GRAPH_TRACER",
        ),
        hist_triggers(ctx, instance),
    ];
    if let Some(owned) = owned
        && let Err(e) = owned.remove()
    {
        ctx.note(format!(
            "could not remove the doctor's private instance: {e}"
        ));
    }
    checks
}

fn filesystem_known(fstype: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some(fstype))
        })
        .unwrap_or(true)
}

/// Reason and remedy for an EPERM/EACCES from the kernel, telling lockdown from a missing
/// capability.
fn permission(
    ctx: &Context,
    what: &str,
    e_text: &str,
    lockdown_blocks: bool,
) -> (State, String, String) {
    if !ctx.has_cap(cap::SYS_ADMIN) {
        return (
            State::Blocked,
            format!("{what}: {e_text}: this process lacks CAP_SYS_ADMIN"),
            "run kscope as root (sudo kscope …)".into(),
        );
    }
    if lockdown_blocks && ctx.locked_down() {
        let mode = ctx.lockdown_mode().map_or("?", |m| m.as_str());
        return (
            State::Blocked,
            format!("{what}: {e_text} under lockdown={mode}"),
            "boot with lockdown=none if the kernel permits it (lockdown forced by the kernel config cannot be lifted)".into(),
        );
    }
    (
        State::Blocked,
        format!("{what}: {e_text}"),
        "check the security policy (LSM) in force".into(),
    )
}

/// Finds or mounts tracefs and creates the doctor's private instance.
pub(crate) fn mount_and_instance(ctx: &mut Context) -> (Check, Option<OwnedInstance>) {
    const NAME: &str = "tracefs";
    if !filesystem_known("tracefs") {
        return (
            Check::not(
                NAME,
                State::Absent,
                "tracefs is not in /proc/filesystems: CONFIG_TRACING is not set",
                "use a kernel built with CONFIG_FTRACE=y and CONFIG_TRACING=y",
            ),
            None,
        );
    }
    let (tracefs, outcome) = match Tracefs::mount() {
        Ok(found) => found,
        Err(e) => {
            let (state, reason, remedy) =
                permission(ctx, "mounting tracefs", &e.to_string(), false);
            return (Check::not(NAME, state, reason, remedy), None);
        }
    };
    if let MountOutcome::Mounted(path) = &outcome {
        ctx.note(format!(
            "tracefs was not mounted: mounted it on {}",
            path.display()
        ));
    }
    let root = tracefs.root().display().to_string();
    let result = ctx.session.create_instance(&tracefs, "doctor");
    ctx.tracefs = Some(tracefs);
    match result {
        Ok(instance) => (
            Check::ok(NAME, format!("mounted on {root}; private instances work")),
            Some(instance),
        ),
        Err(e) => (
            Check::not(
                NAME,
                State::Unknown,
                format!("mounted on {root}, but creating a private instance failed: {e}"),
                "kernels before 3.x lack instances; check that kscope runs as root",
            ),
            None,
        ),
    }
}

pub(crate) fn debugfs(ctx: &Context) -> Check {
    const NAME: &str = "debugfs";
    if !filesystem_known("debugfs") {
        return Check::not(
            NAME,
            State::Absent,
            "debugfs is not in /proc/filesystems: CONFIG_DEBUG_FS is not set",
            "use a kernel built with CONFIG_DEBUG_FS=y",
        );
    }
    let mounted = kscope_sys::mounts::find_fstype("debugfs")
        .ok()
        .and_then(|m| m.into_iter().next());
    let path = match mounted {
        Some(p) => p,
        None => {
            let target = PathBuf::from("/sys/kernel/debug");
            if let Err(e) = kscope_sys::mounts::mount_pseudo("debugfs", &target) {
                let (state, reason, remedy) =
                    permission(ctx, "mounting debugfs", &errno::describe(&e), true);
                return Check::not(NAME, state, reason, remedy);
            }
            ctx.note(format!(
                "debugfs was not mounted: mounted it on {}",
                target.display()
            ));
            target
        }
    };
    let mut reason = format!("mounted on {}", path.display());
    if ctx.locked_down() {
        reason.push_str("; lockdown limits it to plain read-only files");
    }
    Check::ok(NAME, reason)
}

fn no_instance(name: &'static str) -> Check {
    Check::not(
        name,
        State::Unknown,
        "not probed: no private tracefs instance (see the tracefs check)",
        "fix the tracefs check first",
    )
}

fn tracepoints(instance: Option<&Instance>) -> Check {
    const NAME: &str = "tracepoints";
    let Some(instance) = instance else {
        return no_instance(NAME);
    };
    let (system, event) = if instance.path("events/sched/sched_switch").exists() {
        ("sched".to_string(), "sched_switch".to_string())
    } else {
        match first_event(&instance.path("events")) {
            Some(found) => found,
            None => {
                return Check::not(
                    NAME,
                    State::Absent,
                    "tracefs lists no events: CONFIG_EVENT_TRACING is not set",
                    "use a kernel with tracepoint events",
                );
            }
        }
    };
    let count = std::fs::read_dir(instance.path("events"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0);
    // Removing the instance disables the event: disabling it here too would cost another
    // RCU grace period.
    match instance.set_event_enabled(&system, &event, true) {
        Ok(()) => Check::ok(
            NAME,
            format!("enabled {system}:{event} in a private instance ({count} event systems)"),
        ),
        Err(e) => Check::not(
            NAME,
            State::Unknown,
            format!("enabling {system}:{event}: {e}"),
            "",
        ),
    }
}

fn first_event(events: &Path) -> Option<(String, String)> {
    for system in std::fs::read_dir(events).ok()?.filter_map(|e| e.ok()) {
        if !system.path().is_dir() {
            continue;
        }
        for event in std::fs::read_dir(system.path())
            .ok()?
            .filter_map(|e| e.ok())
        {
            if event.path().join("enable").exists() {
                return Some((
                    system.file_name().to_string_lossy().into_owned(),
                    event.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    None
}

fn ring_buffer_mmap(instance: Option<&Instance>) -> Check {
    const NAME: &str = "ring_buffer_mmap";
    let Some(instance) = instance else {
        return no_instance(NAME);
    };
    let path = instance.path("per_cpu/cpu0/trace_pipe_raw");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            return Check::not(
                NAME,
                State::Unknown,
                format!("opening {}: {}", path.display(), errno::describe(&e)),
                "",
            );
        }
    };
    use std::os::fd::AsFd;
    let page = kscope_sys::bpf::page_size();
    match kscope_sys::mmap::Mapping::read_only(file.as_fd(), page) {
        Ok(_mapping) => Check::ok(NAME, "trace_pipe_raw can be memory-mapped (kernel ≥ 6.10)"),
        Err(e) => Check::not(
            NAME,
            State::Absent,
            format!(
                "mmap of trace_pipe_raw: {} (ring-buffer mapping needs Linux ≥ 6.10)",
                errno::describe(&e)
            ),
            "nothing to do: kscope reads with splice() instead",
        ),
    }
}

/// Whether the ring buffer's sub-buffer size can be changed (`buffer_subbuf_size_kb`,
/// Linux ≥ 6.8). Some kernel builds list the file but refuse every write.
fn subbuf_size(ctx: &Context, instance: Option<&Instance>) -> Check {
    const NAME: &str = "ring_buffer_subbuf_size";
    const FILE: &str = "buffer_subbuf_size_kb";
    let Some(instance) = instance else {
        return no_instance(NAME);
    };
    if !instance.path(FILE).exists() {
        return Check::not(
            NAME,
            State::Absent,
            format!("the instance has no {FILE} (sub-buffers larger than a page need Linux ≥ 6.8)"),
            "nothing to do: the ring buffer uses one page per sub-buffer",
        );
    }
    let original = match instance.read(FILE) {
        Ok(text) => text.trim().to_string(),
        Err(e) => return Check::not(NAME, State::Unknown, format!("reading {FILE}: {e}"), ""),
    };
    let larger = original
        .parse::<u64>()
        .map_or_else(|_| "8".to_string(), |kb| (kb * 2).to_string());
    match instance.write(FILE, &larger) {
        Ok(()) => match instance.write(FILE, &original) {
            Ok(()) => Check::ok(
                NAME,
                format!("{FILE} set to {larger} and back to {original} in a private instance"),
            ),
            Err(e) => Check::not(
                NAME,
                State::Unknown,
                format!("set {FILE} to {larger} but could not restore {original}: {e}"),
                "",
            ),
        },
        Err(e) => {
            if let Some(errno @ (libc::EPERM | libc::EACCES)) = e.raw_os_error() {
                let text = format!("writing {larger} to {FILE}");
                let e_text = errno::describe(&std::io::Error::from_raw_os_error(errno));
                let (state, reason, _) = permission(ctx, &text, &e_text, false);
                Check::not(
                    NAME,
                    state,
                    reason,
                    "nothing to do: kscope records with the kernel's sub-buffer size",
                )
            } else {
                Check::not(NAME, State::Unknown, e.to_string(), "")
            }
        }
    }
}

fn tracer(
    ctx: &Context,
    instance: Option<&Instance>,
    name: &'static str,
    tracer: &str,
    config: &str,
) -> Check {
    let Some(tracefs) = ctx.tracefs.as_ref() else {
        return no_instance(name);
    };
    let listed = tracefs
        .read("available_tracers")
        .map(|t| t.split_whitespace().any(|w| w == tracer))
        .unwrap_or(false);
    if !listed {
        return Check::not(
            name,
            State::Absent,
            format!("available_tracers does not list {tracer}: {config} is not set"),
            format!("use a kernel built with {config}=y; tracepoints still work"),
        );
    }
    let Some(instance) = instance else {
        return no_instance(name);
    };
    match instance.set_tracer(tracer) {
        Ok(()) => {
            let restored = instance.set_tracer("nop");
            match restored {
                Ok(()) => Check::ok(name, format!("selected {tracer} in a private instance")),
                Err(e) => Check::not(
                    name,
                    State::Unknown,
                    format!("selected {tracer} but could not restore nop: {e}"),
                    "",
                ),
            }
        }
        // Listed, but refused in an instance: older kernels run some tracers (function_graph
        // before 6.x) only in the top-level buffer, which kscope never takes over.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Check::not(
            name,
            State::Absent,
            format!(
                "selecting {tracer} in a private instance: EINVAL: this kernel runs {tracer} only in the top-level buffer"
            ),
            format!(
                "a newer kernel runs {tracer} in instances; kscope does not take over the top-level buffer"
            ),
        ),
        Err(e) => tracefs_refusal(ctx, name, &format!("selecting the {tracer} tracer"), &e),
    }
}

fn tracefs_refusal(ctx: &Context, name: &'static str, what: &str, e: &TracefsError) -> Check {
    let code = e.raw_os_error().unwrap_or(0);
    let e_text = e
        .raw_os_error()
        .map(|c| errno::describe(&std::io::Error::from_raw_os_error(c)))
        .unwrap_or_else(|| e.to_string());
    if code == libc::EPERM || code == libc::EACCES {
        let (state, reason, remedy) = permission(ctx, what, &e_text, true);
        return Check::not(name, state, reason, remedy);
    }
    Check::not(name, State::Unknown, format!("{what}: {e}"), "")
}

fn hist_triggers(ctx: &Context, instance: Option<&Instance>) -> Check {
    const NAME: &str = "hist_triggers";
    let Some(instance) = instance else {
        return no_instance(NAME);
    };
    let event = "events/sched/sched_switch";
    if !instance.path(event).exists() {
        return Check::not(
            NAME,
            State::Unknown,
            "no sched:sched_switch event to probe with",
            "",
        );
    }
    if !instance.path(&format!("{event}/hist")).exists() {
        return Check::not(
            NAME,
            State::Absent,
            "events have no hist file: CONFIG_HIST_TRIGGERS is not set",
            "use a kernel built with CONFIG_HIST_TRIGGERS=y; kscope aggregates in BPF instead",
        );
    }
    let trigger = format!("{event}/trigger");
    match instance.write(&trigger, "hist:keys=common_pid") {
        Ok(()) => match instance.append(&trigger, "!hist:keys=common_pid") {
            Ok(()) => Check::ok(NAME, "set and removed a hist trigger on sched:sched_switch"),
            Err(e) => Check::not(
                NAME,
                State::Unknown,
                format!("removing the hist trigger: {e}"),
                "",
            ),
        },
        Err(e) => tracefs_refusal(ctx, NAME, "setting a hist trigger", &e),
    }
}

pub(crate) fn kprobes(ctx: &Context) -> Vec<Check> {
    vec![kprobes_check(ctx)]
}

fn kprobes_check(ctx: &Context) -> Check {
    const NAME: &str = "kprobes";
    let Some(tracefs) = ctx.tracefs.clone() else {
        return no_instance(NAME);
    };
    let events = dynevent::supported(&tracefs, ProbeKind::Kprobe);
    let pmu = kscope_sys::perf::pmu_type("kprobe").ok();
    if !events && pmu.is_none() {
        return Check::not(
            NAME,
            State::Absent,
            "no kprobe_events and no kprobe PMU: CONFIG_KPROBES is not set",
            "use a kernel built with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y; tracepoints and uprobes still work",
        );
    }
    let symbol = ctx.kallsyms().kprobe_target.clone();
    let Some(symbol) = symbol else {
        return Check::not(
            NAME,
            State::Unknown,
            "no probe-able kernel function found in /proc/kallsyms",
            "",
        );
    };
    let mut how = Vec::new();
    if events {
        match ctx
            .session
            .add_dynamic_event(&tracefs, ProbeKind::Kprobe, 'p', "doctor_kprobe", &symbol)
            .and_then(|ev| ev.remove())
        {
            Ok(()) => how.push("kprobe_events"),
            Err(e) => {
                return session_refusal(ctx, NAME, &format!("creating a kprobe on {symbol}"), &e);
            }
        }
    }
    if let Some(pmu) = pmu {
        match kscope_sys::perf::open_kprobe(pmu, &symbol, 0, 0) {
            Ok(_fd) => how.push("the kprobe PMU"),
            Err(e) => {
                return Check::not(
                    NAME,
                    State::Unknown,
                    format!("kprobe PMU on {symbol}: {}", errno::describe(&e)),
                    "",
                );
            }
        }
    }
    Check::ok(
        NAME,
        format!("probed {symbol} through {}", how.join(" and ")),
    )
}

fn session_refusal(
    ctx: &Context,
    name: &'static str,
    what: &str,
    e: &kscope_session::SessionError,
) -> Check {
    match e {
        kscope_session::SessionError::Tracefs(t) => tracefs_refusal(ctx, name, what, t),
        other => Check::not(name, State::Unknown, format!("{what}: {other}"), ""),
    }
}

/// A function of our own executable to put a uprobe on.
#[inline(never)]
fn uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x.wrapping_mul(3))
}

pub(crate) fn uprobes(ctx: &Context) -> Vec<Check> {
    vec![uprobes_check(ctx)]
}

fn uprobes_check(ctx: &Context) -> Check {
    const NAME: &str = "uprobes";
    let Some(tracefs) = ctx.tracefs.clone() else {
        return no_instance(NAME);
    };
    let events = dynevent::supported(&tracefs, ProbeKind::Uprobe);
    let pmu = kscope_sys::perf::pmu_type("uprobe").ok();
    if !events && pmu.is_none() {
        return Check::not(
            NAME,
            State::Absent,
            "no uprobe_events and no uprobe PMU: CONFIG_UPROBES / CONFIG_UPROBE_EVENTS is not set",
            "use a kernel built with CONFIG_UPROBE_EVENTS=y",
        );
    }
    std::hint::black_box(uprobe_target(1));
    let Some((path, offset)) =
        kscope_sys::process::code_location(uprobe_target as *const () as u64)
    else {
        return Check::not(
            NAME,
            State::Unknown,
            "could not locate kscope's own code in /proc/self/maps",
            "",
        );
    };
    let mut how = Vec::new();
    if events {
        let spec = format!("{}:0x{offset:x}", path.display());
        match ctx
            .session
            .add_dynamic_event(&tracefs, ProbeKind::Uprobe, 'p', "doctor_uprobe", &spec)
            .and_then(|ev| ev.remove())
        {
            Ok(()) => how.push("uprobe_events"),
            Err(e) => return session_refusal(ctx, NAME, "creating a uprobe event", &e),
        }
    }
    if let Some(pmu) = pmu {
        match kscope_sys::perf::open_uprobe(pmu, &path, offset, 0, -1) {
            Ok(_fd) => how.push("the uprobe PMU"),
            Err(e) => {
                return Check::not(
                    NAME,
                    State::Unknown,
                    format!("uprobe PMU on {}: {}", path.display(), errno::describe(&e)),
                    "",
                );
            }
        }
    }
    Check::ok(
        NAME,
        format!("probed kscope's own code through {}", how.join(" and ")),
    )
}
