//! A fault applied at the address ([`fault`](super::fault) decides): the HTTP delay (a sleep
//! in the request's own future) and abort (the address's own JSON answer, no replica
//! contacted), for plain requests (`front`) and hyper's (`http`) alike, and the TCP connect
//! delay and reset.

use std::time::Instant;

use hyper::StatusCode;

use super::conn::Accepted;
use super::fault::{Armed, Injected};
use super::ProxyShared;

/// What a request does after its fault: go on (its answer's wait now counted from `since`),
/// or take the address's own answer.
pub enum Applied {
    Forward { since: Instant },
    Abort { status: StatusCode, body: serde_json::Value },
}

/// Delays and/or aborts one HTTP request to `replica`; `injected` learns what was done.
pub async fn http(shared: &ProxyShared, armed: &Armed, replica: u32, since: Instant, injected: &mut Injected) -> Applied {
    let decision = armed.draw(replica);
    let mut since = since;
    if !decision.delay.is_zero() {
        injected.delay_ms = u32::try_from(decision.delay.as_millis()).unwrap_or(u32::MAX);
        tokio::time::sleep(decision.delay).await;
        // The address's response timeout is for the replica's answer, not the injected wait.
        since = Instant::now();
    }
    let Some(status) = decision.abort else {
        return Applied::Forward { since };
    };
    injected.aborted = true;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = serde_json::json!({
        "error": "fault injected",
        "service": &*shared.service,
        "fault": armed.fault.describe(),
    });
    Applied::Abort { status, body }
}

/// Delays the connect to `replica` or resets `client`; false when the connection is done.
pub async fn tcp(shared: &ProxyShared, armed: &Armed, replica: u32, client: &mut Accepted) -> bool {
    let decision = armed.draw(replica);
    if !decision.delay.is_zero() {
        tokio::select! {
            _ = shared.stop.cancelled() => return false,
            () = tokio::time::sleep(decision.delay) => {}
        }
    }
    if decision.abort.is_some() {
        // Closed with a zero linger: the client reads a reset, as from a crashed server.
        client.stream_mut().set_zero_linger().ok();
        return false;
    }
    true
}
