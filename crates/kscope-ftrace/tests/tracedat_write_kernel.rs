//! trace.dat files written from real ring-buffer pages, read back by trace-cmd 3.1.6.
//!
//! In a private instance, sched events and a few syscalls are recorded under load. With
//! tracing stopped, the instance's `trace` file is read (it does not consume events: once
//! with the default output for the text, once with the `raw` option for nanosecond
//! timestamps), then every CPU's `trace_pipe_raw` is drained. The pages are written as v7,
//! v7 with zstd, v6, and with the CPUs interleaved (small reservations, so regions move;
//! a large reservation; the gaps collapsed at the end, by copying in place of
//! `fallocate(COLLAPSE_RANGE)`). `trace-cmd report -t -N` must read each with exit 0 and
//! print one line per record the pages hold (counted with `kscope_ftrace::page`), each
//! with the kernel's pid, CPU, nanosecond timestamp and event name, and (≥ 99%, 100%
//! here) the kernel's text. `-N` (no plugins) makes trace-cmd render each event's own
//! `print fmt`, as the kernel does; the kernel prints syscall events its own way
//! (`sys_read(fd: 3, …)`), so those are compared field by field. A second test does the
//! same with 8 KiB sub-buffers (`buffer_subbuf_size_kb`, Linux ≥ 6.8).
//!
//! `KSCOPE_TRACEDAT_KEEP=<dir>` keeps the files written there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kscope_ftrace::page::{PageFormat, PageLayout, StreamItem, StreamRecords};
use kscope_ftrace::select::EventId;
use kscope_ftrace::tracedat::write::{
    Compression, FileVersion, Metadata, TraceDatWriter, WriterOptions, read_cpu_stats,
};
use kscope_ftrace::{Instance, Tracefs};
use kscope_testkit::snapshot::KernelState;
use kscope_testkit::{Feature, kernel_required, require, require_all};

/// A private instance, removed on drop (also when the test panics).
struct TestInstance {
    tracefs: Tracefs,
    instance: Instance,
}

impl TestInstance {
    fn create(purpose: &str) -> TestInstance {
        let tracefs = Tracefs::require().expect("tracefs is mounted");
        let name = format!("kscope-{}-{purpose}", std::process::id());
        let instance = tracefs
            .create_instance(&name)
            .unwrap_or_else(|e| panic!("creating instance {name}: {e}"));
        TestInstance { tracefs, instance }
    }

    fn write(&self, file: &str, value: &str) {
        self.instance
            .write(file, value)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn read(&self, file: &str) -> String {
        self.instance.read(file).unwrap_or_else(|e| panic!("{e}"))
    }

    fn subbuf_size(&self) -> usize {
        self.instance
            .read("buffer_subbuf_size_kb")
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .map_or(4096, |kb| kb * 1024)
    }
}

impl Drop for TestInstance {
    fn drop(&mut self) {
        let _ = self.instance.write("tracing_on", "0");
        let _ = self.instance.write("set_event", "");
        if let Err(e) = self.tracefs.remove_instance(self.instance.name()) {
            eprintln!("{e}");
        }
    }
}

/// trace-cmd's version line, or `None` (with the reason printed) when it is missing.
fn trace_cmd() -> Option<String> {
    match Command::new("trace-cmd").arg("--version").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            text.lines()
                .find(|l| l.contains("version"))
                .map(|l| l.trim().to_string())
        }
        Err(e) => {
            let reason = format!("trace-cmd is not installed ({e}): apt-get install trace-cmd");
            assert!(!kernel_required(), "{reason}");
            eprintln!("skipped: {reason}");
            None
        }
    }
}

fn scratch_dir(purpose: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("KSCOPE_TRACEDAT_KEEP") {
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir).expect("creating KSCOPE_TRACEDAT_KEEP");
        return dir;
    }
    let dir = std::env::temp_dir().join(format!("kscope-{}-{purpose}", std::process::id()));
    fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// Removes the scratch directory unless the files are to be kept.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var("KSCOPE_TRACEDAT_KEEP").is_err() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Every page of one CPU's `trace_pipe_raw`, read without blocking until it is empty.
