//! Byte layout of what the writer produces, against hand-computed bytes and bytes taken
//! from files trace-cmd 3.1.6 wrote on this kernel.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use super::encode::{self, CpuExtent, Enc, Order, Strings, align_up};
use super::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tracedat_write");

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}/{name}")).expect("test data")
}

fn meta(cpus: u32) -> Metadata {
    Metadata {
        header_page: data("header_page"),
        header_event: data("header_event"),
        ftrace_formats: vec![data("ftrace_print.format")],
        event_formats: vec![("sched".into(), vec![data("sched_switch.format")])],
        kallsyms: "ffffffff81000000 T _stext\n".into(),
        printk_formats: "0xffffffff82000000 : \"hi\\n\"\n".into(),
        cmdlines: "1 init\n".into(),
        uname: "Linux h 6.18.0 x86_64".into(),
        trace_clock: "local".into(),
        trace_clocks: vec!["local".into(), "global".into()],
        cpu_count: cpus,
        cpu_stats: (0..cpus).map(|_| "entries: 0\n".to_string()).collect(),
        buffer_name: String::new(),
        version: None,
    }
}

fn opts(version: FileVersion, compression: Compression) -> WriterOptions {
    WriterOptions {
        version,
        compression,
        page_size: 4096,
        subbuf_size: 4096,
        long_size: 8,
        ..WriterOptions::default()
    }
}

/// A page whose data is `n` records of 4 bytes, each holding `tag`, `cpu` and `index`.
fn page(cpu: u8, index: u16, tag: u8) -> Vec<u8> {
    let mut p = vec![0u8; 4096];
    p[..8].copy_from_slice(&(1_000 + u64::from(index)).to_le_bytes());
    let mut at = 16;
    for i in 0..(8 + index % 5) {
        p[at..at + 4].copy_from_slice(&(1u32 | 3 << 5).to_le_bytes());
        p[at + 4..at + 8].copy_from_slice(&[tag, cpu, index as u8, i as u8]);
        at += 8;
    }
    p[8..16].copy_from_slice(&((at - 16) as u64).to_le_bytes());
    p
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn cstr_at(b: &[u8], at: usize) -> (&str, usize) {
    let end = at + b[at..].iter().position(|&c| c == 0).unwrap();
    (std::str::from_utf8(&b[at..end]).unwrap(), end + 1)
}

/// A section of a v7 file: (id, flags, description id, payload as stored).
#[derive(Debug)]
struct Section<'a> {
    at: usize,
    id: u16,
    flags: u16,
    desc: u32,
    payload: &'a [u8],
}

/// The sections of a v7 file, walked one after the other from the end of the header.
fn sections(file: &[u8]) -> (usize, Vec<Section<'_>>) {
    let (_, after_name) = cstr_at(file, 18);
    let (_, after_version) = cstr_at(file, after_name);
    let options = u64_at(file, after_version) as usize;
    let mut at = after_version + 8;
    let mut out = Vec::new();
    while at < file.len() {
        let size = u64_at(file, at + 8) as usize;
        out.push(Section {
            at,
            id: u16_at(file, at),
            flags: u16_at(file, at + 2),
            desc: u32_at(file, at + 4),
            payload: &file[at + 16..at + 16 + size],
        });
        at += 16 + size;
    }
    (options, out)
}

/// `{u32 compressed, u32 size, data}` → data.
fn inflate(payload: &[u8]) -> Vec<u8> {
    let csize = u32_at(payload, 0) as usize;
    let size = u32_at(payload, 4) as usize;
    assert_eq!(payload.len(), 8 + csize);
    let out = zstd::bulk::decompress(&payload[8..], size).unwrap();
    assert_eq!(out.len(), size);
    out
}

/// The options of an options block: (id, data).
fn options_of(block: &[u8], v6: bool) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let id = u16_at(block, at);
        if v6 && id == 0 {
            break;
        }
        let size = u32_at(block, at + 2) as usize;
        out.push((id, &block[at + 6..at + 6 + size]));
        at += 6 + size;
        if id == 0 {
            assert_eq!(at, block.len(), "DONE ends the section");
            break;
        }
    }
    out
}

fn extents_of(buffer: &[u8]) -> (u64, String, String, u32, Vec<CpuExtent>) {
    let offset = u64_at(buffer, 0);
    let (name, at) = cstr_at(buffer, 8);
    let (clock, at) = cstr_at(buffer, at);
    let subbuf = u32_at(buffer, at);
    let n = u32_at(buffer, at + 4) as usize;
    let cpus = (0..n)
        .map(|i| {
            let p = at + 8 + 20 * i;
            CpuExtent {
                cpu: u32_at(buffer, p),
                offset: u64_at(buffer, p + 4),
                size: u64_at(buffer, p + 12),
            }
        })
        .collect();
    (offset, name.into(), clock.into(), subbuf, cpus)
}

