//! Kernel tests of generated programs: the verifier accepts them and they compute exact,
//! known results from a C workload; a rejected program is reported at the right span.
//! After each test no program of ours is left loaded.

mod support;

use std::os::fd::AsRawFd;

use kscope_bpf::attach::tracepoint;
use kscope_bpf::ringbuf::RingBuf;
use kscope_bpf::{Map, MapSpec, MapType, ProgType, Program};
use kscope_codegen::ir::{AluOp, Base, JmpOp, Size};
use kscope_codegen::lower::{self, Field};
use kscope_codegen::{Builder, CodegenError, Compiled, MapId, Span, VReg, Width, compile};
use kscope_testkit::{Feature, require, require_all};
use support::kernel::{LeakCheck, Workload, workload};

/// Compiles with `maps[i]` as `MapId(i)`.
fn build(b: Builder, maps: &[&Map]) -> Compiled {
    let fds: Vec<i32> = maps.iter().map(|m| m.fd().as_raw_fd()).collect();
    compile(&b.finish(), &|m: MapId| fds.get(m.0 as usize).copied())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn load(c: &Compiled, name: &str) -> Program {
    c.load(ProgType::Tracepoint, name)
        .unwrap_or_else(|e| panic!("{e}\n{}", c.disassemble()))
}

/// `if (pid != tgid) return 0;`, returning the pid register.
fn filter_pid(b: &mut Builder, tgid: i32) -> VReg {
    let out = b.label();
    let go = b.label();
    let p = lower::pid(b);
    b.jmp_if(JmpOp::Eq, p, tgid, go);
    b.place(out);
    b.exit(0);
    b.place(go);
    p
}

/// A pointer to a new 8-byte stack slot holding `v`.
fn key_of(b: &mut Builder, v: VReg) -> VReg {
    let s = b.slot(8);
    b.store(Size::DW, Base::Slot(s), 0, v);
    b.slot_addr(s, 0)
}

fn percpu_sum(map: &Map, key: &[u8], off: usize) -> u64 {
    let raw = map.lookup(key).unwrap().expect("key present");
    map.split_percpu(&raw)
        .iter()
        .map(|v| u64::from_ne_bytes(v[off..off + 8].try_into().unwrap()))
        .sum()
}

/// `tracepoint:syscalls:sys_enter_getppid /pid == CHILD/ { @[pid] = count(); }`
#[test]
fn generated_count_by_pid_is_exactly_1000() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let map = Map::create(&MapSpec::new(MapType::PercpuHash, 8, 8, 64).with_name("cg_count"))
            .unwrap();
        let mut b = Builder::new();
        b.set_span(Span::new(0, 10));
        let p = filter_pid(&mut b, child.pid());
        b.set_span(Span::new(20, 40));
        let key = key_of(&mut b, p);
        lower::count(&mut b, MapId(0), key);
        b.exit(0);
        let c = build(b, &[&map]);
        let prog = load(&c, "cg_count");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        child.run_batch();
        let pid = child.pid() as u64;
        child.finish();
        drop(link);
        assert_eq!(map.keys().unwrap(), vec![pid.to_ne_bytes().to_vec()]);
        assert_eq!(percpu_sum(&map, &pid.to_ne_bytes(), 0), 1000);
    }
    leaks.assert_clean();
}

