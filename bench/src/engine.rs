//! `microdeck up` run as a user would, on a manifest in a temp folder, followed through
//! the files it writes (`snapshot.json`, `events.jsonl`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use microdeck::snapshot::{ClusterSnapshot, Event};
use microdeck_tests::rundir;

use crate::http::poll;

/// Where the built binaries are and how to run them.
#[derive(Debug, Clone)]
pub struct Bins {
    pub dir: PathBuf,
}

impl Bins {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `PATH` with the binaries' folder first, so manifests can name `mdk-*` programs.
    pub fn path_env(&self) -> String {
        format!("{}:{}", self.dir.display(), std::env::var("PATH").unwrap_or_default())
    }
}

/// A running `microdeck up`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Up {
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// Wall clock (ms since the epoch) just before the spawn.
    pub spawned_at_ms: u64,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Up {
    /// `microdeck up --manifest <text written to a file>` plus `extra` arguments.
    pub fn start(bins: &Bins, manifest: &str, extra: &[&str]) -> Result<Up> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("cluster.toml");
        std::fs::write(&file, manifest)?;
        let mut args: Vec<String> = vec!["--manifest".into(), file.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(bins, dir, &args, None)
    }

    /// `microdeck up` with no manifest, run in `cwd` (the bundled cluster).
    pub fn start_bundled(bins: &Bins, cwd: &Path, extra: &[&str]) -> Result<Up> {
        let dir = tempfile::tempdir()?;
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::spawn(bins, dir, &args, Some(cwd))
    }

    fn spawn(bins: &Bins, dir: tempfile::TempDir, args: &[String], cwd: Option<&Path>) -> Result<Up> {
        let out = std::fs::File::create(dir.path().join("stdout"))?;
        let err = std::fs::File::create(dir.path().join("stderr"))?;
        let mut cmd = Command::new(bins.path("microdeck"));
        cmd.arg("up")
            .args(args)
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("PATH", bins.path_env())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(c) = cwd {
            cmd.current_dir(c);
        }
        let spawned_at_ms = now_ms();
        let child = cmd.spawn().context("start microdeck up")?;
        Ok(Up { child, dir, spawned_at_ms })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn snapshot(&self) -> Option<ClusterSnapshot> {
        rundir::snapshot(&self.run_dir())
    }

    pub fn events(&self) -> Vec<Event> {
        rundir::events(&self.run_dir())
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Every service ready with all its replicas; fails with the engine's stderr.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<ClusterSnapshot> {
        let r = poll("every service ready", deadline, Duration::from_millis(5), || async { self.snapshot().filter(rundir::all_ready) })
        .await;
        r.with_context(|| format!("microdeck up stderr: {}", self.stderr()))
    }

    /// SIGTERM and wait (bounded), then SIGKILL.
    pub fn stop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(15));
    }
}

/// SIGTERM, up to `grace` for it to exit, then SIGKILL; reaped either way.
pub fn terminate(child: &mut Child, grace: Duration) {
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = std::time::Instant::now() + grace;
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _already_gone = child.kill();
    let _reaped = child.wait();
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A one-service manifest; `body` holds the service's lines after its header.
pub fn manifest(service: &str, body: &str) -> String {
    format!("name = \"bench\"\n\n[services.{service}]\n{body}\n")
}
