//! The page decoder on hand-built pages, one corner case each, and on random and mutated
//! pages (it must never panic nor loop).

use std::fs;
use std::path::Path;

use kscope_ftrace::page::{
    Endian, Entry, EntryKind, Missed, Page, PageError, PageFormat, PageLayout, Record, StreamItem,
    StreamRecords, read_stream,
};

/// Builds a sub-buffer the way the kernel lays one out.
struct PageBuilder {
    format: PageFormat,
    page_size: usize,
    timestamp: u64,
    data: Vec<u8>,
    flags: u64,
    stored_count: Option<u64>,
}

impl PageBuilder {
    fn new(format: PageFormat) -> PageBuilder {
        PageBuilder {
            format,
            page_size: 4096,
            timestamp: 0,
            data: Vec::new(),
            flags: 0,
            stored_count: None,
        }
    }

    fn le() -> PageBuilder {
        PageBuilder::new(PageFormat::new(PageLayout::default(), Endian::Little))
    }

    fn timestamp(mut self, ts: u64) -> Self {
        self.timestamp = ts;
        self
    }

    fn u32(&mut self, v: u32) {
        match self.format.endian {
            Endian::Little => self.data.extend_from_slice(&v.to_le_bytes()),
            Endian::Big => self.data.extend_from_slice(&v.to_be_bytes()),
        }
    }

    fn header(&mut self, type_len: u32, delta: u32) {
        assert!(type_len < 32 && delta < 1 << 27);
        let word = match self.format.endian {
            Endian::Little => type_len | (delta << 5),
            Endian::Big => (type_len << 27) | delta,
        };
        self.u32(word);
    }

    /// A record, with the length in the header when it fits (as the kernel writes them).
    fn record(mut self, delta: u32, payload: &[u8]) -> Self {
        let padded = payload.len().next_multiple_of(4).max(4);
        if padded <= 112 {
            self.header((padded / 4) as u32, delta);
            self.data.extend_from_slice(payload);
            self.data
                .resize(self.data.len() + padded - payload.len(), 0);
            self
        } else {
            self.long_record(delta, payload)
        }
    }

    /// A record with its length word (type_len 0).
    fn long_record(mut self, delta: u32, payload: &[u8]) -> Self {
        let padded = payload.len().next_multiple_of(4);
        self.header(0, delta);
        self.u32((padded + 4) as u32);
        self.data.extend_from_slice(payload);
        self.data
            .resize(self.data.len() + padded - payload.len(), 0);
        self
    }

    fn extend(mut self, delta: u64) -> Self {
        self.header(30, (delta & 0x7ff_ffff) as u32);
        self.u32((delta >> 27) as u32);
        self
    }

    fn stamp(mut self, abs: u64) -> Self {
        self.header(31, (abs & 0x7ff_ffff) as u32);
        self.u32((abs >> 27) as u32);
        self
    }

    /// A discarded event (or end-of-page filler) covering `length` bytes in all.
    fn padding(mut self, delta: u32, length: usize) -> Self {
        assert!(length >= 8 && delta != 0);
        self.header(29, delta);
        self.u32((length - 4) as u32);
        self.data.resize(self.data.len() + length - 8, 0xee);
        self
    }

