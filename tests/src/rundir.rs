//! `microdeck up` started as a user would ([`UpProcess`]), and what it leaves in its run
//! folder, read back as a user's script would: the latest snapshot (`snapshot.json`) and
//! the event timeline (`events.jsonl`). Shared by the engine tests and `make bench`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use microdeck::snapshot::{ClusterSnapshot, Event, ServiceState};

/// The latest snapshot, if written and whole.
pub fn snapshot(run_dir: &Path) -> Option<ClusterSnapshot> {
    serde_json::from_slice(&std::fs::read(run_dir.join("snapshot.json")).ok()?).ok()
}

/// Every event so far, oldest first (a line still being written is skipped).
pub fn events(run_dir: &Path) -> Vec<Event> {
    std::fs::read_to_string(run_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every service ready with all its replicas.
pub fn all_ready(s: &ClusterSnapshot) -> bool {
    !s.services.is_empty() && s.services.iter().all(|v| v.state == ServiceState::Ready && v.ready == v.desired)
}

/// A running `microdeck up` with its own run and data folders, and its stdout and stderr in
/// files, all in one temp folder. How it stops is the caller's choice (see their `Drop`).
pub struct UpProcess {
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// Wall clock (ms since the epoch) just before the spawn.
    pub spawned_at_ms: u64,
}

impl UpProcess {
    /// `program up [--manifest <manifest, written to a file>] ARGS --run-dir … --data-dir …`,
    /// with `PATH` set to `path` (so manifests can name sample programs) and run in `cwd`.
    pub fn spawn(program: &Path, manifest: Option<&str>, args: &[&str], path: &str, cwd: Option<&Path>) -> std::io::Result<UpProcess> {
        let dir = tempfile::tempdir()?;
        let out = std::fs::File::create(dir.path().join("stdout"))?;
        let err = std::fs::File::create(dir.path().join("stderr"))?;
        let mut cmd = Command::new(program);
        cmd.arg("up");
        if let Some(text) = manifest {
            let file = dir.path().join("cluster.toml");
            std::fs::write(&file, text)?;
            cmd.arg("--manifest").arg(file);
        }
        cmd.args(args)
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(c) = cwd {
            cmd.current_dir(c);
        }
        let spawned_at_ms = now_ms();
        let child = cmd.spawn()?;
        Ok(UpProcess { child, dir, spawned_at_ms })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn snapshot(&self) -> Option<ClusterSnapshot> {
        snapshot(&self.run_dir())
    }

    pub fn events(&self) -> Vec<Event> {
        events(&self.run_dir())
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

/// Milliseconds since the epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