fn write_all(options: WriterOptions, m: Metadata, pages: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut w = TraceDatWriter::new(Cursor::new(Vec::new()), options, m).unwrap();
    for (cpu, p) in pages {
        w.write_page(*cpu, p).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn the_prefix_is_magic_tracing_version_endian_long_and_page_size() {
    assert_eq!(
        encode::prefix(Order::Little, 7, 8, 4096),
        [
            0x17, 0x08, 0x44, b't', b'r', b'a', b'c', b'i', b'n', b'g', b'7', 0, 0, 8, 0, 0x10, 0,
            0
        ]
    );
    assert_eq!(
        encode::prefix(Order::Big, 6, 4, 8192),
        [
            0x17, 0x08, 0x44, b't', b'r', b'a', b'c', b'i', b'n', b'g', b'6', 0, 1, 4, 0, 0, 0x20,
            0
        ]
    );
}

#[test]
fn a_section_header_is_id_flags_description_size() {
    assert_eq!(
        encode::section_header(Order::Little, 16, 1, 8, 451),
        [16, 0, 1, 0, 8, 0, 0, 0, 0xc3, 0x01, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        encode::section_header(Order::Big, 3, 0, 0x0102_0304, 0x0a0b),
        [0, 3, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b]
    );
}

#[test]
fn an_option_is_id_size_data() {
    let mut e = Enc::new(Order::Little);
    encode::option(&mut e, option::CPUCOUNT, &2u32.to_le_bytes()).unwrap();
    encode::option(&mut e, option::UNAME, b"x\0").unwrap();
    assert_eq!(
        e.bytes,
        [8, 0, 4, 0, 0, 0, 2, 0, 0, 0, 5, 0, 2, 0, 0, 0, b'x', 0]
    );
}

#[test]
fn the_buffer_option_matches_trace_cmds() {
    // The BUFFER option of a file trace-cmd 3.1.6 wrote here (`--compression none`).
    let theirs: &[u8] = &[
        0x03, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x25, 0x94, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x10, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let cpus = [
        CpuExtent {
            cpu: 0,
            offset: 172032,
            size: 40960,
        },
        CpuExtent {
            cpu: 1,
            offset: 212992,
            size: 69632,
        },
    ];
    let data = encode::buffer_option_v7(Order::Little, 168997, "", "local", 4096, &cpus).unwrap();
    let mut e = Enc::new(Order::Little);
    encode::option(&mut e, option::BUFFER, &data).unwrap();
    assert_eq!(e.bytes, theirs);
}

#[test]
fn the_v6_flyrecord_block_matches_trace_cmds() {
    // From a v6 file trace-cmd 3.1.6 wrote here.
    let mut theirs = b"flyrecord\0".to_vec();
    for v in [0x26000u64, 0x5000, 0x2b000, 0x4000, 7] {
        theirs.extend_from_slice(&v.to_le_bytes());
    }
    theirs.extend_from_slice(b"[local]");
    let cpus = [
        CpuExtent {
            cpu: 0,
            offset: 0x26000,
            size: 0x5000,
        },
        CpuExtent {
            cpu: 1,
            offset: 0x2b000,
            size: 0x4000,
        },
    ];
    assert_eq!(encode::flyrecord_v6(Order::Little, &cpus, "local"), theirs);
    assert_eq!(encode::flyrecord_v6_len(2, "local"), theirs.len());
}

#[test]
fn metadata_blocks_have_their_size_fields() {
    let hi = encode::header_info(Order::Little, "ab", "cde");
    assert_eq!(
        hi,
        [
            b"header_page\0".as_slice(),
            &2u64.to_le_bytes(),
            b"ab",
            b"header_event\0",
            &3u64.to_le_bytes(),
            b"cde"
        ]
        .concat()
    );
    let f = encode::ftrace_formats(Order::Little, &["x".into(), "yz".into()]).unwrap();
    assert_eq!(
        f,
        [
            &2u32.to_le_bytes()[..],
            &1u64.to_le_bytes(),
            b"x",
            &2u64.to_le_bytes(),
            b"yz"
        ]
        .concat()
    );
    let e = encode::event_formats(Order::Little, &[("sched".into(), vec!["f".into()])]).unwrap();
    assert_eq!(
        e,
        [
            &1u32.to_le_bytes()[..],
            b"sched\0",
            &1u32.to_le_bytes(),
            &1u64.to_le_bytes(),
            b"f"
        ]
        .concat()
    );
    assert_eq!(
        encode::text32(Order::Little, "kal", "kallsyms").unwrap(),
        [&3u32.to_le_bytes()[..], b"kal"].concat()
    );
    assert_eq!(
        encode::text64(Order::Little, "1 a\n"),
        [&4u64.to_le_bytes()[..], b"1 a\n"].concat()
    );
    // trace-cmd's HEADER_INFO section for these 205-byte texts is 451 bytes.
    assert_eq!(
        encode::header_info(Order::Little, &data("header_page"), &data("header_event")).len(),
        451
    );
}

#[test]
fn string_ids_are_offsets_like_trace_cmds() {
    let mut s = Strings::default();
    // trace-cmd's description ids for its first six sections: 0, 8, 22, 36, 45, 52.
    let ids: Vec<u32> = [
        "headers",
        "ftrace events",
        "events format",
        "kallsyms",
        "printk",
        "command lines",
    ]
    .iter()
    .map(|d| s.id(d).unwrap())
    .collect();
    assert_eq!(ids, [0, 8, 22, 36, 45, 52]);
    assert_eq!(s.id("kallsyms").unwrap(), 36, "a known string keeps its id");
    assert!(s.id("a\0b").is_err());
}

#[test]
fn trace_clock_text_is_the_kernel_files() {
    let all: Vec<String> = ["local", "global", "mono"].map(String::from).to_vec();
    assert_eq!(
        encode::trace_clock_text("global", &all),
        "local [global] mono\n"
    );
    assert_eq!(encode::trace_clock_text("boot", &[]), "[boot]\n");
}

#[test]
fn v7_uncompressed_layout() {
    let pages = vec![
        (1, page(1, 0, 0xa1)),
        (0, page(0, 0, 0xa0)),
        (1, page(1, 1, 0xa1)),
    ];
    let file = write_all(opts(FileVersion::V7, Compression::None), meta(2), &pages);
    assert_eq!(
        &file[..18],
        encode::prefix(Order::Little, 7, 8, 4096).as_slice()
    );
    assert_eq!(&file[18..24], b"none\0\0");
    let (options_at, secs) = sections(&file);
    let ids: Vec<u16> = secs.iter().map(|s| s.id).collect();
    assert_eq!(ids, [16, 17, 18, 19, 20, 3, 21, 0, 15]);
    assert_eq!(secs[0].at, 32, "the first section follows the header");
    assert!(secs.iter().all(|s| s.flags == 0));
    let strings = secs[8].payload;
    let desc = |s: &Section| cstr_at(strings, s.desc as usize).0.to_string();
    let descs: Vec<String> = secs.iter().map(desc).collect();
    assert_eq!(
        descs,
        [
            "headers",
            "ftrace events",
            "events format",
            "kallsyms",
            "printk",
            "buffer flyrecord ",
            "command lines",
            "options",
            "strings"
        ]
    );
    assert_eq!(options_at, secs[7].at);
    assert_eq!(
        secs[6].payload,
        encode::text64(Order::Little, "1 init\n").as_slice()
    );

    let opts = options_of(secs[7].payload, false);
    let ids: Vec<u16> = opts.iter().map(|o| o.0).collect();
    assert_eq!(ids, [16, 17, 18, 19, 20, 4, 5, 2, 2, 21, 8, 3, 0]);
    for (i, id) in [16u16, 17, 18, 19, 20].iter().enumerate() {
        assert_eq!(opts[i].1, (secs[i].at as u64).to_le_bytes(), "option {id}");
    }
    assert_eq!(opts[5].1, b"[local] global\n\0");
    assert_eq!(opts[6].1, b"Linux h 6.18.0 x86_64\0");
    assert_eq!(opts[7].1, b"CPU: 0\nentries: 0\n\0");
    assert_eq!(opts[8].1, b"CPU: 1\nentries: 0\n\0");
    assert_eq!(opts[9].1, (secs[6].at as u64).to_le_bytes());
    assert_eq!(opts[10].1, 2u32.to_le_bytes());
    assert_eq!(opts[12].1, 0u64.to_le_bytes(), "DONE: no further options");

    let (section, name, clock, subbuf, cpus) = extents_of(opts[11].1);
    assert_eq!(section as usize, secs[5].at);
    assert_eq!((name.as_str(), clock.as_str(), subbuf), ("", "local", 4096));
    let buffer_end = secs[5].at + 16 + secs[5].payload.len();
    assert_eq!(cpus.len(), 2);
    assert_eq!(cpus[0].offset % 4096, 0);
    assert_eq!(cpus[1].offset % 4096, 0);
    let cpu_bytes = |c: &CpuExtent| &file[c.offset as usize..(c.offset + c.size) as usize];
    assert_eq!(cpu_bytes(&cpus[0]), pages[1].1.as_slice());
    assert_eq!(
        cpu_bytes(&cpus[1]),
        [pages[0].1.clone(), pages[2].1.clone()].concat()
    );
    let data_end = cpus.iter().map(|c| c.offset + c.size).max().unwrap() as usize;
    assert_eq!(
        data_end, buffer_end,
        "the BUFFER section ends with the data"
    );
    // The padding after the BUFFER section header is zeros.
    let first = cpus.iter().map(|c| c.offset).min().unwrap() as usize;
    // Zeros (padding, or the room CPU 1 left, still buffered, when CPU 0 started after
    // it) up to the first CPU's data.
    assert!(file[secs[5].at + 16..first].iter().all(|&b| b == 0));
}

#[test]
fn v7_zstd_layout() {
    let mut pages = Vec::new();
    for i in 0..25 {
        pages.push((0, page(0, i, 0xb0)));
    }
    pages.push((2, page(2, 0, 0xb2)));
    let mut m = meta(3);
    m.version = Some("kscope 0".into());
    let file = write_all(
        opts(FileVersion::V7, Compression::Zstd { level: 3 }),
        m.clone(),
        &pages,
    );
    let (name, at) = cstr_at(&file, 18);
    let (version, at) = cstr_at(&file, at);
    assert_eq!(name, "zstd");
    assert_eq!(version, zstd::zstd_safe::version_string());
    let (options_at, secs) = sections(&file);
    assert_eq!(secs[0].at, at + 8);
    let flags: Vec<(u16, u16)> = secs.iter().map(|s| (s.id, s.flags)).collect();
    assert_eq!(
        flags,
        [
            (16, 1),
            (17, 1),
            (18, 1),
            (19, 1),
            (20, 1),
            (3, 1),
            (21, 1),
            (0, 0),
            (15, 1)
        ]
    );
    assert_eq!(options_at, secs[7].at);
    assert_eq!(
        inflate(secs[0].payload),
        encode::header_info(Order::Little, &m.header_page, &m.header_event)
    );
    assert_eq!(
        inflate(secs[3].payload),
        encode::text32(Order::Little, &m.kallsyms, "k").unwrap()
    );
    assert_eq!(
        inflate(secs[6].payload),
        encode::text64(Order::Little, &m.cmdlines)
    );
    let strings = inflate(secs[8].payload);
    assert_eq!(
        cstr_at(&strings, secs[5].desc as usize).0,
        "buffer flyrecord "
    );

    let opts = options_of(secs[7].payload, false);
    assert!(
        opts.iter()
            .any(|(id, d)| *id == option::VERSION && *d == b"kscope 0\0")
    );
    let buffer = opts.iter().find(|o| o.0 == option::BUFFER).unwrap().1;
    let (_, _, _, _, cpus) = extents_of(buffer);
    assert_eq!(cpus[1].size, 0, "CPU 1 has no data");
    // CPU 0: u32 chunk count, then {u32 compressed, u32 size, data} of 10, 10 and 5 pages.
    let cpu0 = &file[cpus[0].offset as usize..(cpus[0].offset + cpus[0].size) as usize];
    assert_eq!(u32_at(cpu0, 0), 3);
    let mut at = 4;
    let mut data = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let csize = u32_at(cpu0, at) as usize;
        let size = u32_at(cpu0, at + 4) as usize;
        sizes.push(size);
        data.extend(zstd::bulk::decompress(&cpu0[at + 8..at + 8 + csize], size).unwrap());
        at += 8 + csize;
    }
    assert_eq!(at, cpu0.len());
    assert_eq!(sizes, [40960, 40960, 20480]);
    let want: Vec<u8> = pages[..25].iter().flat_map(|p| p.1.clone()).collect();
    assert_eq!(data, want);
    let cpu2 = &file[cpus[2].offset as usize..(cpus[2].offset + cpus[2].size) as usize];
    assert_eq!(u32_at(cpu2, 0), 1);
    assert_eq!(cpus[2].offset % 4096, 0);
}

#[test]
fn v6_layout() {
    let pages = vec![
        (0, page(0, 0, 0xc0)),
        (2, page(2, 0, 0xc2)),
        (0, page(0, 1, 0xc0)),
    ];
    let m = meta(3);
    let file = write_all(opts(FileVersion::V6, Compression::None), m.clone(), &pages);
    let o = Order::Little;
    let mut want = encode::prefix(o, 6, 8, 4096);
    want.extend(encode::header_info(o, &m.header_page, &m.header_event));
    want.extend(encode::ftrace_formats(o, &m.ftrace_formats).unwrap());
    want.extend(encode::event_formats(o, &m.event_formats).unwrap());
    want.extend(encode::text32(o, &m.kallsyms, "k").unwrap());
    want.extend(encode::text32(o, &m.printk_formats, "p").unwrap());
    want.extend(encode::text64(o, &m.cmdlines));
    want.extend(3u32.to_le_bytes());
    want.extend(b"options  \0");
    assert_eq!(&file[..want.len()], want.as_slice());
    let rest = &file[want.len()..];
    let opts = options_of(rest, true);
    let ids: Vec<u16> = opts.iter().map(|o| o.0).collect();
    assert_eq!(
        ids,
        [4, 5, 2, 2, 2],
        "TRACECLOCK, UNAME, then a CPUSTAT per CPU"
    );
    let after: usize = opts.iter().map(|o| 6 + o.1.len()).sum::<usize>() + 2;
    let fly = &rest[after..];
    assert_eq!(&fly[..10], b"flyrecord\0");
    let cpu = |i: usize| (u64_at(fly, 10 + 16 * i), u64_at(fly, 18 + 16 * i));
    let (off0, size0) = cpu(0);
    let (_, size1) = cpu(1);
    let (off2, size2) = cpu(2);
    assert_eq!((size0, size1, size2), (8192, 0, 4096));
    assert_eq!(off0 % 4096, 0);
    assert_eq!(u64_at(fly, 58), 7);
    assert_eq!(&fly[66..73], b"[local]");
    // Zeros up to the data.
    let fly_end = want.len() + after + 73;
    let first = off0.min(off2) as usize;
    assert_eq!(first % 4096, 0);
    assert!(file[fly_end..first].iter().all(|&b| b == 0));
    assert_eq!(
        &file[off0 as usize..(off0 + size0) as usize],
        [pages[0].1.clone(), pages[2].1.clone()].concat()
    );
    assert_eq!(
        &file[off2 as usize..(off2 + size2) as usize],
        pages[1].1.as_slice()
    );
    assert_eq!(
        file.len() as u64,
        (off0 + size0).max(off2 + size2),
        "the file ends with the data"
    );
}

fn buffer_extents(file: &[u8]) -> Vec<CpuExtent> {
    let (_, secs) = sections(file);
    let opts = options_of(secs.iter().find(|s| s.id == 0).unwrap().payload, false);
    extents_of(opts.iter().find(|o| o.0 == option::BUFFER).unwrap().1).4
}

#[test]
fn interleaved_cpus_end_up_contiguous_whatever_the_reserve() {
    let cpus = 3u32;
    let mut pages = Vec::new();
    for i in 0..9u16 {
        for cpu in 0..cpus {
            if cpu == 1 && i > 2 {
                continue;
            }
            pages.push((cpu, page(cpu as u8, i, 0xd0)));
        }
    }
    for (reserve, buffer) in [
        (0, 0),
        (4096, 0),
        (4096, 1 << 20),
        (3 * 4096, 8192),
        (1 << 20, 1 << 16),
    ] {
        for compression in [Compression::None, Compression::Zstd { level: 1 }] {
            let o = WriterOptions {
                cpu_reserve: reserve,
                write_buffer: buffer,
                chunk_pages: 2,
                ..opts(FileVersion::V7, compression)
            };
            let mut w = TraceDatWriter::new(Cursor::new(Vec::new()), o, meta(cpus)).unwrap();
            for (cpu, p) in &pages {
                w.write_page(*cpu, p).unwrap();
            }
            let moves = w.region_moves();
            let file = w.finish().unwrap().into_inner();
            let extents = buffer_extents(&file);
            if reserve >= 1 << 20 {
                assert_eq!(moves, 0, "a large reserve never moves a region");
            }
            for cpu in 0..cpus {
                let e = extents[cpu as usize];
                let got = &file[e.offset as usize..(e.offset + e.size) as usize];
                let want: Vec<u8> = pages
                    .iter()
                    .filter(|p| p.0 == cpu)
                    .flat_map(|p| p.1.clone())
                    .collect();
                if compression == Compression::None {
                    assert_eq!(got, want.as_slice(), "reserve {reserve}, CPU {cpu}");
                } else {
                    let chunks = u32_at(got, 0);
                    let mut at = 4;
                    let mut data = Vec::new();
                    for _ in 0..chunks {
                        let c = u32_at(got, at) as usize;
                        let s = u32_at(got, at + 4) as usize;
                        data.extend(zstd::bulk::decompress(&got[at + 8..at + 8 + c], s).unwrap());
                        at += 8 + c;
                    }
                    assert_eq!(data, want, "zstd, reserve {reserve}, CPU {cpu}");
                }
            }
            // No two CPUs overlap.
            let mut spans: Vec<(u64, u64)> = extents
                .iter()
                .map(|e| (e.offset, e.offset + e.size))
                .collect();
            spans.sort();
            assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
        }
    }
}

#[test]
fn sequential_cpus_are_packed_without_moves() {
    let mut pages = Vec::new();
    for cpu in 0..3u32 {
        for i in 0..4u16 {
            pages.push((cpu, page(cpu as u8, i, 0xe0)));
        }
    }
    let mut w = TraceDatWriter::new(
        Cursor::new(Vec::new()),
        opts(FileVersion::V7, Compression::None),
        meta(3),
    )
    .unwrap();
    for (cpu, p) in &pages {
        w.write_page(*cpu, p).unwrap();
    }
    assert_eq!(w.region_moves(), 0);
    assert_eq!(
        w.cpu_written(1),
        CpuWritten {
            pages: 4,
            empty_pages: 0,
            bytes: 4 * 4096
        }
    );
    let file = w.finish().unwrap().into_inner();
    let e = buffer_extents(&file);
    assert_eq!(e[1].offset, e[0].offset + e[0].size);
    assert_eq!(e[2].offset, e[1].offset + e[1].size);
}

#[test]
fn empty_pages_are_dropped() {
    let mut w = TraceDatWriter::new(
        Cursor::new(Vec::new()),
        opts(FileVersion::V7, Compression::None),
        meta(1),
    )
    .unwrap();
    w.write_page(0, &vec![0u8; 4096]).unwrap();
    w.write_page(0, &page(0, 0, 1)).unwrap();
    // A page with nothing in it but a lost-events mark is kept.
    let mut lost = vec![0u8; 4096];
    lost[8..16].copy_from_slice(&(1u64 << 31).to_le_bytes());
    w.write_page(0, &lost).unwrap();
    assert_eq!(
        w.cpu_written(0),
        CpuWritten {
            pages: 2,
            empty_pages: 1,
            bytes: 8192
        }
    );
}

#[test]
fn caller_mistakes_are_errors() {
    let new = |o: WriterOptions, m: Metadata| TraceDatWriter::new(Cursor::new(Vec::new()), o, m);
    let v7 = opts(FileVersion::V7, Compression::None);
    assert!(matches!(
        new(
            opts(FileVersion::V6, Compression::Zstd { level: 1 }),
            meta(1)
        ),
        Err(WriteError::Options(_))
    ));
    let mut named = meta(1);
    named.buffer_name = "inst".into();
    assert!(matches!(
        new(opts(FileVersion::V6, Compression::None), named.clone()),
        Err(WriteError::Options(_))
    ));
    assert!(new(v7.clone(), named).is_ok(), "v7 stores named buffers");
    let mut nul = meta(1);
    nul.buffer_name = "a\0b".into();
    assert!(matches!(new(v7.clone(), nul), Err(WriteError::Metadata(_))));
    let mut nul = meta(1);
    nul.event_formats[0].0 = "sch\0ed".into();
    assert!(matches!(new(v7.clone(), nul), Err(WriteError::Metadata(_))));
    assert!(matches!(
        new(v7.clone(), meta(0)),
        Err(WriteError::Metadata(_))
    ));
    for bad in [
        WriterOptions {
            page_size: 1000,
            ..v7.clone()
        },
        WriterOptions {
            subbuf_size: 0,
            ..v7.clone()
        },
        WriterOptions {
            long_size: 3,
            ..v7.clone()
        },
        WriterOptions {
            chunk_pages: 0,
            ..v7.clone()
        },
    ] {
        assert!(matches!(new(bad, meta(1)), Err(WriteError::Options(_))));
    }

    let mut w = new(v7.clone(), meta(2)).unwrap();
    assert!(matches!(
        w.write_page(2, &page(0, 0, 0)),
        Err(WriteError::CpuOutOfRange { cpu: 2, cpus: 2 })
    ));
    assert!(matches!(
        w.write_page(0, &[0u8; 100]),
        Err(WriteError::PageSize { len: 100, .. })
    ));
    let mut bad = page(0, 0, 0);
    bad[8..16].copy_from_slice(&5000u64.to_le_bytes());
    assert!(matches!(
        w.write_page(0, &bad),
        Err(WriteError::BadPage {
            cpu: 0,
            page: 0,
            ..
        })
    ));
    assert!(matches!(
        w.write_cpu_from(1, &[0u8; 5000][..]),
        Err(WriteError::PartialPage {
            cpu: 1,
            len: 904,
            ..
        })
    ));
    assert!(matches!(
        w.write_pages(0, &[0u8; 4097]),
        Err(WriteError::PartialPage { .. })
    ));
    // Mistakes leave the writer usable.
    w.write_page(0, &page(0, 0, 0)).unwrap();
    assert!(matches!(w.set_cmdlines("2 x\n".into()), Ok(())));
    w.finish().unwrap();

    let mut w6 = new(opts(FileVersion::V6, Compression::None), meta(1)).unwrap();
    assert!(matches!(
        w6.set_cmdlines("x".into()),
        Err(WriteError::Options(_))
    ));

    // An incomplete page left in a sink fails the file.
    let mut w = new(v7, meta(1)).unwrap();
    {
        let mut sink = w.cpu_data(0).unwrap();
        sink.write_all(&[1u8; 10]).unwrap();
    }
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));
}

/// An output that cannot be read back (like a file opened write-only).
struct WriteOnly(Cursor<Vec<u8>>);

impl Read for WriteOnly {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(libc::EBADF))
    }
}
impl Write for WriteOnly {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Seek for WriteOnly {
    fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
        self.0.seek(p)
    }
}

