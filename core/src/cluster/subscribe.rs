//! One subscriber's feed, paced by the contract of [`feed`](super::feed): a snapshot first,
//! then flushes of events, log lines and the changed snapshot, plus a heartbeat snapshot for
//! resource figures (by default every [`HEARTBEAT`]). A task per subscriber; dropping the
//! [`Subscription`] ends it.

use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::feed::{LogBacklog, FLUSH_GAP, MAX_EVENTS, QUEUE};
use super::{Cluster, Update};
use crate::snapshot::Event;

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

    /// An update already waiting, if any (the rest of a flush).
    pub fn try_recv(&mut self) -> Option<Update> {
        self.rx.try_recv().ok()
    }
}

/// What waits for the next flush.
#[derive(Default)]
struct Pending {
    events: std::collections::VecDeque<Event>,
    logs: LogBacklog,
    /// The cluster changed (or the heartbeat is due) since the last snapshot sent.
    snapshot: bool,
}

impl Pending {
    fn event(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn any(&self) -> bool {
        self.snapshot || !self.events.is_empty() || !self.logs.is_empty()
    }
}

/// `with_logs: false` leaves the log batches out (a feed that never shows lines then
/// costs the log path nothing).
pub(super) fn start(cluster: Cluster, with_logs: bool, heartbeat: Duration) -> Subscription {
    let (tx, rx) = mpsc::channel(QUEUE);
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
        let mut last_flush = Instant::now();
        let mut pending = Pending::default();
        let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        loop {
            let any = pending.any();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = cancel.cancelled() => return,
                r = version.changed(), if !pending.snapshot => {
                    if r.is_err() { return; }
                    pending.snapshot = true;
                }
                _ = heartbeat.tick() => pending.snapshot = true,
                e = events.recv() => match e {
                    Ok(e) => pending.event(e),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                l = recv_logs(&mut logs), if logs.is_some() => match l {
                    Some((batch, skipped)) => pending.logs.push(batch, skipped),
                    None => return,
                },
                _ = tokio::time::sleep_until(last_flush + FLUSH_GAP), if any => {
                    if !flush(&cluster, &mut pending, &mut version, &mut events, &tx).await {
                        return;
                    }
                    if pending.snapshot {
                        pending.snapshot = false;
                        heartbeat.reset();
                    }
                    // Counted from the end of the sends: a slow reader makes flushes rarer.
                    last_flush = Instant::now();
                }
            }
        }
    });
    Subscription { rx, _stop: guard }
}

async fn recv_logs(logs: &mut Option<crate::logs::LogSubscription>) -> Option<(std::sync::Arc<[crate::snapshot::LogLine]>, u64)> {
    match logs {
        Some(l) => l.recv_shared().await,
        None => None,
    }
}

/// Sends what is pending: the events (with those recorded before the snapshot was taken, so a
/// reader never sees a state before the event that led to it), the log batch, the snapshot.
/// `false` once the reader is gone.
async fn flush(
    cluster: &Cluster,
    pending: &mut Pending,
    version: &mut tokio::sync::watch::Receiver<u64>,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    tx: &mpsc::Sender<Update>,
) -> bool {
    let snapshot = pending.snapshot.then(|| {
        version.mark_unchanged();
        cluster.snapshot()
    });
    if snapshot.is_some() {
        // The events go through the log's own task: wait for those recorded so far.
        cluster.inner.events.sync().await;
        loop {
            match events.try_recv() {
                Ok(e) => pending.event(e),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
    while let Some(e) = pending.events.pop_front() {
        if tx.send(Update::Event(e)).await.is_err() {
            return false;
        }
    }
    if let Some((lines, skipped)) = pending.logs.take() {
        if tx.send(Update::Logs { lines, skipped }).await.is_err() {
            return false;
        }
    }
    match snapshot {
        Some(s) => tx.send(Update::Snapshot(s)).await.is_ok(),
        None => true,
    }
}
