//! CPU and memory of the supervised processes and of the engine itself, sampled once a
//! second by one `sysinfo::System` that refreshes only those pids (cheap when idle).

use std::collections::HashMap;
use std::time::Duration;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::snapshot::EngineStats;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Of one core: 200 = two cores busy.
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
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
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            let mut wanted: Vec<Pid> = pids().into_iter().map(Pid::from_u32).collect();
            wanted.push(Pid::from_u32(me));
            // Last round's pids too, so the dead ones are dropped from `sys`.
            let mut refresh = previous.clone();
            refresh.extend(wanted.iter().copied());
            refresh.sort_unstable();
            refresh.dedup();
            sys.refresh_processes_specifics(ProcessesToUpdate::Some(&refresh), true, kind);
            previous = wanted.clone();
            let usage = |pid: Pid| {
                sys.process(pid).map(|p| Usage { cpu_percent: p.cpu_usage(), rss_bytes: p.memory() }).unwrap_or_default()
            };
            let engine = usage(Pid::from_u32(me));
            let per_pid = wanted.iter().map(|p| (p.as_u32(), usage(*p))).collect();
            let next = Resources { per_pid, engine: EngineStats { pid: me, cpu_percent: engine.cpu_percent, rss_bytes: engine.rss_bytes } };
            if tx.send(next).is_err() {
                break;
            }
        }
    });
    rx
}