    /// Padding with a zero delta: nothing after it counts.
    fn padding_to_end(mut self) -> Self {
        self.header(29, 0);
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Self {
        self.data.extend_from_slice(bytes);
        self
    }

    fn missed(mut self, count: Option<u64>) -> Self {
        // What a 64-bit kernel does: `local_add(1 << 31)` sign-extends.
        self.flags |= if self.format.layout.commit_size == 8 {
            0xffff_ffff_8000_0000
        } else {
            0x8000_0000
        };
        if let Some(n) = count {
            self.flags |= 1 << 30;
            self.stored_count = Some(n);
        }
        self
    }

    fn build(&self) -> Vec<u8> {
        let layout = self.format.layout;
        let mut page = vec![0u8; self.page_size];
        let put = |page: &mut Vec<u8>, at: usize, v: u64, size: usize| {
            let bytes = match self.format.endian {
                Endian::Little => v.to_le_bytes()[..size].to_vec(),
                Endian::Big => v.to_be_bytes()[8 - size..].to_vec(),
            };
            page[at..at + size].copy_from_slice(&bytes);
        };
        put(&mut page, layout.timestamp_offset, self.timestamp, 8);
        let commit = self.data.len() as u64 + self.flags;
        let commit = if layout.commit_size == 4 {
            commit & 0xffff_ffff
        } else {
            commit
        };
        put(&mut page, layout.commit_offset, commit, layout.commit_size);
        let start = layout.data_offset;
        page[start..start + self.data.len()].copy_from_slice(&self.data);
        if let Some(n) = self.stored_count {
            put(&mut page, start + self.data.len(), n, layout.commit_size);
        }
        page
    }
}

fn records(page: &[u8], format: PageFormat) -> Vec<Record<'_>> {
    Page::parse(page, format)
        .unwrap()
        .records()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn entries(page: &[u8], format: PageFormat) -> Vec<Entry<'_>> {
    Page::parse(page, format)
        .unwrap()
        .entries()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn le() -> PageFormat {
    PageFormat::new(PageLayout::default(), Endian::Little)
}

fn error_of(page: &[u8], format: PageFormat) -> PageError {
    match Page::parse(page, format) {
        Err(e) => e,
        Ok(p) => p
            .entries()
            .find_map(Result::err)
            .expect("the page should be rejected"),
    }
}

#[test]
fn every_in_header_length_from_1_to_28_words() {
    let mut b = PageBuilder::le().timestamp(1_000);
    for words in 1..=28u32 {
        let payload: Vec<u8> = (0..words * 4).map(|i| i as u8).collect();
        b = b.record(words, &payload);
    }
    let page = b.build();
    let got = records(&page, le());
    assert_eq!(got.len(), 28);
    let mut ts = 1_000;
    let mut offset = 16;
    for (i, r) in got.iter().enumerate() {
        let words = i as u64 + 1;
        ts += words;
        assert_eq!(r.timestamp, ts);
        assert_eq!(r.payload.len() as u64, words * 4);
        assert_eq!(r.payload[..4], [0, 1, 2, 3]);
        assert_eq!(r.offset_in_page, offset);
        offset += 4 + words as usize * 4;
    }
    let page = Page::parse(&page, le()).unwrap();
    assert_eq!(page.used_size(), offset - 16);
    assert_eq!(page.missed_events(), None);
}

#[test]
fn a_type_len_0_record_counts_its_length_word() {
    let payload = vec![7u8; 200];
    let page = PageBuilder::le()
        .long_record(3, &payload)
        .long_record(4, b"tiny")
        .record(5, b"last")
        .build();
    let e = entries(&page, le());
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].type_len, 0);
    // The length word is 204 = 200 + its own 4 bytes; the payload follows it.
    assert_eq!(u32::from_le_bytes(page[20..24].try_into().unwrap()), 204);
    assert_eq!(e[0].kind, EntryKind::Data { payload: &payload });
    assert_eq!(e[1].offset_in_page, 16 + 8 + 200);
    assert_eq!(e[1].kind, EntryKind::Data { payload: b"tiny" });
    assert_eq!(e[2].timestamp, 12);
}

#[test]
fn an_unaligned_length_word_gives_the_exact_payload_and_an_aligned_next_event() {
    // array[0] = 4 + 5: five payload bytes, the next event 4-byte aligned after them.
    let page = PageBuilder::le()
        .raw(&[0, 0, 0, 0, 9, 0, 0, 0])
        .raw(b"hello\0\0\0")
        .record(1, b"next")
        .build();
    let got = records(&page, le());
    assert_eq!(got[0].payload, b"hello");
    assert_eq!(got[1].payload, b"next");
    assert_eq!(got[1].offset_in_page, 16 + 8 + 8);
}

#[test]
fn padding_with_zero_delta_ends_the_page() {
    let page = PageBuilder::le()
        .record(1, b"abcd")
        .padding_to_end()
        .raw(&[0xff; 12]) // inside `commit`, but after the end marker: never decoded
        .build();
    let e = entries(&page, le());
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].kind, EntryKind::PaddingToEnd);
    assert_eq!(e[1].offset_in_page, 24);
    assert_eq!(records(&page, le()).len(), 1);
}

