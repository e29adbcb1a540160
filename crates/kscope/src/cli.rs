//! The command-line interface, declared with clap's derive API.

use clap::{Args, Parser, Subcommand};

/// One binary for every channel between the Linux kernel and user space: tracefs, printk,
/// kprobes/uprobes, eBPF and perf_events.
#[derive(Debug, Parser)]
#[command(name = "kscope", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every kscope command. Those marked "not built yet" print one line saying so and exit 2.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe the running kernel for every channel kscope uses: what works, why not, remedy.
    Doctor(DoctorArgs),
    /// Remove what a killed kscope left behind (kscope-named tracefs instances and probes).
    Reset(ResetArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Run a bpftrace-language script compiled straight to eBPF.
    Run(RunArgs),
    /// List probe points: tracepoints (with their fields under -v), kprobe-able functions,
    /// software events, tracers and trace options.
    List(ListArgs),
    /// Record ftrace events from a private tracefs instance into a trace.dat file.
    Record(RecordArgs),
    /// Decode a trace.dat file (kscope's or trace-cmd's) to trace-cmd's text or JSON.
    Report(ReportArgs),
    /// Stream decoded events live from tracefs, in `kscope report`'s text.
    Stream(StreamArgs),
    /// Add, list and delete persistent kprobe/uprobe events in the group `kscope`.
    Probe(ProbeArgs),
    /// Count perf events for a command, pid, cgroup or the system (not built yet).
    Stat(NotBuilt),
    /// Sample stacks into flame graphs, pprof, Perfetto or perf.data (not built yet).
    Profile(NotBuilt),
    /// Live view of sampled stacks (not built yet).
    Top(NotBuilt),
    /// The kernel log from /dev/kmsg with dmesg's options (not built yet).
    Dmesg(NotBuilt),
    /// Kernel tunables with diff, snapshot and restore (not built yet).
    Sysctl(NotBuilt),
    /// Structured view of a process from procfs (not built yet).
    Proc(NotBuilt),
    /// Structured view of sysfs and debugfs (not built yet).
    Sys(NotBuilt),
    /// Kernel counters shown as rates (not built yet).
    Watch(NotBuilt),
    /// System-call capture with a sysdig-style filter (not built yet).
    Spy(NotBuilt),
    /// Read-only live kernel object inspection with BTF types (not built yet).
    Inspect(NotBuilt),
}

/// Options of `kscope doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON: {"kernel", "checks": [{"name", "available", "state", "reason", "remedy"}]}.
    #[arg(long)]
    pub json: bool,
}

/// Options of `kscope list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show each tracepoint's fields.
    #[arg(short, long)]
    pub verbose: bool,
    /// Only probes matching this glob: a whole name (`tracepoint:sched:*`), a name without
    /// its provider (`sched:sched_sw*`), or its last part (`*openat*`).
    pub glob: Option<String>,
}

/// Options of `kscope run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The program text.
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,
    /// The script file (`-` for standard input) when -e is not given, then the
    /// positional parameters ($1, $2, ...).
    #[arg(value_name = "FILE_OR_PARAMS")]
    pub rest: Vec<String>,
    /// Run this command (held until the probes are attached); `cpid` is its pid and the
    /// run ends when it exits.
    #[arg(short = 'c', value_name = "CMD")]
    pub command: Option<String>,
    /// Uprobes only in this process; the run ends when it exits.
    #[arg(short = 'p', value_name = "PID")]
    pub pid: Option<i32>,
    /// Output format.
    #[arg(short = 'f', value_name = "FORMAT", value_parser = ["text", "json"], default_value = "text")]
    pub format: String,
    /// Write the program's output to this file.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Quiet: no `Attached N probes`.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Print the typed AST and the BPF code; load nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Allow unsafe functions (system, signal).
    #[arg(long = "unsafe")]
    pub allow_unsafe: bool,
    /// Run the script's `test:NAME` probes (each once, in order) and report which pass.
    #[arg(long = "test")]
    pub test: bool,
    /// Run the script's `bench:NAME` probes and print their average run time.
    #[arg(long = "bench", conflicts_with = "test")]
    pub bench: bool,
    /// List probes matching GLOB (as `kscope list`); `-lv` or `-l -v` with their fields.
    #[arg(short = 'l', value_name = "GLOB", num_args = 0..=1, default_missing_value = "")]
    pub list: Option<String>,
    /// With -l: show each tracepoint's fields.
    #[arg(short = 'v')]
    pub verbose: bool,
}