/// An output that fails after `left` bytes.
struct Failing {
    inner: Cursor<Vec<u8>>,
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.inner.read(b)
    }
}
impl Write for Failing {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if b.len() > self.left {
            return Err(io::Error::other("disk full"));
        }
        self.left -= b.len();
        self.inner.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
impl Seek for Failing {
    fn seek(&mut self, p: SeekFrom) -> io::Result<u64> {
        self.inner.seek(p)
    }
}

#[test]
fn io_errors_are_reported_and_poison_the_writer() {
    // Interleaving without a reserve moves regions, which needs reading back.
    let o = WriterOptions {
        write_buffer: 0,
        ..opts(FileVersion::V7, Compression::None)
    };
    let mut w =
        TraceDatWriter::new(WriteOnly(Cursor::new(Vec::new())), o.clone(), meta(2)).unwrap();
    w.write_page(0, &page(0, 0, 0)).unwrap();
    w.write_page(1, &page(1, 0, 0)).unwrap();
    let err = w.write_page(0, &page(0, 1, 0)).unwrap_err();
    assert!(err.to_string().contains("open for reading"), "{err}");
    assert!(matches!(
        w.write_page(1, &page(1, 1, 0)),
        Err(WriteError::Poisoned(_))
    ));
    assert!(matches!(w.finish(), Err(WriteError::Poisoned(_))));

    let failing = Failing {
        inner: Cursor::new(Vec::new()),
        left: 100,
    };
    assert!(matches!(
        TraceDatWriter::new(failing, o.clone(), meta(1)),
        Err(WriteError::Io { .. })
    ));
    let failing = Failing {
        inner: Cursor::new(Vec::new()),
        left: 20_000,
    };
    let mut w = TraceDatWriter::new(failing, o, meta(1)).unwrap();
    let mut result = Ok(());
    for i in 0..10 {
        result = w.write_page(0, &page(0, i, 0));
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(WriteError::Io { .. })), "{result:?}");
}