/// On `sys_enter_write` of fd 100: `hist(count)`, `hist(count, 2)`, `lhist(count, 0,
/// 100, 10)` in per-CPU arrays; `@[fd] = hist(count)` in a per-CPU hash of bucket arrays;
/// `sum`, `min`, `max`, `stats` keyed by pid. Every bucket and value is exact.
#[test]
fn generated_aggregations_of_write_counts_are_exact() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        // Value i is written i + 1 times; -5 is a size_t the kernel refuses (EFAULT) but
        // the tracepoint sees, and bpftrace's hist puts negatives in bucket 0.
        let values: [i64; 14] = [-5, 0, 1, 2, 3, 4, 7, 8, 15, 99, 100, 1000, 65536, 1 << 20];
        let arg: Vec<String> = values.iter().map(|v| (*v as u64).to_string()).collect();
        let mut child = Workload::start(workload(), &["write", &arg.join(",")]);
        let nb0 = lower::hist_buckets(0);
        let nb2 = lower::hist_buckets(2);
        let nl = lower::lhist_buckets(0, 100, 10);
        let array = |n: u32, name: &str| {
            Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, n).with_name(name)).unwrap()
        };
        let h0 = array(nb0, "cg_hist0");
        let h2 = array(nb2, "cg_hist2");
        let lh = array(nl, "cg_lhist");
        let keyed =
            Map::create(&MapSpec::new(MapType::PercpuHash, 8, nb0 * 8, 16).with_name("cg_khist"))
                .unwrap();
        let zero =
            Map::create(&MapSpec::new(MapType::PercpuArray, 4, nb0 * 8, 1).with_name("cg_zero"))
                .unwrap();
        let sums =
            Map::create(&MapSpec::new(MapType::PercpuHash, 8, 8, 4).with_name("cg_sum")).unwrap();
        let mins =
            Map::create(&MapSpec::new(MapType::PercpuHash, 8, 16, 4).with_name("cg_min")).unwrap();
        let maxs =
            Map::create(&MapSpec::new(MapType::PercpuHash, 8, 16, 4).with_name("cg_max")).unwrap();
        let stats = Map::create(&MapSpec::new(MapType::PercpuHash, 8, 16, 4).with_name("cg_stats"))
            .unwrap();

        let mut b = Builder::new();
        let p = filter_pid(&mut b, child.pid());
        let ctx = b.ctx();
        let fd = b.load(Size::DW, Base::Reg(ctx), 16);
        let not_ours = b.label();
        b.jmp_if(JmpOp::Ne, fd, 100, not_ours);
        let v = b.load(Size::DW, Base::Reg(ctx), 32);
        let bucket = lower::hist_bucket(&mut b, v, 0);
        lower::array_slot_add(&mut b, MapId(0), bucket);
        let bucket2 = lower::hist_bucket(&mut b, v, 2);
        lower::array_slot_add(&mut b, MapId(1), bucket2);
        let lb = lower::lhist_bucket(&mut b, v, 0, 100, 10);
        lower::array_slot_add(&mut b, MapId(2), lb);
        let fdkey = key_of(&mut b, fd);
        lower::buckets_add(&mut b, MapId(3), fdkey, bucket, nb0, MapId(4));
        let pkey = key_of(&mut b, p);
        lower::sum(&mut b, MapId(5), pkey, v);
        lower::min_max(&mut b, MapId(6), pkey, v, false, true);
        lower::min_max(&mut b, MapId(7), pkey, v, true, true);
        lower::avg_stats(&mut b, MapId(8), pkey, v);
        b.place(not_ours);
        b.exit(0);
        let c = build(
            b,
            &[&h0, &h2, &lh, &keyed, &zero, &sums, &mins, &maxs, &stats],
        );
        let prog = load(&c, "cg_aggs");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_write")
            .unwrap_or_else(|e| panic!("{e}"));
        child.run_batch();
        let pid = (child.pid() as u64).to_ne_bytes();
        child.finish();
        drop(link);

        let mut want0 = vec![0u64; nb0 as usize];
        let mut want2 = vec![0u64; nb2 as usize];
        let mut wantl = vec![0u64; nl as usize];
        let (mut sum, mut n) = (0i64, 0u64);
        for (i, &v) in values.iter().enumerate() {
            let times = i as u64 + 1;
            want0[lower::hist_index(v, 0) as usize] += times;
            want2[lower::hist_index(v, 2) as usize] += times;
            wantl[lower::lhist_index(v, 0, 100, 10) as usize] += times;
            sum = sum.wrapping_add(v.wrapping_mul(times as i64));
            n += times;
        }
        let read = |m: &Map, nb: u32| -> Vec<u64> {
            (0..nb)
                .map(|k| percpu_sum(m, &k.to_ne_bytes(), 0))
                .collect()
        };
        assert_eq!(read(&h0, nb0), want0, "hist");
        assert_eq!(read(&h2, nb2), want2, "hist(n, 2)");
        assert_eq!(read(&lh, nl), wantl, "lhist");
        let keyed_buckets: Vec<u64> = (0..nb0 as usize)
            .map(|k| percpu_sum(&keyed, &100u64.to_ne_bytes(), k * 8))
            .collect();
        assert_eq!(keyed_buckets, want0, "@[fd] = hist");
        assert_eq!(percpu_sum(&sums, &pid, 0) as i64, sum, "sum");
        assert_eq!(percpu_sum(&stats, &pid, 0), n, "stats count");
        assert_eq!(percpu_sum(&stats, &pid, 8) as i64, sum, "stats sum");
        // min/max per CPU, then over the CPUs that saw a value.
        let per_cpu = |m: &Map| -> Vec<i64> {
            let raw = m.lookup(&pid).unwrap().unwrap();
            m.split_percpu(&raw)
                .iter()
                .filter(|v| u64::from_ne_bytes(v[8..16].try_into().unwrap()) == 1)
                .map(|v| i64::from_ne_bytes(v[0..8].try_into().unwrap()))
                .collect()
        };
        assert_eq!(per_cpu(&mins).into_iter().min(), Some(-5), "min");
        assert_eq!(per_cpu(&maxs).into_iter().max(), Some(1 << 20), "max");
    }
    leaks.assert_clean();
}

