//! A figure that cannot be measured fails the bench run, naming the figure and why.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microdeck-bench")).args(args).output().expect("run microdeck-bench")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unknown_figure_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--quick", "--bin-dir", dir.path().to_str().unwrap(), "--only", "NOPE"]);
    assert!(!out.status.success(), "exit {}: {}", out.status, stderr(&out));
    assert!(stderr(&out).contains("--only NOPE: no such figure"), "{}", stderr(&out));
}

#[test]
fn p1_without_the_sample_programs_fails_the_run() {
    // An empty binaries folder: no sample program, no microdeck.
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--quick", "--bin-dir", dir.path().to_str().unwrap(), "--only", "P1"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "exit {}: {err}", out.status);
    assert!(err.contains("P1 could not be measured") && err.contains("mdk-gateway"), "{err}");
    assert!(err.contains("FAILED: could not measure P1"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("| P1 | could not be measured |"), "the table shows the failure");
}

#[test]
fn p9_without_microdeck_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--quick", "--bin-dir", dir.path().to_str().unwrap(), "--only", "P9"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "exit {}: {err}", out.status);
    assert!(err.contains("P9 could not be measured") && err.contains("cannot run"), "{err}");
}