#[test]
fn v6_cpustat_is_cut_to_its_reserved_room() {
    let mut m = meta(1);
    m.cpu_stats = vec!["line\n".repeat(1000)];
    let file = write_all(
        opts(FileVersion::V6, Compression::None),
        m,
        &[(0, page(0, 0, 0))],
    );
    let start = file.windows(10).position(|w| w == b"options  \0").unwrap() + 10;
    let opts = options_of(&file[start..], true);
    let stat = opts.iter().find(|o| o.0 == option::CPUSTAT).unwrap().1;
    assert!(stat.len() <= V6_CPUSTAT_MAX);
    assert!(stat.starts_with(b"CPU: 0\nline\n"));
    assert!(stat.ends_with(b"line\n\0"));
}

#[test]
fn big_sub_buffers_set_the_file_page_size() {
    let o = WriterOptions {
        subbuf_size: 8192,
        ..opts(FileVersion::V7, Compression::None)
    };
    let mut p = vec![0u8; 8192];
    p[8..16].copy_from_slice(&8u64.to_le_bytes());
    p[16..20].copy_from_slice(&(1u32).to_le_bytes());
    let file = write_all(o, meta(1), &[(0, p)]);
    assert_eq!(u32_at(&file, 14), 8192);
    let e = buffer_extents(&file);
    assert_eq!(e[0].offset % 8192, 0);
    assert_eq!(e[0].size, 8192);
}

