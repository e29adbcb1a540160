//! Unit tests of the format parser, the expression evaluator and printf conversions.

use super::*;

const HEADER: &str = "name: t\nID: 9\nformat:\n\
    \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
    \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
    \tfield:int i;\toffset:8;\tsize:4;\tsigned:1;\n\
    \tfield:unsigned int u;\toffset:12;\tsize:4;\tsigned:0;\n\
    \tfield:long l;\toffset:16;\tsize:8;\tsigned:1;\n\
    \tfield:unsigned char c;\toffset:24;\tsize:1;\tsigned:0;\n\
    \tfield:short s;\toffset:26;\tsize:2;\tsigned:1;\n\
    \tfield:char name[8];\toffset:28;\tsize:8;\tsigned:0;\n\n";

/// An event with fields i=-1, u=0xffffffff, l=-2, c=0xff, s=-3, name="abc" and `print`.
fn render(print: &str) -> String {
    render_with(print, &RenderContext::default())
}

fn record() -> Vec<u8> {
    let mut r = vec![0u8; 40];
    r[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    r[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    r[16..24].copy_from_slice(&(-2i64).to_le_bytes());
    r[24] = 0xff;
    r[26..28].copy_from_slice(&(-3i16).to_le_bytes());
    r[28..31].copy_from_slice(b"abc");
    r
}

fn render_with(print: &str, ctx: &RenderContext) -> String {
    let ev = EventFormat::parse(&format!("{HEADER}print fmt: {print}\n"))
        .unwrap_or_else(|e| panic!("{print}: {e}"));
    ev.render(&record(), ctx)
}

fn parse_err(print: &str) -> FormatError {
    EventFormat::parse(&format!("{HEADER}print fmt: {print}\n")).unwrap_err()
}

#[test]
fn integer_conversions_follow_c() {
    assert_eq!(
        render(r#""%d %u %ld %lu", REC->i, REC->i, REC->l, REC->l"#),
        "-1 4294967295 -2 18446744073709551614"
    );
    // An int read as long: the 32-bit value travels zero-extended.
    assert_eq!(
        render(r#""%lx %lld", REC->i, REC->i"#),
        "ffffffff 4294967295"
    );
    assert_eq!(render(r#""%lx", (long)REC->i"#), "ffffffffffffffff");
    assert_eq!(
        render(r#""%hhx %hd %hhd %x", REC->u, REC->u, REC->c, REC->c"#),
        "ff -1 -1 ff"
    );
    assert_eq!(render(r#""%d %d", REC->s, REC->c"#), "-3 255");
    assert_eq!(
        render(r#""%o %#o %X %#X", 8, 8, 255, 255"#),
        "10 010 FF 0XFF"
    );
    assert_eq!(
        render(r#""[%5d|%-5d|%05d|%+d|% d]", 42, 42, -42, 42, 42"#),
        "[   42|42   |-0042|+42| 42]"
    );
    assert_eq!(
        render(r#""[%*d|%*d|%.*d]", 4, 7, -4, 7, 3, 7"#),
        "[   7|7   |007]"
    );
}

#[test]
fn usual_arithmetic_conversions() {
    // int vs unsigned: -1 becomes UINT_MAX.
    assert_eq!(render(r#""%d %d", REC->i < REC->u, REC->i < 0"#), "0 1");
    assert_eq!(render(r#""%d", -1 < 0U"#), "0");
    assert_eq!(render(r#""%d", -1L < 0U"#), "1");
    assert_eq!(render(r#""%llu", REC->u + 1"#), "0");
    assert_eq!(render(r#""%llu", REC->u + 1L"#), "4294967296");
    assert_eq!(render(r#""%d %d", 7 / -2, 7 % -2"#), "-3 1");
    assert_eq!(render(r#""%u", 7U / -2"#), "0");
    assert_eq!(render(r#""%d %lx", -16 >> 2, 1UL << 40"#), "-4 10000000000");
    assert_eq!(render(r#""%x %d", ~0U, !5"#), "ffffffff 0");
    assert_eq!(render(r#""%d %d", REC->i && 0, REC->i || 0"#), "0 1");
    assert_eq!(
        render(r#""%lu %lu %d", sizeof(u64), sizeof(REC->s), 'A'"#),
        "8 2 65"
    );
    assert_eq!(render(r#""%d", (unsigned char)300"#), "44");
    assert_eq!(render(r#""%d", (1, 2)"#), "2");
    assert_eq!(render(r#""%s", (REC->c - 255) ?: "zero""#), "zero");
}

#[test]
fn strings_chars_and_widths() {
    assert_eq!(
        render(
            r#""[%s|%5s|%-5s|%.2s|%.*s]", REC->name, REC->name, REC->name, REC->name, 1, REC->name"#
        ),
        "[abc|  abc|abc  |ab|a]"
    );
    assert_eq!(render(r#""%c%c%3c", 'o', 107, 'x'"#), "ok  x");
    assert_eq!(render(r#""100%% %s", "done""#), "100% done");
    assert_eq!(render(r#""a" "b\t%s" "\n", "c\"d""#), "ab\tc\"d\n");
    assert_eq!(render(r#""%s", (char *)0"#), "(null)");
}

#[test]
fn statement_expressions_and_locals() {
    let min = "({ int __x = (REC->i); int __y = (5); ((__x) < (__y) ? (__x) : (__y)); })";
    assert_eq!(render(&format!("\"%d\", {min}")), "-1");
    let ev = EventFormat::parse(&format!(
        "{HEADER}print fmt: \"%s\", ({{ static const char *t[] = {{ \"a\", \"b\" }}; union u v; v.w = REC->i; t[v.w]; }})\n"
    ))
    .unwrap();
    let Ok(print) = &ev.print else { panic!() };
    let ExprKind::StmtExpr(stmts) = &print.args[0].kind else {
        panic!("{:?}", print.args[0])
    };
    assert!(matches!(&stmts[0], Stmt::Opaque(t) if t.starts_with("static const char")));
    assert!(matches!(&stmts[1], Stmt::Decl { name, .. } if name == "v"));
    assert!(
        ev.render(&record(), &RenderContext::default())
            .starts_with("[FAILED TO PARSE]")
    );
}

#[test]
fn casts_are_told_from_parenthesised_names() {
    let ev = EventFormat::parse(&format!(
        "{HEADER}print fmt: \"%d %lu %d\", (ENUM_A) - 1, (unsigned long)-4095, ( gfp_t)REC->u\n"
    ))
    .unwrap();
    let Ok(print) = &ev.print else { panic!() };
    assert!(matches!(
        print.args[0].kind,
        ExprKind::Binary(BinaryOp::Sub, _, _)
    ));
    assert!(matches!(&print.args[1].kind, ExprKind::Cast(t, _) if t.text == "unsigned long"));
    assert!(matches!(&print.args[2].kind, ExprKind::Cast(t, _) if t.text == "gfp_t"));
    assert_eq!(print.identifiers(), ["ENUM_A"]);
    let ctx = RenderContext::default().with_enums([("ENUM_A", 10)]);
    assert_eq!(ev.render(&record(), &ctx), "9 18446744073709547521 -1");
}

#[test]
fn the_ast_of_sched_switch() {
    let text = "name: sched_switch\nID: 372\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
        \tfield:long prev_state;\toffset:8;\tsize:8;\tsigned:1;\n\n\
        print fmt: \"prev_state=%s%s\", (REC->prev_state & 255) ? __print_flags(REC->prev_state & 255, \"|\", { 0x01, \"S\" }, { 0x02, \"D\" }) : \"R\", REC->prev_state & 256 ? \"+\" : \"\"\n";
    let ev = EventFormat::parse(text).unwrap();
    assert_eq!(ev.name, "sched_switch");
    assert_eq!(ev.id, 372);
    assert_eq!(ev.common_fields().count(), 1);
    assert_eq!(ev.event_fields().count(), 1);
    let Ok(print) = &ev.print else { panic!() };
    assert_eq!(print.format.text, b"prev_state=%s%s");
    assert_eq!(print.format.pieces.len(), 3);
    let ExprKind::Ternary(_, then, _) = &print.args[0].kind else {
        panic!()
    };
    let ExprKind::PrintFlags { entries, .. } = &then.kind else {
        panic!()
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].constant, Some(2));
    assert_eq!(entries[1].name.as_deref(), Some(&b"D"[..]));
    assert_eq!(
        print.args[1].to_string(),
        "((REC->prev_state & 256) ? \"+\" : \"\")"
    );
}

#[test]
fn errors_name_the_line_and_column() {
    let e = parse_err(r#""%d", REC->"#);
    assert_eq!((e.line, e.column), (14, 23), "{e}");
    assert!(e.message.contains("expected a name"), "{e}");
    let e = parse_err(r#""%d", (REC->i"#);
    assert_eq!(e.line, 14);
    assert!(e.message.contains("expected `)`"), "{e}");
    let e = parse_err(r#"REC->i"#);
    assert_eq!((e.line, e.column), (14, 12), "{e}");
    let e = parse_err(r#""%d" REC->i"#);
    assert!(e.message.contains("expected `,`"), "{e}");
    let e = parse_err(r#""unterminated"#);
    assert_eq!((e.line, e.column), (14, 12), "{e}");

    let e = EventFormat::parse("name: x\nID: abc\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 4), "{e}");
    let e = EventFormat::parse("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsignd:1;\n")
        .unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("no size"), "{e}");
    let e = EventFormat::parse("name: x\nID: 1\nformat:\n\tfield:int;\toffset:0;\tsize:4;\n")
        .unwrap_err();
    assert!(e.message.contains("no field name"), "{e}");
    // The lenient parser keeps the fields.
    let ev = EventFormat::parse_lenient(&format!("{HEADER}print fmt: \"%d\", )\n")).unwrap();
    assert!(ev.print.is_err());
    assert_eq!(ev.fields.len(), 8);
    assert_eq!(
        ev.render(&record(), &RenderContext::default()),
        "[FAILED TO PARSE] i=-1 u=4294967295 l=-2 c=255 s=-3 name=abc"
    );
}

#[test]
fn too_few_arguments_and_invalid_conversions() {
    let ev = EventFormat::parse(&format!("{HEADER}print fmt: \"%d %d\", 1\n")).unwrap();
    assert_eq!(
        ev.try_render(&record(), &RenderContext::default()),
        Err(RenderError::MissingArgument)
    );
    // The kernel stops at a conversion it does not know.
    assert_eq!(render(r#""a %k b %d", 1"#), "a ");
    // Division by zero falls back.
    assert!(render(r#""%d", 1 / (REC->i + 1)"#).starts_with("[FAILED TO PARSE]"));
}

#[test]
fn big_endian_and_32_bit_records() {
    let text = "name: t\nID: 1\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
        \tfield:int a;\toffset:4;\tsize:4;\tsigned:1;\n\
        \tfield:unsigned long b;\toffset:8;\tsize:4;\tsigned:0;\n\n\
        print fmt: \"%d %lx %lu\", REC->a, REC->b, sizeof(long)\n";
    let ev = EventFormat::parse(text).unwrap();
    let mut r = vec![0u8; 12];
    r[4..8].copy_from_slice(&(-7i32).to_be_bytes());
    r[8..12].copy_from_slice(&0xdeadbeefu32.to_be_bytes());
    let ctx = RenderContext {
        big_endian: true,
        long_size: 4,
        ..RenderContext::default()
    };
    assert_eq!(ev.render(&r, &ctx), "-7 deadbeef 4");
    assert_eq!(
        ev.field_value_with(&r, &ev.fields[1], &ctx),
        Value::Signed(-7)
    );
}

#[test]
fn printk_strings_and_symbols() {
    let syms = std::sync::Arc::new(Kallsyms::parse(
        "ffffffff81000000 T _stext\nffffffff81000010 T foo\nffffffff81000050 T bar\nffffffff82000000 B _end\n",
    ));
    let ctx = RenderContext::default().with_symbols(syms);
    let text = format!(
        "{HEADER}print fmt: \"%pS %ps %pB %pS\", (void *)0xffffffff81000014UL, (void *)0xffffffff81000014UL, (void *)0xffffffff81000050UL, (void *)0xffffffff90000000UL\n"
    );
    let ev = EventFormat::parse(&text).unwrap();
    assert_eq!(
        ev.render(&record(), &ctx),
        "foo+0x4/0x40 foo foo+0x40/0x40 0xffffffff90000000"
    );
}
