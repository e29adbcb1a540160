//! A deterministic fuzz loop over the trace.dat reader: the committed trace-cmd files (and
//! zlib/zstd rewrites of them) are the corpus; each case stacks a few random mutations (bit
//! flips, interesting values written over integers, cuts, inserted or deleted ranges,
//! duplicated blocks) and must open and decode without panic or hang, within the
//! allocation cap, and any error must name a part of the file and an offset.
//!
//! `KSCOPE_FUZZ_SEED` and `KSCOPE_FUZZ_CASES` change the seed and the number of cases per
//! input (default 120; a case that fails prints its seed and mutations).

mod tracedat_read_util;

use tracedat_read_util::{FILES, Rng, check, read_data, recompress_v7};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Applies one random mutation; returns what it did.
fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) -> String {
    let len = bytes.len();
    if len == 0 {
        bytes.push(rng.next_u64() as u8);
        return "grow".into();
    }
    // Half the mutations hit the first 4 KB, where the headers are.
    let pick = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            rng.below(len.min(4096))
        } else {
            rng.below(len)
        }
    };
    match rng.below(7) {
        0 => {
            let at = pick(rng);
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        1 | 2 => {
            let width = [2usize, 4, 8][rng.below(3)];
            let at = pick(rng).min(len.saturating_sub(width));
            let width = width.min(len - at);
            let interesting = [
                0,
                1,
                len as u64,
                len as u64 + 1,
                (len as u64) / 2,
                4096,
                u64::from(u32::MAX),
                u64::MAX,
                1 << 31,
                rng.next_u64(),
            ];
            let value = interesting[rng.below(interesting.len())];
            bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            format!("write {value:#x} as {width} bytes at {at}")
        }
        3 => {
            let at = rng.below(len);
            bytes.truncate(at);
            format!("cut at {at}")
        }
        4 => {
            let at = pick(rng);
            let n = 1 + rng.below(16);
            let end = (at + n).min(len);
            bytes.drain(at..end);
            format!("delete {at}..{end}")
        }
        5 => {
            let at = pick(rng);
            let n = 1 + rng.below(16);
            let fill: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, fill);
            format!("insert {n} bytes at {at}")
        }
        _ => {
            // Copy a block over another place (a header over data, data over a header).
            let from = pick(rng);
            let to = pick(rng);
            let n = (1 + rng.below(64)).min(len - from).min(len - to);
            let block = bytes[from..from + n].to_vec();
            bytes[to..to + n].copy_from_slice(&block);
            format!("copy {from}..{} to {to}", from + n)
        }
    }
}

#[test]
fn fuzz_the_reader() {
    let seed = env_u64("KSCOPE_FUZZ_SEED", 0x7dad_f00d);
    let cases = env_u64("KSCOPE_FUZZ_CASES", 120);
    let mut corpus: Vec<(String, Vec<u8>)> = FILES
        .iter()
        .map(|n| (n.to_string(), read_data(n)))
        .collect();
    corpus.push((
        "v7-zstd.dat as zlib".into(),
        recompress_v7(&read_data("v7-zstd.dat"), "zlib", true),
    ));
    let started = std::time::Instant::now();
    let (mut errors, mut total) = (0u64, 0u64);
    for (index, (name, original)) in corpus.iter().enumerate() {
        for case in 0..cases {
            let case_seed = seed ^ ((index as u64) << 32) ^ case;
            let mut rng = Rng::new(case_seed);
            let mut bytes = original.clone();
            let steps: Vec<String> = (0..1 + rng.below(3))
                .map(|_| mutate(&mut bytes, &mut rng))
                .collect();
            let what = format!("seed {case_seed:#x}: {}", steps.join(", "));
            if check(name, bytes, &what).is_err() {
                errors += 1;
            }
            total += 1;
        }
    }
    println!("{total} cases, {errors} errors, {:?}", started.elapsed());
    assert!(errors > total / 4, "{errors} of {total}");
}
