//! The command line itself: help, version, completions, and commands not built yet.

use std::process::Command;

fn kscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kscope"))
        .args(args)
        .output()
        .expect("running kscope")
}

#[test]
fn version_prints_the_crate_version() {
    let out = kscope(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("kscope {}", env!("CARGO_PKG_VERSION"))
    );
}

const ALL_COMMANDS: [&str; 19] = [
    "doctor",
    "reset",
    "completions",
    "run",
    "list",
    "record",
    "report",
    "stream",
    "probe",
    "stat",
    "profile",
    "top",
    "dmesg",
    "sysctl",
    "proc",
    "sys",
    "watch",
    "spy",
    "inspect",
];

#[test]
fn help_lists_every_command_of_the_product() {
    let out = kscope(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ALL_COMMANDS {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "`kscope --help` does not list {cmd}:\n{help}"
        );
    }
}

#[test]
fn commands_not_built_yet_say_so_in_one_line_and_exit_2() {
    let built = [
        "doctor",
        "reset",
        "completions",
        "list",
        "record",
        "report",
        "probe",
        "stream",
        "run",
    ];
    for cmd in ALL_COMMANDS.iter().filter(|c| !built.contains(c)) {
        let out = kscope(&[cmd, "-e", "some args", "--flag"]);
        assert_eq!(out.status.code(), Some(2), "kscope {cmd}");
        assert!(out.stdout.is_empty(), "kscope {cmd} printed to stdout");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("kscope {cmd}: not built yet\n")
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_kscope()"),
        ("zsh", "#compdef kscope"),
        ("fish", "complete -c kscope"),
    ] {
        let out = kscope(&["completions", shell]);
        assert!(out.status.success(), "completions {shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell} completion lacks {marker:?}");
        assert!(text.contains("doctor") && text.contains("reset"));
    }
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = kscope(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
}
