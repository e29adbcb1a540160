//! Differential tests of the output layer against the installed bpftrace 0.17: BEGIN-only
//! programs give deterministic maps; we render the same values and compare stdout.
//!
//! Where 0.17 differs from current upstream (which kscope follows), the programs avoid
//! the construct or 0.17's output is normalised, each difference named here:
//! - 0.17 prints `Attaching N probes...` on stdout (upstream: `Attached N probes` on
//!   stderr); JSON `attached_probes` has no `count` field in 0.17: the line is dropped;
//! - 0.17 writes a space after a histogram's `@h:` header: removed;
//! - 0.17's JSON separates histogram buckets with `, ` (upstream `,`), and prints the
//!   text-mode `\n\n` before the maps in JSON mode too: normalised / dropped;
//! - 0.17 keeps spaces in JSON map keys (upstream removes every space): keys without
//!   spaces only; 0.17 has no `+` and `#` printf flags: not used;
//! - not compared at all: `avg`/`stats` maps (0.17: `count 1, average 3, total 3` and
//!   a blank line after the map; upstream `{ .count = 1, ... }` and none), negative
//!   integer keys of non-aggregate maps (0.17 sorts them unsigned, upstream signed),
//!   `print()` of an empty map (0.17 prints an empty line, upstream nothing), `clear()`
//!   of a scalar (0.17 then prints `@s: 0` at exit, upstream nothing), tied values (their
//!   order is the kernel's hash order), `hist(n, bits)` and `lhist` with step 1 (not in
//!   0.17).

use std::process::Command;

use kscope_lang::output::hist::{linear_buckets, linear_index, log2_buckets, log2_index};
use kscope_lang::output::*;
use kscope_testkit::Feature;

