//! BPF code generation for kscope scripts, without LLVM.
//!
//! The AST-lowering pass drives a [`Builder`]: it creates virtual registers ([`VReg`],
//! unbounded), labels, stack slots and map references, and appends IR operations
//! ([`ir::Op`]), each tagged with the script [`Span`] it came from. [`compile`] then
//! allocates registers (linear scan over live intervals from a data-flow liveness
//! analysis; values live across helper calls go to `r6`–`r9`; whatever does not fit is
//! spilled to the stack, so there is no "out of registers"), lays out the stack (at most
//! 512 bytes, or [`CodegenError::StackTooLarge`] naming the span that needed most),
//! emits kscope-bpf instructions with jumps and map fds filled in, and keeps the span of
//! every instruction so that a verifier rejection is reported at the script location
//! ([`Compiled::load`], [`Compiled::rejection`]).
//!
//! Several functions make one program with [`compile_program`]: the entry point and
//! subprograms ([`Builder::subprogram`], called with [`Builder::call_sub`] as BPF-to-BPF
//! calls), for complex helpers generated once per program.
//!
//! [`lower`] holds the reusable pieces of bpftrace semantics: in-place per-CPU
//! aggregation updates, hist/lhist buckets, ringbuf output records with a loss counter,
//! builtins read through helpers, and string reads into per-CPU scratch.
//!
//! ```
//! use kscope_codegen::{Builder, Span, compile};
//! use kscope_codegen::ir::AluOp;
//! let mut b = Builder::new();
//! b.set_span(Span::new(0, 5));
//! let x = b.imm(40);
//! let y = b.binop(AluOp::Add, x, 2);
//! b.exit(y);
//! let prog = compile(&b.finish(), &|_| None)?;
//! assert_eq!(prog.spans[0], Span::new(0, 5));
//! # Ok::<(), kscope_codegen::CodegenError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod btf;
mod builder;
mod emit;
pub mod helper;
pub mod ir;
pub mod lower;
pub mod regalloc;
mod stack;
mod verifier;

pub use builder::Builder;
pub use emit::{
    Compiled, MAX_STACK, Options, POISON, PSEUDO_CALL, compile, compile_program, compile_with,
};
pub use ir::{FuncId, Function, Label, MapId, Operand, Slot, Span, VReg, Width};
pub use verifier::Rejection;

/// Errors of code generation and of loading generated code.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The IR breaks a rule (a bug in the pass that built it).
    #[error("internal code generation error at {span}: {reason}; please report this script")]
    InvalidIr {
        /// The instruction concerned.
        span: Span,
        /// What is wrong.
        reason: String,
    },
    /// The stack frame is larger than the kernel allows.
    #[error(
        "the program needs {used} bytes of BPF stack, more than the kernel's {max} bytes; \
         {bytes} of them are for the code at {span}: use a smaller key or value there, or \
         fewer variables"
    , max = MAX_STACK)]
    StackTooLarge {
        /// Bytes needed.
        used: u32,
        /// The span that needed the most.
        span: Span,
        /// Bytes that span needed.
        bytes: u32,
    },
    /// A map was referenced that the compiler was given no fd for.
    #[error("internal code generation error at {span}: no fd for map {}", .map.0)]
    UnknownMap {
        /// The map.
        map: MapId,
        /// Where it was loaded.
        span: Span,
    },
    /// A jump does not fit the 16-bit offset.
    #[error(
        "the program is too large: a jump at {span} spans {distance} instructions, more than \
         BPF allows (32767); split the probe's actions"
    )]
    JumpTooFar {
        /// The jump.
        span: Span,
        /// Its distance.
        distance: i64,
    },
    /// The kernel refused the program; `rejection` maps the verifier's complaint to the
    /// script.
    #[error("{}", match .rejection {
        Some(r) => format!("the kernel's BPF verifier rejected the code for {} (instruction {}): {}", r.span, r.insn, r.message),
        None => format!("{}", .source),
    })]
    Load {
        /// Where the verifier complained, when its log names an instruction.
        rejection: Option<Rejection>,
        /// The load error with the errno and the whole log.
        #[source]
        source: kscope_bpf::LoadError,
    },
}

impl CodegenError {
    /// The script location of the error, when it has one.
    pub fn span(&self) -> Option<Span> {
        match self {
            CodegenError::InvalidIr { span, .. }
            | CodegenError::StackTooLarge { span, .. }
            | CodegenError::UnknownMap { span, .. }
            | CodegenError::JumpTooFar { span, .. } => Some(*span),
            CodegenError::Load { rejection, .. } => rejection.as_ref().map(|r| r.span),
        }
    }
}
