//! Loading programs with `BPF_PROG_LOAD`, and the verifier log on failure.

use std::ffi::CString;
use std::fmt::Write as _;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use kscope_sys::bpf::{self as sys, ProgLoadArgs};

use crate::insn::{Insn, Reg};
use crate::types::ProgType;
use crate::{kernel_object_name, object_id};

/// `ENOTSUPP` (524): a kernel-internal errno that leaks to user space when a kernel build
/// lacks a feature, e.g. BPF trampolines for fentry/fexit.
pub const ENOTSUPP: i32 = 524;

/// The largest verifier log kscope asks for (the kernel's limit is `UINT_MAX >> 2`).
const MAX_LOG_SIZE: usize = 256 << 20;
/// First log buffer size on kernels that do not report `log_true_size` (before 6.4).
const FIRST_LOG_SIZE: usize = 64 << 10;

/// Everything needed to load one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The program type.
    pub prog_type: ProgType,
    /// The instructions (an `ld_imm64` takes two).
    pub insns: Vec<Insn>,
    /// The licence; `"GPL"` (the default) is needed for GPL-only helpers such as
    /// `bpf_probe_read_kernel` or `bpf_perf_event_output`.
    pub license: String,
    /// The name shown by `bpftool prog`; sanitised with [`kernel_object_name`] on load.
    pub name: String,
    /// `expected_attach_type` (`enum bpf_attach_type`), 0 for types that need none. Tracing
    /// programs need e.g. `BPF_TRACE_FENTRY` ([`kscope_sys::bpf::attach_type::TRACE_FENTRY`]).
    pub expected_attach_type: u32,
    /// BTF type id of the attach target (a FUNC in vmlinux BTF for fentry), or 0.
    pub attach_btf_id: u32,
    /// The program's own BTF and `func_info`, for programs with subprograms used as
    /// helper callbacks (the verifier requires them there); `None` otherwise.
    pub func_btf: Option<FuncBtf>,
}

/// A program's own BTF blob with one `struct bpf_func_info` record per function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncBtf {
    /// The raw BTF (header, types, strings), loaded with `BPF_BTF_LOAD`.
    pub btf: Vec<u8>,
    /// `(instruction offset, FUNC type id)` of each function, in instruction order.
    pub funcs: Vec<(u32, u32)>,
}

impl ProgramSpec {
    /// A spec with licence `"GPL"`, name `kscope`, and no attach type or BTF id.
    pub fn new(prog_type: ProgType, insns: Vec<Insn>) -> ProgramSpec {
        ProgramSpec {
            prog_type,
            insns,
            license: "GPL".to_string(),
            name: "kscope".to_string(),
            expected_attach_type: 0,
            attach_btf_id: 0,
            func_btf: None,
        }
    }

    /// The same spec with another name.
    pub fn with_name(mut self, name: impl Into<String>) -> ProgramSpec {
        self.name = name.into();
        self
    }
}

/// The smallest valid program of `prog_type`: `r0 = 0; exit`, named `kscope_min`.
///
/// For [`ProgType::Tracing`] the spec has `expected_attach_type = BPF_TRACE_FENTRY` (24);
/// the caller must still set `attach_btf_id` to the BTF id of a FUNC (e.g. found with
/// `kscope_btf::Btf::find_by_name`), or the load fails with `EINVAL`.
pub fn minimal_program(prog_type: ProgType) -> ProgramSpec {
    let mut spec = ProgramSpec::new(prog_type, vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()])
        .with_name("kscope_min");
    if prog_type == ProgType::Tracing {
        spec.expected_attach_type = sys::attach_type::TRACE_FENTRY;
    }
    spec
}

/// A failed program load: the errno and the verifier log explaining it.
#[derive(Debug, thiserror::Error)]
#[error(
    "loading BPF {prog_type} program `{name}` ({insn_count} instructions) failed: {errno}; {}{}",
    hint(.prog_type, .expected_attach_type, .errno, .log),
    log_tail(.log, 12)
)]
pub struct LoadError {
    /// The program's type.
    pub prog_type: ProgType,
    /// The program's name (as given in the spec).
    pub name: String,
    /// Number of instructions in the program.
    pub insn_count: usize,
    /// The spec's `expected_attach_type`.
    pub expected_attach_type: u32,
    /// The errno of the first, log-less load: `EACCES` for a verifier rejection, `EINVAL`
    /// for attributes the kernel rejects, `EPERM` for missing privileges, [`ENOTSUPP`] for
    /// a program type or attach the kernel build cannot do.
    pub errno: io::Error,
    /// The whole verifier log (level 1) of a second load, without its NUL; empty when the
    /// kernel failed before the verifier ran.
    pub log: String,
    /// Whether the log is incomplete (its start was dropped; the end is kept).
    pub log_truncated: bool,
}

impl LoadError {
    /// The raw errno, e.g. `libc::EACCES`.
    pub fn raw_errno(&self) -> Option<i32> {
        self.errno.raw_os_error()
    }
}

