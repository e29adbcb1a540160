//! Mapping a verifier rejection back to the script: the log names the instruction it
//! stopped at, and [`Compiled::spans`] names the script text of every instruction.

use kscope_bpf::{ProgType, Program, ProgramSpec};

use crate::CodegenError;
use crate::emit::Compiled;
use crate::ir::{MapId, Span};

/// Where and why the verifier refused a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The instruction index the verifier stopped at.
    pub insn: usize,
    /// The script span that instruction was generated for.
    pub span: Span,
    /// The verifier's complaint (its last message line).
    pub message: String,
}

/// The instruction a verifier log stopped at, and its complaint.
///
/// The level-1 log prints each instruction it checks as `N: (code) text`, then, on a
/// rejection, the reason; the last such line is the culprit. Structural errors found
/// before that name the instruction in the text (`unreachable insn 7`, `jump out of range
/// from insn 2 to 9`, `back-edge from insn 5 to 3`).
pub fn parse_log(log: &str) -> Option<(usize, String)> {
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    let noise = |l: &str| {
        l.is_empty()
            || l.starts_with("processed ")
            || l.starts_with("verification time")
            || l.starts_with("stack depth")
            || l.starts_with("mark_precise")
            || l.starts_with("Validating ")
    };
    let insn_line = |l: &str| -> Option<usize> {
        let (n, rest) = l.split_once(": (")?;
        rest.get(2..3).filter(|c| *c == ")")?;
        n.parse().ok()
    };
    let message = |from: usize| {
        lines[from..]
            .iter()
            .rev()
            .find(|l| !noise(l) && insn_line(l).is_none())
            .map(|l| l.to_string())
    };
    if let Some(k) = lines.iter().rposition(|l| insn_line(l).is_some()) {
        let n = insn_line(lines[k])?;
        return Some((n, message(k + 1).unwrap_or_else(|| lines[k].to_string())));
    }
    // The statistics line says `max_states_per_insn 0`: only complaint lines count.
    for l in lines.iter().rev().filter(|l| !noise(l)) {
        if let Some(pos) = l.find("insn ") {
            let digits: String = l[pos + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some((n, l.to_string()));
            }
        }
    }
    None
}

impl Compiled {
    /// The script span of instruction `insn`.
    pub fn span_at(&self, insn: usize) -> Option<Span> {
        self.spans.get(insn).copied()
    }

    /// The verifier-style disassembly of the program (BPF-to-BPF calls print as the
    /// kernel prints them, `call pc+N`; a callback's address as `func pc+N`).
    pub fn disassemble(&self) -> String {
        kscope_bpf::insn::disassemble(&self.insns)
    }

    /// Maps a verifier log to the instruction and script span it complains about.
    pub fn rejection(&self, log: &str) -> Option<Rejection> {
        let (insn, message) = parse_log(log)?;
        Some(Rejection {
            insn,
            span: self.span_at(insn)?,
            message,
        })
    }

    /// Loads the program as `prog_type` named `name`; a rejection is reported at the
    /// script span of the instruction the verifier stopped at.
    pub fn load(&self, prog_type: ProgType, name: &str) -> Result<Program, CodegenError> {
        self.load_spec(&self.spec(prog_type, name))
    }

    /// A load spec for these instructions (licence GPL), to adjust (attach type, BTF id)
    /// before [`Compiled::load_spec`].
    pub fn spec(&self, prog_type: ProgType, name: &str) -> ProgramSpec {
        let mut spec = ProgramSpec::new(prog_type, self.insns.clone()).with_name(name);
        if self.func_starts.len() > 1 {
            spec.func_btf = Some(crate::btf::func_btf(&self.func_starts, &self.func_params));
        }
        spec
    }

    /// Loads `spec` (whose instructions must be these), mapping a rejection to its span.
    pub fn load_spec(&self, spec: &ProgramSpec) -> Result<Program, CodegenError> {
        Program::load(spec).map_err(|source| CodegenError::Load {
            rejection: self.rejection(&source.log),
            source,
        })
    }

    /// Puts map fds into the `ld_imm64` instructions listed in [`Compiled::map_relocs`]
    /// (for a program compiled with placeholder fds before its maps existed).
    pub fn patch_maps(&mut self, fds: &dyn Fn(MapId) -> Option<i32>) -> Result<(), CodegenError> {
        for &(at, map) in &self.map_relocs {
            let fd = fds(map).ok_or(CodegenError::UnknownMap {
                map,
                span: self.spans[at],
            })?;
            self.insns[at].imm = fd;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_instruction_and_the_reason() {
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (b7) r0 = 0                         ; R0_w=0\n\
                   1: (61) r2 = *(u32 *)(r0 +0)\nR0 invalid mem access 'scalar'\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0";
        assert_eq!(
            parse_log(log),
            Some((1, "R0 invalid mem access 'scalar'".to_string()))
        );
        assert_eq!(
            parse_log("unreachable insn 7\nprocessed 0 insns"),
            Some((7, "unreachable insn 7".to_string()))
        );
        assert_eq!(
            parse_log(
                "unreachable insn 7\nprocessed 0 insns (limit 1000000) \
                 max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
            ),
            Some((7, "unreachable insn 7".to_string()))
        );
        assert_eq!(parse_log(""), None);
        assert_eq!(parse_log("0: R1=ctx() R10=fp0\n"), None);
    }
}
