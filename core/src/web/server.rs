//! The local API's connections: HTTP/1.1 (what a browser speaks to a plain-http address), a
//! cap on open connections, a time limit on a request's head, and a stop that waits for open
//! connections only so long.

use std::future::Future;
use std::io::ErrorKind;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::conn_cap::ConnectionCap;

/// Open connections at most, by default.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a request's head may take to arrive, by default.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for open connections, by default.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How the server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Past this many open connections a new one waits in the kernel's backlog, where it
    /// holds no file descriptor of the engine's, until one closes.
    pub max_open: usize,
    /// A request's head must arrive whole within this; a kept-alive connection idle this
    /// long is closed too.
    pub header_read: Duration,
    /// A stop waits this long for open connections (an answer being written), then closes them.
    pub drain: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits { max_open: MAX_CONNECTIONS, header_read: HEADER_READ_TIMEOUT, drain: DRAIN_TIMEOUT }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then waits up to `limits.drain`
/// for the open connections and closes the rest.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let mut cap = ConnectionCap::new(limits.max_open, "the local API");
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = cap.slot() => permit,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // A peer that left before its accept is nothing to wait for.
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset) => continue,
                Err(e) => {
                    // Out of descriptors, most likely: retrying at once would spin.
                    tracing::error!("the local API cannot accept a connection: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone())));
        connections.spawn(async move {
            // A connection that ends in error (a head too slow, a reset) is the client's affair.
            let _ended = connection.await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        while connections.try_join_next().is_some() {}
        tracing::warn!("the local API closes {} connection(s) still open {:?} after its stop", connections.len(), limits.drain);
    }
    connections.shutdown().await;
}

#[cfg(test)]
mod tests;