/// A short "what to do" for an errno.
fn hint(prog_type: &ProgType, attach: &u32, errno: &io::Error, log: &str) -> &'static str {
    let fentry_like = *prog_type == ProgType::Tracing
        && matches!(
            *attach,
            sys::attach_type::TRACE_FENTRY
                | sys::attach_type::TRACE_FEXIT
                | sys::attach_type::MODIFY_RETURN
        );
    match errno.raw_os_error() {
        Some(libc::EPERM) if fentry_like && log.is_empty() => {
            "if this process is already privileged, the kernel refuses fentry/fexit programs \
             before verification (as on kscope's Firecracker VM): use a kprobe, tracepoint or \
             raw tracepoint instead"
        }
        Some(libc::EACCES) => {
            "the verifier rejected the program: the log below names the instruction and why"
        }
        Some(libc::EPERM) => {
            "run as root, or grant CAP_BPF and CAP_PERFMON (kernel.unprivileged_bpf_disabled \
             blocks unprivileged loads)"
        }
        Some(libc::EINVAL) if log.is_empty() => {
            "the kernel rejected the load attributes: check the program type, \
             expected_attach_type and attach_btf_id"
        }
        Some(libc::E2BIG) => "the program is too large: split it into subprograms or tail calls",
        Some(ENOTSUPP) => {
            "this kernel build cannot load this program type or attach target (fentry/fexit \
             need BPF trampolines): use a kprobe, tracepoint or raw tracepoint instead"
        }
        _ => "see the verifier log below",
    }
}

/// The last `lines` lines of the log, prefixed by a header, or a note that it is empty.
fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    if all.is_empty() {
        return "\n(the verifier log is empty)".to_string();
    }
    let start = all.len().saturating_sub(lines);
    let mut out = String::new();
    if start > 0 {
        let _ = write!(
            out,
            "\nverifier log (last {} of {} lines):",
            all.len() - start,
            all.len()
        );
    } else {
        out.push_str("\nverifier log:");
    }
    for line in &all[start..] {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// A loaded program. Dropping it closes its fd; the kernel frees the program when no fd,
/// link or pin refers to it any more.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    prog_type: ProgType,
    name: String,
}

impl Program {
    /// Loads `spec` with `BPF_PROG_LOAD`.
    ///
    /// The first attempt asks for no verifier log. If it fails, the program is loaded again
    /// with `log_level = 1`: first with no buffer, so that Linux ≥ 6.4 reports the log's
    /// exact size (`log_true_size`), then with a buffer of that size. Older kernels report
    /// 0; then the buffer starts at 64 KiB and grows 4× while the kernel says `ENOSPC`.
    pub fn load(spec: &ProgramSpec) -> Result<Program, LoadError> {
        let name = kernel_object_name(&spec.name);
        let fail = |errno: io::Error, log: String, log_truncated: bool| LoadError {
            prog_type: spec.prog_type,
            name: spec.name.clone(),
            insn_count: spec.insns.len(),
            expected_attach_type: spec.expected_attach_type,
            errno,
            log,
            log_truncated,
        };
        let license = CString::new(spec.license.as_str()).map_err(|_| {
            fail(
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the licence string contains a NUL byte; remove it",
                ),
                String::new(),
                false,
            )
        })?;
        let insns: Vec<u64> = spec.insns.iter().map(|i| i.to_u64()).collect();
        let btf_fd = match &spec.func_btf {
            Some(f) => Some(sys::btf_load(&f.btf).map_err(|e| fail(e, String::new(), false))?),
            None => None,
        };
        let records: Vec<u8> = spec
            .func_btf
            .iter()
            .flat_map(|f| f.funcs.iter())
            .flat_map(|&(off, id)| off.to_ne_bytes().into_iter().chain(id.to_ne_bytes()))
            .collect();
        let func_info = btf_fd.as_ref().map(|fd| (fd.as_fd(), records.as_slice()));
        let try_load = |log_level: u32, log_buf: Option<&mut [u8]>| {
            sys::prog_load(ProgLoadArgs {
                prog_type: spec.prog_type.kernel_id(),
                insns: &insns,
                license: &license,
                expected_attach_type: spec.expected_attach_type,
                attach_btf_id: spec.attach_btf_id,
                name: &name,
                log_level,
                log_buf,
                func_info,
            })
        };
        let loaded = |fd: OwnedFd| Program {
            fd,
            prog_type: spec.prog_type,
            name: spec.name.clone(),
        };

        let first = match try_load(0, None) {
            Ok(fd) => return Ok(loaded(fd)),
            Err(e) => e.errno,
        };

