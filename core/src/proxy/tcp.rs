//! TCP forwarding: each accepted connection is joined to a picked ready replica, and closed
//! once it has carried nothing either way for the address's idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};

use super::conn::Accepted;
use super::ProxyShared;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The idle check runs this many times per idle timeout: a quiet connection closes between
/// one and 1¼ timeouts, and a busy one pays a counter increment per read, no timer reset.
const IDLE_CHECKS: u32 = 4;

/// Joins `client` to a ready replica until either side closes; no replica = close at once.
pub async fn forward(shared: Arc<ProxyShared>, mut client: Accepted) {
    let cancel = shared.stop.clone();
    // One more replica is tried when the first refuses the connection.
    let mut failed = None;
    for _ in 0..2 {
        let Some(slot) = shared.balancer.pick(failed) else {
            return;
        };
        if let Some(fault) = shared.faults.current() {
            if !super::inject::tcp(&shared, &fault, slot.backend.replica, &mut client).await {
                return;
            }
        }
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(slot.backend.addr)).await;
        let mut upstream = match connected {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(_)) | Err(_) => {
                slot.counters().failures.fetch_add(1, Ordering::Relaxed);
                failed = Some(slot.backend);
                continue;
            }
        };
        // Latency only: a socket without NODELAY still forwards.
        upstream.set_nodelay(true).ok();
        let moved = AtomicU64::new(0);
        let mut client = Counted { inner: client.stream_mut(), moved: &moved };
        let mut upstream = Counted { inner: &mut upstream, moved: &moved };
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            () = quiet_for(&moved, shared.options.idle_timeout) => {
                tracing::debug!(service = %shared.service, "closed a tcp connection idle for {:?}", shared.options.idle_timeout);
            }
        }
        // `slot` drops here: the connection is no longer in flight.
        return;
    }
}

/// Ends once `moved` has not changed for `idle`.
async fn quiet_for(moved: &AtomicU64, idle: Duration) {
    let mut check = tokio::time::interval(idle / IDLE_CHECKS);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut seen, mut since) = (moved.load(Ordering::Relaxed), Instant::now());
    loop {
        check.tick().await;
        let now = moved.load(Ordering::Relaxed);
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= idle {
            return;
        }
    }
}

/// A stream that counts the bytes read from it (every byte forwarded is read first).
struct Counted<'a> {
    inner: &'a mut TcpStream,
    moved: &'a AtomicU64,
}

impl AsyncRead for Counted<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.moved.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted<'_> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}
