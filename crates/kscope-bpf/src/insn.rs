//! eBPF instructions: encoding, constructors and a small disassembler.
//!
//! An [`Insn`] is one 8-byte `struct bpf_insn`: an opcode, destination and source registers
//! (4 bits each), a signed 16-bit offset and a signed 32-bit immediate. The 64-bit immediate
//! load (`ld_imm64`) takes two consecutive instructions; its constructors return `[Insn; 2]`.
//!
//! The text form follows the kernel verifier log (`kernel/bpf/disasm.c`), so that a line of
//! [`disassemble`] output can be compared with the line the verifier complains about:
//!
//! ```
//! use kscope_bpf::insn::{disassemble, Insn, Reg};
//! let prog = [Insn::mov64_reg(Reg::R0, Reg::R2), Insn::exit()];
//! assert_eq!(disassemble(&prog), "0: (bf) r0 = r2\n1: (95) exit\n");
//! ```

use std::fmt;

/// Opcode building blocks from `include/uapi/linux/bpf_common.h` and `bpf.h`.
pub mod op {
    /// Instruction class `BPF_LD` (non-standard loads, e.g. `ld_imm64`).
    pub const LD: u8 = 0x00;
    /// Instruction class `BPF_LDX` (load from memory into a register).
    pub const LDX: u8 = 0x01;
    /// Instruction class `BPF_ST` (store an immediate to memory).
    pub const ST: u8 = 0x02;
    /// Instruction class `BPF_STX` (store a register to memory, atomics).
    pub const STX: u8 = 0x03;
    /// Instruction class `BPF_ALU` (32-bit arithmetic).
    pub const ALU: u8 = 0x04;
    /// Instruction class `BPF_JMP` (64-bit compares, calls, exit).
    pub const JMP: u8 = 0x05;
    /// Instruction class `BPF_JMP32` (32-bit compares).
    pub const JMP32: u8 = 0x06;
    /// Instruction class `BPF_ALU64` (64-bit arithmetic).
    pub const ALU64: u8 = 0x07;

    /// Operand source `BPF_K`: the immediate.
    pub const K: u8 = 0x00;
    /// Operand source `BPF_X`: the source register.
    pub const X: u8 = 0x08;

    /// Memory size `BPF_W` (4 bytes).
    pub const W: u8 = 0x00;
    /// Memory size `BPF_H` (2 bytes).
    pub const H: u8 = 0x08;
    /// Memory size `BPF_B` (1 byte).
    pub const B: u8 = 0x10;
    /// Memory size `BPF_DW` (8 bytes).
    pub const DW: u8 = 0x18;

    /// Mode `BPF_IMM` (with `BPF_LD | BPF_DW`: the 64-bit immediate load).
    pub const IMM: u8 = 0x00;
    /// Mode `BPF_MEM`: regular loads and stores.
    pub const MEM: u8 = 0x60;

    /// Jump operation `BPF_JA`: unconditional jump.
    pub const JA: u8 = 0x00;
    /// Jump operation `BPF_CALL`: helper call.
    pub const CALL: u8 = 0x80;
    /// Jump operation `BPF_EXIT`: return `r0`.
    pub const EXIT: u8 = 0x90;

    /// Mask of the class bits.
    pub const CLASS_MASK: u8 = 0x07;
    /// Mask of the size bits (load/store classes).
    pub const SIZE_MASK: u8 = 0x18;
    /// Mask of the mode bits (load/store classes).
    pub const MODE_MASK: u8 = 0xe0;
    /// Mask of the operation bits (ALU/JMP classes).
    pub const OP_MASK: u8 = 0xf0;
}

/// The eleven BPF registers: `r0` (return value), `r1`–`r5` (arguments, clobbered by
/// calls), `r6`–`r9` (callee-saved) and `r10` (read-only frame pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    /// Return value of helpers and of the program.
    R0 = 0,
    /// First argument; the context pointer on entry.
    R1 = 1,
    /// Second argument.
    R2 = 2,
    /// Third argument.
    R3 = 3,
    /// Fourth argument.
    R4 = 4,
    /// Fifth argument.
    R5 = 5,
    /// Callee-saved.
    R6 = 6,
    /// Callee-saved.
    R7 = 7,
    /// Callee-saved.
    R8 = 8,
    /// Callee-saved.
    R9 = 9,
    /// Read-only frame pointer (top of the 512-byte stack).
    R10 = 10,
}

