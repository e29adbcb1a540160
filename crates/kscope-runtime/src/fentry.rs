//! fentry/fexit attach points: which kernel functions a pattern names, and the BTF
//! target a tracing program is loaded against.

use kscope_bpf::ProgramSpec;
use kscope_btf::{Btf, Kind};
use kscope_ftrace::select::glob;
use kscope_lang::ast::{AttachPoint, Provider};
use kscope_lang::btf_types::BtfTypes;

/// The concrete attach points of `fentry:vmlinux:PATTERN` (the module already filled in):
/// itself without wildcards, else every function in the kernel's BTF that matches and that
/// the kernel can trace (`available_filter_functions`, when this kernel lets it be read),
/// sorted. Functions of modules are not built yet.
pub fn expand(ap: &AttachPoint) -> Result<Vec<AttachPoint>, String> {
    let [module, func] = ap.parts.as_slice() else {
        return Err(format!(
            "{} needs `{}:FUNCTION` or `{}:MODULE:FUNCTION`",
            ap.canonical(),
            ap.provider.name(),
            ap.provider.name()
        ));
    };
    if !glob(module, "vmlinux") {
        return Err(format!(
            "{} probes on module functions are not built yet in `kscope run`: \
             only the kernel's own functions (vmlinux)",
            ap.provider.name()
        ));
    }
    let with = |f: String| {
        let mut a = ap.clone();
        a.parts = vec!["vmlinux".to_string(), f];
        a.raw = a.canonical();
        a
    };
    if !func.contains(['*', '?', '[']) {
        return Ok(vec![with(func.clone())]);
    }
    let btf = Btf::open_sys_vmlinux().map_err(|e| {
        format!(
            "wildcards in {} need the kernel's BTF: {e}",
            ap.provider.name()
        )
    })?;
    let names = traceable(&btf, func);
    if names.is_empty() {
        return Err(format!("no probe matches {}", ap.canonical()));
    }
    Ok(names.into_iter().map(with).collect())
}

/// Points a tracing program at its function: `BPF_TRACE_FENTRY`/`FEXIT` and the
/// function's BTF id in vmlinux.
pub fn set_target(
    spec: &mut ProgramSpec,
    ap: &AttachPoint,
    btf: Option<&BtfTypes>,
) -> Result<(), String> {
    let Some(btf) = btf else {
        return Err(format!(
            "{} probes need the kernel's BTF (/sys/kernel/btf/vmlinux), which this kernel \
             does not have",
            ap.provider.name()
        ));
    };
    let Some((_, id)) = btf.function_target(ap) else {
        return Err(format!(
            "the kernel's BTF has no function for {}",
            ap.canonical()
        ));
    };
    spec.expected_attach_type = match ap.provider {
        Provider::Fexit => kscope_sys::bpf::attach_type::TRACE_FEXIT,
        _ => kscope_sys::bpf::attach_type::TRACE_FENTRY,
    };
    spec.attach_btf_id = id;
    Ok(())
}

/// The functions of `btf` that match `pattern` and that fentry/fexit can take: with BTF
/// (a FUNC type) and, when this kernel lets it be read, in `available_filter_functions`;
/// sorted, without repeats.
pub fn traceable(btf: &Btf, pattern: &str) -> Vec<String> {
    let traceable = traceable_functions();
    let mut names: Vec<String> = function_names(btf)
        .into_iter()
        .filter(|n| glob(pattern, n))
        .filter(|n| traceable.as_ref().is_none_or(|t| t.contains(*n)))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether this kernel loads fentry programs (BPF trampolines): an empty one against a
/// function of `btf`. Kernels without trampolines, or that forbid them, refuse it.
pub fn kernel_supports(btf: &Btf) -> bool {
    let Some(id) = ["do_nanosleep", "vfs_read"]
        .into_iter()
        .find_map(|f| btf.find_by_name(Kind::Func, f))
    else {
        return false;
    };
    let mut spec = kscope_bpf::minimal_program(kscope_bpf::ProgType::Tracing);
    spec.expected_attach_type = kscope_sys::bpf::attach_type::TRACE_FENTRY;
    spec.attach_btf_id = id;
    kscope_bpf::Program::load(&spec).is_ok()
}

/// Points an iterator program (`iter:TARGET`) at its target: `BPF_TRACE_ITER` and the
/// BTF id of the kernel's `bpf_iter_TARGET` function. `iter:TARGET:pin` (pinning the
/// iterator in bpffs) is not built yet.
pub fn set_iter_target(
    spec: &mut ProgramSpec,
    ap: &AttachPoint,
    btf: Option<&BtfTypes>,
) -> Result<(), String> {
    if ap.parts.len() > 1 {
        return Err(format!(
            "pinned iterators ({}) are not built yet in `kscope run`",
            ap.canonical()
        ));
    }
    let Some(btf) = btf else {
        return Err(
            "iter probes need the kernel's BTF (/sys/kernel/btf/vmlinux), which this \
                    kernel does not have"
                .to_string(),
        );
    };
    let target = ap.parts.first().map(String::as_str).unwrap_or_default();
    let Some(id) = btf
        .btf()
        .find_by_name(Kind::Func, &format!("bpf_iter_{target}"))
    else {
        return Err(format!("this kernel has no BPF iterator `{target}`"));
    };
    spec.expected_attach_type = kscope_sys::bpf::attach_type::TRACE_ITER;
    spec.attach_btf_id = id;
    Ok(())
}

/// The names of the FUNC types in `btf` (every function the kernel describes).
fn function_names(btf: &Btf) -> Vec<&str> {
    (btf.first_id()..=btf.type_count())
        .filter_map(|id| {
            let t = btf.raw_type(id).ok()?;
            (t.kind == Kind::Func)
                .then(|| btf.string_at(t.name_off).ok())
                .flatten()
        })
        .collect()
}

/// The functions the kernel can trace, from tracefs `available_filter_functions`; `None`
/// when it cannot be read (no function tracer, or lockdown): then every BTF function is
/// offered and the kernel refuses the untraceable ones at load time.
fn traceable_functions() -> Option<std::collections::HashSet<String>> {
    let tracefs = kscope_ftrace::Tracefs::discover().ok().flatten()?;
    let list = tracefs.read("available_filter_functions").ok()?;
    Some(
        list.lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect(),
    )
}
