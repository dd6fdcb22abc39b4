//! Log capture and retention: children's stdout/stderr split into tagged lines, each
//! written to `<dir>/<service>.log` (rotated by size, see [`file`] for the line format),
//! kept in a bounded ring per service for queries, and broadcast in batches to viewers.
//!
//! Shape: one reader thread per captured stream (raw reads, nothing else) → a hub-wide
//! byte budget → one writer thread (lines, levels, files) → one actor per service (ring,
//! queries) → one batcher → a broadcast of batches. A child only feels backpressure when
//! the budget ([`CAPTURE_BUDGET`]) is spent, i.e. when the disk is slower than the child
//! for that long; no line is dropped. A slow viewer skips lines and is told how many.
//!
//! - [`level`]: level parsing (JSON field or leading word);
//! - [`lines`]: byte chunks to lines;
//! - [`chunk`]: the lines of one read, kept together (no allocation per line);
//! - [`file`]: the rotated file and its line format;
//! - [`ring`]: the in-memory ring and the query filter;
//! - `capture`: the reader threads and the budget;
//! - `writer`: the writer thread;
//! - `actor`: the tasks.

mod actor;
mod capture;
pub mod chunk;
pub mod file;
pub mod level;
pub mod lines;
pub mod ring;
mod writer;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::snapshot::{Level, LogLine, Stream};
use actor::{LogCommand, LogBatch, LogActor};
use capture::Budget;
use chunk::Chunk;
use ring::{Filter, Ring};

pub use ring::LogQuery;
use writer::{Source, ToWriter};

/// Lines a query returns when it names no limit.
pub const DEFAULT_QUERY_LIMIT: usize = 500;
/// Batches a subscriber may fall behind before it skips (each at most 1,000 lines / 1 MiB).
const SUBSCRIBER_BATCHES: usize = 16;
/// Bytes read from children and not yet in their files, hub-wide: a child writing faster
/// than the disk takes is only held back past this.
pub const CAPTURE_BUDGET: usize = 16 * 1024 * 1024;
/// Reads queued to the writer thread (the budget bounds their bytes).
const WRITER_QUEUE: usize = 4096;

/// Where and how much to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Folder of the `<service>.log` files (created if missing).
    pub dir: PathBuf,
    /// Lines kept in memory per service.
    pub ring_lines: usize,
    /// A file is rotated once it would grow past this size.
    pub file_bytes: u64,
    /// Files kept per service, the current one included.
    pub files: usize,
}

impl LogConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ring_lines: 5000,
            file_bytes: 10 * 1024 * 1024,
            files: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no service `{0}` in the log hub")]
    UnknownService(String),
    #[error("the log hub has stopped")]
    Stopped,
    #[error("cannot start a log thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The handle to every service's logs. Cheap to clone; the tasks stop on the cancel token.
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    dir: PathBuf,
    config: LogConfig,
    /// A reload adds services; readers take no lock.
    services: ArcSwap<HashMap<String, LogActorHandle>>,
    to_writer: crossbeam_channel::Sender<ToWriter>,
    opens: crossbeam_channel::Sender<writer::Open>,
    budget: Budget,
    /// Numbers reader threads, so each stream's unfinished line stays its own.
    readers: AtomicU64,
    to_batcher: mpsc::Sender<Vec<LogLine>>,
    subscribers: broadcast::Sender<LogBatch>,
    /// Lines broadcast so far: where a new subscriber starts counting.
    published: Arc<AtomicU64>,
    cancel: CancellationToken,
    /// Cancelled by the writer thread once it has written its last line.
    written: CancellationToken,
}

#[derive(Clone)]
struct LogActorHandle {
    /// Its index in the writer thread.
    index: usize,
    commands: mpsc::Sender<LogCommand>,
}

impl LogHub {
    /// Opens each service's file and starts the actors. Must run inside a tokio runtime.
    ///
    /// Cancel the token after the children are stopped, so their last lines are kept:
    /// on cancel the writer thread writes what is queued, flushes and stops (see
    /// [`written`](Self::written)).
    pub fn start(
        config: LogConfig,
        services: &[String],
        cancel: CancellationToken,
    ) -> Result<Self, LogError> {
        Self::start_with_budget(config, services, cancel, CAPTURE_BUDGET)
    }