impl Reg {
    /// The register's number (0–10).
    pub const fn num(self) -> u8 {
        self as u8
    }
}

/// Arithmetic operations (`BPF_ADD` … `BPF_ARSH`) for [`Insn::alu64_imm`] and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=` (unsigned; division by zero yields 0)
    Div,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// `>>=` (logical)
    Rsh,
    /// `= -dst` (ignores the operand)
    Neg,
    /// `%=` (unsigned)
    Mod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// `s>>=` (arithmetic shift)
    Arsh,
}

impl AluOp {
    /// The operation bits of the opcode.
    pub const fn code(self) -> u8 {
        match self {
            AluOp::Add => 0x00,
            AluOp::Sub => 0x10,
            AluOp::Mul => 0x20,
            AluOp::Div => 0x30,
            AluOp::Or => 0x40,
            AluOp::And => 0x50,
            AluOp::Lsh => 0x60,
            AluOp::Rsh => 0x70,
            AluOp::Neg => 0x80,
            AluOp::Mod => 0x90,
            AluOp::Xor => 0xa0,
            AluOp::Mov => 0xb0,
            AluOp::Arsh => 0xc0,
        }
    }
}

/// Conditional jump comparisons (`BPF_JEQ` … `BPF_JSLE`) for [`Insn::jmp_imm`] and
/// [`Insn::jmp_reg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JmpOp {
    /// `==`
    Eq,
    /// `>` (unsigned)
    Gt,
    /// `>=` (unsigned)
    Ge,
    /// `&` (jump if any bit in common)
    Set,
    /// `!=`
    Ne,
    /// `s>`
    Sgt,
    /// `s>=`
    Sge,
    /// `<` (unsigned)
    Lt,
    /// `<=` (unsigned)
    Le,
    /// `s<`
    Slt,
    /// `s<=`
    Sle,
}

impl JmpOp {
    /// The operation bits of the opcode.
    pub const fn code(self) -> u8 {
        match self {
            JmpOp::Eq => 0x10,
            JmpOp::Gt => 0x20,
            JmpOp::Ge => 0x30,
            JmpOp::Set => 0x40,
            JmpOp::Ne => 0x50,
            JmpOp::Sgt => 0x60,
            JmpOp::Sge => 0x70,
            JmpOp::Lt => 0xa0,
            JmpOp::Le => 0xb0,
            JmpOp::Slt => 0xc0,
            JmpOp::Sle => 0xd0,
        }
    }
}

/// Memory access sizes for loads and stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte (`BPF_B`).
    B,
    /// 2 bytes (`BPF_H`).
    H,
    /// 4 bytes (`BPF_W`).
    W,
    /// 8 bytes (`BPF_DW`).
    DW,
}