/// What `fallocate(FALLOC_FL_COLLAPSE_RANGE)` does, on a byte vector.
fn collapse_vec(out: &mut Cursor<Vec<u8>>, offset: u64, len: u64) -> io::Result<bool> {
    assert_eq!(offset % 4096, 0);
    assert_eq!(len % 4096, 0);
    let v = out.get_mut();
    assert!(
        offset + len < v.len() as u64,
        "the range ends before the end of the file"
    );
    v.drain(offset as usize..(offset + len) as usize);
    Ok(true)
}

#[test]
fn collapsing_removes_the_gaps_between_regions() {
    let mut pages = Vec::new();
    for i in 0..6u16 {
        for cpu in [2u32, 0, 1] {
            if cpu == 0 && i > 1 {
                continue;
            }
            pages.push((cpu, page(cpu as u8, i, 0xf0)));
        }
    }
    for version in [FileVersion::V7, FileVersion::V6] {
        for (reserve, buffer) in [(1 << 20, 1 << 16), (0, 0), (8192, 4096)] {
            let o = WriterOptions {
                cpu_reserve: reserve,
                write_buffer: buffer,
                ..opts(version, Compression::None)
            };
            let mut w = TraceDatWriter::new(Cursor::new(Vec::new()), o, meta(3)).unwrap();
            for (cpu, p) in &pages {
                w.write_page(*cpu, p).unwrap();
            }
            let file = w.finish_collapsing(collapse_vec).unwrap().into_inner();
            let extents = if version == FileVersion::V7 {
                buffer_extents(&file)
            } else {
                let at = file.windows(10).rposition(|w| w == b"flyrecord\0").unwrap() + 10;
                (0..3)
                    .map(|i| CpuExtent {
                        cpu: i as u32,
                        offset: u64_at(&file, at + 16 * i),
                        size: u64_at(&file, at + 16 * i + 8),
                    })
                    .collect()
            };
            let mut spans: Vec<(u64, u64)> = extents
                .iter()
                .map(|e| (e.offset, e.offset + e.size))
                .collect();
            spans.sort();
            for pair in spans.windows(2) {
                assert_eq!(
                    pair[1].0,
                    align_up(pair[0].1, 4096),
                    "{version:?} {reserve}: no gap"
                );
            }
            for cpu in 0..3u32 {
                let e = extents[cpu as usize];
                let want: Vec<u8> = pages
                    .iter()
                    .filter(|p| p.0 == cpu)
                    .flat_map(|p| p.1.clone())
                    .collect();
                assert_eq!(
                    &file[e.offset as usize..(e.offset + e.size) as usize],
                    want.as_slice()
                );
            }
            assert!(file.len() < 50 * 4096 + 10_000, "{} bytes", file.len());
        }
    }
}

#[test]
fn a_collapse_that_cannot_leaves_a_valid_file() {
    let pages = [(0, page(0, 0, 1)), (1, page(1, 0, 1))];
    let o = WriterOptions {
        cpu_reserve: 1 << 16,
        ..opts(FileVersion::V7, Compression::None)
    };
    let mut w = TraceDatWriter::new(Cursor::new(Vec::new()), o.clone(), meta(2)).unwrap();
    for (cpu, p) in &pages {
        w.write_page(*cpu, p).unwrap();
    }
    let mut calls = 0;
    let file = w
        .finish_collapsing(|_, _, _| {
            calls += 1;
            Ok(false)
        })
        .unwrap()
        .into_inner();
    assert_eq!(calls, 1, "no more attempts after a refusal");
    let e = buffer_extents(&file);
    assert_eq!(e[1].offset - e[0].offset, 1 << 16, "the reservation stays");

    let mut w = TraceDatWriter::new(Cursor::new(Vec::new()), o, meta(2)).unwrap();
    for (cpu, p) in &pages {
        w.write_page(*cpu, p).unwrap();
    }
    let err = w
        .finish_collapsing(|_, _, _| Err(io::Error::from_raw_os_error(libc::EIO)))
        .unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
}
