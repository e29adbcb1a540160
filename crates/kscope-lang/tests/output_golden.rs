//! Golden tests of the output layer: exact text and NDJSON that upstream bpftrace
//! prints for known values. Each case names the upstream runtime test
//! (tests/runtime/*, tests/runtime/outputs/*) or rule it mirrors; the values are ours.

use kscope_lang::output::hist::{linear_buckets, linear_index, log2_buckets, log2_index};
use kscope_lang::output::*;

fn map(name: &str, key: KeyType, value: ValueKind, entries: Vec<(Primitive, Cell)>) -> MapData {
    MapData {
        info: MapInfo {
            name: name.into(),
            scalar: false,
            key,
            value,
        },
        entries,
    }
}

fn scalar(name: &str, value: ValueKind, cell: Option<Cell>) -> MapData {
    MapData {
        info: MapInfo {
            name: name.into(),
            scalar: true,
            key: KeyType::Other,
            value,
        },
        entries: cell.into_iter().map(|c| (Primitive::None, c)).collect(),
    }
}

fn s(v: &str) -> Primitive {
    Primitive::Str(v.into())
}

/// Buckets of `hist(v, bits)` for each value, as the BPF program fills them.
fn hist_cell(values: &[i64], bits: u32) -> Cell {
    let mut b = vec![0u64; log2_buckets(bits)];
    for &v in values {
        b[log2_index(v, bits)] += 1;
    }
    Cell::Buckets(b)
}

fn lhist_cell(values: &[i64], min: i64, max: i64, step: i64) -> Cell {
    let mut b = vec![0u64; linear_buckets(min, max, step)];
    for &v in values {
        b[linear_index(v, min, max, step)] += 1;
    }
    Cell::Buckets(b)
}

/// Renders `print(@m, top, div)` in one format.
fn print(m: &MapData, format: Format, top: usize, div: u64) -> String {
    let mut out = Vec::new();
    let mut err = Vec::new();
    Output::new(format, &mut out, &mut err)
        .print_map(m, top, div)
        .unwrap();
    assert!(err.is_empty());
    String::from_utf8(out).unwrap()
}

fn text(m: &MapData) -> String {
    print(m, Format::Text, 0, 1)
}

fn json(m: &MapData) -> String {
    print(m, Format::Json, 0, 1)
}

fn printf(fmt: &str, args: &[Primitive]) -> String {
    FormatString::parse(fmt).format(args)
}

// ---- maps: scalars, ordering, keys ----

#[test]
fn scalar_count() {
    let m = scalar("@c", ValueKind::Count, Some(combine_sum(&[400, 600, 0])));
    assert_eq!(text(&m), "@c: 1000\n");
    assert_eq!(json(&m), "{\"type\": \"map\", \"data\": {\"@c\": 1000}}\n");
}

#[test]
fn count_map_sorted_by_value_ascending() {
    let m = map(
        "@a",
        KeyType::Int(8),
        ValueKind::Count,
        vec![
            (Primitive::Int(1), Cell::Int(3)),
            (Primitive::Int(2), Cell::Int(1)),
            (Primitive::Int(3), Cell::Int(2)),
        ],
    );
    assert_eq!(text(&m), "@a[2]: 1\n@a[3]: 2\n@a[1]: 3\n");
}

#[test]
fn signed_sum_sorts_negative_first() {
    let m = map(
        "@s",
        KeyType::Str,
        ValueKind::Sum { signed: true },
        vec![(s("b"), Cell::Int(5)), (s("a"), Cell::Int((-7i64) as u64))],
    );
    assert_eq!(text(&m), "@s[a]: -7\n@s[b]: 5\n");
}

#[test]
fn string_values_sort_by_key_ints_signed() {
    // Keys of 4 bytes compare as signed: 0xffffffff (-1) comes first.
    let m = map(
        "@n",
        KeyType::Int(4),
        ValueKind::Other { zero: s("") },
        vec![
            (Primitive::Uint(3), Cell::Value(s("c"))),
            (Primitive::Uint(0xffff_ffff), Cell::Value(s("m"))),
            (Primitive::Uint(1), Cell::Value(s("a"))),
        ],
    );
    assert_eq!(text(&m), "@n[4294967295]: m\n@n[1]: a\n@n[3]: c\n");
}

#[test]
fn string_keys_are_unquoted_and_json_keys_lose_spaces() {
    // runtime/json-output `map`; `complex` (tuple key "bpftrace,2").
    let m = map(
        "@map",
        KeyType::Str,
        ValueKind::Int { signed: true },
        vec![(s("key1"), Cell::Int(2)), (s("key2"), Cell::Int(3))],
    );
    assert_eq!(text(&m), "@map[key1]: 2\n@map[key2]: 3\n");
    assert_eq!(
        json(&m),
        "{\"type\": \"map\", \"data\": {\"@map\": {\"key1\": 2, \"key2\": 3}}}\n"
    );
    let c = map(
        "@complex",
        KeyType::Tuple(vec![KeyType::Str, KeyType::Int(8)]),
        ValueKind::Int { signed: true },
        vec![(
            Primitive::Tuple(vec![s("a b"), Primitive::Int(2)]),
            Cell::Int(5),
        )],
    );
    assert_eq!(text(&c), "@complex[a b, 2]: 5\n");
    assert_eq!(
        json(&c),
        "{\"type\": \"map\", \"data\": {\"@complex\": {\"ab,2\": 5}}}\n"
    );
}