impl Size {
    /// The size bits of the opcode.
    pub const fn code(self) -> u8 {
        match self {
            Size::B => op::B,
            Size::H => op::H,
            Size::W => op::W,
            Size::DW => op::DW,
        }
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// One 8-byte BPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode: class | size/source | mode/operation.
    pub code: u8,
    /// Destination register number (4 bits).
    pub dst: u8,
    /// Source register number (4 bits), or a pseudo value such as `BPF_PSEUDO_MAP_FD`.
    pub src: u8,
    /// Signed offset: jump distance in instructions, or memory displacement in bytes.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// An instruction from its raw fields; `dst` and `src` are masked to 4 bits.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst: dst & 0x0f,
            src: src & 0x0f,
            off,
            imm,
        }
    }

    /// The 8 bytes the kernel reads, in the machine's byte order (registers share one
    /// byte: `dst` in the low nibble on little-endian machines, as C bitfields lay them out).
    pub const fn to_bytes(self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0x0f)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }

    /// The instruction's 8 bytes read as a native-endian `u64`, i.e. what `bpf(2)` reads
    /// from an array of these.
    pub const fn to_u64(self) -> u64 {
        u64::from_ne_bytes(self.to_bytes())
    }

    /// Decodes the 8 bytes produced by [`Insn::to_bytes`].
    pub const fn from_bytes(b: [u8; 8]) -> Insn {
        let (dst, src) = if cfg!(target_endian = "little") {
            (b[1] & 0x0f, b[1] >> 4)
        } else {
            (b[1] >> 4, b[1] & 0x0f)
        };
        Insn {
            code: b[0],
            dst,
            src,
            off: i16::from_ne_bytes([b[2], b[3]]),
            imm: i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Decodes the value produced by [`Insn::to_u64`].
    pub const fn from_u64(v: u64) -> Insn {
        Insn::from_bytes(v.to_ne_bytes())
    }

    /// The instruction class (`code & 7`), one of the class constants in [`op`].
    pub const fn class(self) -> u8 {
        self.code & op::CLASS_MASK
    }

    /// Whether this is the first half of a 16-byte `ld_imm64`.
    pub const fn is_ld_imm64(self) -> bool {
        self.code == op::LD | op::DW | op::IMM
    }

    /// `dst = imm` (64-bit, the immediate sign-extended).
    pub const fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu64_imm(AluOp::Mov, dst, imm)
    }

    /// `dst = src` (64-bit).
    pub const fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(AluOp::Mov, dst, src)
    }

    /// `dst op= imm` on 64 bits (e.g. `r1 += 8`).
    pub const fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(op::ALU64 | op::K | op.code(), dst.num(), 0, 0, imm)
    }

    /// `dst op= src` on 64 bits.
    pub const fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(op::ALU64 | op::X | op.code(), dst.num(), src.num(), 0, 0)
    }

    /// `wdst op= imm` on 32 bits (the upper half of `dst` is zeroed).
    pub const fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(op::ALU | op::K | op.code(), dst.num(), 0, 0, imm)
    }

    /// `wdst op= wsrc` on 32 bits (the upper half of `dst` is zeroed).
    pub const fn alu32_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(op::ALU | op::X | op.code(), dst.num(), src.num(), 0, 0)
    }

    /// `dst = imm` for a full 64-bit immediate: the two halves of an `ld_imm64`.
    pub const fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(dst, 0, imm)
    }

    /// `dst = map` for the map behind file descriptor `map_fd`: an `ld_imm64` with
    /// `src = BPF_PSEUDO_MAP_FD`, which the verifier replaces by the map's address.
    pub const fn ld_map_fd(dst: Reg, map_fd: i32) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(dst, kscope_sys::bpf::PSEUDO_MAP_FD, map_fd as u32 as u64)
    }

    /// `dst = &value + off` for the value of an array map's entry 0: an `ld_imm64` with
    /// `src = BPF_PSEUDO_MAP_VALUE` (map fd in the first half, offset in the second), which
    /// the verifier replaces by the address. No helper call: a load from it costs one
    /// instruction.
    pub const fn ld_map_value(dst: Reg, map_fd: i32, off: u32) -> [Insn; 2] {
        Insn::ld_imm64_pseudo(
            dst,
            kscope_sys::bpf::PSEUDO_MAP_VALUE,
            ((off as u64) << 32) | map_fd as u32 as u64,
        )
    }

    /// An `ld_imm64` with a pseudo source (`BPF_PSEUDO_*`) and a 64-bit immediate.
    pub const fn ld_imm64_pseudo(dst: Reg, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn::new(
                op::LD | op::DW | op::IMM,
                dst.num(),
                src,
                0,
                imm as u32 as i32,
            ),
            Insn::new(0, 0, 0, 0, (imm >> 32) as u32 as i32),
        ]
    }

    /// `dst = *(size *)(src + off)`.
    pub const fn ldx_mem(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(
            op::LDX | op::MEM | size.code(),
            dst.num(),
            src.num(),
            off,
            0,
        )
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn stx_mem(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(
            op::STX | op::MEM | size.code(),
            dst.num(),
            src.num(),
            off,
            0,
        )
    }

    /// `*(size *)(dst + off) = imm`.
    pub const fn st_mem(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(op::ST | op::MEM | size.code(), dst.num(), 0, off, imm)
    }

    /// `if dst op imm goto pc+off` (64-bit compare; `off` counts instructions after this one).
    pub const fn jmp_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(op::JMP | op::K | op.code(), dst.num(), 0, off, imm)
    }

    /// `if dst op src goto pc+off` (64-bit compare).
    pub const fn jmp_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(op::JMP | op::X | op.code(), dst.num(), src.num(), off, 0)
    }

    /// `goto pc+off`.
    pub const fn ja(off: i16) -> Insn {
        Insn::new(op::JMP | op::JA, 0, 0, off, 0)
    }

    /// Calls helper number `helper_id` (`enum bpf_func_id`); arguments in `r1`–`r5`,
    /// result in `r0`.
    pub const fn call(helper_id: u32) -> Insn {
        Insn::new(op::JMP | op::CALL, 0, 0, 0, helper_id as i32)
    }

    /// Calls the kernel function (kfunc) whose vmlinux BTF `FUNC` id is `btf_id`;
    /// arguments in `r1`–`r5`, result in `r0`.
    pub const fn call_kfunc(btf_id: u32) -> Insn {
        Insn::new(op::JMP | op::CALL, 0, PSEUDO_KFUNC_CALL, 0, btf_id as i32)
    }

    /// Returns `r0` from the program.
    pub const fn exit() -> Insn {
        Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)
    }
}

