//! One subscriber's feed: a snapshot first, then snapshots on change (at most
//! [`MAX_SNAPSHOTS_PER_SEC`] a second, plus a heartbeat for resource figures, by
//! default every [`HEARTBEAT`]), log batches and events. A task per subscriber; dropping the [`Subscription`] ends it.

use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Cluster, Update};

pub const MAX_SNAPSHOTS_PER_SEC: u32 = 10;
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A live feed from the cluster. Drop it to unsubscribe.
pub struct Subscription {
    rx: mpsc::Receiver<Update>,
    _stop: DropGuard,
}

impl Subscription {
    /// The next update; `None` once the cluster has shut down.
    pub async fn recv(&mut self) -> Option<Update> {
        self.rx.recv().await
    }
}

/// `with_logs: false` leaves the log batches out (a feed that never shows lines then
/// costs the log path nothing).
pub(super) fn start(cluster: Cluster, with_logs: bool, heartbeat: Duration) -> Subscription {
    let (tx, rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let guard = stop.clone().drop_guard();
    let cancel = cluster.inner.cancel.clone();
    // Registered before the first snapshot is taken, so nothing slips between.
    let mut version = cluster.inner.version.clone();
    let mut events = cluster.inner.events.subscribe();
    let mut logs = with_logs.then(|| cluster.inner.logs.subscribe());
    let first = cluster.snapshot();
    version.mark_unchanged();
    cluster.inner.tracker.clone().spawn(async move {
        // The snapshot comes first; events already in the log are in `Cluster::events`.
        if tx.send(Update::Snapshot(first)).await.is_err() {
            return;
        }
        let min_gap = Duration::from_secs(1) / MAX_SNAPSHOTS_PER_SEC;
        let mut last_sent = Instant::now();
        let mut dirty = false;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        loop {
            let next_allowed = last_sent + min_gap;
            let update = tokio::select! {
                _ = stop.cancelled() => return,
                _ = cancel.cancelled() => return,
                r = version.changed(), if !dirty => {
                    if r.is_err() { return; }
                    dirty = true;
                    continue;
                }
                _ = tokio::time::sleep_until(next_allowed), if dirty => None,
                _ = heartbeat.tick() => None,
                e = events.recv() => match e {
                    Ok(e) => Some(Update::Event(e)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
                l = recv_logs(&mut logs), if logs.is_some() => match l {
                    Some((lines, skipped)) => Some(Update::Logs { lines, skipped }),
                    None => return,
                },
            };
            let sent = match update {
                Some(u) => tx.send(u).await.is_ok(),
                None => {
                    dirty = false;
                    version.mark_unchanged();
                    last_sent = Instant::now();
                    heartbeat.reset();
                    send_snapshot(&cluster, cluster.snapshot(), &mut events, &tx).await
                }
            };
            if !sent {
                return;
            }
        }
    });
    Subscription { rx, _stop: guard }
}

async fn recv_logs(logs: &mut Option<crate::logs::LogSubscription>) -> Option<(Vec<crate::snapshot::LogLine>, u64)> {
    match logs {
        Some(l) => l.recv().await,
        None => None,
    }
}

/// Sends the events recorded before `snap` was taken, then `snap`: a reader never sees a
/// state before the event that led to it (the events go through the log's own task).
async fn send_snapshot(
    cluster: &Cluster,
    snap: crate::snapshot::ClusterSnapshot,
    events: &mut tokio::sync::broadcast::Receiver<crate::snapshot::Event>,
    tx: &mpsc::Sender<Update>,
) -> bool {
    cluster.inner.events.sync().await;
    loop {
        match events.try_recv() {
            Ok(e) => {
                if tx.send(Update::Event(e)).await.is_err() {
                    return false;
                }
            }
            Err(TryRecvError::Lagged(_)) => continue,
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    tx.send(Update::Snapshot(snap)).await.is_ok()
}
