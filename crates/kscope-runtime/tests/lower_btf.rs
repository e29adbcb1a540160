//! Lowering of BTF-typed struct access, checked against kscope-btf's layout of this
//! machine's vmlinux BTF: the address each `bpf_probe_read_kernel` reads from is the
//! sum of the member offsets and array strides that kscope-btf computes (through nested
//! structs by value, anonymous members and arrays of structs), and bitfields are shifted
//! by their bit positions. Skips when the kernel has no BTF.

use std::sync::Arc;

use kscope_btf::{Btf, Kind};
use kscope_lang::btf_types::BtfTypes;
use kscope_lang::sema::Options;
use kscope_lang::{SourceFile, compile};
use kscope_runtime::lower::{Lowerer, ProbeContext};
use kscope_runtime::plan::Plan;

fn types() -> Option<Arc<BtfTypes>> {
    match BtfTypes::discover() {
        Some(t) => Some(Arc::new(t)),
        None => {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            None
        }
    }
}

/// The disassembly of `BEGIN { @ = EXPR; }`.
fn disassemble(types: &Arc<BtfTypes>, expr: &str) -> String {
    let src = format!("BEGIN {{ @ = {expr}; }}");
    let file = SourceFile::new("-e", &src);
    let checked = compile(&file, &Options::default(), types.as_ref()).expect("valid script");
    let mut plan = Plan::new(&checked).expect("layout");
    let probe = &checked.program.probes[0];
    let ap = probe.attach_points[0].clone();
    let ctx = ProbeContext {
        args: ProbeContext::arg_source(ap.provider),
        attach: ap,
        fields: Vec::new(),
        user_pointers: false,
        params: Vec::new(),
        ncpus: 1,
        cpid: None,
        pid: None,
        start_ns: 0,
        tai_offset_ns: 0,
        btf: Some(types.clone()),
        usdt: None,
        uprobe_args: None,
    };
    let f = Lowerer::lower(&checked, &mut plan, &ctx, 0, probe).expect("lowers");
    kscope_codegen::compile(&f, &|m| Some(m.0 as i32 + 3))
        .expect("compiles")
        .disassemble()
}

/// The positive constants added to registers (frame pointer copies add negative ones),
/// in order: the member offsets and strides of the chain (some neighbouring constant
/// additions are folded into one).
fn offsets(dis: &str) -> Vec<i64> {
    dis.lines()
        .filter_map(|l| l.split_once(" += ").map(|(_, n)| n.trim()))
        .filter_map(|n| n.parse::<i64>().ok())
        .filter(|&n| n > 0)
        .collect()
}

/// The byte offset of `path` (members separated by `.`) from the start of struct `s`.
fn member_offset(btf: &Btf, s: &str, path: &str) -> (u64, u32) {
    let mut id = btf.find_by_name(Kind::Struct, s).expect("struct");
    let mut off = 0;
    for name in path.split('.') {
        let m = btf.find_member(id, name).unwrap().expect("member");
        off += m.bit_offset / 8;
        id = m.type_id;
    }
    (off, id)
}

#[test]
fn nested_members_by_value_add_up_to_kscope_btf_offsets() {
    let Some(t) = types() else { return };
    let btf = t.btf();
    let (off, _) = member_offset(btf, "task_struct", "se.load.weight");
    let dis = disassemble(&t, "curtask->se.load.weight");
    assert_eq!(offsets(&dis), vec![off as i64], "{dis}");
    assert!(dis.contains("call bpf_get_current_task#35"), "{dis}");
    // An 8-byte read (weight is unsigned long).
    assert!(dis.contains("r2 = 8\n"), "{dis}");
}

#[test]
fn pointers_and_arrays_of_structs_use_each_step_offset_and_stride() {
    let Some(t) = types() else { return };
    let btf = t.btf();
    let (signal, _) = member_offset(btf, "task_struct", "signal");
    let (rlim, rlim_ty) = member_offset(btf, "signal_struct", "rlim");
    let elem = btf.array(btf.resolve(rlim_ty).unwrap()).unwrap().elem;
    let stride = btf.size_of(elem).unwrap();
    let (cur, _) = member_offset(btf, "rlimit", "rlim_cur");
    let dis = disassemble(&t, "curtask->signal->rlim[7].rlim_cur");
    assert_eq!(
        offsets(&dis).iter().sum::<i64>(),
        (signal + rlim + 7 * stride + cur) as i64,
        "{dis}"
    );
    assert_eq!(offsets(&dis)[0], signal as i64, "{dis}");
    assert_eq!(dis.matches("call bpf_probe_read_kernel#113").count(), 2);
}

#[test]
fn anonymous_members_are_looked_through() {
    let Some(t) = types() else { return };
    let btf = t.btf();
    // qstr { union { struct { u32 hash; u32 len; }; u64 hash_len; }; const unsigned char *name; }
    let (d_name, _) = member_offset(btf, "dentry", "d_name");
    let (len, _) = member_offset(btf, "qstr", "len");
    assert!(len > 0, "len follows hash inside an anonymous struct");
    let dis = disassemble(&t, "((struct dentry *)0)->d_name.len");
    assert_eq!(
        offsets(&dis).iter().sum::<i64>(),
        (d_name + len) as i64,
        "{dis}"
    );
    assert!(dis.contains("r2 = 4\n"), "a 4-byte read: {dis}");
}

#[test]
fn bitfields_shift_by_their_bit_position() {
    let Some(t) = types() else { return };
    let btf = t.btf();
    let task = btf.find_by_name(Kind::Struct, "task_struct").unwrap();
    let m = btf
        .find_member(task, "sched_reset_on_fork")
        .unwrap()
        .unwrap();
    assert_eq!(m.bitfield_size, 1);
    let dis = disassemble(&t, "curtask->sched_reset_on_fork");
    assert_eq!(offsets(&dis)[0], (m.bit_offset / 8) as i64, "{dis}");
    let bit = m.bit_offset % 8;
    // Shifted up so the field is the top bit, then down logically (unsigned).
    let up = 64 - bit - 1;
    if up > 0 {
        assert!(dis.contains(&format!("<<= {up}\n")), "{dis}");
    }
    assert!(dis.contains(">>= 63\n"), "{dis}");
}

#[test]
fn char_arrays_read_as_strings_and_pointers_cast() {
    let Some(t) = types() else { return };
    let btf = t.btf();
    let (comm, _) = member_offset(btf, "task_struct", "comm");
    let dis = disassemble(&t, "((struct task_struct *)curtask)->comm");
    assert_eq!(offsets(&dis), vec![comm as i64], "{dis}");
    // comm is char[16]: at most 16 bytes and the NUL.
    assert!(dis.contains("call bpf_probe_read_kernel_str#115"), "{dis}");
    assert!(dis.contains("r2 = 17\n"), "{dis}");
}
