//! The per-event hot paths `kscope run` generates, pinned: aggregations without keys
//! update a per-CPU array in place (no helper call but the inlined array lookup), keyed
//! ones look up and change in place (the update helper only on a miss), and a string
//! compared with a literal is compared byte by byte against immediates.

use kscope_bpf::MapType;
use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::{SourceFile, compile};
use kscope_runtime::lower::{Lowerer, ProbeContext};
use kscope_runtime::plan::Plan;

/// The plan and the disassembly of the first probe.
fn lower(src: &str) -> (Plan, String) {
    let file = SourceFile::new("-e", src);
    let checked = compile(&file, &Options::default(), &NoKernelTypes).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let ap = checked.program.probes[0].attach_points[0].clone();
    let ctx = ProbeContext::without_kernel(ap);
    let f = Lowerer::lower(&checked, &mut plan, &ctx, 0, &checked.program.probes[0])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let c = kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3)).expect("compiles");
    (plan, c.disassemble())
}

fn calls(disasm: &str) -> Vec<String> {
    disasm
        .lines()
        .filter_map(|l| l.split_once(" call ").map(|(_, c)| c.to_string()))
        .collect()
}

#[test]
fn keyless_count_is_an_in_place_add_in_a_per_cpu_array() {
    let (plan, d) = lower("tracepoint:raw_syscalls:sys_enter { @ = count(); }");
    let spec = plan.maps[0].spec();
    assert_eq!(spec.map_type, MapType::PercpuArray);
    assert_eq!(
        (spec.key_size, spec.value_size, spec.max_entries),
        (4, 16, 1)
    );
    assert_eq!(
        d,
        "\
0: (18) r0 = map_value[fd:6]+0
2: (61) r0 = *(u32 *)(r0 +0)
3: (55) if r0 != 0x0 goto pc+11
4: (62) *(u32 *)(r10 -8) = 0
5: (bf) r2 = r10
6: (07) r2 += -8
7: (18) r1 = map[fd:3]
9: (85) call bpf_map_lookup_elem#1
10: (15) if r0 == 0x0 goto pc+4
11: (79) r1 = *(u64 *)(r0 +0)
12: (07) r1 += 1
13: (7b) *(u64 *)(r0 +0) = r1
14: (7a) *(u64 *)(r0 +8) = 1
15: (b7) r0 = 0
16: (95) exit
"
    );
}

#[test]
fn keyless_aggregations_call_nothing_but_the_array_lookup() {
    for agg in [
        "sum(arg1)",
        "min(arg1)",
        "max(arg1)",
        "avg(arg1)",
        "stats(arg1)",
        "hist(arg1)",
        "lhist(arg1, 0, 1000, 10)",
    ] {
        let (plan, d) = lower(&format!("rawtracepoint:sys_enter {{ @ = {agg}; }}"));
        assert_eq!(plan.maps[0].spec().map_type, MapType::PercpuArray, "{agg}");
        assert_eq!(calls(&d), vec!["bpf_map_lookup_elem#1"], "{agg}:\n{d}");
        assert!(plan.zero.is_none(), "{agg}: no zero map without keys");
    }
}

#[test]
fn keyed_count_updates_in_place_and_inserts_only_on_a_miss() {
    let (plan, d) = lower("tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }");
    assert_eq!(plan.maps[0].spec().map_type, MapType::PercpuHash);
    assert_eq!(
        calls(&d),
        vec![
            "bpf_get_current_pid_tgid#14",
            "bpf_map_lookup_elem#1",
            "bpf_map_update_elem#2",
            "bpf_map_lookup_elem#1",
        ]
    );
    // On a hit: null check, add through the pointer, then straight to the exit.
    let lines: Vec<&str> = d.lines().collect();
    let hit = lines
        .iter()
        .position(|l| l.ends_with("call bpf_map_lookup_elem#1"))
        .unwrap();
    let tail: Vec<&str> = lines[hit + 1..hit + 6]
        .iter()
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    assert_eq!(
        tail,
        [
            "(15) if r0 == 0x0 goto pc+4",
            "(79) r1 = *(u64 *)(r0 +0)",
            "(07) r1 += 1",
            "(7b) *(u64 *)(r0 +0) = r1",
            "(05) goto pc+19",
        ]
    );
}

#[test]
fn comm_against_a_literal_reads_16_bytes_and_compares_bytes() {
    let (_, d) = lower("tracepoint:raw_syscalls:sys_enter /comm == \"ab\"/ { @ = count(); }");
    let head: Vec<&str> = d.lines().take(15).collect();
    assert_eq!(
        head,
        [
            // The run's stop flag first (`Plan::stop`).
            "0: (18) r0 = map_value[fd:6]+0",
            "2: (61) r0 = *(u32 *)(r0 +0)",
            "3: (55) if r0 != 0x0 goto pc+25",
            "4: (b7) r6 = 0",
            "5: (bf) r7 = r10",
            "6: (07) r7 += -16",
            "7: (b7) r2 = 16",
            "8: (bf) r1 = r7",
            "9: (85) call bpf_get_current_comm#16",
            "10: (71) r0 = *(u8 *)(r7 +0)",
            "11: (55) if r0 != 0x61 goto pc+5",
            "12: (71) r0 = *(u8 *)(r7 +1)",
            "13: (55) if r0 != 0x62 goto pc+3",
            "14: (71) r0 = *(u8 *)(r7 +2)",
            "15: (55) if r0 != 0x0 goto pc+1",
        ]
    );
    // A literal longer than any comm never matches: no helper call at all.
    let (_, d) =
        lower("tracepoint:raw_syscalls:sys_enter /comm == \"a-name-of-16-chr\"/ { @ = count(); }");
    assert_eq!(calls(&d), vec!["bpf_map_lookup_elem#1"]);
}
