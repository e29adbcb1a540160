//! bpf(2): the syscall, each program type kscope loads, each map type, and BTF.

use kscope_bpf::{Map, MapSpec, MapType, ProgType, Program};

use super::{Context, errno};
use crate::{Check, State};

pub(crate) fn run(ctx: &Context) -> Vec<Check> {
    let mut out = Vec::new();
    let bpf = bpf_syscall(ctx);
    let usable = bpf.available;
    out.push(bpf);
    let btf = kscope_btf::Btf::open_sys_vmlinux();
    for (name, prog_type) in [
        ("bpf_tracepoint", ProgType::Tracepoint),
        ("bpf_raw_tracepoint", ProgType::RawTracepoint),
        ("bpf_kprobe", ProgType::Kprobe),
        ("bpf_perf_event", ProgType::PerfEvent),
    ] {
        out.push(if usable {
            program(name, kscope_bpf::minimal_program(prog_type))
        } else {
            needs_bpf(name)
        });
    }
    out.push(if usable {
        bpf_tracing(btf.as_ref().ok())
    } else {
        needs_bpf("bpf_tracing")
    });
    let page = kscope_sys::bpf::page_size() as u32;
    let cpus = kscope_sys::process::possible_cpus() as u32;
    for (name, spec) in [
        ("map_hash", map_spec(MapType::Hash, 8, 8, 16)),
        ("map_percpu_hash", map_spec(MapType::PercpuHash, 8, 8, 16)),
        ("map_array", map_spec(MapType::Array, 4, 8, 1)),
        ("map_percpu_array", map_spec(MapType::PercpuArray, 4, 8, 1)),
        ("ringbuf", map_spec(MapType::Ringbuf, 0, 0, page)),
        (
            "map_stack_trace",
            map_spec(MapType::StackTrace, 4, 8 * 127, 16),
        ),
        (
            "map_perf_event_array",
            map_spec(MapType::PerfEventArray, 4, 4, cpus),
        ),
    ] {
        out.push(if usable {
            map(name, &spec)
        } else {
            needs_bpf(name)
        });
    }
    out.push(match btf {
        Ok(btf) => Check::ok(
            "btf",
            format!("/sys/kernel/btf/vmlinux parses: {} types", btf.type_count()),
        ),
        Err(e) if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() => Check::not(
            "btf",
            State::Absent,
            format!(
                "/sys/kernel/btf/vmlinux does not exist: CONFIG_DEBUG_INFO_BTF is not set ({e})"
            ),
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux ≥ 5.4; most distributions)",
        ),
        Err(e) => Check::not(
            "btf",
            State::Unknown,
            format!("parsing vmlinux BTF: {e}"),
            "",
        ),
    });
    out
}

fn map_spec(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec {
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
        name: "kscope_doctor".into(),
    }
}

fn needs_bpf(name: &'static str) -> Check {
    Check::not(
        name,
        State::Unknown,
        "not probed: the bpf syscall is unusable (see the bpf check)",
        "fix the bpf check first",
    )
}

fn bpf_syscall(ctx: &Context) -> Check {
    const NAME: &str = "bpf";
    match Map::create(&map_spec(MapType::Array, 4, 8, 1)) {
        Ok(_map) => Check::ok(NAME, "bpf(2) works: created an array map"),
        Err(e) => {
            let io = map_error_errno(&e);
            let code = io.map_or(0, errno::code);
            let text = io.map_or_else(|| e.to_string(), errno::describe);
            if code == libc::ENOSYS {
                Check::not(
                    NAME,
                    State::Absent,
                    format!("bpf(2): {text}: CONFIG_BPF_SYSCALL is not set"),
                    "use a kernel built with CONFIG_BPF_SYSCALL=y",
                )
            } else if code == libc::EPERM {
                let unpriv = super::host::read_sysctl("unprivileged_bpf_disabled")
                    .unwrap_or_else(|| "?".into());
                let caps = if ctx.has_cap(kscope_sys::caps::cap::SYS_ADMIN) {
                    "even with CAP_SYS_ADMIN (an LSM or lockdown refuses it)".to_string()
                } else {
                    format!(
                        "without CAP_BPF/CAP_SYS_ADMIN (kernel.unprivileged_bpf_disabled={unpriv})"
                    )
                };
                Check::not(
                    NAME,
                    State::Blocked,
                    format!("bpf(2): {text} {caps}"),
                    "run kscope as root",
                )
            } else {
                Check::not(
                    NAME,
                    State::Unknown,
                    format!("bpf(2) map create: {text}"),
                    "",
                )
            }
        }
    }
}

