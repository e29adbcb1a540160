//! Kernel tests: load programs, create maps, read verifier logs, and check that nothing
//! stays loaded afterwards.
//!
//! They run through the shared test helper: without root or bpf(2) they print why and skip,
//! and under `KSCOPE_REQUIRE_KERNEL=1` a skip the doctor cannot explain is a failure.

use std::time::{Duration, Instant};

use kscope_testkit::{Feature, require};

use kscope_bpf::insn::{AluOp, Reg, Size, disassemble};
use kscope_bpf::{
    IdKind, Insn, Map, MapSpec, MapType, ProgType, Program, ProgramSpec, loaded_ids,
    minimal_program,
};

/// Waits until none of `ids` is listed any more. Programs are freed synchronously when their
/// last fd closes; maps used by a program are released later from a workqueue, hence the wait.
fn assert_gone(kind: IdKind, ids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = loaded_ids(kind).expect("listing ids");
        let left: Vec<u32> = ids.iter().copied().filter(|id| now.contains(id)).collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{} ids {left:?} are still loaded 5 s after being dropped",
                kind.name()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn loads_the_minimal_program_of_each_working_type() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let types = [
        ProgType::SocketFilter,
        ProgType::Kprobe,
        ProgType::Tracepoint,
        ProgType::PerfEvent,
        ProgType::RawTracepoint,
    ];
    let mut ids = Vec::new();
    {
        let mut progs = Vec::new();
        for t in types {
            let prog = Program::load(&minimal_program(t))
                .unwrap_or_else(|e| panic!("minimal {t} program failed to load: {e}"));
            assert_eq!(prog.prog_type(), t);
            let id = prog.id().expect("program id");
            assert!(id > 0);
            ids.push(id);
            progs.push(prog);
        }
        let listed = loaded_ids(IdKind::Prog).unwrap();
        for id in &ids {
            assert!(
                listed.contains(id),
                "program id {id} not listed in {listed:?}"
            );
        }
    }
    assert_gone(IdKind::Prog, &ids);
}

#[test]
fn uninitialised_register_is_rejected_with_eacces_and_a_log() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let insns = vec![Insn::mov64_reg(Reg::R0, Reg::R2), Insn::exit()];
    let spec = ProgramSpec::new(ProgType::SocketFilter, insns.clone()).with_name("bad_r2");
    let err = Program::load(&spec).expect_err("reading r2 must be rejected");
    assert_eq!(err.raw_errno(), Some(libc::EACCES), "{err}");
    assert!(err.log.contains("R2 !read_ok"), "log: {}", err.log);
    assert!(!err.log_truncated);
    // The verifier prints the instruction the way our disassembler does.
    let line = disassemble(&insns).lines().next().unwrap().to_string();
    assert_eq!(line, "0: (bf) r0 = r2");
    assert!(err.log.contains(&line), "log: {}", err.log);
    let text = err.to_string();
    assert!(text.contains("socket_filter program `bad_r2`"), "{text}");
    assert!(text.contains("R2 !read_ok"), "{text}");
    println!("{text}");
}

#[test]
fn long_verifier_log_is_complete() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    // 3000 instructions before the bad one: the level-1 log is well over 64 KiB.
    let mut insns = vec![Insn::mov64_imm(Reg::R0, 0)];
    for i in 0..3000 {
        insns.push(Insn::alu64_imm(AluOp::Add, Reg::R0, i));
    }
    insns.push(Insn::mov64_reg(Reg::R0, Reg::R3));
    insns.push(Insn::exit());
    let err = Program::load(&ProgramSpec::new(ProgType::Kprobe, insns)).unwrap_err();
    assert_eq!(err.raw_errno(), Some(libc::EACCES), "{err}");
    assert!(!err.log_truncated);
    assert!(
        err.log.len() > 64 << 10,
        "log is only {} bytes",
        err.log.len()
    );
    assert!(
        err.log.contains("0: (b7) r0 = 0"),
        "the start of the log is missing"
    );
    assert!(err.log.contains("R3 !read_ok"));
}

