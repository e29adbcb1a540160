//! Kernel tests of attaching, map operations and readers, with exact outcomes. Programs
//! are hand-assembled with kscope-bpf's encoder; a small C workload compiled with `cc` at
//! test time supplies the events. Each test checks that no program, link or perf fd of
//! its own is left behind.

mod support;

use std::os::fd::AsRawFd;
use std::time::Duration;

use kscope_bpf::attach::perf_event::SamplingSpec;
use kscope_bpf::attach::uprobe::UprobeOptions;
use kscope_bpf::attach::{
    PerfAttachMethod, perf_event, raw_tracepoint, test_run, tracepoint, uprobe,
};
use kscope_bpf::insn::{AluOp, JmpOp, Reg, Size};
use kscope_bpf::ksym::KernelSymbols;
use kscope_bpf::ringbuf::RingBuf;
use kscope_bpf::{Insn, Map, MapSpec, MapType, ProgType, Program, ProgramSpec, UpdateFlags, stack};
use kscope_testkit::{Feature, require, require_all};
use support::{Asm, LeakCheck, Workload, file_offset, workload};

const MAP_LOOKUP_ELEM: u32 = 1;
const GET_CURRENT_PID_TGID: u32 = 14;
const GET_STACKID: u32 = 27;
const RINGBUF_RESERVE: u32 = 131;
const RINGBUF_SUBMIT: u32 = 132;
const RINGBUF_DISCARD: u32 = 133;

/// `if (bpf_get_current_pid_tgid() >> 32 != tgid) return 0;` (clobbers r0-r5).
fn filter_tgid(a: &mut Asm, tgid: i32) {
    a.i(Insn::call(GET_CURRENT_PID_TGID))
        .i(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32))
        .jmp(JmpOp::Ne, Reg::R0, tgid, "out");
}

/// `r0 = lookup(map, &(u32)key); if (!r0) return 0;`
fn lookup_key(a: &mut Asm, map: &Map, key: i32) {
    a.i(Insn::st_mem(Size::W, Reg::R10, -4, key))
        .wide(Insn::ld_map_fd(Reg::R1, map.fd().as_raw_fd()))
        .i(Insn::mov64_reg(Reg::R2, Reg::R10))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R2, -4))
        .i(Insn::call(MAP_LOOKUP_ELEM))
        .jmp(JmpOp::Eq, Reg::R0, 0, "out");
}

/// `*(u64 *)r0 += 1`
fn increment_r0(a: &mut Asm) {
    a.i(Insn::ldx_mem(Size::DW, Reg::R1, Reg::R0, 0))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R1, 1))
        .i(Insn::stx_mem(Size::DW, Reg::R0, Reg::R1, 0));
}

/// `out: return 0;`
fn epilogue(a: &mut Asm) -> Vec<Insn> {
    a.label("out")
        .i(Insn::mov64_imm(Reg::R0, 0))
        .i(Insn::exit());
    a.finish()
}

/// A program of `prog_type` that counts into `map[key]` when the current tgid is `tgid`
/// (any process when `tgid` is 0).
fn counter(prog_type: ProgType, map: &Map, key: i32, tgid: i32, name: &str) -> Program {
    let mut a = Asm::new();
    if tgid != 0 {
        filter_tgid(&mut a, tgid);
    }
    lookup_key(&mut a, map, key);
    increment_r0(&mut a);
    let insns = epilogue(&mut a);
    load(ProgramSpec::new(prog_type, insns).with_name(name))
}

fn load(spec: ProgramSpec) -> Program {
    Program::load(&spec).unwrap_or_else(|e| panic!("{e}"))
}

fn percpu_counter_map(name: &str) -> Map {
    Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 3).with_name(name)).unwrap()
}

fn sum(map: &Map, key: u32) -> u64 {
    map.lookup_u64_sum(&key.to_ne_bytes()).unwrap().unwrap()
}

