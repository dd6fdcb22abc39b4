//! TCP forwarding: each accepted connection is joined to a picked ready replica.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::conn::Accepted;
use super::ProxyShared;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Joins `client` to a ready replica until either side closes; no replica = close at once.
pub async fn forward(shared: Arc<ProxyShared>, mut client: Accepted) {
    let cancel = shared.stop.clone();
    // One more replica is tried when the first refuses the connection.
    let mut failed = None;
    for _ in 0..2 {
        let Some(slot) = shared.balancer.pick(failed) else {
            return;
        };
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(slot.backend.addr)).await;
        let mut upstream = match connected {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(_)) | Err(_) => {
                slot.counters()
                    .failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                failed = Some(slot.backend);
                continue;
            }
        };
        // Latency only: a socket without NODELAY still forwards.
        upstream.set_nodelay(true).ok();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::io::copy_bidirectional(client.stream_mut(), &mut upstream) => {}
        }
        // `slot` drops here: the connection is no longer in flight.
        return;
    }
}
