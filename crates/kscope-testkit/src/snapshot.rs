//! Snapshots of the global kernel state that kscope must leave as it found it.

use kscope_ftrace::Tracefs;

/// tracefs top-level settings, instances, dynamic events and loaded BPF objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelState {
    /// Names under `instances/`.
    pub instances: Vec<String>,
    /// Every line of kprobe_events / uprobe_events.
    pub dynamic_events: Vec<String>,
    /// Top-level `tracing_on`.
    pub tracing_on: String,
    /// Top-level `current_tracer`.
    pub current_tracer: String,
    /// Top-level `set_event`.
    pub set_event: String,
    /// Top-level `buffer_size_kb`.
    pub buffer_size_kb: String,
    /// Top-level `trace_clock`.
    pub trace_clock: String,
    /// Ids of loaded BPF programs.
    pub bpf_programs: Vec<u32>,
    /// Ids of BPF maps.
    pub bpf_maps: Vec<u32>,
    /// Ids of BPF links.
    pub bpf_links: Vec<u32>,
}

impl KernelState {
    /// Reads the current state. tracefs must be mounted (doctor mounts it).
    pub fn capture() -> KernelState {
        let tracefs = Tracefs::require().expect("tracefs must be mounted to snapshot it");
        let read = |f: &str| tracefs.read(f).unwrap_or_else(|e| format!("<{e}>"));
        let mut dynamic_events: Vec<String> = kscope_ftrace::dynevent::list(&tracefs)
            .expect("listing dynamic events")
            .into_iter()
            .map(|e| e.line)
            .collect();
        dynamic_events.sort();
        let ids = |kind| kscope_bpf::loaded_ids(kind).expect("listing BPF object ids");
        KernelState {
            instances: tracefs.instance_names().expect("listing instances"),
            dynamic_events,
            tracing_on: read("tracing_on"),
            current_tracer: read("current_tracer"),
            set_event: read("set_event"),
            buffer_size_kb: read("buffer_size_kb"),
            trace_clock: read("trace_clock"),
            bpf_programs: ids(kscope_sys::bpf::IdKind::Prog),
            bpf_maps: ids(kscope_sys::bpf::IdKind::Map),
            bpf_links: ids(kscope_sys::bpf::IdKind::Link),
        }
    }

    /// Instances whose names start with `kscope-`.
    pub fn kscope_instances(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|n| n.starts_with("kscope-"))
            .cloned()
            .collect()
    }
}
