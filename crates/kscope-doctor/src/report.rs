use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It works.
    Available,
    /// The kernel does not have it (a config option is unset, a file does not exist).
    Absent,
    /// The kernel has it but policy forbids it: lockdown, a sysctl, a missing capability.
    Blocked,
    /// The probe could not decide (for example an unexpected error); tests that need the
    /// feature must not treat this as the feature being absent.
    Unknown,
}

/// One check: a named feature, whether it is available, why (not), and the remedy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// Stable machine name, e.g. `kprobes`, `bpf_tracing`, `perf_hw`.
    pub name: Cow<'static, str>,
    /// True when the feature works.
    pub available: bool,
    /// Available, absent, blocked or unknown.
    pub state: State,
    /// What was observed: the config option, errno, lockdown mode, capability or value.
    pub reason: String,
    /// What a person can do about it; empty when nothing is needed.
    pub remedy: String,
}

impl Check {
    /// A check that passed, with what was seen.
    pub fn ok(name: &'static str, reason: impl Into<String>) -> Check {
        Check {
            name: Cow::Borrowed(name),
            available: true,
            state: State::Available,
            reason: reason.into(),
            remedy: String::new(),
        }
    }

    /// A check that did not pass.
    pub fn not(
        name: &'static str,
        state: State,
        reason: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        Check {
            name: Cow::Borrowed(name),
            available: false,
            state,
            reason: reason.into(),
            remedy: remedy.into(),
        }
    }
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    /// The checks, in a stable order.
    pub checks: Vec<Check>,
    /// What doctor did to the system while probing (e.g. "mounted tracefs on …").
    pub notes: Vec<String>,
    /// How long the probes took, in milliseconds.
    pub elapsed_ms: f64,
}

impl Report {
    /// The check with this name.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The report as JSON (`{"kernel": …, "checks": [{"name", "available", "reason",
    /// "remedy", "state"}], "notes": […], "elapsed_ms": …}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Reads a report that [`Report::to_json`] wrote (the guest-kernel lab probes once per
    /// boot and hands the saved report to every test process).
    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The report as an aligned text table, one check per line, the remedy indented below
    /// checks that are not available.
    pub fn to_table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(4);
        let mut out = format!("kernel {}\n\n", self.kernel);
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "{:width$}  {:9}  {}\n",
            "CHECK", "STATUS", "DETAIL"
        ));
        for c in &self.checks {
            let status = match c.state {
                State::Available => "yes",
                State::Absent => "absent",
                State::Blocked => "blocked",
                State::Unknown => "unknown",
            };
            out.push_str(&format!("{:width$}  {:9}  {}\n", c.name, status, c.reason));
            if !c.remedy.is_empty() {
                out.push_str(&format!("{:width$}  {:9}  ↳ {}\n", "", "", c.remedy));
            }
        }
        let ok = self.checks.iter().filter(|c| c.available).count();
        out.push_str(&format!(
            "\n{ok} of {} available ({:.0} ms)\n",
            self.checks.len(),
            self.elapsed_ms
        ));
        out
    }
}
