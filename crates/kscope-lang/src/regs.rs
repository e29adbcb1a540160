//! x86-64 register names as `reg()` takes them, and where `struct pt_regs` keeps each
//! (arch/x86/include/asm/ptrace.h; a perf event's context starts with the same layout).

/// Register names and their byte offsets in `struct pt_regs`.
pub const PT_REGS: &[(&str, i16)] = &[
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", 32),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("ax", 80),
    ("cx", 88),
    ("dx", 96),
    ("si", 104),
    ("di", 112),
    ("orig_ax", 120),
    ("ip", 128),
    ("cs", 136),
    ("flags", 144),
    ("sp", 152),
    ("ss", 160),
];

/// The `struct pt_regs` offset of register `name`.
pub fn pt_regs_offset(name: &str) -> Option<i16> {
    PT_REGS.iter().find(|(n, _)| *n == name).map(|&(_, o)| o)
}
