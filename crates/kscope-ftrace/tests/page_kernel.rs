//! Ring-buffer pages captured from the running kernel, decoded, and checked against the
//! kernel's own account of the same events.
//!
//! At every *read point* tracing is paused, the instance's `per_cpu/cpu0/trace` is read with
//! the `raw` option (lines `pid cpu timestamp …`, the timestamp in exact trace-clock units),
//! then `per_cpu/cpu0/trace_pipe_raw` is drained one page at a time, reading
//! `per_cpu/cpu0/stats` after each page: the growth of "read events" is the number of records
//! the kernel put in that page. The decoder must find exactly those records, with the text's
//! timestamps and pids, only ids of enabled events, and times that never go back.
//!
//! The traced work runs on CPU 0 in a thread pinned there. Tracing is paused while the
//! reading thread reads; when there is a second CPU it runs there too, away from the traced
//! work.
//!
//! `capture_corpus` (ignored) regenerates `tests/data/pages/`:
//! `cargo test -p kscope-ftrace --test page_kernel -- --ignored --nocapture capture_corpus`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use kscope_ftrace::Tracefs;
use kscope_ftrace::page::{Endian, EntryKind, Missed, Page, PageFormat, PageLayout};
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, require};

/// The CPU whose buffer is read.
const TRACED_CPU: usize = 0;

/// Where the reading thread runs: CPU 1 when there is one.
fn reader_cpu() -> String {
    let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let has_cpu_1 = online
        .trim()
        .split(',')
        .any(|part| match part.split_once('-') {
            Some((a, b)) => {
                a.parse().is_ok_and(|a: usize| a <= 1) && b.parse().is_ok_and(|b: usize| b >= 1)
            }
            None => part == "1",
        });
    if has_cpu_1 { "1" } else { "0" }.to_owned()
}

/// A private tracefs instance, removed on drop (also when the test panics).
struct TestInstance {
    dir: PathBuf,
}

impl TestInstance {
    fn create(purpose: &str) -> TestInstance {
        let tracefs = Tracefs::require().expect("tracefs is mounted");
        let name = format!("kscope-{}-{purpose}", std::process::id());
        let dir = tracefs.root().join("instances").join(name);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TestInstance { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn write(&self, file: &str, value: &str) {
        fs::write(self.path(file), value)
            .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", self.path(file).display()));
    }

    fn read(&self, file: &str) -> String {
        read_text(&self.path(file))
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path(file).display()))
    }

    /// The ids of every enabled event, plus `ftrace/print` (trace_marker writes).
    fn enabled_ids(&self) -> BTreeSet<u16> {
        let mut names: Vec<String> = self
            .read("set_event")
            .lines()
            .map(|l| l.replace(':', "/"))
            .collect();
        names.push("ftrace/print".into());
        names
            .iter()
            .map(|n| {
                let id = self.read(&format!("events/{n}/id"));
                id.trim().parse().expect("an event id")
            })
            .collect()
    }

    fn stats(&self) -> Stats {
        let text = self.read(&format!("per_cpu/cpu{TRACED_CPU}/stats"));
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name:?} in stats:\n{text}"))
        };
        Stats {
            overrun: field("overrun:"),
            read_events: field("read events:"),
        }
    }
}

impl Drop for TestInstance {
    fn drop(&mut self) {
        let _ = fs::write(self.path("tracing_on"), "0");
        let _ = fs::write(self.path("set_event"), "");
        // A reader that is still closing its file keeps the instance busy for a moment.
        for _ in 0..100 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    eprintln!("removing {}: {e}", self.dir.display());
                    return;
                }
            }
        }
        eprintln!("removing {}: still busy", self.dir.display());
    }
}

