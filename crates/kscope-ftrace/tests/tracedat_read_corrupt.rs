//! Damaged trace.dat files: truncated at many places, with flipped bytes, with size fields
//! changed. Each case is opened and fully decoded on a thread with a time limit; it must
//! not panic or hang, its largest single allocation must stay within a bound set by the
//! file's size, and an error must name a part of the file and an offset.

mod tracedat_read_util;

use std::collections::BTreeSet;

use kscope_ftrace::tracedat::read::TraceFile;
use tracedat_read_util::{FILES, check, read_data, recompress_v7, run};

/// The test files, plus zlib and zstd rewrites (with compressed OPTIONS sections).
fn cases() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = FILES
        .iter()
        .map(|n| (n.to_string(), read_data(n)))
        .collect();
    out.push((
        "v7-none.dat as zlib".into(),
        recompress_v7(&read_data("v7-none.dat"), "zlib", true),
    ));
    out.push((
        "v7-zstd-2buf.dat as zstd".into(),
        recompress_v7(&read_data("v7-zstd-2buf.dat"), "zstd", true),
    ));
    out
}

/// Offsets where the file's parts begin and end, from the reader's own view of it and
/// from its labels.
fn boundaries(bytes: &[u8]) -> BTreeSet<usize> {
    let f = TraceFile::from_bytes(bytes.to_vec()).unwrap();
    let mut at: BTreeSet<u64> = (0..48).collect();
    for s in f.sections() {
        at.extend([s.offset, s.offset + 16, s.offset + 16 + s.size]);
    }
    for o in f.options() {
        if o.place.decompressed.is_none() {
            at.extend([o.place.offset - 6, o.place.offset]);
        }
    }
    for b in f.buffers() {
        at.insert(b.offset);
        for c in &b.cpus {
            at.extend([c.offset, c.offset + c.size]);
        }
    }
    for label in [
        &b"header_page"[..],
        b"header_event",
        b"options  ",
        b"flyrecord",
        b"latency  ",
    ] {
        for (i, w) in bytes.windows(label.len()).enumerate() {
            if w == label {
                at.insert(i as u64);
            }
        }
    }
    let mut out = BTreeSet::new();
    for a in at {
        for d in [-9i64, -8, -2, -1, 0, 1, 2, 8] {
            let c = a as i64 + d;
            if c >= 0 && (c as usize) < bytes.len() {
                out.insert(c as usize);
            }
        }
    }
    out
}

#[test]
fn truncated_files_fail_with_a_place() {
    for (name, bytes) in cases() {
        let original = run(bytes.clone(), &name).0;
        let original = original.unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut cuts = boundaries(&bytes);
        cuts.extend((0..bytes.len()).step_by(1024));
        let mut errors = 0;
        for cut in cuts {
            let outcome = check(&name, bytes[..cut].to_vec(), &format!("cut at {cut}"));
            match outcome {
                Err(_) => errors += 1,
                // Only the STRINGS section (v7 section descriptions) may be cut away whole.
                Ok(d) => {
                    let f = TraceFile::from_bytes(bytes.clone()).unwrap();
                    let strings = f.sections().iter().find(|s| s.id == 15);
                    assert!(
                        strings.is_some_and(|s| s.offset as usize == cut),
                        "{name}: cut at {cut} of {} reads without error",
                        bytes.len()
                    );
                    assert_eq!(d, original, "{name}: cut at {cut}");
                }
            }
        }
        assert!(errors > 50, "{name}: {errors}");
    }
}

#[test]
fn flipped_bytes_never_panic_hang_or_allocate_wildly() {
    let mut rng = tracedat_read_util::Rng::new(0x5eed_7dad);
    for (name, bytes) in cases() {
        let original = run(bytes.clone(), &name).0;
        // Every header byte of the first 4 KB, a sample of the other boundaries, and
        // random bytes (mostly ring-buffer data).
        let mut spots: BTreeSet<usize> = boundaries(&bytes)
            .into_iter()
            .filter(|&b| b < 4096 || rng.below(8) == 0)
            .collect();
        for _ in 0..16 {
            spots.insert(rng.below(bytes.len()));
        }
        let (mut failed, mut changed) = (0, 0);
        for at in spots {
            let mask = [0xffu8, 0x01, 0x80, 0x10][rng.below(4)];
            let mut damaged = bytes.clone();
            damaged[at] ^= mask;
            match check(&name, damaged, &format!("byte {at} ^ {mask:#x}")) {
                Err(_) => failed += 1,
                Ok(d) if Ok(d) != original => changed += 1,
                Ok(_) => {}
            }
        }
        assert!(failed > 0 && changed + failed > 0, "{name}");
    }
}

