//! One-liners in the style of bpftrace's documentation and tutorial: all must parse, print,
//! and round-trip through the source writer to the same printed tree.

mod common;

use common::ONE_LINERS;
use kscope_lang::{parser, printer};

#[test]
fn at_least_sixty_one_liners() {
    assert!(ONE_LINERS.len() >= 60, "{}", ONE_LINERS.len());
}

#[test]
fn every_one_liner_parses() {
    let mut failed = Vec::new();
    for src in ONE_LINERS {
        if let Err(d) = parser::parse(src) {
            let file = kscope_lang::SourceFile::new("-e", *src);
            failed.push(d.render(&file));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn printer_round_trip() {
    for src in ONE_LINERS {
        let first = parser::parse(src).unwrap();
        let printed = first.to_string();
        let written = printer::to_source(&first);
        let second =
            parser::parse(&written).unwrap_or_else(|d| panic!("{src}\nwrote:\n{written}\n{d:?}"));
        assert_eq!(
            printed,
            second.to_string(),
            "source: {src}\nwritten:\n{written}"
        );
        // Writing the re-parsed tree again gives the same text.
        assert_eq!(written, printer::to_source(&second));
    }
}

/// One-liners that read a map no probe assigns: they parse, but the checker rejects them.
const READ_ONLY_MAPS: &[&str] = &[
    "i:s:1 { print(@x); clear(@x); }",
    "END { clear(@m); }",
    "end { print(@m, 10); }",
];

#[test]
fn every_one_liner_type_checks() {
    let opts = kscope_lang::sema::Options {
        allow_unsafe: true,
        params: vec!["1".into(), "hello".into()],
        named: Vec::new(),
    };
    let mut failed = Vec::new();
    for src in ONE_LINERS {
        let file = kscope_lang::SourceFile::new("-e", *src);
        let r = kscope_lang::compile(&file, &opts, &kscope_lang::sema::NoKernelTypes);
        match (r, READ_ONLY_MAPS.contains(src)) {
            (Ok(_), false) => {}
            (Err(e), true) if e.rendered.contains("undefined map") => {}
            (Ok(_), true) => failed.push(format!("{src}: compiled, expected undefined map")),
            (Err(e), _) => failed.push(e.rendered),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