fn drain(inst: &TestInstance, cpu: u32, size: usize) -> Vec<Vec<u8>> {
    let path = inst
        .instance
        .path(&format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
    let mut raw = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut pages = Vec::new();
    loop {
        let mut page = vec![0u8; size];
        match raw.read(&mut page) {
            Ok(0) => break,
            Ok(n) => {
                assert_eq!(n, size, "trace_pipe_raw gave a partial page");
                pages.push(page);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading {}: {e}", path.display()),
        }
    }
    pages
}

/// The load: processes that open, read and close files, and threads that sleep (sched
/// events on every CPU).
fn load(duration: Duration) {
    let mut children = Vec::new();
    for _ in 0..2 {
        children.push(
            Command::new("sh")
                .arg("-c")
                .arg(
                    "for i in 1 2 3 4 5 6 7 8 9 10; do cat /etc/passwd /etc/hostname >/dev/null; \
                     head -c 4000 /dev/urandom | md5sum >/dev/null; sleep 0.01; done",
                )
                .stdout(Stdio::null())
                .spawn()
                .expect("spawning sh"),
        );
    }
    let end = Instant::now() + duration;
    let workers: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                while Instant::now() < end {
                    let _ = fs::read("/etc/passwd");
                    thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a load thread");
    }
    for mut c in children {
        let _ = c.wait();
    }
}

/// One event line, as the kernel's `trace` file or `trace-cmd report` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    pid: i32,
    cpu: u32,
    /// Nanoseconds when known exactly, else microseconds × 1000.
    ts: u64,
    event: String,
    text: String,
}

/// Parses `comm-pid [cpu] [flags] secs.frac: event: text`; `None` for other lines.
fn parse_line(line: &str) -> Option<Line> {
    let open = line.find(" [")?;
    let close = open + line[open..].find(']')?;
    let cpu: u32 = line[open + 2..close].parse().ok()?;
    let task = line[..open].trim();
    let pid: i32 = task.rsplit_once('-')?.1.parse().ok()?;
    let mut rest = line[close + 1..].trim_start();
    // Optional latency flags (`d..2.`), then the timestamp.
    let first = rest.split_whitespace().next()?;
    if !first.ends_with(':') {
        rest = rest[first.len()..].trim_start();
    }
    let (ts_text, rest) = rest.split_once(": ")?;
    let (secs, frac) = ts_text.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    let scale = 10u64.pow(9 - frac.len() as u32);
    let ts = secs * 1_000_000_000 + frac.parse::<u64>().ok()? * scale;
    let (event, text) = match syscall_line(rest) {
        Some(pair) => pair,
        None => {
            let (event, text) = rest.split_once(':').unwrap_or((rest, ""));
            (event.trim().to_string(), text.trim().to_string())
        }
    };
    Some(Line {
        pid,
        cpu,
        ts,
        event,
        text,
    })
}

/// The kernel prints syscall events its own way, ignoring their `print fmt`:
/// `sys_openat(dfd: 0xffffff9c, …, mode: 0)` and `sys_openat -> 0x3`. Returns the event
/// name (`sys_enter_openat`, `sys_exit_openat`) and the text as trace-cmd prints it from
/// the format (`dfd: 0xffffff9c, …`, `0x3`) when it is such a line.
fn syscall_line(rest: &str) -> Option<(String, String)> {
    let name = rest.strip_prefix("sys_")?;
    if let Some((call, ret)) = name.split_once(" -> ") {
        if call.contains(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
            return None;
        }
        return Some((format!("sys_exit_{call}"), ret.trim().to_string()));
    }
    let (call, args) = name.split_once('(')?;
    if call.contains(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
        return None;
    }
    let args = args.trim_end().strip_suffix(')')?;
    Some((format!("sys_enter_{call}"), args.to_string()))
}

/// Whether a syscall event's text from the kernel and from trace-cmd say the same: the
/// same names, and numbers equal whatever notation each side used. trace-cmd renders the
/// format (`mode: 0x00000000`); kernels print bare numbers in hex (6.12: `count: 1e`), in
/// decimal or hex with `0x` (6.18: `fd: 7, count: 0x200`).
fn syscall_texts_agree(kernel: &str, trace_cmd: &str) -> bool {
    let values = |v: &str| -> Vec<u64> {
        let v = v.trim();
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).into_iter().collect(),
            None => [v.parse::<u64>().ok(), u64::from_str_radix(v, 16).ok()]
                .into_iter()
                .flatten()
                .collect(),
        }
    };
    let fields = |t: &str| -> Vec<(String, String)> {
        t.split(", ")
            .map(|part| match part.split_once(": ") {
                Some((k, v)) => (k.trim().to_string(), v.to_string()),
                None => (String::new(), part.to_string()),
            })
            .collect()
    };
    let (k, t) = (fields(kernel), fields(trace_cmd));
    k.len() == t.len()
        && k.iter().zip(&t).all(|((kn, kv), (tn, tv))| {
            kn == tn && (kv == tv || values(tv).iter().any(|v| values(kv).contains(v)))
        })
}

