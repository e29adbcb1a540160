//! The page decoder on real sub-buffers captured from Linux 6.18 (`tests/data/pages/`, see
//! the README there), checked against the kernel's own account of each page: the number of
//! records it counted as read, the timestamp and pid of every record from its text output,
//! and the missed-events flag.

use std::fs;
use std::path::{Path, PathBuf};

use kscope_ftrace::page::{
    Endian, EntryKind, Missed, Page, PageFormat, PageLayout, Record, StreamItem, StreamRecords,
    read_stream,
};

/// One page's ground truth.
struct TruthPage {
    records: usize,
    missed: Option<Missed>,
    /// `(timestamp, pid)` of each record, from the kernel's text output.
    events: Vec<(u64, i32)>,
}

struct Corpus {
    page_size: usize,
    format: PageFormat,
    bytes: Vec<u8>,
    truth: Vec<TruthPage>,
}

impl Corpus {
    fn page(&self, n: usize) -> Page<'_> {
        let bytes = &self.bytes[n * self.page_size..(n + 1) * self.page_size];
        Page::parse(bytes, self.format).expect("a valid page")
    }

    fn records(&self, n: usize) -> Vec<Record<'_>> {
        self.page(n)
            .records()
            .collect::<Result<_, _>>()
            .expect("a valid page")
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pages")
}

const CORPORA: [&str; 3] = ["small-4k", "big-8k", "stamps-4k"];

fn load(name: &str) -> Corpus {
    let read = |ext: &str| dir().join(format!("{name}.{ext}"));
    let header = fs::read_to_string(read("header_page")).unwrap();
    let layout = PageLayout::parse(&header).unwrap();
    let bytes = fs::read(read("pages")).unwrap();
    let truth_text = fs::read_to_string(read("truth")).unwrap();
    let mut page_size = 0;
    let mut truth: Vec<TruthPage> = Vec::new();
    for line in truth_text.lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["page_size", n] => page_size = n.parse().unwrap(),
            [
                "page",
                _,
                "read_point",
                _,
                "records",
                n,
                "missed",
                m,
                "overrun",
                _,
            ] => truth.push(TruthPage {
                records: n.parse().unwrap(),
                missed: match *m {
                    "none" => None,
                    "unknown" => Some(Missed::Unknown),
                    n => Some(Missed::Count(n.parse().unwrap())),
                },
                events: Vec::new(),
            }),
            [ts, pid] => truth
                .last_mut()
                .unwrap()
                .events
                .push((ts.parse().unwrap(), pid.parse().unwrap())),
            _ => panic!("{name}.truth: bad line {line:?}"),
        }
    }
    assert_eq!(layout.subbuf_size(), Some(page_size), "{name}");
    assert_eq!(bytes.len(), truth.len() * page_size, "{name}");
    Corpus {
        page_size,
        format: PageFormat::new(layout, Endian::Little),
        bytes,
        truth,
    }
}