/// Kernel names of the helpers kscope uses most, for the disassembler. Others print as
/// `unknown#<id>`, as the kernel does for ids it does not know.
pub fn helper_name(id: i32) -> Option<&'static str> {
    Some(match id {
        1 => "bpf_map_lookup_elem",
        2 => "bpf_map_update_elem",
        3 => "bpf_map_delete_elem",
        4 => "bpf_probe_read",
        5 => "bpf_ktime_get_ns",
        6 => "bpf_trace_printk",
        7 => "bpf_get_prandom_u32",
        8 => "bpf_get_smp_processor_id",
        14 => "bpf_get_current_pid_tgid",
        15 => "bpf_get_current_uid_gid",
        16 => "bpf_get_current_comm",
        42 => "bpf_get_numa_node_id",
        25 => "bpf_perf_event_output",
        27 => "bpf_get_stackid",
        35 => "bpf_get_current_task",
        67 => "bpf_get_stack",
        80 => "bpf_get_current_cgroup_id",
        109 => "bpf_send_signal",
        112 => "bpf_probe_read_user",
        113 => "bpf_probe_read_kernel",
        114 => "bpf_probe_read_user_str",
        115 => "bpf_probe_read_kernel_str",
        125 => "bpf_ktime_get_boot_ns",
        130 => "bpf_ringbuf_output",
        131 => "bpf_ringbuf_reserve",
        132 => "bpf_ringbuf_submit",
        133 => "bpf_ringbuf_discard",
        134 => "bpf_ringbuf_query",
        158 => "bpf_get_current_task_btf",
        164 => "bpf_for_each_map_elem",
        173 => "bpf_get_func_ip",
        195 => "bpf_map_lookup_percpu_elem",
        118 => "bpf_jiffies64",
        _ => return None,
    })
}

fn alu_str(code: u8) -> &'static str {
    match code & op::OP_MASK {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 => "%=",
        0xa0 => "^=",
        0xb0 => "=",
        0xc0 => "s>>=",
        _ => "?=",
    }
}

fn jmp_str(code: u8) -> &'static str {
    match code & op::OP_MASK {
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => "?",
    }
}

fn size_str(code: u8) -> &'static str {
    match code & op::SIZE_MASK {
        op::B => "u8",
        op::H => "u16",
        op::W => "u32",
        _ => "u64",
    }
}

