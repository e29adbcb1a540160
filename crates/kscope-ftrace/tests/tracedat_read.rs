//! The trace.dat reader against files trace-cmd 3.1.6 wrote (tests/data/tracedat): every
//! metadata part equals what `trace-cmd dump` printed, and the merged records equal
//! `trace-cmd report -t` line for line (buffer, CPU, nanosecond timestamp, event name,
//! lost-event lines).

mod tracedat_read_util;

use std::borrow::Cow;
use std::collections::BTreeMap;

use kscope_ftrace::page::{Endian, Missed};
use kscope_ftrace::tracedat::option as opt;
use kscope_ftrace::tracedat::read::{
    Compression, CpuRecords, Item, OptionValue, TraceFile, option_name,
};
use tracedat_read_util::{
    Decoded, FILES, ReportLine, data_path, decode_all, metadata_summary, read_data, report,
};

/// A BUFFER option as dump prints it: offset, name, clock, page size, and
/// (cpu, offset, size) per CPU.
type DumpBuffer = (
    u64,
    String,
    Option<String>,
    Option<u32>,
    Vec<(u32, u64, u64)>,
);

/// What `trace-cmd dump --summary --options --flyrecord --clock` printed, plus the
/// per-CPU line counts of `trace-cmd report --cpu N` that make.sh appends.
#[derive(Debug, Default)]
struct Dump {
    version: u32,
    little_endian: bool,
    long_size: u8,
    page_size: u32,
    compression: Option<(String, String)>,
    header_page: usize,
    header_event: usize,
    ftrace_formats: usize,
    systems: usize,
    kallsyms: usize,
    printk: usize,
    cmdlines: usize,
    cpus: Option<u32>,
    option_count: usize,
    section_count: Option<usize>,
    /// (id, offset, description, flags, size).
    sections: Vec<(u16, u64, String, u16, u64)>,
    /// (name, size, `@ offset`, following text).
    options: Vec<(String, usize, Option<u64>, String)>,
    /// (offset, name, clock, page size, [(cpu, offset, size)]).
    buffers: Vec<DumpBuffer>,
    /// v6 top instance: [(offset, size)] and clock.
    flyrecord: Vec<(u64, u64)>,
    clock: Option<String>,
    report_cpu_lines: BTreeMap<u32, usize>,
}

fn num<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.trim().parse().unwrap_or_else(|e| panic!("{s:?}: {e:?}"))
}

