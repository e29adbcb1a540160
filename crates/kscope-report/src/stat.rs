//! `--stat`: per buffer and CPU, the number of events and lost events and the time span.

use std::io::Write;

use kscope_ftrace::page::Missed;
use kscope_ftrace::tracedat::read::{Item, TraceFile};

use crate::ReportError;

#[derive(Default, Clone, Copy)]
struct CpuCount {
    events: u64,
    lost_notices: u64,
    lost: u64,
    first: Option<u64>,
    last: Option<u64>,
}

pub(crate) fn stat(file: &TraceFile, out: &mut dyn Write) -> Result<(), ReportError> {
    let (alg, ver) = file.compression_header();
    writeln!(out, "version: {}", file.version())?;
    if alg.is_empty() {
        writeln!(out, "compression: none")?;
    } else {
        writeln!(out, "compression: {alg} {ver}")?;
    }
    writeln!(out, "cpus: {}", file.cpu_count())?;
    for (i, b) in file.buffers().iter().enumerate() {
        let name = if b.name.is_empty() {
            "(top)"
        } else {
            b.name.as_str()
        };
        writeln!(out, "buffer {name}:")?;
        writeln!(out, "  clock: {}", b.clock.as_deref().unwrap_or("unknown"))?;
        let mut counts: Vec<(u32, CpuCount)> = Vec::new();
        for c in &b.cpus {
            let mut n = CpuCount::default();
            if c.size > 0 {
                let mut cur = file.cpu_records(i, c.cpu)?;
                while let Some(item) = cur.next_ref() {
                    match item? {
                        Item::Record(r) => {
                            n.events += 1;
                            n.first.get_or_insert(r.timestamp);
                            n.last = Some(r.timestamp);
                        }
                        Item::Lost(l) => {
                            n.lost_notices += 1;
                            if let Missed::Count(k) = l.missed {
                                n.lost += k;
                            }
                        }
                    }
                }
            }
            counts.push((c.cpu, n));
        }
        let ts = |t: Option<u64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
        let mut total = CpuCount::default();
        for (cpu, n) in &counts {
            writeln!(
                out,
                "  cpu {cpu}: events {} lost-notices {} lost {} first {} last {}",
                n.events,
                n.lost_notices,
                n.lost,
                ts(n.first),
                ts(n.last)
            )?;
            total.events += n.events;
            total.lost_notices += n.lost_notices;
            total.lost += n.lost;
            total.first = match (total.first, n.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            total.last = total.last.max(n.last);
        }
        writeln!(
            out,
            "  total: events {} lost-notices {} lost {} first {} last {}",
            total.events,
            total.lost_notices,
            total.lost,
            ts(total.first),
            ts(total.last)
        )?;
    }
    Ok(())
}
