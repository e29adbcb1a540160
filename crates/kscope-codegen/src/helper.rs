//! Numbers of the BPF helpers (`enum bpf_func_id`) code generation calls.

/// `bpf_map_lookup_elem(map, key)`.
pub const MAP_LOOKUP_ELEM: u32 = 1;
/// `bpf_map_update_elem(map, key, value, flags)`.
pub const MAP_UPDATE_ELEM: u32 = 2;
/// `bpf_map_delete_elem(map, key)`.
pub const MAP_DELETE_ELEM: u32 = 3;
/// `bpf_ktime_get_ns()`.
pub const KTIME_GET_NS: u32 = 5;
/// `bpf_ktime_get_boot_ns` (Linux 5.8): `CLOCK_BOOTTIME`.
pub const KTIME_GET_BOOT_NS: u32 = 125;
/// `bpf_ktime_get_tai_ns` (Linux 6.1): `CLOCK_TAI`.
pub const KTIME_GET_TAI_NS: u32 = 208;
/// `bpf_get_prandom_u32()`.
pub const GET_PRANDOM_U32: u32 = 7;
/// `bpf_get_smp_processor_id()`.
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
/// `bpf_get_numa_node_id()`: the NUMA node of the current CPU.
pub const GET_NUMA_NODE_ID: u32 = 42;
/// `bpf_jiffies64()`: the kernel's 64-bit jiffies counter (Linux 5.5).
pub const JIFFIES64: u32 = 118;
/// `bpf_get_current_pid_tgid()`: tgid in the upper 32 bits, tid in the lower.
pub const GET_CURRENT_PID_TGID: u32 = 14;
/// `bpf_get_current_uid_gid()`: gid in the upper 32 bits, uid in the lower.
pub const GET_CURRENT_UID_GID: u32 = 15;
/// `bpf_get_current_comm(buf, size)`.
pub const GET_CURRENT_COMM: u32 = 16;
/// `bpf_per_cpu_ptr(percpu_ptr, cpu)` (Linux 5.10): the variable's address on `cpu`,
/// NULL past the last CPU.
pub const PER_CPU_PTR: u32 = 153;
/// `bpf_this_cpu_ptr(percpu_ptr)` (Linux 5.10): the variable's address on this CPU.
pub const THIS_CPU_PTR: u32 = 154;
/// `bpf_get_current_task()`.
pub const GET_CURRENT_TASK: u32 = 35;
/// `bpf_probe_read_user(dst, size, src)`.
pub const PROBE_READ_USER: u32 = 112;
/// `bpf_probe_read_kernel(dst, size, src)`.
pub const PROBE_READ_KERNEL: u32 = 113;
/// `bpf_probe_read_user_str(dst, size, src)`.
pub const PROBE_READ_USER_STR: u32 = 114;
/// `bpf_probe_read_kernel_str(dst, size, src)`.
pub const PROBE_READ_KERNEL_STR: u32 = 115;
/// `bpf_d_path(path, buf, size)` (Linux 5.10): a `struct path`'s full name; only in
/// iterators and in tracing programs of the kernel's allow-listed functions.
pub const D_PATH: u32 = 147;
/// `bpf_ringbuf_reserve(ringbuf, size, flags)`.
pub const RINGBUF_RESERVE: u32 = 131;
/// `bpf_ringbuf_submit(data, flags)`.
pub const RINGBUF_SUBMIT: u32 = 132;

/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: i32 = 1;
/// `-EEXIST` as a helper returns it.
pub const NEG_EEXIST: i32 = -17;