/// Reads a tracefs file. Some (`events/header_page`, event `filter`s) answer only a read at
/// offset 0, so the first read must be large enough for the whole text (`read_to_string`
/// starts with a 32-byte probe and would get a truncated header_page).
fn read_text(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

struct Stats {
    overrun: u64,
    read_events: u64,
}

/// The calling thread's id.
fn current_tid() -> String {
    let link = fs::read_link("/proc/thread-self").expect("reading /proc/thread-self");
    link.file_name()
        .and_then(|t| t.to_str())
        .expect("a thread id")
        .to_owned()
}

/// Pins the calling thread to one CPU (or a list, e.g. "0-3") with taskset(1).
fn pin_current_thread(cpus: &str) {
    let tid = current_tid();
    let status = Command::new("taskset")
        .args(["-pc", cpus, &tid])
        .stdout(Stdio::null())
        .status()
        .expect("running taskset (util-linux)");
    assert!(status.success(), "taskset -pc {cpus} {tid} failed");
}

type Job = Box<dyn FnOnce() + Send>;

/// A thread pinned to the traced CPU that runs the traced work, one job at a time.
struct Writer {
    jobs: Option<mpsc::Sender<(Job, mpsc::Sender<()>)>>,
    thread: Option<thread::JoinHandle<()>>,
    tid: String,
}

impl Writer {
    fn on_traced_cpu() -> Writer {
        let (tx, rx) = mpsc::channel::<(Job, mpsc::Sender<()>)>();
        let (tid_tx, tid_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            pin_current_thread(&TRACED_CPU.to_string());
            let _ = tid_tx.send(current_tid());
            for (job, done) in rx {
                job();
                let _ = done.send(());
            }
        });
        let tid = tid_rx.recv().expect("the writer thread started");
        Writer {
            jobs: Some(tx),
            thread: Some(thread),
            tid,
        }
    }

    fn run(&self, job: impl FnOnce() + Send + 'static) {
        let (done_tx, done_rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .expect("writer running")
            .send((Box::new(job), done_tx))
            .expect("the writer thread is gone");
        done_rx.recv().expect("the writer thread died");
    }

    fn markers(&self, inst: &TestInstance, texts: Vec<String>) {
        let path = inst.path("trace_marker");
        self.run(move || {
            let mut marker = OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("opening trace_marker");
            for text in texts {
                // One write, one event.
                let n = marker.write(text.as_bytes()).expect("writing trace_marker");
                assert!(n > 0);
            }
        });
    }

    fn syscalls(&self, count: usize) {
        self.run(move || {
            for _ in 0..count {
                let _ = fs::metadata("/");
            }
        });
    }

    fn syscalls_for(&self, duration: Duration) {
        self.run(move || {
            let end = Instant::now() + duration;
            while Instant::now() < end {
                for _ in 0..100 {
                    let _ = fs::metadata("/");
                }
            }
        });
    }

    fn sleep(&self, duration: Duration) {
        self.run(move || thread::sleep(duration));
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event as the kernel's text output shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TextEvent {
    pid: i32,
    ts: u64,
}

fn parse_raw_text(text: &str) -> Vec<TextEvent> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("CPU:"))
        .map(|line| {
            let mut words = line.split_whitespace();
            let mut next = |what: &str| {
                words
                    .next()
                    .unwrap_or_else(|| panic!("no {what} in trace line {line:?}"))
            };
            let pid = next("pid").parse().expect("a pid");
            let _cpu = next("cpu");
            let ts = next("timestamp").parse().expect("a timestamp");
            TextEvent { pid, ts }
        })
        .collect()
}

/// One page read from trace_pipe_raw, with the kernel's account of it.
#[derive(Debug, Clone)]
struct CapturedPage {
    bytes: Vec<u8>,
    read_point: usize,
    /// Growth of "read events" in the stats across this page's read.
    kernel_records: usize,
    /// This page's events in the text output.
    truth: Vec<TextEvent>,
    /// "overrun" in the stats when the page was read.
    overrun: u64,
}

/// The pages read from one instance, read point after read point.
struct Capture {
    raw: File,
    page_size: usize,
    pages: Vec<CapturedPage>,
    read_points: usize,
}

impl Capture {
    fn open(inst: &TestInstance) -> Capture {
        // buffer_subbuf_size_kb exists from Linux 6.8; before it sub-buffers are one page.
        let page_size = read_text(&inst.path("buffer_subbuf_size_kb"))
            .ok()
            .and_then(|kb| kb.trim().parse::<usize>().ok())
            .map_or(4096, |kb| kb * 1024);
        let raw = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(inst.path(&format!("per_cpu/cpu{TRACED_CPU}/trace_pipe_raw")))
            .expect("opening trace_pipe_raw");
        Capture {
            raw,
            page_size,
            pages: Vec::new(),
            read_points: 0,
        }
    }

