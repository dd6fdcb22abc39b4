//! Lesson files through `microdeck check`, as a lesson's author runs it: the example of
//! docs/lessons.md is valid, a broken lesson gets its errors with positions and exit 1.

use std::process::Command;

use microdeck_tests::bins::{bin, workspace_root};

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("microdeck")).arg("check").args(args).output().expect("run microdeck check");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The complete example in docs/lessons.md, so the page never shows a lesson that does not load.
#[test]
fn the_documented_example_is_a_valid_lesson() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/lessons.md")).expect("docs/lessons.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("the block's end");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("example.toml");
    std::fs::write(&file, &doc[start..end]).expect("write the example");
    let (code, stdout, stderr) = check(&[file.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ok: lesson independent-scaling (2 steps, 5 checks)"), "{stdout}");
}

#[test]
fn a_broken_lesson_lists_every_error_with_its_position_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.toml");
    let text = "name = \"broken\"\ntitle = \"B\"\nclaim = \"c\"\n[[step]]\nname = \"s\"\ntext = \"t\"\nactions = [{ scael = \"auth\", replicas = 2 }]\nchecks = [{ measure = \"p95\", service = \"auth\", below = 1 }]\n";
    std::fs::write(&file, text).expect("write");
    let path = file.display().to_string();
    let (code, stdout, stderr) = check(&[&path]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with(&format!("{path}:7:12: step[0].actions[0]: no action named")), "{stdout}");
    assert!(lines[1].starts_with(&format!("{path}:8:23: step[0].checks[0].measure: `p95` is not one of")), "{stdout}");
    assert!(stderr.contains("2 errors"), "{stderr}");
    // The same file read as a manifest is refused as one (no `services`).
    let (code, stdout, _) = check(&["--manifest", &path]);
    assert_eq!(code, 1);
    assert!(stdout.contains("services"), "{stdout}");
}

/// The README's tour tells a newcomer how to run a lesson and how to write one, with the
/// commands as they are.
#[test]
fn the_readme_says_how_to_run_and_write_a_lesson() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let start = readme.find("### Lessons").expect("a Lessons section in the tour");
    let section = &readme[start..start + readme[start..].find("\n## ").expect("the section's end")];
    for said in ["microdeck lesson list", "microdeck lesson run independent-scaling", "microdeck lesson run --file", "docs/lessons.md", "microdeck check"] {
        assert!(section.contains(said), "the Lessons section says `{said}`");
    }
    let out = Command::new(bin("microdeck")).args(["lesson", "list"]).output().expect("run microdeck lesson list");
    let listed = String::from_utf8_lossy(&out.stdout);
    for name in ["fault-isolation", "independent-scaling", "autoscaling", "freedom-of-technology"] {
        assert!(section.contains(&format!("`{name}`")) && listed.contains(name), "{name} in the README and in `microdeck lesson list`");
    }
}
