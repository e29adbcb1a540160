//! The argument specs of an SDT note (`-4@%eax 8@-16(%rbp) 8@$5 -4@sym(%rip)`): where
//! each argument is at the probe and its size and signedness (x86-64 AT&T syntax, as
//! gcc's `sys/sdt.h` writes it).

/// Where an argument's value is at the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A register: the `struct pt_regs` offset of its 64-bit register and the bit shift of
    /// the named part (8 for `%ah`..`%dh`, else 0).
    Reg {
        /// Byte offset in `struct pt_regs`.
        offset: i16,
        /// Right shift of the register's value before it is cut to the argument's size.
        shift: u8,
    },
    /// A constant (`$5`, `$-7`).
    Const(i64),
    /// Memory at `disp(%base,%index,scale)` (index and scale optional).
    Mem {
        /// The `struct pt_regs` offset of the base register.
        base: i16,
        /// The index register's `struct pt_regs` offset and the scale (1, 2, 4 or 8).
        index: Option<(i16, u8)>,
        /// The displacement.
        disp: i64,
    },
    /// Memory at `symbol+disp(%rip)`: a variable of the ELF file, found by its address.
    Symbol {
        /// The symbol's name.
        name: String,
        /// The displacement added to the symbol's address.
        disp: i64,
    },
}

/// One argument of a probe site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Its size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Whether it is signed (a negative size in the spec: `-4@`).
    pub signed: bool,
    /// Where it is.
    pub location: Location,
}

/// The `struct pt_regs` offset and shift of an x86-64 register named in a spec, in any of
/// its widths (`%rax`, `%eax`, `%ax`, `%al`, `%ah`, `%r8`, `%r8d`, `%r8w`, `%r8b`).
pub fn register(name: &str) -> Option<(i16, u8)> {
    const LEGACY: &[(&[&str], i16)] = &[
        (&["rax", "eax", "ax", "al"], 80),
        (&["rbx", "ebx", "bx", "bl"], 40),
        (&["rcx", "ecx", "cx", "cl"], 88),
        (&["rdx", "edx", "dx", "dl"], 96),
        (&["rsi", "esi", "si", "sil"], 104),
        (&["rdi", "edi", "di", "dil"], 112),
        (&["rbp", "ebp", "bp", "bpl"], 32),
        (&["rsp", "esp", "sp", "spl"], 152),
        (&["rip", "eip", "ip"], 128),
    ];
    if let Some((_, off)) = LEGACY.iter().find(|(names, _)| names.contains(&name)) {
        return Some((*off, 0));
    }
    let high = [("ah", 80), ("bh", 40), ("ch", 88), ("dh", 96)];
    if let Some((_, off)) = high.iter().find(|(n, _)| *n == name) {
        return Some((*off, 8));
    }
    // r8..r15, with a d/w/b (or l) suffix for the low 32/16/8 bits.
    let n = name.strip_prefix('r')?;
    let digits = n.trim_end_matches(['d', 'w', 'b', 'l']);
    if n.len() - digits.len() > 1 {
        return None;
    }
    let offset = match digits.parse::<u8>().ok()? {
        8 => 72,
        9 => 64,
        10 => 56,
        11 => 48,
        12 => 24,
        13 => 16,
        14 => 8,
        15 => 0,
        _ => return None,
    };
    Some((offset, 0))
}

/// The natural size of a register name (`%eax` is 4 bytes), for a spec without a size.
fn register_size(name: &str) -> u8 {
    if name.starts_with('e') || name.ends_with('d') {
        4
    } else if name.ends_with('l') || name.ends_with('h') || name.ends_with('b') {
        1
    } else if name.len() == 2 || name.ends_with('w') {
        2
    } else {
        8
    }
}

fn number(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse::<u64>().ok()?,
    } as i64;
    Some(if neg { v.wrapping_neg() } else { v })
}

fn reg_of(s: &str, whole: &str) -> Result<(i16, u8), String> {
    let name = s
        .strip_prefix('%')
        .ok_or_else(|| format!("bad argument spec `{whole}`: `{s}` is not a %register"))?;
    register(name)
        .ok_or_else(|| format!("bad argument spec `{whole}`: unknown x86-64 register `%{name}`"))
}