    /// Pauses tracing, takes the text output, drains the raw pages, resumes tracing.
    fn read_point(&mut self, inst: &TestInstance) {
        inst.write("tracing_on", "0");
        let events = parse_raw_text(&inst.read(&format!("per_cpu/cpu{TRACED_CPU}/trace")));
        let mut before = inst.stats();
        let mut used = 0;
        let mut buf = vec![0u8; self.page_size];
        loop {
            match self.raw.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    assert_eq!(n, self.page_size, "trace_pipe_raw gave a partial page");
                    let after = inst.stats();
                    let k = (after.read_events - before.read_events) as usize;
                    before = after;
                    assert!(
                        used + k <= events.len(),
                        "the kernel read {} events, its text showed {}",
                        used + k,
                        events.len()
                    );
                    self.pages.push(CapturedPage {
                        bytes: buf.clone(),
                        read_point: self.read_points,
                        kernel_records: k,
                        truth: events[used..used + k].to_vec(),
                        overrun: before.overrun,
                    });
                    used += k;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading trace_pipe_raw: {e}"),
            }
        }
        assert_eq!(
            used,
            events.len(),
            "the text showed {} events, the pages held {used}",
            events.len()
        );
        self.read_points += 1;
        inst.write("tracing_on", "1");
    }
}

/// What a page contains, as the decoder sees it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PageFacts {
    records: usize,
    long_records: usize,
    time_extends: usize,
    time_stamps: usize,
    /// Padding that ends exactly at the used size.
    end_padding: usize,
    /// Padding (a discarded event) with something after it.
    mid_padding: usize,
    missed: Option<Missed>,
    used: usize,
}

/// Decodes a captured page and checks it against the kernel's account.
fn check_page(page: &CapturedPage, format: PageFormat, ids: &BTreeSet<u16>) -> PageFacts {
    let decoded = Page::parse(&page.bytes, format).expect("a valid page header");
    let mut facts = PageFacts {
        missed: decoded.missed_events(),
        used: decoded.used_size(),
        ..PageFacts::default()
    };
    let data_end = format.layout.data_offset + decoded.used_size();
    let mut records = Vec::new();
    for entry in decoded.entries() {
        let entry = entry.unwrap_or_else(|e| panic!("read point {}: {e}", page.read_point));
        match entry.kind {
            EntryKind::Data { payload } => {
                records.push((entry.timestamp, payload));
                facts.long_records += usize::from(entry.type_len == 0);
            }
            EntryKind::Padding { length } if entry.offset_in_page + length == data_end => {
                facts.end_padding += 1
            }
            EntryKind::Padding { .. } => facts.mid_padding += 1,
            EntryKind::PaddingToEnd => facts.end_padding += 1,
            EntryKind::TimeExtend { .. } => facts.time_extends += 1,
            EntryKind::TimeStamp { .. } => facts.time_stamps += 1,
        }
    }
    facts.records = records.len();
    assert_eq!(
        records.len(),
        page.kernel_records,
        "records decoded vs read by the kernel (read point {})",
        page.read_point
    );
    for (i, ((ts, payload), truth)) in records.iter().zip(&page.truth).enumerate() {
        assert_eq!(*ts, truth.ts, "record {i}: timestamp vs the kernel's text");
        let pid = i32::from_le_bytes(payload[4..8].try_into().unwrap());
        assert_eq!(
            pid, truth.pid,
            "record {i}: common_pid vs the kernel's text"
        );
        let id = u16::from_le_bytes(payload[0..2].try_into().unwrap());
        assert!(ids.contains(&id), "record {i}: id {id} is not enabled");
    }
    for pair in records.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "time went back in a page");
    }
    facts
}