#[test]
fn tuple_keys_sort_field_by_field() {
    let t = |a: i64, b: &str| Primitive::Tuple(vec![Primitive::Int(a), s(b)]);
    let m = map(
        "@t",
        KeyType::Tuple(vec![KeyType::Int(8), KeyType::Str]),
        ValueKind::Other { zero: s("") },
        vec![
            (t(2, "a"), Cell::Value(s("x"))),
            (t(1, "b"), Cell::Value(s("y"))),
            (t(1, "a"), Cell::Value(s("z"))),
            (
                Primitive::Tuple(vec![Primitive::Int(0), Primitive::Tuple(vec![s("n")])]),
                Cell::Value(s("w")),
            ),
        ],
    );
    assert_eq!(
        text(&m),
        "@t[0, (n)]: w\n@t[1, a]: z\n@t[1, b]: y\n@t[2, a]: x\n"
    );
}

#[test]
fn tuple_and_record_values() {
    // runtime/json-output `tuple`, `record`.
    let tup = Primitive::Tuple(vec![
        Primitive::Int(1),
        Primitive::Int(2),
        s("string"),
        Primitive::Tuple(vec![Primitive::Int(4), Primitive::Int(5)]),
    ]);
    let m = scalar(
        "@",
        ValueKind::Other {
            zero: Primitive::None,
        },
        Some(Cell::Value(tup)),
    );
    assert_eq!(text(&m), "@: (1, 2, string, (4, 5))\n");
    assert_eq!(
        json(&m),
        "{\"type\": \"map\", \"data\": {\"@\": [1,2,\"string\",[4,5]]}}\n"
    );
    let rec = Primitive::Record(vec![
        ("a".into(), Primitive::Int(0)),
        ("b".into(), Primitive::Int(1)),
        ("c".into(), s("str")),
        (
            "d".into(),
            Primitive::Tuple(vec![Primitive::Int(5), Primitive::Int(6)]),
        ),
        (
            "e".into(),
            Primitive::Record(vec![
                ("x".into(), Primitive::Int(1)),
                ("y".into(), Primitive::Int(2)),
            ]),
        ),
    ]);
    let m = scalar(
        "@a",
        ValueKind::Other {
            zero: Primitive::None,
        },
        Some(Cell::Value(rec)),
    );
    assert_eq!(
        text(&m),
        "@a: { .a = 0, .b = 1, .c = str, .d = (5, 6), .e = { .x = 1, .y = 2 } }\n"
    );
    assert_eq!(
        json(&m),
        "{\"type\": \"map\", \"data\": {\"@a\": {\"a\": 0, \"b\": 1, \"c\": \"str\", \"d\": [5,6], \"e\": {\"x\": 1, \"y\": 2}}}}\n"
    );
}

#[test]
fn stack_keys_are_multi_line() {
    let frames = [
        Frame {
            addr: 0xffff_ffff_8100_0010,
            symbol: Some("do_syscall_64+16".into()),
        },
        Frame {
            addr: 0xffff_ffff_8200_0000,
            symbol: None,
        },
    ];
    let m = map(
        "@",
        KeyType::Other,
        ValueKind::Count,
        vec![(Primitive::stack(&frames, StackMode::Bpftrace), Cell::Int(7))],
    );
    assert_eq!(
        text(&m),
        "@[\n        do_syscall_64+16\n        0xffffffff82000000\n]: 7\n"
    );
    assert_eq!(
        Primitive::stack(&frames[..1], StackMode::Perf),
        s("\n\tffffffff81000010 do_syscall_64+16\n")
    );
}

/// `ustack(build_id)`: upstream's `format_build_id_stack` (types_format.cpp): 40 hex
/// digits, a space, `0x` and the offset in at least two hex digits; the bare hex address
/// for a frame whose build id the kernel could not read; no indentation.
#[test]
fn build_id_stacks_print_as_upstream() {
    let mut id = [0u8; 20];
    id[0] = 0x01;
    id[19] = 0xef;
    let frames = [
        BuildIdFrame::Valid {
            build_id: id,
            offset: 0x1043,
        },
        BuildIdFrame::Valid {
            build_id: id,
            offset: 0x5,
        },
        BuildIdFrame::Ip(0x7f12_3456_789a),
    ];
    let m = map(
        "@",
        KeyType::Other,
        ValueKind::Count,
        vec![(Primitive::build_id_stack(&frames), Cell::Int(2))],
    );
    assert_eq!(
        text(&m),
        "@[\n01000000000000000000000000000000000000ef 0x1043\n\
         01000000000000000000000000000000000000ef 0x05\n7f123456789a\n]: 2\n"
    );
    assert_eq!(Primitive::build_id_stack(&[]), s("\n"));
}

