//! The hub's writer thread: turns what the readers read into numbered lines, writes them
//! to each service's file (blocking `std::fs`, buffered) and hands them on to the
//! service's actor for its ring and feed. Off the tokio runtime, so a flood's formatting
//! and disk time never hold up a reader, a query or the supervisor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::capture::Budget;
use super::chunk::Chunk;
use super::file::LogFile;
use super::lines::LineSplitter;
use crate::snapshot::Stream;

/// Buffered file lines reach the OS at most this long after they arrived.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// One stream of one replica: `reader` is unique per reader thread, so a restarted
/// replica's lines never join the unfinished line of its predecessor.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub service: usize,
    pub reader: u64,
    pub replica: u32,
    pub stream: Stream,
}

/// What readers and the hub send to the writer thread.
pub enum ToWriter {
    /// One read of a stream; its bytes count against the budget until written.
    Bytes { source: Source, at: u64, bytes: Vec<u8>, permit: Option<OwnedSemaphorePermit> },
    /// The stream ended: an unfinished last line is a line.
    End(Source),
    /// Lines from the engine itself.
    Note { service: usize, chunk: Chunk },
    /// The hub is stopping: write what is queued, flush, end.
    Stop,
}

/// A service joining the writer: its name, index in [`Source::service`], file and actor.
pub struct Open {
    pub name: String,
    pub service: usize,
    pub file: LogFile,
    pub actor: mpsc::Sender<(u64, Chunk)>,
}

struct ServiceFile {
    name: String,
    file: LogFile,
    /// The number of the last line.
    seq: u64,
    actor: mpsc::Sender<(u64, Chunk)>,
    dirty: bool,
    write_failed: bool,
}

impl ServiceFile {
    fn ingest(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        let first_seq = self.seq + 1;
        self.seq += chunk.len() as u64;
        let written = self.file.write(&chunk);
        self.check(written);
        self.dirty = true;
        // The actor only keeps and forwards; it stops on cancel, after which lines go to disk only.
        let _stopped = self.actor.blocking_send((first_seq, chunk));
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.dirty) {
            let flushed = self.file.flush();
            self.check(flushed);
        }
    }

    fn check(&mut self, result: std::io::Result<()>) {
        // Once per service: a full disk must not flood the engine's own log.
        if let Err(e) = result {
            if !std::mem::replace(&mut self.write_failed, true) {
                tracing::warn!(service = %self.name, path = %self.file.path().display(), "cannot write log file: {e}");
            }
        }
    }
}

/// Starts the writer thread; it ends on [`ToWriter::Stop`] or once every sender is gone,
/// and then closes `budget` (nothing gives permits back any more) and cancels `written`.
pub fn spawn(
    data: Receiver<ToWriter>,
    opens: Receiver<Open>,
    budget: Budget,
    written: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("microdeck-log-write".into()).spawn(move || {
        let _written = written.drop_guard();
        // Reads sent after the last drain stay in the channel with their permits: without
        // this, a reader of a child still writing waits on the budget forever.
        let _closed = budget.close_on_drop();
        Writer::default().run(&data, &opens);
    })
}

#[derive(Default)]
struct Writer {
    services: Vec<Option<ServiceFile>>,
    /// Each open stream's unfinished line, by reader.
    streams: HashMap<u64, Unfinished>,
}

struct Unfinished {
    source: Source,
    /// When its last bytes were read: the time of a last line without a newline.
    at: u64,
    splitter: LineSplitter,
}