/// `printf("%d %d %d %s %d", seq, pid, tid, comm, nsecs)` on 10,000 getppid calls: all
/// records arrive in order with the right fields, and the loss counter stays 0.
#[test]
fn generated_ringbuf_records_10000_in_order_none_lost() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "10000"]);
        let ring = Map::create(&MapSpec::ringbuf(1 << 20).with_name("cg_ring")).unwrap();
        let loss =
            Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("cg_loss")).unwrap();
        let seq = Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("cg_seq")).unwrap();
        let c = record_program(child.pid(), 7);
        let c = {
            let fds = [&ring, &loss, &seq].map(|m| m.fd().as_raw_fd());
            compile(&c, &|m: MapId| fds.get(m.0 as usize).copied()).unwrap()
        };
        let prog = load(&c, "cg_printf");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rb = RingBuf::new(&ring).unwrap();
        child.run_batch();
        let pid = child.pid() as u32;
        child.finish();
        drop(link);
        let mut got = Vec::new();
        rb.consume(|rec| got.push(rec.to_vec()));
        assert_eq!(percpu_sum(&loss, &0u32.to_ne_bytes(), 0), 0, "lost records");
        assert_eq!(got.len(), 10_000);
        let mut last_ns = 0;
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.len(), 8 + 8 + 4 + 4 + 16 + 8);
            let u64_at = |o: usize| u64::from_ne_bytes(r[o..o + 8].try_into().unwrap());
            let u32_at = |o: usize| u32::from_ne_bytes(r[o..o + 4].try_into().unwrap());
            assert_eq!(u64_at(0), 7, "format id");
            assert_eq!(u64_at(8), i as u64 + 1, "sequence");
            assert_eq!(u32_at(16), pid);
            assert_eq!(u32_at(20), pid, "single-threaded: tid == pid");
            // Up to the NUL: Linux 6.1 leaves the bytes after it as they were.
            assert_eq!(
                r[24..40].split(|&c| c == 0).next(),
                Some(&b"kscope-cg-work"[..])
            );
            let ns = u64_at(40);
            assert!(ns >= last_ns, "nsecs go forward");
            last_ns = ns;
        }
    }
    leaks.assert_clean();
}

