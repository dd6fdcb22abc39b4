//! Finds (building first, once per test process) the workspace's binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The folder holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Builds the default members' binaries (engine + samples); cheap when fresh.
        let status = Command::new(&cargo)
            .args(["build", "--bins", "--quiet"])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the workspace binaries failed");
        let out = Command::new(&cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(&root)
            .output()
            .expect("run cargo metadata");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata json");
        let target = meta["target_directory"].as_str().expect("target_directory");
        PathBuf::from(target).join("debug")
    })
}

/// A workspace binary by name, e.g. `bin("microdeck")`.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.exists(), "binary {} not built", p.display());
    p
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A file under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(rel)
}
