//! Each client connection's own HTTP/1.1 connections to the replicas, driven inside that
//! client connection's task: a request goes out and its answer comes back with no hand-off
//! to another task (no pool, no cross-task wake-up per request).
//!
//! A client connection carries one request at a time, so it keeps at most one upstream
//! connection per replica it has sent to. Every request is still balanced on its own: a
//! kept client connection reaches replicas added after it connected, over a new upstream
//! connection the first time. A kept upstream connection that closed (its replica left or
//! restarted) is replaced by a new one; one to a replica no longer in the set is never
//! picked again and is dropped once it closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::balance::Backend;

pub type UpstreamBody = BoxBody<Bytes, hyper::Error>;
pub type Sender = SendRequest<UpstreamBody>;
/// An upstream connection's I/O, polled by the client connection's task.
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why no upstream connection could be had.
#[derive(Debug)]
pub struct ConnectError(pub String);

/// The upstream connections of one client connection. Cloned into each request's handler;
/// the drivers of new connections go to the client connection's task over `drivers`.
#[derive(Clone)]
pub struct Upstreams {
    /// Taken out while a request uses one (one request at a time: never contended).
    kept: Arc<Mutex<Vec<(Backend, Sender)>>>,
    drivers: mpsc::UnboundedSender<Driver>,
}

impl Upstreams {
    /// The connections' store and the receiving end of their drivers, for the task that
    /// serves the client connection to poll.
    pub fn new() -> (Upstreams, mpsc::UnboundedReceiver<Driver>) {
        let (drivers, receiver) = mpsc::unbounded_channel();
        (Upstreams { kept: Arc::new(Mutex::new(Vec::new())), drivers }, receiver)
    }

    /// A sender ready for a request to `backend`: the kept one if it is still open, else a
    /// new connection.
    pub async fn sender(&self, backend: Backend) -> Result<Sender, ConnectError> {
        if let Some(mut kept) = self.take(backend) {
            if kept.ready().await.is_ok() {
                return Ok(kept);
            }
        }
        self.connect(backend).await
    }

    /// Keeps `sender` for the next request to `backend`, and forgets closed ones.
    pub fn keep(&self, backend: Backend, sender: Sender) {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.retain(|(_, s)| !s.is_closed());
        kept.push((backend, sender));
    }

    fn take(&self, backend: Backend) -> Option<Sender> {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = kept.iter().position(|(b, _)| *b == backend)?;
        Some(kept.swap_remove(at).1)
    }

    /// A new connection to `backend`, its driver handed to the client connection's task.
    pub async fn connect(&self, backend: Backend) -> Result<Sender, ConnectError> {
        let (sender, connection) = handshake(backend).await?;
        let driver: Driver = Box::pin(async move {
            // An upstream connection that breaks fails its request, which answers for it.
            let _closed = connection.await;
        });
        self.drivers.send(driver).map_err(|_| ConnectError("the client connection is closing".into()))?;
        Ok(sender)
    }
}

/// A connection for an upgrade (WebSocket…), driven by a task of its own: once the replica
/// answers 101 the tunnel outlives the client connection's HTTP handling.
pub async fn connect_for_upgrade(backend: Backend, tasks: &TaskTracker) -> Result<Sender, ConnectError> {
    let (sender, connection) = handshake(backend).await?;
    tasks.spawn(async move {
        let _closed = connection.with_upgrades().await;
    });
    Ok(sender)
}

async fn handshake(
    backend: Backend,
) -> Result<(Sender, http1::Connection<TokioIo<TcpStream>, UpstreamBody>), ConnectError> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(ConnectError(format!("tcp connect error: {e}"))),
        Err(_) => return Err(ConnectError(format!("tcp connect timed out after {CONNECT_TIMEOUT:?}"))),
    };
    // Latency only: a socket without NODELAY still forwards.
    stream.set_nodelay(true).ok();
    http1::handshake(TokioIo::new(stream)).await.map_err(|e| ConnectError(format!("handshake: {e}")))
}
