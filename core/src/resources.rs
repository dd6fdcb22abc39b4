//! CPU and memory of the supervised processes and of the engine itself, sampled once a
//! second by one `sysinfo::System` that refreshes only those pids (cheap when idle).
//! A replica's figures add up its program and the program's descendants (what a
//! `sh -c` line starts), found through `/proc/<pid>/task/<tid>/children` every
//! [`TREE_EVERY`] samples (a new replica's tree at once).

use std::collections::HashMap;
use std::time::Duration;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::snapshot::EngineStats;

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

/// Samples every second the pids `pids()` names, until `cancel`.
pub fn spawn<F>(pids: F, cancel: CancellationToken) -> watch::Receiver<Resources>
where
    F: Fn() -> Vec<u32> + Send + 'static,
{
    let (tx, rx) = watch::channel(Resources::default());
    tokio::spawn(async move {
        let mut sys = System::new();
        let me = std::process::id();
        let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
        let mut previous: Vec<Pid> = vec![];
        let mut trees: HashMap<u32, Vec<Pid>> = HashMap::new();
        let mut until_walk = TREE_EVERY;
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let roots = pids();
            until_walk -= 1;
            if until_walk == 0 {
                trees.clear();
                until_walk = TREE_EVERY;
            }
            trees.retain(|root, _| roots.contains(root));
            for root in &roots {
                trees.entry(*root).or_insert_with(|| descendants(*root).into_iter().map(Pid::from_u32).collect());
            }
            let mut wanted: Vec<Pid> = trees.values().flat_map(|t| t.iter().copied()).collect();
            wanted.push(Pid::from_u32(me));
            // Last round's pids too, so the dead ones are dropped from `sys`.
            let mut refresh = previous.clone();
            refresh.extend(wanted.iter().copied());
            refresh.sort_unstable();
            refresh.dedup();
            sys.refresh_processes_specifics(ProcessesToUpdate::Some(&refresh), true, kind);
            previous = wanted;
            let usage = |pid: &Pid| {
                sys.process(*pid).map(|p| Usage { cpu_percent: p.cpu_usage(), rss_bytes: p.memory() }).unwrap_or_default()
            };
            let engine = usage(&Pid::from_u32(me));
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
}