#[test]
fn tracepoint_counts_exactly_1000_getppid_calls() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        // Two batches of 500: the second runs after the program's fd is dropped (the
        // link keeps it attached).
        let mut child = Workload::start(workload(), &["getppid", "500", "2"]);
        let map = percpu_counter_map("ks_tp_count");
        let prog = counter(ProgType::Tracepoint, &map, 0, child.pid(), "ks_tp_count");
        leaks.track(&prog);
        let stats = kscope_bpf::enable_stats().unwrap();
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.link.method(), PerfAttachMethod::Link);
        assert!(link.link.link_id().is_some());
        child.run_batch();
        assert_eq!(sum(&map, 0), 500);
        let info = prog.info().unwrap();
        drop(stats);
        assert_eq!(info.name, "ks_tp_count");
        assert_eq!(info.id, prog.id().unwrap());
        // The program runs for every process's getppid and filters inside.
        assert!(info.run_cnt >= 500, "{info:?}");
        assert!(info.run_time_ns > 0 && info.verified_insns > 0, "{info:?}");
        drop(prog);
        child.run_batch();
        child.finish();
        assert_eq!(sum(&map, 0), 1000);
        drop(link);
    }
    leaks.assert_clean();
}

/// The pre-5.15 path: PERF_EVENT_IOC_SET_BPF instead of a BPF link.
#[test]
fn tracepoint_through_set_bpf_ioctl_counts_exactly_1000() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let map = percpu_counter_map("ks_tp_ioctl");
        let prog = counter(ProgType::Tracepoint, &map, 0, child.pid(), "ks_tp_ioctl");
        leaks.track(&prog);
        let link = tracepoint::attach_with(
            &prog,
            "syscalls",
            "sys_enter_getppid",
            PerfAttachMethod::Ioctl,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.link.method(), PerfAttachMethod::Ioctl);
        assert_eq!(link.link.link_id(), None);
        drop(prog);
        child.run_batch();
        child.finish();
        assert_eq!(sum(&map, 0), 1000);
    }
    leaks.assert_clean();
}

#[test]
fn raw_tracepoint_counts_exactly_1000_getppid_calls() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let map = percpu_counter_map("ks_rawtp_count");
        // sys_enter(struct pt_regs *regs, long id): args[1] is the syscall number.
        let mut a = Asm::new();
        a.i(Insn::ldx_mem(Size::DW, Reg::R6, Reg::R1, 8)).jmp(
            JmpOp::Ne,
            Reg::R6,
            libc::SYS_getppid as i32,
            "out",
        );
        filter_tgid(&mut a, child.pid());
        lookup_key(&mut a, &map, 0);
        increment_r0(&mut a);
        let insns = epilogue(&mut a);
        let prog = load(ProgramSpec::new(ProgType::RawTracepoint, insns).with_name("ks_rawtp"));
        leaks.track(&prog);
        let link = raw_tracepoint::attach(&prog, "sys_enter").unwrap_or_else(|e| panic!("{e}"));
        assert!(link.link_id().unwrap() > 0);
        child.run_batch();
        child.finish();
        assert_eq!(sum(&map, 0), 1000);
    }
    leaks.assert_clean();
}

#[test]
fn wrong_program_type_and_unknown_tracepoint_are_explained() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let map = percpu_counter_map("ks_err");
        let prog = counter(ProgType::Kprobe, &map, 0, 0, "ks_err");
        leaks.track(&prog);
        let e = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid").unwrap_err();
        assert!(e.to_string().contains("needs a tracepoint program"), "{e}");
        let prog = counter(ProgType::Tracepoint, &map, 0, 0, "ks_err2");
        leaks.track(&prog);
        let e = tracepoint::attach(&prog, "syscalls", "sys_enter_no_such_call").unwrap_err();
        assert_eq!(e.raw_errno(), Some(libc::ENOENT), "{e}");
        assert!(e.to_string().contains("no such tracepoint"), "{e}");
        let e = tracepoint::attach(&prog, "../x", "y").unwrap_err();
        assert!(e.to_string().contains("not a tracepoint name"), "{e}");
        let raw = counter(ProgType::RawTracepoint, &map, 0, 0, "ks_err3");
        leaks.track(&raw);
        let e = raw_tracepoint::attach(&raw, "no_such_tracepoint_xyz").unwrap_err();
        assert!(e.to_string().contains("no such tracepoint"), "{e}");
    }
    leaks.assert_clean();
}

