//! kscope-btf against the running kernel's BTF, checked with independent sources: the C
//! compiler's `offsetof`/`sizeof`/`_Alignof` over bpftool's `vmlinux.h`, and bpftool's raw
//! dump of every type.

use kscope_btf::{Btf, Kind};
use kscope_testkit::{Feature, require};
use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

/// Runs bpftool (a development tool: `apt-get install bpftool`) on the kernel's BTF.
fn bpftool_dump(format: &str) -> String {
    let out = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            kscope_btf::SYS_VMLINUX,
            "format",
            format,
        ])
        .output()
        .expect("running bpftool failed; install it (apt-get install bpftool)");
    assert!(out.status.success(), "bpftool failed: {out:?}");
    String::from_utf8(out.stdout).expect("bpftool output is UTF-8")
}

/// The bit offset of a member path such as `se.vruntime` (a path through named members).
fn path_offset(btf: &Btf, ty: u32, path: &str) -> (u64, u32) {
    let (mut off, mut ty) = (0, ty);
    for part in path.split('.') {
        let m = btf
            .find_member(ty, part)
            .unwrap()
            .unwrap_or_else(|| panic!("no member {part} of {path}"));
        off += m.bit_offset;
        ty = m.type_id;
    }
    (off, ty)
}

const STRUCTS: &[(&str, &[&str])] = &[
    (
        "task_struct",
        &[
            "pid",
            "tgid",
            "comm",
            "real_parent",
            "se.vruntime",
            "se.sum_exec_runtime",
            "mm",
            "cred",
            "flags",
            "on_cpu",
            "__state",
        ],
    ),
    (
        "sk_buff",
        &[
            "next", "prev", "dev", "tstamp", "rbnode", "sk", "cb", "len", "data_len", "protocol",
            "mark", "hash", "head", "data",
        ],
    ),
    (
        "sock",
        &[
            "__sk_common.skc_dport",
            "__sk_common.skc_state",
            "__sk_common.skc_daddr",
            "sk_rcvbuf",
        ],
    ),
    ("file", &["f_mode", "f_pos", "f_inode"]),
    // Not `struct inode` nor `struct bio`: they hold a 1-byte `enum rw_hint` (`__packed` in
    // the kernel, size 1 in BTF) that bpftool 7.1 writes to vmlinux.h without the
    // attribute, so the compiler lays them out 8 bytes bigger than the kernel did.
    ("cred", &["uid", "euid", "cap_effective", "user_ns"]),
    ("mm_struct", &["pgd", "map_count", "start_stack"]),
    ("sched_entity", &["vruntime", "load"]),
];

/// More structs whose every member is compared. (Not `struct bio` nor `struct inode`:
/// see `STRUCTS`.)
const MORE_STRUCTS: &[(&str, &[&str])] = &[
    ("net_device", &[]),
    ("page", &[]),
    ("dentry", &[]),
    ("vm_area_struct", &[]),
    ("signal_struct", &[]),
    ("perf_event", &[]),
    ("bpf_prog", &[]),
];

#[test]
fn layouts_match_the_c_compiler() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let btf = Btf::open_sys_vmlinux().unwrap();
    // The paths above, plus every member name reachable from each struct (through its
    // anonymous structs and unions), except bitfields, which have no `offsetof`.
    let mut paths: Vec<(&str, u32, Vec<String>)> = Vec::new();
    for (s, members) in STRUCTS.iter().chain(MORE_STRUCTS) {
        let id = btf.find_by_name(Kind::Struct, s).unwrap();
        let mut all: Vec<String> = members.iter().map(|m| m.to_string()).collect();
        for name in btf.member_names(id).unwrap() {
            let m = btf.find_member(id, name).unwrap().unwrap();
            if !m.is_bitfield() && !all.iter().any(|a| a == name) {
                all.push(name.to_string());
            }
        }
        paths.push((s, id, all));
    }
    let dir = std::env::temp_dir().join(format!("kscope-btf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux.h"), bpftool_dump("c")).unwrap();
    let mut c = String::from("#include \"vmlinux.h\"\nint main(void) {\n");
    for (s, _, members) in &paths {
        c.push_str(&format!(
            "  __builtin_printf(\"{s} %lu %lu\\n\", (unsigned long)sizeof(struct {s}), \
             (unsigned long)_Alignof(struct {s}));\n"
        ));
        for m in members {
            c.push_str(&format!(
                "  __builtin_printf(\"{s}.{m} %lu\\n\", \
                 (unsigned long)__builtin_offsetof(struct {s}, {m}));\n"
            ));
        }
    }
    c.push_str("  return 0;\n}\n");
    std::fs::write(dir.join("t.c"), c).unwrap();
    let exe = dir.join("t");
    let status = Command::new("cc")
        .args(["-w", "-o"])
        .arg(&exe)
        .arg(dir.join("t.c"))
        .status()
        .expect("running cc failed; install gcc");
    assert!(status.success());
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let expected: HashMap<&str, Vec<u64>> = text
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            let key = w.next().unwrap();
            (key, w.map(|n| n.parse().unwrap()).collect())
        })
        .collect();

    let mut checked = 0;
    for (s, id, members) in &paths {
        let mine = vec![btf.size_of(*id).unwrap(), btf.align_of(*id).unwrap()];
        assert_eq!(mine, expected[s], "size and alignment of struct {s}");
        for m in members {
            let (bits, _) = path_offset(&btf, *id, m);
            assert_eq!(bits % 8, 0);
            assert_eq!(
                bits / 8,
                expected[format!("{s}.{m}").as_str()][0],
                "{s}.{m}"
            );
            checked += 1;
        }
    }
    println!("{checked} member offsets equal to the C compiler's");
    let task = btf.curtask().unwrap();
    assert_eq!(btf.type_name(task).unwrap(), "struct task_struct");
    let ty = |p: &str| btf.type_name(path_offset(&btf, task, p).1).unwrap();
    assert_eq!(ty("comm"), "char[16]");
    assert_eq!(ty("real_parent"), "struct task_struct *");
    assert_eq!(ty("pid"), "pid_t");
    assert_eq!(ty("se.vruntime"), "u64");
}