#[test]
fn a_discarded_event_is_skipped_but_its_delta_counts() {
    let page = PageBuilder::le()
        .timestamp(100)
        .record(10, b"one.")
        .padding(7, 24)
        .record(5, b"two.")
        .build();
    let e = entries(&page, le());
    assert_eq!(e[1].kind, EntryKind::Padding { length: 24 });
    assert_eq!(e[1].timestamp, 117);
    let got = records(&page, le());
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].payload, b"two.");
    // 100 + 10, + 7 for the discarded event, + 5 (as trace-cmd computes it).
    assert_eq!(got[1].timestamp, 122);
    assert_eq!(got[1].offset_in_page, 16 + 8 + 24);
}

#[test]
fn end_of_page_filler_is_padding_up_to_the_used_size() {
    let page = PageBuilder::le()
        .record(2, b"abcd")
        .padding(1, 4072)
        .build();
    let p = Page::parse(&page, le()).unwrap();
    assert_eq!(p.used_size(), 4080);
    let e = entries(&page, le());
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].kind, EntryKind::Padding { length: 4072 });
}

#[test]
fn a_time_extend_adds_its_59_bit_delta() {
    let big = 5 * 1_000_000_000 + 123; // 5 s: far more than 27 bits
    let page = PageBuilder::le()
        .timestamp(7)
        .record(1, b"abcd")
        .extend(big)
        .record(0, b"efgh")
        .record(2, b"ijkl")
        .build();
    let got = records(&page, le());
    assert_eq!(got[0].timestamp, 8);
    assert_eq!(got[1].timestamp, 8 + big);
    assert_eq!(got[2].timestamp, 10 + big);
    let e = entries(&page, le());
    assert_eq!(e[1].kind, EntryKind::TimeExtend { delta: big });
    assert_eq!(got[1].offset_in_page, 16 + 8 + 8);
}

#[test]
fn a_time_stamp_replaces_the_time() {
    let page = PageBuilder::le()
        .timestamp(1_000_000)
        .record(5, b"abcd")
        .stamp(900_000) // absolute, even backwards
        .record(0, b"efgh")
        .record(3, b"ijkl")
        .build();
    let got = records(&page, le());
    assert_eq!(
        got.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [1_000_005, 900_000, 900_003]
    );
    assert_eq!(
        entries(&page, le())[1].kind,
        EntryKind::TimeStamp { raw: 900_000 }
    );
}

#[test]
fn a_time_stamp_takes_its_top_5_bits_from_the_running_time() {
    let top = 0xa8u64 << 56; // a clock with the top bits set
    let low = (1u64 << 59) - 1;
    // Same top bits.
    let page = PageBuilder::le()
        .timestamp(top | 1_000)
        .stamp(2_000)
        .record(0, b"abcd")
        .build();
    assert_eq!(records(&page, le())[0].timestamp, top | 2_000);
    // The 59-bit value wrapped since the running time: carry into the top bits.
    let page = PageBuilder::le()
        .timestamp(top | (low - 10))
        .stamp(5)
        .record(0, b"abcd")
        .build();
    assert_eq!(records(&page, le())[0].timestamp, (top | 5) + (1 << 59));
    // No top bits: the value is used as it is.
    let page = PageBuilder::le()
        .timestamp(10)
        .stamp(low)
        .record(0, b"abcd")
        .build();
    assert_eq!(records(&page, le())[0].timestamp, low);
}

