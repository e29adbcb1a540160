//! `hist()` and `lhist()` bucket arrays turned into printable [`Histogram`]s, with
//! upstream's labels (`[4, 8)`, `[1K, 2K)`, `[0]`, `(..., 0)`, `[100, ...)`).

use super::value::{Histogram, Primitive};

/// The first and last non-empty bucket, or `None` when all are empty.
fn used_range(counts: &[u64]) -> Option<(usize, usize)> {
    let first = counts.iter().position(|&c| c > 0)?;
    let last = counts.iter().rposition(|&c| c > 0)?;
    Some((first, last))
}

/// The lower bound of log2 bucket `index` (for `index >= 2 << bits`), labelled with
/// the largest power-of-1024 suffix (`K`, `M`, `G`, `T`, `P`, `E`).
fn log2_label(index: usize, bits: u32) -> Primitive {
    let n = 1u64 << bits;
    let interval = index as u64 & (n - 1);
    let power = (index as u64 >> bits) - 1;
    let value = (1u64 << power).wrapping_mul(n + interval);
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    let rest = power - 10 * decade;
    Primitive::Symbolic {
        symbol: format!("{}{suffix}", (1u64 << rest) * (n + interval)),
        numeric: value,
    }
}

/// The label of bucket boundary `index` of a log2 histogram.
fn log2_bound(index: usize, bits: u32) -> Primitive {
    if index <= (2usize << bits) {
        Primitive::Int(index as i64)
    } else {
        log2_label(index, bits)
    }
}

/// Builds a log2 histogram from the bucket array of `hist(n, bits)`: bucket 0 holds
/// negative values, then `1 << bits` buckets per power of two. Counts are divided by
/// `div` (`print(@h, top, div)`); buckets outside the used range are not shown.
pub fn log2(counts: &[u64], bits: u32, div: u64) -> Histogram {
    let div = div.max(1);
    let mut hist = Histogram::default();
    let Some((first, last)) = used_range(counts) else {
        return hist;
    };
    if first != 0 {
        hist.lower_bound = Some(log2_bound(first - 1, bits));
    }
    for (i, &c) in counts.iter().enumerate().take(last + 1).skip(first) {
        hist.labels.push(if i == 0 {
            Primitive::Int(0)
        } else {
            log2_bound(i, bits)
        });
        hist.counts.push(c / div);
    }
    hist
}

/// The label of a linear bucket boundary: a plain number unless `step` is a multiple
/// of 1024, then `K`/`M` suffixes where exact.
fn linear_label(number: i64, step: i64) -> Primitive {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 {
        return Primitive::Int(number);
    }
    let symbol = if number == 0 {
        "0".to_string()
    } else if number % MEGA == 0 {
        format!("{}M", number / MEGA)
    } else if number % KILO == 0 {
        format!("{}K", number / KILO)
    } else {
        number.to_string()
    };
    Primitive::Symbolic {
        symbol,
        numeric: number as u64,
    }
}

/// Builds a linear histogram from the bucket array of `lhist(n, min, max, step)`:
/// bucket 0 is below `min`, the last is `max` and above. `print`'s divisor does not
/// apply to linear histograms (as upstream).
pub fn linear(counts: &[u64], min: i64, max: i64, step: i64) -> Histogram {
    let mut hist = Histogram::default();
    let step = step.max(1);
    let Some((first, last)) = used_range(counts) else {
        return hist;
    };
    if first != 0 {
        hist.lower_bound = Some(linear_label(min + (first as i64 - 1) * step, step));
    }
    for (i, &c) in counts.iter().enumerate().take(last + 1).skip(first) {
        let bound = min + i as i64 * step;
        if bound <= max {
            hist.labels.push(linear_label(bound, step));
        }
        hist.counts.push(c);
    }
    hist
}

/// The bucket index `hist(value, bits)` increments (what the BPF program computes);
/// used by tests and by anything that fills buckets in user space.
pub fn log2_index(value: i64, bits: u32) -> usize {
    if value < 0 {
        return 0;
    }
    let v = value as u64;
    let n = 1u64 << bits;
    if v < n {
        return v as usize + 1;
    }
    let power = 63 - v.leading_zeros() as u64; // floor(log2 v) >= bits
    let shift = power - bits as u64;
    let interval = (v >> shift) & (n - 1);
    ((power - bits as u64 + 1) * n + interval + 1) as usize
}

/// The number of buckets of `hist(_, bits)` (64-bit values).
pub fn log2_buckets(bits: u32) -> usize {
    log2_index(i64::MAX, bits) + 1
}

/// The bucket index `lhist(value, min, max, step)` increments.
pub fn linear_index(value: i64, min: i64, max: i64, step: i64) -> usize {
    if value < min {
        0
    } else if value >= max {
        linear_buckets(min, max, step) - 1
    } else {
        ((value - min) / step + 1) as usize
    }
}

/// The number of buckets of `lhist(_, min, max, step)`.
pub fn linear_buckets(min: i64, max: i64, step: i64) -> usize {
    ((max - min) / step + 2) as usize
}
