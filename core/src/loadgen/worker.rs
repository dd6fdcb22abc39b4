//! One connection of a load run: a task that owns a keep-alive HTTP/1.1 connection,
//! takes the next due request from the run's queue, sends it and reports how it ended.
//!
//! The connection is driven inside the worker's own task (no task per request, no
//! hand-off to a pooled connection's task), so a request costs no cross-task wake-up.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::report::{Ending, Outcome};
use super::request::Prepared;
use super::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// A request due to be sent: when the schedule said, and which of the scenario's.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub scheduled: Instant,
    pub request: usize,
}

/// What every worker of a run shares.
#[derive(Clone)]
pub struct Pool {
    pub target: SocketAddr,
    pub requests: Arc<[Prepared]>,
    pub jobs: async_channel::Receiver<Job>,
    pub done: mpsc::Sender<Outcome>,
    /// Workers holding a job right now (the run adds workers when none is free).
    pub busy: Arc<AtomicUsize>,
    pub cancel: CancellationToken,
}

type Body = Full<Bytes>;

/// Why an exchange failed.
enum Failure {
    Connect,
    /// Not written: the connection was already closing. Safe to send again.
    Unsent,
    Other,
}

/// One open connection and the future that drives it.
struct Conn {
    sender: SendRequest<Body>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Body>>>,
    /// The driver has finished (the server closed, or an error): open a new one.
    ended: bool,
}

impl Conn {
    async fn open(target: SocketAddr) -> Result<Conn, Failure> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => return Err(Failure::Connect),
        };
        // Latency only: a socket without NODELAY still works.
        stream.set_nodelay(true).ok();
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await.map_err(|_| Failure::Connect)?;
        Ok(Conn { sender, driver: Box::pin(driver), ended: false })
    }

    /// False once the server closed it; an idle connection's close is noticed here.
    fn usable(&mut self) -> bool {
        if !self.ended && self.driver.as_mut().now_or_never().is_some() {
            self.ended = true;
        }
        !self.ended && !self.sender.is_closed()
    }
}

/// One request and its whole body on `conn`; the status, or why it failed.
async fn exchange(conn: &mut Conn, request: hyper::Request<Body>) -> Result<u16, Failure> {
    let sender = &mut conn.sender;
    let work = async move {
        let sent = sender.send_request(request).await;
        let response = sent.map_err(|e| if e.is_canceled() { Failure::Unsent } else { Failure::Other })?;
        let status = response.status().as_u16();
        // The whole body, so the time covers the response and the connection is reusable.
        response.into_body().collect().await.map_err(|_| Failure::Other)?;
        Ok(status)
    };
    // Both in this task: the driver writes the request and reads the response for `work`.
    let (driver, ended) = (&mut conn.driver, &mut conn.ended);
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            _ = driver.as_mut(), if !*ended => *ended = true,
        }
    }
}

impl Pool {
    /// Serves jobs until the queue is closed and empty, or the run is cancelled (the job
    /// in hand is finished and reported first).
    pub async fn work(self) {
        let mut conn: Option<Conn> = None;
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
            if self.done.send(Outcome { scheduled: job.scheduled, done: Instant::now(), ending }).await.is_err() {
                return;
            }
        }
    }

    /// Sends `prepared` on the kept connection (or a new one), under the request timeout.
    async fn send(&self, conn: &mut Option<Conn>, prepared: &Prepared) -> Ending {
        let attempt = async {
            // A kept connection the server has since closed is replaced once.
            for _ in 0..2 {
                let fresh = !conn.as_mut().is_some_and(Conn::usable);
                if fresh {
                    *conn = Some(Conn::open(self.target).await?);
                }
                let Some(c) = conn.as_mut() else { return Err(Failure::Connect) };
                match exchange(c, prepared.on_connection()).await {
                    Err(Failure::Unsent) if !fresh => *conn = None,
                    other => return other,
                }
            }
            Err(Failure::Other)
        };
        let ending = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(Ok(status)) => Ending::Status(status),
            Ok(Err(Failure::Connect)) => Ending::Connect,
            Ok(Err(Failure::Unsent | Failure::Other)) => Ending::Other,
            Err(_) => Ending::Timeout,
        };
        if !matches!(ending, Ending::Status(_)) {
            // Half a request may be on the wire: never reuse that connection.
            *conn = None;
        }
        ending
    }
}
