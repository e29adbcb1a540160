//! Sampling perf events (`profile:hz:N`, `interval:ms:N`, `software:EVENT:N`) running a
//! `BPF_PROG_TYPE_PERF_EVENT` program on each sample.
//!
//! # Minimum kernel version
//!
//! Linux 4.9 (`BPF_PROG_TYPE_PERF_EVENT`). The BPF link path needs 5.15; older kernels use
//! `PERF_EVENT_IOC_SET_BPF`.
//!
//! A sampling event counts on one CPU, so `profile` opens one event per online CPU;
//! `interval` (a timer, not a profile) uses only the first online CPU, as bpftrace does.

use std::io;

use kscope_sys::perf::{self, SampleRate};

use super::{AttachError, PerfLink, attach_perf_event, check_type, error, perf_open_hint};
use crate::{ProgType, Program};

/// Which CPUs get a sampling event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cpus {
    /// Every online CPU (`profile`, `software`).
    AllOnline,
    /// The first online CPU only (`interval`).
    FirstOnline,
    /// These CPUs.
    List(Vec<u32>),
}

/// A sampling event to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingSpec {
    /// `PERF_TYPE_*` (e.g. [`perf::TYPE_SOFTWARE`]).
    pub type_: u32,
    /// The event within the type (e.g. [`perf::SW_CPU_CLOCK`]).
    pub config: u64,
    /// Frequency or period.
    pub rate: SampleRate,
    /// Where.
    pub cpus: Cpus,
}

impl SamplingSpec {
    /// `profile:hz:N`: software `cpu-clock` at `hz` samples per second on every online CPU.
    pub fn profile_hz(hz: u64) -> SamplingSpec {
        SamplingSpec {
            type_: perf::TYPE_SOFTWARE,
            config: perf::SW_CPU_CLOCK,
            rate: SampleRate::Frequency(hz),
            cpus: Cpus::AllOnline,
        }
    }

    /// `profile:s:N`, `profile:ms:N`, `profile:us:N` (converted to nanoseconds by the
    /// caller): software `cpu-clock` with a period of `period_ns` on every online CPU.
    pub fn profile_period_ns(period_ns: u64) -> SamplingSpec {
        SamplingSpec {
            type_: perf::TYPE_SOFTWARE,
            config: perf::SW_CPU_CLOCK,
            rate: SampleRate::Period(period_ns),
            cpus: Cpus::AllOnline,
        }
    }

    /// `interval:ns:N` (and `s`, `ms`, `us` converted by the caller): software `cpu-clock`
    /// with a period of `period_ns` on the first online CPU.
    pub fn interval_ns(period_ns: u64) -> SamplingSpec {
        SamplingSpec {
            type_: perf::TYPE_SOFTWARE,
            config: perf::SW_CPU_CLOCK,
            rate: SampleRate::Period(period_ns),
            cpus: Cpus::FirstOnline,
        }
    }

    /// `software:EVENT:COUNT`: software event `config` every `count` events on every
    /// online CPU.
    pub fn software(config: u64, count: u64) -> SamplingSpec {
        SamplingSpec {
            type_: perf::TYPE_SOFTWARE,
            config,
            rate: SampleRate::Period(count),
            cpus: Cpus::AllOnline,
        }
    }
}

/// The `PERF_COUNT_SW_*` number of a software event by the names bpftrace accepts
/// (`software:NAME:COUNT`), e.g. `cpu-clock`/`cpu` → 0, `page-faults`/`faults` → 2,
/// `context-switches`/`cs` → 3.
pub fn software_event_config(name: &str) -> Option<u64> {
    Some(match name {
        "cpu-clock" | "cpu" => 0,
        "task-clock" => 1,
        "page-faults" | "faults" => 2,
        "context-switches" | "cs" => 3,
        "cpu-migrations" => 4,
        "minor-faults" => 5,
        "major-faults" => 6,
        "alignment-faults" => 7,
        "emulation-faults" => 8,
        "dummy" => 9,
        "bpf-output" => 10,
        _ => return None,
    })
}

/// The online CPUs from `/sys/devices/system/cpu/online` (e.g. `0-3,6`).
pub fn online_cpus() -> io::Result<Vec<u32>> {
    let text = kscope_sys::fs::read_small(std::path::Path::new("/sys/devices/system/cpu/online"))?;
    parse_cpu_list(text.trim()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot parse CPU list {:?}", text.trim()),
        )
    })
}

/// Parses a kernel CPU list such as `0-3,6` into CPU numbers.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

/// A perf_event program attached to sampling events; dropping it closes them all.
#[derive(Debug)]
pub struct PerfEventLinks {
    /// One attachment per CPU, with its CPU number.
    pub links: Vec<(u32, PerfLink)>,
}

/// Opens the sampling events of `spec` and attaches a [`ProgType::PerfEvent`] program.
pub fn attach(prog: &Program, spec: &SamplingSpec) -> Result<PerfEventLinks, AttachError> {
    let target = format!(
        "perf event type {} config {} ({:?})",
        spec.type_, spec.config, spec.rate
    );
    check_type(prog, &[ProgType::PerfEvent], &target)?;
    let online = online_cpus().map_err(|e| {
        error(
            prog,
            &target,
            "reading the online CPUs",
            e,
            "is /sys mounted?",
        )
    })?;
    let cpus = match &spec.cpus {
        Cpus::AllOnline => online,
        Cpus::FirstOnline => online.into_iter().take(1).collect(),
        Cpus::List(l) => l.clone(),
    };
    let mut links = Vec::with_capacity(cpus.len());
    for cpu in cpus {
        let event =
            perf::open_sampling(spec.type_, spec.config, spec.rate, cpu as i32).map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOENT | libc::EOPNOTSUPP) => {
                        "this perf event does not exist here (hardware events need a PMU)"
                    }
                    Some(libc::EINVAL) => {
                        "the frequency may exceed kernel.perf_event_max_sample_rate"
                    }
                    _ => perf_open_hint(&e),
                };
                error(prog, &target, "opening a sampling perf event", e, hint)
            })?;
        links.push((cpu, attach_perf_event(prog, event, &target)?));
    }
    Ok(PerfEventLinks { links })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,6"), Some(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(software_event_config("cs"), Some(3));
        assert_eq!(software_event_config("cpu-clock"), Some(perf::SW_CPU_CLOCK));
        assert_eq!(software_event_config("nope"), None);
    }
}
