//! The program and map types kscope uses, with their kernel numbers.

use std::fmt;

use kscope_sys::bpf::{map_type, prog_type};

/// BPF program types (`enum bpf_prog_type`) that kscope loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (Linux 3.19): needs no attach point, so it is the
    /// cheapest probe of "can this process load BPF at all".
    SocketFilter,
    /// `BPF_PROG_TYPE_KPROBE` (Linux 4.1): kprobes, kretprobes, uprobes and uretprobes;
    /// the context is `struct pt_regs`.
    Kprobe,
    /// `BPF_PROG_TYPE_TRACEPOINT` (Linux 4.7): tracefs tracepoints through perf events; the
    /// context is the event's raw record as described by its `format` file.
    Tracepoint,
    /// `BPF_PROG_TYPE_PERF_EVENT` (Linux 4.9): sampling perf events (profiling, intervals).
    PerfEvent,
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (Linux 4.17): tracepoints with the untranslated
    /// arguments as a `u64` array, attached with `BPF_RAW_TRACEPOINT_OPEN`.
    RawTracepoint,
    /// `BPF_PROG_TYPE_TRACING` (Linux 5.5): fentry/fexit/fmod_ret/tp_btf/iter; needs
    /// `expected_attach_type` (e.g. `BPF_TRACE_FENTRY` = 24) and the BTF id of the target.
    ///
    /// **fentry/fexit do not load on the kscope development VM** (Linux 6.18.44, Firecracker,
    /// x86_64, lockdown=integrity, root with all capabilities): `r0 = 0; exit` with
    /// `expected_attach_type = BPF_TRACE_FENTRY` (or `FEXIT`) and `attach_btf_id` = the vmlinux
    /// BTF id of FUNC `do_nanosleep` (or `vfs_read`) fails with `EPERM` and an **empty**
    /// verifier log, also at log level 1. The refusal comes before the verifier runs: an
    /// `attach_btf_id` of 0 or of a STRUCT gets the same `EPERM` (mainline would answer
    /// `EINVAL` with a log line). On the same kernel, `tp_btf` (`BPF_TRACE_RAW_TP` on typedef
    /// `btf_trace_sched_switch`) and `iter` (`BPF_TRACE_ITER` on FUNC `bpf_iter_task`)
    /// programs of this type do load. Use [`ProgType::RawTracepoint`] or
    /// [`ProgType::Tracepoint`] there, and let `kscope doctor` probe fentry.
    Tracing,
}

impl ProgType {
    /// Every variant, in kernel-number order.
    pub const ALL: [ProgType; 6] = [
        ProgType::SocketFilter,
        ProgType::Kprobe,
        ProgType::Tracepoint,
        ProgType::PerfEvent,
        ProgType::RawTracepoint,
        ProgType::Tracing,
    ];

    /// The kernel's number for this type.
    pub const fn kernel_id(self) -> u32 {
        match self {
            ProgType::SocketFilter => prog_type::SOCKET_FILTER,
            ProgType::Kprobe => prog_type::KPROBE,
            ProgType::Tracepoint => prog_type::TRACEPOINT,
            ProgType::PerfEvent => prog_type::PERF_EVENT,
            ProgType::RawTracepoint => prog_type::RAW_TRACEPOINT,
            ProgType::Tracing => prog_type::TRACING,
        }
    }

    /// The type for a kernel number, if kscope knows it.
    pub fn from_kernel_id(id: u32) -> Option<ProgType> {
        ProgType::ALL.into_iter().find(|t| t.kernel_id() == id)
    }

    /// The name bpftool uses: `socket_filter`, `kprobe`, `tracepoint`, `perf_event`,
    /// `raw_tracepoint` or `tracing`.
    pub const fn name(self) -> &'static str {
        match self {
            ProgType::SocketFilter => "socket_filter",
            ProgType::Kprobe => "kprobe",
            ProgType::Tracepoint => "tracepoint",
            ProgType::PerfEvent => "perf_event",
            ProgType::RawTracepoint => "raw_tracepoint",
            ProgType::Tracing => "tracing",
        }
    }
}