/// Checks every captured page, and the missed counts against the kernel's overrun.
fn check_capture(capture: &Capture, inst: &TestInstance, format: PageFormat) -> Vec<PageFacts> {
    let ids = inst.enabled_ids();
    let facts: Vec<PageFacts> = capture
        .pages
        .iter()
        .map(|p| check_page(p, format, &ids))
        .collect();
    let mut counted = 0;
    let mut unknown = 0;
    for f in &facts {
        match f.missed {
            Some(Missed::Count(n)) => counted += n,
            Some(Missed::Unknown) => unknown += 1,
            None => {}
        }
    }
    let overrun = inst.stats().overrun;
    if unknown == 0 {
        assert_eq!(counted, overrun, "missed counts vs the kernel's overrun");
    } else {
        assert!(counted <= overrun, "missed counts vs the kernel's overrun");
    }
    facts
}

fn summary(facts: &[PageFacts]) -> String {
    let sum = |f: fn(&PageFacts) -> usize| facts.iter().map(f).sum::<usize>();
    format!(
        "{} pages, {} records ({} long), {} time extends, {} time stamps, {} end paddings, \
         {} discarded events, {} missed-with-count, {} missed-unknown",
        facts.len(),
        sum(|f| f.records),
        sum(|f| f.long_records),
        sum(|f| f.time_extends),
        sum(|f| f.time_stamps),
        sum(|f| f.end_padding),
        sum(|f| f.mid_padding),
        sum(|f| usize::from(matches!(f.missed, Some(Missed::Count(_))))),
        sum(|f| usize::from(f.missed == Some(Missed::Unknown))),
    )
}

fn native_format(inst: &TestInstance) -> PageFormat {
    let layout = PageLayout::parse(&inst.read("events/header_page")).expect("header_page");
    PageFormat::new(layout, Endian::NATIVE)
}

fn all_cpus() -> String {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "0".into())
}

fn long_marker(tag: &str, len: usize) -> String {
    let mut text = format!("{tag} ");
    while text.len() < len {
        text.push((b'a' + (text.len() % 26) as u8) as char);
    }
    text
}

/// The small-buffer workload: long markers, bursts that overwrite, sleeps longer than a
/// 27-bit delta, and read points in between (so pages are read partly, then filled).
fn small_buffer_cycles(inst: &TestInstance, writer: &Writer, capture: &mut Capture, cycles: usize) {
    for cycle in 0..cycles {
        let markers = (0..3)
            .map(|i| long_marker(&format!("cycle {cycle} marker {i}"), 120 + 90 * i))
            .collect();
        writer.markers(inst, markers);
        capture.read_point(inst);
        writer.syscalls(40 + 150 * (cycle % 5));
        writer.markers(inst, vec![format!("cycle {cycle} after burst")]);
        capture.read_point(inst);
        if cycle % 4 == 3 {
            // Markers alone, all 24 bytes: 170 fill a 4080-byte page exactly, so the page
            // after the overwrite has no room left for the missed count.
            let events = inst.read("set_event").replace('\n', " ");
            inst.write("set_event", "");
            writer.markers(inst, (0..1000).map(|_| "x".to_string()).collect());
            inst.write("set_event", &events);
            capture.read_point(inst);
        }
        if cycle % 3 == 1 {
            writer.sleep(Duration::from_millis(1300));
            writer.markers(inst, vec![long_marker(&format!("cycle {cycle} woke"), 300)]);
            capture.read_point(inst);
        }
    }
}

const BUSY_EVENTS: &str = "sched:sched_switch raw_syscalls:sys_enter raw_syscalls:sys_exit";

#[test]
fn decoded_pages_match_the_kernels_own_account() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    pin_current_thread(&reader_cpu());
    {
        let inst = TestInstance::create("page_test");
        inst.write("buffer_size_kb", "8");
        inst.write("options/raw", "1");
        inst.write("set_event", BUSY_EVENTS);
        let format = native_format(&inst);
        let writer = Writer::on_traced_cpu();
        let mut capture = Capture::open(&inst);
        small_buffer_cycles(&inst, &writer, &mut capture, 3);
        // Only the writer's events from here: a sleep then gives a delta of more than 27
        // bits (other tasks on CPU 0 would break it up).
        inst.write("set_event_pid", &writer.tid);
        writer.sleep(Duration::from_millis(300));
        writer.markers(&inst, vec!["woke".into()]);
        capture.read_point(&inst);
        inst.write("tracing_on", "0");
        let facts = check_capture(&capture, &inst, format);
        eprintln!("{}", summary(&facts));
        assert!(facts.iter().map(|f| f.records).sum::<usize>() > 0);
        assert!(
            facts.iter().any(|f| f.long_records > 0),
            "long markers give type_len 0 records"
        );
        assert!(
            facts.iter().any(|f| f.missed.is_some()),
            "bursts overwrite an 8 KiB buffer"
        );
        assert!(
            facts.iter().any(|f| f.time_extends > 0),
            "a 300 ms sleep needs a time extend"
        );
    }
    pin_current_thread(&all_cpus());
    assert_eq!(
        KernelState::capture(),
        before,
        "the kernel is left as it was"
    );
}

