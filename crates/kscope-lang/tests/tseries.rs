//! `tseries`: per-CPU reduction, the printed window, and the exact chart and JSON that
//! upstream bpftrace prints. The expected charts in `data/tseries/` are upstream's
//! runtime-test outputs (tests/runtime/outputs/tseries*.txt) with the hour, which
//! upstream's harness fills in for the local zone, written as `00` (UTC).

use jiff::tz::TimeZone;
use kscope_lang::output::tseries::{self, Series, Slot};
use kscope_lang::output::{
    Cell, KeyType, MapInfo, Primitive, Value, ValueKind, format_map, json, text,
};
use kscope_lang::sema::TseriesAgg;

const MS: u64 = 1_000_000;

fn info(name: &str, scalar: bool, interval_ns: u64, num_intervals: u64, signed: bool) -> MapInfo {
    MapInfo {
        name: name.into(),
        scalar,
        key: if scalar { KeyType::Other } else { KeyType::Str },
        value: ValueKind::Tseries {
            interval_ns,
            num_intervals,
            signed,
        },
    }
}

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/tseries/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The chart of a scalar map in UTC, as `text::map` frames it (header, chart, empty line).
fn scalar_chart(name: &str, v: &Value) -> String {
    let Value::Tseries(s) = v else {
        panic!("not a series: {v:?}")
    };
    format!("{name}:\n{}\n", tseries::text(s, &TimeZone::UTC))
}

/// Upstream's `tseries($i % 10, 100ms, 5[, agg])` test: 100 values 0..9 repeating, one
/// every 10 ms from time 0, so buckets 0..4 end up holding epochs 5..9, each with the
/// ten values 0..9 of its 100 ms.
fn ten_per_interval(agg: TseriesAgg) -> Vec<(u64, u64)> {
    (0..5u64)
        .map(|b| {
            let epoch = b + 5;
            // Spread each interval's values over two CPUs to exercise the reduction.
            let mut cpus = [Slot::default(), Slot::default()];
            for i in 0..10u64 {
                let ts = epoch * 100 * MS + i * 10 * MS;
                let c = &mut cpus[(i % 2) as usize];
                c.epoch = epoch;
                match agg {
                    TseriesAgg::Last => {
                        c.value = i;
                        c.meta = ts;
                    }
                    TseriesAgg::Sum => c.value += i,
                    TseriesAgg::Avg => {
                        c.value += i;
                        c.meta += 1;
                    }
                    TseriesAgg::Min | TseriesAgg::Max => {
                        let better = if agg == TseriesAgg::Min {
                            i < c.value
                        } else {
                            i > c.value
                        };
                        if c.meta == 0 || better {
                            c.value = i;
                        }
                        c.meta = 1;
                    }
                }
            }
            tseries::reduce(&cpus, agg, false)
        })
        .collect()
}

#[test]
fn upstream_last_min_max_avg_charts() {
    for (agg, file) in [
        (TseriesAgg::Last, "tseries.txt"),
        (TseriesAgg::Max, "tseries.txt"),
        (TseriesAgg::Min, "tseries_min.txt"),
        (TseriesAgg::Avg, "tseries_avg.txt"),
    ] {
        let entries = vec![(Primitive::None, Cell::Tseries(ten_per_interval(agg)))];
        let v = format_map(&info("@a", true, 100 * MS, 5, false), &entries, 0, 1).unwrap();
        assert_eq!(
            scalar_chart("@a", &v).trim_end(),
            data(file).trim_end(),
            "{agg}"
        );
    }
}

#[test]
fn upstream_multiple_keys_share_the_window() {
    // "one": 5 at 0, 100, ..., 400 ms (the value at time 0 falls in epoch 0, which
    // upstream treats as never written and prints as 0); "two": 4 at 500..900 ms.
    let mut one = vec![tseries::reduce(
        &[Slot {
            value: 5,
            meta: 0,
            epoch: 0,
        }],
        TseriesAgg::Last,
        false,
    )];
    for e in 1..5 {
        one.push(tseries::reduce(
            &[Slot {
                value: 5,
                meta: e * 100 * MS,
                epoch: e,
            }],
            TseriesAgg::Last,
            false,
        ));
    }
    let two: Vec<(u64, u64)> = (5..10).map(|e| (e, 4)).collect();
    let entries = vec![
        (Primitive::Str("one".into()), Cell::Tseries(one)),
        (Primitive::Str("two".into()), Cell::Tseries(two)),
    ];
    let v = format_map(&info("@a", false, 100 * MS, 10, false), &entries, 0, 1).unwrap();
    let Value::OrderedMap(m) = &v else {
        panic!("{v:?}")
    };
    let mut out = String::new();
    for (k, s) in m {
        let Value::Tseries(s) = s else { panic!() };
        out.push_str(&format!(
            "@a[{}]:\n{}\n",
            text::primitive(k),
            tseries::text(s, &TimeZone::UTC)
        ));
    }
    assert_eq!(out, data("tseries_multiple.txt"));
    assert_eq!(
        json::map("@a", &v),
        concat!(
            r#"{"type": "tseries", "data": {"@a": {"one": ["#,
            r#"{"interval_start":"1970-01-01 00:00:00.000000000","value":0},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.100000000","value":5},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.200000000","value":5},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.300000000","value":5},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.400000000","value":5}], "two": ["#,
            r#"{"interval_start":"1970-01-01 00:00:00.500000000","value":4},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.600000000","value":4},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.700000000","value":4},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.800000000","value":4},"#,
            r#"{"interval_start":"1970-01-01 00:00:00.900000000","value":4}]}}}"#,
            "\n"
        )
    );
}

