//! The cluster's event log: a small actor keeping the newest [`EVENTS_KEPT`] events
//! (started, ready, unhealthy, exited, restart-scheduled, scaled, stopped, killed,
//! failed, reloaded, lesson, autoscale), broadcasting each one to subscribers and appending it, one JSON
//! line each, to a file rotated like the logs (`<run-dir>/events.jsonl`).

use std::collections::VecDeque;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::logs::file::RotatingFile;
use crate::snapshot::{Event, EventKind};

/// Events kept in memory.
pub const EVENTS_KEPT: usize = 1000;

/// An event before it gets its number and time.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub service: String,
    pub replica: Option<u32>,
    pub kind: EventKind,
    pub message: String,
}

enum Msg {
    Record(EventDraft),
    List(oneshot::Sender<Vec<Event>>),
    /// Answered once every event recorded before it has been broadcast.
    Sync(oneshot::Sender<()>),
}

/// A handle to the event log; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    tx: mpsc::Sender<Msg>,
    bcast: broadcast::Sender<Event>,
}

/// One JSON line, flushed so a reader of the file sees the event at once.
fn append(file: &mut RotatingFile, e: &Event) -> std::io::Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(e)?;
    writeln!(file.room_for(line.len() as u64 + 1)?, "{line}")?;
    file.flush()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl EventLog {
    /// Starts the log's task, keeping events in memory only; it ends with `cancel`.
    pub fn start(cancel: CancellationToken) -> EventLog {
        Self::start_with(cancel, None)
    }

    /// Starts the log's task, appending every event to `file` too; it ends with `cancel`.
    pub fn start_writing(cancel: CancellationToken, file: RotatingFile) -> EventLog {
        Self::start_with(cancel, Some(file))
    }

    fn start_with(cancel: CancellationToken, mut file: Option<RotatingFile>) -> EventLog {
        let (tx, mut rx) = mpsc::channel::<Msg>(1024);
        let (bcast, _) = broadcast::channel(1024);
        let out = bcast.clone();
        tokio::spawn(async move {
            let mut kept: VecDeque<Event> = VecDeque::with_capacity(EVENTS_KEPT);
            let mut seq = 0u64;
            loop {
                let msg = tokio::select! {
                    _ = cancel.cancelled() => break,
                    m = rx.recv() => match m { Some(m) => m, None => break },
                };
                match msg {
                    Msg::Record(d) => {
                        seq += 1;
                        let e = Event { seq, at: now_ms(), service: d.service, replica: d.replica, kind: d.kind, message: d.message };
                        if kept.len() == EVENTS_KEPT {
                            kept.pop_front();
                        }
                        if let Some(f) = file.as_mut() {
                            // Events come a few a second at most: a blocking append costs microseconds.
                            if let Err(err) = append(f, &e) {
                                tracing::warn!("cannot write {}: {err}; events are kept in memory only", f.path().display());
                                file = None;
                            }
                        }
                        kept.push_back(e.clone());
                        // No subscriber is fine.
                        let _none = out.send(e);
                    }
                    Msg::List(reply) => {
                        let _gone = reply.send(kept.iter().cloned().collect());
                    }
                    Msg::Sync(reply) => {
                        let _gone = reply.send(());
                    }
                }
            }
        });
        EventLog { tx, bcast }
    }

    /// Records an event; never waits (a full queue drops it, which 1024 slots make unlikely).
    pub fn record(&self, draft: EventDraft) {
        if self.tx.try_send(Msg::Record(draft)).is_err() {
            tracing::warn!("event log full or closed; an event was dropped");
        }
    }

    /// The kept events, newest last.
    pub async fn list(&self) -> Vec<Event> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::List(reply)).await.is_err() {
            return vec![];
        }
        rx.await.unwrap_or_default()
    }

    /// Returns once every event recorded before the call has been broadcast, so a
    /// snapshot taken before it can be sent after the events that led to it.
    pub async fn sync(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Sync(reply)).await.is_ok() {
            let _closed = rx.await;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bcast.subscribe()
    }
}