/// One ringbuf record per getppid call, carrying a sequence number kept in a map: all
/// 10,000 arrive in order, none is lost, and records wrap around the end of the ring.
#[test]
fn ringbuf_delivers_10000_records_in_order() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        // 2 batches of 5000 records of 24 bytes (8 header + 16 data): 120,000 bytes each
        // in a 128 KiB ring, consumed between batches, so the second batch crosses the
        // end of the ring (with a record split across it) without ever filling it.
        let mut child = Workload::start(workload(), &["getppid", "5000", "2"]);
        let ring = Map::create(&MapSpec::ringbuf(128 << 10).with_name("ks_rb")).unwrap();
        let state =
            Map::create(&MapSpec::new(MapType::Array, 4, 16, 1).with_name("ks_rb_seq")).unwrap();
        let mut a = Asm::new();
        filter_tgid(&mut a, child.pid());
        lookup_key(&mut a, &state, 0);
        a.i(Insn::mov64_reg(Reg::R6, Reg::R0))
            .i(Insn::ldx_mem(Size::DW, Reg::R7, Reg::R6, 0))
            .i(Insn::alu64_imm(AluOp::Add, Reg::R7, 1))
            .i(Insn::stx_mem(Size::DW, Reg::R6, Reg::R7, 0))
            .wide(Insn::ld_map_fd(Reg::R1, ring.fd().as_raw_fd()))
            .i(Insn::mov64_imm(Reg::R2, 16))
            .i(Insn::mov64_imm(Reg::R3, 0))
            .i(Insn::call(RINGBUF_RESERVE))
            .jmp(JmpOp::Eq, Reg::R0, 0, "lost")
            .i(Insn::stx_mem(Size::DW, Reg::R0, Reg::R7, 0))
            .i(Insn::st_mem(Size::DW, Reg::R0, 8, 0x5eed))
            .i(Insn::mov64_reg(Reg::R1, Reg::R0))
            .i(Insn::mov64_imm(Reg::R2, 0))
            .i(Insn::call(RINGBUF_SUBMIT))
            .ja("out")
            .label("lost")
            .i(Insn::ldx_mem(Size::DW, Reg::R1, Reg::R6, 8))
            .i(Insn::alu64_imm(AluOp::Add, Reg::R1, 1))
            .i(Insn::stx_mem(Size::DW, Reg::R6, Reg::R1, 8));
        let insns = epilogue(&mut a);
        let prog = load(ProgramSpec::new(ProgType::Tracepoint, insns).with_name("ks_rb"));
        leaks.track(&prog);
        let _link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut reader = RingBuf::new(&ring).unwrap();
        let mut seqs: Vec<u64> = Vec::new();
        let mut sizes_ok = true;
        for _ in 0..2 {
            // The program ran inside the child's syscalls, so after "done" every record of
            // the batch is committed.
            child.run_batch();
            reader
                .poll(Duration::from_secs(2), |rec| {
                    sizes_ok &= rec.len() == 16
                        && u64::from_ne_bytes(rec[8..16].try_into().unwrap()) == 0x5eed;
                    seqs.push(u64::from_ne_bytes(rec[..8].try_into().unwrap()));
                })
                .unwrap();
            assert_eq!(reader.pending_bytes(), 0);
        }
        child.finish();
        let state_value = state.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
        let lost = u64::from_ne_bytes(state_value[8..16].try_into().unwrap());
        assert_eq!(lost, 0, "records lost to a full ring");
        assert!(sizes_ok, "a record had the wrong size or payload");
        assert_eq!(seqs.len(), 10_000);
        assert!(
            seqs.iter().enumerate().all(|(i, &s)| s == i as u64 + 1),
            "records out of order"
        );
        assert_eq!(reader.pending_bytes(), 0);
    }
    leaks.assert_clean();
}

