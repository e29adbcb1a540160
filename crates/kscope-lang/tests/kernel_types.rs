//! `TracefsTypes`: tracepoint names and `args` from tracefs, first on a fake tracefs tree
//! (exact, hermetic), then on this machine's tracefs.

use kscope_ftrace::Tracefs;
use kscope_lang::SourceFile;
use kscope_lang::kernel::TracefsTypes;
use kscope_lang::sema::{Options, TypeProvider};
use std::path::PathBuf;

const OPENAT: &str = "name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: \"dfd: 0x%08lx, filename: 0x%08lx\", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename))
";

const SWITCH: &str = "name: sched_switch
ID: 372
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] name;\toffset:28;\tsize:4;\tsigned:0;

print fmt: \"prev_comm=%s prev_pid=%d\", REC->prev_comm, REC->prev_pid
";

/// A fake tracefs with two events, removed on drop.
struct FakeTracefs(PathBuf);

impl FakeTracefs {
    fn new() -> FakeTracefs {
        let root = std::env::temp_dir().join(format!("kscope-lang-tracefs-{}", std::process::id()));
        for (dir, text) in [
            ("events/syscalls/sys_enter_openat", OPENAT),
            ("events/sched/sched_switch", SWITCH),
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join("format"), text).unwrap();
        }
        FakeTracefs(root)
    }
}

impl Drop for FakeTracefs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn compile(src: &str, types: &dyn TypeProvider) -> Result<kscope_lang::sema::Checked, String> {
    let file = SourceFile::new("k.bt", src);
    kscope_lang::compile(&file, &Options::default(), types).map_err(|e| e.rendered)
}

fn var_a(src: &str, types: &dyn TypeProvider) -> String {
    let c = compile(src, types).unwrap_or_else(|e| panic!("{e}"));
    c.probes[0].variables["a"].to_string()
}

#[test]
fn args_types_from_format_files() {
    let fake = FakeTracefs::new();
    let types = TracefsTypes::new(Tracefs::at(&fake.0));
    let openat = "tracepoint:syscalls:sys_enter_openat";
    assert_eq!(
        var_a(&format!("{openat} {{ $a = args.filename; }}"), &types),
        "int8 *"
    );
    assert_eq!(
        var_a(&format!("{openat} {{ $a = args->dfd; }}"), &types),
        "uint64"
    );
    assert_eq!(
        var_a(&format!("{openat} {{ $a = args.__syscall_nr; }}"), &types),
        "int32"
    );
    assert_eq!(
        var_a(&format!("{openat} {{ $a = str(args.filename); }}"), &types),
        "string"
    );
    let switch = "t:sched:sched_switch";
    assert_eq!(
        var_a(&format!("{switch} {{ $a = args.prev_comm; }}"), &types),
        "string"
    );
    assert_eq!(
        var_a(&format!("{switch} {{ $a = args.prev_pid; }}"), &types),
        "int32"
    );
    assert_eq!(
        var_a(&format!("{switch} {{ $a = args.name; }}"), &types),
        "int8 *"
    );
    // Wildcards match; their args are resolved after expansion.
    compile(
        "tracepoint:sys*:sys_enter_* { @[args.anything] = count(); }",
        &types,
    )
    .unwrap();
    compile("rawtracepoint:sched_switch { @ = count(); }", &types).unwrap();
}

#[test]
fn unknown_fields_and_probes_suggest_the_nearest() {
    let fake = FakeTracefs::new();
    let types = TracefsTypes::new(Tracefs::at(&fake.0));
    let err = compile(
        "tracepoint:syscalls:sys_enter_openat { print(args.filenme); }",
        &types,
    )
    .unwrap_err();
    assert_eq!(
        err,
        "error: `tracepoint:syscalls:sys_enter_openat` has no argument `filenme`
 --> k.bt:1:51
  |
1 | tracepoint:syscalls:sys_enter_openat { print(args.filenme); }
  |                                                   ^^^^^^^ unknown field of `args`
  = help: did you mean `filename`?
"
    );
    let err = compile("t:sched:sched_swich { }", &types).unwrap_err();
    assert!(
        err.starts_with("error: unknown probe `tracepoint:sched:sched_swich`\n"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `tracepoint:sched:sched_switch`?"),
        "{err}"
    );
    let err = compile("rt:sched_swtch { }", &types).unwrap_err();
    assert!(
        err.contains("did you mean `rawtracepoint:sched_switch`?"),
        "{err}"
    );
    let err = compile("tracepoint:nothing:* { }", &types).unwrap_err();
    assert!(
        err.starts_with("error: unknown probe `tracepoint:nothing:*`"),
        "{err}"
    );
}

#[test]
fn this_kernels_tracepoints() {
    let Some(_kernel) = kscope_testkit::require(kscope_testkit::Feature::Tracefs) else {
        return;
    };
    let types = TracefsTypes::discover().expect("tracefs is mounted");
    let openat = "tracepoint:syscalls:sys_enter_openat";
    assert_eq!(
        var_a(&format!("{openat} {{ $a = args.filename; }}"), &types),
        "int8 *"
    );
    assert_eq!(
        var_a(
            "tracepoint:sched:sched_switch { $a = args.prev_comm; }",
            &types
        ),
        "string"
    );
    assert_eq!(
        var_a(
            "tracepoint:sched:sched_switch { $a = args.next_pid; }",
            &types
        ),
        "int32"
    );
    let err = compile(
        "tracepoint:syscalls:sys_enter_opnat { printf(\"%s\\n\", str(args.filename)); }",
        &types,
    )
    .unwrap_err();
    assert!(
        err.contains("help: did you mean `tracepoint:syscalls:sys_enter_openat`?"),
        "{err}"
    );
    let err = compile(
        "tracepoint:syscalls:sys_exit_read { @ = hist(args.rte); }",
        &types,
    )
    .unwrap_err();
    assert!(err.contains("help: did you mean `ret`?"), "{err}");
}
