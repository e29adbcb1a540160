//! `import "PATH";` (upstream's root-level imports): a `.bt` script's probes, macros,
//! map declarations and C definitions join the importing script's; a `.h` header's C
//! definitions do. A directory imports its `.bt` and `.h` files (not its
//! subdirectories), in name order. Paths are relative to the importing file's
//! directory; each file is imported once; imported scripts may import too.
//!
//! [`load`] reads every file a script imports into its [`SourceFile`] (each a
//! segment after the script's own text, so diagnostics name the file and line they are
//! in); the parser then parses each segment where its `import` stands. `.bpf.c` files
//! are compiled by clang upstream: kscope has no C compiler, so they are an error.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::CompileError;
use crate::diag::Diagnostic;
use crate::lexer::{Token, next_token, unescape};
use crate::span::{ImportLink, SegmentKind, SourceFile, Span};

/// Imports nested deeper than this are a cycle of directories or a mistake.
const MAX_FILES: usize = 256;

/// Reads the files that `src` imports, and the files they import, into `src`. `dir` is
/// the directory of the script (the current directory for `-e` and stdin).
pub fn load(mut src: SourceFile, dir: &Path) -> Result<SourceFile, CompileError> {
    let fail = |src: &SourceFile, d: Diagnostic| CompileError {
        rendered: d.render(src),
        diagnostics: vec![d],
    };
    // Each segment's directory, and the segment of each file read (by canonical path).
    let mut dirs: Vec<PathBuf> = vec![dir.to_path_buf()];
    let mut loaded: HashMap<PathBuf, usize> = HashMap::new();
    let mut next = 0;
    while next < src.segments().len() {
        let seg = src.segments()[next].clone();
        if seg.kind == SegmentKind::Script {
            for (path, span) in statements(src.text(), seg.start, seg.end) {
                // `dir/x`, or `x` as written when it is relative to the current directory.
                let full = if dirs[next] == Path::new(".") {
                    PathBuf::from(&path)
                } else {
                    dirs[next].join(&path)
                };
                let targets = match files(&full, &path, span) {
                    Ok(t) => t,
                    Err(d) => return Err(fail(&src, d)),
                };
                let mut segs = Vec::with_capacity(targets.len());
                for (file, kind) in targets {
                    let key = std::fs::canonicalize(&file).unwrap_or(file.clone());
                    if let Some(&s) = loaded.get(&key) {
                        segs.push(s);
                        continue;
                    }
                    if src.segments().len() > MAX_FILES {
                        let d = Diagnostic::error(
                            format!("more than {MAX_FILES} files imported"),
                            span,
                            "the imports go on from here",
                        );
                        return Err(fail(&src, d));
                    }
                    let text = match std::fs::read_to_string(&file) {
                        Ok(t) => t,
                        Err(e) => {
                            let d = Diagnostic::error(
                                format!("cannot read `{}`: {e}", file.display()),
                                span,
                                "imported here",
                            );
                            return Err(fail(&src, d));
                        }
                    };
                    let s = src.push_segment(file.display().to_string(), &text, kind);
                    dirs.push(match file.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                        _ => PathBuf::from("."),
                    });
                    loaded.insert(key, s);
                    segs.push(s);
                }
                src.push_import(ImportLink {
                    importer: next,
                    path,
                    targets: segs,
                });
            }
        }
        next += 1;
    }
    Ok(src)
}

/// The `import "PATH";` statements outside braces in `text[start..end]`: each path with
/// the span of the statement's `import`.
fn statements(text: &str, start: usize, end: usize) -> Vec<(String, Span)> {
    let text = &text[..end];
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut pos = start;
    let mut prev: Option<(Token, Span)> = None;
    loop {
        let (tok, span) = next_token(text, pos);
        if tok != Token::Eof && span.end as usize <= pos {
            break;
        }
        pos = span.end as usize;
        match tok {
            Token::Eof => break,
            Token::LBrace => depth += 1,
            Token::RBrace => depth = depth.saturating_sub(1),
            Token::Str if depth == 0 => {
                if let Some((Token::Ident, kw)) = prev
                    && &text[kw.range()] == "import"
                {
                    out.push((literal_path(&text[span.range()]), kw));
                }
            }
            _ => {}
        }
        prev = Some((tok, span));
    }
    out
}

/// The path an import's string literal (`"lib/x.bt"`, quotes included) spells.
pub(crate) fn literal_path(literal: &str) -> String {
    let raw = literal
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(literal);
    String::from_utf8_lossy(&unescape(raw).unwrap_or_else(|_| raw.as_bytes().to_vec())).into_owned()
}

/// The files `import "written"` stands for: the file, or the `.bt` and `.h` files of a
/// directory in name order.
fn files(
    path: &Path,
    written: &str,
    span: Span,
) -> Result<Vec<(PathBuf, SegmentKind)>, Diagnostic> {
    if path.to_string_lossy().ends_with(".bpf.c") {
        kind_of(path, written, span)?;
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::error(
            format!("cannot import `{written}`: {e}"),
            span,
            format!("looked for {}", path.display()),
        )
        .with_help("an import's path is relative to the directory of the file that imports it")
    })?;
    let from_dir = |dir: &Path| -> Result<(), Diagnostic> {
        let mode = std::fs::metadata(dir).map(|m| m.permissions().mode());
        if mode.is_ok_and(|m| m & 0o002 != 0) {
            return Err(Diagnostic::error(
                format!(
                    "refusing to import from `{}`: anyone may write in it",
                    dir.display()
                ),
                span,
                "a world-writable directory",
            )
            .with_help(
                "move the file to a directory only its owner can write, as upstream requires",
            ));
        }
        Ok(())
    };
    if !meta.is_dir() {
        let kind = kind_of(path, written, span)?.ok_or_else(|| {
            Diagnostic::error(
                format!("cannot import `{written}`: not a .bt script or a .h header"),
                span,
                "an unknown kind of file",
            )
        })?;
        from_dir(path.parent().unwrap_or(Path::new(".")))?;
        return Ok(vec![(path.to_path_buf(), kind)]);
    }
    from_dir(path)?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            Diagnostic::error(
                format!("cannot read the directory `{written}`: {e}"),
                span,
                "imported here",
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if let Some(kind) = kind_of(&p, written, span)? {
            out.push((p, kind));
        }
    }
    Ok(out)
}

/// The kind of an importable file by its name; `None` for other files; an error for
/// BPF C.
fn kind_of(path: &Path, written: &str, span: Span) -> Result<Option<SegmentKind>, Diagnostic> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name.ends_with(".bpf.c") {
        return Err(Diagnostic::error(
            format!(
                "cannot import `{}`: BPF C needs a C compiler",
                if name == written { written.to_string() } else { path.display().to_string() }
            ),
            span,
            "a `.bpf.c` file",
        )
        .with_help("kscope compiles scripts without clang or LLVM: write the helper as a bpftrace macro in a .bt file"));
    }
    Ok(if name.ends_with(".bt") {
        Some(SegmentKind::Script)
    } else if name.ends_with(".h") {
        Some(SegmentKind::Header)
    } else {
        None
    })
}
