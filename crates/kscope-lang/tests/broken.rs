//! The corpus of broken scripts: each `tests/data/broken/NAME.bt` must fail with exactly the
//! text in `NAME.err`. `KSCOPE_BLESS=1` rewrites the `.err` files (review the diff!).

mod common;

use kscope_lang::SourceFile;
use kscope_lang::sema::Options;
use std::path::Path;

#[test]
fn broken_scripts_give_their_exact_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/broken");
    let bless = std::env::var_os("KSCOPE_BLESS").is_some();
    let types = common::kernel_types();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    names.sort();
    assert!(names.len() >= 40, "corpus has {} scripts", names.len());
    let mut failures = Vec::new();
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let src = SourceFile::new(name.clone(), text);
        let got = match kscope_lang::compile(&src, &Options::default(), &types) {
            Ok(_) => "(compiled without error)\n".to_string(),
            Err(e) => e.rendered,
        };
        if got.starts_with("(compiled") {
            failures.push(format!("{name}: a broken script compiled"));
            continue;
        }
        let err_path = path.with_extension("err");
        if bless {
            std::fs::write(&err_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&err_path).unwrap_or_default();
        if got != want {
            failures.push(format!("{name}:\n--- want\n{want}--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
