//! ELF symbol to file offset, checked against two independent views of the same binaries:
//! readelf's symbol table and program headers, and the running process's /proc/self/maps.
//! The binaries are compiled at test time (PIE, non-PIE, shared library, stripped copies).

use std::path::{Path, PathBuf};
use std::process::Command;

use kscope_ftrace::probe::elf::{ElfError, ElfImage, SymbolTable};

const SOURCE: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int kscope_probe_data = 7;
__attribute__((noinline, noclone, used)) int kscope_probe_target(int x) {
    __asm__ volatile("");
    return x * 2 + 1;
}
int main(int argc, char **argv) {
    if (argc > 2) {
        /* Print where the function is mapped, then the mappings themselves. */
        printf("%lx\n", (unsigned long)&kscope_probe_target);
        FILE *f = fopen("/proc/self/maps", "r");
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
        return 0;
    }
    int n = argc > 1 ? atoi(argv[1]) : 1, s = 0;
    for (int i = 0; i < n; i++) s += kscope_probe_target(i % 7);
    return s == -1;
}
"#;

/// A temporary directory with the compiled variants, removed on drop.
struct Binaries {
    dir: PathBuf,
}

impl Drop for Binaries {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Binaries {
    fn build(tag: &str) -> Binaries {
        let dir =
            std::env::temp_dir().join(format!("kscope-probe-elf-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.c"), SOURCE).unwrap();
        let b = Binaries { dir };
        b.cc("pie", &["-O1", "-fPIE", "-pie"]);
        b.cc("nopie", &["-O1", "-fno-pie", "-no-pie"]);
        b.cc("rdynamic", &["-O1", "-fPIE", "-pie", "-rdynamic"]);
        b.cc("lib.so", &["-O1", "-fPIC", "-shared"]);
        for name in ["pie", "rdynamic"] {
            let stripped = b.path(&format!("{name}.stripped"));
            run(
                "strip",
                &[
                    "-s",
                    "-o",
                    stripped.to_str().unwrap(),
                    b.path(name).to_str().unwrap(),
                ],
            );
        }
        b
    }

    fn cc(&self, out: &str, flags: &[&str]) {
        kscope_testkit::cprogram::compile(&self.path("t.c"), &self.path(out), flags);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (gcc and binutils are needed): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}

/// readelf's view: the symbol's value and size, and the file offset through the
/// executable LOAD header that contains it.
fn readelf_expectation(binary: &Path, symbol: &str) -> (u64, u64, u64) {
    let symbols = run("readelf", &["-sW", binary.to_str().unwrap()]);
    let (value, size) = symbols
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 8 && f[3] == "FUNC" && f[7] == symbol)
        .map(|f| (hex(f[1]), f[2].parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("readelf lists no FUNC {symbol}:\n{symbols}"));
    let headers = run("readelf", &["-lW", binary.to_str().unwrap()]);
    let offset = headers
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"LOAD") && f.len() >= 8)
        .filter(|f| f[6..f.len() - 1].concat().contains('E'))
        .map(|f| (hex(f[1]), hex(f[2]), hex(f[4])))
        .find(|&(_, vaddr, filesz)| value >= vaddr && value < vaddr + filesz)
        .map(|(off, vaddr, _)| off + (value - vaddr))
        .unwrap_or_else(|| panic!("no executable LOAD holds {value:#x}:\n{headers}"));
    (value, size, offset)
}

/// The running process's view: the file offset of the mapped function, from the mapping
/// that holds its runtime address (`address - start + pgoff`).
fn maps_offset(binary: &Path) -> u64 {
    let out = run(binary.to_str().unwrap(), &["0", "maps"]);
    let mut lines = out.lines();
    let address = hex(lines.next().unwrap());
    let canonical = binary.canonicalize().unwrap();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || Path::new(f[5]) != canonical {
            continue;
        }
        let (start, end) = f[0].split_once('-').unwrap();
        let (start, end) = (hex(start), hex(end));
        if address >= start && address < end {
            return address - start + hex(f[2]);
        }
    }
    panic!(
        "no mapping of {} holds {address:#x}:\n{out}",
        binary.display()
    );
}