/// One type of bpftool's raw dump: its head line's fields and its member lines' fields.
#[derive(Debug, Default)]
struct RawEntry {
    kind: String,
    name: String,
    fields: HashMap<String, String>,
    items: Vec<(String, HashMap<String, String>)>,
}

fn fields(s: &str) -> HashMap<String, String> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses `[id] KIND 'name' k=v ...` lines and their tab-indented `'name' k=v` items.
fn parse_raw(text: &str) -> Vec<RawEntry> {
    let mut out: Vec<RawEntry> = Vec::new();
    for line in text.lines() {
        if let Some(item) = line.strip_prefix('\t') {
            let (name, rest) = item[1..].split_once('\'').unwrap();
            out.last_mut()
                .unwrap()
                .items
                .push((name.to_string(), fields(rest)));
        } else {
            let (id, rest) = line[1..].split_once("] ").unwrap();
            assert_eq!(id.parse::<usize>().unwrap(), out.len() + 1);
            let (kind, rest) = rest.split_once(" '").unwrap();
            let (name, rest) = rest.split_once('\'').unwrap();
            out.push(RawEntry {
                kind: kind.to_string(),
                name: if name == "(anon)" { "" } else { name }.to_string(),
                fields: fields(rest),
                items: Vec::new(),
            });
        }
    }
    out
}

fn num(f: &HashMap<String, String>, k: &str) -> i128 {
    let v = &f[k];
    v.trim_end_matches("ULL")
        .trim_end_matches("LL")
        .parse()
        .unwrap_or_else(|_| panic!("{k}={v}"))
}