#[test]
fn upstream_zigzag_marks_zero() {
    // -5 .. 5 .. -4 at epochs 1..20 (100 ms each), 20 intervals, signed.
    let mut c: i64 = -5;
    let mut dir = 1;
    let mut b = Vec::new();
    for e in 1..=20u64 {
        b.push((e, c as u64));
        c += dir;
        if c > 5 {
            dir = -1;
            c = 4;
        } else if c < -5 {
            dir = 1;
            c = -4;
        }
    }
    let entries = vec![(Primitive::None, Cell::Tseries(b))];
    let v = format_map(&info("@", true, 100 * MS, 20, true), &entries, 0, 1).unwrap();
    assert_eq!(
        scalar_chart("@", &v).trim_end(),
        data("tseries_zigzag.txt").trim_end()
    );
}

#[test]
fn json_of_upstream_last_value_test() {
    let entries = vec![(
        Primitive::None,
        Cell::Tseries(ten_per_interval(TseriesAgg::Last)),
    )];
    let v = format_map(&info("@a", true, 100 * MS, 5, false), &entries, 0, 1).unwrap();
    let items: Vec<String> = (5..10)
        .map(|i| format!(r#"{{"interval_start":"1970-01-01 00:00:00.{i}00000000","value":9}}"#))
        .collect();
    assert_eq!(
        json::map("@a", &v),
        format!(
            "{{\"type\": \"tseries\", \"data\": {{\"@a\": [{}]}}}}\n",
            items.join(",")
        )
    );
}

#[test]
fn zeroed_map_has_no_data() {
    // `zero(@a)`: every bucket is back at epoch 0, so the window is empty (upstream's
    // tseries_zero.json is `"@a": []`).
    let cell = Cell::Tseries(
        (0..5)
            .map(|_| tseries::reduce(&[Slot::default(); 4], TseriesAgg::Avg, false))
            .collect(),
    );
    let v = format_map(
        &info("@a", true, 100 * MS, 5, false),
        &[(Primitive::None, cell)],
        0,
        1,
    )
    .unwrap();
    assert_eq!(v, Value::Tseries(Series::default()));
    assert_eq!(
        json::map("@a", &v),
        "{\"type\": \"tseries\", \"data\": {\"@a\": []}}\n"
    );
    assert_eq!(text::map("@a", &v), "@a:\n<no data>\n");
}

#[test]
fn cleared_map_prints_nothing() {
    let v = format_map(&info("@a", false, MS, 5, false), &[], 0, 1).unwrap();
    assert_eq!(text::map("@a", &v), "");
    assert_eq!(json::map("@a", &v), "");
}

#[test]
fn reduce_combines_cpus_of_the_latest_epoch_only() {
    let s = |value: u64, meta: u64, epoch: u64| Slot { value, meta, epoch };
    // Last value: the latest write (largest meta) of the latest epoch wins.
    let cpus = [s(7, 300, 4), s(8, 200, 4), s(99, 999, 3), s(0, 0, 0)];
    assert_eq!(tseries::reduce(&cpus, TseriesAgg::Last, false), (4, 7));
    // Sum and avg add up the copies of the latest epoch; avg divides by the counts.
    let cpus = [s(10, 2, 6), s(20, 3, 6), s(1000, 1, 5)];
    assert_eq!(tseries::reduce(&cpus, TseriesAgg::Sum, false), (6, 30));
    assert_eq!(tseries::reduce(&cpus, TseriesAgg::Avg, false), (6, 6));
    // Signed avg divides signed.
    let cpus = [s(-9i64 as u64, 2, 1), s(-1i64 as u64, 2, 1)];
    assert_eq!(
        tseries::reduce(&cpus, TseriesAgg::Avg, true),
        (1, -2i64 as u64)
    );
    // min/max compare by the value's signedness.
    let cpus = [s(-3i64 as u64, 1, 2), s(5, 1, 2)];
    assert_eq!(
        tseries::reduce(&cpus, TseriesAgg::Min, true),
        (2, -3i64 as u64)
    );
    assert_eq!(tseries::reduce(&cpus, TseriesAgg::Max, true), (2, 5));
    assert_eq!(tseries::reduce(&cpus, TseriesAgg::Min, false), (2, 5));
    // Never written: epoch 0, value 0.
    assert_eq!(
        tseries::reduce(&[Slot::default()], TseriesAgg::Last, false),
        (0, 0)
    );
    assert_eq!(
        Slot::from_bytes(&[
            1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0
        ]),
        s(1, 2, 3)
    );
}

#[test]
fn window_skips_old_buckets_and_marks_gaps() {
    // Buckets at epochs 3 (older than the window), 8 and 10; window of 4 ending at 10.
    let w = tseries::window(10, 4);
    assert_eq!(w, (7, 10));
    let s = tseries::series(&[(3, 1), (8, 2), (10, 4)], w, 1_000_000_000, false);
    assert_eq!(
        s.points,
        vec![
            (8_000_000_000, Some(Primitive::Uint(2))),
            (9_000_000_000, None),
            (10_000_000_000, Some(Primitive::Uint(4))),
        ]
    );
    // Whole seconds: no fraction in the ruler or the times.
    let chart = tseries::text(&s, &TimeZone::UTC);
    let bounds = format!("{}{:<21}{:>32}", " ".repeat(9), "2", "4");
    let expected = [
        &bounds,
        "hh:mm:ss |___________________________________________________|",
        "00:00:08 *                                                   | 2",
        "00:00:09 |                                                   | -",
        "00:00:10 |                                                   * 4",
        "         v___________________________________________________v",
        &bounds,
        "",
    ]
    .join("\n");
    assert_eq!(chart, expected);
}

#[test]
fn microsecond_ruler_pads_by_bytes_as_upstream() {
    // `μs` is two bytes: upstream's iostream padding leaves the ruler one column short.
    let s = tseries::series(&[(1, 5), (2, 5)], (1, 2), 10_000, true);
    let chart = tseries::text(&s, &TimeZone::UTC);
    let lines: Vec<&str> = chart.lines().collect();
    assert_eq!(
        lines[0],
        format!("{}{:<21}{:>32}", " ".repeat(16), "4", "6")
    );
    assert_eq!(lines[1], format!("hh:mm:ss.μs    |{}|", "_".repeat(51)));
    assert_eq!(
        lines[2],
        format!("00:00:00.000010 |{}*{}| 5", " ".repeat(25), " ".repeat(25))
    );
    assert_eq!(
        lines[3],
        format!("00:00:00.000020 |{}*{}| 5", " ".repeat(25), " ".repeat(25))
    );
}

#[test]
fn single_interval_in_nanoseconds_and_unsigned_bounds() {
    // One point: the interval is 0 (nanoseconds); 0 cannot go below 0 unsigned.
    let s = tseries::series(&[(1, 0)], (1, 1), 100, false);
    let chart = tseries::text(&s, &TimeZone::UTC);
    let lines: Vec<&str> = chart.lines().collect();
    assert_eq!(
        lines[0],
        format!("{}{:<21}{:>32}", " ".repeat(19), "0", "1")
    );
    assert_eq!(lines[1], format!("hh:mm:ss.ns        |{}|", "_".repeat(51)));
    assert_eq!(
        lines[2],
        format!("00:00:00.000000100 *{}| 0", " ".repeat(51))
    );
}

fn check(text: &str) -> kscope_lang::sema::Checked {
    let src = kscope_lang::SourceFile::new("t.bt".to_string(), text.to_string());
    kscope_lang::compile(&src, &Default::default(), &kscope_lang::sema::NoKernelTypes)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn types_carry_interval_count_and_aggregation() {
    use kscope_lang::sema::{AggKind, Type};
    let c = check(
        "config = { unstable_tseries = enable }\n\
         BEGIN { @a = tseries(-1, 100ms, 20, \"min\"); @b[pid] = tseries(pid, 1s, 5); \
         @c = tseries(1, 10us, 3, \"avg\"); @d = tseries(1, 7ns, 1000000, \"sum\"); \
         @e = tseries($1, 1ms, 1, \"max\"); }",
    );
    let agg = |name: &str| c.maps[name].value.clone();
    let ts = |interval_ns, num_intervals, agg| AggKind::Tseries {
        interval_ns,
        num_intervals,
        agg,
    };
    assert_eq!(
        agg("a"),
        Type::Agg(ts(100_000_000, 20, TseriesAgg::Min), true)
    );
    assert_eq!(
        agg("b"),
        Type::Agg(ts(1_000_000_000, 5, TseriesAgg::Last), false)
    );
    assert_eq!(c.maps["b"].keys.len(), 1);
    assert_eq!(agg("c"), Type::Agg(ts(10_000, 3, TseriesAgg::Avg), false));
    assert_eq!(
        agg("d"),
        Type::Agg(ts(7, 1_000_000, TseriesAgg::Sum), false)
    );
    assert_eq!(agg("e"), Type::Agg(ts(1_000_000, 1, TseriesAgg::Max), true));
    assert_eq!(agg("a").to_string(), "tseries_t");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn unstable_feature_warns_once_unless_enabled() {
    let c = check("BEGIN { @a = tseries(1, 1s, 5); @b = tseries(2, 1s, 5); }");
    let msgs: Vec<&str> = c.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(msgs, ["`tseries()` is an unstable feature"]);
    let c = check("config = { unstable_tseries = warn }\nBEGIN { @a = tseries(1, 1s, 5); }");
    assert_eq!(c.warnings.len(), 1);
}
