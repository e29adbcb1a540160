//! trace.dat files written from hand-built ring-buffer pages, read by `trace-cmd report`
//! (Debian's trace-cmd 3.1.6): every version and compression, files with no events at
//! all, CPUs without data, interleaved CPU data, lost-event marks. Needs trace-cmd but no
//! kernel access; it skips when trace-cmd is missing (and fails under
//! `KSCOPE_REQUIRE_KERNEL=1`, where the peer tools are expected).
//!
//! The formats in `tests/data/tracedat_write/` come from Linux 6.18's tracefs.

use std::fs::{self, File};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use kscope_ftrace::tracedat::write::{
    Compression, FileVersion, Metadata, TraceDatWriter, WriteError, WriterOptions,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tracedat_write");
const PAGE: usize = 4096;
const PRINT_ID: u16 = 5;
const SWITCH_ID: u16 = 372;
const FUNC: u64 = 0xffff_ffff_8100_1000;

fn data(name: &str) -> String {
    fs::read_to_string(Path::new(DATA).join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn have_trace_cmd() -> bool {
    match Command::new("trace-cmd").arg("--version").output() {
        Ok(_) => true,
        Err(e) => {
            let reason = format!("trace-cmd is not installed ({e}): apt-get install trace-cmd");
            assert!(
                std::env::var("KSCOPE_REQUIRE_KERNEL").as_deref() != Ok("1"),
                "{reason}"
            );
            eprintln!("skipped: {reason}");
            false
        }
    }
}

fn metadata(cpus: u32) -> Metadata {
    Metadata {
        header_page: data("header_page"),
        header_event: data("header_event"),
        ftrace_formats: vec![data("ftrace_print.format")],
        event_formats: vec![("sched".into(), vec![data("sched_switch.format")])],
        kallsyms: format!("ffffffff81000000 T _stext\n{FUNC:x} T my_func\n"),
        printk_formats: String::new(),
        cmdlines: "100 hello\n200 world\n".into(),
        uname: "Linux test 6.18.0 x86_64".into(),
        trace_clock: "local".into(),
        trace_clocks: vec!["local".into(), "global".into(), "mono".into()],
        cpu_count: cpus,
        cpu_stats: (0..cpus)
            .map(|c| format!("entries: 0\noverrun: 0\ncommit overrun: 0\nbytes: 0\ncpu: {c}\n"))
            .collect(),
        buffer_name: String::new(),
        version: Some("kscope-test".into()),
    }
}

fn common(id: u16, pid: i32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0); // flags
    p.push(0); // preempt count
    p.extend_from_slice(&pid.to_le_bytes());
    p
}

/// A `ftrace:print` record (what trace_marker writes).
fn print(pid: i32, text: &str) -> Vec<u8> {
    let mut p = common(PRINT_ID, pid);
    p.extend_from_slice(&FUNC.to_le_bytes());
    p.extend_from_slice(text.as_bytes());
    p.push(0);
    p
}

fn comm(name: &str) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[..name.len()].copy_from_slice(name.as_bytes());
    c
}

fn switch(prev: (&str, i32), next: (&str, i32)) -> Vec<u8> {
    let mut p = common(SWITCH_ID, prev.1);
    p.extend_from_slice(&comm(prev.0));
    p.extend_from_slice(&prev.1.to_le_bytes());
    p.extend_from_slice(&120i32.to_le_bytes());
    p.extend_from_slice(&1i64.to_le_bytes()); // S
    p.extend_from_slice(&comm(next.0));
    p.extend_from_slice(&next.1.to_le_bytes());
    p.extend_from_slice(&120i32.to_le_bytes());
    p
}

/// A sub-buffer holding `events` (time, payload), with `missed` lost events before it.
fn page(events: &[(u64, Vec<u8>)], missed: Option<u64>) -> Vec<u8> {
    let base = events.first().map_or(0, |e| e.0);
    let mut data = Vec::new();
    let mut time = base;
    for (ts, payload) in events {
        let delta = u32::try_from(ts - time).expect("a delta that fits 27 bits");
        assert!(delta < 1 << 27);
        time = *ts;
        let mut payload = payload.clone();
        payload.resize(payload.len().next_multiple_of(4), 0);
        if payload.len() <= 112 {
            data.extend_from_slice(&((payload.len() / 4) as u32 | delta << 5).to_le_bytes());
        } else {
            data.extend_from_slice(&(delta << 5).to_le_bytes());
            data.extend_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
        }
        data.extend_from_slice(&payload);
    }
    let mut commit = data.len() as u64;
    if let Some(n) = missed {
        commit |= (1 << 31) | (1 << 30);
        data.extend_from_slice(&n.to_le_bytes());
    }
    let mut page = vec![0u8; PAGE];
    page[..8].copy_from_slice(&base.to_le_bytes());
    page[8..16].copy_from_slice(&commit.to_le_bytes());
    page[16..16 + data.len()].copy_from_slice(&data);
    page
}

const SEC: u64 = 1_000_000_000;

/// The test recording: pages per CPU (an empty `Vec` is a CPU without data).
fn sample(cpus: usize, with_data: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut all = vec![Vec::new(); cpus];
    for &cpu in with_data {
        let t = (cpu as u64 + 1) * SEC;
        all[cpu] = vec![
            page(
                &[
                    (t + 100, print(100, "hello world")),
                    (t + 250, switch(("hello", 100), ("world", 200))),
                    (t + 900, print(200, &"x".repeat(200))),
                ],
                None,
            ),
            page(&[(t + 5_000, print(200, "second page"))], Some(7)),
            vec![0u8; PAGE], // an empty page: dropped
        ];
    }
    all
}

/// What trace-cmd should print for [`sample`]: (cpu, secs.nanos, comm-pid, event, text).
fn expected(with_data: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cpus = with_data.to_vec();
    cpus.sort();
    for cpu in cpus {
        let s = cpu as u64 + 1;
        lines.push(format!(
            "hello-100 [{cpu:03}] {s}.000000100: print: my_func: hello world"
        ));
        lines.push(format!(
            "hello-100 [{cpu:03}] {s}.000000250: sched_switch: prev_comm=hello prev_pid=100 \
             prev_prio=120 prev_state=S ==> next_comm=world next_pid=200 next_prio=120"
        ));
        lines.push(format!(
            "world-200 [{cpu:03}] {s}.000000900: print: my_func: {}",
            "x".repeat(200)
        ));
        lines.push(format!("CPU:{cpu} [7 EVENTS DROPPED]"));
        lines.push(format!(
            "world-200 [{cpu:03}] {s}.000005000: print: my_func: second page"
        ));
    }
    lines
}

/// How the pages are given to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// All of CPU 0, then CPU 1, …
    Sequential,
    /// A page of each CPU in turn (last CPU first).
    Interleaved,
    /// Interleaved into 64 KiB reservations, the gaps collapsed at the end.
    Collapsed,
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

fn write(
    path: &Path,
    options: WriterOptions,
    meta: Metadata,
    pages: &[Vec<Vec<u8>>],
    mode: Mode,
) -> Result<(), WriteError> {
    let options = match mode {
        Mode::Collapsed => WriterOptions {
            cpu_reserve: 1 << 16,
            ..options
        },
        _ => options,
    };
    let mut w = TraceDatWriter::create(path, options, meta)?;
    if mode == Mode::Sequential {
        for (cpu, p) in pages.iter().enumerate() {
            let bytes = p.concat();
            w.write_cpu_from(cpu as u32, &bytes[..])?;
        }
    } else {
        let most = pages.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..most {
            for (cpu, p) in pages.iter().enumerate().rev() {
                if let Some(page) = p.get(i) {
                    w.write_page(cpu as u32, page)?;
                }
            }
        }
    }
    if mode == Mode::Collapsed {
        w.finish_collapsing(collapse_by_copy)?;
    } else {
        w.finish()?;
    }
    Ok(())
}

/// `trace-cmd report -N -t` (no plugins, nanoseconds), lines with runs of spaces
/// squeezed, without the `cpus=` header.
fn report(path: &Path, extra: &[&str]) -> Vec<String> {
    let out = Command::new("trace-cmd")
        .args(["report", "-N", "-t"])
        .args(extra)
        .arg("-i")
        .arg(path)
        .output()
        .expect("running trace-cmd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "trace-cmd report {} failed: {stderr}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("cpus="))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("kscope-{}-{name}", std::process::id()));
        fs::create_dir_all(&d).expect("a scratch directory");
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn variants() -> Vec<(&'static str, WriterOptions)> {
    vec![
        ("v7", WriterOptions::default()),
        (
            "v7-zstd",
            WriterOptions {
                compression: Compression::Zstd { level: 3 },
                ..WriterOptions::default()
            },
        ),
        (
            "v6",
            WriterOptions {
                version: FileVersion::V6,
                ..WriterOptions::default()
            },
        ),
    ]
    .into_iter()
    .map(|(n, o)| {
        (
            n,
            WriterOptions {
                page_size: PAGE as u32,
                subbuf_size: PAGE as u32,
                ..o
            },
        )
    })
    .collect()
}

fn check(cpus: usize, with_data: &[usize], dir: &Dir) {
    let pages = sample(cpus, with_data);
    let want = expected(with_data);
    for (name, options) in variants() {
        for mode in [Mode::Sequential, Mode::Interleaved, Mode::Collapsed] {
            let path = dir
                .0
                .join(format!("{name}-{cpus}-{with_data:?}-{mode:?}.dat"));
            write(&path, options.clone(), metadata(cpus as u32), &pages, mode)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let got = report(&path, &[]);
            assert_eq!(got, want, "{}", path.display());
            // With plugins, and per CPU.
            let plugins = Command::new("trace-cmd")
                .args(["report", "-i"])
                .arg(&path)
                .output()
                .expect("running trace-cmd");
            assert!(plugins.status.success(), "{}", path.display());
            for &cpu in with_data {
                let one = report(&path, &["--cpu", &cpu.to_string()]);
                assert_eq!(one.len(), 5, "{} --cpu {cpu}: {one:?}", path.display());
            }
        }
    }
}

#[test]
fn report_prints_every_event_of_every_version() {
    if !have_trace_cmd() {
        return;
    }
    let dir = Dir::new("tracedat-write-all");
    check(2, &[0, 1], &dir);
}

#[test]
fn report_accepts_a_file_with_no_events() {
    if !have_trace_cmd() {
        return;
    }
    let dir = Dir::new("tracedat-write-none");
    check(2, &[], &dir);
    check(1, &[], &dir);
}

#[test]
fn report_accepts_cpus_without_data() {
    if !have_trace_cmd() {
        return;
    }
    let dir = Dir::new("tracedat-write-gaps");
    check(4, &[2], &dir);
    check(3, &[0], &dir);
    check(3, &[2, 0], &dir);
}

#[test]
fn the_options_name_the_buffer_clock_and_cpus() {
    if !have_trace_cmd() {
        return;
    }
    let dir = Dir::new("tracedat-write-dump");
    let pages = sample(2, &[1]);
    for (name, options) in variants() {
        let path = dir.0.join(format!("{name}.dat"));
        write(&path, options, metadata(2), &pages, Mode::Sequential).expect("writing");
        let out = Command::new("trace-cmd")
            .args(["dump", "--summary", "--options", "--flyrecord", "-i"])
            .arg(&path)
            .output()
            .expect("running trace-cmd dump");
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for want in [
            "[Option TRACECLOCK,",
            "[local] global mono",
            "Linux test 6.18.0 x86_64",
            "kscope-test",
            "CPU: 1\nentries: 0",
            "[Header page, 205 bytes]",
            "[Ftrace format, 1 events]",
            "[Events format, 1 systems]",
            "[Saved command lines, 20 bytes]",
        ] {
            assert!(dump.contains(want), "{name}: no {want:?} in\n{dump}");
        }
        if name.starts_with("v7") {
            for want in [
                "\"\" [name]",
                "\"local\" [clock]",
                "[Option CPUCOUNT, 4 bytes]\n2",
            ] {
                assert!(dump.contains(want), "{name}: no {want:?} in\n{dump}");
            }
        } else {
            assert!(
                dump.contains("[Tracing clock]\n\t\t[local]"),
                "{name}:\n{dump}"
            );
        }
    }
}

#[test]
fn a_named_buffer_is_reported_with_its_prefix() {
    if !have_trace_cmd() {
        return;
    }
    let dir = Dir::new("tracedat-write-named");
    let path = dir.0.join("named.dat");
    let mut meta = metadata(1);
    meta.buffer_name = "kscope".into();
    write(
        &path,
        WriterOptions::default(),
        meta,
        &sample(1, &[0]),
        Mode::Sequential,
    )
    .expect("writing");
    let got = report(&path, &[]);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got[0].starts_with("kscope: hello-100"), "{got:?}");
}

#[test]
fn the_writer_streams_into_memory_too() {
    let pages = sample(2, &[0, 1]);
    let mut w = TraceDatWriter::new(
        Cursor::new(Vec::new()),
        WriterOptions::default(),
        metadata(2),
    )
    .expect("a writer");
    for (cpu, p) in pages.iter().enumerate() {
        let mut sink = w.cpu_data(cpu as u32).expect("a sink");
        for page in p {
            // Odd-sized pieces: the sink cuts them into pages.
            sink.write_all(&page[..1000]).expect("writing");
            sink.write_all(&page[1000..]).expect("writing");
        }
        let written = sink.finish().expect("whole pages");
        assert_eq!(written.pages, 2);
        assert_eq!(written.empty_pages, 1);
    }
    let bytes = w.finish().expect("finishing").into_inner();
    assert_eq!(&bytes[..3], &[0x17, 0x08, 0x44]);
}
