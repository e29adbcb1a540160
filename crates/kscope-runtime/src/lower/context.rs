//! What a probe body sees at one attach point: where its arguments come from, the
//! tracepoint fields, and the constants of this run.

use std::sync::Arc;

use kscope_ftrace::format::Field;
use kscope_lang::ast::{AttachPoint, Provider};
use kscope_lang::btf_types::BtfTypes;

/// Where `argN` and `retval` are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    /// No arguments (BEGIN/END, interval, profile, tracepoints use `args`).
    None,
    /// `struct pt_regs` (kprobes, uprobes): x86-64 calling convention.
    PtRegs,
    /// A `u64` argument array: raw tracepoints, and fentry/fexit (whose return value
    /// follows the arguments).
    Raw,
}

/// The facts one attach point gives its probe body.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    /// The attach point.
    pub attach: AttachPoint,
    /// Where arguments come from.
    pub args: ArgSource,
    /// Tracepoint fields (from the event's `format` file), with their record offsets.
    pub fields: Vec<Field>,
    /// Whether pointers in arguments point at user memory (syscall tracepoints, uprobes).
    pub user_pointers: bool,
    /// The positional parameters (`$1` is `params[0]`).
    pub params: Vec<String>,
    /// Possible CPUs (`ncpus`).
    pub ncpus: u32,
    /// The `-c` child's pid (`cpid`).
    pub cpid: Option<u32>,
    /// `-p PID`: where a library named without a path is looked up (`uaddr()`).
    pub pid: Option<i32>,
    /// `bpf_ktime_get_ns()` when the run started (`elapsed`).
    pub start_ns: u64,
    /// `CLOCK_TAI` minus `CLOCK_BOOTTIME` when the run started: `nsecs(sw_tai)` is the
    /// boot clock plus this (see [`kscope_sys::process::tai_minus_boottime_ns`]).
    pub tai_offset_ns: i64,
    /// The kernel's BTF (struct layouts for `curtask`, casts, `->`, raw tracepoint
    /// `args`); `None` when the kernel has none.
    pub btf: Option<Arc<BtfTypes>>,
    /// The usdt site this program attaches to (its argument specs give `argN`).
    pub usdt: Option<Arc<crate::usdt::Site>>,
    /// A uprobe's parameters from DWARF (`args.NAME`), or why DWARF gave none; `None`
    /// where it was not asked (other probes, wildcards).
    pub uprobe_args: Option<crate::uprobe_args::ArgsOf>,
}

impl ProbeContext {
    /// A context for `attach` that asks nothing of the kernel (no tracepoint fields, no
    /// BTF, 2 CPUs, no child): for lowering in tests and `--dry-run`-like uses.
    pub fn without_kernel(attach: AttachPoint) -> ProbeContext {
        ProbeContext {
            args: ProbeContext::arg_source(attach.provider),
            attach,
            fields: Vec::new(),
            user_pointers: false,
            params: Vec::new(),
            ncpus: 2,
            cpid: None,
            pid: None,
            start_ns: 0,
            tai_offset_ns: 0,
            btf: None,
            usdt: None,
            uprobe_args: None,
        }
    }

    /// The argument source of a provider.
    pub fn arg_source(p: Provider) -> ArgSource {
        match p {
            Provider::Kprobe | Provider::Kretprobe | Provider::Uprobe | Provider::Uretprobe => {
                ArgSource::PtRegs
            }
            Provider::Rawtracepoint | Provider::Fentry | Provider::Fexit => ArgSource::Raw,
            _ => ArgSource::None,
        }
    }
}
