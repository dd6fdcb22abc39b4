//! CPU and memory of the supervised processes and of the engine itself, sampled once a
//! second from one `/proc/<pid>/stat` read per process (`procfs`: utime, stime and rss
//! are all in that one file; a general sampler such as sysinfo also reads `statm` and
//! `status` of each pid, three times the syscalls of an idle second).
//! A replica's figures add up its program and the program's descendants (what a
//! `sh -c` line starts), found through `/proc/<pid>/task/<tid>/children` every
//! [`TREE_EVERY`] samples (a new replica's tree at once).

use std::collections::HashMap;
use std::time::Duration;

use procfs::process::Process;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::snapshot::{EngineStats, ServiceView};

pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// A replica's process tree is walked again every this many samples (and at once for a
/// new replica): trees rarely change, and the walk is most of an idle sample's syscalls.
const TREE_EVERY: u32 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Of one core: 200 = two cores busy.
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

/// Most processes counted under one replica.
const MAX_TREE: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// Keyed by a replica's program pid; the sum over it and its descendants.
    pub per_pid: HashMap<u32, Usage>,
    pub engine: EngineStats,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { per_pid: HashMap::new(), engine: EngineStats { pid: std::process::id(), cpu_percent: 0.0, rss_bytes: 0 } }
    }
}

impl Resources {
    /// Fills each replica's CPU and memory from its pid's reading, and the service's totals
    /// as their sum (a replica without a pid or a reading counts 0).
    pub fn fill(&self, view: &mut ServiceView) {
        for r in &mut view.replicas {
            let usage = r.pid.and_then(|p| self.per_pid.get(&p)).copied().unwrap_or_default();
            r.cpu_percent = usage.cpu_percent;
            r.rss_bytes = usage.rss_bytes;
        }
        view.cpu_percent = view.replicas.iter().map(|r| r.cpu_percent).sum();
        view.rss_bytes = view.replicas.iter().map(|r| r.rss_bytes).sum();
    }
}

/// One watched process: its `/proc/<pid>` handle and the last CPU time read.
struct Watched {
    process: Process,
    /// utime + stime, in clock ticks.
    ticks: u64,
    at: std::time::Instant,
}

/// The `/proc/<pid>/stat` reader: CPU % since the previous read of the same process.
struct Sampler {
    watched: HashMap<u32, Watched>,
    ticks_per_sec: f64,
    page_size: u64,
}

impl Sampler {
    fn new() -> Sampler {
        Sampler { watched: HashMap::new(), ticks_per_sec: procfs::ticks_per_second().max(1) as f64, page_size: procfs::page_size() }
    }

    /// Reads every pid of `wanted` (and forgets the others); a pid gone reads as zero.
    fn sample(&mut self, wanted: &[u32]) -> HashMap<u32, Usage> {
        self.watched.retain(|pid, _| wanted.contains(pid));
        let mut out = HashMap::with_capacity(wanted.len());
        for &pid in wanted {
            if let Some(usage) = self.read(pid) {
                out.insert(pid, usage);
            }
        }
        out
    }

    fn read(&mut self, pid: u32) -> Option<Usage> {
        let now = std::time::Instant::now();
        if let Some(w) = self.watched.get_mut(&pid) {
            // The handle stays on the process it was opened for: a reused pid fails here.
            if let Ok(stat) = w.process.stat() {
                let ticks = stat.utime + stat.stime;
                let secs = now.duration_since(w.at).as_secs_f64();
                let cpu = if secs > 0.0 { ticks.saturating_sub(w.ticks) as f64 / self.ticks_per_sec / secs * 100.0 } else { 0.0 };
                (w.ticks, w.at) = (ticks, now);
                return Some(Usage { cpu_percent: cpu as f32, rss_bytes: stat.rss * self.page_size });
            }
            self.watched.remove(&pid);
        }
        let process = Process::new(i32::try_from(pid).ok()?).ok()?;
        let stat = process.stat().ok()?;
        self.watched.insert(pid, Watched { process, ticks: stat.utime + stat.stime, at: now });
        // No CPU figure before a second read.
        Some(Usage { cpu_percent: 0.0, rss_bytes: stat.rss * self.page_size })
    }
}

/// Samples every second the pids `pids()` names, until `cancel`.
pub fn spawn<F>(pids: F, cancel: CancellationToken) -> watch::Receiver<Resources>
where
    F: Fn() -> Vec<u32> + Send + 'static,
{
    let (tx, rx) = watch::channel(Resources::default());
    tokio::spawn(async move {
        let mut sampler = Sampler::new();
        let me = std::process::id();
        let mut trees: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut until_walk = TREE_EVERY;
        let mut first = true;
        loop {
            // On the shared grid: the probes of ready replicas wake in the same tick.
            let due = if first { tokio::time::Instant::now() } else { crate::grid::next(SAMPLE_EVERY) };
            first = false;
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(due) => {}
            }
            let roots = pids();
            until_walk -= 1;
            if until_walk == 0 {
                trees.clear();
                until_walk = TREE_EVERY;
            }
            trees.retain(|root, _| roots.contains(root));
            for root in &roots {
                trees.entry(*root).or_insert_with(|| descendants(*root));
            }
            let mut wanted: Vec<u32> = trees.values().flatten().copied().collect();
            wanted.push(me);
            wanted.sort_unstable();
            wanted.dedup();
            let read = sampler.sample(&wanted);
            let usage = |pid: &u32| read.get(pid).copied().unwrap_or_default();
            let engine = usage(&me);
            let per_pid = trees
                .iter()
                .map(|(root, tree)| {
                    let sum = tree.iter().map(usage).fold(Usage::default(), |a, b| Usage {
                        cpu_percent: a.cpu_percent + b.cpu_percent,
                        rss_bytes: a.rss_bytes + b.rss_bytes,
                    });
                    (*root, sum)
                })
                .collect();
            let next = Resources { per_pid, engine: EngineStats { pid: me, cpu_percent: engine.cpu_percent, rss_bytes: engine.rss_bytes } };
            if tx.send(next).is_err() {
                break;
            }
        }
    });
    rx
}

/// `root` and every process below it (Linux `/proc`; just `root` elsewhere).
fn descendants(root: u32) -> Vec<u32> {
    let mut out = vec![];
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if out.len() >= MAX_TREE || out.contains(&p) {
            continue;
        }
        out.push(p);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                stack.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_holds_the_children() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("sleep");
        let tree = descendants(std::process::id());
        let _killed = child.kill();
        let _reaped = child.wait();
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?}");
    }

    #[test]
    fn a_busy_process_reads_as_busy_and_a_gone_one_is_forgotten() {
        /// Kills the busy loop however the test ends.
        struct Reap(std::process::Child);
        impl Drop for Reap {
            fn drop(&mut self) {
                let _killed = self.0.kill();
                let _reaped = self.0.wait();
            }
        }
        let child = Reap(std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh"));
        let mut sampler = Sampler::new();
        let pid = child.0.id();
        // Poll: the first read may catch the exec half-way (no memory yet), and on a
        // loaded machine the loop may get little CPU in any one short spell.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut last = Usage::default();
        while (last.cpu_percent < 20.0 || last.rss_bytes == 0) && std::time::Instant::now() < deadline {
            last = sampler.sample(&[pid]).get(&pid).copied().unwrap_or_default();
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(child);
        assert!(last.cpu_percent >= 20.0 && last.rss_bytes > 0, "a busy loop read as {last:?}");
        assert!(sampler.sample(&[pid]).is_empty());
        assert!(sampler.watched.is_empty());
    }
}