#[test]
fn every_captured_page_decodes_as_the_kernel_read_it() {
    let mut checked = 0;
    for name in CORPORA {
        let corpus = load(name);
        for (n, truth) in corpus.truth.iter().enumerate() {
            let page = corpus.page(n);
            assert_eq!(page.missed_events(), truth.missed, "{name} page {n}");
            let records = corpus.records(n);
            assert_eq!(records.len(), truth.records, "{name} page {n}");
            assert_eq!(truth.events.len(), truth.records, "{name} page {n}");
            for (i, (record, &(ts, pid))) in records.iter().zip(&truth.events).enumerate() {
                assert_eq!(record.timestamp, ts, "{name} page {n} record {i}");
                let common_pid = i32::from_le_bytes(record.payload[4..8].try_into().unwrap());
                assert_eq!(common_pid, pid, "{name} page {n} record {i}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 20 + 25 + 84 + 170 + 11 + 170 + 87);
}

/// Counts the entries of each kind in a corpus.
fn kinds(corpus: &Corpus) -> [usize; 6] {
    let mut k = [0; 6];
    for n in 0..corpus.truth.len() {
        let page = corpus.page(n);
        for entry in page.entries() {
            let entry = entry.unwrap();
            let i = match entry.kind {
                EntryKind::Data { .. } if entry.type_len == 0 => 0,
                EntryKind::Data { .. } => 1,
                EntryKind::Padding { .. } => 2,
                EntryKind::PaddingToEnd => 3,
                EntryKind::TimeExtend { .. } => 4,
                EntryKind::TimeStamp { .. } => 5,
            };
            k[i] += 1;
        }
    }
    k
}

#[test]
fn the_corpus_holds_every_kind_of_entry_and_both_missed_flags() {
    let small = load("small-4k");
    let big = load("big-8k");
    let stamps = load("stamps-4k");
    let [long, short, padding, _, extends, _] = kinds(&small);
    assert_eq!((long, short, padding, extends), (4, 295, 1, 1));
    let [long, _, padding, _, extends, _] = kinds(&big);
    assert_eq!((long, padding, extends), (2, 1, 0));
    let [_, _, _, _, _, time_stamps] = kinds(&stamps);
    assert_eq!(time_stamps, 1);
    let missed: Vec<_> = [&small, &big, &stamps]
        .iter()
        .flat_map(|c| (0..c.truth.len()).map(|n| c.page(n).missed_events()))
        .collect();
    assert!(missed.contains(&Some(Missed::Unknown)));
    assert!(missed.contains(&Some(Missed::Count(168))));
    assert!(missed.contains(&None));
}

#[test]
fn long_markers_are_type_len_0_records_and_the_page_ends_in_padding() {
    let corpus = load("small-4k");
    let page = corpus.page(0);
    assert_eq!(page.timestamp(), 2_258_572_298_929);
    assert_eq!(page.used_size(), 1556);
    let entries: Vec<_> = page.entries().map(Result::unwrap).collect();
    let long: Vec<_> = entries.iter().filter(|e| e.type_len == 0).collect();
    let lengths: Vec<usize> = long
        .iter()
        .map(|e| match e.kind {
            EntryKind::Data { payload } => payload.len(),
            _ => unreachable!(),
        })
        .collect();
    // `ftrace/print`: 16 header bytes, the text, "\n\0", rounded up to 4.
    assert_eq!(lengths, [140, 228, 320]);
    assert_eq!(long[0].offset_in_page, 276);
    assert_eq!(long[0].timestamp, 2_258_572_769_299);
    let EntryKind::Data { payload } = long[2].kind else {
        unreachable!()
    };
    assert_eq!(
        u16::from_le_bytes([payload[0], payload[1]]),
        5,
        "ftrace/print"
    );
    assert!(payload[16..].starts_with(b"cycle 1 marker 2 "));
    // The writer left the rest of the sub-buffer as an 8-byte discarded-style padding with
    // delta 1; the partial read copied it, so it ends exactly at the used size.
    let last = entries.last().unwrap();
    assert_eq!(last.offset_in_page, 1564);
    assert_eq!((last.type_len, last.time_delta), (29, 1));
    assert_eq!(last.kind, EntryKind::Padding { length: 8 });
    assert_eq!(last.offset_in_page + 8, 16 + page.used_size());
}

#[test]
fn a_sleep_of_1_3_seconds_is_a_time_extend() {
    let corpus = load("small-4k");
    let page = corpus.page(1);
    let entries: Vec<_> = page.entries().map(Result::unwrap).collect();
    let i = entries
        .iter()
        .position(|e| matches!(e.kind, EntryKind::TimeExtend { .. }))
        .unwrap();
    let extend = entries[i];
    assert_eq!(extend.offset_in_page, 248);
    assert_eq!(
        extend.kind,
        EntryKind::TimeExtend {
            delta: 1_300_129_157
        }
    );
    assert_eq!(extend.timestamp - entries[i - 1].timestamp, 1_300_129_157);
    // The extend carries the whole gap: the record after it (the switch to the woken
    // writer) has delta 0, at the time the kernel printed.
    assert_eq!(entries[i + 1].time_delta, 0);
    assert_eq!(entries[i + 1].timestamp, 2_263_828_386_717);
    let woke = corpus
        .records(1)
        .into_iter()
        .find(|r| r.payload.len() == 320)
        .unwrap();
    assert_eq!(woke.timestamp, 2_263_828_682_427);
    assert!(woke.payload[16..].starts_with(b"cycle 10 woke "));
}

#[test]
fn missed_events_with_a_stored_count_and_without() {
    let corpus = load("small-4k");
    let stored = corpus.page(2);
    assert_eq!(stored.missed_events(), Some(Missed::Count(168)));
    assert_eq!(stored.used_size(), 4032);
    // Bit 31 is added as a negative int on 64-bit kernels: the high half is all ones.
    assert_eq!(stored.commit_word(), 0xffff_ffff_c000_0fc0);

    let full = corpus.page(3);
    assert_eq!(full.missed_events(), Some(Missed::Unknown));
    assert_eq!(full.used_size(), 4080, "no room for the count");
    assert_eq!(full.commit_word(), 0xffff_ffff_8000_0ff0);
    let records = corpus.records(3);
    assert_eq!(records.len(), 170);
    assert!(records.iter().all(|r| r.payload.len() == 20));
    assert!(records.iter().all(|r| &r.payload[16..19] == b"x\n\0"));
}

#[test]
fn an_absolute_time_stamp_sets_the_time() {
    let corpus = load("stamps-4k");
    let page = corpus.page(0);
    let entries: Vec<_> = page.entries().map(Result::unwrap).collect();
    let i = entries
        .iter()
        .position(|e| matches!(e.kind, EntryKind::TimeStamp { .. }))
        .unwrap();
    let stamp = entries[i];
    assert_eq!(stamp.offset_in_page, 136);
    assert_eq!(
        stamp.kind,
        EntryKind::TimeStamp {
            raw: 2_265_889_278_768
        }
    );
    assert_eq!(stamp.timestamp, 2_265_889_278_768);
    // The record it belongs to has delta 0; the one before came 2674 ns earlier.
    assert_eq!(entries[i + 1].time_delta, 0);
    assert_eq!(entries[i + 1].timestamp, 2_265_889_278_768);
    assert_eq!(entries[i - 1].timestamp, 2_265_889_276_094);
}

#[test]
fn eight_kib_sub_buffers_hold_markers_near_the_4_kib_limit() {
    let corpus = load("big-8k");
    assert_eq!(corpus.page_size, 8192);
    assert_eq!(corpus.format.layout.data_size, Some(8176));
    let page = corpus.page(0);
    let long: Vec<usize> = corpus
        .records(0)
        .iter()
        .filter(|r| r.payload.len() > 112)
        .map(|r| r.payload.len())
        .collect();
    assert_eq!(long, [4020, 1020]);
    assert_eq!(page.used_size(), 6764);
    assert_eq!(corpus.page(1).missed_events(), Some(Missed::Count(1190)));
    assert_eq!(corpus.page(1).used_size(), 8160);
}

#[test]
fn a_corpus_file_reads_as_one_stream() {
    let corpus = load("small-4k");
    let stream = read_stream(&corpus.bytes, corpus.page_size, corpus.format).unwrap();
    assert_eq!(stream.pages, 4);
    assert_eq!(stream.records.len(), 20 + 25 + 84 + 170);
    assert_eq!(stream.lost.len(), 2);
    assert_eq!(stream.lost[0].page, 2);
    assert_eq!(stream.lost[0].before_record, 45);
    assert_eq!(stream.lost[0].missed, Missed::Count(168));
    assert_eq!(stream.lost[1].missed, Missed::Unknown);
    assert_eq!(stream.lost_total(), (168, true));
    // The streaming form gives the same records, each mark before its page's records.
    let items: Vec<StreamItem> = StreamRecords::new(&corpus.bytes, corpus.page_size, corpus.format)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(items.len(), stream.records.len() + 2);
    assert_eq!(
        items[45],
        StreamItem::Lost {
            page: 2,
            missed: Missed::Count(168)
        }
    );
}