#[test]
fn every_type_matches_bpftool() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let raw = parse_raw(&bpftool_dump("raw"));
    let btf = Btf::open_sys_vmlinux().unwrap();
    assert_eq!(raw.len(), btf.type_count() as usize);
    let (mut members, mut bitfields, mut enumerators, mut params) = (0, 0, 0, 0);
    for (i, e) in raw.iter().enumerate() {
        let id = i as u32 + 1;
        assert_eq!(btf.kind(id).unwrap().name(), e.kind, "kind of {id}");
        assert_eq!(btf.name(id).unwrap(), e.name, "name of {id}");
        match e.kind.as_str() {
            "STRUCT" | "UNION" => {
                assert_eq!(btf.size_of(id).unwrap() as i128, num(&e.fields, "size"));
                // Within the walk budget, and a divisor of the size.
                let align = btf.align_of(id).unwrap();
                assert_eq!(btf.size_of(id).unwrap() % align, 0, "alignment of {id}");
                btf.member_names(id).unwrap();
                let mine = btf.members(id).unwrap();
                assert_eq!(mine.len(), e.items.len(), "members of {id}");
                for (m, (name, f)) in mine.iter().zip(&e.items) {
                    let name = if name == "(anon)" { "" } else { name };
                    assert_eq!(m.name, name, "member of {id}");
                    assert_eq!(m.type_id as i128, num(f, "type_id"), "{id}.{name}");
                    assert_eq!(m.bit_offset as i128, num(f, "bits_offset"), "{id}.{name}");
                    let size = f
                        .get("bitfield_size")
                        .map_or(0, |_| num(f, "bitfield_size"));
                    assert_eq!(m.bitfield_size as i128, size, "{id}.{name}");
                    members += 1;
                    bitfields += usize::from(size != 0);
                }
            }
            "ENUM" | "ENUM64" => {
                let mine = btf.enumerators(id).unwrap();
                assert_eq!(mine.len(), e.items.len());
                for (m, (name, f)) in mine.iter().zip(&e.items) {
                    assert_eq!(m.name, name);
                    assert_eq!(m.value, num(f, "val"), "{id} {name}");
                    enumerators += 1;
                }
            }
            "FUNC_PROTO" => {
                let p = btf.func_proto(id).unwrap();
                assert_eq!(p.ret as i128, num(&e.fields, "ret_type_id"));
                assert_eq!(p.params.len() + usize::from(p.variadic), e.items.len());
                for (m, (name, f)) in p.params.iter().zip(&e.items) {
                    let name = if name == "(anon)" { "" } else { name };
                    assert_eq!((m.name, m.type_id as i128), (name, num(f, "type_id")));
                    params += 1;
                }
            }
            "ARRAY" => {
                let a = btf.array(id).unwrap();
                assert_eq!(a.elem as i128, num(&e.fields, "type_id"));
                assert_eq!(a.index as i128, num(&e.fields, "index_type_id"));
                assert_eq!(a.count as i128, num(&e.fields, "nr_elems"));
            }
            _ => {}
        }
    }
    println!(
        "{} types; {members} members ({bitfields} bitfields), {enumerators} enumerators, \
         {params} parameters equal to bpftool's",
        raw.len()
    );
    assert!(bitfields > 1000 && members > 50_000 && enumerators > 10_000 && params > 50_000);
    // A bitfield in task_struct, explicitly.
    let task = btf.find_by_name(Kind::Struct, "task_struct").unwrap();
    let m = btf
        .find_member(task, "sched_reset_on_fork")
        .unwrap()
        .unwrap();
    let (_, f) = raw[task as usize - 1]
        .items
        .iter()
        .find(|(n, _)| n == "sched_reset_on_fork")
        .unwrap();
    assert_eq!(m.bit_offset as i128, num(f, "bits_offset"));
    assert_eq!(
        (
            m.bitfield_size,
            btf.member_declaration(&m).unwrap().as_str()
        ),
        (1, "unsigned int sched_reset_on_fork:1")
    );
}

#[test]
fn raw_tracepoint_sched_switch_args() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let btf = Btf::open_sys_vmlinux().unwrap();
    let args = btf.raw_tracepoint_args("sched_switch").unwrap().unwrap();
    let got: Vec<(&str, String)> = args
        .iter()
        .map(|p| (p.name, btf.type_name(p.type_id).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("preempt", "bool".to_string()),
            ("prev", "struct task_struct *".into()),
            ("next", "struct task_struct *".into()),
            ("prev_state", "unsigned int".into()),
        ]
    );
    assert_eq!(btf.raw_tracepoint_args("no_such_tp_kscope").unwrap(), None);
    let names = btf.raw_tracepoint_names();
    assert!(names.contains(&"sched_switch") && names.contains(&"sys_enter"));
    // Every raw tracepoint's arguments resolve, and every one has names.
    let mut unnamed = 0;
    for tp in &names {
        let args = btf.raw_tracepoint_args(tp).unwrap().unwrap();
        unnamed += args.iter().filter(|p| p.name.is_empty()).count();
        for a in &args {
            btf.type_name(a.type_id).unwrap();
        }
    }
    println!(
        "{} raw tracepoints, {unnamed} unnamed arguments",
        names.len()
    );
    // Every event has a `__probestub_` function from Linux 6.4; before, only event
    // classes have named prototypes (`__bpf_trace_CLASS`).
    if btf
        .find_by_name(Kind::Func, "__probestub_sched_switch")
        .is_some()
    {
        assert_eq!(unnamed, 0);
    }
}

