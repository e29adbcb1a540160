//! Kernel ABI for kscope: bpf(2), perf_event_open, mounts, capabilities, lockdown and the
//! few other system calls kscope needs. All of kscope's `unsafe` code lives in this crate;
//! it holds no policy, only thin, documented wrappers that return `std::io::Result`.

pub mod bpf;
pub mod bpf_ringbuf;
pub mod caps;
pub mod fs;
pub mod futex;
pub mod gate;
pub mod lock;
pub mod lockdown;
pub mod madvise;
pub mod mmap;
pub mod mmap_private;
pub mod mounts;
pub mod perf;
pub mod poll;
pub mod process;
pub mod reaper;
pub mod splice;
pub mod trace_mmap;