#[test]
fn big_endian_pages_keep_type_len_in_the_high_bits() {
    let be = PageFormat::new(PageLayout::default(), Endian::Big);
    let build = |format| {
        PageBuilder::new(format)
            .timestamp(0x0102_0304_0506_0708)
            .record(9, b"abcd")
            .long_record(1, &[1; 130])
            .extend(1 << 40)
            .padding(2, 12)
            .record(3, b"efgh")
            .missed(Some(77))
            .build()
    };
    let be_page = build(be);
    // Header word of the first record: type_len 1 in the top 5 bits, delta 9 below.
    assert_eq!(be_page[16..20], ((1u32 << 27) | 9).to_be_bytes());
    let le_page = build(le());
    assert_eq!(le_page[16..20], (1u32 | (9 << 5)).to_le_bytes());
    let a = entries(&be_page, be);
    let b = entries(&le_page, le());
    assert_eq!(a, b);
    assert_eq!(a.len(), 5);
    assert_eq!(
        a[4].timestamp,
        0x0102_0304_0506_0708 + 9 + 1 + (1 << 40) + 2 + 3
    );
    let p = Page::parse(&be_page, be).unwrap();
    assert_eq!(p.missed_events(), Some(Missed::Count(77)));
    assert_eq!(p.timestamp(), 0x0102_0304_0506_0708);
}

#[test]
fn thirty_two_bit_kernels_have_a_4_byte_commit() {
    let text = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
                \tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n\
                \tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
                \tfield: char data;\toffset:12;\tsize:4084;\tsigned:0;\n";
    let layout = PageLayout::parse(text).unwrap();
    assert_eq!(layout, PageLayout::for_long_size(4).with_data_size(4084));
    assert_eq!(layout.subbuf_size(), Some(4096));
    for endian in [Endian::Little, Endian::Big] {
        let format = PageFormat::new(layout, endian);
        let page = PageBuilder::new(format)
            .timestamp(50)
            .record(1, b"abcd")
            .missed(Some(3))
            .build();
        let p = Page::parse(&page, format).unwrap();
        assert_eq!(p.used_size(), 8);
        assert_eq!(p.missed_events(), Some(Missed::Count(3)));
        let got = records(&page, format);
        assert_eq!(got[0].offset_in_page, 12);
        assert_eq!(got[0].timestamp, 51);
    }
}

#[test]
fn missed_flags() {
    let page = PageBuilder::le().record(1, b"abcd").missed(None).build();
    let p = Page::parse(&page, le()).unwrap();
    assert_eq!(p.missed_events(), Some(Missed::Unknown));
    assert_eq!(p.used_size(), 8);
    let page = PageBuilder::le()
        .record(1, b"abcd")
        .missed(Some(12345))
        .build();
    assert_eq!(
        Page::parse(&page, le()).unwrap().missed_events(),
        Some(Missed::Count(12345))
    );
    // Bits 27-29 and the stored flag without the missed flag carry nothing.
    let mut page = PageBuilder::le().record(1, b"abcd").build();
    page[8..16].copy_from_slice(&(8u64 | 7 << 27 | 1 << 30).to_le_bytes());
    let p = Page::parse(&page, le()).unwrap();
    assert_eq!((p.used_size(), p.missed_events()), (8, None));
}

#[test]
fn an_empty_page_has_no_records() {
    let page = vec![0u8; 4096];
    let p = Page::parse(&page, le()).unwrap();
    assert_eq!(p.used_size(), 0);
    assert_eq!(p.records().count(), 0);
    assert!(p.data().is_empty());
}