/// `pid cpu ts …` lines of the `raw` output: the exact timestamps.
fn parse_raw_timestamps(text: &str) -> Vec<(i32, u64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("CPU:"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let pid = w.next()?.parse().ok()?;
            let _cpu = w.next()?;
            let ts = w.next()?.trim_end_matches(':').parse().ok()?;
            Some((pid, ts))
        })
        .collect()
}

/// What one recording gave.
struct Recording {
    /// The kernel's events, in its order, with exact timestamps.
    kernel: Vec<Line>,
    /// The pages of each CPU.
    pages: Vec<Vec<Vec<u8>>>,
    metadata: Metadata,
    subbuf: usize,
    format: PageFormat,
}

fn record(inst: &TestInstance, events: &[EventId], run: impl FnOnce()) -> Recording {
    inst.write("buffer_size_kb", "8192");
    for ev in events {
        inst.instance
            .set_event_enabled(&ev.system, &ev.name, true)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    inst.write("tracing_on", "1");
    run();
    inst.write("tracing_on", "0");

    // The kernel's text (reading `trace` consumes nothing), then the raw timestamps.
    let text = inst.read("trace");
    inst.write("options/raw", "1");
    let raw = inst.read("trace");
    inst.write("options/raw", "0");
    let mut kernel: Vec<Line> = text.lines().filter_map(parse_line).collect();
    let exact = parse_raw_timestamps(&raw);
    assert_eq!(
        kernel.len(),
        exact.len(),
        "the default and raw outputs list different numbers of events"
    );
    for (line, (pid, ts)) in kernel.iter_mut().zip(&exact) {
        assert_eq!(line.pid, *pid, "the raw output is in another order");
        // The text rounds to the nearest microsecond (the kernel's ns2usecs).
        assert_eq!(
            line.ts / 1000,
            (ts + 500) / 1000,
            "raw and text timestamps disagree"
        );
        line.ts = *ts;
    }

    let tracefs = &inst.tracefs;
    let metadata =
        Metadata::from_tracefs(tracefs, &inst.instance, events).expect("reading the metadata");
    let subbuf = inst.subbuf_size();
    let pages = (0..metadata.cpu_count)
        .map(|cpu| drain(inst, cpu, subbuf))
        .collect();
    // As trace-cmd does, the stats are taken once the buffers are drained.
    let mut metadata = metadata;
    metadata.cpu_stats = read_cpu_stats(&inst.instance, metadata.cpu_count).expect("stats");
    let layout = PageLayout::parse(&metadata.header_page).expect("header_page parses");
    Recording {
        kernel,
        pages,
        metadata,
        subbuf,
        format: PageFormat::new(layout, kscope_ftrace::page::Endian::NATIVE),
    }
}

/// Records per CPU, and the number of lost-event marks.
fn count_records(rec: &Recording) -> (Vec<usize>, usize) {
    let mut lost = 0;
    let counts = rec
        .pages
        .iter()
        .map(|pages| {
            let data = pages.concat();
            let mut n = 0;
            for item in StreamRecords::new(&data, rec.subbuf, rec.format) {
                match item.expect("the kernel's pages decode") {
                    StreamItem::Record { .. } => n += 1,
                    StreamItem::Lost { .. } => lost += 1,
                }
            }
            n
        })
        .collect();
    (counts, lost)
}

/// How the file's CPU data is fed to the writer.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// All of CPU 0, then CPU 1, …
    Sequential,
    /// One page of each CPU in turn.
    Interleaved,
}