/// Discarded records are skipped: a program that discards odd sequence numbers delivers
/// exactly the 500 even ones, in order.
#[test]
fn ringbuf_skips_discarded_records() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let ring = Map::create(&MapSpec::ringbuf(64 << 10).with_name("ks_rb_disc")).unwrap();
        let state =
            Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("ks_rb_dseq")).unwrap();
        let mut a = Asm::new();
        filter_tgid(&mut a, child.pid());
        lookup_key(&mut a, &state, 0);
        increment_r0(&mut a);
        a.i(Insn::mov64_reg(Reg::R7, Reg::R1))
            .wide(Insn::ld_map_fd(Reg::R1, ring.fd().as_raw_fd()))
            .i(Insn::mov64_imm(Reg::R2, 8))
            .i(Insn::mov64_imm(Reg::R3, 0))
            .i(Insn::call(RINGBUF_RESERVE))
            .jmp(JmpOp::Eq, Reg::R0, 0, "out")
            .i(Insn::stx_mem(Size::DW, Reg::R0, Reg::R7, 0))
            .i(Insn::mov64_reg(Reg::R1, Reg::R0))
            .i(Insn::mov64_imm(Reg::R2, 0))
            .jmp(JmpOp::Set, Reg::R7, 1, "discard")
            .i(Insn::call(RINGBUF_SUBMIT))
            .ja("out")
            .label("discard")
            .i(Insn::call(RINGBUF_DISCARD));
        let insns = epilogue(&mut a);
        let prog = load(ProgramSpec::new(ProgType::Tracepoint, insns).with_name("ks_rb_disc"));
        leaks.track(&prog);
        let _link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid").unwrap();
        let mut reader = RingBuf::new(&ring).unwrap();
        // A reader blocked in poll on the empty ring wakes up when records arrive.
        assert_eq!(reader.pending_bytes(), 0);
        let waiter = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut seqs = Vec::new();
            let n = reader
                .poll(Duration::from_secs(20), |rec| {
                    seqs.push(u64::from_ne_bytes(rec.try_into().unwrap()))
                })
                .unwrap();
            (reader, seqs, n, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        child.run_batch();
        child.finish();
        let (mut reader, mut seqs, mut n, woke_after) = waiter.join().unwrap();
        assert!(
            woke_after < Duration::from_secs(10),
            "poll woke only after {woke_after:?}"
        );
        assert!(n > 0, "poll returned without records");
        n += reader.consume(|rec| seqs.push(u64::from_ne_bytes(rec.try_into().unwrap())));
        assert_eq!(n, 500);
        assert_eq!(seqs, (1..=500).map(|i| i * 2).collect::<Vec<u64>>());
        assert_eq!(reader.pending_bytes(), 0);
        // Reading a non-ringbuf map as a ring is refused.
        let e = RingBuf::new(&state).unwrap_err();
        assert!(e.to_string().contains("not a ringbuf"), "{e}");
    }
    leaks.assert_clean();
}

#[test]
fn kernel_stack_at_syscall_entry_symbolises_to_the_syscall_path() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint]) else {
        return;
    };
    let syms = KernelSymbols::load().unwrap();
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1"]);
        let stacks = Map::create(&MapSpec::stack_trace(127, 64).with_name("ks_stacks")).unwrap();
        let out =
            Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("ks_stackid")).unwrap();
        let mut a = Asm::new();
        a.i(Insn::mov64_reg(Reg::R6, Reg::R1));
        filter_tgid(&mut a, child.pid());
        a.i(Insn::mov64_reg(Reg::R1, Reg::R6))
            .wide(Insn::ld_map_fd(Reg::R2, stacks.fd().as_raw_fd()))
            .i(Insn::mov64_imm(Reg::R3, 0))
            .i(Insn::call(GET_STACKID))
            .i(Insn::mov64_reg(Reg::R7, Reg::R0));
        lookup_key(&mut a, &out, 0);
        a.i(Insn::stx_mem(Size::DW, Reg::R0, Reg::R7, 0));
        let insns = epilogue(&mut a);
        let prog = load(ProgramSpec::new(ProgType::Tracepoint, insns).with_name("ks_stack"));
        leaks.track(&prog);
        // Store a marker first: the program overwrites it with the stack id.
        out.update(
            &0u32.to_ne_bytes(),
            &(-1000i64).to_ne_bytes(),
            UpdateFlags::Exist,
        )
        .unwrap();
        // raw_syscalls, not syscalls:sys_enter_getppid: on Linux 6.1 the syscalls events
        // hand BPF the user-mode registers, so the kernel stack is empty (EFAULT); 6.18's
        // and raw_syscalls' events give the kernel's own.
        let link = tracepoint::attach(&prog, "raw_syscalls", "sys_enter").unwrap();
        child.run_batch();
        child.finish();
        drop(link);
        let v = out.lookup(&0u32.to_ne_bytes()).unwrap().unwrap();
        let id = i64::from_ne_bytes(v[..8].try_into().unwrap());
        assert!(id >= 0, "bpf_get_stackid returned {id}");
        let addrs = stack::stack_addresses(&stacks, id as u32).unwrap().unwrap();
        assert!(!addrs.is_empty());
        let frames: Vec<String> = addrs.iter().map(|&a| syms.format(a)).collect();
        println!(
            "kernel stack at raw_syscalls:sys_enter:\n  {}",
            frames.join("\n  ")
        );
        assert!(
            frames.iter().all(|f| !f.starts_with("0x")),
            "unsymbolised frames: {frames:?}"
        );
        assert!(
            frames.iter().any(|f| f.contains("getppid")
                || f.starts_with("do_syscall_64")
                || f.starts_with("entry_SYSCALL")
                || f.starts_with("x64_sys_call")),
            "no syscall-path frame in {frames:?}"
        );
        assert_eq!(stack::stack_addresses(&stacks, 63).unwrap(), None);
    }
    leaks.assert_clean();
}