fn quoted(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

fn parse_dump(name: &str) -> Dump {
    let text = String::from_utf8(read_data(&format!("{name}.dump.txt"))).unwrap();
    let mut d = Dump::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        i += 1;
        if let Some(rest) = t.strip_prefix("# trace-cmd report --cpu ") {
            let (cpu, n) = rest.split_once(':').unwrap();
            let n = n.trim().trim_end_matches(" event lines");
            d.report_cpu_lines.insert(num(cpu), num(n));
            continue;
        }
        if let Some(rest) = t.strip_prefix("[Section ") {
            // [Section 0 @ 36752: "options", flags 0x0, 560 bytes]
            let (id, rest) = rest.split_once(" @ ").unwrap();
            let (off, rest) = rest.split_once(": ").unwrap();
            let (desc, rest) = rest.rsplit_once(", flags 0x").unwrap();
            let (flags, size) = rest.split_once(", ").unwrap();
            let size = size.trim_end_matches(" bytes]");
            d.sections.push((
                num(id),
                num(off),
                quoted(desc),
                u16::from_str_radix(flags, 16).unwrap(),
                num(size),
            ));
            continue;
        }
        if let Some(rest) = t.strip_prefix("[Option ") {
            // [Option KALLSYMS, 8 bytes] @ 4188
            let (name, rest) = rest.split_once(", ").unwrap();
            let (size, at) = rest.split_once(" bytes]").unwrap();
            let at = at.trim().strip_prefix("@ ").map(num);
            let mut body = Vec::new();
            while i < lines.len() && !lines[i].starts_with('\t') {
                body.push(lines[i]);
                i += 1;
            }
            let body = body.join("\n");
            if name == "BUFFER" {
                let mut offset = 0;
                let mut bname = String::new();
                let mut clock = None;
                let mut page = None;
                let mut cpus = Vec::new();
                for l in body.lines() {
                    let (value, label) = l.split_once('[').unwrap_or((l, ""));
                    match label {
                        "offset]" => offset = num(value),
                        "name]" => bname = quoted(value),
                        "clock]" => clock = Some(quoted(value)),
                        "Page size, bytes]" => page = Some(num(value)),
                        "id, data offset and size]" => {
                            let v: Vec<u64> = value.split_whitespace().map(num).collect();
                            cpus.push((v[0] as u32, v[1], v[2]));
                        }
                        _ => {}
                    }
                }
                d.buffers.push((offset, bname, clock, page, cpus));
            }
            d.options.push((name.to_string(), num(size), at, body));
            continue;
        }
        let Some((value, label)) = t.split_once('[') else {
            continue;
        };
        let value = value.trim();
        let label = label.trim_end_matches(']');
        let count = |s: &str, suffix: &str| -> usize { num(s.trim_end_matches(suffix)) };
        match label {
            "Version" => d.version = num(value),
            "Little endian" => d.little_endian = true,
            "Big endian" => d.little_endian = false,
            "Bytes in a long" => d.long_size = num(value),
            "Page size, bytes" if d.page_size == 0 => d.page_size = num(value),
            "Compression algorithm" => {
                d.compression = Some((value.to_string(), String::new()));
            }
            "Compression version" => d.compression.as_mut().unwrap().1 = value.to_string(),
            "CPUs with tracing data" => d.cpus = Some(num(value)),
            "Tracing clock" => {
                d.clock = Some(lines[i].trim().trim_matches(['[', ']']).to_string());
                i += 1;
            }
            _ => {}
        }
        if let Some(rest) = label.strip_prefix("offset, size of cpu ") {
            let _: u32 = num(rest);
            let v: Vec<u64> = value.split_whitespace().map(num).collect();
            d.flyrecord.push((v[0], v[1]));
        }
        if value.is_empty() {
            if let Some(n) = label.strip_prefix("Header page, ") {
                d.header_page = count(n, " bytes");
            } else if let Some(n) = label.strip_prefix("Header event, ") {
                d.header_event = count(n, " bytes");
            } else if let Some(n) = label.strip_prefix("Ftrace format, ") {
                d.ftrace_formats = count(n, " events");
            } else if let Some(n) = label.strip_prefix("Events format, ") {
                d.systems = count(n, " systems");
            } else if let Some(n) = label.strip_prefix("Kallsyms, ") {
                d.kallsyms = count(n, " bytes");
            } else if let Some(n) = label.strip_prefix("Trace printk, ") {
                d.printk = count(n, " bytes");
            } else if let Some(n) = label.strip_prefix("Saved command lines, ") {
                d.cmdlines = count(n, " bytes");
            } else if let Some(n) = label.strip_suffix(" options") {
                d.option_count = num(n);
            } else if let Some(n) = label.strip_suffix(" sections") {
                d.section_count = Some(num(n));
            }
        }
    }
    d
}

/// trace-cmd dump's name for an option id.
fn dump_option_id(name: &str) -> u16 {
    match name {
        "HEADERS" => opt::HEADER_INFO,
        "FTRACE EVENTS" => opt::FTRACE_EVENTS,
        "EVENT FORMATS" => opt::EVENT_FORMATS,
        other => (0..=30)
            .find(|&id| option_name(id) == Some(other))
            .unwrap_or_else(|| panic!("unknown option name {other}")),
    }
}

