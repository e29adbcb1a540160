//! Lexer and literal decoding.

use kscope_lang::lexer::{Token, parse_int, tokenize, unescape};

fn kinds(src: &str) -> Vec<Token> {
    tokenize(src).into_iter().map(|(t, _)| t).collect()
}

#[test]
fn tokens_and_spans() {
    let src = "@m[$x, $1] += 0x1f; // c\n/* b */ $# ->";
    let toks = tokenize(src);
    let text: Vec<&str> = toks.iter().map(|(_, s)| &src[s.range()]).collect();
    assert_eq!(
        text,
        [
            "@m", "[", "$x", ",", "$1", "]", "+=", "0x1f", ";", "$#", "->"
        ]
    );
    use Token::*;
    assert_eq!(
        kinds(src),
        [
            Map, LBracket, Var, Comma, Positional, RBracket, PlusAssign, Int, Semi, ParamCount,
            Arrow
        ]
    );
}

#[test]
fn operators_take_the_longest_match() {
    use Token::*;
    assert_eq!(
        kinds("<<= >>= << >> <= >= == != && || ++ -- .. . ! ~ ? :"),
        [
            ShlAssign, ShrAssign, Shl, Shr, Le, Ge, EqEq, Ne, AndAnd, OrOr, PlusPlus, MinusMinus,
            DotDot, Dot, Bang, Tilde, Question, Colon
        ]
    );
    assert_eq!(kinds("0..10"), [Int, DotDot, Int]);
    assert_eq!(kinds("$kv.0.1"), [Var, Dot, Int, Dot, Int]);
}

#[test]
fn keywords_and_identifiers() {
    use Token::*;
    assert_eq!(
        kinds("if else unroll for while return break continue let true false iff _x @ @_a"),
        [
            If, Else, Unroll, For, While, Return, Break, Continue, Let, True, False, Ident, Ident,
            Map, Map
        ]
    );
}

#[test]
fn broken_input_gives_error_tokens() {
    use Token::*;
    assert_eq!(kinds("\"abc"), [UnterminatedStr]);
    assert_eq!(kinds("/* never closed"), [UnterminatedComment]);
    assert_eq!(kinds("`"), [Error]);
    assert_eq!(kinds("$"), [Error]);
}

#[test]
fn integers() {
    let ok = [
        ("0", 0),
        ("42", 42),
        ("0x10", 16),
        ("0XfF", 255),
        ("0123", 83),
        ("1_000_000", 1_000_000),
        ("2e3", 2000),
        ("1e0", 1),
        ("10UL", 10),
        ("5LL", 5),
        ("7u", 7),
        ("3ull", 3),
        ("1ns", 1),
        ("2us", 2_000),
        ("3ms", 3_000_000),
        ("1s", 1_000_000_000),
        ("1m", 60_000_000_000),
        ("1h", 3_600_000_000_000),
        ("1d", 86_400_000_000_000),
        ("18446744073709551615", u64::MAX),
        ("0xffffffffffffffff", u64::MAX),
    ];
    for (text, want) in ok {
        assert_eq!(parse_int(text), Ok(want), "{text}");
    }
    for bad in [
        "09",
        "0x",
        "12abc",
        "1e",
        "18446744073709551616",
        "1e20",
        "0x10s",
        "300000d",
    ] {
        assert!(parse_int(bad).is_err(), "{bad}");
    }
}

#[test]
fn string_escapes() {
    assert_eq!(unescape(r#"a\n\t\r\\\"b"#).unwrap(), b"a\n\t\r\\\"b");
    assert_eq!(unescape(r"\x41\101\0").unwrap(), b"AA\0");
    assert_eq!(unescape(r"\033[31m").unwrap(), b"\x1b[31m");
    assert_eq!(unescape(r"\x4g").unwrap(), b"\x04g");
    assert_eq!(unescape(r"ab\q").unwrap_err().0, 2);
    assert!(unescape(r"\xzz").is_err());
    assert!(unescape(r"\777").is_err());
}