/// What to trace: the options `kscope record` and `kscope stream` share.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Event to record: SYSTEM, EVENT, SYSTEM:EVENT (globs allowed) or `all`; repeatable.
    #[arg(short = 'e', long = "event", value_name = "EVENT")]
    pub events: Vec<String>,
    /// Kernel-side filter (the kernel's syntax) for the events of the preceding -e.
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Tracer to run in kscope's instance: function or function_graph.
    #[arg(short = 'p', long = "plugin", value_name = "TRACER")]
    pub plugin: Option<String>,
    /// Trace only this function (set_ftrace_filter, globs allowed); repeatable.
    #[arg(short = 'l', value_name = "FUNC", requires = "plugin")]
    pub function_filter: Vec<String>,
    /// Do not trace this function (set_ftrace_notrace); repeatable.
    #[arg(short = 'n', value_name = "FUNC", requires = "plugin")]
    pub function_notrace: Vec<String>,
    /// function_graph: graph only this function and its callees (set_graph_function; an
    /// error where the kernel creates that file only at the top level, not in instances).
    #[arg(short = 'g', value_name = "FUNC", requires = "plugin")]
    pub graph_function: Vec<String>,
    /// Trace only these pids (and the children they fork); repeatable.
    #[arg(short = 'P', long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Per-CPU buffer size in KiB.
    #[arg(short = 'b', long = "buffer-kb", value_name = "KB")]
    pub buffer_kb: Option<u64>,
    /// Record a kernel stack trace with every event.
    #[arg(short = 'T', long = "stacktrace")]
    pub stacktrace: bool,
    /// Trace clock (local, global, mono, boot, …).
    #[arg(short = 'C', long = "clock")]
    pub clock: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// How to read the ring buffers: auto (record: splice; stream: mmap, else read), mmap,
    /// splice or read.
    #[arg(long = "reader", value_parser = ["auto", "mmap", "splice", "read"], default_value = "auto", hide = true)]
    pub reader: String,
    /// The command to trace: started once tracing is on, and traced with its children.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Options of `kscope record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// What to trace.
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Output file.
    #[arg(short = 'o', long = "output", default_value = "trace.dat")]
    pub output: std::path::PathBuf,
    /// trace.dat version: 7 (default) or 6.
    #[arg(long = "file-version", default_value_t = 7, value_parser = clap::value_parser!(u32).range(6..=7))]
    pub file_version: u32,
    /// Compress the event data (v7 only).
    #[arg(long = "compress", value_name = "ALGORITHM", value_parser = ["none", "zstd"], default_value = "none")]
    pub compress: String,
}

/// Options of `kscope stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// What to trace.
    #[command(flatten)]
    pub trace: TraceArgs,
}

/// Options of `kscope report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The trace.dat file.
    #[arg(default_value = "trace.dat")]
    pub file: std::path::PathBuf,
    /// Only events of this CPU; repeatable.
    #[arg(long = "cpu", value_name = "N")]
    pub cpus: Vec<u32>,
    /// Only these events: EVENT or EVENT:FILTER (trace-cmd's -F); repeatable.
    #[arg(short = 'F', value_name = "EVENT[:FILTER]")]
    pub event_filters: Vec<String>,
    /// One JSON object per event, every field typed.
    #[arg(long)]
    pub json: bool,
    /// Print the file's statistics instead of its events.
    #[arg(long)]
    pub stat: bool,
    /// Print timestamps in nanoseconds (trace-cmd's -t).
    #[arg(short = 't')]
    pub nanoseconds: bool,
}

/// Options of `kscope probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ProbeAction,
}

/// The `kscope probe` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProbeAction {
    /// Create a probe that stays until `kscope probe del` (record it with
    /// `kscope record -e kscope:NAME`).
    Add(ProbeAddArgs),
    /// List the probes of the group `kscope`: type, name, definition.
    List,
    /// Delete probes of the group `kscope` by name or glob.
    Del(ProbeDelArgs),
}

/// Options of `kscope probe add`.
#[derive(Debug, Args)]
pub struct ProbeAddArgs {
    /// Event name (default: the symbol, plus `__return` for a return probe).
    #[arg(long)]
    pub name: Option<String>,
    /// A return probe (uretprobe/kretprobe); a `%return` suffix on SPEC does the same.
    #[arg(short = 'r', long = "return")]
    pub is_return: bool,
    /// Where: BINARY:SYMBOL[+OFFSET] or BINARY:0xOFFSET (uprobe), SYMBOL[+OFFSET] (kprobe).
    pub spec: String,
    /// Fetch arguments in the kernel's syntax: `%di`, `+0(%si):string`, `$retval`,
    /// `NAME=FETCHARG[:TYPE]`; `argN` is the Nth function argument.
    #[arg(
        value_name = "ARG",
        allow_hyphen_values = true,
        trailing_var_arg = true
    )]
    pub args: Vec<String>,
}

/// Options of `kscope probe del`.
#[derive(Debug, Args)]
pub struct ProbeDelArgs {
    /// Probe name or glob (`kscope:` prefix optional).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Delete every probe of the group `kscope` that no running kscope owns.
    #[arg(long)]
    pub all: bool,
}

/// Options of `kscope reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Remove every kscope-named object, including those of running kscope processes and
    /// persistent probes made with `kscope probe add`.
    #[arg(long)]
    pub all: bool,
    /// Only list what would be removed.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// Options of `kscope completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Arguments of a command that is not built yet: accepted, then refused with one line.
#[derive(Debug, Args)]
pub struct NotBuilt {
    /// Arguments (ignored).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}

impl Command {
    /// The subcommand's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Doctor(_) => "doctor",
            Command::Reset(_) => "reset",
            Command::Completions(_) => "completions",
            Command::Run(_) => "run",
            Command::List(_) => "list",
            Command::Record(_) => "record",
            Command::Report(_) => "report",
            Command::Stream(_) => "stream",
            Command::Probe(_) => "probe",
            Command::Stat(_) => "stat",
            Command::Profile(_) => "profile",
            Command::Top(_) => "top",
            Command::Dmesg(_) => "dmesg",
            Command::Sysctl(_) => "sysctl",
            Command::Proc(_) => "proc",
            Command::Sys(_) => "sys",
            Command::Watch(_) => "watch",
            Command::Spy(_) => "spy",
            Command::Inspect(_) => "inspect",
        }
    }
}
