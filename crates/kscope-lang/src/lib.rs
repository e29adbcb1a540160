//! The bpftrace language front end of kscope: named passes over one AST.
//!
//! 1. [`lexer`]: tokens (`logos`), integer and string literal decoding;
//! 2. [`parser`]: a recursive-descent parser with precedence climbing, producing
//!    [`ast::Program`] where every node has a [`span::Span`] and every expression an
//!    [`ast::ExprId`];
//! 3. [`printer`]: the printable AST (`--dry-run`) and a source writer;
//! 4. [`sema`]: semantic analysis without the kernel: builtins, functions, bpftrace's
//!    integer typing, map and variable types, probe-kind rules. Kernel types (tracepoint
//!    formats, BTF) come in through the [`sema::TypeProvider`] trait;
//! 5. [`diag`]: rustc-style diagnostics rendered as plain text;
//! 6. [`kernel`]: a [`sema::TypeProvider`] over tracefs (tracepoint names and `format`
//!    files); BTF (struct members, raw tracepoint and fentry `args`) comes later.
//!
//! Code generation is not built yet; it will consume [`sema::Checked`] (the types of every
//! expression, the maps, the variables and the probes).
//!
//! ```
//! let src = kscope_lang::SourceFile::new("-e", "begin { @n = count(); }");
//! let checked = kscope_lang::compile(&src, &kscope_lang::sema::Options::default(),
//!     &kscope_lang::sema::NoKernelTypes).unwrap();
//! assert_eq!(checked.maps["n"].value.to_string(), "count_t");
//! ```

#![warn(missing_docs)]

pub mod ast;
pub mod btf_types;
pub mod cdefs;
pub mod diag;
pub mod header_constants;
pub mod imports;
pub mod kernel;
pub mod kernel_names;
pub mod lexer;
pub mod macros;
pub mod output;
pub mod parser;
pub mod preproc;
pub mod printer;
pub mod regs;
pub mod scopes;
pub mod sema;
pub mod span;
mod stack;
pub mod suggest;

pub use diag::{Diagnostic, Severity};
pub use span::{SourceFile, Span};

/// The front end failed: the diagnostics, rendered against the source.
#[derive(Debug, thiserror::Error)]
#[error("{rendered}")]
pub struct CompileError {
    /// The diagnostics (errors first, then warnings).
    pub diagnostics: Vec<Diagnostic>,
    /// All diagnostics rendered as plain text.
    pub rendered: String,
}

/// Runs the front end (parse, then check) over a script.
pub fn compile(
    src: &SourceFile,
    options: &sema::Options,
    types: &dyn sema::TypeProvider,
) -> Result<sema::Checked, CompileError> {
    stack::with_big_stack(|| check_parsed(src, parse(src)?, options, types))
}

/// Parses a script (the first half of [`compile`]), for callers that look at the
/// program before it is checked (uprobe `args` from DWARF add C struct definitions).
pub fn parse(src: &SourceFile) -> Result<ast::Program, CompileError> {
    stack::with_big_stack(|| {
        parser::parse_source(src).map_err(|d| CompileError {
            rendered: d.render(src),
            diagnostics: vec![d],
        })
    })
}

/// Checks a parsed program (the second half of [`compile`]).
pub fn check_parsed(
    src: &SourceFile,
    program: ast::Program,
    options: &sema::Options,
    types: &dyn sema::TypeProvider,
) -> Result<sema::Checked, CompileError> {
    sema::check(program, options, types).map_err(|diagnostics| CompileError {
        rendered: diag::render_all(&diagnostics, src),
        diagnostics,
    })
}