#[test]
fn creates_each_map_type() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let page = kscope_sys::bpf::page_size() as u32;
    let specs = [
        MapSpec::new(MapType::Hash, 8, 8, 64),
        MapSpec::new(MapType::Array, 4, 8, 16),
        MapSpec::new(MapType::PercpuHash, 8, 16, 64),
        MapSpec::new(MapType::PercpuArray, 4, 64, 4),
        MapSpec::stack_trace(127, 128),
        MapSpec::perf_event_array(),
        MapSpec::ringbuf(page * 16),
        MapSpec::new(MapType::LruHash, 8, 8, 64),
    ];
    let mut ids = Vec::new();
    {
        let mut maps = Vec::new();
        for spec in &specs {
            let spec = spec.clone().with_name(format!("ks_{}", spec.map_type));
            let map =
                Map::create(&spec).unwrap_or_else(|e| panic!("creating {spec:?} failed: {e}"));
            ids.push(map.id().unwrap());
            maps.push(map);
        }
        let listed = loaded_ids(IdKind::Map).unwrap();
        for id in &ids {
            assert!(listed.contains(id), "map id {id} not listed");
        }
    }
    assert_gone(IdKind::Map, &ids);
}

#[test]
fn kernel_errors_on_map_create_are_explained() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    // BPF_F_NO_PREALLOC (1) is invalid for arrays: passes our checks, fails in the kernel.
    let spec = MapSpec::new(MapType::Array, 4, 4, 1)
        .with_flags(1)
        .with_name("bad");
    let err = Map::create(&spec).unwrap_err().to_string();
    assert!(err.contains("creating BPF array map `bad`"), "{err}");
    assert!(err.contains("Invalid argument"), "{err}");
}

#[test]
fn program_using_a_map_loads_and_both_go_away() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let (prog_id, map_id);
    {
        let map =
            Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("ks_lookup")).unwrap();
        use std::os::fd::AsRawFd;
        let mut insns = vec![Insn::st_mem(Size::W, Reg::R10, -4, 0)];
        insns.extend(Insn::ld_map_fd(Reg::R1, map.fd().as_raw_fd()));
        insns.push(Insn::mov64_reg(Reg::R2, Reg::R10));
        insns.push(Insn::alu64_imm(AluOp::Add, Reg::R2, -4));
        insns.push(Insn::call(1)); // bpf_map_lookup_elem
        insns.push(Insn::mov64_imm(Reg::R0, 0));
        insns.push(Insn::exit());
        let prog = Program::load(&ProgramSpec::new(ProgType::Kprobe, insns).with_name("ks_lookup"))
            .unwrap_or_else(|e| panic!("{e}"));
        prog_id = prog.id().unwrap();
        map_id = map.id().unwrap();
    }
    assert_gone(IdKind::Prog, &[prog_id]);
    assert_gone(IdKind::Map, &[map_id]);
}

/// Records what this kernel does with an fentry program (see `ProgType::Tracing`).
#[test]
fn fentry_outcome_is_reported() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let btf = match kscope_btf::Btf::from_sys_vmlinux() {
        Ok(b) => b,
        Err(e) => {
            println!("skipped fentry_outcome_is_reported: {e}");
            return;
        }
    };
    let func = btf
        .find_by_name(kscope_btf::Kind::Func, "do_nanosleep")
        .expect("FUNC do_nanosleep in vmlinux BTF");
    let mut spec = minimal_program(ProgType::Tracing).with_name("ks_fentry");
    spec.attach_btf_id = func;
    match Program::load(&spec) {
        Ok(prog) => println!(
            "fentry on do_nanosleep (BTF id {func}) loaded as program id {:?}",
            prog.id()
        ),
        Err(e) => {
            println!(
                "fentry on do_nanosleep (BTF id {func}) failed: errno {:?} ({}), log {:?}",
                e.raw_errno(),
                e.errno,
                e.log
            );
            println!("{e}");
            assert_ne!(
                e.raw_errno(),
                Some(libc::EACCES),
                "r0 = 0; exit must verify"
            );
            if e.raw_errno() == Some(libc::EPERM) {
                assert!(e.to_string().contains("refuses fentry/fexit"), "{e}");
            }
        }
    }
}

#[test]
fn loaded_ids_are_ascending() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    for kind in [IdKind::Prog, IdKind::Map, IdKind::Link] {
        let ids = loaded_ids(kind).unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{kind:?}: {ids:?}");
    }
}