// ---- aggregates ----

#[test]
fn stats_scalar_and_keyed() {
    // runtime/json-output `stats`, `multiple stats`; runtime/call stats.
    let m = scalar(
        "@stats",
        ValueKind::Stats { signed: false },
        Some(combine_avg(&[(2, 1), (10, 1)])),
    );
    assert_eq!(
        text(&m),
        "@stats: { .count = 2, .average = 6, .total = 12 }\n"
    );
    assert_eq!(
        json(&m),
        "{\"type\": \"stats\", \"data\": {\"@stats\": {\"count\": 2, \"average\": 6, \"total\": 12}}}\n"
    );
    let k = map(
        "@stats",
        KeyType::Str,
        ValueKind::Stats { signed: false },
        vec![
            (s("zsh"), combine_avg(&[(10, 1)])),
            (s("curl"), combine_avg(&[(2, 1)])),
        ],
    );
    assert_eq!(
        text(&k),
        "@stats[curl]: { .count = 1, .average = 2, .total = 2 }\n@stats[zsh]: { .count = 1, .average = 10, .total = 10 }\n"
    );
    assert_eq!(
        json(&k),
        "{\"type\": \"stats\", \"data\": {\"@stats\": {\"curl\": {\"count\": 1, \"average\": 2, \"total\": 2}, \"zsh\": {\"count\": 1, \"average\": 10, \"total\": 10}}}}\n"
    );
}

#[test]
fn signed_stats_average_truncates_toward_zero() {
    // runtime/signed_ints: { .count = 3, .average = -3, .total = -10 }.
    let m = scalar(
        "@",
        ValueKind::Stats { signed: true },
        Some(combine_avg(&[((-4i64) as u64, 1), ((-6i64) as u64, 2)])),
    );
    assert_eq!(text(&m), "@: { .count = 3, .average = -3, .total = -10 }\n");
}

#[test]
fn avg_print_with_top_and_div() {
    // runtime/json-output print_avg_map_args; outputs/print_avg_map_args.txt.
    let m = map(
        "@",
        KeyType::Str,
        ValueKind::Avg { signed: false },
        ["a", "b", "c", "d"]
            .iter()
            .zip([10u64, 20, 30, 40])
            .map(|(k, v)| (s(k), combine_avg(&[(v, 1)])))
            .collect(),
    );
    assert_eq!(print(&m, Format::Text, 2, 10), "@[c]: 3\n@[d]: 4\n");
    assert_eq!(
        print(&m, Format::Json, 2, 10),
        "{\"type\": \"stats\", \"data\": {\"@\": {\"c\": 3, \"d\": 4}}}\n"
    );
    assert_eq!(
        print(&m, Format::Text, 10, 10),
        "@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n"
    );
}

#[test]
fn min_max_combine_per_cpu_and_sort_unsigned() {
    // CPUs that never ran the probe (is_set 0) do not count.
    let lo = combine_min_max(&[(5, 1), (0, 0), (3, 1)], false, true);
    assert_eq!(lo, Cell::MinMax(3));
    let hi = combine_min_max(&[((-2i64) as u64, 1), (7, 1)], true, true);
    assert_eq!(hi, Cell::MinMax(7));
    // Upstream sorts min/max maps as unsigned 64-bit even when signed: -1 sorts last.
    let m = map(
        "@m",
        KeyType::Int(8),
        ValueKind::Min { signed: true },
        vec![
            (Primitive::Int(1), Cell::MinMax((-1i64) as u64)),
            (Primitive::Int(2), lo),
        ],
    );
    assert_eq!(text(&m), "@m[2]: 3\n@m[1]: -1\n");
}

#[test]
fn empty_maps_print_nothing_but_print_of_empty_scalar_shows_zero() {
    // runtime/call: `@: { .count = 0, .average = 0, .total = 0 }` for print() of an
    // unset stats scalar.
    let mut out = Vec::new();
    let maps = vec![
        map("@k", KeyType::Int(8), ValueKind::Count, vec![]),
        scalar("@x", ValueKind::Count, None),
    ];
    Output::new(Format::Text, &mut out, std::io::sink())
        .maps_at_exit(&maps)
        .unwrap();
    assert_eq!(out, b"");
    assert_eq!(text(&maps[0]), "");
    assert_eq!(text(&maps[1]), "@x: 0\n");
    assert_eq!(json(&maps[0]), "");
    let st = scalar("@", ValueKind::Stats { signed: false }, None);
    assert_eq!(text(&st), "@: { .count = 0, .average = 0, .total = 0 }\n");
    assert_eq!(text(&scalar("@h", ValueKind::Hist { bits: 0 }, None)), "");
}

// ---- histograms ----

