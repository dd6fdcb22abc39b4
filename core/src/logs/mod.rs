//! Log capture and retention: children's stdout/stderr split into tagged lines, each
//! written to `<dir>/<service>.log` (rotated by size, see [`file`] for the line format),
//! kept in a bounded ring per service for queries, and broadcast in batches to viewers.
//!
//! Shape: one reader task per captured replica → bounded queue → one actor per service
//! (file + ring) → one batcher → a broadcast of batches. Disk writing is the only
//! backpressure a child ever feels; a slow viewer skips lines and is told how many.
//!
//! - [`level`]: level parsing (JSON field or leading word);
//! - [`lines`]: byte chunks to lines;
//! - [`chunk`]: the lines of one read, kept together (no allocation per line);
//! - [`file`]: the rotated file and its line format;
//! - [`ring`]: the in-memory ring and the query filter;
//! - `actor`: the tasks.

mod actor;
pub mod chunk;
pub mod file;
pub mod level;
pub mod lines;
pub mod ring;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use tokio::io::AsyncRead;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::LogQuery;
use crate::snapshot::{Level, LogLine, Stream};
use actor::{Command, LogBatch, ServiceActor};
use chunk::Chunk;
use ring::{Filter, Ring};

/// Lines a query returns when it names no limit.
pub const DEFAULT_QUERY_LIMIT: usize = 500;
/// Batches a subscriber may fall behind before it skips (each at most 1,000 lines / 1 MiB).
const SUBSCRIBER_BATCHES: usize = 16;

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
}

/// The handle to every service's logs. Cheap to clone; the tasks stop on the cancel token.
#[derive(Clone)]
pub struct LogHub {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    config: LogConfig,
    /// A reload adds services; readers take no lock.
    services: ArcSwap<HashMap<String, ServiceHandle>>,
    to_batcher: mpsc::Sender<Vec<LogLine>>,
    subscribers: broadcast::Sender<LogBatch>,
    /// Lines broadcast so far: where a new subscriber starts counting.
    published: Arc<AtomicU64>,
    cancel: CancellationToken,
}

#[derive(Clone)]
struct ServiceHandle {
    lines: mpsc::Sender<Chunk>,
    commands: mpsc::Sender<Command>,
}

impl LogHub {
    /// Opens each service's file and starts the actors. Must run inside a tokio runtime.
    ///
    /// Cancel the token after the children are stopped, so their last lines are kept:
    /// on cancel each actor writes what is queued, flushes and stops.
    pub fn start(
        config: LogConfig,
        services: &[String],
        cancel: CancellationToken,
    ) -> Result<Self, LogError> {
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
            inner: Arc::new(Inner {
                dir: config.dir.clone(),
                config,
                services: ArcSwap::from_pointee(HashMap::new()),
                to_batcher,
                subscribers,
                published,
                cancel,
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
        let file = file::LogFile::open_blocking(&config.dir, service, config.file_bytes, config.files)
            .map_err(|source| LogError::Open {
                path: file::log_path(&config.dir, service),
                source,
            })?;
        let (lines_tx, lines_rx) = mpsc::channel(actor::LINE_QUEUE);
        let (commands_tx, commands_rx) = mpsc::channel(16);
        let actor = ServiceActor {
            service: service.to_string(),
            file,
            ring: Ring::new(config.ring_lines),
            seq: 0,
            to_batcher: self.inner.to_batcher.clone(),
            subscribers: self.inner.subscribers.clone(),
            write_failed: false,
        };
        tokio::spawn(actor.run(lines_rx, commands_rx, self.inner.cancel.clone()));
        let handle = ServiceHandle {
            lines: lines_tx,
            commands: commands_tx,
        };
        self.inner.services.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(service.to_string(), handle.clone());
            map
        });
        Ok(())
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

    fn service(&self, service: &str) -> Result<ServiceHandle, LogError> {
        self.inner
            .services
            .load()
            .get(service)
            .cloned()
            .ok_or_else(|| LogError::UnknownService(service.to_string()))
    }

    /// Reads a replica's stdout and stderr until both end. The returned task finishes
    /// then, so a caller can wait for the last lines of an exited child.
    pub fn capture<O, E>(
        &self,
        service: &str,
        replica: u32,
        stdout: O,
        stderr: E,
    ) -> Result<JoinHandle<()>, LogError>
    where
        O: AsyncRead + Unpin + Send + 'static,
        E: AsyncRead + Unpin + Send + 'static,
    {
        let tx = self.service(service)?.lines.clone();
        Ok(tokio::spawn(async move {
            tokio::join!(
                actor::read_stream(stdout, replica, Stream::Stdout, tx.clone()),
                actor::read_stream(stderr, replica, Stream::Stderr, tx),
            );
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
        R: AsyncRead + Unpin + Send + 'static,
    {
        let tx = self.service(service)?.lines.clone();
        Ok(tokio::spawn(actor::read_stream(
            reader, replica, stream, tx,
        )))
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
        let mut line = Chunk::with_capacity(actor::now_ms(), replica, Stream::Stderr, text.len(), 1);
        line.push_with_level(&text, Some(level));
        self.service(service)?
            .lines
            .send(line)
            .await
            .map_err(|_| LogError::Stopped)
    }

    /// The newest `limit` (default 500) lines matching `query`, oldest first; across
    /// services (no `service`) they are merged by time.
    pub async fn query(&self, query: &LogQuery) -> Vec<LogLine> {
        let limit = query.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
        let filter = Filter::new(query);
        let services = self.inner.services.load();
        let targets: Vec<&ServiceHandle> = match &query.service {
            Some(name) => services.get(name).into_iter().collect(),
            None => services.values().collect(),
        };
        let answers = join_all(targets.into_iter().map(|handle| {
            let filter = filter.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                if handle
                    .commands
                    .send(Command::Query(filter, limit, reply))
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
        loop {
            let received = tokio::select! {
                _ = self.cancel.cancelled() => return None,
                received = self.rx.recv() => received,
            };
            match received {
                Ok(batch) => {
                    let skipped = batch.first.saturating_sub(self.next);
                    self.next = self.next.max(batch.first + batch.lines.len() as u64);
                    return Some((batch.lines.to_vec(), skipped));
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