impl fmt::Display for ProgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BPF map types (`enum bpf_map_type`) that kscope creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`: keyed, preallocated by default.
    Hash,
    /// `BPF_MAP_TYPE_ARRAY`: `u32` index keys, all entries exist and start zeroed.
    Array,
    /// `BPF_MAP_TYPE_PERCPU_HASH`: a hash with one value per possible CPU.
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`: an array with one value per possible CPU; also scratch
    /// space larger than the 512-byte stack.
    PercpuArray,
    /// `BPF_MAP_TYPE_STACK_TRACE`: `u32` stack ids to arrays of `u64` addresses, filled by
    /// `bpf_get_stackid`; the value size must be a multiple of 8.
    StackTrace,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one perf buffer fd per CPU for
    /// `bpf_perf_event_output`; key and value are 4 bytes.
    PerfEventArray,
    /// `BPF_MAP_TYPE_RINGBUF` (Linux 5.8): one shared ring; key and value size 0, and
    /// `max_entries` is the ring's size in bytes, a power-of-two multiple of the page size.
    Ringbuf,
    /// `BPF_MAP_TYPE_LRU_HASH`: a hash that evicts the least recently used entry when full.
    LruHash,
}

impl MapType {
    /// Every variant.
    pub const ALL: [MapType; 8] = [
        MapType::Hash,
        MapType::Array,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::StackTrace,
        MapType::PerfEventArray,
        MapType::Ringbuf,
        MapType::LruHash,
    ];

    /// The kernel's number for this type.
    pub const fn kernel_id(self) -> u32 {
        match self {
            MapType::Hash => map_type::HASH,
            MapType::Array => map_type::ARRAY,
            MapType::PercpuHash => map_type::PERCPU_HASH,
            MapType::PercpuArray => map_type::PERCPU_ARRAY,
            MapType::StackTrace => map_type::STACK_TRACE,
            MapType::PerfEventArray => map_type::PERF_EVENT_ARRAY,
            MapType::Ringbuf => map_type::RINGBUF,
            MapType::LruHash => map_type::LRU_HASH,
        }
    }

    /// The type for a kernel number, if kscope knows it.
    pub fn from_kernel_id(id: u32) -> Option<MapType> {
        MapType::ALL.into_iter().find(|t| t.kernel_id() == id)
    }

    /// The name bpftool uses: `hash`, `array`, `percpu_hash`, `percpu_array`,
    /// `stack_trace`, `perf_event_array`, `ringbuf` or `lru_hash`.
    pub const fn name(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::StackTrace => "stack_trace",
            MapType::PerfEventArray => "perf_event_array",
            MapType::Ringbuf => "ringbuf",
            MapType::LruHash => "lru_hash",
        }
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_numbers_and_names() {
        let progs: Vec<(u32, &str)> = ProgType::ALL
            .iter()
            .map(|t| (t.kernel_id(), t.name()))
            .collect();
        assert_eq!(
            progs,
            [
                (1, "socket_filter"),
                (2, "kprobe"),
                (5, "tracepoint"),
                (7, "perf_event"),
                (17, "raw_tracepoint"),
                (26, "tracing")
            ]
        );
        let maps: Vec<u32> = MapType::ALL.iter().map(|t| t.kernel_id()).collect();
        assert_eq!(maps, [1, 2, 5, 6, 7, 4, 27, 9]);
        for t in ProgType::ALL {
            assert_eq!(ProgType::from_kernel_id(t.kernel_id()), Some(t));
        }
        for t in MapType::ALL {
            assert_eq!(MapType::from_kernel_id(t.kernel_id()), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(ProgType::from_kernel_id(0), None);
        assert_eq!(MapType::from_kernel_id(3), None);
    }
}