fn open(name: &str) -> TraceFile {
    TraceFile::open(data_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn metadata_matches_trace_cmd_dump() {
    for &name in FILES {
        let d = parse_dump(name);
        let f = open(name);
        assert_eq!(f.version(), d.version, "{name}");
        assert_eq!(f.endian() == Endian::Little, d.little_endian, "{name}");
        assert_eq!(f.long_size(), d.long_size, "{name}");
        assert_eq!(f.page_size(), d.page_size, "{name}");
        match &d.compression {
            Some((alg, ver)) => {
                assert_eq!(
                    f.compression_header(),
                    (alg.as_str(), ver.as_str()),
                    "{name}"
                );
                let want = if alg == "zstd" {
                    Compression::Zstd
                } else {
                    Compression::None
                };
                assert_eq!(f.compression(), &want, "{name}");
            }
            None => assert_eq!(f.compression(), &Compression::None, "{name}"),
        }
        assert_eq!(f.header_page().len(), d.header_page, "{name}");
        assert_eq!(f.header_event().len(), d.header_event, "{name}");
        assert!(f.header_page().contains("commit"), "{name}");
        assert!(f.header_event().contains("type_len"), "{name}");
        assert_eq!(f.ftrace_formats().len(), d.ftrace_formats, "{name}");
        assert_eq!(f.event_systems().len(), d.systems, "{name}");
        assert_eq!(f.kallsyms().len(), d.kallsyms, "{name}");
        assert_eq!(f.printk_formats().len(), d.printk, "{name}");
        assert_eq!(f.cmdlines().len(), d.cmdlines, "{name}");
        if let Some(cpus) = d.cpus {
            assert_eq!(f.cpu_count(), cpus, "{name}");
        }
        assert_eq!(f.cpu_count(), 2, "{name}");

        // Options: count, order, ids, sizes, section offsets and texts.
        assert_eq!(f.options().len(), d.option_count, "{name}");
        assert_eq!(f.options().len(), d.options.len(), "{name}");
        for (o, (dname, size, at, body)) in f.options().iter().zip(&d.options) {
            assert_eq!(o.id, dump_option_id(dname), "{name}: {dname}");
            assert_eq!(o.data.len(), *size, "{name}: {dname}");
            match &o.value {
                OptionValue::SectionOffset(off) => assert_eq!(Some(*off), *at, "{name}"),
                OptionValue::Text(t) => assert_eq!(t.trim_end(), body.trim_end(), "{name}"),
                OptionValue::CpuCount(n) => assert_eq!(n.to_string(), body.trim(), "{name}"),
                OptionValue::TraceId(n) => assert_eq!(format!("0x{n:X}"), body.trim()),
                OptionValue::Done { next } => assert_eq!(next.to_string(), body.trim()),
                OptionValue::Buffer(_) => {}
                other => panic!("{name}: unexpected option value {other:?}"),
            }
        }
        assert_eq!(
            f.uname().map(str::trim),
            Some("Linux vm 6.18.44-fc-v669 x86_64")
        );
        assert_eq!(f.recorder_version(), Some("3.1.6 not-a-git-repo"), "{name}");
        assert!(f.trace_clocks().unwrap().starts_with("[local]"), "{name}");
        assert!(f.trace_id().is_some(), "{name}");

        // CPUSTAT: two per instance.
        let stats = f.cpu_stats();
        assert_eq!(stats.len(), f.buffers().len(), "{name}");
        for (s, b) in stats.iter().zip(f.buffers()) {
            assert_eq!(s.buffer, b.name, "{name}");
            assert_eq!(s.cpus.len(), 2, "{name}");
            assert!(s.cpus[1].starts_with("CPU: 1\n"), "{name}: {:?}", s.cpus[1]);
        }

        // Sections (v7).
        if let Some(n) = d.section_count {
            assert_eq!(f.sections().len(), n, "{name}");
            for (sid, off, desc, flags, size) in &d.sections {
                let s = f
                    .sections()
                    .iter()
                    .find(|s| s.offset == *off)
                    .unwrap_or_else(|| panic!("{name}: no section at {off}"));
                assert_eq!(
                    (s.id, s.flags, s.size, s.description.as_deref()),
                    (*sid, *flags, *size, Some(desc.as_str())),
                    "{name}"
                );
            }
        } else {
            assert!(f.sections().is_empty());
        }

        // Buffers.
        if f.version() == 6 {
            let top = &f.buffers()[0];
            assert_eq!(top.name, "");
            let cpus: Vec<_> = top.cpus.iter().map(|c| (c.offset, c.size)).collect();
            assert_eq!(cpus, d.flyrecord, "{name}");
            assert_eq!(top.clock, d.clock, "{name}");
            assert_eq!(f.buffers().len(), 1 + d.buffers.len(), "{name}");
            for (b, (off, bname, ..)) in f.buffers()[1..].iter().zip(&d.buffers) {
                assert_eq!((b.offset, &b.name), (*off, bname), "{name}");
                assert_eq!(b.clock.as_deref(), Some("local"), "{name}");
                assert_eq!(b.cpus.len(), 2, "{name}");
            }
        } else {
            assert_eq!(f.buffers().len(), d.buffers.len(), "{name}");
            for (b, (off, bname, clock, page, cpus)) in f.buffers().iter().zip(&d.buffers) {
                assert_eq!(b.offset, *off, "{name}");
                assert_eq!(&b.name, bname, "{name}");
                assert_eq!(&b.clock, clock, "{name}");
                assert_eq!(Some(b.subbuf_size), *page, "{name}");
                assert_eq!(
                    b.compressed,
                    f.compression() == &Compression::Zstd,
                    "{name}"
                );
                let got: Vec<_> = b.cpus.iter().map(|c| (c.cpu, c.offset, c.size)).collect();
                assert_eq!(&got, cpus, "{name}");
            }
        }
        assert!(f.text_buffers().is_empty());

        // Every event format parses.
        let table = f.event_table();
        assert!(table.errors().is_empty(), "{name}: {:?}", table.errors());
        let total: usize = d.ftrace_formats
            + f.event_systems()
                .iter()
                .map(|s| s.formats.len())
                .sum::<usize>();
        assert_eq!(table.len(), total, "{name}");
        let layout = f.page_format().layout;
        assert_eq!(
            (layout.commit_offset, layout.commit_size, layout.data_offset),
            (8, 8, 16)
        );
    }
}

/// Our merged records, shaped like the report's lines.
fn as_report_lines(f: &TraceFile, decoded: &[Decoded]) -> Vec<ReportLine> {
    let table = f.event_table();
    decoded
        .iter()
        .map(|d| match d {
            Decoded::Record {
                buffer,
                cpu,
                ts,
                id,
                ..
            } => ReportLine::Event {
                buffer: f.buffers()[*buffer].name.clone(),
                cpu: *cpu,
                ts: *ts,
                event: table
                    .get((*id).into())
                    .map_or_else(|| format!("id {id}"), |e| e.format.name.clone()),
                text: String::new(),
            },
            Decoded::Lost { cpu, missed, .. } => ReportLine::Dropped {
                cpu: *cpu,
                count: match missed {
                    Missed::Count(n) => Some(*n),
                    Missed::Unknown => None,
                },
            },
        })
        .collect()
}

fn without_text(lines: Vec<ReportLine>) -> Vec<ReportLine> {
    lines
        .into_iter()
        .map(|l| match l {
            ReportLine::Event {
                buffer,
                cpu,
                ts,
                event,
                ..
            } => ReportLine::Event {
                buffer,
                cpu,
                ts,
                event,
                text: String::new(),
            },
            other => other,
        })
        .collect()
}

#[test]
fn merged_records_match_trace_cmd_report() {
    for &name in FILES {
        let f = open(name);
        let decoded = decode_all(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = as_report_lines(&f, &decoded);
        let theirs = without_text(report(name));
        if let Some(i) = (0..ours.len().max(theirs.len())).find(|&i| ours.get(i) != theirs.get(i)) {
            panic!(
                "{name}: line {i} differs:\n ours   {:?}\n theirs {:?}\n({} vs {} lines)",
                ours.get(i),
                theirs.get(i),
                ours.len(),
                theirs.len()
            );
        }
        // Per CPU: as many records as `trace-cmd report --cpu N` printed event lines
        // (it shows only the top instance).
        let d = parse_dump(name);
        let mut per_cpu = BTreeMap::new();
        for item in &decoded {
            if let Decoded::Record { cpu, buffer: 0, .. } = item {
                *per_cpu.entry(*cpu).or_insert(0usize) += 1;
            }
        }
        assert_eq!(per_cpu, d.report_cpu_lines, "{name}");
        if name == "v7-lost.dat" {
            assert!(decoded.iter().any(|d| matches!(d, Decoded::Lost { .. })));
        }
    }
}

#[test]
fn per_cpu_cursors_and_pages_agree_with_the_merge() {
    for &name in FILES {
        let f = open(name);
        let decoded = decode_all(&f).unwrap();
        for (bi, b) in f.buffers().iter().enumerate() {
            for c in &b.cpus {
                let want: Vec<_> = decoded
                    .iter()
                    .filter(|d| match d {
                        Decoded::Record { buffer, cpu, .. } | Decoded::Lost { buffer, cpu, .. } => {
                            *buffer == bi && *cpu == c.cpu
                        }
                    })
                    .cloned()
                    .collect();
                // The lending API.
                let mut cursor = f.cpu_records(bi, c.cpu).unwrap();
                let mut got = Vec::new();
                while let Some(item) = cursor.next_ref() {
                    got.push(match item.unwrap() {
                        Item::Record(r) => Decoded::Record {
                            buffer: r.buffer,
                            cpu: r.cpu,
                            ts: r.timestamp,
                            id: u16::from_le_bytes([r.payload[0], r.payload[1]]),
                            payload: r.payload.to_vec(),
                        },
                        Item::Lost(l) => Decoded::Lost {
                            buffer: l.buffer,
                            cpu: l.cpu,
                            missed: l.missed,
                        },
                    });
                }
                assert_eq!(got, want, "{name} buffer {bi} cpu {}", c.cpu);

                // Pages: borrowed when uncompressed, whole sub-buffers, and the same
                // records through the page decoder.
                let mut pages = 0usize;
                let mut records = 0usize;
                for page in f.cpu_pages(bi, c.cpu) {
                    let page = page.unwrap();
                    assert_eq!(page.len(), b.subbuf_size as usize);
                    assert_eq!(matches!(page, Cow::Borrowed(_)), !b.compressed, "{name}");
                    let p = kscope_ftrace::page::Page::parse(&page, f.page_format()).unwrap();
                    records += p.records().count();
                    pages += 1;
                }
                if !b.compressed {
                    assert_eq!(pages as u64 * u64::from(b.subbuf_size), c.size, "{name}");
                }
                let n = want
                    .iter()
                    .filter(|d| matches!(d, Decoded::Record { .. }))
                    .count();
                assert_eq!(records, n, "{name}");
            }
        }
    }
}

#[test]
fn mapped_and_owned_files_read_the_same() {
    for &name in FILES {
        let mapped = open(name);
        let owned = TraceFile::from_bytes(read_data(name)).unwrap();
        assert_eq!(
            metadata_summary(&mapped),
            metadata_summary(&owned),
            "{name}"
        );
        assert_eq!(
            decode_all(&mapped).unwrap(),
            decode_all(&owned).unwrap(),
            "{name}"
        );
    }
}

/// The parts of the metadata that do not depend on the layout.
fn content(f: &TraceFile) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {} {:?} {:?} {} {:?}",
        f.header_page(),
        f.header_event(),
        f.ftrace_formats(),
        f.event_systems(),
        f.kallsyms(),
        f.printk_formats(),
        f.cmdlines(),
        f.cpu_count(),
        f.cpu_stats(),
    )
}

#[test]
fn zlib_zstd_and_uncompressed_encodings_read_the_same() {
    // trace-cmd 3.1.6 here supports zstd only, so zlib files are made from its files by
    // rewriting them (tracedat_read_util::recompress_v7, a trace-cmd-like layout).
    for (name, algorithm, compress_options) in [
        ("v7-none.dat", "zlib", false),
        ("v7-none.dat", "zlib", true),
        ("v7-zstd.dat", "zlib", false),
        ("v7-none.dat", "zstd", true),
        ("v7-zstd.dat", "none", false),
        ("v7-zstd-2buf.dat", "zlib", true),
        ("v7-lost.dat", "zlib", false),
    ] {
        let src = open(name);
        let bytes =
            tracedat_read_util::recompress_v7(&read_data(name), algorithm, compress_options);
        let f =
            TraceFile::from_bytes(bytes).unwrap_or_else(|e| panic!("{name} as {algorithm}: {e}"));
        assert_eq!(f.compression_header().0, algorithm);
        assert_eq!(
            f.compression(),
            &match algorithm {
                "zlib" => Compression::Zlib,
                "zstd" => Compression::Zstd,
                _ => Compression::None,
            }
        );
        assert_eq!(content(&f), content(&src), "{name} as {algorithm}");
        assert_eq!(
            decode_all(&f).unwrap(),
            decode_all(&src).unwrap(),
            "{name} as {algorithm}"
        );
        let compressed = algorithm != "none";
        assert!(f.buffers().iter().all(|b| b.compressed == compressed));
    }
}

#[test]
fn cursors_are_send() {
    fn send<T: Send>() {}
    send::<CpuRecords<'static>>();
    send::<TraceFile>();
    fn sync<T: Sync>() {}
    sync::<TraceFile>();
    // And can be decoded on threads.
    let f = open("v7-zstd.dat");
    let counts: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = f.buffers()[0]
            .cpus
            .iter()
            .map(|c| {
                let cursor = f.cpu_records(0, c.cpu).unwrap();
                s.spawn(move || cursor.count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let d = parse_dump("v7-zstd.dat");
    assert_eq!(
        counts,
        d.report_cpu_lines.values().copied().collect::<Vec<_>>()
    );
}

#[test]
fn unknown_buffer_or_cpu_is_an_error() {
    let f = open("v7-none.dat");
    assert!(f.cpu_records(5, 0).is_err());
    assert!(f.cpu_records(0, 9).is_err());
    let mut pages = f.cpu_pages(0, 9);
    let err = pages.next().unwrap().unwrap_err();
    assert!(err.to_string().contains("CPU 9"), "{err}");
    assert!(pages.next().is_none());
    assert!(f.records(3).is_err());
}

#[test]
fn payloads_render_as_trace_cmd_prints_them() {
    // trace-cmd's plugins rewrite these events' text; every other event's text comes from
    // its `print fmt`, which crate::format renders.
    const PLUGINS: &[&str] = &[
        "sched_switch",
        "sched_wakeup",
        "sched_wakeup_new",
        "hrtimer_start",
        "hrtimer_expire_entry",
    ];
    for &name in FILES {
        let f = open(name);
        let table = f.event_table();
        let ctx = f.render_context();
        let decoded = decode_all(&f).unwrap();
        let lines = report(name);
        assert_eq!(decoded.len(), lines.len());
        let mut compared = 0;
        for (d, line) in decoded.iter().zip(&lines) {
            let (Decoded::Record { id, payload, .. }, ReportLine::Event { event, text, .. }) =
                (d, line)
            else {
                continue;
            };
            if PLUGINS.contains(&event.as_str()) {
                continue;
            }
            let format = &table.get((*id).into()).unwrap().format;
            assert_eq!(
                format.render(payload, &ctx).trim(),
                text.trim(),
                "{name}: {event}"
            );
            compared += 1;
        }
        assert!(compared > 100, "{name}: {compared}");
    }
}

#[test]
fn v6_latency_text_is_read() {
    let bytes = read_data("v6.dat");
    let at = bytes.windows(10).position(|w| w == b"flyrecord\0").unwrap();
    let text = b"# tracer: irqsoff\n#\n  <idle>-0       0d.h1    0us : do_IRQ <-common_interrupt\n";
    let mut lat = bytes[..at].to_vec();
    lat.extend_from_slice(b"latency  \0");
    lat.extend_from_slice(text);
    let f = TraceFile::from_bytes(lat).unwrap();
    assert!(f.buffers().is_empty());
    assert_eq!(f.text_buffers().len(), 1);
    let got: Vec<u8> = f
        .text_chunks(0)
        .flat_map(|c| c.unwrap().into_owned())
        .collect();
    assert_eq!(got, text);
    assert_eq!(f.all_records().count(), 0);
    assert!(f.text_chunks(1).next().unwrap().is_err());
}

/// Appends a BUFFER_TEXT section and an OPTIONS section naming it to a v7 file, chained
/// from its last DONE option.
fn append_latency(src: &[u8], text: &[u8], zstd_chunks: bool) -> Vec<u8> {
    let f = TraceFile::from_bytes(src.to_vec()).unwrap();
    let done = f
        .options()
        .iter()
        .rev()
        .find(|o| o.id == opt::DONE)
        .unwrap();
    assert!(done.place.decompressed.is_none());
    let mut out = src.to_vec();
    let section = out.len() as u64;
    let payload = if zstd_chunks {
        let mut p = 2u32.to_le_bytes().to_vec();
        for half in [&text[..text.len() / 2], &text[text.len() / 2..]] {
            let c = tracedat_read_util::zstd(half);
            p.extend_from_slice(&(c.len() as u32).to_le_bytes());
            p.extend_from_slice(&(half.len() as u32).to_le_bytes());
            p.extend_from_slice(&c);
        }
        p
    } else {
        text.to_vec()
    };
    let header = |out: &mut Vec<u8>, id: u16, flags: u16, size: usize| {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(size as u64).to_le_bytes());
    };
    header(
        &mut out,
        opt::BUFFER_TEXT,
        u16::from(zstd_chunks),
        payload.len(),
    );
    out.extend_from_slice(&payload);
    let mut option = section.to_le_bytes().to_vec();
    option.extend_from_slice(b"lat\0local\0");
    let mut options = Vec::new();
    options.extend_from_slice(&opt::BUFFER_TEXT.to_le_bytes());
    options.extend_from_slice(&(option.len() as u32).to_le_bytes());
    options.extend_from_slice(&option);
    options.extend_from_slice(&opt::DONE.to_le_bytes());
    options.extend_from_slice(&8u32.to_le_bytes());
    options.extend_from_slice(&0u64.to_le_bytes());
    let at = out.len() as u64;
    header(&mut out, opt::DONE, 0, options.len());
    out.extend_from_slice(&options);
    let p = done.place.offset as usize;
    out[p..p + 8].copy_from_slice(&at.to_le_bytes());
    out
}

#[test]
fn v7_latency_text_is_read_plain_and_in_chunks() {
    let text: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    for (name, chunks) in [("v7-none.dat", false), ("v7-zstd.dat", true)] {
        let src = open(name);
        let f = TraceFile::from_bytes(append_latency(&read_data(name), &text, chunks)).unwrap();
        let t = &f.text_buffers()[0];
        assert_eq!(
            (t.name.as_str(), t.clock.as_deref()),
            ("lat", Some("local"))
        );
        assert_eq!(t.compressed, chunks);
        let got: Vec<u8> = f
            .text_chunks(0)
            .flat_map(|c| c.unwrap().into_owned())
            .collect();
        assert_eq!(got, text, "{name}");
        assert_eq!(f.text_chunks(0).count(), if chunks { 2 } else { 1 });
        // The ring-buffer data is unchanged.
        assert_eq!(decode_all(&f).unwrap(), decode_all(&src).unwrap());
    }
}

#[test]
fn v6_without_traceclock_has_no_clock_text() {
    let bytes = read_data("v6.dat");
    let f = open("v6.dat");
    let clock = f
        .options()
        .iter()
        .find(|o| o.id == opt::TRACECLOCK)
        .unwrap();
    let (start, end) = (
        clock.place.offset as usize - 6,
        clock.place.offset as usize + clock.data.len(),
    );
    let fly = bytes.windows(10).position(|w| w == b"flyrecord\0").unwrap();
    let table_end = fly + 10 + 16 * f.cpu_count() as usize;
    let clock_len = u64::from_le_bytes(bytes[table_end..table_end + 8].try_into().unwrap());
    let rest = table_end + 8 + clock_len as usize;
    // Drop the option and the clock text; keep the CPU data where it was.
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(&bytes[end..table_end]);
    out.resize(rest, 0);
    out.extend_from_slice(&bytes[rest..]);
    assert_eq!(out.len(), bytes.len());
    let g = TraceFile::from_bytes(out).unwrap();
    assert_eq!(g.trace_clocks(), None);
    assert_eq!(g.buffers()[0].clock, None);
    assert_eq!(g.options().len(), f.options().len() - 1);
    assert_eq!(decode_all(&g).unwrap(), decode_all(&f).unwrap());
}
