//! Shared by the tracedat_read* tests: the committed trace-cmd files, the facts
//! `trace-cmd dump` printed about them, their `trace-cmd report -t` output, and a full
//! decode of a file into comparable values.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use kscope_ftrace::page::Missed;
use kscope_ftrace::tracedat::read::{Item, ReadError, TraceFile};

/// The trace-cmd files under tests/data/tracedat (see its README).
pub const FILES: &[&str] = &[
    "v7-zstd.dat",
    "v7-none.dat",
    "v6.dat",
    "v7-zstd-2buf.dat",
    "v6-2buf.dat",
    "v7-lost.dat",
];

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tracedat")
        .join(name)
}

pub fn read_data(name: &str) -> Vec<u8> {
    std::fs::read(data_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One line of `trace-cmd report -t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportLine {
    /// An event: its buffer (`""` for the top instance), CPU, timestamp in ns, event name
    /// and the text after the name.
    Event {
        buffer: String,
        cpu: u32,
        ts: u64,
        event: String,
        text: String,
    },
    /// `CPU:N [M EVENTS DROPPED]` (count `None` when trace-cmd prints no number).
    Dropped { cpu: u32, count: Option<u64> },
}

/// The `[ddd]  sec.nsec: ` part of a report line: (cpu, ts, the byte after the colon).
fn find_cpu_ts(line: &str) -> Option<(u32, u64, usize)> {
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(off) = line[i..].find('[') {
        let at = i + off;
        i = at + 1;
        if b.len() < at + 5
            || b[at + 4] != b']'
            || !b[at + 1..at + 4].iter().all(u8::is_ascii_digit)
        {
            continue;
        }
        let cpu: u32 = line[at + 1..at + 4].parse().ok()?;
        let rest = &line[at + 5..];
        let trimmed = rest.trim_start();
        let start = at + 5 + (rest.len() - trimmed.len());
        let colon = trimmed.find(':')?;
        let (sec, nsec) = trimmed[..colon].split_once('.')?;
        if nsec.len() != 9 {
            continue;
        }
        let ts = sec.parse::<u64>().ok()? * 1_000_000_000 + nsec.parse::<u64>().ok()?;
        return Some((cpu, ts, start + colon + 1));
    }
    None
}

pub fn report(name: &str) -> Vec<ReportLine> {
    let gz = read_data(&format!("{name}.report.txt.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("cpus=") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("CPU:")
            && let Some((cpu, rest)) = rest.split_once(" [")
            && rest.ends_with("EVENTS DROPPED]")
        {
            let count = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            out.push(ReportLine::Dropped {
                cpu: cpu.parse().unwrap(),
                count,
            });
            continue;
        }
        let (cpu, ts, after) = find_cpu_ts(line).unwrap_or_else(|| panic!("{name}: {line:?}"));
        let buffer = if line.starts_with(' ') {
            String::new()
        } else {
            line.split_once(':').unwrap().0.to_string()
        };
        let rest = line[after..].trim_start();
        let (event, text) = rest.split_once(':').unwrap();
        out.push(ReportLine::Event {
            buffer,
            cpu,
            ts,
            event: event.to_string(),
            text: text.trim().to_string(),
        });
    }
    out
}

/// What the merged record iterator yields, reduced to what the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Record {
        buffer: usize,
        cpu: u32,
        ts: u64,
        id: u16,
        payload: Vec<u8>,
    },
    Lost {
        buffer: usize,
        cpu: u32,
        missed: Missed,
    },
}

/// Decodes every record of every buffer, merged; the first error ends it.
pub fn decode_all(file: &TraceFile) -> Result<Vec<Decoded>, ReadError> {
    let mut out = Vec::new();
    let big = file.endian() == kscope_ftrace::page::Endian::Big;
    for item in file.all_records() {
        out.push(match item? {
            Item::Record(r) => {
                let raw = [
                    r.payload.first().copied().unwrap_or(0),
                    r.payload.get(1).copied().unwrap_or(0),
                ];
                Decoded::Record {
                    buffer: r.buffer,
                    cpu: r.cpu,
                    ts: r.timestamp,
                    id: if big {
                        u16::from_be_bytes(raw)
                    } else {
                        u16::from_le_bytes(raw)
                    },
                    payload: r.payload.into_owned(),
                }
            }
            Item::Lost(l) => Decoded::Lost {
                buffer: l.buffer,
                cpu: l.cpu,
                missed: l.missed,
            },
        });
    }
    Ok(out)
}

/// Everything a file's metadata holds, in one comparable value.
pub fn metadata_summary(file: &TraceFile) -> String {
    format!(
        "{} {:?} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {} {} {:?} {:?} {:?}",
        file.version(),
        file.endian(),
        file.long_size(),
        file.page_size(),
        file.compression_header(),
        file.header_page(),
        file.header_event(),
        file.ftrace_formats(),
        file.event_systems(),
        file.page_format(),
        file.kallsyms().len(),
        file.printk_formats(),
        file.cmdlines(),
        file.cpu_count(),
        file.options(),
        file.buffers(),
        file.text_buffers(),
    )
}

/// A small deterministic random generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The payload of a v7 section of `src` (decompressed with zstd or zlib when flagged).
pub fn section_payload(src: &[u8], offset: u64, size: u64, flags: u16, zlib: bool) -> Vec<u8> {
    let start = offset as usize + 16;
    let payload = &src[start..start + size as usize];
    if flags & 1 == 0 {
        return payload.to_vec();
    }
    let c = u32::from_le_bytes(payload[0..4].try_into().unwrap()) as usize;
    let u = u32::from_le_bytes(payload[4..8].try_into().unwrap()) as usize;
    let data = &payload[8..8 + c];
    if zlib {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        zstd::bulk::decompress(data, u).unwrap()
    }
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).unwrap()
}

/// Rewrites a little-endian v7 file with another compression (`"none"`, `"zstd"` or
/// `"zlib"`), the way trace-cmd lays out compressed files: each metadata section as one
/// compressed block, each CPU's data as chunks of 10 sub-buffers (with the size recorded
/// without the chunk count), then one OPTIONS section (itself compressed when
/// `compress_options`). No STRINGS section.
pub fn recompress_v7(src: &[u8], algorithm: &str, compress_options: bool) -> Vec<u8> {
    use kscope_ftrace::tracedat::option as opt;
    let f = TraceFile::from_bytes(src.to_vec()).unwrap();
    assert_eq!(f.version(), 7);
    let src_zlib = f.compression_header().0 == "zlib";
    let compress = |data: &[u8]| -> Vec<u8> {
        match algorithm {
            "zstd" => zstd(data),
            "zlib" => zlib(data),
            _ => data.to_vec(),
        }
    };
    let compressed = algorithm != "none";
    let mut out = src[..18].to_vec();
    out.extend_from_slice(algorithm.as_bytes());
    out.push(0);
    out.extend_from_slice(if compressed { b"1.0\0" } else { b"\0" });
    let options_ptr = out.len();
    out.extend_from_slice(&[0; 8]);

    let header = |out: &mut Vec<u8>, id: u16, flags: u16, size: u64| {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
    };
    let block = |out: &mut Vec<u8>, id: u16, payload: &[u8]| {
        if compressed {
            let c = compress(payload);
            header(out, id, 1, 8 + c.len() as u64);
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&c);
        } else {
            header(out, id, 0, payload.len() as u64);
            out.extend_from_slice(payload);
        }
    };

    let mut offsets = std::collections::HashMap::new();
    for s in f.sections() {
        if (opt::HEADER_INFO..=opt::CMDLINES).contains(&s.id) {
            let payload = section_payload(src, s.offset, s.size, s.flags, src_zlib);
            offsets.insert(s.id, out.len() as u64);
            block(&mut out, s.id, &payload);
        }
    }

    let mut buffer_options = Vec::new();
    for (bi, b) in f.buffers().iter().enumerate() {
        let section = out.len();
        header(&mut out, opt::BUFFER, u16::from(compressed), 0);
        let data_start = out.len();
        let mut cpus = Vec::new();
        for c in &b.cpus {
            while !out.len().is_multiple_of(4096) {
                out.push(0);
            }
            let at = out.len();
            let pages: Vec<Vec<u8>> = f
                .cpu_pages(bi, c.cpu)
                .map(|p| p.unwrap().into_owned())
                .collect();
            if compressed {
                let chunks: Vec<&[Vec<u8>]> = pages.chunks(10).collect();
                out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
                for chunk in chunks {
                    let raw = chunk.concat();
                    let data = compress(&raw);
                    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                    out.extend_from_slice(&data);
                }
                cpus.push((c.cpu, at as u64, (out.len() - at - 4) as u64));
            } else {
                for page in &pages {
                    out.extend_from_slice(page);
                }
                cpus.push((c.cpu, at as u64, (out.len() - at) as u64));
            }
        }
        let size = (out.len() - data_start) as u64;
        out[section + 8..section + 16].copy_from_slice(&size.to_le_bytes());
        let mut o = Vec::new();
        o.extend_from_slice(&(section as u64).to_le_bytes());
        o.extend_from_slice(b.name.as_bytes());
        o.push(0);
        o.extend_from_slice(b.clock.as_deref().unwrap_or("local").as_bytes());
        o.push(0);
        o.extend_from_slice(&b.subbuf_size.to_le_bytes());
        o.extend_from_slice(&(cpus.len() as u32).to_le_bytes());
        for (cpu, at, size) in cpus {
            o.extend_from_slice(&cpu.to_le_bytes());
            o.extend_from_slice(&at.to_le_bytes());
            o.extend_from_slice(&size.to_le_bytes());
        }
        buffer_options.push(o);
    }

    let mut options = Vec::new();
    let mut put = |id: u16, data: &[u8]| {
        options.extend_from_slice(&id.to_le_bytes());
        options.extend_from_slice(&(data.len() as u32).to_le_bytes());
        options.extend_from_slice(data);
    };
    for o in f.options() {
        match o.id {
            opt::DONE | opt::BUFFER | opt::STRINGS => {}
            id if (opt::HEADER_INFO..=opt::CMDLINES).contains(&id) => {
                put(id, &offsets[&id].to_le_bytes());
            }
            id => put(id, &o.data),
        }
    }
    for b in &buffer_options {
        put(opt::BUFFER, b);
    }
    put(opt::DONE, &0u64.to_le_bytes());
    let at = out.len() as u64;
    if compress_options && compressed {
        block(&mut out, opt::DONE, &options);
    } else {
        header(&mut out, opt::DONE, 0, options.len() as u64);
        out.extend_from_slice(&options);
    }
    out[options_ptr..options_ptr + 8].copy_from_slice(&at.to_le_bytes());
    out
}

/// Records the largest single allocation of the current thread.
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|c| {
        if size > c.get() {
            c.set(size);
        }
    });
}

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// How long one case may take (debug build, slow machine).
pub const LIMIT: Duration = Duration::from_secs(20);

/// Opening and decoding a file: a digest of everything read, or the error.
pub type Outcome = Result<u64, String>;

/// Hashes the metadata and every merged item without keeping them.
pub fn digest(bytes: Vec<u8>) -> Result<u64, ReadError> {
    let f = TraceFile::from_bytes(bytes)?;
    let mut h = DefaultHasher::new();
    (
        f.version(),
        f.long_size(),
        f.page_size(),
        f.compression_header(),
        f.header_page(),
        f.header_event(),
        f.ftrace_formats(),
    )
        .hash(&mut h);
    for s in f.event_systems() {
        (&s.name, &s.formats).hash(&mut h);
    }
    (
        f.kallsyms(),
        f.printk_formats(),
        f.cmdlines(),
        f.cpu_count(),
    )
        .hash(&mut h);
    for o in f.options() {
        (o.id, &o.data).hash(&mut h);
    }
    for b in f.buffers() {
        (&b.name, &b.clock, b.subbuf_size, b.compressed, b.cpus.len()).hash(&mut h);
    }
    let mut records = f.all_records();
    while let Some(item) = records.next_ref() {
        match item? {
            Item::Record(r) => (r.buffer, r.cpu, r.timestamp, r.payload).hash(&mut h),
            Item::Lost(l) => (l.buffer, l.cpu, l.timestamp, format!("{:?}", l.missed)).hash(&mut h),
        }
    }
    Ok(h.finish())
}

/// Runs one case on its own thread: its outcome and its largest allocation.
pub fn run(bytes: Vec<u8>, what: &str) -> (Outcome, usize) {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            LARGEST.with(|c| c.set(0));
            let outcome = digest(bytes).map_err(|e| {
                let text = e.to_string();
                assert!(!e.section.is_empty(), "{text}");
                text
            });
            let largest = LARGEST.with(Cell::get);
            let _ = tx.send((outcome, largest));
        })
        .unwrap();
    match rx.recv_timeout(LIMIT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {LIMIT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the reader panicked"),
    }
}

/// The cap on one allocation while reading a file of `len` bytes: the file's metadata
/// (decompressed kallsyms, formats), one decompressed chunk and zstd's context.
pub fn alloc_cap(len: usize) -> usize {
    2 * len + (1 << 20)
}

pub fn check(name: &str, bytes: Vec<u8>, what: &str) -> Outcome {
    let len = bytes.len();
    let (outcome, largest) = run(bytes, &format!("{name}: {what}"));
    assert!(
        largest <= alloc_cap(len),
        "{name}: {what}: an allocation of {largest} bytes for a file of {len}"
    );
    if let Err(text) = &outcome {
        assert!(text.contains("offset"), "{name}: {what}: {text}");
    }
    outcome
}