#[test]
fn uprobe_and_uretprobe_count_exactly_n_calls() {
    let Some(_kernel) = require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    const N: u64 = 777;
    let path = workload();
    let offset = file_offset(path, "kscope_uprobe_target");
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["call", &N.to_string()]);
        let map = percpu_counter_map("ks_uprobe");
        let entry = counter(ProgType::Kprobe, &map, 0, 0, "ks_uprobe");
        let ret = counter(ProgType::Kprobe, &map, 1, 0, "ks_uretprobe");
        leaks.track(&entry);
        leaks.track(&ret);
        let pid = Some(child.pid());
        let l1 = uprobe::attach(
            &entry,
            path,
            offset,
            UprobeOptions {
                retprobe: false,
                pid,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let l2 = uprobe::attach(
            &ret,
            path,
            offset,
            UprobeOptions {
                retprobe: true,
                pid,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The same probe for every process that runs the file, filtered by tgid inside.
        let any = counter(ProgType::Kprobe, &map, 2, child.pid(), "ks_uprobe_any");
        leaks.track(&any);
        let every_process = UprobeOptions {
            retprobe: false,
            pid: None,
        };
        let l3 =
            uprobe::attach(&any, path, offset, every_process).unwrap_or_else(|e| panic!("{e}"));
        child.run_batch();
        child.finish();
        assert_eq!(sum(&map, 0), N);
        assert_eq!(sum(&map, 1), N);
        assert_eq!(sum(&map, 2), N);
        drop((l1, l2, l3));
        // A virtual address that is not a file offset inside text is refused clearly.
        let e = uprobe::attach(
            &entry,
            std::path::Path::new("/nonexistent/kscope"),
            offset,
            UprobeOptions {
                retprobe: false,
                pid: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.raw_errno(), Some(libc::ENOENT), "{e}");
    }
    leaks.assert_clean();
}

#[test]
fn cpu_clock_sampling_counts_samples_during_a_busy_loop() {
    let Some(_kernel) = require_all(&[Feature::BpfPerfEvent, Feature::PerfSw]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["spin", "300"]);
        let map = percpu_counter_map("ks_profile");
        let prog = counter(ProgType::PerfEvent, &map, 0, child.pid(), "ks_profile");
        leaks.track(&prog);
        let links = perf_event::attach(&prog, &SamplingSpec::profile_hz(999))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(links.links.len(), perf_event::online_cpus().unwrap().len());
        child.run_batch();
        child.finish();
        drop(links);
        let samples = sum(&map, 0);
        println!("{samples} samples of the 300 ms busy loop at 999 Hz");
        assert!(samples > 0);
        // A sampling event for interval probes lives on one CPU only.
        let one = perf_event::attach(&prog, &SamplingSpec::interval_ns(1_000_000)).unwrap();
        assert_eq!(one.links.len(), 1);
    }
    leaks.assert_clean();
}

/// BEGIN-style: a raw tracepoint program run once with BPF_PROG_TEST_RUN runs exactly once.
#[test]
fn test_run_runs_a_begin_program_exactly_once() {
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let map =
            Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("ks_begin")).unwrap();
        let mut a = Asm::new();
        lookup_key(&mut a, &map, 0);
        increment_r0(&mut a);
        a.i(Insn::mov64_imm(Reg::R0, 42)).i(Insn::exit());
        let insns = epilogue(&mut a);
        let prog = load(ProgramSpec::new(ProgType::RawTracepoint, insns).with_name("ks_begin"));
        leaks.track(&prog);
        let out = test_run::run_once(&prog, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.retval, 42);
        assert_eq!(map.lookup_u64_sum(&0u32.to_ne_bytes()).unwrap(), Some(1));
        let out = test_run::run_once(&prog, &[1, 2, 3]).unwrap();
        assert_eq!(out.retval, 42);
        assert_eq!(map.lookup_u64_sum(&0u32.to_ne_bytes()).unwrap(), Some(2));
    }
    leaks.assert_clean();
}