/// The program of the ringbuf tests: maps 0 ringbuf, 1 loss counter, 2 sequence array.
fn record_program(tgid: i32, fmt: u64) -> kscope_codegen::Function {
    let mut b = Builder::new();
    let p = filter_pid(&mut b, tgid);
    let skip = b.label();
    let key = lower::const_key(&mut b, 0);
    let sp = lower::lookup(&mut b, MapId(2), key);
    b.jmp_if(JmpOp::Eq, sp, 0, skip);
    let s = b.load(Size::DW, Base::Reg(sp), 0);
    b.alu(AluOp::Add, s, 1);
    b.store(Size::DW, Base::Reg(sp), 0, s);
    let t = lower::tid(&mut b);
    let comm = b.slot(16);
    let cp = b.slot_addr(comm, 0);
    lower::comm_into(&mut b, cp);
    let ns = lower::nsecs(&mut b);
    lower::ringbuf_output(
        &mut b,
        MapId(0),
        MapId(1),
        fmt,
        &[
            Field::Value(s, Width::W64),
            Field::Value(p, Width::W32),
            Field::Value(t, Width::W32),
            Field::Bytes { ptr: cp, len: 16 },
            Field::Value(ns, Width::W64),
        ],
    );
    b.place(skip);
    b.exit(0);
    b.finish()
}

/// A ring too small for the burst: every record is either delivered or counted lost.
#[test]
fn generated_ringbuf_counts_lost_records() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let ring = Map::create(&MapSpec::ringbuf(4096).with_name("cg_ring_small")).unwrap();
        let loss = Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("cg_loss2"))
            .unwrap();
        let seq = Map::create(&MapSpec::new(MapType::Array, 4, 8, 1).with_name("cg_seq2")).unwrap();
        let f = record_program(child.pid(), 9);
        let fds = [&ring, &loss, &seq].map(|m| m.fd().as_raw_fd());
        let c = compile(&f, &|m: MapId| fds.get(m.0 as usize).copied()).unwrap();
        let prog = load(&c, "cg_loss");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rb = RingBuf::new(&ring).unwrap();
        child.run_batch();
        child.finish();
        drop(link);
        let mut got = Vec::new();
        rb.consume(|rec| got.push(u64::from_ne_bytes(rec[8..16].try_into().unwrap())));
        let lost = percpu_sum(&loss, &0u32.to_ne_bytes(), 0);
        assert!(
            lost > 0,
            "a 4 KiB ring cannot hold 1000 records of 56 bytes"
        );
        assert_eq!(got.len() as u64 + lost, 1000);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "records in order");
    }
    leaks.assert_clean();
}

/// `str(args.buf)` on `write`: user strings read into a per-CPU scratch buffer and sent.
#[test]
fn generated_user_string_reads_into_scratch() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["strwrite", "100"]);
        let ring = Map::create(&MapSpec::ringbuf(1 << 16).with_name("cg_ring_str")).unwrap();
        let loss = Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("cg_loss3"))
            .unwrap();
        let scratch =
            Map::create(&MapSpec::new(MapType::PercpuArray, 4, 64, 1).with_name("cg_scratch"))
                .unwrap();
        let mut b = Builder::new();
        filter_pid(&mut b, child.pid());
        let ctx = b.ctx();
        let out = b.label();
        let fd = b.load(Size::DW, Base::Reg(ctx), 16);
        b.jmp_if(JmpOp::Ne, fd, 100, out);
        let src = b.load(Size::DW, Base::Reg(ctx), 24);
        let (buf, len) = lower::read_str(&mut b, MapId(2), src, 32, true, out);
        lower::ringbuf_output(
            &mut b,
            MapId(0),
            MapId(1),
            3,
            &[
                Field::Value(len, Width::W64),
                Field::Bytes { ptr: buf, len: 32 },
            ],
        );
        b.place(out);
        b.exit(0);
        let c = build(b, &[&ring, &loss, &scratch]);
        let prog = load(&c, "cg_str");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_write")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rb = RingBuf::new(&ring).unwrap();
        child.run_batch();
        child.finish();
        drop(link);
        let mut got = Vec::new();
        rb.consume(|r| {
            let len = u64::from_ne_bytes(r[8..16].try_into().unwrap()) as usize;
            got.push(String::from_utf8_lossy(&r[16..16 + len - 1]).into_owned());
        });
        let want: Vec<String> = (0..100).map(|i| format!("msg-{i}")).collect();
        assert_eq!(got, want);
    }
    leaks.assert_clean();
}