/// `src_reg` of a call to a BPF-to-BPF subprogram (`BPF_PSEUDO_CALL`); the immediate is
/// the distance from the next instruction to the callee.
pub const PSEUDO_CALL: u8 = 1;
/// `src_reg` of a call to a kernel function (`BPF_PSEUDO_KFUNC_CALL`); the immediate is
/// its BTF id.
pub const PSEUDO_KFUNC_CALL: u8 = 2;
/// `src_reg` of an `ld_imm64` loading the address of a kernel variable
/// (`BPF_PSEUDO_BTF_ID`); the immediate is its `BTF_KIND_VAR` id, the second half's the
/// BTF object fd (0: vmlinux).
pub const PSEUDO_BTF_ID: u8 = 3;
/// `src_reg` of an `ld_imm64` loading the address of a subprogram (`BPF_PSEUDO_FUNC`),
/// e.g. a helper callback; the immediate is the distance to it.
pub const PSEUDO_FUNC: u8 = 4;

/// Writes the kernel-style text of `insn` (without the `(code)` prefix); `next` is the
/// following instruction, needed for the upper half of an `ld_imm64`.
fn write_insn(f: &mut impl fmt::Write, insn: Insn, next: Option<Insn>) -> fmt::Result {
    let class = insn.class();
    let (d, s) = (insn.dst, insn.src);
    match class {
        op::ALU | op::ALU64 => {
            let r = if class == op::ALU64 { 'r' } else { 'w' };
            if insn.code & op::OP_MASK == AluOp::Neg.code() {
                write!(f, "{r}{d} = -{r}{d}")
            } else if insn.code & op::OP_MASK == 0xd0 {
                let kind = match (class, insn.code & op::X != 0) {
                    (op::ALU, true) => "be",
                    (op::ALU, false) => "le",
                    _ => "bswap",
                };
                write!(f, "{r}{d} = {kind}{} {r}{d}", insn.imm)
            } else if insn.code & op::X != 0 {
                write!(f, "{r}{d} {} {r}{s}", alu_str(insn.code))
            } else {
                write!(f, "{r}{d} {} {}", alu_str(insn.code), insn.imm)
            }
        }
        op::JMP | op::JMP32 => {
            let r = if class == op::JMP { 'r' } else { 'w' };
            match insn.code & op::OP_MASK {
                // BPF-to-BPF call: the immediate is the distance to the callee.
                op::CALL if class == op::JMP && s == PSEUDO_CALL => {
                    write!(f, "call pc{:+}", insn.imm)
                }
                op::CALL if class == op::JMP && s == PSEUDO_KFUNC_CALL => {
                    write!(f, "call kernel-function#{}", insn.imm)
                }
                op::CALL if class == op::JMP => match helper_name(insn.imm) {
                    Some(name) => write!(f, "call {name}#{}", insn.imm),
                    None => write!(f, "call unknown#{}", insn.imm),
                },
                op::EXIT if class == op::JMP => write!(f, "exit"),
                op::JA => write!(f, "goto pc{:+}", insn.off),
                _ if insn.code & op::X != 0 => write!(
                    f,
                    "if {r}{d} {} {r}{s} goto pc{:+}",
                    jmp_str(insn.code),
                    insn.off
                ),
                _ => write!(
                    f,
                    "if {r}{d} {} {:#x} goto pc{:+}",
                    jmp_str(insn.code),
                    insn.imm as u32,
                    insn.off
                ),
            }
        }
        op::LDX if insn.code & op::MODE_MASK == op::MEM => write!(
            f,
            "r{d} = *({} *)(r{s} {:+})",
            size_str(insn.code),
            insn.off
        ),
        op::STX if insn.code & op::MODE_MASK == op::MEM => write!(
            f,
            "*({} *)(r{d} {:+}) = r{s}",
            size_str(insn.code),
            insn.off
        ),
        op::ST if insn.code & op::MODE_MASK == op::MEM => write!(
            f,
            "*({} *)(r{d} {:+}) = {}",
            size_str(insn.code),
            insn.off,
            insn.imm
        ),
        op::LD if insn.is_ld_imm64() => {
            let hi = next.map_or(0, |n| n.imm as u32 as u64);
            let imm = (hi << 32) | insn.imm as u32 as u64;
            if s == kscope_sys::bpf::PSEUDO_MAP_FD {
                write!(f, "r{d} = map[fd:{}]", insn.imm)
            } else if s == kscope_sys::bpf::PSEUDO_MAP_VALUE {
                write!(f, "r{d} = map_value[fd:{}]{:+}", insn.imm, hi as u32)
            } else if s == PSEUDO_FUNC {
                write!(f, "r{d} = func pc{:+}", insn.imm)
            } else if s == PSEUDO_BTF_ID {
                write!(f, "r{d} = btf_var[id:{}]", insn.imm)
            } else {
                write!(f, "r{d} = {imm:#x}")
            }
        }
        _ => write!(
            f,
            "unknown code {:#04x} dst r{d} src r{s} off {} imm {}",
            insn.code, insn.off, insn.imm
        ),
    }
}

