//! The house rules a newcomer relies on, checked on the source itself: the desktop crate uses
//! no CLI module (what the shells share is in `microdeck::shell`), the supervisor and the
//! logs import nothing from `cluster` (it is built on them), every HTTP client of the engine
//! and the desktop comes from `microdeck::loopback`, and no Rust file passes 600 lines.

use std::path::{Path, PathBuf};

use microdeck_tests::bins::workspace_root as workspace;

const MAX_LINES: usize = 600;

/// Every `.rs` file under `dir`, build output and dependencies left out.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a folder entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "node_modules" | "gen") && !name.starts_with('.') {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no Rust files under {}", dir.display());
    files
}

/// `file:line: text` for each line of the files under `dir` that contains `needle`.
fn lines_with(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (i, line) in text.lines().enumerate() {
            if line.contains(needle) {
                found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_desktop_crate_uses_no_cli_module() {
    let root = workspace();
    let found = lines_with(&root.join("src-tauri"), "microdeck::cli");
    assert!(found.is_empty(), "the desktop crate reaches into the CLI (use microdeck::shell):\n{}", found.join("\n"));
}

#[test]
fn the_supervisor_and_the_logs_import_nothing_from_cluster() {
    let root = workspace();
    let mut found = lines_with(&root.join("core/src/supervisor"), "crate::cluster");
    found.extend(lines_with(&root.join("core/src/logs"), "crate::cluster"));
    assert!(found.is_empty(), "`cluster` is built on these modules, not under them:\n{}", found.join("\n"));
}

#[test]
fn every_http_client_of_the_engine_and_the_desktop_comes_from_the_loopback_builder() {
    let root = workspace();
    let mut found = Vec::new();
    for dir in ["core/src", "src-tauri/src"] {
        for needle in ["reqwest::Client::new", "reqwest::Client::builder", "ClientBuilder::new"] {
            found.extend(lines_with(&root.join(dir), needle));
        }
    }
    // Tests may build their own clients; the engine's go through the one without a proxy.
    found.retain(|l| !l.contains("/tests/") && !l.contains("/tests.rs:") && !l.contains("core/src/loopback.rs:"));
    assert!(found.is_empty(), "a client that may go through a proxy (use microdeck::loopback::client):\n{}", found.join("\n"));
}

#[test]
fn no_rust_file_passes_600_lines() {
    let root = workspace();
    let mut long = Vec::new();
    for dir in ["core", "src-tauri", "services", "tests", "bench"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let lines = text.lines().count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "files over {MAX_LINES} lines (split them by job):\n{}", long.join("\n"));
}