/// A map value used without its null check: the verifier's complaint lands on the span
/// of the load, not of the lookup.
#[test]
fn verifier_rejection_maps_to_the_span() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let before = kscope_bpf::loaded_ids(kscope_bpf::IdKind::Prog).unwrap();
    let map = Map::create(&MapSpec::new(MapType::Hash, 8, 8, 4).with_name("cg_reject")).unwrap();
    let mut b = Builder::new();
    b.set_span(Span::new(0, 12));
    let key = lower::const_key(&mut b, 0);
    let k8 = b.slot(8);
    b.store(Size::DW, Base::Slot(k8), 0, 0);
    let _ = key;
    let kp = b.slot_addr(k8, 0);
    b.set_span(Span::new(13, 30));
    let p = lower::lookup(&mut b, MapId(0), kp);
    b.set_span(Span::new(31, 44));
    let v = b.load(Size::DW, Base::Reg(p), 0);
    b.set_span(Span::new(45, 50));
    b.exit(v);
    let c = build(b, &[&map]);
    let err = c
        .load(ProgType::Tracepoint, "cg_reject")
        .expect_err("the verifier must refuse a possibly-NULL map value dereference");
    let CodegenError::Load {
        rejection: Some(r), ..
    } = &err
    else {
        panic!("no rejection location in {err}");
    };
    assert_eq!(r.span, Span::new(31, 44), "{err}\n{}", c.disassemble());
    assert!(r.message.contains("invalid mem access"), "{}", r.message);
    assert_eq!(
        c.insns[r.insn].code & 0x07,
        0x01,
        "the culprit is the load (LDX)"
    );
    assert_eq!(err.span(), Some(Span::new(31, 44)));
    assert!(err.to_string().contains("bytes 31..44"), "{err}");
    let after = kscope_bpf::loaded_ids(kscope_bpf::IdKind::Prog).unwrap();
    let new: Vec<u32> = after
        .iter()
        .copied()
        .filter(|i| !before.contains(i))
        .collect();
    // A refused program never gets an id; any new id here belongs to another process.
    for id in new {
        eprintln!("note: program {id} appeared meanwhile (not ours: ours was refused)");
    }
}

/// Random expression trees under register pressure, with real helper calls clobbering
/// r0-r5, loaded through the verifier as raw tracepoint programs and test-run in the
/// kernel with 8 arguments: the results equal the Rust reference.
#[test]
fn generated_pressure_programs_pass_the_verifier_and_compute_exactly() {
    use support::Rng;
    use support::expr::{INPUTS, eval_kernel, fold, fold_ref, gen_expr, inputs, lower_with};
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    let mut spilled = 0;
    for seed in 0..40u64 {
        let mut r = Rng::new(5000 + seed);
        let nvars = 10 + r.below(16) as usize;
        let exprs: Vec<_> = (0..nvars).map(|i| gen_expr(&mut r, 3, i)).collect();
        let mut b = Builder::new();
        let ctx = b.ctx();
        let mut vars = Vec::new();
        for e in &exprs {
            let v = lower_with(&mut b, e, ctx, &vars, true);
            vars.push(v);
        }
        let acc = fold(&mut b, &vars);
        // test-run reports 32 bits of r0: fold the upper half in.
        let hi = b.binop(AluOp::Rsh, acc, 32);
        b.alu(AluOp::Xor, acc, hi);
        b.exit(acc);
        let c = compile(&b.finish(), &|_| None).unwrap();
        spilled += c.spilled;
        let prog = c
            .load(ProgType::RawTracepoint, "cg_pressure")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", c.disassemble()));
        leaks.track(&prog);
        let (ins, _) = inputs(&mut r);
        let mut vals = Vec::new();
        for e in &exprs {
            let v = eval_kernel(e, &ins, &vals);
            vals.push(v);
        }
        let out = kscope_bpf::attach::test_run::run_once(&prog, &ins[..INPUTS])
            .unwrap_or_else(|e| panic!("{e}"));
        let want = fold_ref(&vals);
        assert_eq!(
            out.retval,
            (want ^ (want >> 32)) as u32,
            "seed {seed}\n{}",
            c.disassemble()
        );
    }
    assert!(spilled > 40, "only {spilled} spills");
    leaks.assert_clean();
}

