//! Stopping a cluster the way a user can follow: the services still running are reported
//! as they go, and SIGTERM or SIGINT starts the same stop as a closed window or Ctrl-C.

use std::future::Future;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::cluster::Cluster;
use crate::snapshot::{ClusterSnapshot, ReplicaState};

/// How often a stop looks again at what it still waits for.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// The exit status when a second signal cuts a stop short (128 + SIGINT, as shells report it).
pub const EXIT_AT_ONCE: i32 = 130;

/// `users (2 replicas), media (1 replica)`: the services with a process still running.
pub fn still_running(snap: &ClusterSnapshot) -> String {
    snap.services
        .iter()
        .filter_map(|s| {
            let n = s.replicas.iter().filter(|r| r.pid.is_some() && r.state != ReplicaState::Stopped && r.state != ReplicaState::Exited).count();
            (n > 0).then(|| format!("{} ({n} replica{})", s.name, if n == 1 { "" } else { "s" }))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `shutdown` (the cluster's, or a shell's that ends with it) to completion, calling
/// `progress` with [`still_running`] first and then each time it changes, so the user sees
/// what a slow stop waits for.
pub async fn stop_reporting(cluster: &Cluster, shutdown: impl Future<Output = ()>, mut progress: impl FnMut(&str)) {
    let mut last = still_running(&cluster.snapshot());
    progress(&last);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                let now = still_running(&cluster.snapshot());
                if now != last {
                    progress(&now);
                    last = now;
                }
            }
        }
    }
}

/// SIGTERM and SIGINT, taken over as soon as this is made, so that one arriving before the
/// shell listens is kept until it does rather than ending the process.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Takes over SIGTERM and SIGINT; call inside the async runtime.
    pub fn catch() -> std::io::Result<Signals> {
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// Waits for either signal.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    /// Waits for one more signal, then ends the process at once with [`EXIT_AT_ONCE`]: a user
    /// who asks twice does not want to wait, and each replica's shim kills its process group
    /// once the engine is gone (after the service's stop grace), so nothing is left running.
    pub async fn exit_on_next(mut self) {
        self.recv().await;
        eprintln!("microdeck: exiting now; each service still running is killed at the end of its stop grace");
        std::process::exit(EXIT_AT_ONCE);
    }
}
