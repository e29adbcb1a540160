//! `--test` and `--bench`: `test:NAME` probes run once each, in order, and pass when
//! they return 0 with no `errorf()` and no non-zero `exit(code)` (a failing test's
//! output is shown, a passing one's is not); `bench:NAME` probes run until they have
//! used at least 1 ms of BPF time and print their average run time. The text is
//! upstream's (src/output/text.cpp), colours included.
//!
//! Both are raw tracepoint programs run with `BPF_PROG_TEST_RUN`, like `BEGIN`, so
//! every builtin works in them (upstream loads them as XDP programs, which lack the
//! tracing helpers). A raw tracepoint cannot be test-run with `repeat`, so the run time
//! is the kernel's own accounting (`kernel.bpf_stats`: `run_time_ns` / `run_cnt` of the
//! program), which leaves out the cost of the syscall around each run.

use kscope_bpf::Program;
use kscope_bpf::attach::test_run;
use kscope_bpf::ringbuf::RingBuf;
use kscope_lang::output::{Format, Output};

use super::{RunError, State, failed};

/// A `test:NAME` or `bench:NAME` probe, loaded.
pub(super) struct Check {
    /// `NAME`.
    pub name: String,
    /// The program.
    pub prog: Program,
}

/// BPF run time and runs of `prog` so far (counted while stats are enabled).
fn stats(prog: &Program) -> Result<(u64, u64), RunError> {
    let info = prog
        .info()
        .map_err(|e| failed(format!("reading the run time of a probe: {e}")))?;
    Ok((info.run_time_ns, info.run_cnt))
}

/// Runs `prog` once with everything it writes consumed into `output`; returns its
/// return value.
fn run_one(
    prog: &Program,
    ring: &mut RingBuf,
    state: &mut State<'_>,
    output: &mut Output<'_>,
) -> Result<u64, RunError> {
    let r = test_run::run_once(prog, &[]).map_err(failed)?;
    ring.consume(|rec| state.record(rec, output));
    Ok(u64::from(r.retval))
}

/// A duration as upstream's `duration_str` scales it: `ns`, `us`, `ms` or `s`.
fn duration_text(ns: u64) -> String {
    let (unit, scale) = match ns {
        1_000_000_000.. => ("s", 1_000_000_000),
        1_000_000.. => ("ms", 1_000_000),
        1_000.. => ("us", 1_000),
        _ => ("ns", 1),
    };
    format!("{} {unit}", ns / scale)
}

fn tests_word(n: usize) -> &'static str {
    if n == 1 { "test" } else { "tests" }
}

/// Runs every test in order; returns whether all passed.
pub(super) fn run_tests(
    tests: &[Check],
    ring: &mut RingBuf,
    state: &mut State<'_>,
    output: &mut Output<'_>,
) -> Result<bool, RunError> {
    const GREEN: &str = "\x1b[32m";
    const RED: &str = "\x1b[31m";
    const RESET: &str = "\x1b[0m";
    let mut text = format!(
        "{GREEN}[==========]{RESET} Running {} tests.\n",
        tests.len()
    );
    let mut failed_names = Vec::new();
    for t in tests {
        text.push_str(&format!("{GREEN}[ RUN      ]{RESET} {}\n", t.name));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        state.reset_outcome();
        let (t0, _) = stats(&t.prog)?;
        let retval = {
            let mut capture = Output::new(Format::Text, &mut out, &mut err);
            run_one(&t.prog, ring, state, &mut capture)?
        };
        let (t1, _) = stats(&t.prog)?;
        let passed = retval == 0 && state.code == 0 && state.errors == 0;
        let took = duration_text(t1.saturating_sub(t0));
        if passed {
            text.push_str(&format!("{GREEN}[       OK ]{RESET} {} ({took})\n", t.name));
        } else {
            out.extend_from_slice(&err);
            for line in String::from_utf8_lossy(&out).lines() {
                if !line.is_empty() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            text.push_str(&format!("{RED}[  FAILED  ]{RESET} {} ({took})\n", t.name));
            failed_names.push(t.name.as_str());
        }
    }
    state.reset_outcome();
    let passed = tests.len() - failed_names.len();
    text.push_str(&format!(
        "{GREEN}[==========]{RESET} {} {} ran.\n",
        tests.len(),
        tests_word(tests.len())
    ));
    text.push_str(&format!(
        "{GREEN}[  PASSED  ]{RESET} {passed} {}.\n",
        tests_word(passed)
    ));
    if !failed_names.is_empty() {
        text.push_str(&format!(
            "{RED}[  FAILED  ]{RESET} {} {}, listed below:\n",
            failed_names.len(),
            tests_word(failed_names.len())
        ));
        for n in &failed_names {
            text.push_str(&format!("{RED}[  FAILED  ]{RESET} {n}\n"));
        }
    }
    output.printf(&text).map_err(failed)?;
    Ok(failed_names.is_empty())
}

/// Runs every benchmark until it has used at least 1 ms of BPF time (a benchmark that
/// returns non-zero is skipped); returns whether none failed.
pub(super) fn run_benches(
    benches: &[Check],
    ring: &mut RingBuf,
    state: &mut State<'_>,
    output: &mut Output<'_>,
) -> Result<bool, RunError> {
    let name_width = benches
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0)
        .max(40)
        + 1;
    let mut ok = true;
    let mut header = false;
    for b in benches {
        let mut iters: u64 = 1;
        loop {
            state.reset_outcome();
            let (t0, n0) = stats(&b.prog)?;
            let mut retval = 0;
            {
                let mut discard = Output::new(Format::Text, std::io::sink(), std::io::sink());
                for _ in 0..iters {
                    retval = run_one(&b.prog, ring, state, &mut discard)?;
                    if retval != 0 {
                        break;
                    }
                }
            }
            if state.code == 0 && retval != 0 {
                break;
            }
            let (t1, n1) = stats(&b.prog)?;
            let average = t1.saturating_sub(t0) / n1.saturating_sub(n0).max(1);
            let total = average * iters;
            let grow = match total {
                0..1_000 => 1000,
                1_000..10_000 => 100,
                10_000..100_000 => 10,
                100_000..1_000_000 => 2,
                _ => 1,
            };
            if grow > 1 && state.code == 0 && state.errors == 0 {
                iters *= grow;
                continue;
            }
            if state.code != 0 || state.errors != 0 {
                output
                    .runtime_error(&format!("Benchmark '{}' failed.", b.name))
                    .map_err(failed)?;
                ok = false;
                break;
            }
            let mut text = String::new();
            if !header {
                header = true;
                text.push_str(&format!(
                    "{:<name_width$}{:<15}Iterations\n{}\n",
                    "Benchmark",
                    "Time(ns)",
                    "-".repeat(name_width + 15 + "Iterations".len())
                ));
            }
            text.push_str(&format!("{:<name_width$}{average:<15}{iters}\n", b.name));
            output.printf(&text).map_err(failed)?;
            break;
        }
    }
    state.reset_outcome();
    Ok(ok)
}