    fn start_with_budget(
        config: LogConfig,
        services: &[String],
        cancel: CancellationToken,
        budget: usize,
    ) -> Result<Self, LogError> {
        let (to_writer, writer_rx) = crossbeam_channel::bounded(WRITER_QUEUE);
        let (opens, opens_rx) = crossbeam_channel::bounded(64);
        let written = CancellationToken::new();
        let budget = Budget::new(budget);
        // Detached: it ends on the cancel token, or once every sender is gone.
        let _writer = writer::spawn(writer_rx, opens_rx, budget.clone(), written.clone()).map_err(LogError::Thread)?;
        // Queued behind every read so far: the writer keeps them, flushes and ends.
        let stop = to_writer.clone();
        let stopping = cancel.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            let _ended = tokio::task::spawn_blocking(move || stop.send(ToWriter::Stop)).await;
        });
        let (subscribers, _) = broadcast::channel(SUBSCRIBER_BATCHES);
        let (to_batcher, batcher_rx) = mpsc::channel(actor::LINE_QUEUE);
        let published = Arc::new(AtomicU64::new(0));
        tokio::spawn(actor::batcher(
            batcher_rx,
            subscribers.clone(),
            published.clone(),
            cancel.clone(),
        ));
        let hub = Self {
            inner: Arc::new(HubInner {
                dir: config.dir.clone(),
                config,
                services: ArcSwap::from_pointee(HashMap::new()),
                to_writer,
                opens,
                budget,
                readers: AtomicU64::new(0),
                to_batcher,
                subscribers,
                published,
                cancel,
                written,
            }),
        };
        for service in services {
            hub.add_service(service)?;
        }
        Ok(hub)
    }

    /// Opens `service`'s file and starts its actor (a service added by a reload); a
    /// service the hub already has keeps its lines. Call it from one task at a time.
    pub fn add_service(&self, service: &str) -> Result<(), LogError> {
        if self.inner.services.load().contains_key(service) {
            return Ok(());
        }
        let config = &self.inner.config;
        let file = file::LogFile::open(&config.dir, service, config.file_bytes, config.files)
            .map_err(|source| LogError::Open {
                path: file::log_path(&config.dir, service),
                source,
            })?;
        let index = self.inner.services.load().len();
        let (lines_tx, lines_rx) = mpsc::channel(actor::LINE_QUEUE);
        let (commands_tx, commands_rx) = mpsc::channel(16);
        let actor = LogActor {
            service: service.to_string(),
            ring: Ring::new(config.ring_lines),
            to_batcher: self.inner.to_batcher.clone(),
            subscribers: self.inner.subscribers.clone(),
        };
        // Before the service is visible: the writer knows it before any of its lines.
        let open = writer::Open { name: service.to_string(), service: index, file, actor: lines_tx };
        self.inner.opens.send(open).map_err(|_| LogError::Stopped)?;
        tokio::spawn(actor.run(lines_rx, commands_rx, self.inner.cancel.clone()));
        let handle = LogActorHandle {
            index,
            commands: commands_tx,
        };
        self.inner.services.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(service.to_string(), handle.clone());
            map
        });
        Ok(())
    }

    /// Resolves once the writer thread has written and flushed its last line (after the
    /// cancel token), so a process may exit without losing a backlog.
    pub async fn written(&self) {
        self.inner.written.cancelled().await;
    }

    /// The folder of the log files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The current log file of `service` (older ones end in `.1`, `.2`, …); characters
    /// other than letters, digits, `-` and `_` in the name become `_`.
    pub fn file_path(&self, service: &str) -> PathBuf {
        file::log_path(&self.inner.dir, service)
    }

    fn service(&self, service: &str) -> Result<LogActorHandle, LogError> {
        self.inner
            .services
            .load()
            .get(service)
            .cloned()
            .ok_or_else(|| LogError::UnknownService(service.to_string()))
    }

    /// Reads a child's stdout and stderr pipes until both end, each on a thread of its own.
    pub fn capture_child(
        &self,
        service: &str,
        replica: u32,
        stdout: ChildStdout,
        stderr: ChildStderr,
    ) -> Result<JoinHandle<()>, LogError> {
        let stdout = stdout.into_owned_fd().and_then(capture::blocking_pipe).map_err(LogError::Thread)?;
        let stderr = stderr.into_owned_fd().and_then(capture::blocking_pipe).map_err(LogError::Thread)?;
        self.capture(service, replica, stdout, stderr)
    }

    /// Reads a replica's stdout and stderr until both end, each on a thread of its own
    /// (blocking reads). The returned task finishes then, so a caller can wait for the
    /// last lines of an exited child.
    pub fn capture<O, E>(
        &self,
        service: &str,
        replica: u32,
        stdout: O,
        stderr: E,
    ) -> Result<JoinHandle<()>, LogError>
    where
        O: Read + Send + 'static,
        E: Read + Send + 'static,
    {
        let out = self.capture_stream(service, replica, Stream::Stdout, stdout)?;
        let err = self.capture_stream(service, replica, Stream::Stderr, stderr)?;
        Ok(tokio::spawn(async move {
            let _ended = tokio::join!(out, err);
        }))
    }

    /// Reads one stream of a replica until it ends (e.g. when stderr is merged into stdout).
    pub fn capture_stream<R>(
        &self,
        service: &str,
        replica: u32,
        stream: Stream,
        reader: R,
    ) -> Result<JoinHandle<()>, LogError>
    where
        R: Read + Send + 'static,
    {
        let source = Source {
            service: self.service(service)?.index,
            reader: self.inner.readers.fetch_add(1, Ordering::Relaxed),
            replica,
            stream,
        };
        let ended = capture::spawn_reader(reader, source, self.inner.to_writer.clone(), self.inner.budget.clone())
            .map_err(LogError::Thread)?;
        Ok(tokio::spawn(async move {
            let _thread_gone = ended.await;
        }))
    }

    /// Adds a line from the engine itself (e.g. "program `x` not found") to a service's
    /// log, on stderr, prefixed `[microdeck]`.
    pub async fn note(
        &self,
        service: &str,
        replica: u32,
        level: Level,
        text: impl AsRef<str>,
    ) -> Result<(), LogError> {
        let text = format!("[microdeck] {}", text.as_ref());
        let mut chunk = Chunk::with_capacity(crate::events::now_ms(), replica, Stream::Stderr, text.len(), 1);
        chunk.push_with_level(&text, Some(level));
        let note = ToWriter::Note { service: self.service(service)?.index, chunk };
        match self.inner.to_writer.try_send(note) {
            Ok(()) => Ok(()),
            // The writer is behind a flood: wait for room off the runtime.
            Err(crossbeam_channel::TrySendError::Full(note)) => {
                let to_writer = self.inner.to_writer.clone();
                match tokio::task::spawn_blocking(move || to_writer.send(note)).await {
                    Ok(Ok(())) => Ok(()),
                    _ => Err(LogError::Stopped),
                }
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(LogError::Stopped),
        }
    }

    /// The newest `limit` (default 500) lines matching `query`, oldest first; across
    /// services (no `service`) they are merged by time.
    pub async fn query(&self, query: &LogQuery) -> Vec<LogLine> {
        let limit = query.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
        let filter = Filter::new(query);
        let services = self.inner.services.load();
        let targets: Vec<&LogActorHandle> = match &query.service {
            Some(name) => services.get(name).into_iter().collect(),
            None => services.values().collect(),
        };
        let answers = join_all(targets.into_iter().map(|handle| {
            let filter = filter.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                if handle
                    .commands
                    .send(LogCommand::Query(filter, limit, reply))
                    .await
                    .is_err()
                {
                    return Vec::new();
                }
                answer.await.unwrap_or_default()
            }
        }))
        .await;
        let mut lines: Vec<LogLine> = answers.into_iter().flatten().collect();
        if query.service.is_none() {
            // Stable: lines of one service keep their order when times tie.
            lines.sort_by_key(|l| l.at);
        }
        let excess = lines.len().saturating_sub(limit);
        lines.drain(..excess);
        lines
    }

    /// A live feed of every new line, in batches. Drop it to unsubscribe.
    pub fn subscribe(&self) -> LogSubscription {
        let rx = self.inner.subscribers.subscribe();
        LogSubscription {
            rx,
            next: self.inner.published.load(Ordering::Acquire),
            cancel: self.inner.cancel.clone(),
        }
    }
}

/// Batches of new lines. A subscriber that falls behind skips lines; [`recv`](Self::recv)
/// says how many it missed before each batch.
pub struct LogSubscription {
    rx: broadcast::Receiver<LogBatch>,
    /// Index of the next line this subscriber expects.
    next: u64,
    cancel: CancellationToken,
}

impl LogSubscription {
    /// The next batch and the number of lines skipped before it; `None` once the hub stops.
    pub async fn recv(&mut self) -> Option<(Vec<LogLine>, u64)> {
        let (lines, skipped) = self.recv_shared().await?;
        Some((lines.to_vec(), skipped))
    }

    /// As [`recv`](Self::recv), with the batch shared rather than copied.
    pub async fn recv_shared(&mut self) -> Option<(Arc<[LogLine]>, u64)> {
        loop {
            let received = tokio::select! {
                _ = self.cancel.cancelled() => return None,
                received = self.rx.recv() => received,
            };
            match received {
                Ok(batch) => {
                    let skipped = batch.first.saturating_sub(self.next);
                    self.next = self.next.max(batch.first + batch.lines.len() as u64);
                    return Some((batch.lines, skipped));
                }
                // The next batch's index tells how many lines were lost.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