/// `@c[pid] = @c[pid] + 1; @t[pid + 1] = 1; delete(@t, pid + 1)` through plain lookups,
/// updates and deletes: exactly 1000 and no leftover key.
#[test]
fn generated_plain_map_read_update_delete() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "1000"]);
        let map =
            Map::create(&MapSpec::new(MapType::Hash, 8, 8, 16).with_name("cg_plain")).unwrap();
        let mut b = Builder::new();
        let p = filter_pid(&mut b, child.pid());
        let key = key_of(&mut b, p);
        let x = lower::read_u64_or_zero(&mut b, MapId(0), key, 0);
        b.alu(AluOp::Add, x, 1);
        let val = key_of(&mut b, x);
        lower::update(&mut b, MapId(0), key, val, 0);
        let p1 = b.binop(AluOp::Add, p, 1);
        let key1 = key_of(&mut b, p1);
        let one = b.imm(1);
        let v1 = key_of(&mut b, one);
        lower::update(&mut b, MapId(0), key1, v1, 0);
        lower::delete(&mut b, MapId(0), key1);
        b.exit(0);
        let c = build(b, &[&map]);
        let prog = load(&c, "cg_plain");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        child.run_batch();
        let pid = child.pid() as u64;
        child.finish();
        drop(link);
        assert_eq!(map.keys().unwrap(), vec![pid.to_ne_bytes().to_vec()]);
        assert_eq!(
            map.lookup(&pid.to_ne_bytes()).unwrap(),
            Some(1000u64.to_ne_bytes().to_vec())
        );
    }
    leaks.assert_clean();
}