        // Ask only for the log's size (Linux >= 6.4 accepts a log level without a buffer).
        let mut size = match try_load(sys::log_level::LEVEL1, None) {
            Ok(fd) => return Ok(loaded(fd)),
            Err(e) => e.log_true_size as usize,
        };
        if size == 0 {
            size = FIRST_LOG_SIZE;
        }
        loop {
            let mut buf = vec![0u8; size.min(MAX_LOG_SIZE)];
            match try_load(sys::log_level::LEVEL1, Some(&mut buf)) {
                Ok(fd) => return Ok(loaded(fd)),
                Err(e) => {
                    let truncated = e.errno.raw_os_error() == Some(libc::ENOSPC);
                    if truncated && buf.len() < MAX_LOG_SIZE {
                        size = (e.log_true_size as usize).max(buf.len() * 4);
                        continue;
                    }
                    return Err(fail(first, log_text(&buf), truncated));
                }
            }
        }
    }

    /// The program's fd, e.g. for `PERF_EVENT_IOC_SET_BPF` or `BPF_LINK_CREATE`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The program's type.
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// The name from the spec (the kernel holds a sanitised, 15-byte version).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel's id of this program (as in `bpftool prog show id N`), read with
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn id(&self) -> io::Result<u32> {
        object_id(self.fd())
    }

    /// Gives up ownership of the fd (the program stays loaded while the fd is open).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The kernel's `bpf_prog_info` for this program (`BPF_OBJ_GET_INFO_BY_FD`).
    pub fn info(&self) -> io::Result<ProgramInfo> {
        ProgramInfo::read(self.fd())
    }
}

/// The parts of `struct bpf_prog_info` kscope uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// The program type number.
    pub prog_type: u32,
    /// The kernel id.
    pub id: u32,
    /// The kernel's (sanitised, 15-byte) name.
    pub name: String,
    /// Size of the JIT-compiled code in bytes (0 without the JIT).
    pub jited_len: u32,
    /// Size of the verified, rewritten instructions in bytes.
    pub xlated_len: u32,
    /// Total run time in nanoseconds while statistics are enabled (see
    /// [`crate::enable_stats`]; Linux 5.1).
    pub run_time_ns: u64,
    /// Number of runs while statistics are enabled (Linux 5.1).
    pub run_cnt: u64,
    /// Runs skipped because the program was already running on that CPU (Linux 5.12).
    pub recursion_misses: u64,
    /// Instructions the verifier processed (Linux 5.16).
    pub verified_insns: u32,
}

impl ProgramInfo {
    /// Reads the info of the program behind `fd`.
    pub fn read(fd: BorrowedFd<'_>) -> io::Result<ProgramInfo> {
        // Zeroed: the kernel reads the pointer fields and copies no arrays for 0.
        let mut raw = [0u8; 232];
        let len = sys::obj_get_info_by_fd(fd, &mut raw)?;
        let u32_at = |o: usize| {
            if o + 4 <= len {
                u32::from_ne_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]])
            } else {
                0
            }
        };
        let u64_at = |o: usize| {
            if o + 8 <= len {
                u64::from_ne_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]))
            } else {
                0
            }
        };
        let name_bytes = &raw[64..80];
        let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(ProgramInfo {
            prog_type: u32_at(0),
            id: u32_at(4),
            name: String::from_utf8_lossy(&name_bytes[..end.min(len.saturating_sub(64))])
                .into_owned(),
            jited_len: u32_at(16),
            xlated_len: u32_at(20),
            run_time_ns: u64_at(192),
            run_cnt: u64_at(200),
            recursion_misses: u64_at(208),
            verified_insns: u32_at(216),
        })
    }
}

/// The log text up to the kernel's NUL, lossily decoded.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_programs() {
        for t in ProgType::ALL {
            let spec = minimal_program(t);
            assert_eq!(spec.insns.len(), 2);
            assert_eq!(spec.license, "GPL");
            assert_eq!(
                spec.expected_attach_type,
                if t == ProgType::Tracing { 24 } else { 0 }
            );
        }
    }

    #[test]
    fn error_message_names_program_errno_and_log_tail() {
        let log: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let e = LoadError {
            prog_type: ProgType::Kprobe,
            name: "p".into(),
            insn_count: 2,
            expected_attach_type: 0,
            errno: io::Error::from_raw_os_error(libc::EACCES),
            log,
            log_truncated: false,
        };
        let text = e.to_string();
        assert!(text.starts_with("loading BPF kprobe program `p` (2 instructions) failed: "));
        assert!(text.contains("verifier rejected"));
        assert!(text.contains("last 12 of 20 lines"));
        assert!(text.ends_with("  line 19"));
        assert!(!text.contains("line 7\n"));
        assert_eq!(e.raw_errno(), Some(libc::EACCES));
    }

    #[test]
    fn empty_log_and_other_errnos() {
        let e = LoadError {
            prog_type: ProgType::Tracing,
            name: "t".into(),
            insn_count: 2,
            expected_attach_type: 0,
            errno: io::Error::from_raw_os_error(ENOTSUPP),
            log: String::new(),
            log_truncated: false,
        };
        let text = e.to_string();
        assert!(text.contains("BPF trampolines"), "{text}");
        assert!(text.ends_with("(the verifier log is empty)"));
        assert_eq!(log_text(b"abc\n\0zzz"), "abc");
        let e = LoadError {
            expected_attach_type: sys::attach_type::TRACE_FENTRY,
            errno: io::Error::from_raw_os_error(libc::EPERM),
            ..e
        };
        assert!(e.to_string().contains("refuses fentry/fexit"), "{e}");
        assert_eq!(log_text(b"abc"), "abc");
    }
}
