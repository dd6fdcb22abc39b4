//! Helpers for the engine tests: `microdeck up` in temp folders, a cluster in process,
//! polling, and /proc readings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use microdeck::cluster::{Cluster, ClusterOptions};
use microdeck::snapshot::ClusterSnapshot;
use microdeck_tests::bins;
use microdeck_tests::rundir::{self, UpProcess};

/// Polls `f` every 20 ms until it gives a value; panics with `what` past `deadline`.
pub fn poll_until<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The same, for async tests (the cluster in process keeps running meanwhile).
pub async fn poll_until_async<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A manifest template with `{bin}` standing for the folder of the built binaries.
pub fn manifest_text(template: &str) -> String {
    template.replace("{bin}", &bins::bin_dir().display().to_string())
}

fn path_with_bins() -> String {
    let old = std::env::var("PATH").unwrap_or_default();
    format!("{}:{old}", bins::bin_dir().display())
}

/// `microdeck up` on a manifest, with its own run and data folders; killed on drop.
pub struct Up(pub UpProcess);

impl Up {
    pub fn start(template: &str) -> Up {
        Self::start_with(template, &[])
    }

    pub fn start_with(template: &str, extra_args: &[&str]) -> Up {
        let up = UpProcess::spawn(&bins::bin("microdeck"), Some(&manifest_text(template)), extra_args, &path_with_bins(), None);
        Up(up.expect("start microdeck up"))
    }

    /// Waits until every service is ready with all its replicas.
    pub fn wait_all_ready(&self, deadline: Duration) -> ClusterSnapshot {
        poll_until("every service ready", deadline, || self.snapshot().filter(rundir::all_ready))
    }
}

impl std::ops::Deref for Up {
    type Target = UpProcess;
    fn deref(&self) -> &UpProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Up {
    fn deref_mut(&mut self) -> &mut UpProcess {
        &mut self.0
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // The shims see their socket close and stop their groups.
        let _already_gone = self.0.child.kill();
        let _reaped = self.0.child.wait();
    }
}

/// A cluster run in this process (for commands: scale, restart), with temp folders.
pub async fn cluster(template: &str) -> (Cluster, tempfile::TempDir) {
    cluster_with(template, |_| {}).await
}

/// The same, with its options adjusted first.
pub async fn cluster_with(template: &str, adjust: impl FnOnce(&mut ClusterOptions)) -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, manifest_text(template)).expect("write manifest");
    let manifest = microdeck::manifest::load_file(&file).expect("valid manifest");
    let mut options = ClusterOptions::default_for(&manifest);
    options.run_dir = dir.path().join("run");
    options.data_dir = dir.path().join("data");
    options.program_dirs = vec![bins::bin_dir().to_path_buf()];
    options.shim = Some(bins::bin("microdeck"));
    adjust(&mut options);
    let cluster = tokio::time::timeout(Duration::from_secs(10), Cluster::start(manifest, options))
        .await
        .expect("start in time")
        .expect("cluster starts");
    (cluster, dir)
}

/// A /proc/<pid>/stat field (1-based as in proc(5)), after the command name.
fn stat_field(pid: u32, field: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(field - 3).map(str::to_string)
}

/// Alive and not a zombie.
pub fn alive(pid: u32) -> bool {
    stat_field(pid, 3).is_some_and(|s| s != "Z" && s != "X")
}

pub fn pgid_of(pid: u32) -> Option<u32> {
    stat_field(pid, 5)?.parse().ok()
}

/// utime + stime, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks: u64 = [14, 15].iter().filter_map(|f| stat_field(pid, *f)?.parse::<u64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// Peak resident memory (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// Resident memory now (VmRSS), in bytes.
pub fn rss(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Every live process whose group is one of `pgids`.
pub fn members_of_groups(pgids: &[u32]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| pgid_of(*pid).is_some_and(|g| pgids.contains(&g)) && alive(*pid))
        .collect()
}

/// The process groups of every replica in a snapshot.
pub fn replica_groups(snap: &ClusterSnapshot) -> Vec<u32> {
    snap.services.iter().flat_map(|s| s.replicas.iter().filter_map(|r| r.pid.and_then(pgid_of))).collect()
}

/// A GET over a fresh connection; the body.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no HTTP head in {out:?}"))?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "not 200: {head}");
    Ok(body.to_string())
}

/// The `replica` field of a test service's answer.
pub fn replica_of(body: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(body).ok()?["replica"].as_u64()
}

/// The log files of a service, oldest first.
pub fn log_files(run_dir: &Path, service: &str) -> Vec<PathBuf> {
    let dir = run_dir.join("logs");
    let mut files: Vec<PathBuf> = (1..10).rev().map(|n| dir.join(format!("{service}.log.{n}"))).filter(|p| p.exists()).collect();
    files.push(dir.join(format!("{service}.log")));
    files
}