/// BPF-to-BPF calls: the entry keeps twelve values live across a call to a subprogram
/// that itself spills, calls a helper and calls a second subprogram; the arguments are
/// passed rotated. Verified and test-run in the kernel; the result is exact.
#[test]
fn generated_subprograms_compute_exactly() {
    use kscope_codegen::{FuncId, Options, compile_program};
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    // sub2(a, b) = a * 3 - b
    let mut s2 = Builder::subprogram(2);
    let (a, bb) = (s2.params()[0], s2.params()[1]);
    let r = s2.binop(AluOp::Mul, a, 3);
    s2.alu(AluOp::Sub, r, bb);
    s2.exit(r);
    // sub1(p0..p4) = sum of 10 mixed values, one through sub2, across a helper call
    let mut s1 = Builder::subprogram(5);
    let p: Vec<VReg> = s1.params().to_vec();
    let mut vals = Vec::new();
    for i in 0..10 {
        let v = s1.binop(AluOp::Mul, p[i % 5], i as i32 + 1);
        s1.alu(AluOp::Xor, v, p[(i + 2) % 5]);
        vals.push(v);
    }
    s1.call_void(kscope_codegen::helper::KTIME_GET_NS, &[]);
    let t = s1.call_sub(FuncId(2), &[p[4], p[0]]);
    let acc = s1.copy(t);
    for v in &vals {
        s1.alu(AluOp::Add, acc, *v);
    }
    s1.exit(acc);
    // entry: 12 values from the 5 arguments, live across the call
    let mut m = Builder::new();
    let ctx = m.ctx();
    let args: Vec<VReg> = (0..5)
        .map(|i| m.load(Size::DW, Base::Reg(ctx), i * 8))
        .collect();
    let keep: Vec<VReg> = (0..12)
        .map(|i| m.binop(AluOp::Add, args[i % 5], i as i32 * 1000))
        .collect();
    let rotated: Vec<VReg> = (0..5).map(|k| args[(k + 2) % 5]).collect();
    let r = m.call_sub(FuncId(1), &rotated);
    for v in &keep {
        m.alu(AluOp::Add, r, *v);
    }
    let hi = m.binop(AluOp::Rsh, r, 32);
    m.alu(AluOp::Xor, r, hi);
    m.exit(r);
    let c = compile_program(
        &[m.finish(), s1.finish(), s2.finish()],
        &|_| None,
        &Options::default(),
    )
    .unwrap();
    assert!(c.spilled > 0);
    let prog = c
        .load(ProgType::RawTracepoint, "cg_subprog")
        .unwrap_or_else(|e| panic!("{e}\n{}", c.disassemble()));
    leaks.track(&prog);
    let ins: [u64; 5] = [3, 1 << 40, 77, u64::MAX - 5, 123_456_789];
    let out = kscope_bpf::attach::test_run::run_once(&prog, &ins).unwrap();
    let sub2 = |a: u64, b: u64| a.wrapping_mul(3).wrapping_sub(b);
    let sub1 = |p: [u64; 5]| {
        let mut acc = sub2(p[4], p[0]);
        for i in 0..10 {
            acc = acc.wrapping_add(p[i % 5].wrapping_mul(i as u64 + 1) ^ p[(i + 2) % 5]);
        }
        acc
    };
    let rot: [u64; 5] = std::array::from_fn(|k| ins[(k + 2) % 5]);
    let mut want = sub1(rot);
    for i in 0..12 {
        want = want.wrapping_add(ins[i % 5].wrapping_add(i as u64 * 1000));
    }
    assert_eq!(
        out.retval,
        (want ^ (want >> 32)) as u32,
        "\n{}",
        c.disassemble()
    );
    drop(prog);
    leaks.assert_clean();
}

/// `bpf_probe_read_kernel_str` into scratch: `comm` read from the stack (kernel memory)
/// comes back with its length.
#[test]
fn generated_kernel_string_reads_into_scratch() {
    let Some(_kernel) = require_all(&[Feature::BpfTracepoint, Feature::Ringbuf]) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    {
        let mut child = Workload::start(workload(), &["getppid", "10"]);
        let ring = Map::create(&MapSpec::ringbuf(1 << 16).with_name("cg_ring_kstr")).unwrap();
        let loss = Map::create(&MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("cg_loss4"))
            .unwrap();
        let scratch =
            Map::create(&MapSpec::new(MapType::PercpuArray, 4, 64, 1).with_name("cg_scratch2"))
                .unwrap();
        let mut b = Builder::new();
        filter_pid(&mut b, child.pid());
        let out = b.label();
        let comm = b.slot(16);
        let cp = b.slot_addr(comm, 0);
        lower::comm_into(&mut b, cp);
        let (buf, len) = lower::read_str(&mut b, MapId(2), cp, 64, false, out);
        lower::ringbuf_output(
            &mut b,
            MapId(0),
            MapId(1),
            4,
            &[
                Field::Value(len, Width::W32),
                Field::Bytes { ptr: buf, len: 16 },
            ],
        );
        b.place(out);
        b.exit(0);
        let c = build(b, &[&ring, &loss, &scratch]);
        let prog = load(&c, "cg_kstr");
        leaks.track(&prog);
        let link = tracepoint::attach(&prog, "syscalls", "sys_enter_getppid")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rb = RingBuf::new(&ring).unwrap();
        child.run_batch();
        child.finish();
        drop(link);
        let mut got = Vec::new();
        rb.consume(|r| got.push(r.to_vec()));
        assert_eq!(got.len(), 10);
        for r in got {
            assert_eq!(u64::from_ne_bytes(r[0..8].try_into().unwrap()), 4);
            assert_eq!(
                u32::from_ne_bytes(r[8..12].try_into().unwrap()),
                15,
                "length with NUL"
            );
            assert_eq!(&r[12..28], b"kscope-cg-work\0\0");
        }
    }
    leaks.assert_clean();
}

