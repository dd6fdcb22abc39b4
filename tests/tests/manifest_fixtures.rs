//! `microdeck check` against the fixture manifests, run as a user would run it.
//!
//! Each `tests/fixtures/bad/NAME` has a `NAME.expect`: one line per error it must
//! give, `LINE:COL KEY | fragment of the message or hint` (`-` for no key). The real
//! binary must exit 1 and print exactly those errors, each as `NAME:LINE:COL: KEY: …`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use microdeck_tests::bins::{bin, fixture};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `microdeck check ARGS…` in `dir`, killed if it outlives a generous deadline.
fn check(dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(bin("microdeck"));
    command.arg("check").args(args);
    finish(command, dir)
}

/// Runs `microdeck ARGS…` in `dir` with its address space capped at 2 GB: a reader with no
/// limit fails here in seconds instead of taking the machine's memory.
fn capped(dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -v 2000000 && exec \"$0\" \"$@\""]).arg(bin("microdeck")).args(args);
    finish(command, dir)
}

fn finish(mut command: Command, dir: &Path) -> Run {
    let mut child = command.current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn microdeck");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("{command:?} ran past 30s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Expected {
    line: usize,
    column: usize,
    key: Option<String>,
    fragment: String,
}

fn parse_expect(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (head, fragment) = l.split_once(" | ").unwrap_or_else(|| panic!("{}: `{l}` lacks ` | `", path.display()));
            let (pos, key) = head.split_once(' ').unwrap_or_else(|| panic!("{}: `{l}` lacks a key", path.display()));
            let (line, column) = pos.split_once(':').expect("LINE:COL");
            Expected {
                line: line.parse().expect("line number"),
                column: column.parse().expect("column number"),
                key: (key != "-").then(|| key.to_string()),
                fragment: fragment.to_string(),
            }
        })
        .collect()
}

fn bad_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("bad"))
        .expect("tests/fixtures/bad")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "expect"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_fixture_gets_its_errors_with_file_line_and_key() {
    let files = bad_fixtures();
    assert!(files.len() >= 25, "only {} bad fixtures", files.len());
    let procfiles = files.iter().filter(|p| p.to_string_lossy().ends_with(".procfile")).count();
    assert!(procfiles >= 5, "only {procfiles} bad Procfiles");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let expected = parse_expect(&path.with_file_name(format!("{name}.expect")));
        let run = check(&fixture("bad"), &[&name]);
        let lines: Vec<&str> = run.stdout.lines().collect();
        let mut problems = Vec::new();
        if run.code != 1 {
            problems.push(format!("exit code {} (want 1)", run.code));
        }
        if lines.len() != expected.len() {
            problems.push(format!("{} errors printed, {} expected", lines.len(), expected.len()));
        }
        for e in &expected {
            let prefix = match &e.key {
                Some(k) => format!("{name}:{}:{}: {k}: ", e.line, e.column),
                None => format!("{name}:{}:{}: ", e.line, e.column),
            };
            if !lines.iter().any(|l| l.starts_with(&prefix) && l.contains(&e.fragment)) {
                problems.push(format!("no line `{prefix}…{}…`", e.fragment));
            }
        }
        if !run.stderr.contains(&format!("{name}: {} error", lines.len())) {
            problems.push(format!("stderr lacks the error count: {:?}", run.stderr));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}:\n    {}\n  output:\n{}", problems.join("\n    "), run.stdout));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn good_fixtures_are_ok_with_one_line_per_service() {
    let dir = fixture("good");
    for (name, services) in [
        ("full.toml", &["gateway", "users", "auth", "media", "analytics_py"][..]),
        ("minimal.toml", &["web"][..]),
        ("Procfile", &["web", "worker", "api-v2"][..]),
    ] {
        let run = check(&dir, &[name]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(lines[0].starts_with("ok: "), "{name}: {}", run.stdout);
        assert_eq!(lines.len(), 1 + services.len(), "{name}: {}", run.stdout);
        for (line, service) in lines[1..].iter().zip(services) {
            assert!(line.trim_start().starts_with(service), "{name}: `{line}` should describe {service}");
            assert!(line.contains("replica") && line.contains("port ") && line.contains("health "), "{name}: {line}");
        }
    }
    let full = check(&dir, &["full.toml"]).stdout;
    assert!(full.contains("gateway") && full.contains("2 replicas · port 18080/http · health GET /health every 500ms"), "{full}");
    assert!(full.contains("3 replicas · port auto/http · health process alive · autoscale 1..=4 on 250 ms (on)"), "{full}");
}

#[test]
fn unreadable_paths_exit_2() {
    let dir = fixture("good");
    for path in ["no-such-manifest.toml", "."] {
        let run = check(&dir, &[path]);
        assert_eq!(run.code, 2, "{path}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("cannot read"), "{path}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn format_flags_override_the_guess_from_the_name() {
    let dir = fixture("good");
    let as_toml = check(&dir, &["--manifest", "Procfile"]);
    assert_eq!(as_toml.code, 1, "a Procfile is not TOML: {}", as_toml.stdout);
    assert!(as_toml.stdout.contains("Procfile:2:"), "{}", as_toml.stdout);
    let as_procfile = check(&dir, &["--procfile", "minimal.toml"]);
    assert_eq!(as_procfile.code, 1, "a manifest is not a Procfile: {}", as_procfile.stdout);
    assert!(as_procfile.stdout.contains("minimal.toml:2:1: "), "{}", as_procfile.stdout);
    let forced = check(&dir, &["--procfile", "Procfile"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
}

/// `check` (a manifest or a lesson), `up --manifest` and `up --procfile` refuse a file past 1 MiB, and an endless one,
/// after reading one MiB of it (in a 2 GB address space).
#[test]
fn endless_and_oversized_files_are_refused_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.toml");
    let line = "# a comment line that pads the manifest past one mebibyte\n";
    std::fs::write(&big, line.repeat((1 << 20) / line.len() + 1)).expect("write");
    let big = big.to_string_lossy().into_owned();
    for args in [
        vec!["check", "/dev/zero"],
        vec!["check", big.as_str()],
        vec!["check", "--lesson", "/dev/zero"],
        vec!["lesson", "run", "--file", "/dev/zero"],
        vec!["up", "--manifest", "/dev/zero"],
        vec!["up", "--procfile", "/dev/zero"],
        vec!["up", "--manifest", big.as_str()],
    ] {
        let run = capped(dir.path(), &args);
        let stderr = &run.stderr;
        assert_eq!(run.code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("cannot read") && stderr.contains("at most 1 MiB"), "{args:?}: {stderr}");
    }
}
