//! Diagnostic rendering: locations, underlines with tabs and wide characters, notes, help,
//! warnings, and name suggestions.

use kscope_lang::sema::{NoKernelTypes, Options};
use kscope_lang::suggest::{edit_distance, nearest};
use kscope_lang::{Diagnostic, SourceFile, Span};

#[test]
fn renders_location_source_line_and_underline() {
    let src = SourceFile::new("a.bt", "begin {\n\t$x = \"é\" + 1;\n}\n");
    let at = src.text().find("\"é\"").unwrap();
    let d = Diagnostic::error("bad", Span::new(at, at + "\"é\"".len()), "here").with_help("fix it");
    assert_eq!(
        d.render(&src),
        "error: bad\n --> a.bt:2:7\n  |\n2 |     $x = \"é\" + 1;\n  |          ^^^ here\n  = help: fix it\n"
    );
}

#[test]
fn notes_get_their_own_snippet_and_wide_line_numbers_align() {
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!("// line {i}\n"));
    }
    text.push_str("begin { @a = 1; }\nend { @a = \"s\"; }\n");
    let src = SourceFile::new("b.bt", text.as_str());
    let err = kscope_lang::compile(&src, &Options::default(), &NoKernelTypes).unwrap_err();
    assert_eq!(
        err.rendered,
        "error: type mismatch for `@a`: it holds `int64`, not `string`
  --> b.bt:14:12
   |
14 | end { @a = \"s\"; }
   |            ^^^ this has type `string`
note: `@a` got its type here
  --> b.bt:13:14
   |
13 | begin { @a = 1; }
   |              - `int64`
   = help: a map keeps the value type of its first assignment
"
    );
}

#[test]
fn span_at_end_of_input_gets_one_caret() {
    let src = SourceFile::new("c.bt", "begin { print(1)");
    let err = kscope_lang::compile(&src, &Options::default(), &NoKernelTypes).unwrap_err();
    assert_eq!(
        err.rendered,
        "error: unclosed block\n --> c.bt:1:7\n  |\n1 | begin { print(1)\n  |       ^ this `{` has no matching `}`\n  = help: add `}` at the end of the block\n"
    );
}

#[test]
fn end_of_input_gets_one_caret_after_the_last_character() {
    let src = SourceFile::new("e.bt", "begin { print(1 +");
    let err = kscope_lang::compile(&src, &Options::default(), &NoKernelTypes).unwrap_err();
    assert_eq!(
        err.rendered,
        "error: expected an expression, found the end of the script\n --> e.bt:1:18\n  |\n1 | begin { print(1 +\n  |                  ^ expected an expression\n"
    );
}

#[test]
fn warnings_do_not_fail_the_script() {
    let src = SourceFile::new("d.bt", "begin { $a = -8; print($a / (uint8)2); }");
    let checked = kscope_lang::compile(&src, &Options::default(), &NoKernelTypes).unwrap();
    assert_eq!(checked.warnings.len(), 1);
    assert_eq!(
        checked.warnings[0].render(&src),
        "warning: signed operands for `/`\n --> d.bt:1:24\n  |\n1 | begin { $a = -8; print($a / (uint8)2); }\n  |                        ^^^^^^^^^^^^^ `int8` / `uint8`\n  = help: a negative operand gives an unexpected result: cast both sides to an unsigned type\n"
    );
    // Operands of one type give no warning (a positive literal takes the other side's sign).
    for ok in [
        "begin { print(nsecs / 1000); }",
        "begin { $a = -8; print($a / 2); }",
    ] {
        let src = SourceFile::new("d.bt", ok);
        let checked = kscope_lang::compile(&src, &Options::default(), &NoKernelTypes).unwrap();
        assert!(checked.warnings.is_empty(), "{ok}");
    }
}

#[test]
fn suggestions() {
    assert_eq!(edit_distance("pid", "pid"), 0);
    assert_eq!(edit_distance("pdi", "pid"), 1);
    assert_eq!(edit_distance("prinft", "printf"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(nearest("comn", ["comm", "cpu"]), Some("comm"));
    assert_eq!(nearest("zzzzzz", ["comm", "cpu"]), None);
    assert_eq!(nearest("pid", ["pid"]), None);
    assert_eq!(
        nearest("sys_enter_opn", ["sys_enter_open", "sys_enter_openat"]),
        Some("sys_enter_open")
    );
}