fn write_file(
    rec: &Recording,
    path: &Path,
    options: WriterOptions,
    feed: Feed,
    collapse: bool,
) -> u64 {
    let mut writer = TraceDatWriter::create(path, options, rec.metadata.clone())
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
    match feed {
        Feed::Sequential => {
            for (cpu, pages) in rec.pages.iter().enumerate() {
                let data = pages.concat();
                writer
                    .write_cpu_from(cpu as u32, &data[..])
                    .expect("writing a CPU's pages");
            }
        }
        Feed::Interleaved => {
            let most = rec.pages.iter().map(Vec::len).max().unwrap_or(0);
            for i in 0..most {
                for (cpu, pages) in rec.pages.iter().enumerate() {
                    if let Some(page) = pages.get(i) {
                        writer.write_page(cpu as u32, page).expect("writing a page");
                    }
                }
            }
        }
    }
    let moves = writer.region_moves();
    if collapse {
        writer
            .finish_collapsing(collapse_by_copy)
            .expect("finishing the file");
    } else {
        writer.finish().expect("finishing the file");
    }
    moves
}

/// What `fallocate(FALLOC_FL_COLLAPSE_RANGE)` does, by copying.
fn collapse_by_copy(f: &mut File, offset: u64, len: u64) -> io::Result<bool> {
    let size = f.metadata()?.len();
    let mut tail = vec![0u8; (size - offset - len) as usize];
    f.seek(SeekFrom::Start(offset + len))?;
    f.read_exact(&mut tail)?;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(&tail)?;
    f.set_len(size - len)?;
    Ok(true)
}

struct Report {
    lines: Vec<Line>,
    other: Vec<String>,
}

fn report(path: &Path, extra: &[&str]) -> Report {
    let out = Command::new("trace-cmd")
        .arg("report")
        .args(extra)
        .arg("-i")
        .arg(path)
        .output()
        .expect("running trace-cmd report");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "trace-cmd report {} failed ({}):\n{stderr}",
        path.display(),
        out.status
    );
    let mut lines = Vec::new();
    let mut other = Vec::new();
    for l in stdout.lines() {
        match parse_line(l) {
            Some(line) => lines.push(line),
            None => other.push(l.to_string()),
        }
    }
    Report { lines, other }
}

