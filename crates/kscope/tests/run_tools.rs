//! The bpftrace tools Debian's bpftrace 0.17 package installs (`/usr/sbin/*.bt`) compile
//! with `kscope run --dry-run`: parsed, checked against this kernel's probes and BTF, and
//! lowered to BPF. The tools left out need what this kernel or kscope lacks: dcsnoop.bt
//! a kprobe on a `.constprop` clone, loads.bt data symbols in kallsyms, runqlen.bt the
//! `cfs_rq.nr_running` that Linux 6.13 renamed, tcpconnect.bt and tcpdrop.bt variables
//! assigned inside `if` blocks and read after them (upstream scopes variables to blocks).

mod runkit;

use std::path::Path;

use kscope_testkit::{Feature, require};
use runkit::{kscope, text};

/// The tools that compile on the kernels kscope is tested on.
const TOOLS: &[&str] = &[
    "bashreadline",
    "biolatency",
    "biosnoop",
    "biostacks",
    "bitesize",
    "capable",
    "cpuwalk",
    "execsnoop",
    "gethostlatency",
    "killsnoop",
    "mdflush",
    "naptime",
    "oomkill",
    "opensnoop",
    "pidpersec",
    "runqlat",
    "setuids",
    "ssllatency",
    "sslsnoop",
    "statsnoop",
    "swapin",
    "syncsnoop",
    "syscount",
    "tcpaccept",
    "tcplife",
    "tcpretrans",
    "tcpsynbl",
    "threadsnoop",
    "undump",
    "vfscount",
    "vfsstat",
    "writeback",
    "xfsdist",
];

#[test]
fn debian_bpftrace_tools_compile() {
    let Some(_kernel) = require(Feature::BpfTracepoint) else {
        return;
    };
    let dir = Path::new("/usr/sbin");
    if !dir.join("opensnoop.bt").exists() {
        eprintln!("bpftrace's tools are not installed (/usr/sbin/*.bt): test skipped");
        return;
    }
    let mut failed = Vec::new();
    for tool in TOOLS {
        let path = dir.join(format!("{tool}.bt"));
        let out = kscope(&["--dry-run", path.to_str().unwrap()]);
        if !out.status.success() {
            let err = text(&out.stderr);
            let first = err.lines().find(|l| l.contains("error")).unwrap_or("");
            failed.push(format!("{tool}: {first}"));
        }
    }
    assert!(
        failed.is_empty(),
        "tools that no longer compile:\n{}",
        failed.join("\n")
    );
}