#[test]
fn symbols_resolve_to_the_file_offset_readelf_and_the_running_process_agree_on() {
    let b = Binaries::build("agree");
    for name in ["pie", "nopie", "rdynamic"] {
        let path = b.path(name);
        let image = ElfImage::open(&path).unwrap();
        assert!(image.has_symtab());
        let r = image.resolve("kscope_probe_target", 0).unwrap();
        let (value, size, offset) = readelf_expectation(&path, "kscope_probe_target");
        assert_eq!(
            (r.address, r.size, r.file_offset),
            (value, size, offset),
            "{name}"
        );
        assert_eq!(r.table, SymbolTable::Symtab, "{name}");
        assert_eq!(r.file_offset, maps_offset(&path), "{name}: /proc/self/maps");
        // An offset inside the function moves the file offset by as much.
        let inside = image.resolve("kscope_probe_target", 1).unwrap();
        assert_eq!(inside.file_offset, offset + 1);
        image.check_file_offset(offset).unwrap();
    }
    // The non-PIE executable is linked at 0x400000: address and file offset differ.
    let r = ElfImage::open(&b.path("nopie"))
        .unwrap()
        .resolve("kscope_probe_target", 0)
        .unwrap();
    assert!(r.address >= 0x400000 && r.file_offset < 0x400000, "{r:?}");
    // A shared library.
    let lib = b.path("lib.so");
    let r = ElfImage::open(&lib)
        .unwrap()
        .resolve("kscope_probe_target", 0)
        .unwrap();
    assert_eq!(
        r.file_offset,
        readelf_expectation(&lib, "kscope_probe_target").2
    );
}

#[test]
fn a_stripped_binary_resolves_through_dynsym_or_says_it_is_stripped() {
    let b = Binaries::build("stripped");
    // -rdynamic exports the function, so strip keeps it in .dynsym.
    let unstripped = ElfImage::open(&b.path("rdynamic"))
        .unwrap()
        .resolve("kscope_probe_target", 0)
        .unwrap();
    let image = ElfImage::open(&b.path("rdynamic.stripped")).unwrap();
    assert!(!image.has_symtab());
    let r = image.resolve("kscope_probe_target", 0).unwrap();
    assert_eq!(r.table, SymbolTable::Dynsym);
    assert_eq!(r.file_offset, unstripped.file_offset);
    // Without -rdynamic the function is gone with .symtab.
    let err = ElfImage::open(&b.path("pie.stripped"))
        .unwrap()
        .resolve("kscope_probe_target", 0)
        .unwrap_err();
    assert!(
        matches!(err, ElfError::NoSymbol { stripped: true, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("stripped"), "{err}");
}

#[test]
fn bad_symbols_offsets_and_files_get_clear_errors() {
    let b = Binaries::build("errors");
    let path = b.path("pie");
    let image = ElfImage::open(&path).unwrap();
    let err = image.resolve("kscope_probe_targt", 0).unwrap_err();
    match &err {
        ElfError::NoSymbol {
            suggestions,
            stripped,
            ..
        } => {
            assert_eq!(
                suggestions.first().map(String::as_str),
                Some("kscope_probe_target")
            );
            assert!(!stripped);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("did you mean kscope_probe_target?"),
        "{err}"
    );
    let size = readelf_expectation(&path, "kscope_probe_target").1;
    let err = image.resolve("kscope_probe_target", size).unwrap_err();
    assert!(matches!(err, ElfError::PastEnd { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "kscope_probe_target+{size} is past the end of kscope_probe_target, which is {size} bytes long"
        )
    );
    let err = image.resolve("kscope_probe_data", 0).unwrap_err();
    assert!(matches!(err, ElfError::NotFunction { .. }), "{err:?}");
    assert!(matches!(
        image.check_file_offset(0),
        Err(ElfError::OffsetNotInCode { offset: 0, .. })
    ));
    assert!(matches!(
        ElfImage::open(&b.path("t.c")),
        Err(ElfError::NotElf { .. })
    ));
    assert!(matches!(
        ElfImage::open(&b.path("missing")),
        Err(ElfError::Read { .. })
    ));
}

#[test]
fn two_static_functions_of_one_name_are_ambiguous_and_their_offsets_are_listed() {
    let b = Binaries::build("dup");
    for (file, add) in [("a.c", 1), ("b.c", 2)] {
        let source = format!(
            "__attribute__((noinline, used)) static int kscope_dup(int x) {{ __asm__ volatile(\"\"); return x + {add}; }}\n\
             int call_{add}(int x) {{ return kscope_dup(x); }}\n"
        );
        std::fs::write(b.path(file), source).unwrap();
    }
    let lib = b.path("dup.so");
    run(
        "cc",
        &[
            "-O1",
            "-fPIC",
            "-shared",
            "-o",
            lib.to_str().unwrap(),
            b.path("a.c").to_str().unwrap(),
            b.path("b.c").to_str().unwrap(),
        ],
    );
    let err = ElfImage::open(&lib)
        .unwrap()
        .resolve("kscope_dup", 0)
        .unwrap_err();
    let ElfError::Ambiguous { file_offsets, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(file_offsets.len(), 2, "{err}");
    assert_ne!(file_offsets[0], file_offsets[1]);
    assert!(
        err.to_string().ends_with("; probe one as BINARY:0xOFFSET"),
        "{err}"
    );
}
