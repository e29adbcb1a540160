use super::*;

fn program(flags: &[&str]) -> std::path::PathBuf {
    kscope_testkit::cprogram::build_once(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/dwarf_unit.c"
        )),
        flags,
    )
}

fn int(size: u8, signed: bool) -> CType {
    CType::Int { size, signed }
}

fn ptr(t: CType) -> CType {
    CType::Ptr(Box::new(t))
}

#[test]
fn parameters() {
    let f = function(&program(&["-g", "-O0"]), "dw_unit")
        .unwrap()
        .unwrap();
    let got: Vec<(&str, usize, Option<CType>)> = f
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.index, p.ty.clone()))
        .collect();
    let want = vec![
        ("n", 0, Some(int(4, true))),
        ("c", 1, Some(CType::Char)),
        ("u", 2, Some(int(1, false))),
        ("sz", 3, Some(int(8, false))),
        ("o", 4, Some(ptr(CType::Struct("struct outer".into())))),
        ("p", 5, Some(ptr(CType::Struct("struct point_t".into())))),
        ("col", 6, Some(int(4, false))),
        ("d", 7, None),
        ("big", 8, Some(int(8, true))),
        ("b", 9, Some(CType::Bool)),
        ("v", 10, Some(ptr(CType::Void))),
    ];
    assert_eq!(got, want);
}

#[test]
fn structs() {
    let f = function(&program(&["-g", "-O0"]), "dw_unit")
        .unwrap()
        .unwrap();
    let get = |n: &str| f.structs.iter().find(|s| s.name == n).unwrap();
    let outer = get("struct outer");
    let members: Vec<(&str, u64, CType)> = outer
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.offset, m.ty.clone()))
        .collect();
    let arr = |t: CType, n| CType::Array(Box::new(t), n);
    assert_eq!(
        members,
        vec![
            ("a", 0, int(4, true)),
            ("text", 8, ptr(CType::Char)),
            ("in", 16, CType::Struct("struct inner".into())),
            ("l", 24, int(8, true)),
            ("bytes", 24, arr(int(1, false), 8)),
            ("next", 40, ptr(CType::Struct("struct outer".into()))),
            ("grid", 48, arr(arr(int(4, true), 3), 2)),
            ("ok", 72, CType::Bool),
        ],
        "the bitfield `flag` is left out; the anonymous union's members are inline"
    );
    assert_eq!(outer.size, 80);
    let inner = get("struct inner");
    assert_eq!((inner.size, inner.members[1].offset), (8, 2));
    assert_eq!(inner.members[1].ty.to_sema(), kscope_lang::sema::Type::Str);
    assert_eq!(get("struct point_t").size, 8);
}

#[test]
fn missing() {
    assert_eq!(function(&program(&["-g"]), "no_such_fn").unwrap(), None);
    let exe = program(&["-O0"]);
    assert_eq!(
        function(&exe, "dw_unit"),
        Err(DwarfError::NoDebugInfo {
            path: exe.display().to_string()
        })
    );
    assert!(matches!(
        function(Path::new("/nonexistent/x"), "f"),
        Err(DwarfError::Read { .. })
    ));
}

#[test]
fn structs_by_name() {
    let exe = program(&["-g", "-O0"]);
    let names = ["struct inner".to_string(), "struct nope".to_string()];
    let got = super::structs(&exe, &names).unwrap();
    let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["struct inner"]);
    let outer = super::structs(&exe, &["struct outer".into()]).unwrap();
    let outer_def = outer.iter().find(|s| s.name == "struct outer").unwrap();
    assert_eq!(outer_def.size, 80);
    assert!(outer.iter().any(|s| s.name == "struct inner"), "{outer:?}");
}

#[test]
fn c_spellings() {
    let f = function(&program(&["-g", "-O0"]), "dw_unit")
        .unwrap()
        .unwrap();
    let got: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{} {}", p.c_type, p.name))
        .collect();
    assert_eq!(
        got,
        [
            "int n",
            "char c",
            "unsigned char u",
            "volatile const my_size sz",
            "struct outer* o",
            "point_t* p",
            "enum colour col",
            "double d",
            "int64_t big",
            "_Bool b",
            "void* v",
        ]
    );
}

#[test]
fn separate_debug_file_by_debuglink() {
    if std::process::Command::new("objcopy")
        .arg("--version")
        .output()
        .is_err()
    {
        // binutils comes with gcc (CI installs it); the guest-kernel lab has neither.
        eprintln!("skipped: objcopy is not installed here");
        return;
    }
    let exe = program(&["-g", "-O0"]);
    let dir = exe
        .parent()
        .unwrap()
        .join(format!("debuglink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (stripped, debug) = (dir.join("stripped"), dir.join("stripped.debug"));
    let run = |args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new("objcopy").args(args).status();
        assert!(st.is_ok_and(|s| s.success()), "objcopy {args:?}");
    };
    run(&[
        "--only-keep-debug".as_ref(),
        exe.as_os_str(),
        debug.as_os_str(),
    ]);
    run(&[
        "--strip-debug".as_ref(),
        exe.as_os_str(),
        stripped.as_os_str(),
    ]);
    let link = format!("--add-gnu-debuglink={}", debug.display());
    run(&[link.as_ref(), stripped.as_os_str()]);
    let f = function(&stripped, "dw_unit").unwrap().unwrap();
    assert_eq!(f.params.len(), 11);
    std::fs::remove_dir_all(&dir).unwrap();
}