/// A size field: where, how wide.
struct SizeField {
    at: usize,
    width: usize,
    what: String,
}

fn get(bytes: &[u8], at: usize, width: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw[..width].copy_from_slice(&bytes[at..at + width]);
    u64::from_le_bytes(raw)
}

fn put(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
}

/// Every size field the reader can point to in a (little-endian) file.
fn size_fields(bytes: &[u8]) -> Vec<SizeField> {
    let f = TraceFile::from_bytes(bytes.to_vec()).unwrap();
    let mut out = Vec::new();
    let mut field = |at: usize, width: usize, what: String| out.push(SizeField { at, width, what });
    for s in f.sections() {
        let at = s.offset as usize;
        field(at + 8, 8, format!("size of section {} at {at}", s.id));
        if s.flags & 1 == 1 && s.id != 3 {
            field(
                at + 16,
                4,
                format!("compressed size of section {} at {at}", s.id),
            );
            field(
                at + 20,
                4,
                format!("uncompressed size of section {} at {at}", s.id),
            );
        }
    }
    for o in f.options() {
        if o.place.decompressed.is_none() {
            let at = o.place.offset as usize;
            field(at - 4, 4, format!("size of option {} at {at}", o.id));
        }
    }
    // Texts stored after their size: find each text and take the bytes before it.
    let mut texts: Vec<(&[u8], usize, String)> = vec![
        (f.header_page().as_bytes(), 8, "header_page size".into()),
        (f.header_event().as_bytes(), 8, "header_event size".into()),
    ];
    for (i, t) in f.ftrace_formats().iter().enumerate() {
        texts.push((t.as_bytes(), 8, format!("ftrace format {i} size")));
    }
    for s in f.event_systems() {
        for (i, t) in s.formats.iter().enumerate() {
            texts.push((t.as_bytes(), 8, format!("{} format {i} size", s.name)));
        }
    }
    texts.push((f.kallsyms().as_bytes(), 4, "kallsyms size".into()));
    texts.push((f.printk_formats().as_bytes(), 4, "printk size".into()));
    texts.push((f.cmdlines().as_bytes(), 8, "cmdlines size".into()));
    // The texts are stored in this order; search each after the previous one, and only
    // in uncompressed files, before the ring-buffer data.
    let metadata_end = f
        .buffers()
        .iter()
        .map(|b| b.offset as usize)
        .min()
        .unwrap_or(bytes.len());
    let mut from = 0;
    if f.compression_header().0.is_empty() || f.compression_header().0 == "none" {
        for (text, width, what) in texts {
            let probe = &text[..text.len().min(64)];
            if probe.is_empty() || from >= metadata_end {
                continue;
            }
            if let Some(pos) = bytes[from..metadata_end]
                .windows(probe.len())
                .position(|w| w == probe)
                .map(|p| p + from)
                && pos >= width
                && get(bytes, pos - width, width) == text.len() as u64
            {
                field(pos - width, width, what);
                from = pos + text.len();
            }
        }
    }
    for (bi, b) in f.buffers().iter().enumerate() {
        if f.version() == 6 {
            // The flyrecord table: {u64 offset, u64 size} per CPU after the label.
            let label = if bi == 0 {
                bytes.windows(10).position(|w| w == b"flyrecord\0").unwrap()
            } else {
                b.offset as usize
            };
            for i in 0..b.cpus.len() {
                field(
                    label + 10 + 16 * i + 8,
                    8,
                    format!("flyrecord {bi} CPU {i} size"),
                );
            }
        }
        for c in &b.cpus {
            if b.compressed {
                let mut pos = c.offset as usize;
                let count = get(bytes, pos, 4);
                field(pos, 4, format!("chunk count of buffer {bi} CPU {}", c.cpu));
                pos += 4;
                // The first chunks and the last (each case decodes up to its chunk).
                for k in 0..count {
                    if k < 3 || k + 1 == count {
                        field(pos, 4, format!("chunk {k} compressed size, CPU {}", c.cpu));
                        field(pos + 4, 4, format!("chunk {k} size, CPU {}", c.cpu));
                    }
                    pos += 8 + get(bytes, pos, 4) as usize;
                }
            }
        }
    }
    // v7 BUFFER options: the CPU table at the end of the option.
    for o in f.options() {
        if o.id == 3 && f.version() == 7 && o.place.decompressed.is_none() {
            let name_end = 8 + o.data[8..].iter().position(|&b| b == 0).unwrap();
            let clock_end =
                name_end + 1 + o.data[name_end + 1..].iter().position(|&b| b == 0).unwrap();
            let entries = clock_end + 1 + 8;
            let mut at = o.place.offset as usize + entries;
            while at + 20 <= o.place.offset as usize + o.data.len() {
                field(at + 12, 8, format!("BUFFER option CPU size at {at}"));
                at += 20;
            }
        }
    }
    out
}