impl Writer {
    fn run(mut self, data: &Receiver<ToWriter>, opens: &Receiver<Open>) {
        let mut flush_at: Option<Instant> = None;
        loop {
            let message = match flush_at {
                Some(at) => data.recv_deadline(at),
                None => data.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match message {
                Ok(ToWriter::Stop) => break,
                Ok(message) => {
                    // A service is opened before any line of it can be sent.
                    self.open_new(opens);
                    self.handle(message);
                    let now = Instant::now();
                    match flush_at {
                        Some(at) if now >= at => {
                            self.flush();
                            flush_at = None;
                        }
                        Some(_) => {}
                        None => flush_at = Some(now + FLUSH_AFTER),
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.flush();
                    flush_at = None;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.open_new(opens);
        // Keep what is already queued (not what a live child goes on writing), the
        // unfinished lines included, then stop.
        for message in data.try_iter().take(data.len()) {
            self.handle(message);
        }
        for (_, stream) in std::mem::take(&mut self.streams) {
            self.finish(stream);
        }
        self.flush();
    }

    fn open_new(&mut self, opens: &Receiver<Open>) {
        while let Ok(open) = opens.try_recv() {
            if self.services.len() <= open.service {
                self.services.resize_with(open.service + 1, || None);
            }
            self.services[open.service] =
                Some(ServiceFile { name: open.name, file: open.file, seq: 0, actor: open.actor, dirty: false, write_failed: false });
        }
    }

    fn handle(&mut self, message: ToWriter) {
        match message {
            ToWriter::Bytes { source, at, bytes, permit } => {
                let stream = self.streams.entry(source.reader).or_insert_with(|| Unfinished { source, at, splitter: LineSplitter::default() });
                stream.at = at;
                let splitter = &mut stream.splitter;
                // Exact sizes: a chunk may be kept a long time in the ring.
                let lines = memchr::memchr_iter(b'\n', &bytes).count() + 1;
                let mut chunk = Chunk::with_capacity(at, source.replica, source.stream, bytes.len() + splitter.pending(), lines);
                splitter.feed(&bytes, &mut |text| chunk.push(text));
                drop(bytes);
                self.ingest(source.service, chunk);
                // Only now is the budget given back: the lines are in the file's buffer.
                drop(permit);
            }
            ToWriter::End(source) => {
                if let Some(stream) = self.streams.remove(&source.reader) {
                    self.finish(stream);
                }
            }
            ToWriter::Note { service, chunk } => self.ingest(service, chunk),
            ToWriter::Stop => {}
        }
    }

    /// Writes a stream's last line if it had no newline.
    fn finish(&mut self, mut stream: Unfinished) {
        let Unfinished { source, at, .. } = stream;
        let mut chunk = Chunk::with_capacity(at, source.replica, source.stream, stream.splitter.pending(), 1);
        stream.splitter.finish(&mut |text| chunk.push(text));
        self.ingest(source.service, chunk);
    }

    fn ingest(&mut self, service: usize, chunk: Chunk) {
        if let Some(Some(file)) = self.services.get_mut(service) {
            file.ingest(chunk);
        }
    }

    fn flush(&mut self) {
        for file in self.services.iter_mut().flatten() {
            file.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer thread with one service (`api`, index 0) whose file is in `dir`.
    fn writer(dir: &std::path::Path) -> (crossbeam_channel::Sender<ToWriter>, mpsc::Receiver<(u64, Chunk)>, std::thread::JoinHandle<()>) {
        let (data, data_rx) = crossbeam_channel::bounded(16);
        let (opens, opens_rx) = crossbeam_channel::bounded(1);
        let (actor, actor_rx) = mpsc::channel(64);
        let file = LogFile::open(dir, "api", 1 << 20, 1).expect("open");
        opens.send(Open { name: "api".into(), service: 0, file, actor }).expect("open sent");
        let thread = spawn(data_rx, opens_rx, Budget::new(0), CancellationToken::new()).expect("writer thread");
        (data, actor_rx, thread)
    }

    fn bytes(reader: u64, replica: u32, text: &str) -> ToWriter {
        ToWriter::Bytes { source: source(reader, replica), at: 7, bytes: text.as_bytes().to_vec(), permit: None }
    }

    fn source(reader: u64, replica: u32) -> Source {
        Source { service: 0, reader, replica, stream: Stream::Stdout }
    }

    /// (replica, text) of every line in the file.
    fn file_lines(dir: &std::path::Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(dir.join("api.log")).expect("read");
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(5, ' ').collect();
                (f[1].to_string(), f[4].to_string())
            })
            .collect()
    }

    #[test]
    fn a_line_split_across_reads_is_one_line_and_restarts_do_not_mix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, mut actor, thread) = writer(dir.path());
        // Reader 1 (replica 0) ends mid-line; reader 2 is its restart, same replica.
        for m in [bytes(1, 0, "hel"), bytes(2, 0, "new "), bytes(1, 0, "lo\nwor"), bytes(2, 0, "life\n"), bytes(1, 0, "ld\nlast")] {
            data.send(m).expect("send");
        }
        data.send(ToWriter::End(source(1, 0))).expect("send");
        data.send(ToWriter::Stop).expect("send");
        thread.join().expect("writer ends");
        let want = [("0", "hello"), ("0", "new life"), ("0", "world"), ("0", "last")];
        let got = file_lines(dir.path());
        assert_eq!(got, want.map(|(r, t)| (r.to_string(), t.to_string())));
        // The actor got the same lines, numbered from 1 without a gap.
        let mut seq = 1;
        while let Ok((first, chunk)) = actor.try_recv() {
            assert_eq!(first, seq);
            seq += chunk.len() as u64;
        }
        assert_eq!(seq, 5);
    }

    #[test]
    fn stop_keeps_queued_reads_and_unfinished_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, _actor, thread) = writer(dir.path());
        data.send(bytes(1, 3, "one\ntwo")).expect("send");
        data.send(ToWriter::Note { service: 0, chunk: Chunk::with_capacity(8, 3, Stream::Stderr, 0, 0) }).expect("send");
        data.send(ToWriter::Stop).expect("send");
        thread.join().expect("writer ends");
        // Once it has ended, a reader's send fails (and the reader drains its pipe).
        assert!(data.send(bytes(1, 3, "late\n")).is_err());
        assert_eq!(file_lines(dir.path()), [("3".into(), "one".into()), ("3".into(), "two".into())]);
    }
}
