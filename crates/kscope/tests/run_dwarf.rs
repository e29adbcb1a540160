//! `kscope run` with uprobe `args` named and typed from the binary's DWARF, against the
//! real kernel: the workload (tests/run_dwarf.c, built with -g) calls `kscope_dw` five
//! times and `kscope_dw3` twice with known parameters, and the scripts see exactly those
//! values, through struct pointers too; bpftrace 0.17 gives the same maps.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod runkit;

use kscope_testkit::{Feature, require_all};
use runkit::{Clean, kscope, lines, text};

fn build(flags: &'static [&'static str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_dwarf.c");
    kscope_testkit::cprogram::build_once(&src, flags)
}

fn workload() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build(&["-O1", "-g"]))
}

/// `script` with `BIN` replaced by `bin`'s path.
fn script_for(bin: &Path, script: &str) -> String {
    script.replace("BIN", &bin.display().to_string())
}

/// Runs `script` on the workload; returns stdout, checking the `Attached` line and that
/// nothing is left behind.
fn run(script: &str) -> String {
    let clean = Clean::start();
    let b = workload().display().to_string();
    let script = script_for(workload(), script);
    let out = kscope(&["-c", &b, "-e", &script]);
    assert!(
        out.status.success(),
        "kscope run failed: {script}\n{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).starts_with("Attached "),
        "{}",
        text(&out.stderr)
    );
    clean.check();
    text(&out.stdout)
}

/// The error `kscope run` reports for `script` on `bin` (it fails before loading).
fn error(bin: &Path, script: &str) -> String {
    let b = bin.display().to_string();
    let out = kscope(&["-c", &b, "-e", &script_for(bin, script)]);
    assert!(!out.status.success(), "{script} ran");
    text(&out.stderr)
}

fn kernel() -> Option<impl Sized> {
    require_all(&[Feature::Uprobes, Feature::BpfKprobe])
}

#[test]
fn args_as_map_keys_count_each_call() {
    let Some(_kernel) = kernel() else { return };
    let out = run("uprobe:BIN:kscope_dw { @[args.n, args.c] = count(); }");
    assert_eq!(
        lines(&out),
        [
            "@[0, 97]: 1",
            "@[0, 98]: 1",
            "@[0, 99]: 1",
            "@[1, 97]: 1",
            "@[1, 98]: 1"
        ],
        "{out}"
    );
}

#[test]
fn args_through_struct_pointers_strings_and_wide_integers() {
    let Some(_kernel) = kernel() else { return };
    let out = run(r#"uprobe:BIN:kscope_dw {
  printf("%d %c %s %d %ld %s %d %s %s %d %ld\n", args.n, args.c, str(args.s), args.p->m,
         args.p->k, args.p->in.label, args.p.in.tag, str(args.p->name),
         str(args.p->next->name), args.odd, args.big);
}"#);
    assert_eq!(
        out.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        [
            "0 a zero -42 1234567890123 head 65535 first last 0 -1099511627776",
            "1 b one -42 1234567890123 head 65535 first last 1 -1099511627777",
            "0 c two -42 1234567890123 head 65535 first last 0 -1099511627778",
            "1 a zero 99 -5 tail 7 last  1 -1099511627779",
            "0 b one 99 -5 tail 7 last  0 -1099511627780",
        ],
        "{out}"
    );
}

