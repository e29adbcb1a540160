//! Property tests: random records, mutated `format` files, token soups and deeply nested
//! expressions never make the parser or the renderer panic (or overflow the stack).
//!
//! A small deterministic PRNG keeps runs reproducible; set `KSCOPE_FUZZ_SEED` to explore
//! other seeds and `KSCOPE_FUZZ_ROUNDS` to run longer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kscope_ftrace::format::{Dialect, EventFormat, Kallsyms, RenderContext};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed() -> u64 {
    std::env::var("KSCOPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b73_636f_7065)
}

fn rounds(default: usize) -> usize {
    std::env::var("KSCOPE_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn format_files() -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format");
    let mut out = Vec::new();
    for dir in [base.join("events"), base.join("capture/formats")] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            out.extend(entries.flatten().map(|e| e.path()));
        }
    }
    out.sort();
    assert!(out.len() >= 40, "{} format files", out.len());
    out
}

fn contexts() -> Vec<RenderContext> {
    let symbols = Arc::new(Kallsyms::parse(
        "ffffffff81000000 T _stext\nffffffff81000100 T f\nffffffff82000000 B _end\n\
         ffffffffc0000000 t m\t[mod]\n",
    ));
    let base = RenderContext::default()
        .with_symbols(symbols)
        .with_enums([("HRTIMER_MODE_ABS", 0), ("I_DIRTY_SYNC", 16)]);
    vec![
        base.clone(),
        base.clone().with_dialect(Dialect::TraceCmd),
        RenderContext {
            big_endian: true,
            long_size: 4,
            ..base
        },
    ]
}

/// A record of random bytes whose dynamic fields point mostly inside it.
fn random_record(rng: &mut Rng, ev: &EventFormat) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => rng.below(16),
        _ => rng.below(600),
    };
    let mut rec = rng.bytes(len);
    if rng.below(2) == 0 {
        for f in &ev.fields {
            if f.is_dynamic() && f.offset + 4 <= rec.len() {
                let off = rng.below(rec.len() + 8) as u32;
                let n = rng.below(rec.len() + 8) as u32;
                rec[f.offset..f.offset + 4].copy_from_slice(&(off | n << 16).to_le_bytes());
            }
        }
    }
    rec
}

#[test]
fn random_records_never_panic() {
    let mut rng = Rng::new(seed());
    let ctxs = contexts();
    let per_file = rounds(120);
    for path in format_files() {
        let ev = EventFormat::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for i in 0..per_file {
            let rec = random_record(&mut rng, &ev);
            let ctx = &ctxs[i % ctxs.len()];
            let _ = ev.render(&rec, ctx);
            let _ = ev.render_fields(&rec, ctx);
            for f in &ev.fields {
                let _ = ev.field_value_with(&rec, f, ctx);
            }
        }
    }
}