/// Which tracing program types BPF_PROG_TEST_RUN accepts on this kernel (documented in
/// `kscope_bpf::attach::test_run`): raw_tracepoint only.
#[test]
fn test_run_support_by_program_type() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    for t in [
        ProgType::Kprobe,
        ProgType::Tracepoint,
        ProgType::PerfEvent,
        ProgType::RawTracepoint,
    ] {
        let prog = load(kscope_bpf::minimal_program(t));
        leaks.track(&prog);
        let r = test_run::try_run_raw(&prog, &[0u8; 8]);
        println!("BPF_PROG_TEST_RUN on {t}: {r:?}");
        match t {
            ProgType::RawTracepoint => assert_eq!(r.unwrap().retval, 0),
            _ => assert_eq!(r.unwrap_err().raw_os_error(), Some(kscope_bpf::ENOTSUPP)),
        }
        if t != ProgType::RawTracepoint {
            let e = test_run::run_once(&prog, &[]).unwrap_err();
            assert!(
                e.to_string().contains("needs a raw_tracepoint program"),
                "{e}"
            );
        }
    }
    leaks.assert_clean();
}

/// kprobe and kretprobe through the kprobe PMU (absent on the development VM: runs in the
/// guest-kernel lab).
#[test]
fn lab_bpf_kprobe_and_kretprobe_count_exactly_1000_getppid_calls() {
    let Some(_kernel) = require_all(&[Feature::Kprobes, Feature::BpfKprobe]) else {
        return;
    };
    if kscope_sys::perf::pmu_type("kprobe").is_err() {
        eprintln!("skipped: no kprobe PMU (attaching through kprobe_events is not built yet)");
        return;
    }
    let syms = KernelSymbols::load().unwrap();
    // The getppid function's name depends on the kernel (6.12 calls __do_sys_getppid from
    // x64_sys_call).
    let func = [
        "__do_sys_getppid",
        "__x64_sys_getppid",
        "__arm64_sys_getppid",
        "sys_getppid",
    ]
    .into_iter()
    .find(|f| syms.address_of(f).is_some())
    .expect("a getppid function in kallsyms");
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let map = percpu_counter_map("ks_kprobe");
        let entry = counter(ProgType::Kprobe, &map, 0, child.pid(), "ks_kprobe");
        let ret = counter(ProgType::Kprobe, &map, 1, child.pid(), "ks_kretprobe");
        leaks.track(&entry);
        leaks.track(&ret);
        let l1 = kscope_bpf::attach::kprobe::attach(&entry, func, 0, false)
            .unwrap_or_else(|e| panic!("{e}"));
        let l2 = kscope_bpf::attach::kprobe::attach(&ret, func, 0, true)
            .unwrap_or_else(|e| panic!("{e}"));
        child.run_batch();
        child.finish();
        assert_eq!(sum(&map, 0), 1000, "kprobe on {func}");
        assert_eq!(sum(&map, 1), 1000, "kretprobe on {func}");
        drop((l1, l2));
    }
    leaks.assert_clean();
}