fn dump_summary(path: &Path) -> String {
    let out = Command::new("trace-cmd")
        .args(["dump", "--summary", "-i"])
        .arg(path)
        .output()
        .expect("running trace-cmd dump");
    assert!(
        out.status.success(),
        "trace-cmd dump {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compares trace-cmd's lines with the kernel's, per CPU in order. Returns (lines whose
/// pid, CPU, timestamp and event agree; lines whose text agrees too), and prints the first
/// differences.
fn compare(
    kernel: &[Line],
    ours: &[Line],
    label: &str,
) -> (usize, usize, BTreeMap<String, (usize, usize)>) {
    let by_cpu = |lines: &[Line]| {
        let mut m: BTreeMap<u32, Vec<Line>> = BTreeMap::new();
        for l in lines {
            m.entry(l.cpu).or_default().push(l.clone());
        }
        m
    };
    let k = by_cpu(kernel);
    let o = by_cpu(ours);
    let mut same_header = 0;
    let mut same_text = 0;
    let mut per_event: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut shown = 0;
    for (cpu, klines) in &k {
        let empty = Vec::new();
        let olines = o.get(cpu).unwrap_or(&empty);
        for (a, b) in klines.iter().zip(olines) {
            let entry = per_event.entry(a.event.clone()).or_default();
            entry.0 += 1;
            if a.pid == b.pid && a.ts == b.ts && a.event == b.event {
                same_header += 1;
                let same = a.text == b.text
                    || (a.event.starts_with("sys_") && syscall_texts_agree(&a.text, &b.text));
                if same {
                    same_text += 1;
                    entry.1 += 1;
                    continue;
                }
            }
            if shown < 6 {
                shown += 1;
                eprintln!("{label}: CPU {cpu}\n  kernel:    {a:?}\n  trace-cmd: {b:?}");
            }
        }
    }
    (same_header, same_text, per_event)
}

fn enabled_events(inst: &TestInstance) -> Vec<EventId> {
    inst.read("set_event")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(s, e)| EventId {
            system: s.to_string(),
            name: e.to_string(),
        })
        .collect()
}

fn sched_events(tracefs: &Tracefs, names: Option<&[&str]>) -> Vec<EventId> {
    let mut all: Vec<String> = fs::read_dir(tracefs.path("events/sched"))
        .expect("listing sched events")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    all.sort();
    all.into_iter()
        .filter(|n| names.is_none_or(|names| names.contains(&n.as_str())))
        .map(|name| EventId {
            system: "sched".into(),
            name,
        })
        .collect()
}

fn syscall_events(calls: &[&str]) -> Vec<EventId> {
    calls
        .iter()
        .flat_map(|s| ["sys_enter_", "sys_exit_"].map(|p| format!("{p}{s}")))
        .map(|name| EventId {
            system: "syscalls".into(),
            name,
        })
        .collect()
}

fn v7() -> WriterOptions {
    WriterOptions::default()
}

fn v7_zstd(level: i32) -> WriterOptions {
    WriterOptions {
        compression: Compression::Zstd { level },
        ..WriterOptions::default()
    }
}

fn v6() -> WriterOptions {
    WriterOptions {
        version: FileVersion::V6,
        ..WriterOptions::default()
    }
}

/// Records `events` under load in a private instance (with `subbuf_kb` sub-buffers when
/// given), writes each variant, and checks trace-cmd's reading of it against the kernel.
fn round_trip(
    purpose: &str,
    subbuf_kb: Option<u32>,
    events: &[EventId],
    variants: Vec<(&str, WriterOptions, Feed)>,
) {
    let Some(version) = trace_cmd() else {
        return;
    };
    eprintln!("peer: {version}");
    let before = KernelState::capture();
    let scratch = Scratch(scratch_dir(purpose));
    let rec = {
        let inst = TestInstance::create(purpose);
        if let Some(kb) = subbuf_kb {
            inst.write("buffer_subbuf_size_kb", &kb.to_string());
        }
        let rec = record(&inst, events, || load(Duration::from_millis(400)));
        assert_eq!(
            enabled_events(&inst).len(),
            events.len(),
            "every wanted event is enabled"
        );
        rec
    };
    if let Some(kb) = subbuf_kb {
        assert_eq!(rec.subbuf, kb as usize * 1024);
        assert_eq!(
            rec.format.layout.subbuf_size(),
            Some(rec.subbuf),
            "the instance's header_page"
        );
    }
    let (counts, lost) = count_records(&rec);
    let total: usize = counts.iter().sum();
    eprintln!(
        "{purpose}: {} kernel lines, {total} records in {} pages of {} bytes {counts:?}, {lost} lost marks",
        rec.kernel.len(),
        rec.pages.iter().map(Vec::len).sum::<usize>(),
        rec.subbuf,
    );
    assert!(total > 1000, "the load gave only {total} events");
    assert_eq!(
        total,
        rec.kernel.len(),
        "the pages hold what the kernel's text showed"
    );

    let mut texts = Vec::new();
    for (name, options, feed) in variants {
        let options = WriterOptions {
            subbuf_size: rec.subbuf as u32,
            ..options
        };
        let path = scratch.0.join(name);
        let collapse = name.contains("collapsed");
        let moves = write_file(&rec, &path, options, feed, collapse);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let dump = dump_summary(&path);
        assert!(dump.contains("[Header page, "), "{name}: dump:\n{dump}");
        let rep = report(&path, &["-t", "-N"]);
        let unexpected: Vec<&String> = rep
            .other
            .iter()
            .filter(|l| !l.starts_with("cpus=") && !l.trim().is_empty())
            .collect();
        assert!(
            unexpected.is_empty(),
            "{name}: trace-cmd printed lines that are not events: {unexpected:?}"
        );
        let events = rep.lines.len();
        assert_eq!(
            events, total,
            "{name}: trace-cmd's event lines vs the pages' records"
        );
        let (same, same_text, per_event) = compare(&rec.kernel, &rep.lines, name);
        eprintln!(
            "{name}: {size} bytes, {moves} region moves; {events} events; pid/cpu/ts/event \
             equal {same}/{total}; text equal {same_text}/{total} ({:.2}%)",
            100.0 * same_text as f64 / total as f64
        );
        for (event, (n, ok)) in &per_event {
            if ok != n {
                eprintln!("    {event}: text equal {ok}/{n}");
            }
        }
        assert_eq!(
            same, total,
            "{name}: every event's pid, CPU, timestamp and name match"
        );
        assert!(
            same_text * 100 >= total * 99,
            "{name}: only {same_text} of {total} event texts match the kernel's"
        );
        texts.push((name, rep.lines));
        // trace-cmd's default rendering (with its plugins) reads the file too.
        let plain = report(&path, &[]);
        assert_eq!(plain.lines.len(), total, "{name}: report with plugins");
    }
    for (name, lines) in &texts[1..] {
        assert!(
            lines == &texts[0].1,
            "{name}: trace-cmd printed other lines than for {}",
            texts[0].0
        );
    }
    let seen: BTreeSet<&str> = rec.kernel.iter().map(|l| l.event.as_str()).collect();
    eprintln!("{purpose}: events seen: {seen:?}");
    let after = KernelState::capture();
    assert_eq!(
        before.instances, after.instances,
        "instances are as they were"
    );
    assert_eq!(
        before.tracing_on, after.tracing_on,
        "tracing_on is as it was"
    );
}

#[test]
fn trace_cmd_reports_what_the_kernel_recorded() {
    let Some(_guard) = require(Feature::Tracepoints) else {
        return;
    };
    let tracefs = Tracefs::require().expect("tracefs");
    // The scheduler's task events, not every sched event: on Linux 6.1 the whole system
    // fills 8 MiB per CPU within the load (41 MB of text under emulation in the lab).
    let mut events = sched_events(
        &tracefs,
        Some(&[
            "sched_switch",
            "sched_wakeup",
            "sched_wakeup_new",
            "sched_waking",
            "sched_migrate_task",
            "sched_process_fork",
            "sched_process_exec",
            "sched_process_exit",
            "sched_process_free",
            "sched_process_wait",
        ]),
    );
    events.extend(syscall_events(&["openat", "read", "close"]));
    let small = |o: WriterOptions, reserve: u64, buffer: usize| WriterOptions {
        cpu_reserve: reserve,
        write_buffer: buffer,
        ..o
    };
    round_trip(
        "write_test",
        None,
        &events,
        vec![
            ("v7.dat", v7(), Feed::Sequential),
            ("v7-zstd.dat", v7_zstd(3), Feed::Sequential),
            ("v6.dat", v6(), Feed::Sequential),
            // Small reservations: regions move while the CPUs are interleaved.
            (
                "v7-interleaved.dat",
                small(v7(), 8 * 4096, 0),
                Feed::Interleaved,
            ),
            (
                "v7-zstd-interleaved.dat",
                small(v7_zstd(1), 4096, 4096),
                Feed::Interleaved,
            ),
            (
                "v6-interleaved.dat",
                small(v6(), 16 * 4096, 1 << 16),
                Feed::Interleaved,
            ),
            // A reservation that holds everything: nothing moves.
            (
                "v7-reserved.dat",
                small(v7(), 64 << 20, 1 << 20),
                Feed::Interleaved,
            ),
            // The same, the gaps removed at the end as fallocate(COLLAPSE_RANGE) would.
            (
                "v7-collapsed.dat",
                small(v7(), 64 << 20, 1 << 20),
                Feed::Interleaved,
            ),
            (
                "v7-zstd-collapsed.dat",
                small(v7_zstd(3), 8 * 4096, 1 << 16),
                Feed::Interleaved,
            ),
            (
                "v6-collapsed.dat",
                small(v6(), 1 << 20, 0),
                Feed::Interleaved,
            ),
        ],
    );
}

/// Sub-buffers larger than a page (`buffer_subbuf_size_kb`, Linux ≥ 6.8).
#[test]
fn trace_cmd_reports_large_sub_buffers() {
    let Some(_guard) = require_all(&[Feature::Tracepoints, Feature::SubbufSize]) else {
        return;
    };
    let tracefs = Tracefs::require().expect("tracefs");
    let mut events = sched_events(
        &tracefs,
        Some(&["sched_switch", "sched_wakeup", "sched_waking"]),
    );
    events.extend(syscall_events(&["openat", "read"]));
    round_trip(
        "write_subbuf",
        Some(8),
        &events,
        vec![
            ("v7.dat", v7(), Feed::Sequential),
            ("v7-zstd.dat", v7_zstd(3), Feed::Interleaved),
            ("v6.dat", v6(), Feed::Interleaved),
        ],
    );
}