/// `bpf_for_each_map_elem` with a generated callback (a static subprogram passed by
/// address, the program carrying its own BTF `func_info`): the callback adds every value
/// into the caller's stack through the context pointer; the helper returns the number of
/// elements it visited. A second callback returns 1 at once: one element visited.
#[test]
fn generated_map_callbacks_visit_every_element() {
    use kscope_codegen::{FuncId, Options, compile_program};
    let Some(_kernel) = require(Feature::BpfRawTracepoint) else {
        return;
    };
    let mut leaks = LeakCheck::start();
    let map = Map::create(&MapSpec::new(MapType::Hash, 8, 8, 16).with_name("cg_each")).unwrap();
    for (k, v) in [(1u64, 10u64), (2, 200), (3, 3000)] {
        map.update(
            &k.to_ne_bytes(),
            &v.to_ne_bytes(),
            kscope_bpf::UpdateFlags::Any,
        )
        .unwrap();
    }
    // callback(map, key, value, ctx): *ctx += *value + *key; return 0
    let mut cb = Builder::subprogram(4);
    let p = cb.params().to_vec();
    let v = cb.load(Size::DW, Base::Reg(p[2]), 0);
    let k = cb.load(Size::DW, Base::Reg(p[1]), 0);
    let acc = cb.load(Size::DW, Base::Reg(p[3]), 0);
    cb.alu(AluOp::Add, acc, v);
    cb.alu(AluOp::Add, acc, k);
    cb.store(Size::DW, Base::Reg(p[3]), 0, acc);
    cb.exit(0);
    let mut stop = Builder::subprogram(4);
    stop.exit(1);
    let mut m = Builder::new();
    let s = m.slot(8);
    m.store(Size::DW, Base::Slot(s), 0, 0);
    let each = |m: &mut Builder, f: u32| {
        let mp = m.map_ptr(MapId(0));
        let fp = m.func_ptr(FuncId(f));
        let cp = m.slot_addr(s, 0);
        let flags = m.imm(0);
        m.call(164, &[mp, fp, cp, flags])
    };
    let n = each(&mut m, 1);
    let n1 = each(&mut m, 2);
    let sum = m.load(Size::DW, Base::Slot(s), 0);
    // retval = sum * 16 + n * 4 + n1  (3216 * 16 + 3 * 4 + 1)
    m.alu(AluOp::Mul, sum, 16);
    m.alu(AluOp::Mul, n, 4);
    m.alu(AluOp::Add, sum, n);
    m.alu(AluOp::Add, sum, n1);
    m.exit(sum);
    let fd = map.fd().as_raw_fd();
    let c = compile_program(
        &[m.finish(), cb.finish(), stop.finish()],
        &|_| Some(fd),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(c.func_starts.len(), 3);
    assert!(
        c.disassemble().contains("= func pc+"),
        "{}",
        c.disassemble()
    );
    let prog = c
        .load(ProgType::RawTracepoint, "cg_each")
        .unwrap_or_else(|e| panic!("{e}\n{}", c.disassemble()));
    leaks.track(&prog);
    let out = kscope_bpf::attach::test_run::run_once(&prog, &[]).unwrap();
    assert_eq!(out.retval, 3216 * 16 + 3 * 4 + 1, "\n{}", c.disassemble());
    drop(prog);
    leaks.assert_clean();
}
