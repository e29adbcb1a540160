//! Seeded-mutation fuzzing of lexer, parser, checker, printer and diagnostics: no input may
//! panic, every diagnostic must render, and every accepted script must write back to source
//! that parses to the same tree. The seeds are the scripts under tests/data (broken and
//! fuzz) and the one-liner table. `KSCOPE_FUZZ_ITERS` sets the number of mutants (default
//! 3000), `KSCOPE_FUZZ_SEED` the seed.

mod common;

use kscope_lang::sema::{NoKernelTypes, Options, TypeProvider};
use kscope_lang::{SourceFile, lexer, parser, printer, sema};
use std::path::Path;

/// xorshift64*: deterministic, so a failure reproduces from its iteration number.
struct Rng(u64);

impl Rng {
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
}

/// Fragments that steer mutants towards interesting syntax.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "/",
    "/*",
    "*/",
    "//",
    "\"",
    "\\",
    ",",
    ";",
    ":",
    "?",
    "..",
    ".",
    "->",
    "$",
    "$1",
    "$#",
    "@",
    "@m[",
    "++",
    "--",
    "+=",
    "<<=",
    "==",
    "&&",
    "!",
    "~",
    "-",
    "*",
    "&",
    "0x",
    "0",
    "1e9",
    "18446744073709551616",
    "1_0s",
    "(uint8)",
    "(struct x *)",
    "if",
    "else",
    "for",
    "while",
    "unroll",
    "return",
    "break",
    "let",
    "config",
    "config().max_strlen",
    "typedef int t;",
    "typedef struct { int a; } s_t;",
    "(s_t *)",
    "import \"x.bt\";",
    "struct k { struct task_struct t; }",
    "watchpoint:0x1000:8:w",
    "{ let $a = 1; }",
    "=",
    "count()",
    "hist(",
    "lhist(1,0,10,1)",
    "printf(\"%d %s\", ",
    "args.",
    "retval",
    "kstack(",
    "é",
    "\t",
    "\n",
    "\0",
    "#",
    "macro",
    "begin",
    "end",
    "kprobe:f",
    "tracepoint:a:b",
    "uprobe:/x:y",
    "interval:s:",
    "(1,2)",
    ".0",
    "%",
    "\\x",
    "\\0",
    "ä\u{301}",
];

fn seeds() -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for dir in ["broken", "fuzz"] {
        let mut paths: Vec<_> = std::fs::read_dir(base.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bt"))
            .collect();
        paths.sort();
        out.extend(paths.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    out.extend(common::ONE_LINERS.iter().map(|s| s.to_string()));
    assert!(out.len() > 100);
    out
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, src: &str, donor: &str) -> String {
    let mut s = src.to_string();
    for _ in 0..1 + rng.below(2) {
        let a = char_floor(&s, rng.below(s.len() + 1));
        let b = char_floor(&s, a + rng.below(12));
        let (a, b) = (a.min(b), a.max(b));
        match rng.below(6) {
            0 => s.replace_range(a..b, ""),
            1 => s.insert_str(a, FRAGMENTS[rng.below(FRAGMENTS.len())]),
            2 => {
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
            3 => {
                let da = char_floor(donor, rng.below(donor.len() + 1));
                let db = char_floor(donor, da + rng.below(40));
                s.insert_str(a, &donor[da..db]);
            }
            4 => s.truncate(a),
            _ => {
                let c = char::from_u32(rng.below(0x250) as u32).unwrap_or('?');
                s.replace_range(a..b, &c.to_string());
            }
        }
    }
    s
}

/// Runs every pass over `src`; panics (with the input) on a broken property.
fn exercise(src: &str, providers: &[&dyn TypeProvider]) {
    let _ = lexer::tokenize(src);
    let file = SourceFile::new("fuzz.bt", src);
    let program = match parser::parse(src) {
        Ok(p) => p,
        Err(d) => {
            let text = d.render(&file);
            assert!(text.starts_with("error: "), "{text}");
            return;
        }
    };
    let printed = program.to_string();
    let written = printer::to_source(&program);
    match parser::parse(&written) {
        // An anonymous struct named through a typedef (`struct <anon_1>`) has no source
        // spelling (and to_source writes no C definitions): nothing to compare.
        _ if written.contains(" <anon_") => {}
        Ok(again) => assert_eq!(printed, again.to_string(), "round trip of:\n{written}"),
        // Rewriting adds parentheses, which can cross the depth limit.
        Err(d) => assert_eq!(d.message, "the script nests too deeply", "{written}"),
    }
    for (i, tp) in providers.iter().enumerate() {
        let opts = Options {
            allow_unsafe: i == 0,
            params: vec!["7".into(), "text".into()],
            named: Vec::new(),
        };
        match sema::check(program.clone(), &opts, *tp) {
            Ok(c) => assert_eq!(c.types.len(), c.program.expr_count as usize),
            Err(diags) => {
                assert!(!diags.is_empty());
                for d in diags {
                    let _ = d.render(&file);
                }
            }
        }
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let iters: usize = std::env::var("KSCOPE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seeds = seeds();
    let table = common::kernel_types();
    let providers: [&dyn TypeProvider; 2] = [&NoKernelTypes, &table];
    for s in &seeds {
        exercise(s, &providers);
    }
    let seed = std::env::var("KSCOPE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b73_636f_7065_0005u64);
    let mut rng = Rng(seed.max(1));
    let mut accepted = 0;
    for i in 0..iters {
        let src = &seeds[rng.below(seeds.len())];
        let donor = &seeds[rng.below(seeds.len())];
        let mutant = mutate(&mut rng, src, donor);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            exercise(&mutant, &providers)
        }));
        if r.is_err() {
            panic!("iteration {i} panicked on input:\n{mutant:?}");
        }
        if parser::parse(&mutant).is_ok() {
            accepted += 1;
        }
    }
    // The mutants must reach past the parser often enough to test the checker.
    assert!(
        accepted * 20 >= iters,
        "only {accepted} of {iters} mutants parsed"
    );
}