#[test]
fn changed_size_fields_are_errors() {
    // A larger size must give an error, except where the bytes it swallows happen to
    // parse again (a format text that takes the first byte of the next system's name, and
    // the name's NUL keeps the rest aligned): then the decode must differ from the
    // original. A smaller size may read (a CPU with less data).
    let mut different = Vec::new();
    for (name, bytes) in cases() {
        let started = std::time::Instant::now();
        let original = run(bytes.clone(), &name).0;
        let fields = size_fields(&bytes);
        assert!(fields.len() > 10, "{name}: {}", fields.len());
        let len = bytes.len() as u64;
        for SizeField { at, width, what } in fields {
            let value = get(&bytes, at, width);
            let max = if width == 4 {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            };
            for new in [value + 1, value * 2 + 4096, len, max, max / 2 + 3] {
                let new = new.min(max);
                if new <= value {
                    continue;
                }
                let mut damaged = bytes.clone();
                put(&mut damaged, at, width, new);
                let case = format!("{name}: {what} ({at}): {value} -> {new}");
                match check(&name, damaged, &case) {
                    Err(_) => {}
                    Ok(d) => {
                        assert!(Ok(d) != original, "{case} reads as the original");
                        assert!(new == value + 1, "{case} reads without error");
                        different.push(case);
                    }
                }
            }
            for new in [0, value.saturating_sub(1), value / 2] {
                if new >= value {
                    continue;
                }
                let mut damaged = bytes.clone();
                put(&mut damaged, at, width, new);
                let _ = check(&name, damaged, &format!("{what}: {value} -> {new}"));
            }
        }
        println!("{name}: {:?}", started.elapsed());
    }
    println!("read with a different result: {different:#?}");
    assert!(different.len() < 20, "{different:#?}");
}

#[test]
fn garbage_and_tiny_inputs_are_errors() {
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x17],
        b"\x17\x08\x44tracing".to_vec(),
        b"\x17\x08\x44tracing6\0".to_vec(),
        b"\x17\x08\x44tracing9\0\0\x08\0\x10\0\0".to_vec(),
        b"\x17\x08\x44tracing7\0\0\x08\0\x10\0\0none\0\0".to_vec(),
        vec![0u8; 100],
        vec![0xffu8; 5000],
        b"GIF89a".to_vec(),
    ];
    for (i, bytes) in inputs.into_iter().enumerate() {
        let (outcome, _) = run(bytes, &format!("input {i}"));
        let text = outcome.unwrap_err();
        assert!(text.contains("offset"), "{text}");
    }
    // A file that is a directory or does not exist.
    let err = TraceFile::open("/nonexistent/trace.dat").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/trace.dat"), "{err}");
    assert!(TraceFile::open("/").is_err());
}