// ---------------------------------------------------------------------------------------
// Corpus capture

/// A named test of a page's facts.
type FeatureTest = (&'static str, fn(&PageFacts) -> bool);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pages")
}

/// Picks pages so that every feature in `wanted` is covered, at most `max` pages, plus the
/// first plain full page.
fn select(facts: &[PageFacts], max: usize, wanted: &[FeatureTest]) -> Vec<usize> {
    let mut chosen = BTreeSet::new();
    for (name, has) in wanted {
        if chosen.len() >= max {
            break;
        }
        if chosen.iter().any(|&i| has(&facts[i])) {
            continue;
        }
        // Prefer a page with the most other features too.
        let best = (0..facts.len())
            .filter(|&i| has(&facts[i]))
            .max_by_key(|&i| {
                wanted.iter().filter(|(_, h)| h(&facts[i])).count() * 1000 + facts[i].records
            });
        match best {
            Some(i) => {
                chosen.insert(i);
            }
            None => eprintln!("no captured page has: {name}"),
        }
    }
    chosen.into_iter().collect()
}

fn missed_text(missed: Option<Missed>) -> String {
    match missed {
        None => "none".into(),
        Some(Missed::Unknown) => "unknown".into(),
        Some(Missed::Count(n)) => n.to_string(),
    }
}

/// Writes `NAME.pages`, `NAME.truth` and `NAME.header_page`.
fn save(name: &str, inst: &TestInstance, capture: &Capture, picked: &[usize], facts: &[PageFacts]) {
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    let release = kscope_sys::process::kernel_release().unwrap_or_default();
    let mut pages = Vec::new();
    let mut truth = format!(
        "# Kernel ground truth for {name}.pages, captured by tests/page_kernel.rs \
         (capture_corpus) on Linux {release}.\n\
         # Per page: its read point, the records the kernel counted as read for it, the \
         missed-events flag, then `timestamp pid` of each record from the kernel's text output.\n\
         page_size {}\n",
        capture.page_size
    );
    for (n, &i) in picked.iter().enumerate() {
        let page = &capture.pages[i];
        pages.extend_from_slice(&page.bytes);
        // The missed flag straight from the commit word's bits 31 and 30.
        let commit = u64::from_le_bytes(page.bytes[8..16].try_into().unwrap());
        let missed = if commit & (1 << 31) == 0 {
            None
        } else if commit & (1 << 30) == 0 {
            Some(Missed::Unknown)
        } else {
            let at = 16 + (commit & 0x7ff_ffff) as usize;
            Some(Missed::Count(u64::from_le_bytes(
                page.bytes[at..at + 8].try_into().unwrap(),
            )))
        };
        assert_eq!(missed, facts[i].missed);
        let _ = writeln!(
            truth,
            "page {n} read_point {} records {} missed {} overrun {}",
            page.read_point,
            page.kernel_records,
            missed_text(missed),
            page.overrun
        );
        for e in &page.truth {
            let _ = writeln!(truth, "{} {}", e.ts, e.pid);
        }
        eprintln!("{name} page {n}: {:?}", facts[i]);
    }
    fs::write(dir.join(format!("{name}.pages")), pages).unwrap();
    fs::write(dir.join(format!("{name}.truth")), truth).unwrap();
    fs::write(
        dir.join(format!("{name}.header_page")),
        inst.read("events/header_page"),
    )
    .unwrap();
}

