//! `kscope report` == `trace-cmd report` (3.1.6) line for line on the ftrace events
//! trace-cmd prints its own way: the function tracer's `function` (the function plugin's
//! indented form: the name only, indented by its parent's place in the CPU's call chain),
//! function-graph entries and returns (nested, leaf, overhead marks), `kernel_stack`
//! (`=> symbol (addr)`) and `user_stack` (`print fmt`, one `=>` line per slot). The
//! function tracers are absent on this kernel, so the file is built here with kscope's
//! trace.dat writer from Linux 6.18's own format texts (`tests/data/ftrace/*.format`,
//! copied from `/sys/kernel/tracing/events/ftrace`). Needs trace-cmd, no kernel access;
//! skips without trace-cmd (fails under `KSCOPE_REQUIRE_KERNEL=1`).

use std::path::{Path, PathBuf};
use std::process::Command;

use kscope_ftrace::tracedat::write::{Metadata, TraceDatWriter, WriterOptions};

const PAGE: usize = 4096;
const FUNCTION: u16 = 1;
const ENTRY: u16 = 11;
const EXIT: u16 = 10;
const STACK: u16 = 4;
const USER_STACK: u16 = 13;

const STEXT: u64 = 0xffff_ffff_8100_0000;
const FUNC_A: u64 = 0xffff_ffff_8100_1000;
const FUNC_B: u64 = 0xffff_ffff_8100_2000;
const FUNC_C: u64 = 0xffff_ffff_8100_3000;
/// Below every symbol: trace-cmd finds no function for it.
const UNKNOWN: u64 = 0x1234_5678;

fn data(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn metadata() -> Metadata {
    let fmt = |name: &str| data(&format!("tests/data/ftrace/{name}.format"));
    Metadata {
        header_page: data("../kscope-ftrace/tests/data/tracedat_write/header_page"),
        header_event: data("../kscope-ftrace/tests/data/tracedat_write/header_event"),
        ftrace_formats: vec![
            fmt("function"),
            fmt("funcgraph_entry"),
            fmt("funcgraph_exit"),
            fmt("kernel_stack"),
            fmt("user_stack"),
        ],
        event_formats: Vec::new(),
        kallsyms: format!(
            "{STEXT:x} T _stext\n{FUNC_A:x} T func_a\n{FUNC_B:x} t func_b\n\
             {FUNC_C:x} T func_c\nffffffff81004000 T _etext\n"
        ),
        printk_formats: String::new(),
        cmdlines: "100 worker\n200 other\n".into(),
        uname: "Linux test 6.18.0 x86_64".into(),
        trace_clock: "local".into(),
        trace_clocks: vec!["local".into(), "global".into()],
        cpu_count: 2,
        cpu_stats: (0..2)
            .map(|c| format!("entries: 0\noverrun: 0\ncommit overrun: 0\nbytes: 0\ncpu: {c}\n"))
            .collect(),
        buffer_name: String::new(),
        version: Some("kscope-test".into()),
    }
}

fn common(id: u16, pid: i32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&pid.to_le_bytes());
    p
}

fn function(pid: i32, ip: u64, parent: u64) -> Vec<u8> {
    let mut p = common(FUNCTION, pid);
    p.extend_from_slice(&ip.to_le_bytes());
    p.extend_from_slice(&parent.to_le_bytes());
    p
}