#[test]
fn load_and_lookup_timing() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let btf = Btf::open_sys_vmlinux().unwrap();
    let loaded = t0.elapsed();
    let task = btf.find_by_name(Kind::Struct, "task_struct").unwrap();
    let first = t0.elapsed();
    let t = Instant::now();
    let sk = btf.find_by_name(Kind::Struct, "sk_buff").unwrap();
    let second = t.elapsed();
    let t = Instant::now();
    let (_, v) = btf.enum_value("TASK_COMM_LEN").unwrap();
    let enum_scan = t.elapsed();
    let t = Instant::now();
    let m = btf.find_member(sk, "tstamp").unwrap().unwrap();
    let args = btf.raw_tracepoint_args("sched_switch").unwrap().unwrap();
    let rest = t.elapsed();
    // Enough lookups to build the indexes, then indexed ones.
    let t = Instant::now();
    for _ in 0..kscope_btf::SCANS_BEFORE_INDEX {
        assert_eq!(btf.find_by_name(Kind::Struct, "task_struct"), Some(task));
        assert_eq!(btf.enum_value("TASK_COMM_LEN").map(|e| e.1), Some(16));
    }
    let build = t.elapsed();
    let t = Instant::now();
    assert_eq!(btf.find_by_name(Kind::Struct, "sk_buff"), Some(sk));
    assert_eq!(btf.enum_value("TASK_COMM_LEN").map(|e| e.1), Some(16));
    let indexed = t.elapsed();
    let t = Instant::now();
    let read = Btf::from_sys_vmlinux().unwrap();
    let read_parse = t.elapsed();
    // Linux 6.16 added mappings of /sys/kernel/btf/vmlinux; older kernels are read.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert_eq!(btf.is_mapped(), version >= (6, 16), "kernel {release}");
    assert!(!read.is_mapped());
    assert_eq!(read.type_count(), btf.type_count());
    assert_eq!((v, args.len()), (16, 4));
    assert!(task > 0 && m.bit_offset > 0);
    println!(
        "mmap+parse {:.2} ms; +first find_by_name {:.2} ms total; second find_by_name \
         {:.3} ms; first enum_value {:.3} ms; find_member+raw tracepoint args {:.3} ms; \
         {} more of each (then building the name and enumerator indexes) {:.2} ms; indexed \
         find_by_name+enum_value {:.3} ms; read()+parse without mmap {:.2} ms",
        ms(loaded),
        ms(first),
        ms(second),
        ms(enum_scan),
        ms(rest),
        kscope_btf::SCANS_BEFORE_INDEX,
        ms(build),
        ms(indexed),
        ms(read_parse),
    );
}

/// The member lines (`\tTYPE NAME;`, one level deep) of every top-level `struct X {` and
/// `union X {` block of a C header, by `struct X`.
fn header_members(h: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in h.lines() {
        if let Some(name) = line.strip_suffix(" {")
            && (name.starts_with("struct ") || name.starts_with("union "))
        {
            current = Some(name.to_string());
            continue;
        }
        if line == "};" {
            current = None;
            continue;
        }
        if let Some(c) = &current
            && let Some(m) = line.strip_prefix('\t')
            && !m.starts_with(['\t', '}'])
        {
            // Spacing only: bpftool writes `unsigned int x: 1`, `char * (*f)(void)` and
            // `int * const p`; kscope `unsigned int x:1`, `char *(*f)(void)`, `int *const p`.
            // And bpftool renames the second of two types named X `X___2`; BTF does not.
            let m = strip_renames(
                &m.replace(": ", ":")
                    .replace("* (", "*(")
                    .replace("* const", "*const")
                    .replace("* restrict", "*restrict"),
            );
            out.entry(c.clone()).or_default().push(m);
        }
    }
    out
}

/// `s` without bpftool's `___N` suffixes of duplicate names.
fn strip_renames(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("___") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            out.push_str("___");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn member_declarations_match_bpftool_c() {
    let Some(_kernel) = require(Feature::Btf) else {
        return;
    };
    let header = header_members(&bpftool_dump("c"));
    let btf = Btf::open_sys_vmlinux().unwrap();
    let (mut checked, mut failed) = (0, Vec::new());
    for id in 1..=btf.type_count() {
        let kind = btf.kind(id).unwrap();
        let tag = match kind {
            Kind::Struct => "struct",
            Kind::Union => "union",
            _ => continue,
        };
        let name = btf.name(id).unwrap();
        // Only the first of duplicate names keeps its name in bpftool's header.
        if name.is_empty() || btf.find_by_name(kind, name) != Some(id) {
            continue;
        }
        let Some(lines) = header.get(&format!("{tag} {name}")) else {
            continue;
        };
        for m in btf.members(id).unwrap() {
            let decl = btf.member_declaration(&m).unwrap();
            // Anonymous members and members of anonymous types span several lines there.
            if m.name.is_empty() || decl.contains("{...}") {
                continue;
            }
            if lines.contains(&format!("{decl};")) {
                checked += 1;
            } else {
                failed.push(format!("{tag} {name}: {decl}"));
            }
        }
    }
    println!("{checked} member declarations equal to bpftool's vmlinux.h");
    // Linux 6.18 has 57,135 such members, 6.1 about 45,000: all of them must agree.
    assert!(checked > 20_000, "only {checked} members compared");
    let shown = failed[..failed.len().min(40)].join("\n");
    assert!(failed.is_empty(), "{} differ:\n{shown}", failed.len());
}