impl fmt::Display for Insn {
    /// The kernel verifier's text for this instruction, e.g. `r0 = r2` or `exit`. The upper
    /// half of an `ld_imm64` is not known here, so only its low 32 bits are shown; use
    /// [`disassemble`] for whole programs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_insn(f, *self, None)
    }
}

/// Disassembles a program in the verifier log's format, one `index: (code) text` line per
/// instruction; the second half of an `ld_imm64` gets no line of its own, as in the kernel.
pub fn disassemble(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let next = insns.get(i + 1).copied();
        out.push_str(&format!("{i}: ({:02x}) ", insn.code));
        // Writing to a String cannot fail.
        let _ = write_insn(&mut out, insn, next);
        out.push('\n');
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn exact_bytes() {
        assert_eq!(
            Insn::mov64_imm(Reg::R0, 0).to_bytes(),
            [0xb7, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::mov64_imm(Reg::R1, -2).to_bytes(),
            [0xb7, 0x01, 0, 0, 0xfe, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            Insn::mov64_reg(Reg::R0, Reg::R2).to_bytes(),
            [0xbf, 0x20, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::alu64_imm(AluOp::Add, Reg::R1, 8).to_bytes(),
            [0x07, 0x01, 0, 0, 8, 0, 0, 0]
        );
        assert_eq!(
            Insn::alu64_imm(AluOp::Sub, Reg::R10, 16).to_bytes(),
            [0x17, 0x0a, 0, 0, 16, 0, 0, 0]
        );
        assert_eq!(Insn::call(1).to_bytes(), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Insn::jmp_imm(JmpOp::Eq, Reg::R0, 0, 2).to_bytes(),
            [0x15, 0x00, 2, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::jmp_imm(JmpOp::Ne, Reg::R3, 7, -1).to_bytes(),
            [0x55, 0x03, 0xff, 0xff, 7, 0, 0, 0]
        );
        let [lo, hi] = Insn::ld_map_fd(Reg::R1, 5);
        assert_eq!(lo.to_bytes(), [0x18, 0x11, 0, 0, 5, 0, 0, 0]);
        assert_eq!(hi.to_bytes(), [0; 8]);
        let [lo, hi] = Insn::ld_imm64(Reg::R2, 0x1122_3344_5566_7788);
        assert_eq!(lo.to_bytes(), [0x18, 0x02, 0, 0, 0x88, 0x77, 0x66, 0x55]);
        assert_eq!(hi.to_bytes(), [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(
            Insn::stx_mem(Size::DW, Reg::R10, Reg::R1, -8).to_bytes(),
            [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::ldx_mem(Size::W, Reg::R0, Reg::R1, 4).to_bytes(),
            [0x61, 0x10, 4, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Insn::st_mem(Size::W, Reg::R10, -4, 0).to_bytes(),
            [0x62, 0x0a, 0xfc, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(Insn::exit().to_u64(), 0x95);
        assert_eq!(Insn::mov64_reg(Reg::R0, Reg::R2).to_u64(), 0x20bf);
    }

    #[test]
    fn round_trips() {
        let all = [
            Insn::mov64_imm(Reg::R9, i32::MIN),
            Insn::mov64_reg(Reg::R6, Reg::R10),
            Insn::jmp_reg(JmpOp::Sle, Reg::R1, Reg::R2, i16::MIN),
            Insn::ld_map_fd(Reg::R1, 1234)[0],
            Insn::call(131),
        ];
        for i in all {
            assert_eq!(Insn::from_bytes(i.to_bytes()), i);
            assert_eq!(Insn::from_u64(i.to_u64()), i);
        }
    }

    #[test]
    fn text_matches_the_verifier() {
        let cases: [(Insn, &str); 17] = [
            (Insn::mov64_imm(Reg::R0, 0), "r0 = 0"),
            (Insn::mov64_imm(Reg::R0, -1), "r0 = -1"),
            (Insn::mov64_reg(Reg::R0, Reg::R2), "r0 = r2"),
            (Insn::alu64_imm(AluOp::Add, Reg::R1, 8), "r1 += 8"),
            (Insn::alu64_reg(AluOp::Arsh, Reg::R1, Reg::R3), "r1 s>>= r3"),
            (Insn::alu32_imm(AluOp::And, Reg::R4, 255), "w4 &= 255"),
            (Insn::alu64_imm(AluOp::Neg, Reg::R5, 0), "r5 = -r5"),
            (Insn::call(1), "call bpf_map_lookup_elem#1"),
            (Insn::call(9999), "call unknown#9999"),
            (
                Insn::new(op::JMP | op::CALL, 0, PSEUDO_CALL, 0, 5),
                "call pc+5",
            ),
            (
                Insn::new(op::JMP | op::CALL, 0, PSEUDO_CALL, 0, -12),
                "call pc-12",
            ),
            (Insn::exit(), "exit"),
            (Insn::ja(-3), "goto pc-3"),
            (
                Insn::jmp_imm(JmpOp::Eq, Reg::R0, 0, 1),
                "if r0 == 0x0 goto pc+1",
            ),
            (
                Insn::jmp_reg(JmpOp::Sgt, Reg::R1, Reg::R2, 4),
                "if r1 s> r2 goto pc+4",
            ),
            (
                Insn::ldx_mem(Size::DW, Reg::R1, Reg::R1, 8),
                "r1 = *(u64 *)(r1 +8)",
            ),
            (
                Insn::stx_mem(Size::B, Reg::R10, Reg::R1, -8),
                "*(u8 *)(r10 -8) = r1",
            ),
        ];
        for (insn, text) in cases {
            assert_eq!(insn.to_string(), text, "{insn:?}");
        }
        assert_eq!(
            Insn::st_mem(Size::W, Reg::R10, -4, 7).to_string(),
            "*(u32 *)(r10 -4) = 7"
        );
    }

    #[test]
    fn disassembles_ld_imm64_pairs() {
        let mut prog = Vec::new();
        prog.extend(Insn::ld_map_fd(Reg::R1, 3));
        prog.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0002));
        prog.push(Insn::mov64_imm(Reg::R0, 0));
        prog.push(Insn::exit());
        assert_eq!(
            disassemble(&prog),
            "0: (18) r1 = map[fd:3]\n2: (18) r2 = 0x100000002\n4: (b7) r0 = 0\n5: (95) exit\n"
        );
    }

    /// A BPF-to-BPF call and a callback address print as pc-relative targets, never as
    /// helper calls (helper 1 would be `bpf_map_lookup_elem`).
    #[test]
    fn disassembles_subprogram_calls() {
        let mut prog = Vec::new();
        let mut f = Insn::ld_imm64(Reg::R2, 3);
        f[0].src = PSEUDO_FUNC;
        prog.extend(f);
        prog.push(Insn::new(op::JMP | op::CALL, 0, PSEUDO_CALL, 0, 1));
        prog.push(Insn::exit());
        prog.push(Insn::mov64_imm(Reg::R0, 0));
        prog.push(Insn::exit());
        assert_eq!(
            disassemble(&prog),
            "0: (18) r2 = func pc+3\n2: (85) call pc+1\n3: (95) exit\n4: (b7) r0 = 0\n5: (95) exit\n"
        );
    }

    #[test]
    fn unknown_opcodes_do_not_panic() {
        for code in 0..=255u8 {
            let insn = Insn::new(code, 15, 15, -1, -1);
            assert!(!insn.to_string().is_empty());
        }
        assert_eq!(
            disassemble(&[Insn::new(0x18, 1, 0, 0, 1)]),
            "0: (18) r1 = 0x1\n"
        );
    }
}