/// Cuts, duplicates, inserts and overwrites pieces of a text.
fn mutate(rng: &mut Rng, text: &str) -> String {
    const PIECES: &[&str] = &[
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ";",
        "?",
        ":",
        "\"",
        "\\",
        "%",
        "%s",
        "%d",
        "%p",
        "%pS",
        "%pI6c",
        "%*pbl",
        "%.*s",
        "REC->",
        "REC",
        "->",
        "sizeof",
        "(int)",
        "(void *)",
        "__print_flags(",
        "__print_symbolic(",
        "__get_str(",
        "__print_array(",
        "__print_hex(",
        "({",
        "})",
        "-1",
        "0x",
        "<<",
        "*",
        "&",
        "!",
        "~",
        "__data_loc ",
        "__rel_loc ",
        "[]",
        "field:",
        "offset:",
        "size:",
        "signed:",
        "\n",
        "\t",
        "0",
        "999999999999999999999",
    ];
    let mut b = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let end = (at + rng.below(20)).min(b.len());
                b.drain(at.min(end)..end);
            }
            1 => {
                let p = PIECES[rng.below(PIECES.len())].as_bytes();
                b.splice(at..at, p.iter().copied());
            }
            2 if !b.is_empty() => {
                let end = (at + rng.below(40)).min(b.len());
                let piece: Vec<u8> = b[at.min(end)..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, piece);
            }
            3 if at < b.len() => b[at] = rng.next() as u8,
            4 => b.truncate(at),
            _ => {
                let p = PIECES[rng.below(PIECES.len())].as_bytes();
                let end = (at + p.len()).min(b.len());
                b.splice(at..end, p.iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn mutated_format_files_never_panic() {
    let mut rng = Rng::new(seed() ^ 0x55);
    let ctxs = contexts();
    let texts: Vec<String> = format_files()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut parsed = 0;
    for i in 0..rounds(4000) {
        let pick = rng.below(texts.len());
        let text = mutate(&mut rng, &texts[pick]);
        if let Ok(ev) = EventFormat::parse_lenient(&text) {
            parsed += 1;
            if let Ok(p) = &ev.print {
                let _ = p.to_string();
                let _ = p.identifiers();
            }
            for _ in 0..3 {
                let rec = random_record(&mut rng, &ev);
                let _ = ev.render(&rec, &ctxs[i % ctxs.len()]);
            }
        }
    }
    assert!(parsed > 100, "only {parsed} mutants parsed");
}

#[test]
fn token_soup_print_fmts_never_panic() {
    const TOKENS: &[&str] = &[
        "REC->a",
        "REC->s",
        "REC->arr",
        "REC->d",
        "1",
        "-1",
        "0xffffffffffffffff",
        "'c'",
        "\"str\"",
        "(",
        ")",
        "?",
        ":",
        ",",
        "+",
        "-",
        "*",
        "/",
        "%",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "&&",
        "||",
        "!",
        "~",
        "==",
        "<",
        ">=",
        "[",
        "]",
        "(int)",
        "(unsigned long)",
        "(u8 *)",
        "(struct x *)",
        "sizeof",
        "(char)",
        "__print_flags(",
        "__print_symbolic(",
        "{",
        "}",
        "__get_str(s)",
        "__get_dynamic_array(d)",
        "__get_dynamic_array_len(d)",
        "__print_array(",
        "__print_hex(",
        "__get_bitmask(d)",
        "__get_cpumask(d)",
        "({",
        "})",
        ";",
        "int x =",
        "x",
        "ENUM_NAME",
        "NULL",
        "jiffies",
    ];
    const FORMATS: &[&str] = &[
        "%d",
        "%s",
        "%lu",
        "%llx",
        "%p",
        "%pS",
        "%ps",
        "%pI4",
        "%pI6c",
        "%pISpc",
        "%pM",
        "%pU",
        "%*pbl",
        "%*pb",
        "%.*s",
        "%*d",
        "%c",
        "%hhx",
        "%#o",
        "%-08.3lld",
        "%pa",
        "%ph",
    ];
    let header = "name: soup\nID: 1\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
        \tfield:int a;\toffset:4;\tsize:4;\tsigned:1;\n\
        \tfield:__data_loc char[] s;\toffset:8;\tsize:4;\tsigned:0;\n\
        \tfield:u8 arr[16];\toffset:12;\tsize:16;\tsigned:0;\n\
        \tfield:__data_loc u32[] d;\toffset:28;\tsize:4;\tsigned:0;\n\n";
    let mut rng = Rng::new(seed() ^ 0xaa);
    let ctxs = contexts();
    for i in 0..rounds(5000) {
        let mut fmt = String::new();
        for _ in 0..rng.below(4) {
            fmt.push_str(FORMATS[rng.below(FORMATS.len())]);
            fmt.push(' ');
        }
        let mut line = format!("print fmt: \"{fmt}\"");
        for _ in 0..rng.below(5) {
            line.push_str(", ");
            for _ in 0..1 + rng.below(8) {
                line.push_str(TOKENS[rng.below(TOKENS.len())]);
                line.push(' ');
            }
        }
        let text = format!("{header}{line}\n");
        let ev = EventFormat::parse_lenient(&text).unwrap();
        for _ in 0..3 {
            let rec = random_record(&mut rng, &ev);
            let _ = ev.render(&rec, &ctxs[i % ctxs.len()]);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let header = "name: deep\nID: 1\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
        \tfield:int a;\toffset:4;\tsize:4;\tsigned:1;\n\n";
    let n = 100_000;
    let cases = [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}1", "!~".repeat(n)),
        vec!["1"; n].join(" + "),
        vec!["REC->a"; n].join(" ? 1 : "),
        format!("({})", vec!["1"; n].join(", ")),
        format!("REC->a{}", "[0]".repeat(n)),
        format!("{}1{}", "__builtin_expect(".repeat(n), ", 0)".repeat(n)),
        format!("{}1", "(int)".repeat(n)),
        format!("{}1{}", "({ ".repeat(n), "; })".repeat(n)),
    ];
    for (i, args) in cases.iter().enumerate() {
        let text = format!("{header}print fmt: \"%d\", {args}\n");
        let ev = EventFormat::parse_lenient(&text).unwrap();
        // Either a parse error, or something that renders (or falls back) safely.
        let _ = ev.render(&[0u8; 8], &RenderContext::default());
        if let Err(e) = &ev.print {
            assert_eq!(e.line, 8, "case {i}: {e}");
        }
    }
}