/// Runs a program with bpftrace 0.17; `None` (with the reason printed) when bpftrace is
/// not installed.
fn bpftrace(prog: &str, json: bool) -> Option<String> {
    let mut cmd = Command::new("bpftrace");
    if json {
        cmd.args(["-f", "json"]);
    }
    let out = match cmd.args(["-e", prog]).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: bpftrace is not installed ({e}); `apt-get install bpftrace`");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "bpftrace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn normalise_text(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        if line.starts_with("Attaching ") && line.ends_with("...") {
            continue;
        }
        let line = match line.strip_suffix(": ") {
            Some(head) if head.starts_with('@') => format!("{head}:"),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn normalise_json(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        if line.is_empty() || line.contains("\"type\": \"attached_probes\"") {
            continue;
        }
        out.push_str(&line.replace("}, {", "},{"));
        out.push('\n');
    }
    out
}

fn hist_cell(values: &[i64]) -> Cell {
    let mut b = vec![0u64; log2_buckets(0)];
    for &v in values {
        b[log2_index(v, 0)] += 1;
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

fn keyed(name: &str, key: KeyType, value: ValueKind, entries: Vec<(Primitive, Cell)>) -> MapData {
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

fn scalar(name: &str, value: ValueKind, cell: Cell) -> MapData {
    MapData {
        info: MapInfo {
            name: name.into(),
            scalar: true,
            key: KeyType::Other,
            value,
        },
        entries: vec![(Primitive::None, cell)],
    }
}

fn s(v: &str) -> Primitive {
    Primitive::Str(v.into())
}

const MAPS_PROGRAM: &str = r#"BEGIN {
  @a[1] = count(); @a[2] = count(); @a[2] = count(); @a[3] = count(); @a[3] = count(); @a[3] = count();
  @x = 5; @y = -3;
  @str["hello"] = 1; @str["abc"] = 7;
  @t[1, "a"] = 2; @t[2, "b"] = 1;
  @s["x"] = sum(5); @s["y"] = sum(-3); @s["x"] = sum(1);
  @mn = min(5); @mn = min(2); @mx = max(-4); @mx = max(9);
  @v[3] = "c"; @v[1] = "a";
  @h = hist(-1); @h = hist(0); @h = hist(1); @h = hist(3); @h = hist(3); @h = hist(1500); @h = hist(3000000);
  @l = lhist(-1, 0, 10, 2); @l = lhist(2, 0, 10, 2); @l = lhist(3, 0, 10, 2); @l = lhist(7, 0, 10, 2); @l = lhist(10, 0, 10, 2);
  @lk = lhist(1500, 0, 4096, 1024); @lk = lhist(5000, 0, 4096, 1024);
  @kh["x"] = hist(1); @kh["y"] = hist(1); @kh["y"] = hist(100);
  exit();
}"#;

/// The maps MAPS_PROGRAM leaves, as the runtime would hand them over (in an arbitrary
/// read order: printing sorts them).
fn maps_program_values() -> Vec<MapData> {
    let i = Primitive::Int;
    let signed = ValueKind::Int { signed: true };
    vec![
        keyed(
            "@v",
            KeyType::Int(8),
            ValueKind::Other { zero: s("") },
            vec![(i(3), Cell::Value(s("c"))), (i(1), Cell::Value(s("a")))],
        ),
        keyed(
            "@a",
            KeyType::Int(8),
            ValueKind::Count,
            vec![
                (i(3), combine_sum(&[2, 1])),
                (i(1), combine_sum(&[1])),
                (i(2), combine_sum(&[0, 2])),
            ],
        ),
        scalar("@x", signed.clone(), Cell::Int(5)),
        scalar("@y", signed.clone(), Cell::Int((-3i64) as u64)),
        keyed(
            "@str",
            KeyType::Str,
            signed.clone(),
            vec![(s("abc"), Cell::Int(7)), (s("hello"), Cell::Int(1))],
        ),
        keyed(
            "@t",
            KeyType::Tuple(vec![KeyType::Int(8), KeyType::Str]),
            signed,
            vec![
                (Primitive::Tuple(vec![i(1), s("a")]), Cell::Int(2)),
                (Primitive::Tuple(vec![i(2), s("b")]), Cell::Int(1)),
            ],
        ),
        keyed(
            "@s",
            KeyType::Str,
            ValueKind::Sum { signed: true },
            vec![
                (s("x"), combine_sum(&[5, 1])),
                (s("y"), combine_sum(&[(-3i64) as u64])),
            ],
        ),
        scalar(
            "@mn",
            ValueKind::Min { signed: true },
            combine_min_max(&[(5, 1), (2, 1), (0, 0)], false, true),
        ),
        scalar(
            "@mx",
            ValueKind::Max { signed: true },
            combine_min_max(&[((-4i64) as u64, 1), (9, 1)], true, true),
        ),
        scalar(
            "@h",
            ValueKind::Hist { bits: 0 },
            hist_cell(&[-1, 0, 1, 3, 3, 1500, 3_000_000]),
        ),
        scalar(
            "@l",
            ValueKind::Lhist {
                min: 0,
                max: 10,
                step: 2,
            },
            lhist_cell(&[-1, 2, 3, 7, 10], 0, 10, 2),
        ),
        scalar(
            "@lk",
            ValueKind::Lhist {
                min: 0,
                max: 4096,
                step: 1024,
            },
            lhist_cell(&[1500, 5000], 0, 4096, 1024),
        ),
        keyed(
            "@kh",
            KeyType::Str,
            ValueKind::Hist { bits: 0 },
            vec![(s("y"), hist_cell(&[1, 100])), (s("x"), hist_cell(&[1]))],
        ),
    ]
}

fn render_exit(format: Format, maps: &[MapData]) -> String {
    let mut out = Vec::new();
    {
        let mut o = Output::new(format, &mut out, std::io::sink());
        o.end().unwrap();
        o.maps_at_exit(maps).unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn maps_at_exit_match_bpftrace_017_text() {
    let Some(_kernel) = kscope_testkit::require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    let Some(theirs) = bpftrace(MAPS_PROGRAM, false) else {
        return;
    };
    let ours = render_exit(Format::Text, &maps_program_values());
    assert_eq!(ours, normalise_text(&theirs));
    assert!(ours.contains("[2M, 4M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@        "));
}

#[test]
fn maps_at_exit_match_bpftrace_017_json() {
    let Some(_kernel) = kscope_testkit::require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    let Some(theirs) = bpftrace(MAPS_PROGRAM, true) else {
        return;
    };
    let ours = render_exit(Format::Json, &maps_program_values());
    assert_eq!(ours, normalise_json(&theirs));
    assert_eq!(ours.lines().count(), 13);
}

const EVENTS_PROGRAM: &str = r#"BEGIN {
  printf("%d|%-5d|%5d|%x|%X|%o|%s|%5s|%-4s|%c|%u|%lu|%ld|%%|%llx\n", 3, 3, -42, 255, 255, 8, "hi", "ab", "x", 65, 7, 123456789012, -5, 4294967296);
  @c[1] = count(); @c[2] = count(); @c[2] = count(); @c[3] = count(); @c[3] = count(); @c[3] = count();
  print(@c, 2);
  @d[10] = sum(100); @d[20] = sum(250);
  print(@d, 0, 10);
  @s = count(); print(@s);
  print("text");
  print(42);
  exit();
}"#;

/// What EVENTS_PROGRAM prints, through our printer.
fn render_events(format: Format) -> String {
    let i = Primitive::Int;
    let fmt = FormatString::parse("%d|%-5d|%5d|%x|%X|%o|%s|%5s|%-4s|%c|%u|%lu|%ld|%%|%llx\n");
    let args = [
        i(3),
        i(3),
        i(-42),
        i(255),
        i(255),
        i(8),
        s("hi"),
        s("ab"),
        s("x"),
        i(65),
        i(7),
        i(123_456_789_012),
        i(-5),
        i(4_294_967_296),
    ];
    let c = keyed(
        "@c",
        KeyType::Int(8),
        ValueKind::Count,
        vec![
            (i(2), Cell::Int(2)),
            (i(1), Cell::Int(1)),
            (i(3), Cell::Int(3)),
        ],
    );
    let d = keyed(
        "@d",
        KeyType::Int(8),
        ValueKind::Sum { signed: true },
        vec![(i(20), Cell::Int(250)), (i(10), Cell::Int(100))],
    );
    let sc = scalar("@s", ValueKind::Count, Cell::Int(1));
    let mut out = Vec::new();
    {
        let mut o = Output::new(format, &mut out, std::io::sink());
        o.printf(&fmt.format(&args)).unwrap();
        o.print_map(&c, 2, 0).unwrap();
        o.print_map(&d, 0, 10).unwrap();
        o.print_map(&sc, 0, 0).unwrap();
        o.value(&s("text").into()).unwrap();
        o.value(&i(42).into()).unwrap();
        o.end().unwrap();
        o.maps_at_exit(&[sc, c, d]).unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn printf_print_top_div_match_bpftrace_017() {
    let Some(_kernel) = kscope_testkit::require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    let Some(text) = bpftrace(EVENTS_PROGRAM, false) else {
        return;
    };
    let ours = render_events(Format::Text);
    assert_eq!(ours, normalise_text(&text));
    assert!(ours.starts_with(
        "3|3    |  -42|ff|FF|10|hi|   ab|x   |A|7|123456789012|-5|%|100000000\n@c[2]: 2\n"
    ));
    let json = bpftrace(EVENTS_PROGRAM, true).unwrap();
    assert_eq!(render_events(Format::Json), normalise_json(&json));
}

const VALUES_PROGRAM: &str = r#"BEGIN { @tv[1] = (1, "two", (3, 4)); @sk["ab"] = 3; @sk["c"] = 4; @b = (uint8)200; @neg[-5] = count(); @neg[7] = count(); @neg[7] = count(); print((1, "x")); printf("%s|%-3s|%3d|%03d|%5c|%-4c|\n", "str", "ab", 7, 7, 66, 67); exit(); }"#;

/// What VALUES_PROGRAM prints, through our printer.
fn render_values(format: Format) -> String {
    let i = Primitive::Int;
    let maps = [
        keyed(
            "@tv",
            KeyType::Int(8),
            ValueKind::Other {
                zero: Primitive::None,
            },
            vec![(
                i(1),
                Cell::Value(Primitive::Tuple(vec![
                    i(1),
                    s("two"),
                    Primitive::Tuple(vec![i(3), i(4)]),
                ])),
            )],
        ),
        keyed(
            "@sk",
            KeyType::Str,
            ValueKind::Int { signed: true },
            vec![(s("c"), Cell::Int(4)), (s("ab"), Cell::Int(3))],
        ),
        scalar("@b", ValueKind::Int { signed: false }, Cell::Int(200)),
        keyed(
            "@neg",
            KeyType::Int(8),
            ValueKind::Count,
            vec![(i(7), Cell::Int(2)), (i(-5), Cell::Int(1))],
        ),
    ];
    let fmt = FormatString::parse("%s|%-3s|%3d|%03d|%5c|%-4c|\n");
    let mut out = Vec::new();
    {
        let mut o = Output::new(format, &mut out, std::io::sink());
        o.value(&Primitive::Tuple(vec![i(1), s("x")]).into())
            .unwrap();
        o.printf(&fmt.format(&[s("str"), s("ab"), i(7), i(7), i(66), i(67)]))
            .unwrap();
        o.end().unwrap();
        o.maps_at_exit(&maps).unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn tuples_and_chars_match_bpftrace_017() {
    let Some(_kernel) = kscope_testkit::require_all(&[Feature::Uprobes, Feature::BpfKprobe]) else {
        return;
    };
    let Some(text) = bpftrace(VALUES_PROGRAM, false) else {
        return;
    };
    let ours = render_values(Format::Text);
    assert_eq!(ours, normalise_text(&text));
    assert!(ours.contains("\n@tv[1]: (1, two, (3, 4))\n"));
    let json = bpftrace(VALUES_PROGRAM, true).unwrap();
    assert_eq!(render_values(Format::Json), normalise_json(&json));
}