/// Parses one argument spec (`-4@%eax`, `8@-16(%rbp)`, `4@$5`, `-4@sym(%rip)`,
/// `8@(%r15,%rdi,8)`).
pub fn parse_arg(spec: &str) -> Result<Arg, String> {
    let bad = |why: &str| format!("bad argument spec `{spec}`: {why}");
    let (size, operand) = match spec.split_once('@') {
        Some((s, o)) => {
            let n: i64 = s.parse().map_err(|_| bad("the size is not a number"))?;
            (Some(n), o)
        }
        None => (None, spec),
    };
    if operand.is_empty() {
        return Err(bad("no operand after the size"));
    }
    let location = if let Some(c) = operand.strip_prefix('$') {
        Location::Const(number(c).ok_or_else(|| bad("the constant is not a number"))?)
    } else if operand.starts_with('%') {
        let (offset, shift) = reg_of(operand, spec)?;
        Location::Reg { offset, shift }
    } else if let Some(open) = operand.find('(') {
        let inner = operand[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| bad("no `)` at the end of the memory operand"))?;
        let disp_text = &operand[..open];
        let regs: Vec<&str> = inner.split(',').map(str::trim).collect();
        if regs.first() == Some(&"%rip") && regs.len() == 1 {
            // `sym(%rip)`, `sym+8(%rip)`, `sym-8(%rip)`.
            let at = disp_text
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == '+' || *c == '-')
                .map(|(i, _)| i);
            let (name, disp) = match at {
                Some(i) => (
                    &disp_text[..i],
                    number(&disp_text[i..]).ok_or_else(|| bad("bad offset after the symbol"))?,
                ),
                None => (disp_text, 0),
            };
            if name.is_empty() || number(name).is_some() {
                return Err(bad("a %rip-relative operand without a symbol"));
            }
            Location::Symbol {
                name: name.to_string(),
                disp,
            }
        } else {
            let disp = if disp_text.is_empty() {
                0
            } else {
                number(disp_text).ok_or_else(|| bad("the displacement is not a number"))?
            };
            let base = match regs.first() {
                Some(r) if !r.is_empty() => reg_of(r, spec)?.0,
                _ => return Err(bad("a memory operand without a base register")),
            };
            let index = match regs.as_slice() {
                [_] => None,
                [_, i] => Some((reg_of(i, spec)?.0, 1)),
                [_, i, s] => {
                    let scale = match *s {
                        "1" => 1,
                        "2" => 2,
                        "4" => 4,
                        "8" => 8,
                        _ => return Err(bad("the scale is not 1, 2, 4 or 8")),
                    };
                    Some((reg_of(i, spec)?.0, scale))
                }
                _ => return Err(bad("too many registers in the memory operand")),
            };
            Location::Mem { base, index, disp }
        }
    } else {
        return Err(bad("not a register, constant or memory operand"));
    };
    let size = match size {
        Some(n) => n,
        None => match operand.strip_prefix('%') {
            Some(r) => i64::from(register_size(r)),
            None => 8,
        },
    };
    let (signed, bytes) = (size < 0, size.unsigned_abs());
    if !matches!(bytes, 1 | 2 | 4 | 8) {
        return Err(bad("the size is not 1, 2, 4 or 8 bytes"));
    }
    Ok(Arg {
        size: bytes as u8,
        signed,
        location,
    })
}

/// Parses a note's whole argument string (specs separated by spaces).
pub fn parse_args(text: &str) -> Result<Vec<Arg>, String> {
    text.split_whitespace().map(parse_arg).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(offset: i16, shift: u8) -> Location {
        Location::Reg { offset, shift }
    }

    #[test]
    fn registers_of_every_width() {
        for (name, off) in [
            ("rax", 80),
            ("eax", 80),
            ("ax", 80),
            ("al", 80),
            ("rdi", 112),
            ("dil", 112),
            ("sil", 104),
            ("bpl", 32),
            ("r8", 72),
            ("r8d", 72),
            ("r9w", 64),
            ("r10b", 56),
            ("r15", 0),
            ("r12d", 24),
            ("rsp", 152),
            ("rip", 128),
        ] {
            assert_eq!(register(name), Some((off, 0)), "{name}");
        }
        assert_eq!(register("ah"), Some((80, 8)));
        assert_eq!(register("dh"), Some((96, 8)));
        assert_eq!(register("r16"), None);
        assert_eq!(register("r8dw"), None);
        assert_eq!(register("xmm0"), None);
    }

    #[test]
    fn sizes_signs_and_operands() {
        assert_eq!(
            parse_arg("-4@%eax"),
            Ok(Arg {
                size: 4,
                signed: true,
                location: reg(80, 0)
            })
        );
        assert_eq!(
            parse_arg("1@%r8b"),
            Ok(Arg {
                size: 1,
                signed: false,
                location: reg(72, 0)
            })
        );
        assert_eq!(
            parse_arg("8@-16(%rbp)"),
            Ok(Arg {
                size: 8,
                signed: false,
                location: Location::Mem {
                    base: 32,
                    index: None,
                    disp: -16
                }
            })
        );
        assert_eq!(
            parse_arg("-4@$-7").map(|a| a.location),
            Ok(Location::Const(-7))
        );
        assert_eq!(
            parse_arg("8@$0x10").map(|a| a.location),
            Ok(Location::Const(16))
        );
        assert_eq!(
            parse_arg("-4@kscope_global(%rip)").map(|a| a.location),
            Ok(Location::Symbol {
                name: "kscope_global".into(),
                disp: 0
            })
        );
        assert_eq!(
            parse_arg("4@tab+8(%rip)").map(|a| a.location),
            Ok(Location::Symbol {
                name: "tab".into(),
                disp: 8
            })
        );
        assert_eq!(
            parse_arg("8@(%r15,%rdi,8)").map(|a| a.location),
            Ok(Location::Mem {
                base: 0,
                index: Some((112, 8)),
                disp: 0
            })
        );
        assert_eq!(
            parse_arg("2@4(%rsp,%rcx)").map(|a| a.location),
            Ok(Location::Mem {
                base: 152,
                index: Some((88, 1)),
                disp: 4
            })
        );
        // No size: the register's own width, unsigned.
        assert_eq!(
            parse_arg("%esi").map(|a| (a.size, a.signed)),
            Ok((4, false))
        );
        assert_eq!(
            parse_args("-1@-13(%rbp) 1@-14(%rbp) -2@%r9w 8@%r11").map(|v| v.len()),
            Ok(4)
        );
        assert_eq!(parse_args(""), Ok(vec![]));
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("3@%eax", "the size is not 1, 2, 4 or 8 bytes"),
            ("x@%eax", "the size is not a number"),
            ("4@%xmm0", "unknown x86-64 register `%xmm0`"),
            ("4@$abc", "the constant is not a number"),
            ("4@8(%rbp", "no `)`"),
            ("4@8(%rax,%rbx,3)", "the scale is not 1, 2, 4 or 8"),
            ("4@", "no operand"),
            ("4@-8(%rip)", "without a symbol"),
        ] {
            let e = parse_arg(spec).expect_err(spec);
            assert!(e.contains(why), "{spec}: {e}");
            assert!(e.starts_with(&format!("bad argument spec `{spec}`")), "{e}");
        }
    }
}
