//! PM2, the peer supervisor, installed in `bench/node_modules` and run with a
//! PM2_HOME of its own so it never touches a user's PM2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A PM2 daemon with its own home; killed (`pm2 kill`) on drop.
pub struct Pm2 {
    bin: PathBuf,
    pub home: tempfile::TempDir,
}

impl Pm2 {
    pub fn new(bench_dir: &Path) -> Result<Pm2> {
        let bin = bench_dir.join("node_modules/.bin/pm2");
        if !bin.exists() {
            bail!("PM2 is not installed at {} (make bench runs npm ci in bench/)", bin.display());
        }
        Ok(Pm2 { bin, home: tempfile::tempdir()? })
    }

    fn cmd(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.bin)
            .args(args)
            .env("PM2_HOME", self.home.path())
            .env("PM2_DISABLE_VERSION_CHECK", "true")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run pm2 {args:?}"))?;
        if !out.status.success() {
            bail!("pm2 {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts the apps of an ecosystem (JSON `{ "apps": [...] }`).
    pub fn start(&self, apps: &serde_json::Value) -> Result<()> {
        let file = self.home.path().join("ecosystem.json");
        std::fs::write(&file, serde_json::to_vec(&serde_json::json!({ "apps": apps }))?)?;
        self.cmd(&["start", &file.display().to_string()])?;
        Ok(())
    }

    /// The God Daemon's pid.
    pub fn daemon_pid(&self) -> Result<u32> {
        let s = std::fs::read_to_string(self.home.path().join("pm2.pid")).context("read pm2.pid")?;
        s.trim().parse().context("pm2.pid")
    }

    /// (name, pid) of every app process PM2 lists.
    pub fn pids(&self) -> Result<Vec<(String, u32)>> {
        let v: serde_json::Value = serde_json::from_str(&self.cmd(&["jlist"])?)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["pid"].as_u64().filter(|p| *p > 0)? as u32)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until `n` apps have a pid.
    pub fn wait_pids(&self, n: usize, deadline: Duration) -> Result<Vec<(String, u32)>> {
        let end = std::time::Instant::now() + deadline;
        loop {
            let p = self.pids()?;
            if p.len() >= n {
                return Ok(p);
            }
            if std::time::Instant::now() > end {
                let status = self.cmd(&["jlist"]).unwrap_or_default();
                let v: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
                let states: Vec<String> = v.as_array().map(|a| a.iter().map(|p| format!("{}: {}", p["name"], p["pm2_env"]["status"])).collect()).unwrap_or_default();
                bail!("PM2 started {} of {n} apps ({})", p.len(), states.join(", "));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.home.path().join("logs")
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        let _already_dead = self.cmd(&["kill"]);
    }
}

/// `/usr/bin/python3` explicitly: the pyenv shim adds ~130 ms to every start.
pub const PYTHON: &str = "/usr/bin/python3";