fn first_log_line(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("processed "))
        .unwrap_or("")
        .trim();
    if line.is_empty() {
        String::new()
    } else {
        format!("; verifier: {line}")
    }
}

fn program(name: &'static str, spec: kscope_bpf::ProgramSpec) -> Check {
    let type_name = spec.prog_type.name();
    match Program::load(&spec) {
        Ok(_prog) => Check::ok(name, format!("loaded a program of type {type_name}")),
        Err(e) => {
            let text = errno::describe(&e.errno);
            let state = match errno::code(&e.errno) {
                libc::EINVAL | libc::EOPNOTSUPP | 524 => State::Absent,
                libc::EPERM | libc::EACCES => State::Blocked,
                _ => State::Unknown,
            };
            Check::not(
                name,
                state,
                format!(
                    "loading a {type_name} program: {text}{}",
                    first_log_line(&e.log)
                ),
                "use a kernel that supports this program type (see CONFIG_BPF_EVENTS)",
            )
        }
    }
}

fn bpf_tracing(btf: Option<&kscope_btf::Btf>) -> Check {
    const NAME: &str = "bpf_tracing";
    let Some(btf) = btf else {
        return Check::not(
            NAME,
            State::Absent,
            "fentry/fexit programs need vmlinux BTF, which this kernel lacks",
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
        );
    };
    let target = ["do_nanosleep", "vfs_read", "do_sys_openat2"]
        .into_iter()
        .find_map(|f| {
            btf.find_by_name(kscope_btf::Kind::Func, f)
                .map(|id| (f, id))
        });
    let Some((func, id)) = target else {
        return Check::not(
            NAME,
            State::Unknown,
            "no known kernel function in BTF to attach to",
            "",
        );
    };
    let mut spec = kscope_bpf::minimal_program(ProgType::Tracing);
    spec.expected_attach_type = kscope_sys::bpf::attach_type::TRACE_FENTRY;
    spec.attach_btf_id = id;
    match Program::load(&spec) {
        Ok(_prog) => Check::ok(NAME, format!("loaded an fentry program for {func}")),
        Err(e) => {
            let text = errno::describe(&e.errno);
            let log = if e.log.trim().is_empty() {
                " with an empty verifier log (refused before verification)".to_string()
            } else {
                first_log_line(&e.log)
            };
            let state = match errno::code(&e.errno) {
                libc::EPERM | libc::EACCES => State::Blocked,
                _ => State::Absent,
            };
            Check::not(
                NAME,
                state,
                format!("loading fentry/{func}: {text}{log}"),
                "fentry/fexit need BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) and a kernel that allows them; kscope uses tracepoints, raw tracepoints and kprobes instead",
            )
        }
    }
}

fn map(name: &'static str, spec: &MapSpec) -> Check {
    let type_name = spec.map_type.name();
    match Map::create(spec) {
        Ok(_map) => Check::ok(name, format!("created a map of type {type_name}")),
        Err(e) => {
            let io = map_error_errno(&e);
            let text = io.map_or_else(|| e.to_string(), errno::describe);
            let state = match io.map_or(0, errno::code) {
                libc::EINVAL | libc::EOPNOTSUPP | 524 => State::Absent,
                libc::EPERM | libc::EACCES => State::Blocked,
                _ => State::Unknown,
            };
            Check::not(
                name,
                state,
                format!("creating a map of type {type_name}: {text}"),
                "use a kernel that has this map type",
            )
        }
    }
}

fn map_error_errno(e: &kscope_bpf::BpfError) -> Option<&std::io::Error> {
    match e {
        kscope_bpf::BpfError::MapCreate { source, .. } => Some(source),
        _ => None,
    }
}
