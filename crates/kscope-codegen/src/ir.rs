//! The IR: BPF operations on unbounded virtual registers, in one flat list where labels
//! start basic blocks. Every instruction carries the [`Span`] of the script text it came
//! from.

pub use kscope_bpf::insn::{AluOp, JmpOp, Size};

/// A byte range of the script, opaque to code generation: it is only carried from the
/// instruction that needed it to the error that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bytes {}..{}", self.start, self.end)
    }
}

/// A virtual register holding a 64-bit value; there is no limit on how many a function
/// uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VReg(pub(crate) u32);

impl VReg {
    /// The register's number (dense, from 0).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The width of the value a virtual register holds. Registers are 64 bits wide; the
/// width is what loads, stores and extensions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// 8 bits.
    W8,
    /// 16 bits.
    W16,
    /// 32 bits.
    W32,
    /// 64 bits.
    W64,
}

impl Width {
    /// The memory access size of this width.
    pub fn size(self) -> Size {
        match self {
            Width::W8 => Size::B,
            Width::W16 => Size::H,
            Width::W32 => Size::W,
            Width::W64 => Size::DW,
        }
    }

    /// The width in bytes.
    pub fn bytes(self) -> u32 {
        self.size().bytes()
    }

    /// The width of a memory access size.
    pub fn of_size(size: Size) -> Width {
        match size {
            Size::B => Width::W8,
            Size::H => Width::W16,
            Size::W => Width::W32,
            Size::DW => Width::W64,
        }
    }
}

/// A jump target; placed with [`crate::Builder::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub(crate) u32);

/// A stack slot for a local (map keys, values, strings); its frame offset is chosen when
/// the function is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub(crate) u32);

/// A map the program refers to; the fd is supplied when the program is compiled
/// (the `maps` argument of [`crate::compile`]), and every `ld_imm64` that loads it is
/// listed as a relocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(pub u32);

/// A function of a multi-function program: index 0 is the entry point, the others are
/// BPF-to-BPF subprograms (see [`crate::compile_program`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub u32);

/// The second operand of an ALU operation, compare or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A virtual register.
    Reg(VReg),
    /// A sign-extended 32-bit immediate.
    Imm(i32),
}

impl From<VReg> for Operand {
    fn from(r: VReg) -> Operand {
        Operand::Reg(r)
    }
}

impl From<i32> for Operand {
    fn from(i: i32) -> Operand {
        Operand::Imm(i)
    }
}

/// The base address of a load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// A pointer in a virtual register.
    Reg(VReg),
    /// A stack slot (addressed from the frame pointer).
    Slot(Slot),
}

