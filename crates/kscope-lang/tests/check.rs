//! Type checker: exact types for accepted scripts, exact first errors for rejected ones.

mod common;

use kscope_lang::SourceFile;
use kscope_lang::sema::{AggKind, Checked, NoKernelTypes, Options, Type, TypeProvider};

fn compile_with(src: &str, types: &dyn TypeProvider) -> Checked {
    let file = SourceFile::new("t.bt", src);
    let opts = Options {
        allow_unsafe: true,
        params: vec!["42".into(), "hello".into()],
        named: Vec::new(),
    };
    kscope_lang::compile(&file, &opts, types).unwrap_or_else(|e| panic!("{src}\n{e}"))
}

fn var_types(src: &str) -> Vec<(String, String)> {
    let c = compile_with(src, &NoKernelTypes);
    c.probes[0]
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn var(src: &str, name: &str) -> String {
    var_types(src)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no ${name} in {src}"))
}

#[test]
fn integer_typing_follows_bpftrace() {
    let cases = [
        ("begin { $a = 1; }", "int8"),
        ("begin { $a = 200; }", "int16"),
        ("begin { $a = -1000; }", "int16"),
        ("begin { $a = 70000; }", "int32"),
        ("begin { $a = 0x7fffffffffffffff; }", "int64"),
        ("begin { $a = 0xffffffffffffffff; }", "uint64"),
        // Arithmetic gives 64 bits; the sign follows the operands.
        ("begin { $a = (uint32)5 + (uint8)3; }", "uint64"),
        ("begin { $a = (int8)1 + (uint8)1; }", "int64"),
        // Subtraction is always signed.
        ("begin { $a = (uint64)1 - (uint64)2; }", "int64"),
        // A positive literal takes the other operand's sign.
        ("begin { $a = pid + 1; }", "uint64"),
        ("begin { $a = 1 * pid; }", "uint64"),
        ("begin { $a = pid + -1; }", "int64"),
        ("begin { $a = 1 << 16; }", "int64"),
        ("begin { $a = nsecs / 1000; }", "uint64"),
        ("begin { $a = pid & 0xff; }", "uint64"),
        ("begin { $a = pid >> 2; }", "uint64"),
        ("begin { $a = ~pid; }", "uint32"),
        ("begin { $a = -pid; }", "int32"),
        // Comparisons and logic give bool.
        ("begin { $a = pid == 1; }", "bool"),
        ("begin { $a = pid > 1 && tid < 5; }", "bool"),
        ("begin { $a = !pid; }", "bool"),
        ("begin { $a = comm == \"bash\"; }", "bool"),
        // Casts.
        ("begin { $a = (uint16)70000; }", "uint16"),
        ("begin { $a = (int32)-1; }", "int32"),
        ("begin { $a = (bool)1; }", "bool"),
        ("begin { $a = (unsigned long)1; }", "uint64"),
        ("kprobe:f { $a = (struct file *)arg0; }", "struct file *"),
        ("kprobe:f { $a = (uint8 **)arg0; }", "uint8 **"),
        ("kprobe:f { $a = *(uint32 *)arg0; }", "uint32"),
        ("kprobe:f { $a = (int8[8])arg0; }", "int8[8]"),
        // Variables widen to hold every assignment (bpftrace's upcast).
        ("begin { $a = 1; $a = (uint64)2; }", "uint64"),
        ("begin { $a = (uint32)2; $a = 1; }", "uint32"),
        ("begin { $a = 1; $a = 2; }", "int8"),
        ("begin { $a = 1; $a = -1000; }", "int16"),
        ("begin { $a = (uint64)1; $a = (int64)-1; }", "int64"),
        ("begin { $a = (uint8)1; $a = (int32)-1; }", "int32"),
        ("begin { $a = (uint32)1; $a = (int8)-1; }", "int64"),
        // Builtins.
        ("begin { $a = pid; }", "uint32"),
        ("begin { $a = uid; }", "uint64"),
        ("begin { $a = comm; }", "string"),
        ("begin { $a = curtask; }", "struct task_struct *"),
        ("kprobe:f { $a = func; }", "ksym_t"),
        ("uprobe:/bin/sh:main { $a = func; }", "usym_t"),
        ("kprobe:f { $a = kstack; }", "kstack"),
        ("kretprobe:f { $a = retval; }", "uint64"),
        ("kprobe:f { $a = arg3; }", "uint64"),
        ("begin { $a = $1; }", "int64"),
        ("begin { $a = $2; }", "string"),
        ("begin { $a = $#; }", "int64"),
        ("kprobe:f { $a = ksym(arg0); }", "ksym_t"),
        ("begin { $a = strlen(comm); }", "uint64"),
        ("begin { $a = strncmp(comm, \"a\", 1); }", "int64"),
        ("begin { $a = strcontains(comm, \"a\"); }", "bool"),
        ("kprobe:f { $a = str(arg0); }", "string"),
        ("begin { $a = pid(curr_ns); }", "uint32"),
        ("begin { $a = nsecs(boot); }", "uint64"),
        // Tuples and the conditional operator.
        ("begin { $a = (1, \"x\", pid); }", "(int8,string,uint32)"),
        ("begin { $a = (1, \"x\").1; }", "string"),
        ("begin { $a = pid > 1 ? 1 : 2; }", "int8"),
        ("begin { $a = pid > 1 ? \"a\" : \"b\"; }", "string"),
        // A map that counts reads as an unsigned integer.
        ("begin { @c = count(); $a = @c; }", "uint64"),
        ("begin { @s = sum(-1); $a = @s; }", "int64"),
        (
            "begin { @m[1, \"a\"] = (uint8)1; for ($a : @m) { } }",
            "((int64,string),uint64)",
        ),
        ("begin { @m[1] = 2; for ($a : @m) { } }", "(int64,int64)"),
        ("begin { for ($a : 0..10) { } }", "int64"),
    ];
    for (src, want) in cases {
        assert_eq!(var(src, "a"), want, "{src}");
    }
}

#[test]
fn map_types_widen_and_normalize() {
    let c = compile_with(
        "begin { @m[pid] = pid; @m[1] = -1; @t[(1, \"a\")] = 1; @t[2, \"b\"] = 2; @h[comm] = hist(pid); @l = lhist(pid, 0, 100, 10); @n = count(); @s = sum(pid); @x = stats(-1); }",
        &NoKernelTypes,
    );
    let show = |name: &str| {
        let m = &c.maps[name];
        let keys: Vec<String> = m.keys.iter().map(|t| t.to_string()).collect();
        format!("[{}] {}", keys.join(","), m.value)
    };
    assert_eq!(show("m"), "[uint64] int64");
    assert_eq!(show("t"), "[int64,string] int64");
    assert_eq!(show("h"), "[string] hist_t");
    assert_eq!(show("n"), "[] count_t");
    assert_eq!(
        c.maps["l"].value,
        Type::Agg(
            AggKind::Lhist {
                min: 0,
                max: 100,
                step: 10
            },
            false
        )
    );
    assert_eq!(c.maps["s"].value, Type::Agg(AggKind::Sum, false));
    assert_eq!(c.maps["x"].value, Type::Agg(AggKind::Stats, true));
}

#[test]
fn every_expression_gets_a_type() {
    let c = compile_with(
        "kprobe:f /pid > 1/ { @x[tid] = count(); $y = (1 + 2) * arg0; printf(\"%d\\n\", $y); }",
        &NoKernelTypes,
    );
    let probe = &c.program.probes[0];
    let pred = probe.predicate.as_ref().unwrap();
    assert_eq!(c.type_of(pred), &Type::Bool);
    assert_eq!(c.types.len(), c.program.expr_count as usize);
}

#[test]
fn kernel_types_come_from_the_provider() {
    let types = common::kernel_types();
    let cases = [
        (
            "tracepoint:syscalls:sys_enter_openat { $a = args.filename; }",
            "int8 *",
        ),
        (
            "tracepoint:syscalls:sys_enter_openat { $a = args->filename; }",
            "int8 *",
        ),
        (
            "tracepoint:syscalls:sys_enter_openat { $a = str(args.filename); }",
            "string",
        ),
        (
            "tracepoint:syscalls:sys_exit_read { $a = args.ret; }",
            "int64",
        ),
        ("kprobe:f { $a = curtask->pid; }", "int32"),
        ("kprobe:f { $a = curtask.pid; }", "int32"),
        ("kprobe:f { $a = curtask->real_parent->tgid; }", "int32"),
        ("kprobe:f { $a = curtask->comm; }", "int8[16]"),
        (
            "kprobe:f { $a = ((struct task_struct *)arg0)->parent; }",
            "struct task_struct *",
        ),
        // Unknown to the provider: accepted, typed as a kernel value.
        (
            "kprobe:f { $a = ((struct file *)arg0)->f_mode; }",
            "kernel value",
        ),
        (
            "rawtracepoint:sched_switch { $a = args.prev; }",
            "kernel value",
        ),
    ];
    for (src, want) in cases {
        let c = compile_with(src, &types);
        assert_eq!(c.probes[0].variables["a"].to_string(), want, "{src}");
    }
    // A wildcard is resolved later; its args are unknown now.
    compile_with(
        "tracepoint:syscalls:sys_enter_* { @[args.anything] = count(); }",
        &types,
    );
}

fn first_error(src: &str) -> String {
    let file = SourceFile::new("t.bt", src);
    let types = common::kernel_types();
    match kscope_lang::compile(&file, &Options::default(), &types) {
        Ok(_) => panic!("accepted: {src}"),
        Err(e) => e.diagnostics[0].message.clone(),
    }
}

/// Each script's first error is its message.
fn assert_first_errors(cases: &[(&str, &str)]) {
    let mut wrong = Vec::new();
    for (src, want) in cases {
        let got = first_error(src);
        if got != *want {
            wrong.push(format!("{src}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rejections() {
    let cases = [
        ("begin { $x++; }", "undefined variable `$x`"),
        ("begin { $x += 1; }", "undefined variable `$x`"),
        ("begin { continue; }", "`continue` outside of a loop"),
        (
            "begin { @h = hist(comm); }",
            "`hist()` needs an integer, found `string`",
        ),
        (
            "begin { @h = hist(1, 9); }",
            "the second argument of `hist()` must be 0 to 5",
        ),
        (
            "begin { @h = count(1); }",
            "`count()` takes 0 arguments, 1 given",
        ),
        (
            "begin { @h = lhist(1, 0, 10); }",
            "`lhist()` takes 4 arguments, 3 given",
        ),
        (
            "begin { @h = lhist(1, 10, 0, 1); }",
            "the max of `lhist()` must be above its min",
        ),
        (
            "begin { print(); }",
            "`print()` takes 1 to 3 arguments, 0 given",
        ),
        (
            "begin { print(1, 2); }",
            "`print()` takes extra arguments only for a map",
        ),
        (
            "begin { exit(\"x\"); }",
            "`exit()` needs an integer here, found `string`",
        ),
        (
            "begin { time(comm); }",
            "`time()` needs a string literal here",
        ),
        (
            "begin { $n = 3; print(strncmp(comm, \"a\", $n)); }",
            "the length of `strncmp()` must be an integer literal",
        ),
        (
            "begin { @x = print(1); }",
            "cannot store a value-less expression in a map",
        ),
        (
            "begin { $x = print(1); }",
            "`void` cannot be stored in a variable",
        ),
        (
            "begin { @c = count(); @c++; }",
            "type mismatch for `@c`: it holds `count_t`, not `uint64`",
        ),
        (
            "begin { @h = hist(1); print(@h + 1); }",
            "a map of `hist_t` cannot be used in an expression",
        ),
        (
            "begin { @a = count(); @a = sum(1); }",
            "type mismatch for `@a`: it holds `count_t`, not `sum_t`",
        ),
        (
            "begin { @a = lhist(1, 0, 10, 1); @a = lhist(1, 0, 20, 1); }",
            "different `lhist()` arguments in one map `@a`",
        ),
        (
            "begin { @a = 1; @a = \"s\"; }",
            "type mismatch for `@a`: it holds `int64`, not `string`",
        ),
        (
            "begin { $t = (1, 2); print($t.2); }",
            "tuple index 2 is out of range",
        ),
        (
            "begin { print(pid.0); }",
            "`.0` needs a tuple, found `uint32`",
        ),
        ("begin { print(pid[0]); }", "cannot index into `uint32`"),
        ("begin { print(*comm); }", "cannot dereference `string`"),
        (
            "begin { print(-comm); }",
            "`-` needs an integer, found `string`",
        ),
        (
            "begin { print(comm < \"a\"); }",
            "cannot apply `<` to `string` and `string`",
        ),
        (
            "begin { print(comm == 1); }",
            "cannot apply `==` to `string` and `int8`",
        ),
        (
            "begin { print((uint8)comm); }",
            "cannot cast `string` to `uint8`",
        ),
        ("begin { signal(\"KILL\"); }", "`signal()` is unsafe"),
        (
            "begin { print(func); }",
            "`func` is not available in begin probes",
        ),
        (
            "tracepoint:syscalls:sys_enter_read { print(arg0); }",
            "`arg0` is not available in tracepoint probes",
        ),
        (
            "kretprobe:f { print(arg0); }",
            "`arg0` is not available in kretprobe probes",
        ),
        ("begin { print(arg9); }", "unknown builtin `arg9`"),
        ("begin { print(printf); }", "unknown builtin `printf`"),
        (
            "begin { print(typeof(pid)); }",
            "`typeof(...)` is a type, not a value",
        ),
        ("begin { print(has_key(@m, 1)); }", "undefined map `@m`"),
        (
            "begin { let $a: uint16 = -1; }",
            "`-1` does not fit `$a`, declared `uint16`",
        ),
        (
            "begin { let $a: int8; $a = 128; }",
            "`128` does not fit `$a`, declared `int8`",
        ),
        (
            "begin { let $a: uint8 = \"s\"; }",
            "cannot store `string` in `$a`, declared `uint8`",
        ),
        ("begin { let $a: foo; }", "unknown type `foo`"),
        (
            "begin { static_assert(is_str(pid), \"pid is no string\"); }",
            "static assertion failed: pid is no string",
        ),
        (
            "begin { static_assert(pid > 1, \"m\"); }",
            "`static_assert()` needs a condition known when compiling",
        ),
        (
            "begin { if (sizeof(uint64) > 4) { fail(\"too big: %d\", 42 + 1); } }",
            "too big: 43",
        ),
        (
            "begin { fail(\"x %d\", pid); }",
            "`fail()` arguments must be known when compiling",
        ),
        (
            "begin { @m = 1; print(has_key(@m, 1)); }",
            "`@m` has no keys",
        ),
        (
            "begin { @m[1] = 1; print(has_key(@m, \"a\")); }",
            "map key type mismatch for `@m`: `string` instead of `int64`",
        ),
        (
            "begin { @m = 1; for ($kv : @m) { } }",
            "cannot iterate over `@m`: it has no keys",
        ),
        (
            "begin { @m[1] = hist(1); for ($kv : @m) { } }",
            "cannot iterate over a map of `hist_t`",
        ),
        (
            "begin { for ($i : 0..comm) { } }",
            "a range bound must be an integer, found `string`",
        ),
        ("begin { unroll(0) { } }", "invalid unroll count"),
        (
            "begin { printf(\"%s %d\\n\", comm); }",
            "`printf()`: the format has 2 conversions but 1 argument given",
        ),
        (
            "begin { printf(\"%d\\n\", comm); }",
            "`%d` expects an integer, found `string`",
        ),
        (
            "begin { printf(\"%5.2e\", 1); }",
            "invalid format string: unsupported conversion `%5.2e` (use %d, %u, %x, %s, %c, %p, \
             %r, or %% for a percent sign)",
        ),
        (
            "begin { printf(\"%d\\n\", 1, 2); }",
            "`printf()`: the format has 1 conversion but 2 arguments given",
        ),
        (
            "begin { @x[kstack] = 1; @x[ustack] = 1; }",
            "map key type mismatch for `@x`: `ustack` instead of `kstack`",
        ),
        (
            "config = { max_strlen = \"big\" } begin { }",
            "config variable `max_strlen` needs a number",
        ),
        (
            "config = { stack_mode = fast } begin { }",
            "invalid stack_mode",
        ),
        (
            "begin { print(kstack(build_id)); }",
            "'build_id' stack mode can only be used for ustack",
        ),
        (
            "config = { stack_mode = build_id } begin { print(kstack(5)); }",
            "'build_id' stack mode can only be used for ustack",
        ),
        (
            "begin { @ = len(comm); }",
            "`len()` needs a map or a stack, found `string`",
        ),
        (
            "tracepoint:syscalls:sys_enter_read { print(args.cnt); }",
            "`tracepoint:syscalls:sys_enter_read` has no argument `cnt`",
        ),
        (
            "tracepoint:syscalls:sys_enter_openat { $a = (struct task_struct *)0; print($a->pdi); }",
            "`struct task_struct` has no field `pdi`",
        ),
        (
            "tracepoint:syscalls:sys_enter_red { }",
            "unknown probe `tracepoint:syscalls:sys_enter_red`",
        ),
        (
            "begin { $a = pid > 1 ? 1 : \"x\"; }",
            "the branches have different types: `int8` and `string`",
        ),
        (
            "begin { $a = 1; $a = comm; }",
            "type mismatch for `$a`: it holds `int8`, not `string`",
        ),
        (
            "begin { if (1) { let $b = 1; } print($b); }",
            "undefined variable `$b`",
        ),
        ("begin { print(()); }", "empty tuples are not supported"),
        (
            "begin { $x = (count(), 1); }",
            "`count()` can only be assigned to a map",
        ),
        (
            "begin { @x[count()] = 1; }",
            "`count()` can only be assigned to a map",
        ),
        (
            "begin { print($0); }",
            "there is no positional parameter `$0`",
        ),
        (
            "begin { @l = lhist(1, -9223372036854775807, 9223372036854775807, 1); }",
            "`lhist()` would have more than 1000 buckets",
        ),
        (
            "begin { print(len(comm)); }",
            "`len()` needs a map or a stack, found `string`",
        ),
    ];
    assert_first_errors(&cases);
}

/// `let $x: T` fixes the type (a `typeof` names another's), `_ = e` discards a value, and
/// compile-time functions fold to constants; a `fail()` in a branch a known condition
/// never takes does not stop the build.
#[test]
fn declared_types_typeof_and_compile_time_functions() {
    let src = "begin { $x = (uint8)1; let $y: typeof($x) = 2; $y = 7; $y += 300; let $z: int32; \
               $z = $x; let $p: struct task_struct *; let $s: string = \"a\"; \
               let $q: typeof(uint16 *); $w = (typeof($z))1; _ = has_key(@m, 1); @m[1] = 1; \
               $b = (is_str($s), is_ptr($p), is_array((int8[2])0), is_integer($x), \
               is_unsigned_integer($z), is_literal(-1), is_literal($x)); \
               static_assert(sizeof(typeof($z)) == 4, \"four\"); \
               if ($1 < 2) { fail(\"small\"); } else { $e = 1; } }";
    let types = var_types(src);
    let ty = |n: &str| types.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(ty("y"), "uint8");
    assert_eq!(ty("z"), "int32");
    assert_eq!(ty("p"), "struct task_struct *");
    assert_eq!(ty("s"), "string");
    assert_eq!(ty("q"), "uint16 *");
    assert_eq!(ty("w"), "int32");
    assert_eq!(ty("b"), "(bool,bool,bool,bool,bool,bool,bool)");
    let c = compile_with(src, &NoKernelTypes);
    let tree = kscope_lang::printer::to_source(&c.program);
    assert!(
        tree.contains("$b = (true, true, true, true, false, true, false);"),
        "{tree}"
    );
}

#[test]
fn unsafe_functions_need_the_flag() {
    let file = SourceFile::new("t.bt", "begin { system(\"ls %d\", 1); signal(9); }");
    assert!(kscope_lang::compile(&file, &Options::default(), &NoKernelTypes).is_err());
    let opts = Options {
        allow_unsafe: true,
        ..Options::default()
    };
    assert!(kscope_lang::compile(&file, &opts, &NoKernelTypes).is_ok());
}

#[test]
fn maps_read_before_their_assignment_in_source_order() {
    // kretprobe comes first in the file but reads what kprobe writes.
    let c = compile_with(
        "kretprobe:f /@start[tid]/ { @ns = hist(nsecs - @start[tid]); delete(@start[tid]); }\nkprobe:f { @start[tid] = nsecs; }",
        &NoKernelTypes,
    );
    assert_eq!(c.maps["start"].value, Type::UINT64);
}

#[test]
fn typed_tree_snapshot() {
    let c = compile_with(
        "kretprobe:vfs_read /retval > 0/ { @bytes[comm] = hist(retval); $t = (pid, 1); }",
        &NoKernelTypes,
    );
    let want = "\
Program
  probe
    kretprobe:vfs_read
    predicate
      > :: bool
        builtin: retval :: uint64
        int: 0 :: int8
    block
      =
        map: @bytes :: hist_t
          builtin: comm :: string
        call: hist :: hist_t
          builtin: retval :: uint64
      =
        variable: $t
        tuple :: (uint32,int8)
          builtin: pid :: uint32
          int: 1 :: int8
";
    assert_eq!(c.typed_tree(), want);
}

/// `typeinfo(x).field` folds to upstream's spelling of the type; comparisons of two
/// `typeinfo` records and of two literal strings fold to bools.
#[test]
fn typeinfo_fields_fold_to_upstream_type_names() {
    let src = "config = { unstable_typeinfo = enable } \
               begin { $a = (uint8)1; $p = (int16 *)0; \
               $t = (typeinfo($a).full_type, typeinfo($a).base_type, typeinfo($p).full_type, \
               typeinfo(struct task_struct).base_type, typeinfo(uint32[4]).full_type, \
               typeinfo($a) == typeinfo(uint8), typeinfo($a) != typeinfo(uint8), \
               typeinfo($p).full_type == \"int16 *\", typeinfo($a).btf_id); }";
    let c = compile_with(src, &NoKernelTypes);
    let tree = kscope_lang::printer::to_source(&c.program);
    assert!(
        tree.contains(
            "$t = (\"uint8\", \"int\", \"int16 *\", \"c_type\", \"uint32[4]\", true, false, true, 0);"
        ),
        "{tree}"
    );
}

#[test]
fn c_enum_values_keep_their_enum_until_arithmetic() {
    let src = "enum Foo { A, B = 5 }; struct S { char c; enum Foo f; }\n";
    let cases = [
        ("$a = A;", "enum Foo"),
        ("$a = (enum Foo)5;", "enum Foo"),
        ("$a = (typeof(B))0;", "enum Foo"),
        ("let $a: enum Foo = B;", "enum Foo"),
        ("$a = ((struct S *)0)->f;", "enum Foo"),
        ("$a = A + 1;", "uint64"),
        ("$a = ~B;", "uint64"),
        ("$a = -B;", "int64"),
        ("$a = A == 0;", "bool"),
        ("$a = sizeof(A);", "uint64"),
    ];
    for (body, want) in cases {
        let full = format!("{src}begin {{ {body} }}");
        assert_eq!(var(&full, "a"), want, "{full}");
    }
    let c = compile_with(
        &format!("{src}begin {{ @k[A] = B; @n[A + 1] = 1; @n[B] = B; }}"),
        &NoKernelTypes,
    );
    let show = |name: &str| {
        let m = &c.maps[name];
        let keys: Vec<String> = m.keys.iter().map(|t| t.to_string()).collect();
        format!("[{}] {}", keys.join(","), m.value)
    };
    assert_eq!(show("k"), "[enum Foo] enum Foo");
    // A slot that first holds a plain integer stays a plain integer (upstream).
    assert_eq!(show("n"), "[uint64] int64");
    assert_eq!(
        first_error(&format!("{src}begin {{ $x = (enum Foo)4; }}")),
        "`enum Foo` has no enumerator of value 4"
    );
}

/// The expression forms of upstream's language: `a ?: b`, `if` and blocks as values, a
/// constant tuple subscript (folded to `$t.N`), and an aggregation as the value of a
/// block assigned to a map (assigned inside the block).
#[test]
fn conditional_block_and_subscript_expressions() {
    let cases = [
        // As `c ? a : b`: the branches' types merged.
        ("begin { $x = (uint32)1; $a = $x ?: 10; }", "a", "int64"),
        (
            "begin { $x = (uint32)1; $a = $x ?: (uint8)10; }",
            "a",
            "uint32",
        ),
        ("begin { $a = pid ?: -1; }", "a", "int64"),
        (
            "begin { $a = if (pid > 1) { \"big\" } else { \"small\" }; }",
            "a",
            "string",
        ),
        (
            "begin { $a = if (pid) { (1, \"x\") } else { (300, \"y\") }; }",
            "a",
            "(int16,string)",
        ),
        (
            "begin { $a = { let $b = (uint16)2; $b * 2 }; }",
            "a",
            "uint64",
        ),
        (
            "begin { $t = (1, \"s\", (uint8)3); $a = $t[1 + 1]; }",
            "a",
            "uint8",
        ),
        (
            "begin { $t = (1, (\"s\", 5)); $a = $t[sizeof(uint16) - 1][0]; }",
            "a",
            "string",
        ),
    ];
    for (src, name, want) in cases {
        assert_eq!(var(src, name), want, "{src}");
    }
    let c = compile_with(
        "begin { $t = (1, 2); print($t[2 - 1]); @ = { let $a = 100; avg($a) }; }",
        &NoKernelTypes,
    );
    let tree = c.typed_tree();
    assert!(
        tree.contains("      call: print :: void\n        .1 :: int8\n"),
        "{tree}"
    );
    assert_eq!(c.maps[""].value.to_string(), "avg_t");
    // The block is a statement now, its last statement the assignment.
    let stmts = &c.program.probes[0].body.stmts;
    let kscope_lang::ast::StmtKind::Expr(e) = &stmts[2].kind else {
        panic!("{tree}")
    };
    let kscope_lang::ast::ExprKind::Block { block, value: None } = &e.kind else {
        panic!("{tree}")
    };
    assert!(matches!(
        block.stmts.last().map(|s| &s.kind),
        Some(kscope_lang::ast::StmtKind::AssignMap { .. })
    ));
}

/// What upstream refuses among those forms, each with its first error.
#[test]
fn conditional_block_and_subscript_rejections() {
    let cases = [
        (
            "begin { $a = comm ?: \"x\"; }",
            "the condition must be an integer, bool or pointer, found `string`",
        ),
        (
            "begin { $a = if (pid) { 1 }; }",
            "an `if` used as a value needs an `else`",
        ),
        (
            "begin { $a = if (pid) { printf(\"x\") } else { 1 }; }",
            "the branches have different types: `void` and `int8`",
        ),
        (
            "begin { $i = 0; $t = (1, 2); print($t[$i]); }",
            "a tuple index must be a constant integer",
        ),
        (
            "begin { $t = (1, 2); print($t[-1]); }",
            "tuple index -1 is out of range",
        ),
        (
            "begin { @ = 0; print(len(@)); }",
            "`len()` needs a map with keys",
        ),
        (
            "begin { let $a = 1; let $a = 2; }",
            "`$a` is already a variable here",
        ),
        (
            "begin { $a = 1; if (pid) { let $a: uint8 = 2; } }",
            "`$a` is already a variable here",
        ),
        (
            "begin { $a = { let $b = 1; $b }; print($b); }",
            "undefined variable `$b`",
        ),
        (
            "begin { @ = if (pid) { count() } else { count() }; }",
            "`count()` can only be assigned to a map",
        ),
    ];
    assert_first_errors(&cases);
}

/// `void *` takes any pointer, in either order (upstream's `$workfn = args.function;
/// $workfn = (void *)0`); two different struct pointers still do not mix.
#[test]
fn void_pointers_take_any_pointer() {
    let defs = "struct A { int x; } struct B { int y; } ";
    let src = format!("{defs}begin {{ $p = (struct A *)0; $p = (void *)0; }}");
    assert_eq!(var(&src, "p"), "struct A *");
    let src = format!("{defs}begin {{ $p = (void *)0; $p = (struct B *)0; }}");
    assert_eq!(var(&src, "p"), "struct B *");
    let src = format!("{defs}begin {{ $p = (struct A *)0; $p = (struct B *)0; }}");
    assert_eq!(
        first_error(&src),
        "type mismatch for `$p`: it holds `struct A *`, not `struct B *`"
    );
}

#[test]
fn len_of_stacks_is_recorded_by_kind_and_build_id_falls_back_for_bare_kstack() {
    let c = compile_with(
        "begin { @k[kstack] = 1; @n = len(ustack(3)); }",
        &NoKernelTypes,
    );
    assert_eq!((c.len_of_kstack, c.len_of_ustack), (false, true));
    let c = compile_with(
        "begin { $s = kstack; @n = len($s); @m = len(@k); @k[1] = 1; }",
        &NoKernelTypes,
    );
    assert_eq!((c.len_of_kstack, c.len_of_ustack), (true, false));
    let c = compile_with(
        "begin { @k[kstack] = 1; @u[ustack(build_id)] = 1; }",
        &NoKernelTypes,
    );
    assert_eq!((c.len_of_kstack, c.len_of_ustack), (false, false));
    assert!(c.warnings.is_empty());
    // Under `stack_mode = build_id` a bare `kstack` is raw, with upstream's warning;
    // `ustack` and `ustack(raw)` are accepted.
    let c = compile_with(
        "config = { stack_mode = build_id } begin { @k[kstack] = 1; @u[ustack] = 1; @r[ustack(raw)] = 1; }",
        &NoKernelTypes,
    );
    let w: Vec<&str> = c.warnings.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        w,
        ["'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode."]
    );
}