#[test]
fn corrupt_pages_name_the_offset() {
    // Shorter than the header.
    let e = error_of(&[0u8; 10], le());
    assert_eq!(
        e,
        PageError::ShortHeader {
            len: 10,
            needed: 16
        }
    );
    assert_eq!(e.offset_in_page(), Some(0));

    // commit claims more than the page holds.
    let mut page = vec![0u8; 64];
    page[8..16].copy_from_slice(&100u64.to_le_bytes());
    let e = error_of(&page, le());
    assert_eq!(e.offset_in_page(), Some(8));
    assert!(e.to_string().contains("100 bytes are used"), "{e}");

    // The stored missed count does not fit.
    let mut page = PageBuilder::le().record(1, b"abcd").missed(Some(1)).build();
    page.truncate(16 + 8 + 4);
    let e = error_of(&page, le());
    assert_eq!(
        e,
        PageError::MissedCountOutOfPage {
            offset: 24,
            size: 8,
            len: 28
        }
    );

    // A record longer than the used part.
    let mut page = PageBuilder::le()
        .record(1, b"abcd")
        .record(1, b"efgh")
        .build();
    page[8..16].copy_from_slice(&12u64.to_le_bytes()); // cut inside the second record
    let e = error_of(&page, le());
    assert_eq!(
        e,
        PageError::Truncated {
            offset: 24,
            type_len: 1,
            needed: 8,
            available: 4
        }
    );
    assert!(e.to_string().contains("offset 24"), "{e}");

    // A length word smaller than itself.
    let page = PageBuilder::le().raw(&[0, 0, 0, 0, 3, 0, 0, 0]).build();
    assert_eq!(
        error_of(&page, le()),
        PageError::BadLength {
            offset: 16,
            length: 3
        }
    );

    // A time extend, a time stamp, a padding and a long record cut after their header.
    for type_len in [30u8, 31, 29, 0] {
        let word = u32::from(type_len) | (1 << 5);
        let page = PageBuilder::le()
            .record(1, b"abcd")
            .raw(&word.to_le_bytes())
            .build();
        let e = error_of(&page, le());
        assert_eq!(e.offset_in_page(), Some(24), "type_len {type_len}: {e}");
    }

    // A discarded event longer than what is left.
    let page = PageBuilder::le()
        .raw(&[29 | 1 << 5, 0, 0, 0, 200, 0, 0, 0])
        .build();
    let e = error_of(&page, le());
    assert!(
        matches!(
            e,
            PageError::Truncated {
                offset: 16,
                needed: 204,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn odd_layouts_are_errors_not_panics() {
    let page = PageBuilder::le().record(1, b"abcd").build();
    let odd = [
        PageLayout {
            commit_size: 2,
            ..PageLayout::default()
        },
        PageLayout {
            data_offset: usize::MAX,
            ..PageLayout::default()
        },
        PageLayout {
            timestamp_offset: usize::MAX - 3,
            commit_offset: usize::MAX,
            ..PageLayout::default()
        },
    ];
    for layout in odd {
        let format = PageFormat::new(layout, Endian::Little);
        assert!(Page::parse(&page, format).is_err(), "{layout:?}");
        assert!(read_stream(&page, 4096, format).is_err());
    }
    let huge = "\tfield: u64 timestamp;\toffset:18446744073709551615;\tsize:8;\tsigned:0;\n\
                \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
                \tfield: char data;\toffset:16;\tsize:18446744073709551615;\tsigned:0;\n";
    let layout = PageLayout::parse(huge).unwrap();
    assert_eq!(layout.subbuf_size(), None);
    assert!(Page::parse(&page, PageFormat::new(layout, Endian::Little)).is_err());
}

#[test]
fn records_stop_after_the_first_error() {
    let mut page = PageBuilder::le()
        .record(1, b"abcd")
        .raw(&[0, 0, 0, 0, 1, 0, 0, 0])
        .build();
    page.truncate(4096);
    let p = Page::parse(&page, le()).unwrap();
    let items: Vec<_> = p.records().collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(items[1].is_err());
}

#[test]
fn header_page_text_errors_name_the_line() {
    let e = PageLayout::parse("\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\nbogus\n")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "header_page line 2: expected a `field:` line, found \"bogus\""
    );
    let e =
        PageLayout::parse("\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n").unwrap_err();
    assert_eq!(e.to_string(), "header_page line 0: no `commit` field");
    let e =
        PageLayout::parse("\tfield: local_t commit;\toffset:8;\tsize:2;\tsigned:1;\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("header_page line 1: the commit word"),
        "{e}"
    );
    let e = PageLayout::parse("\tfield: char data;\toffset:x;\tsize:1;\tsigned:1;\n").unwrap_err();
    assert!(e.to_string().contains("bad offset"), "{e}");
}

#[test]
fn a_stream_of_pages() {
    let p0 = PageBuilder::le()
        .timestamp(10)
        .record(1, b"aaaa")
        .record(1, b"bbbb")
        .build();
    let p1 = PageBuilder::le()
        .timestamp(20)
        .record(1, b"cccc")
        .missed(Some(4))
        .build();
    let p2 = PageBuilder::le().timestamp(30).missed(None).build();
    let stream = [p0, p1, p2].concat();
    let decoded = read_stream(&stream, 4096, le()).unwrap();
    assert_eq!(decoded.pages, 3);
    let ts: Vec<u64> = decoded.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, [11, 12, 21]);
    assert_eq!(decoded.lost.len(), 2);
    assert_eq!(
        (decoded.lost[0].page, decoded.lost[0].before_record),
        (1, 2)
    );
    assert_eq!(
        (decoded.lost[1].page, decoded.lost[1].before_record),
        (2, 3)
    );
    assert_eq!(decoded.lost_total(), (4, true));

    // A partial page at the end.
    let e = read_stream(&stream[..4096 + 100], 4096, le()).unwrap_err();
    assert_eq!(
        e,
        PageError::PartialPage {
            offset: 4096,
            len: 100,
            page_size: 4096
        }
    );
    // A bad page names the page, its offset in the stream and the offset in the page.
    let mut bad = stream.clone();
    bad[8192 + 8..8192 + 16].copy_from_slice(&5000u64.to_le_bytes());
    let items: Vec<_> = StreamRecords::new(&bad, 4096, le()).collect();
    assert!(matches!(items[0], Ok(StreamItem::Record { page: 0, .. })));
    let e = items.last().unwrap().clone().unwrap_err();
    assert!(
        matches!(
            e,
            PageError::InStream {
                page: 2,
                page_offset: 8192,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.offset_in_page(), Some(8));
    assert!(
        e.to_string()
            .starts_with("page 2 (at offset 8192 of the stream): "),
        "{e}"
    );
    assert_eq!(items.len(), 5, "no item after the error");
}

// ---------------------------------------------------------------------------------------
// Never panic, never loop.

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Decodes a page fully: entries and records, through a stream too. Checks that iteration
/// ends within one step per 4 bytes.
fn exercise(page: &[u8], format: PageFormat) {
    if let Ok(p) = Page::parse(page, format) {
        let limit = page.len() / 4 + 2;
        assert!(p.entries().take(limit + 1).count() <= limit, "entries loop");
        assert!(p.records().take(limit + 1).count() <= limit, "records loop");
        let _ = p.missed_events();
        let _ = p.data();
    }
    let _ = read_stream(page, 4096.min(page.len().max(1)), format);
}

fn formats() -> Vec<PageFormat> {
    let mut out = Vec::new();
    for endian in [Endian::Little, Endian::Big] {
        for long in [8, 4] {
            out.push(PageFormat::new(PageLayout::for_long_size(long), endian));
        }
    }
    out
}

#[test]
fn random_bytes_never_panic_nor_loop() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let len = match round % 4 {
            0 => rng.below(64),
            _ => 4096,
        };
        let mut page: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Plausible commits most of the time, so events get decoded.
        if len > 16 && round % 2 == 0 {
            let commit = rng.below(len - 16) as u64 | (rng.next() & 0xc000_0000);
            page[8..16].copy_from_slice(&commit.to_le_bytes());
        }
        for format in formats() {
            exercise(&page, format);
        }
    }
}

#[test]
fn mutated_real_pages_never_panic_nor_loop() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pages");
    let mut pages = Vec::new();
    for (name, size) in [("small-4k", 4096), ("big-8k", 8192), ("stamps-4k", 4096)] {
        let bytes = fs::read(dir.join(format!("{name}.pages"))).unwrap();
        pages.extend(bytes.chunks(size).map(<[u8]>::to_vec));
    }
    let mut rng = Rng(42);
    for round in 0..4000 {
        let mut page = pages[round % pages.len()].clone();
        match round % 5 {
            // Flip a few bytes in the events.
            0 | 1 => {
                for _ in 0..1 + rng.below(8) {
                    let at = 16 + rng.below(page.len() - 16);
                    page[at] ^= 1 << rng.below(8);
                }
            }
            // Scramble one event header word.
            2 => {
                let at = 16 + rng.below((page.len() - 20) / 4) * 4;
                page[at..at + 4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            // A random commit word.
            3 => {
                let commit = rng.next() & (0xffff_ffff_c000_0000 | rng.below(page.len()) as u64);
                page[8..16].copy_from_slice(&commit.to_le_bytes());
            }
            // Cut the page anywhere.
            _ => page.truncate(rng.below(page.len())),
        }
        for format in formats() {
            exercise(&page, format);
        }
    }
}