#[test]
fn hist_text_with_negative_and_single_value_buckets() {
    // outputs/hist.txt.
    let m = scalar(
        "@",
        ValueKind::Hist { bits: 0 },
        Some(hist_cell(&[-1, 2, 3, 5, 20], 0)),
    );
    assert_eq!(
        text(&m),
        "@:\n\
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
[0]                    0 |                                                    |\n\
[1]                    0 |                                                    |\n\
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
\n"
    );
}

#[test]
fn hist_text_starting_above_zero() {
    // outputs/hist_2_values.txt.
    let m = scalar(
        "@",
        ValueKind::Hist { bits: 0 },
        Some(hist_cell(&[3, 17], 0)),
    );
    assert_eq!(
        text(&m),
        "@:\n\
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[4, 8)                 0 |                                                    |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n"
    );
}

#[test]
fn hist_suffix_labels_and_bar_scaling() {
    let mut values = vec![1500; 3];
    values.push(3_000_000);
    let m = scalar(
        "@bytes",
        ValueKind::Hist { bits: 0 },
        Some(hist_cell(&values, 0)),
    );
    let t = text(&m);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "@bytes:");
    assert_eq!(
        lines[1],
        "[1K, 2K)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|"
    );
    assert_eq!(
        lines[2],
        "[2K, 4K)               0 |                                                    |"
    );
    assert_eq!(lines.last().copied(), Some(""));
    assert_eq!(
        lines[lines.len() - 2],
        "[2M, 4M)               1 |@@@@@@@@@@@@@@@@@                                   |"
    );
    assert_eq!(lines.len(), 14);
}

#[test]
fn hist_fine_grained_json() {
    // runtime/json-output histogram-finegrain (hist($i, 3)): single values up to 15,
    // then 8 buckets per power of two.
    let m = scalar(
        "@",
        ValueKind::Hist { bits: 3 },
        Some(hist_cell(&(0..40).collect::<Vec<_>>(), 3)),
    );
    let j = json(&m);
    assert!(j.starts_with(
        "{\"type\": \"hist\", \"data\": {\"@\": [{\"min\": 0, \"max\": 0, \"count\": 1},{\"min\": 1, \"max\": 1, \"count\": 1},"
    ));
    assert!(j.contains(
        "{\"min\": 15, \"max\": 15, \"count\": 1},{\"min\": 16, \"max\": 17, \"count\": 2},"
    ));
    assert!(
        j.ends_with("{\"min\": 36, \"max\": 39, \"count\": 4}]}}\n"),
        "{j}"
    );
    let t = text(&m);
    assert!(t.contains("\n[15]                   1 |"));
    assert!(t.contains("\n[16, 18)               2 |"));
    assert!(t.contains("\n[36, 40)               4 |"));
}

#[test]
fn hist_json_scalar_and_zeroed() {
    // outputs/hist.json, outputs/hist_zero.json.
    let m = scalar(
        "@hist",
        ValueKind::Hist { bits: 0 },
        Some(hist_cell(&[2, 1025], 0)),
    );
    assert_eq!(
        json(&m),
        "{\"type\": \"hist\", \"data\": {\"@hist\": [{\"min\": 2, \"max\": 3, \"count\": 1},{\"min\": 4, \"max\": 7, \"count\": 0},{\"min\": 8, \"max\": 15, \"count\": 0},{\"min\": 16, \"max\": 31, \"count\": 0},{\"min\": 32, \"max\": 63, \"count\": 0},{\"min\": 64, \"max\": 127, \"count\": 0},{\"min\": 128, \"max\": 255, \"count\": 0},{\"min\": 256, \"max\": 511, \"count\": 0},{\"min\": 512, \"max\": 1023, \"count\": 0},{\"min\": 1024, \"max\": 2047, \"count\": 1}]}}\n"
    );
    // zero(@hist): the key stays with empty buckets.
    let z = scalar(
        "@hist",
        ValueKind::Hist { bits: 0 },
        Some(Cell::Buckets(vec![0; 66])),
    );
    assert_eq!(
        json(&z),
        "{\"type\": \"hist\", \"data\": {\"@hist\": []}}\n"
    );
    assert_eq!(text(&z), "@hist:\n\n");
}

#[test]
fn keyed_hists_sorted_by_total_with_negative_bucket_json() {
    // outputs/hist_multiple.json.
    let m = map(
        "@",
        KeyType::Str,
        ValueKind::Hist { bits: 0 },
        vec![
            (s("curl"), hist_cell(&[-1, 0, 511, 1024, 1025], 0)),
            (s("bpftrace"), hist_cell(&[2], 0)),
        ],
    );
    let j = json(&m);
    assert!(j.starts_with(
        "{\"type\": \"hist\", \"data\": {\"@\": {\"bpftrace\": [{\"min\": 2, \"max\": 3, \"count\": 1}], \"curl\": [{\"max\": -1, \"count\": 1},{\"min\": 0, \"max\": 0, \"count\": 1},{\"min\": 1, \"max\": 1, \"count\": 0},"
    ), "{j}");
    assert!(j.ends_with("{\"min\": 1024, \"max\": 2047, \"count\": 2}]}}}\n"));
    let t = text(&m);
    assert!(t.starts_with(
        "@[bpftrace]:\n[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n@[curl]:\n(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n[0]                    1 |"
    ), "{t}");
}

