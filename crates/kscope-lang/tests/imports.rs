//! `import "PATH";`: the files are read ([`kscope_lang::imports::load`]), parsed where
//! the import stands, and their errors name their own file and line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kscope_lang::SourceFile;
use kscope_lang::sema::{Checked, Options};

/// A fresh directory (mode 755) under the target's temporary directory holding `files`.
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("imports")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    for d in std::iter::once(dir.clone()).chain(
        files
            .iter()
            .filter_map(|(p, _)| dir.join(p).parent().map(Path::to_path_buf)),
    ) {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn compile(dir: &Path, script: &str) -> Result<Checked, String> {
    let src = SourceFile::new("main.bt", script);
    let src = kscope_lang::imports::load(src, dir).map_err(|e| e.rendered)?;
    kscope_lang::compile(&src, &Options::default(), &common::kernel_types()).map_err(|e| e.rendered)
}

fn error(dir: &Path, script: &str) -> String {
    match compile(dir, script) {
        Ok(_) => panic!("accepted: {script}"),
        Err(e) => e,
    }
}

#[test]
fn imported_scripts_and_headers_join_the_script() {
    let dir = tree(
        "join",
        &[
            (
                "lib/a.bt",
                "import \"../shared.bt\";\nmacro twice(x) { x * 2 }\nlet @seen = lruhash(8);\nbegin { @from_a = 1; }\n",
            ),
            (
                "lib/b.h",
                "struct pair { int a; long b; };\ntypedef struct pair pair_t;\n\
                 enum color { RED, GREEN = 5 };\n",
            ),
            ("lib/notes.txt", "not imported"),
            ("shared.bt", "begin { @shared = 1; }\n"),
        ],
    );
    // The directory brings a.bt (which brings shared.bt) and b.h; shared.bt again, and
    // b.h again, are each imported once.
    let c = compile(
        &dir,
        "struct mine { int x; }\nimport \"lib\";\nimport \"shared.bt\";\nimport \"lib/b.h\";\n\
         begin { @seen[1] = twice(21); @s = sizeof(pair_t) + GREEN + sizeof(struct mine); }",
    )
    .unwrap();
    assert_eq!(c.program.probes.len(), 3);
    let maps: Vec<&str> = c.maps.keys().map(String::as_str).collect();
    assert_eq!(maps, ["from_a", "s", "seen", "shared"]);
    assert_eq!(c.program.map_decls.len(), 1);
    assert_eq!(c.program.c_types.structs.len(), 2);
}

#[test]
fn errors_in_an_imported_file_name_its_line() {
    let dir = tree("broken", &[("lib/broken.bt", "begin {\n  $x = ;\n}\n")]);
    let e = error(&dir, "import \"lib/broken.bt\";\nbegin { }");
    assert!(
        e.contains(&format!("--> {}:2:8", dir.join("lib/broken.bt").display())),
        "{e}"
    );
    assert!(e.contains("2 |   $x = ;"), "{e}");
    // A type error found after parsing points there too.
    let dir = tree("broken_type", &[("t.bt", "begin { @x = nope; }\n")]);
    let e = error(&dir, "import \"t.bt\";\nbegin { }");
    assert!(e.contains("unknown builtin `nope`"), "{e}");
    assert!(
        e.contains(&format!("--> {}:1:14", dir.join("t.bt").display())),
        "{e}"
    );
}

#[test]
fn what_cannot_be_imported_is_an_error_at_the_import() {
    let dir = tree(
        "refused",
        &[
            ("cfg.bt", "config = { max_strlen = 3 }\nbegin { }\n"),
            ("probe.h", "begin { }\n"),
            ("x.bpf.c", "int __add_one(int v) { return v + 1; }\n"),
        ],
    );
    for (script, message) in [
        (
            "import \"cfg.bt\"; begin { }",
            "an imported script cannot have a config block",
        ),
        (
            "import \"probe.h\"; begin { }",
            "a header holds C definitions only",
        ),
        (
            "import \"x.bpf.c\"; begin { }",
            "cannot import `x.bpf.c`: BPF C needs a C compiler",
        ),
        (
            "import \"none.bt\"; begin { }",
            "cannot import `none.bt`: No such file",
        ),
        (
            "begin { } import \"cfg.bt\";",
            "imports must come before probes, macros and map declarations",
        ),
    ] {
        let e = error(&dir, script);
        assert!(e.contains(message), "{script}: {e}");
    }
    // Upstream's security measure: nothing from a directory anyone may write in.
    let open = tree("open", &[("w/m.bt", "begin { }\n")]);
    std::fs::set_permissions(open.join("w"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = error(&open, "import \"w/m.bt\"; begin { }");
    assert!(e.contains("anyone may write in it"), "{e}");
    // A bare text has no files to import.
    let e = kscope_lang::parser::parse("import \"a.bt\"; begin { }").unwrap_err();
    assert_eq!(e.message, "`a.bt` was not loaded");
}
