//! `microdeck up` run as a user would, on a manifest in a temp folder, followed through
//! the files it writes (`snapshot.json`, `events.jsonl`).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use anyhow::{Context, Result};
use microdeck::snapshot::ClusterSnapshot;
use microdeck_tests::rundir::{self, UpProcess};

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
pub struct Up(pub UpProcess);

impl Up {
    /// `microdeck up --manifest <text written to a file>` plus `extra` arguments.
    pub fn start(bins: &Bins, manifest: &str, extra: &[&str]) -> Result<Up> {
        let up = UpProcess::spawn(&bins.path("microdeck"), Some(manifest), extra, &bins.path_env(), None);
        Ok(Up(up.context("start microdeck up")?))
    }

    /// `microdeck up` with no manifest, run in `cwd` (the bundled cluster).
    pub fn start_bundled(bins: &Bins, cwd: &Path, extra: &[&str]) -> Result<Up> {
        let up = UpProcess::spawn(&bins.path("microdeck"), None, extra, &bins.path_env(), Some(cwd));
        Ok(Up(up.context("start microdeck up")?))
    }

    /// Every service ready with all its replicas; fails with the engine's stderr.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<ClusterSnapshot> {
        let r = poll("every service ready", deadline, Duration::from_millis(5), || async { self.snapshot().filter(rundir::all_ready) })
        .await;
        r.with_context(|| format!("microdeck up stderr: {}", self.stderr()))
    }

    /// SIGTERM and wait (bounded), then SIGKILL.
    pub fn stop(&mut self) {
        terminate(&mut self.0.child, Duration::from_secs(15));
    }
}

impl std::ops::Deref for Up {
    type Target = UpProcess;
    fn deref(&self) -> &UpProcess {
        &self.0
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
        if let Ok(None) = self.0.child.try_wait() {
            self.stop();
        }
    }
}

/// A one-service manifest; `body` holds the service's lines after its header.
pub fn manifest(service: &str, body: &str) -> String {
    format!("name = \"bench\"\n\n[services.{service}]\n{body}\n")
}
