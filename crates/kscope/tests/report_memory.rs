//! `kscope report`'s memory does not grow with the file: reporting a 96 MiB file raises
//! the process's peak RSS by about as much as reporting a 6 MiB one, and by far less than
//! the file (the mapped pages a cursor has passed are released). One test in this binary,
//! so that the process's peak RSS is its own.

use std::path::{Path, PathBuf};

use kscope_ftrace::tracedat::write::{Metadata, TraceDatWriter, WriterOptions};
use kscope_report::{Mode, Options};

const PAGE: usize = 4096;
const PRINT_ID: u16 = 5;

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kscope-ftrace/tests/data/tracedat_write")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn metadata() -> Metadata {
    Metadata {
        header_page: data("header_page"),
        header_event: data("header_event"),
        ftrace_formats: vec![data("ftrace_print.format")],
        event_formats: Vec::new(),
        kallsyms: String::new(),
        printk_formats: String::new(),
        cmdlines: "100 writer\n".into(),
        uname: "Linux test 6.18.0 x86_64".into(),
        trace_clock: "local".into(),
        trace_clocks: vec!["local".into()],
        cpu_count: 2,
        cpu_stats: vec![String::new(), String::new()],
        buffer_name: String::new(),
        version: Some("kscope-test".into()),
    }
}

/// A sub-buffer of four `ftrace:print` records of ~1000 bytes, starting at `time`.
fn page(time: u64) -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..4u8 {
        let mut p = Vec::new();
        p.extend_from_slice(&PRINT_ID.to_le_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&100i32.to_le_bytes());
        p.extend_from_slice(&0u64.to_le_bytes()); // ip
        p.extend(std::iter::repeat_n(b'a' + i, 980));
        p.push(0);
        p.resize(p.len().next_multiple_of(4), 0);
        data.extend_from_slice(&(if i == 0 { 0u32 } else { 10 << 5 }).to_le_bytes());
        data.extend_from_slice(&(p.len() as u32 + 4).to_le_bytes());
        data.extend_from_slice(&p);
    }
    let mut page = vec![0u8; PAGE];
    page[..8].copy_from_slice(&time.to_le_bytes());
    page[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
    page[16..16 + data.len()].copy_from_slice(&data);
    page
}

/// A file with `pages` sub-buffers on each of 2 CPUs.
fn write_file(path: &Path, pages: u64) {
    let options = WriterOptions {
        page_size: PAGE as u32,
        subbuf_size: PAGE as u32,
        ..WriterOptions::default()
    };
    let mut w = TraceDatWriter::create(path, options, metadata()).unwrap();
    for cpu in 0..2u32 {
        for i in 0..pages {
            w.write_page(cpu, &page(1_000_000 + i * 1000 + u64::from(cpu)))
                .unwrap();
        }
    }
    w.finish().unwrap();
}

/// A line of /proc/self/status, in KiB.
fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
}

/// The rise of the peak RSS (KiB) while reporting `path` to nowhere.
fn peak_rise(path: &Path) -> u64 {
    // Writing 5 resets the peak (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kb("VmRSS:");
    let opts = Options {
        mode: Mode::Text,
        ..Options::default()
    };
    kscope_report::run(path, &opts, &mut std::io::sink()).unwrap();
    status_kb("VmHWM:").saturating_sub(before)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kscope-{}-{name}", std::process::id()))
}

#[test]
fn peak_memory_does_not_grow_with_the_file() {
    let small = temp("report-small.dat");
    let large = temp("report-large.dat");
    write_file(&small, 768); // 6 MiB
    write_file(&large, 12 * 1024); // 96 MiB
    let large_size = std::fs::metadata(&large).unwrap().len() / 1024;
    let small_rise = peak_rise(&small);
    let large_rise = peak_rise(&large);
    std::fs::remove_file(&small).unwrap();
    std::fs::remove_file(&large).unwrap();
    eprintln!(
        "peak RSS rise: {small_rise} KiB (6 MiB file), {large_rise} KiB ({large_size} KiB file)"
    );
    // Without the release of passed pages the large file's rise is its size (96 MiB).
    assert!(
        large_rise < 16 * 1024,
        "{large_rise} KiB for a {large_size} KiB file"
    );
    assert!(
        large_rise < small_rise + 8 * 1024,
        "{large_rise} KiB against {small_rise} KiB"
    );
}