#[test]
fn hist_print_top() {
    // runtime/json-output print_hist_with_top_arg.
    let m = map(
        "@",
        KeyType::Int(8),
        ValueKind::Hist { bits: 0 },
        vec![
            (Primitive::Int(1), hist_cell(&[10], 0)),
            (Primitive::Int(2), hist_cell(&[20], 0)),
            (Primitive::Int(3), hist_cell(&[30], 0)),
        ],
    );
    assert_eq!(
        print(&m, Format::Json, 2, 0),
        "{\"type\": \"hist\", \"data\": {\"@\": {\"2\": [{\"min\": 16, \"max\": 31, \"count\": 1}], \"3\": [{\"min\": 16, \"max\": 31, \"count\": 1}]}}}\n"
    );
}

#[test]
fn lhist_text_with_below_and_above() {
    // outputs/lhist.txt (lhist(_, 0, 10, 2)).
    let m = scalar(
        "@",
        ValueKind::Lhist {
            min: 0,
            max: 10,
            step: 2,
        },
        Some(lhist_cell(&[-1, 2, 3, 6, 10], 0, 10, 2)),
    );
    assert_eq!(
        text(&m),
        "@:\n\
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
[0, 2)                 0 |                                                    |\n\
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[4, 6)                 0 |                                                    |\n\
[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
[8, 10)                0 |                                                    |\n\
[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
\n"
    );
}

#[test]
fn lhist_json_and_keyed_order() {
    // outputs/lhist.json, outputs/lhist_multiple.json.
    let cell = lhist_cell(&[2, 50, 1000], 0, 100, 10);
    let m = scalar(
        "@h",
        ValueKind::Lhist {
            min: 0,
            max: 100,
            step: 10,
        },
        Some(cell.clone()),
    );
    let j = json(&m);
    assert!(j.starts_with(
        "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 0, \"max\": 9, \"count\": 1},{\"min\": 10, \"max\": 19, \"count\": 0},"
    ));
    assert!(
        j.ends_with("{\"min\": 90, \"max\": 99, \"count\": 0},{\"min\": 100, \"count\": 1}]}}\n")
    );
    let k = map(
        "@stats",
        KeyType::Str,
        ValueKind::Lhist {
            min: 0,
            max: 100,
            step: 10,
        },
        vec![
            (s("bpftrace"), lhist_cell(&[2, 1000], 0, 100, 10)),
            (s("curl"), lhist_cell(&[50], 0, 100, 10)),
        ],
    );
    assert!(json(&k).starts_with(
        "{\"type\": \"hist\", \"data\": {\"@stats\": {\"curl\": [{\"min\": 50, \"max\": 59, \"count\": 1}], \"bpftrace\": [{\"min\": 0, \"max\": 9, \"count\": 1},"
    ));
}

#[test]
fn lhist_step_one_single_values_and_kilo_labels() {
    let m = scalar(
        "@l",
        ValueKind::Lhist {
            min: 0,
            max: 3,
            step: 1,
        },
        Some(lhist_cell(&[0, 1, 1, 2], 0, 3, 1)),
    );
    assert_eq!(
        text(&m),
        "@l:\n\
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[2]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\
\n"
    );
    let k = scalar(
        "@k",
        ValueKind::Lhist {
            min: 0,
            max: 4096,
            step: 1024,
        },
        Some(lhist_cell(&[1500, 5000], 0, 4096, 1024)),
    );
    assert_eq!(
        text(&k),
        "@k:\n\
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[2K, 3K)               0 |                                                    |\n\
[3K, 4K)               0 |                                                    |\n\
[4K, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
\n"
    );
}

#[test]
fn bucket_indices_fall_inside_their_labels() {
    // Every value lands in the bucket whose JSON [min, max] contains it.
    for bits in 0..=5 {
        for v in (0..5000i64).chain([1 << 20, (1 << 40) + 7, i64::MAX]) {
            let m = scalar("@", ValueKind::Hist { bits }, Some(hist_cell(&[v], bits)));
            let Value::Histogram(h) = format_map(&m.info, &m.entries, 0, 1).unwrap() else {
                panic!()
            };
            let lo = h.lower_bound.as_ref().and_then(Primitive::as_bits).unwrap();
            assert!(lo <= v as u64, "bits {bits} v {v} lo {lo}");
            if let Some(hi) = h.labels.first().and_then(Primitive::as_bits) {
                assert!((v as u64) < hi, "bits {bits} v {v} hi {hi}");
            }
        }
    }
}

// ---- exit, probes, events ----

#[test]
fn maps_at_exit_in_name_order_after_two_newlines() {
    let maps = vec![
        scalar("@b", ValueKind::Count, Some(Cell::Int(2))),
        scalar("@", ValueKind::Count, Some(Cell::Int(1))),
        scalar("@a", ValueKind::Int { signed: true }, Some(Cell::Int(3))),
        map(
            "@B",
            KeyType::Int(8),
            ValueKind::Count,
            vec![(Primitive::Int(1), Cell::Int(9))],
        ),
    ];
    let mut out = Vec::new();
    let mut err = Vec::new();
    {
        let mut o = Output::new(Format::Text, &mut out, &mut err);
        o.attached_probes(1).unwrap();
        o.printf("hi!\n").unwrap();
        o.end().unwrap();
        o.maps_at_exit(&maps).unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "hi!\n\n\n@: 1\n@B[1]: 9\n@a: 3\n@b: 2\n"
    );
    assert_eq!(String::from_utf8(err).unwrap(), "Attached 1 probe\n");
}

#[test]
fn attached_and_lost_in_both_formats() {
    let mut out = Vec::new();
    let mut err = Vec::new();
    {
        let mut o = Output::new(Format::Text, &mut out, &mut err);
        o.attached_probes(3).unwrap();
        o.lost_events(12).unwrap();
        o.total_lost_warning(12).unwrap();
    }
    assert_eq!(out, b"");
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "Attached 3 probes\nLost 12 events\nWARNING: Total lost event count: 12\n"
    );
    let mut out = Vec::new();
    {
        let mut o = Output::new(Format::Json, &mut out, std::io::sink());
        o.attached_probes(1).unwrap();
        o.lost_events(4).unwrap();
        o.end().unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n{\"type\": \"lost_events\", \"count\": 4, \"data\": {\"events\": 4}}\n"
    );
}

#[test]
fn json_events_printf_time_value() {
    // runtime/json-output printf, printf_escaping, print_non_map*, strerror, bool.
    let mut out = Vec::new();
    {
        let mut o = Output::new(Format::Json, &mut out, std::io::sink());
        o.printf(&printf("test %d", &[Primitive::Int(5)])).unwrap();
        o.printf("test \r \n \t \\ \" bar\u{1}").unwrap();
        o.time("12:34:56\n").unwrap();
        o.value(&Primitive::Int(5).into()).unwrap();
        o.value(&s("Argument list too long").into()).unwrap();
        o.value(&Primitive::Tuple(vec![Primitive::Bool(true), Primitive::Bool(false)]).into())
            .unwrap();
        o.value(&Primitive::enum_value(Some("FOO"), 333).into())
            .unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"type\": \"printf\", \"data\": \"test 5\"}\n\
{\"type\": \"printf\", \"data\": \"test \\r \\n \\t \\\\ \\\" bar\\u0001\"}\n\
{\"type\": \"time\", \"data\": \"12:34:56\\n\"}\n\
{\"type\": \"value\", \"data\": 5}\n\
{\"type\": \"value\", \"data\": \"Argument list too long\"}\n\
{\"type\": \"value\", \"data\": [true,false]}\n\
{\"type\": \"value\", \"data\": 333}\n"
    );
}

#[test]
fn text_print_of_values() {
    let mut out = Vec::new();
    {
        let mut o = Output::new(Format::Text, &mut out, std::io::sink());
        o.value(&s("matched").into()).unwrap();
        o.value(&Primitive::enum_value(Some("FOO"), 333).into())
            .unwrap();
        o.value(&Primitive::pointer(0x32).into()).unwrap();
        o.value(&Primitive::Array(vec![Primitive::Int(1), Primitive::Int(2)]).into())
            .unwrap();
        o.value(&Primitive::Buffer(b"ab\x00\xff".to_vec()).into())
            .unwrap();
        o.value(&Primitive::Record(vec![]).into()).unwrap();
        o.join("a b c").unwrap();
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "matched\nFOO\n0x32\n[1,2]\nab\\x00\\xff\n{}\na b c\n"
    );
}

#[test]
fn json_pointer_and_big_numbers() {
    // runtime/json-output print_hex_values: a pointer is its number in JSON.
    let m = scalar(
        "@",
        ValueKind::Other {
            zero: Primitive::None,
        },
        Some(Cell::Value(Primitive::pointer(0x32))),
    );
    assert_eq!(json(&m), "{\"type\": \"map\", \"data\": {\"@\": 50}}\n");
    assert_eq!(text(&m), "@: 0x32\n");
    // Integers a double cannot hold are written as strings.
    assert_eq!(json::uint((1 << 53) + 1), "\"9007199254740993\"");
    assert_eq!(json::uint(1 << 53), "9007199254740992");
    assert_eq!(json::int(-5), "-5");
    assert_eq!(
        json::primitive(&Primitive::Buffer(vec![65, 0xff])),
        "[65,-1]"
    );
}

// ---- printf ----

#[test]
fn printf_upstream_expectations() {
    // runtime/call printf_*, runtime/json-output enum_symbolized_printf.
    assert_eq!(
        printf("value: %dms100\n", &[Primitive::Int(100)]),
        "value: 100ms100\n"
    );
    assert_eq!(
        printf("%5s %04x", &[s("ba"), Primitive::Int(2)]),
        "   ba 0002"
    );
    let x = Primitive::Int(0x12345678abcdef);
    assert_eq!(
        printf("%hhx %hx %x %jx\n", &[x.clone(), x.clone(), x.clone(), x]),
        "ef cdef 78abcdef 12345678abcdef\n"
    );
    let abcd: Vec<Primitive> = (0x41..=0x44).map(Primitive::Int).collect();
    assert_eq!(printf("%c%c%c%c\n", &abcd), "ABCD\n");
    let e = |n: &str, v| Primitive::enum_value(Some(n), v);
    assert_eq!(
        printf(
            "%d %s %d %s\n",
            &[
                e("ONE", 1),
                e("ONE", 1),
                e("OTHER", 99999),
                e("OTHER", 99999)
            ]
        ),
        "1 ONE 99999 OTHER\n"
    );
    assert_eq!(
        printf("%-5s %5s %s\n", &[e("A", 0), e("B", 1), e("C", 2)]),
        "A         B C\n"
    );
    assert_eq!(
        printf(
            "%dst: %sa; %llus\n",
            &[Primitive::Int(1), s("a"), Primitive::Uint(1)]
        ),
        "1st: aa; 1s\n"
    );
}

#[test]
fn printf_iostream_rules() {
    let n = Primitive::Int;
    assert_eq!(printf("[%05d]", &[n(-5)]), "[000-5]");
    assert_eq!(printf("[%-05d]", &[n(5)]), "[50000]");
    assert_eq!(printf("[%-6d]", &[n(42)]), "[42    ]");
    assert_eq!(printf("[%+d %+d %+u]", &[n(5), n(-5), n(5)]), "[+5 -5 5]");
    assert_eq!(printf("[% d]", &[n(5)]), "[5]");
    assert_eq!(
        printf("[%#x %#X %#o %#x]", &[n(255), n(255), n(8), n(0)]),
        "[0xff 0XFF 010 0]"
    );
    assert_eq!(printf("[%.3s]", &[s("abcdef")]), "[abcdef]");
    assert_eq!(printf("[%d]", &[n(1 << 32 | 7)]), "[7]");
    assert_eq!(
        printf("[%ld %lu]", &[n(-1), n(-1)]),
        "[-1 18446744073709551615]"
    );
    assert_eq!(printf("[%u %x]", &[n(-1), n(-1)]), "[4294967295 ffffffff]");
    assert_eq!(printf("[%p %p]", &[n(0xffff_8000), n(0)]), "[0xffff8000 0]");
    assert_eq!(
        printf("[%10s]", &[Primitive::Tuple(vec![n(1), n(2)])]),
        "[         (1, 2)]"
    );
    assert_eq!(printf("100%% %d%%", &[n(3)]), "100% 3%");
    assert_eq!(printf("%y %", &[]), "%y %");
    assert_eq!(printf("[%s]", &[Primitive::Bool(true)]), "[true]");
    assert_eq!(
        printf("[%d]", &[s("x")]),
        "[!{invalid integer conversion: x}]"
    );
    assert_eq!(printf("[%.2f %f]", &[n(3), n(3)]), "[3.00 3]");
}

#[test]
fn printf_buffers() {
    let b = Primitive::Buffer(b"hi\x01\x7f".to_vec());
    assert_eq!(printf("%r", std::slice::from_ref(&b)), "hi\\x01\\x7f");
    assert_eq!(
        printf("%rx", std::slice::from_ref(&b)),
        "\\x68\\x69\\x01\\x7f"
    );
    assert_eq!(printf("%rh", &[b]), "68 69 01 7f");
}

#[test]
fn printf_parse_segments() {
    let f = FormatString::parse("a%%b %-10s|%5d %llu %rx %gr\n");
    assert_eq!(f.fragments, ["a%b ", "|", " ", " ", " ", "\n"]);
    let specs: Vec<(&str, &str, usize, bool)> = f
        .specs
        .iter()
        .map(|s| {
            (
                s.specifier.as_str(),
                s.length_modifier.as_str(),
                s.width,
                s.left_align,
            )
        })
        .collect();
    assert_eq!(
        specs,
        [
            ("s", "", 10, true),
            ("d", "", 5, false),
            ("u", "ll", 0, false),
            ("rx", "", 0, false),
            ("gr", "", 0, false),
        ]
    );
}

// ---- time ----

#[test]
fn time_strftime() {
    let tz = jiff::tz::TimeZone::UTC;
    // 2026-01-02 03:04:05 UTC
    let ns = 1_767_323_045i128 * 1_000_000_000;
    assert_eq!(
        time::strftime_at(time::DEFAULT_TIME_FORMAT, ns, tz.clone()),
        "03:04:05\n"
    );
    assert_eq!(
        time::strftime_at("%Y-%m-%d %a %b %j %% %q", ns, tz),
        "2026-01-02 Fri Jan 002 % %q"
    );
    let now = time::strftime_now("%H:%M:%S");
    assert_eq!(now.len(), 8, "{now}");
}

#[test]
fn time_conversions_match_gnu_date() {
    // GNU date formats with glibc's strftime; compare every conversion glibc knows.
    let Ok(out) = std::process::Command::new("date")
        .args(["-u", "-d", "@1767323045", "+%a|%A|%b|%B|%c|%C|%d|%D|%e|%F|%g|%G|%h|%H|%I|%j|%k|%l|%m|%M|%n|%p|%P|%r|%R|%s|%S|%t|%T|%u|%U|%V|%w|%W|%x|%X|%y|%Y|%z|%Z|%%|%-d|%_H|%03d"])
        .env("LC_ALL", "C")
        .output()
    else {
        eprintln!("skipped: no `date` to compare with");
        return;
    };
    let want = String::from_utf8(out.stdout).unwrap();
    let got = time::strftime_at(
        "%a|%A|%b|%B|%c|%C|%d|%D|%e|%F|%g|%G|%h|%H|%I|%j|%k|%l|%m|%M|%n|%p|%P|%r|%R|%s|%S|%t|%T|%u|%U|%V|%w|%W|%x|%X|%y|%Y|%z|%Z|%%|%-d|%_H|%03d\n",
        1_767_323_045i128 * 1_000_000_000,
        jiff::tz::TimeZone::UTC,
    );
    assert_eq!(got, want);
}

#[test]
fn map_info_from_the_type_checker() {
    use kscope_lang::output::sema_bridge::map_info;
    let src = kscope_lang::SourceFile::new(
        "-e",
        r#"begin { @c[1, "a"] = count(); @ = hist(5, 2); @s = "x"; @u[(uint32)1] = (uint16)5; @m = min(-1); }"#,
    );
    let checked = kscope_lang::compile(
        &src,
        &kscope_lang::sema::Options::default(),
        &kscope_lang::sema::NoKernelTypes,
    )
    .unwrap();
    let got: Vec<MapInfo> = checked.maps.iter().map(|(n, i)| map_info(n, i)).collect();
    let names: Vec<&str> = got.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["@", "@c", "@m", "@s", "@u"]);
    assert_eq!(got[0].value, ValueKind::Hist { bits: 2 });
    assert!(got[0].scalar);
    assert_eq!(
        got[1].key,
        KeyType::Tuple(vec![KeyType::Int(8), KeyType::Str])
    );
    assert_eq!(got[1].value, ValueKind::Count);
    assert_eq!(got[2].value, ValueKind::Min { signed: true });
    assert_eq!(got[3].value, ValueKind::Other { zero: s("") });
    let bits = match &checked.maps["u"].keys[0] {
        kscope_lang::sema::Type::Int { bits, .. } => *bits,
        other => panic!("{other}"),
    };
    assert_eq!(got[4].key, KeyType::Int(bits / 8));
    assert_eq!(got[4].value, ValueKind::Int { signed: false });
    // print(@s) before any write prints the zero string.
    let m = MapData {
        info: got[3].clone(),
        entries: vec![],
    };
    assert_eq!(text(&m), "@s: \n");
}

#[test]
fn strftime_builtin_extensions() {
    // runtime/call strftime_microsecond_extension*: "%s.%f" of 1000123000 ns is 1.000123.
    let utc = jiff::tz::TimeZone::UTC;
    assert_eq!(
        time::strftime_extended("%s.%f", 1_000_123_000, utc.clone()),
        "1.000123"
    );
    assert_eq!(
        time::strftime_extended("%H:%M:%S.%l|%k", 1_767_323_045_123_456_789, utc.clone()),
        "03:04:05.123|123456789"
    );
    assert_eq!(time::strftime_extended("%s", 5, utc), "(?)");
}

#[test]
fn printf_argument_checks_follow_upstream_parsing() {
    // Upstream's pattern takes flags in the order `-+ #0` only, so `%0-5d` and `%+-d`
    // are literal text and take no argument; `%.d` needs digits after the dot.
    for lit in ["%0-5d", "%+-d", "%.d", "% %", "%5%"] {
        assert_eq!(FormatString::parse(lit).specs.len(), 0, "{lit}");
    }
    assert_eq!(printf("[%0-5d]", &[]), "[%0-5d]");
    let f = FormatString::parse("%d %s");
    assert_eq!(f.check_count(2), Ok(()));
    assert_eq!(
        f.check_count(1).unwrap_err(),
        "not enough arguments for format string (1 supplied, 2 expected)"
    );
    assert_eq!(
        f.check_count(3).unwrap_err(),
        "too many arguments for format string (3 supplied, 2 expected)"
    );
    assert_eq!(
        FormatString::parse("%f").check_count(1).unwrap_err(),
        "unsupported format specifier: f"
    );
    assert_eq!(
        FormatString::parse("%rh").specs[0].accepts(),
        Accepts::Buffer
    );
}
