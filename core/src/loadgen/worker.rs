//! One connection of a load run: a task that owns a keep-alive HTTP/1.1 connection,
//! takes the next due request from the run's queue, sends it and reports how it ended.
//!
//! The worker writes the request's pre-encoded bytes and reads the response with
//! [`super::wire`] in its own task: no task per request, no hand-off to a pooled
//! connection's task, no allocation per request.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::report::{Ending, Completion};
use super::request::Prepared;
use crate::http1::{Done, ResponseReader};
use super::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// Read this much at a time; a response's body is consumed as it comes, never kept.
const READ_BUF: usize = 16 * 1024;

/// A request due to be sent: when the schedule said, and which of the scenario's.
#[derive(Debug, Clone, Copy)]
pub struct ScheduledRequest {
    pub scheduled: Instant,
    pub request: usize,
}

/// What every worker of a run shares.
#[derive(Clone)]
pub struct Pool {
    pub target: SocketAddr,
    pub requests: Arc<[Prepared]>,
    pub jobs: async_channel::Receiver<ScheduledRequest>,
    pub done: mpsc::Sender<Completion>,
    /// Workers holding a job right now (the run adds workers when none is free).
    pub busy: Arc<AtomicUsize>,
    pub cancel: CancellationToken,
}

/// Why an exchange failed.
enum Failure {
    Connect,
    /// The kept connection closed before any byte of the response: the server had let it
    /// go idle-closed, so the request was not served. Safe to send again on a fresh one.
    Unsent,
    Other,
}

/// One open keep-alive connection and the bytes read past the last response.
struct WorkerConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl WorkerConn {
    async fn open(target: SocketAddr) -> Result<WorkerConn, Failure> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => return Err(Failure::Connect),
        };
        // Latency only: a socket without NODELAY still works.
        stream.set_nodelay(true).ok();
        Ok(WorkerConn { stream, buf: BytesMut::with_capacity(READ_BUF) })
    }

    /// One request and its whole response on this connection: the status, and whether
    /// the connection can carry the next one.
    async fn exchange(&mut self, prepared: &Prepared) -> Result<Done, Failure> {
        // Bytes left over from a finished response mean the server is out of step.
        if !self.buf.is_empty() {
            return Err(Failure::Other);
        }
        let mut reader = ResponseReader::new(prepared.method());
        if let Err(e) = self.stream.write_all(prepared.wire()).await {
            // Refused at once on a kept connection: the server had closed it.
            return Err(if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) { Failure::Unsent } else { Failure::Other });
        }
        loop {
            if self.buf.capacity() - self.buf.len() < READ_BUF / 4 {
                self.buf.reserve(READ_BUF);
            }
            let read = self.stream.read_buf(&mut self.buf).await;
            match read {
                Ok(0) => {
                    return match reader.closed() {
                        Ok(done) => Ok(done),
                        Err(_) if reader.untouched() => Err(Failure::Unsent),
                        Err(_) => Err(Failure::Other),
                    };
                }
                Ok(_) => match reader.read(&mut self.buf) {
                    Ok(Some(done)) => return Ok(done),
                    Ok(None) => {}
                    Err(_) => return Err(Failure::Other),
                },
                Err(_) if reader.untouched() => return Err(Failure::Unsent),
                Err(_) => return Err(Failure::Other),
            }
        }
    }
}

impl Pool {
    /// Serves jobs until the queue is closed and empty, or the run is cancelled (the job
    /// in hand is finished and reported first).
    pub async fn work(self) {
        let mut conn: Option<WorkerConn> = None;
        loop {
            let job = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                job = self.jobs.recv() => match job {
                    Ok(job) => job,
                    Err(_) => return, // closed and empty: the run is over
                },
            };
            self.busy.fetch_add(1, Ordering::Relaxed);
            let ending = match self.requests.get(job.request) {
                // Waited for a connection past the timeout: not worth sending any more.
                _ if job.scheduled.elapsed() >= REQUEST_TIMEOUT => Ending::Timeout,
                Some(prepared) => self.send(&mut conn, prepared).await,
                None => Ending::Other,
            };
            self.busy.fetch_sub(1, Ordering::Relaxed);
            // The run counts every request it handed out; it only stops listening once all are in.
            if self.done.send(Completion { scheduled: job.scheduled, done: Instant::now(), ending }).await.is_err() {
                return;
            }
        }
    }

    /// Sends `prepared` on the kept connection (or a new one), under the request timeout.
    async fn send(&self, conn: &mut Option<WorkerConn>, prepared: &Prepared) -> Ending {
        let attempt = async {
            // A kept connection the server has since closed is replaced once.
            for _ in 0..2 {
                let fresh = conn.is_none();
                if fresh {
                    *conn = Some(WorkerConn::open(self.target).await?);
                }
                let Some(c) = conn.as_mut() else { return Err(Failure::Connect) };
                match c.exchange(prepared).await {
                    Err(Failure::Unsent) if !fresh => *conn = None,
                    other => return other,
                }
            }
            Err(Failure::Other)
        };
        let ending = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(Ok(done)) => {
                if !done.reusable {
                    *conn = None;
                }
                return Ending::Status(done.status);
            }
            Ok(Err(Failure::Connect)) => Ending::Connect,
            Ok(Err(Failure::Unsent | Failure::Other)) => Ending::Other,
            Err(_) => Ending::Timeout,
        };
        // Half a request may be on the wire: never reuse that connection.
        *conn = None;
        ending
    }
}