fn entry(pid: i32, func: u64, depth: u32) -> Vec<u8> {
    let mut p = common(ENTRY, pid);
    p.extend_from_slice(&func.to_le_bytes());
    p.extend_from_slice(&depth.to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    p
}

fn exit(pid: i32, func: u64, depth: u32, calltime: u64, duration: u64) -> Vec<u8> {
    let mut p = common(EXIT, pid);
    p.extend_from_slice(&func.to_le_bytes());
    p.extend_from_slice(&depth.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes()); // overrun
    p.extend_from_slice(&calltime.to_le_bytes());
    p.extend_from_slice(&(calltime + duration).to_le_bytes());
    p
}

fn stack(pid: i32, callers: &[u64]) -> Vec<u8> {
    let mut p = common(STACK, pid);
    p.extend_from_slice(&(callers.len() as i32).to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    for c in callers {
        p.extend_from_slice(&c.to_le_bytes());
    }
    p
}

fn user_stack(pid: i32, callers: [u64; 8]) -> Vec<u8> {
    let mut p = common(USER_STACK, pid);
    p.extend_from_slice(&(pid as u32).to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    for c in callers {
        p.extend_from_slice(&c.to_le_bytes());
    }
    p
}

/// A sub-buffer holding `events` (time, payload).
fn page(events: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let base = events.first().map_or(0, |e| e.0);
    let mut data = Vec::new();
    let mut time = base;
    for (ts, payload) in events {
        let delta = u32::try_from(ts - time).unwrap();
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
    let mut page = vec![0u8; PAGE];
    page[..8].copy_from_slice(&base.to_le_bytes());
    page[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
    page[16..16 + data.len()].copy_from_slice(&data);
    page
}

const T: u64 = 5_000_000_000;

/// CPU 0 and CPU 1 records; times interleave so that a graph entry's next record is
/// sometimes on the other CPU. (trace-cmd 3.1.6 takes a return on another CPU as a
/// leaf's and then reads a freed record, so no return here follows its entry on another
/// CPU in the same task.)
fn records() -> [Vec<(u64, Vec<u8>)>; 2] {
    let cpu0 = vec![
        (T + 1_000, function(100, FUNC_A + 0x10, FUNC_B + 0x20)),
        (T + 2_000, function(100, UNKNOWN, FUNC_C)),
        (T + 3_000, function(100, FUNC_C + 4, UNKNOWN)),
        (T + 3_500, function(100, FUNC_C, FUNC_A)),
        (T + 3_700, function(100, FUNC_B, FUNC_C)),
        (T + 3_800, function(100, FUNC_A, FUNC_B)),
        (T + 4_000, entry(100, FUNC_A, 0)),
        (T + 5_000, entry(100, FUNC_B, 1)),
        // A leaf: the next record is B's return in the same task.
        (T + 5_500, exit(100, FUNC_B, 1, T + 5_000, 500)),
        (T + 6_000, entry(100, FUNC_C, 1)),
        // The next record (on CPU 1) is another task's: C is nested.
        (T + 8_000, exit(100, FUNC_C, 1, T + 6_000, 20_000)),
        (T + 9_000, entry(100, UNKNOWN, 1)),
        (T + 9_100, exit(100, UNKNOWN, 1, T + 9_000, 150_000)),
        (T + 10_000, entry(100, FUNC_B, 1)),
        (T + 12_000, exit(100, FUNC_B, 1, T + 10_000, 123_456_789)),
        (T + 12_500, exit(100, FUNC_A, 0, T + 4_000, 2_000_000)),
        (T + 13_000, entry(100, UNKNOWN, 2)),
        (T + 13_200, exit(100, UNKNOWN, 2, T + 13_000, 77)),
        (T + 14_000, exit(100, FUNC_A, 0, T, 3_000_000_000)),
        (
            T + 15_000,
            stack(100, &[FUNC_A + 0x33, FUNC_B + 1, UNKNOWN, FUNC_C]),
        ),
        (T + 16_000, stack(100, &[FUNC_B + 8, u64::MAX, FUNC_A])),
        (
            T + 17_000,
            user_stack(100, [0x7f31_d5aa_14f7, 0x5555_0000_1000, 0, 0, 0, 0, 0, 0]),
        ),
    ];
    let cpu1 = vec![
        (T + 7_000, function(200, FUNC_B, FUNC_A)),
        // The same function's return in another task: no leaf for CPU 0's entry of B.
        (T + 10_500, exit(200, FUNC_B, 1, T + 10_000, 999)),
        (T + 11_000, entry(200, FUNC_C, 3)),
        (T + 11_500, exit(200, FUNC_C, 3, T + 11_000, 999)),
    ];
    [cpu0, cpu1]
}

fn write_file(path: &Path) {
    let options = WriterOptions {
        page_size: PAGE as u32,
        subbuf_size: PAGE as u32,
        ..WriterOptions::default()
    };
    let mut w = TraceDatWriter::create(path, options, metadata()).unwrap();
    for (cpu, recs) in records().iter().enumerate() {
        w.write_page(cpu as u32, &page(recs)).unwrap();
    }
    w.finish().unwrap();
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kscope-{}-{name}", std::process::id()))
}

fn run(cmd: &mut Command) -> Option<String> {
    match cmd.output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(String::from_utf8(o.stdout).unwrap())
        }
        Err(e) => {
            assert!(
                std::env::var("KSCOPE_REQUIRE_KERNEL").as_deref() != Ok("1"),
                "{cmd:?}: {e}"
            );
            eprintln!("skipped: {cmd:?} cannot run: {e}");
            None
        }
    }
}

#[test]
fn ftrace_events_equal_trace_cmd() {
    let file = temp("ftrace.dat");
    write_file(&file);
    let ours = run(Command::new(env!("CARGO_BIN_EXE_kscope"))
        .arg("report")
        .arg(&file))
    .unwrap();
    let Some(theirs) = run(Command::new("trace-cmd").arg("report").arg(&file)) else {
        std::fs::remove_file(&file).unwrap();
        return;
    };
    std::fs::remove_file(&file).unwrap();
    let a: Vec<&str> = ours.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    for i in 0..a.len().max(b.len()) {
        assert_eq!(
            a.get(i),
            b.get(i),
            "line {} differs; ours:\n{ours}\ntheirs:\n{theirs}",
            i + 1
        );
    }
    // Exactly these forms (so a change in both would not pass unnoticed).
    let expect = [
        "[000]     5.000001: function:             func_a\n",
        "[000]     5.000002: function:             0x12345678\n",
        "[000]     5.000004: function:                func_c\n",
        "funcgraph_entry:                   |  func_a() {\n",
        "funcgraph_entry:        0.500 us   |    func_b();\n",
        "funcgraph_exit:       + 20.000 us  |    }\n",
        "funcgraph_entry:      ! 150.000 us |    12345678();\n",
        "funcgraph_entry:                   |    func_b() {\n",
        "funcgraph_entry:        0.999 us   |        func_c();\n",
        "funcgraph_exit:       # 123456.789 us |    }\n",
        "funcgraph_entry:        0.077 us   |      12345678();\n",
        "funcgraph_exit:       $ 3000000 us |  }\n",
        "kernel_stack:         <stack trace >\n=> func_a (ffffffff81001033)\n\
         => func_b (ffffffff81002001)\n=> 12345678\n=> func_c (ffffffff81003000)\n",
        "kernel_stack:         <stack trace >\n=> func_b (ffffffff81002008)\n",
        "user_stack:           \t=> 0x7f31d5aa14f7\n\t=> 0x555500001000\n\t=> 0x0\n",
    ];
    for e in expect {
        assert!(ours.contains(e), "missing {e:?} in\n{ours}");
    }
    assert_eq!(a.len(), 35, "{ours}");
}