/// One IR instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `dst = r1` on entry (the context pointer); only as the first instruction.
    Ctx {
        /// Receives the context pointer.
        dst: VReg,
    },
    /// `dst =` parameter `index` of a subprogram (`r1 + index` on entry); only in the
    /// leading instructions of a subprogram.
    Param {
        /// Receives the parameter.
        dst: VReg,
        /// Which parameter (0-4).
        index: u8,
    },
    /// `dst = src` (64-bit).
    Mov {
        /// Destination.
        dst: VReg,
        /// Source.
        src: Operand,
    },
    /// `dst = imm` for a 64-bit immediate.
    LdImm64 {
        /// Destination.
        dst: VReg,
        /// The value.
        imm: u64,
    },
    /// `dst = &map` (an `ld_imm64` with `BPF_PSEUDO_MAP_FD`).
    LdMap {
        /// Destination.
        dst: VReg,
        /// The map.
        map: MapId,
    },
    /// `dst = &value + off`, the value of entry 0 of an array map (an `ld_imm64` with
    /// `BPF_PSEUDO_MAP_VALUE`): a global that costs no helper call to read.
    LdMapValue {
        /// Destination.
        dst: VReg,
        /// The array map.
        map: MapId,
        /// Byte offset into the value.
        off: u32,
    },
    /// `dst = &func`: the address of subprogram `func` (an `ld_imm64` with
    /// `BPF_PSEUDO_FUNC`), for helpers that take a callback such as
    /// `bpf_for_each_map_elem`.
    LdFunc {
        /// Destination.
        dst: VReg,
        /// The subprogram.
        func: FuncId,
    },
    /// `dst = &var`: the address of the kernel variable with this vmlinux BTF id (an
    /// `ld_imm64` with `BPF_PSEUDO_BTF_ID`); a per-CPU variable's address is what
    /// `bpf_this_cpu_ptr`/`bpf_per_cpu_ptr` take.
    LdBtfVar {
        /// Destination.
        dst: VReg,
        /// The `BTF_KIND_VAR` id in the kernel's BTF.
        btf_id: u32,
    },
    /// `dst op= src`, on 64 bits or (`alu32`) on 32 bits with the upper half zeroed.
    Alu {
        /// The operation (`Neg` ignores `src`).
        op: AluOp,
        /// Whether this is a 32-bit operation.
        alu32: bool,
        /// Destination and first operand.
        dst: VReg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = *(size *)(base + off)`, zero-extended.
    Load {
        /// Access size.
        size: Size,
        /// Destination.
        dst: VReg,
        /// Base address.
        base: Base,
        /// Byte displacement.
        off: i16,
    },
    /// `*(size *)(base + off) = src`.
    Store {
        /// Access size.
        size: Size,
        /// Base address.
        base: Base,
        /// Byte displacement.
        off: i16,
        /// The value.
        src: Operand,
    },
    /// `dst = r10 + offset of slot + off`: a pointer into the stack.
    SlotAddr {
        /// Destination.
        dst: VReg,
        /// The slot.
        slot: Slot,
        /// Byte displacement inside the slot.
        off: i16,
    },
    /// Calls helper `helper` with `args` in `r1`…, result (if kept) from `r0`.
    Call {
        /// `enum bpf_func_id`, or for a kfunc its vmlinux BTF `FUNC` id.
        helper: u32,
        /// Whether `helper` is a kernel function (kfunc) rather than a helper.
        kfunc: bool,
        /// Up to five arguments.
        args: Vec<VReg>,
        /// Receives `r0`.
        ret: Option<VReg>,
    },
    /// Calls subprogram `func` (a BPF-to-BPF call) with `args` in `r1`…, result (if
    /// kept) from `r0`. Like a helper call it clobbers `r0`–`r5`.
    CallSub {
        /// The subprogram.
        func: FuncId,
        /// Up to five arguments.
        args: Vec<VReg>,
        /// Receives `r0`.
        ret: Option<VReg>,
    },
    /// `goto target`.
    Jmp {
        /// Target.
        target: Label,
    },
    /// `if a op b goto target` (64-bit compare); otherwise falls through.
    JmpIf {
        /// Comparison.
        op: JmpOp,
        /// Left operand.
        a: VReg,
        /// Right operand.
        b: Operand,
        /// Target.
        target: Label,
    },
    /// Starts a basic block that jumps may target.
    Label(Label),
    /// Returns `value` from the program.
    Exit {
        /// The return value.
        value: Operand,
    },
}

/// An instruction with the span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// Where in the script it came from.
    pub span: Span,
}

/// A stack slot's declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotDecl {
    /// Size in bytes (rounded up to 8 when laid out).
    pub size: u32,
    /// The span of the code that asked for it.
    pub span: Span,
}

/// A whole function: instructions, the widths of its registers, its stack slots and
/// labels.
#[derive(Debug, Clone, Default)]
pub struct Function {
    /// The instructions in program order.
    pub insts: Vec<Inst>,
    /// Width of each virtual register, by index.
    pub widths: Vec<Width>,
    /// Stack slots, by index.
    pub slots: Vec<SlotDecl>,
    /// Number of labels created.
    pub labels: u32,
    /// Problems the lowering helpers found while building (reported by
    /// [`crate::compile`] as [`crate::CodegenError::InvalidIr`]).
    pub errors: Vec<(Span, String)>,
}

impl Op {
    /// Whether this is a call (helper or subprogram), which clobbers `r0`–`r5`.
    pub fn is_call(&self) -> bool {
        matches!(self, Op::Call { .. } | Op::CallSub { .. })
    }

    /// The registers this instruction reads.
    pub fn uses(&self) -> Vec<VReg> {
        let opnd = |o: &Operand| match o {
            Operand::Reg(r) => Some(*r),
            Operand::Imm(_) => None,
        };
        let base = |b: &Base| match b {
            Base::Reg(r) => Some(*r),
            Base::Slot(_) => None,
        };
        match self {
            Op::Ctx { .. }
            | Op::Param { .. }
            | Op::LdImm64 { .. }
            | Op::LdMap { .. }
            | Op::LdMapValue { .. }
            | Op::LdFunc { .. }
            | Op::LdBtfVar { .. }
            | Op::SlotAddr { .. } => {
                vec![]
            }
            Op::Mov { src, .. } => opnd(src).into_iter().collect(),
            Op::Alu { op, dst, src, .. } => {
                let mut v = vec![*dst];
                if *op != AluOp::Neg {
                    v.extend(opnd(src));
                }
                v
            }
            Op::Load { base: b, .. } => base(b).into_iter().collect(),
            Op::Store { base: b, src, .. } => base(b).into_iter().chain(opnd(src)).collect(),
            Op::Call { args, .. } | Op::CallSub { args, .. } => args.clone(),
            Op::Jmp { .. } | Op::Label(_) => vec![],
            Op::JmpIf { a, b, .. } => std::iter::once(*a).chain(opnd(b)).collect(),
            Op::Exit { value } => opnd(value).into_iter().collect(),
        }
    }

    /// The register this instruction writes, if any.
    pub fn def(&self) -> Option<VReg> {
        match self {
            Op::Ctx { dst }
            | Op::Param { dst, .. }
            | Op::Mov { dst, .. }
            | Op::LdImm64 { dst, .. }
            | Op::LdMap { dst, .. }
            | Op::LdMapValue { dst, .. }
            | Op::LdFunc { dst, .. }
            | Op::LdBtfVar { dst, .. }
            | Op::Alu { dst, .. }
            | Op::Load { dst, .. }
            | Op::SlotAddr { dst, .. } => Some(*dst),
            Op::Call { ret, .. } | Op::CallSub { ret, .. } => *ret,
            _ => None,
        }
    }
}
