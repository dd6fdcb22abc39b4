//! The tasks behind a [`LogHub`](super::LogHub): one actor per service (file + ring),
//! one batcher feeding subscribers, and the stream readers of each replica.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::chunk::Chunk;
use super::file::LogFile;
use super::lines::LineSplitter;
use super::ring::{Filter, Ring};
use crate::snapshot::{LogLine, Stream};

/// Bytes asked of a pipe per read: large reads keep a flood cheap.
const READ_CHUNK: usize = 64 * 1024;
/// Batches of lines queued from readers to a service actor; full = the reader waits (disk pace).
pub const LINE_QUEUE: usize = 32;
/// Buffered file lines reach the OS at most this long after they arrived.
const FLUSH_AFTER: Duration = Duration::from_millis(50);
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

pub enum Command {
    Query(Filter, usize, oneshot::Sender<Vec<LogLine>>),
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads one stream to EOF in large chunks and queues its lines to the service actor,
/// one [`Chunk`] per read.
pub async fn read_stream<R>(
    mut reader: R,
    replica: u32,
    stream: Stream,
    tx: mpsc::Sender<Chunk>,
) where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; READ_CHUNK];
    let mut splitter = LineSplitter::default();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let data = &buf[..n];
        // Exact sizes: a chunk may be kept a long time in the ring.
        let lines = memchr::memchr_iter(b'\n', data).count() + 1;
        let mut chunk = Chunk::with_capacity(now_ms(), replica, stream, n + splitter.pending(), lines);
        splitter.feed(data, &mut |text| chunk.push(text));
        if !chunk.is_empty() && tx.send(chunk).await.is_err() {
            // The hub has stopped: keep reading, so the child never blocks on a full pipe.
            drain(&mut reader, &mut buf).await;
            return;
        }
    }
    let mut chunk = Chunk::with_capacity(now_ms(), replica, stream, splitter.pending(), 1);
    splitter.finish(&mut |text| chunk.push(text));
    if !chunk.is_empty() {
        let _closed = tx.send(chunk).await;
    }
}

async fn drain<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) {
    loop {
        match reader.read(buf).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// One service's actor: numbers lines, writes them to its file, keeps its ring,
/// passes them on to the batcher, and answers queries.
pub struct ServiceActor {
    pub service: String,
    pub file: LogFile,
    pub ring: Ring,
    pub seq: u64,
    pub to_batcher: mpsc::Sender<Vec<LogLine>>,
    pub subscribers: broadcast::Sender<LogBatch>,
    pub write_failed: bool,
}

impl ServiceActor {
    pub async fn run(
        mut self,
        mut lines: mpsc::Receiver<Chunk>,
        mut commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) {
        let mut flush_at: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    // Keep what is already queued, then stop.
                    while let Ok(batch) = lines.try_recv() {
                        self.ingest(batch).await;
                    }
                    break;
                }
                Some(command) = commands.recv() => self.answer(command),
                batch = lines.recv() => match batch {
                    Some(batch) => {
                        self.ingest(batch).await;
                        flush_at.get_or_insert_with(|| Instant::now() + FLUSH_AFTER);
                    }
                    None => break,
                },
                _ = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    flush_at = None;
                    self.flush().await;
                }
            }
        }
        self.flush().await;
    }

    async fn ingest(&mut self, chunk: Chunk) {
        let first_seq = self.seq + 1;
        self.seq += chunk.len() as u64;
        if let Err(e) = self.file.write(&chunk).await {
            self.report_write_error(&e);
        }
        // Lines become `LogLine`s only for subscribers (a headless engine has none).
        if self.subscribers.receiver_count() > 0 {
            let shared: Vec<LogLine> =
                (0..chunk.len()).map(|i| chunk.log_line(i, first_seq + i as u64, &self.service)).collect();
            // The batcher only copies and broadcasts, so this wait is short.
            let _closed = self.to_batcher.send(shared).await;
        }
        self.ring.push(first_seq, chunk);
    }

    async fn flush(&mut self) {
        if let Err(e) = self.file.flush().await {
            self.report_write_error(&e);
        }
    }

    fn report_write_error(&mut self, e: &std::io::Error) {
        // Once per actor: a full disk must not flood the engine's own log.
        if !self.write_failed {
            self.write_failed = true;
            tracing::warn!(service = %self.service, path = %self.file.path().display(), "cannot write log file: {e}");
        }
    }

    fn answer(&self, command: Command) {
        match command {
            Command::Query(filter, limit, reply) => {
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
