//! The binary's command line: help and version go to stdout with status 0,
//! usage errors to stderr with clap's status 2 (not through the log).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_byok-server"))
        .args(args)
        .env_remove("BYOK_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn help_and_version_print_to_stdout_and_succeed() {
    let v = run(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8(v.stdout).unwrap().trim(),
        format!("byok-server {}", env!("CARGO_PKG_VERSION"))
    );
    let h = run(&["--help"]);
    assert!(h.status.success());
    let help = String::from_utf8(h.stdout).unwrap();
    assert!(help.starts_with("The byok gateway"), "{help}");
    assert!(help.contains("BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS"));
    assert!(h.stderr.is_empty());
}

#[test]
fn usage_errors_exit_2_on_stderr() {
    let e = run(&["--no-such-flag"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(e.stdout.is_empty());
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("unexpected argument '--no-such-flag'")
    );
    let e = run(&["--upstream-idle-timeout-secs", "0"]);
    assert_eq!(
        e.status.code(),
        Some(2),
        "out-of-range values are usage errors"
    );
}
