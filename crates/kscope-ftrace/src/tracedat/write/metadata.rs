use std::collections::BTreeMap;
use std::fs;

use super::WriteError;
use crate::select::EventId;
use crate::{Instance, Tracefs};

/// Everything a trace.dat file carries besides the ring-buffer pages, as plain data.
///
/// [`Metadata::from_tracefs`] reads it from the running kernel; tests and converters can
/// fill it by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The text of `events/header_page` (the sub-buffer header layout) of the recorded
    /// instance: its `data` size is the sub-buffer size minus the header.
    pub header_page: String,
    /// The text of `events/header_event` (the event header layout).
    pub header_event: String,
    /// The `format` files of ftrace's own events (`events/ftrace/*/format`).
    pub ftrace_formats: Vec<String>,
    /// The `format` files of the recorded events, by system: `("sched", [format, …])`.
    /// The `ftrace` system belongs in [`Metadata::ftrace_formats`] instead.
    pub event_formats: Vec<(String, Vec<String>)>,
    /// The text of `/proc/kallsyms`.
    pub kallsyms: String,
    /// The text of `printk_formats`.
    pub printk_formats: String,
    /// The text of `saved_cmdlines` (`pid comm` lines). In v7 files it is written at
    /// [`TraceDatWriter::finish`](super::TraceDatWriter::finish), so it can be refreshed
    /// after recording with
    /// [`TraceDatWriter::set_cmdlines`](super::TraceDatWriter::set_cmdlines).
    pub cmdlines: String,
    /// `uname` of the recording machine as trace-cmd stores it: sysname, nodename, release
    /// and machine, separated by spaces (`Linux vm 6.18.44 x86_64`).
    pub uname: String,
    /// The selected trace clock's name (`local`, `global`, `mono`, …).
    pub trace_clock: String,
    /// Every clock the kernel offers, for the TRACECLOCK option (which stores the
    /// `trace_clock` file's text); empty means only the selected one.
    pub trace_clocks: Vec<String>,
    /// The number of CPUs (CPU data is accepted for CPUs `0..cpu_count`).
    pub cpu_count: u32,
    /// The text of `per_cpu/cpuN/stats` for each CPU, indexed by CPU; one CPUSTAT option
    /// is written per entry. Usually read after recording stops, so it can also be given
    /// later with [`TraceDatWriter::set_cpu_stats`](super::TraceDatWriter::set_cpu_stats).
    pub cpu_stats: Vec<String>,
    /// The buffer (instance) the data is presented as. `""` is the top buffer, which is
    /// what `trace-cmd record` writes for the buffer it records and what KernelShark
    /// opens; any other name makes `trace-cmd report` prefix every line with `name:`.
    /// Only `""` can be written in a v6 file.
    pub buffer_name: String,
    /// The VERSION option (`trace-cmd` writes e.g. `3.1.6 not-a-git-repo`); none when
    /// `None`.
    pub version: Option<String>,
}

impl Metadata {
    /// Reads the metadata for a recording of `events` in `instance`: the header layouts,
    /// ftrace's own event formats and the formats of `events` (grouped by system, as
    /// trace-cmd stores only the formats of the events it recorded), kallsyms, printk
    /// formats, saved cmdlines, uname, the instance's trace clock, CPU count and per-CPU
    /// stats. The buffer name is `""` (the top buffer).
    ///
    /// Reading `/proc/kallsyms` needs root (or `kptr_restrict=0`) for real addresses;
    /// without it the addresses are zeros and functions print as hex.
    pub fn from_tracefs(
        tracefs: &Tracefs,
        instance: &Instance,
        events: &[EventId],
    ) -> Result<Metadata, WriteError> {
        // An instance has its own header_page: its data size follows the instance's
        // sub-buffer size (`buffer_subbuf_size_kb`, Linux ≥ 6.8). Older kernels have only
        // the top-level one.
        let header = |name: &str| {
            let own = format!("events/{name}");
            if instance.path(&own).exists() {
                instance.read(&own)
            } else {
                tracefs.read(&own)
            }
        };
        let header_page = header("header_page")?;
        let header_event = header("header_event")?;

        let ftrace_dir = tracefs.path("events/ftrace");
        let mut ftrace_names: Vec<String> = fs::read_dir(&ftrace_dir)
            .map_err(|source| WriteError::Read {
                path: ftrace_dir.display().to_string(),
                source,
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("format").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ftrace_names.sort();
        let mut ftrace_formats = Vec::with_capacity(ftrace_names.len());
        for name in &ftrace_names {
            ftrace_formats.push(tracefs.read(&format!("events/ftrace/{name}/format"))?);
        }

        let mut systems: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for ev in events {
            if ev.system == "ftrace" || !seen.insert(ev.clone()) {
                continue;
            }
            let format = tracefs.read(&format!("events/{}/{}/format", ev.system, ev.name))?;
            let at = *index.entry(ev.system.clone()).or_insert_with(|| {
                systems.push((ev.system.clone(), Vec::new()));
                systems.len() - 1
            });
            systems[at].1.push(format);
        }

        let kallsyms = read_text("/proc/kallsyms")?;
        let printk_formats = tracefs.read("printk_formats")?;
        let cmdlines = tracefs.read("saved_cmdlines")?;
        let uname = read_uname()?;
        let (trace_clocks, selected) = instance.trace_clocks()?;
        let trace_clock = selected.unwrap_or_else(|| "local".to_string());
        let cpu_count = instance_cpu_count(instance)?;
        let cpu_stats = read_cpu_stats(instance, cpu_count)?;
        Ok(Metadata {
            header_page,
            header_event,
            ftrace_formats,
            event_formats: systems,
            kallsyms,
            printk_formats,
            cmdlines,
            uname,
            trace_clock,
            trace_clocks,
            cpu_count,
            cpu_stats,
            buffer_name: String::new(),
            version: None,
        })
    }
}

/// The number of CPUs an instance has buffers for: one more than the highest
/// `per_cpu/cpuN`.
pub fn instance_cpu_count(instance: &Instance) -> Result<u32, WriteError> {
    let dir = instance.path("per_cpu");
    let entries = fs::read_dir(&dir).map_err(|source| WriteError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let max = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("cpu")?
                .parse::<u32>()
                .ok()
        })
        .max();
    Ok(max.map_or(0, |m| m + 1))
}

/// The text of `per_cpu/cpuN/stats` for CPUs `0..cpus` of an instance, for the CPUSTAT
/// options.
pub fn read_cpu_stats(instance: &Instance, cpus: u32) -> Result<Vec<String>, WriteError> {
    (0..cpus)
        .map(|cpu| Ok(instance.read(&format!("per_cpu/cpu{cpu}/stats"))?))
        .collect()
}

fn read_text(path: &str) -> Result<String, WriteError> {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| WriteError::Read {
            path: path.to_string(),
            source,
        })
}

/// `uname` as trace-cmd stores it (sysname, nodename, release, machine), from
/// `/proc/sys/kernel`.
fn read_uname() -> Result<String, WriteError> {
    let field = |name: &str| -> Result<String, WriteError> {
        Ok(read_text(&format!("/proc/sys/kernel/{name}"))?
            .trim()
            .to_string())
    };
    let machine = match fs::read_to_string("/proc/sys/kernel/arch") {
        Ok(a) => a.trim().to_string(),
        Err(_) => std::env::consts::ARCH.to_string(),
    };
    Ok(format!(
        "{} {} {} {}",
        field("ostype")?,
        field("hostname")?,
        field("osrelease")?,
        machine
    ))
}