const FEATURES: &[FeatureTest] = &[
    ("time extend", |f| f.time_extends > 0),
    ("time stamp", |f| f.time_stamps > 0),
    ("end padding", |f| f.end_padding > 0),
    ("discarded event", |f| f.mid_padding > 0),
    ("type_len 0 record", |f| f.long_records > 0),
    ("missed with count", |f| {
        matches!(f.missed, Some(Missed::Count(_)))
    }),
    ("missed, count unknown", |f| {
        f.missed == Some(Missed::Unknown)
    }),
];

#[test]
#[ignore = "regenerates tests/data/pages; run by hand as root"]
fn capture_corpus() {
    let Some(_kernel) = require(Feature::Tracepoints) else {
        return;
    };
    let before = KernelState::capture();
    pin_current_thread(&reader_cpu());
    let writer = Writer::on_traced_cpu();

    // 1. 4 KiB sub-buffers, an 8 KiB buffer: overwrite, partial reads, long markers, sleeps.
    {
        let inst = TestInstance::create("page_corpus");
        inst.write("buffer_size_kb", "8");
        inst.write("options/raw", "1");
        // Only the writer's events: other tasks on CPU 0 would break up the sleeps.
        inst.write("set_event_pid", &writer.tid);
        inst.write("set_event", BUSY_EVENTS);
        let format = native_format(&inst);
        let mut capture = Capture::open(&inst);
        small_buffer_cycles(&inst, &writer, &mut capture, 12);
        inst.write("tracing_on", "0");
        let facts = check_capture(&capture, &inst, format);
        eprintln!("small-4k: {}", summary(&facts));
        let picked = select(&facts, 8, FEATURES);
        save("small-4k", &inst, &capture, &picked, &facts);
    }

    // 2. 8 KiB sub-buffers (Linux >= 6.8) holding markers near the 4 KiB limit.
    {
        let inst = TestInstance::create("page_corpus");
        inst.write("buffer_subbuf_size_kb", "8");
        inst.write("buffer_size_kb", "32");
        inst.write("options/raw", "1");
        inst.write("set_event", BUSY_EVENTS);
        let format = native_format(&inst);
        let mut capture = Capture::open(&inst);
        for cycle in 0..4 {
            let markers = [4000, 1000, 3000]
                .iter()
                .enumerate()
                .map(|(i, &len)| long_marker(&format!("big cycle {cycle} marker {i}"), len))
                .collect();
            writer.markers(&inst, markers);
            capture.read_point(&inst);
            writer.syscalls(100 + 300 * cycle);
            capture.read_point(&inst);
        }
        inst.write("tracing_on", "0");
        let facts = check_capture(&capture, &inst, format);
        eprintln!("big-8k: {}", summary(&facts));
        let picked = select(&facts, 3, FEATURES);
        save("big-8k", &inst, &capture, &picked, &facts);
    }

    // 3. Absolute time stamps: the kernel writes one before an event that interrupted
    //    another event's reservation (or follows a discarded one). They are rare: trace
    //    interrupts and timers under a system-call storm and keep the pages that have one.
    {
        let inst = TestInstance::create("page_corpus");
        inst.write("buffer_size_kb", "16384");
        inst.write("options/raw", "1");
        inst.write(
            "set_event",
            &format!("{BUSY_EVENTS} irq:* timer:* ipi:* workqueue:*"),
        );
        let format = native_format(&inst);
        let mut capture = Capture::open(&inst);
        let mut facts = Vec::new();
        for _attempt in 0..5 {
            writer.syscalls_for(Duration::from_secs(2));
            capture.read_point(&inst);
            inst.write("tracing_on", "0");
            facts = check_capture(&capture, &inst, format);
            eprintln!("stamps: {}", summary(&facts));
            if facts.iter().any(|f| f.time_stamps > 0) {
                break;
            }
            inst.write("tracing_on", "1");
        }
        let picked = select(&facts, 2, &FEATURES[1..2]);
        save("stamps-4k", &inst, &capture, &picked, &facts);
    }
    drop(writer);
    pin_current_thread(&all_cpus());
    assert_eq!(
        KernelState::capture(),
        before,
        "the kernel is left as it was"
    );
}
