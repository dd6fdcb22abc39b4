//! The tasks behind a [`LogHub`](super::LogHub): one actor per service (ring + queries),
//! and one batcher feeding subscribers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::chunk::Chunk;
use super::ring::{Filter, Ring};
use crate::snapshot::LogLine;

/// Chunks queued from the writer thread to a service actor (the actor only keeps them).
pub const LINE_QUEUE: usize = 32;
/// Subscribers get a batch at least this often while lines flow…
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// …or as soon as it holds this many lines or bytes.
const BATCH_LINES: usize = 1000;
const BATCH_BYTES: usize = 1024 * 1024;

/// What the batcher broadcasts: `first` is the hub-wide index of `lines[0]`, so a
/// subscriber that lagged knows exactly how many lines it missed.
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub first: u64,
    pub lines: Arc<[LogLine]>,
}

pub enum LogCommand {
    Query(Filter, usize, oneshot::Sender<Vec<LogLine>>),
}

/// One service's actor: keeps its numbered lines in the ring, passes them on to the
/// batcher, and answers queries.
pub struct LogActor {
    pub service: String,
    pub ring: Ring,
    pub to_batcher: mpsc::Sender<Vec<LogLine>>,
    pub subscribers: broadcast::Sender<LogBatch>,
}

impl LogActor {
    pub async fn run(
        mut self,
        mut lines: mpsc::Receiver<(u64, Chunk)>,
        mut commands: mpsc::Receiver<LogCommand>,
        cancel: CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(command) = commands.recv() => self.answer(command),
                lines = lines.recv() => match lines {
                    Some((first_seq, chunk)) => self.keep(first_seq, chunk).await,
                    None => break,
                },
            }
        }
    }

    async fn keep(&mut self, first_seq: u64, chunk: Chunk) {
        // Lines become `LogLine`s only for subscribers (a headless engine has none).
        if self.subscribers.receiver_count() > 0 {
            let shared: Vec<LogLine> =
                (0..chunk.len()).map(|i| chunk.log_line(i, first_seq + i as u64, &self.service)).collect();
            // The batcher only copies and broadcasts, so this wait is short.
            let _closed = self.to_batcher.send(shared).await;
        }
        self.ring.push(first_seq, chunk);
    }

    fn answer(&self, command: LogCommand) {
        match command {
            LogCommand::Query(filter, limit, reply) => {
                let _gone = reply.send(self.ring.newest(&self.service, &filter, limit));
            }
        }
    }
}

/// Gathers lines from every service into batches for subscribers.
pub async fn batcher(
    mut rx: mpsc::Receiver<Vec<LogLine>>,
    tx: broadcast::Sender<LogBatch>,
    published: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let mut pending: Vec<LogLine> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut total = 0u64;
    let mut deadline: Option<Instant> = None;
    let mut publish = |pending: &mut Vec<LogLine>, pending_bytes: &mut usize| {
        if pending.is_empty() {
            return;
        }
        let lines: Arc<[LogLine]> = std::mem::take(pending).into();
        let batch = LogBatch {
            first: total,
            lines,
        };
        total += batch.lines.len() as u64;
        *pending_bytes = 0;
        // Before the send: a subscriber that joins after it must not count this batch as skipped.
        published.store(total, Ordering::Release);
        // No subscriber is not an error: the lines are on disk and in the rings.
        let _none = tx.send(batch);
    };
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            lines = rx.recv() => match lines {
                Some(lines) => {
                    for line in lines {
                        pending_bytes += line.text.len();
                        pending.push(line);
                        if pending.len() >= BATCH_LINES || pending_bytes >= BATCH_BYTES {
                            publish(&mut pending, &mut pending_bytes);
                        }
                    }
                    if pending.is_empty() {
                        deadline = None;
                    } else {
                        deadline.get_or_insert_with(|| Instant::now() + BATCH_WINDOW);
                    }
                }
                None => break,
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                deadline = None;
                publish(&mut pending, &mut pending_bytes);
            }
        }
    }
    publish(&mut pending, &mut pending_bytes);
}