#[test]
fn whole_args_and_dwarf_structs_as_values() {
    let Some(_kernel) = kernel() else { return };
    let out = run("uprobe:BIN:kscope_dw3 { print(args); @[args] = count(); }
uprobe:BIN:kscope_dw /args.n == 1/ { print(args.p->in); @s[(*args.p).in.label] = count(); }");
    assert_eq!(
        lines(&out),
        [
            "@[{ .a = -3, .b = 200, .c = true }]: 1",
            "@[{ .a = 5, .b = 0, .c = false }]: 1",
            "@s[head]: 1",
            "@s[tail]: 1",
            "{ .a = -3, .b = 200, .c = true }",
            "{ .a = 5, .b = 0, .c = false }",
            "{ .tag = 65535, .label = head }",
            "{ .tag = 7, .label = tail }",
        ],
        "{out}"
    );
}

#[test]
fn errors_at_the_span() {
    let no_dwarf = build(&["-O1", "-g0"]);
    let e = error(&no_dwarf, "uprobe:BIN:kscope_dw { @ = args.p->m; }");
    assert!(
        e.contains("has no DWARF debug info (build it with -g)") && e.contains("^^^^^^"),
        "{e}"
    );
    let e = error(workload(), "uprobe:BIN:kscope_dw { @ = args.nn; }");
    assert!(
        e.contains("has no argument `nn`") && e.contains("did you mean `n`?"),
        "{e}"
    );
    let e = error(workload(), "uprobe:BIN:kscope_dw7 { @ = args.f + args.g; }");
    assert!(
        e.contains("`args.g` is parameter 7 of the function: only the first 6 are read"),
        "{e}"
    );
    assert!(!e.contains("`args.f`"), "{e}");
}

#[test]
fn maps_match_bpftrace() {
    let Some(_kernel) = kernel() else { return };
    let script = "uprobe:BIN:kscope_dw { @[args->n, args->c] = count(); \
                  @m[str(args->s)] = sum(args->p->m); @t = sum(args->p->in.tag); }";
    let b = workload().display().to_string();
    let Some(want) = runkit::bpftrace(&script_for(workload(), script), Some(&b)) else {
        return;
    };
    let got = run(script);
    assert_eq!(
        lines(&got),
        lines(&want),
        "kscope:\n{got}\nbpftrace:\n{want}"
    );
    assert!(got.contains("@t: 196619"), "{got}");
}

#[test]
fn casts_to_the_binarys_structs_and_script_definitions_win() {
    let Some(_kernel) = kernel() else { return };
    let out = run(r#"uprobe:BIN:kscope_dw /args.n == 1/ {
  $p = (struct dw_pair *)arg2;
  printf("%d %s %d %d\n", $p->m, $p->in.label, sizeof(struct dw_pair), offsetof(struct dw_pair, name));
}"#);
    assert_eq!(lines(&out), ["-42 head 48 32", "99 tail 48 32"], "{out}");
    // A definition in the script shadows the binary's (upstream's "struct override").
    let out = run(r#"struct dw_pair { int first; int second; }
uprobe:BIN:kscope_dw /args.n == 0/ { printf("%d %d\n", ((struct dw_pair *)arg2)->first, sizeof(struct dw_pair)); }"#);
    assert_eq!(lines(&out), ["-42 8", "-42 8", "99 8"], "{out}");
}

#[test]
fn list_verbose_shows_parameters_as_bpftrace_does() {
    let pattern = format!("uprobe:{}:kscope_dw*", workload().display());
    let out = kscope(&["-l", "-v", &pattern]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert!(
        got.contains(&format!(
            "{}\n    int n\n    char c\n    struct dw_pair* p\n    const char* s\n    _Bool odd\n    dw_big big\n",
            pattern.trim_end_matches('*')
        )),
        "{got}"
    );
    let Ok(theirs) = std::process::Command::new("bpftrace")
        .args(["-lv", &pattern])
        .output()
    else {
        return;
    };
    if theirs.status.success() {
        assert_eq!(got, text(&theirs.stdout));
    }
}

#[test]
fn args_over_a_wildcard_of_functions_with_the_same_parameters() {
    let Some(_kernel) = kernel() else { return };
    let out = run("uprobe:BIN:kscope_dw3* { @[args.a, args.b, args.c] = count(); }");
    assert_eq!(
        lines(&out),
        [
            "@[-3, 200, true]: 1",
            "@[5, 0, false]: 1",
            "@[9, 1, true]: 1",
        ],
        "{out}"
    );
    let e = error(workload(), "uprobe:BIN:kscope_dw* { @ = args.a; }");
    assert!(
        e.contains("`args` of a wildcard uprobe needs functions with the same parameters"),
        "{e}"
    );
}
