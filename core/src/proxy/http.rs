//! HTTP/1.1 forwarding: a request goes to a picked ready replica over the client
//! connection's own upstream connection to it (`upstream`), bodies stream both ways, and
//! every request ends in [`ProxyShared::record`].

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use super::balance::{Backend, InFlight};
use super::headers::{prepare_headers, strip_hop_by_hop, upgrade_protocol, Peer};
use super::upstream::{self, UpstreamBody, Upstreams};
use super::ProxyShared;

/// Names the calling service, for the caller→callee edges of the topology.
const X_MICRODECK_CALLER: HeaderName = HeaderName::from_static("x-microdeck-caller");

/// How one request ended: the hook where traffic is measured.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub replica: Option<u32>,
    pub status: u16,
    /// From the request's arrival to the end of the response body.
    pub latency: Duration,
    pub response_bytes: u64,
    /// From `x-microdeck-caller`, else [`crate::metrics::EXTERNAL`].
    pub caller: Arc<str>,
    /// The request body's declared length (`content-length`), 0 when streamed without one.
    pub request_bytes: u64,
    /// No response from any replica (connect refused, reset, none in time): the proxy answered
    /// 502 or 504.
    pub failed: bool,
}

/// What a request carries from its arrival to its record.
#[derive(Clone)]
struct Meta {
    started: Instant,
    caller: Arc<str>,
    request_bytes: u64,
    /// The service's in-flight gauge, held until the last tracker of the request is gone.
    _gauge: Option<Arc<crate::metrics::InFlightGuard>>,
}

/// Serves one request, and records it however it ends.
pub async fn handle(
    shared: Arc<ProxyShared>,
    req: Request<Incoming>,
    peer: Option<Peer>,
    upstreams: Upstreams,
) -> Result<Response<ProxyBody>, Infallible> {
    let caller = req
        .headers()
        .get(X_MICRODECK_CALLER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or(crate::metrics::EXTERNAL);
    // The common caller shares one name; only a named caller costs an allocation.
    let caller = if caller == crate::metrics::EXTERNAL { shared.external.clone() } else { Arc::from(caller) };
    let request_bytes = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let meta = Meta {
        started: Instant::now(),
        caller,
        request_bytes,
        _gauge: shared.gauge.get().map(|g| Arc::new(g.enter())),
    };
    let mut abandoned = Abandoned { shared: &shared, meta: &meta, replica: None, answered: false };
    let response = respond(&shared, &upstreams, req, peer, &meta, &mut abandoned.replica).await;
    // From here the response's tracker records the request.
    abandoned.answered = true;
    Ok(response)
}

/// Records a request its caller gave up on before any answer came (status 499, as nginx
/// logs it, with the time it waited): callers timing out of a queue would otherwise leave
/// the service looking idle.
struct Abandoned<'a> {
    shared: &'a Arc<ProxyShared>,
    meta: &'a Meta,
    /// The replica it was sent to, once picked.
    replica: Option<u32>,
    answered: bool,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let outcome = Exchange {
            replica: self.replica,
            status: CLIENT_CLOSED,
            latency: self.meta.started.elapsed(),
            response_bytes: 0,
            caller: self.meta.caller.clone(),
            request_bytes: self.meta.request_bytes,
            failed: false,
        };
        self.shared.record(&outcome);
    }
}

/// The status recorded for a request whose caller closed the connection first.
pub const CLIENT_CLOSED: u16 = 499;

/// Forwards, retries once elsewhere if safe, or answers 503/502/504; `sent_to` learns each
/// replica tried.
async fn respond(
    shared: &Arc<ProxyShared>,
    upstreams: &Upstreams,
    req: Request<Incoming>,
    peer: Option<Peer>,
    started: &Meta,
    sent_to: &mut Option<u32>,
) -> Response<ProxyBody> {
    let Some(first) = shared.balancer.pick(None) else {
        let body = serde_json::json!({ "error": "no ready replica", "service": &*shared.service });
        return shared.answer(StatusCode::SERVICE_UNAVAILABLE, body, None, started);
    };
    let (mut parts, body) = req.into_parts();
    let upgrade = upgrade_protocol(&parts.headers);
    prepare_headers(&mut parts.headers, &peer);
    parts.version = Version::HTTP_11;
    // An upgrade (WebSocket…) asks the replica for one too; the two are joined on 101.
    let client_upgrade = match upgrade {
        Some(protocol) => {
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(UPGRADE, protocol);
            parts.extensions.remove::<OnUpgrade>()
        }
        None => None,
    };
    // Replayable only when nothing of the body is consumed: idempotent and bodiless.
    let replayable =
        is_idempotent(&parts.method) && body.is_end_stream() && client_upgrade.is_none();
    let replay = replayable.then(|| {
        (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        )
    });
    let request = Request::from_parts(parts, body.boxed());
    *sent_to = Some(first.backend.replica);
    let (error, failed) = match forward(shared, upstreams, request, first, started, client_upgrade).await {
        Ok(response) => return response,
        Err(failure) => failure,
    };
    // A replica that took the request and said nothing may still be working on it: not sent again.
    if let (Some((method, uri, headers)), false) = (replay, error.timed_out) {
        if let Some(second) = shared.balancer.pick(Some(failed)) {
            let mut request = Request::new(Empty::new().map_err(|never| match never {}).boxed());
            *request.method_mut() = method;
            *request.uri_mut() = uri;
            *request.headers_mut() = headers;
            *sent_to = Some(second.backend.replica);
            match forward(shared, upstreams, request, second, started, None).await {
                Ok(response) => return response,
                Err((e, _)) => return shared.upstream_failed(&e, started),
            }
        }
    }
    shared.upstream_failed(&error, started)
}

/// A forwarding error and the backend it happened on.
type UpstreamFailure = (UpstreamError, Backend);

#[derive(Debug)]
pub struct UpstreamError {
    pub replica: u32,
    pub detail: String,
    /// No answer began within the address's response timeout (504, not 502).
    pub timed_out: bool,
}

async fn forward(
    shared: &Arc<ProxyShared>,
    upstreams: &Upstreams,
    mut request: Request<UpstreamBody>,
    slot: InFlight,
    started: &Meta,
    client_upgrade: Option<OnUpgrade>,
) -> Result<Response<ProxyBody>, UpstreamFailure> {
    let backend = slot.backend;
    // The target goes out as the client sent it (origin-form), with the client's Host.
    if request.uri().authority().is_some() {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        if let Ok(origin) = Uri::builder().path_and_query(path).build() {
            *request.uri_mut() = origin;
        }
    }
    if !request.headers().contains_key(HOST) {
        request.headers_mut().insert(HOST, slot.counters().authority.clone());
    }
    let sending = async {
        match client_upgrade {
            Some(_) => match upstream::connect_for_upgrade(backend, &shared.connections).await {
                Ok(mut sender) => sender.send_request(request).await.map_err(|e| error_chain(&e)),
                Err(e) => Err(e.0),
            },
            None => send(upstreams, backend, request).await,
        }
    };
    let limit = shared.options.response_timeout;
    let (sent, timed_out) = match tokio::time::timeout(limit, sending).await {
        Ok(sent) => (sent, false),
        Err(_) => (Err(format!("no answer within {limit:?}")), true),
    };
    match sent {
        Ok(mut response) => {
            let tunnel = match client_upgrade {
                Some(client) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                    Some((client, hyper::upgrade::on(&mut response)))
                }
                _ => None,
            };
            let (mut parts, body) = response.into_parts();
            let slot = match tunnel {
                Some((client, upstream)) => {
                    // The tunnel holds the in-flight mark while it is open.
                    shared.connections.spawn(tunnel_upgraded(
                        client,
                        upstream,
                        slot,
                        shared.stop.clone(),
                    ));
                    None
                }
                None => {
                    strip_hop_by_hop(&mut parts.headers);
                    Some(slot)
                }
            };
            let tracker = Tracker {
                shared: shared.clone(),
                replica: Some(backend.replica),
                _in_flight: slot,
                status: parts.status.as_u16(),
                meta: started.clone(),
                failed: false,
                bytes: 0,
            };
            Ok(Response::from_parts(
                parts,
                ProxyBody::new(body.boxed(), Some(tracker)),
            ))
        }
        Err(detail) => {
            slot.counters().failures.fetch_add(1, Ordering::Relaxed);
            Err((UpstreamError { replica: backend.replica, detail, timed_out }, backend))
        }
    }
}

/// Sends over the client connection's kept connection to `backend`, or a new one; a request
/// the kept connection closed before taking goes out once more over a new connection.
async fn send(upstreams: &Upstreams, backend: Backend, request: Request<UpstreamBody>) -> Result<Response<Incoming>, String> {
    let mut sender = upstreams.sender(backend).await.map_err(|e| e.0)?;
    let request = match sender.try_send_request(request).await {
        Ok(response) => {
            upstreams.keep(backend, sender);
            return Ok(response);
        }
        Err(mut e) => match e.take_message() {
            Some(request) => request,
            None => return Err(error_chain(e.error())),
        },
    };
    let mut sender = upstreams.connect(backend).await.map_err(|e| e.0)?;
    let response = sender.send_request(request).await.map_err(|e| error_chain(&e))?;
    upstreams.keep(backend, sender);
    Ok(response)
}

impl ProxyShared {
    /// A JSON answer of the proxy itself (503, 502).
    fn answer(
        self: &Arc<Self>,
        status: StatusCode,
        body: serde_json::Value,
        replica: Option<u32>,
        started: &Meta,
    ) -> Response<ProxyBody> {
        let bytes = Bytes::from(body.to_string());
        let tracker = Tracker {
            shared: self.clone(),
            replica,
            _in_flight: None,
            status: status.as_u16(),
            meta: started.clone(),
            failed: false,
            bytes: 0,
        };
        let mut response = Response::new(ProxyBody::new(
            Full::new(bytes).map_err(|never| match never {}).boxed(),
            Some(tracker),
        ));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn upstream_failed(
        self: &Arc<Self>,
        error: &UpstreamError,
        started: &Meta,
    ) -> Response<ProxyBody> {
        tracing::debug!(service = %self.service, replica = error.replica, "upstream failed: {}", error.detail);
        let (status, what) = match error.timed_out {
            true => (StatusCode::GATEWAY_TIMEOUT, "upstream timed out"),
            false => (StatusCode::BAD_GATEWAY, "upstream failed"),
        };
        let body = serde_json::json!({
            "error": what,
            "service": &*self.service,
            "replica": error.replica,
            "detail": error.detail,
        });
        let mut response = self.answer(status, body, Some(error.replica), started);
        if let Some(tracker) = response.body_mut().tracker.as_mut() {
            tracker.failed = true;
        }
        response
    }
}

/// Joins the client's and the replica's upgraded connections until either closes or the proxy stops.
async fn tunnel_upgraded(
    client: OnUpgrade,
    upstream: OnUpgrade,
    _in_flight: InFlight,
    stop: CancellationToken,
) {
    let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
        return;
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The error and its causes in one line ("client error (Connect): tcp connect error: Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Counts a response as it streams and records the request when it is done (or dropped).
struct Tracker {
    shared: Arc<ProxyShared>,
    replica: Option<u32>,
    /// Holds the backend's in-flight count until the body is done.
    _in_flight: Option<InFlight>,
    status: u16,
    meta: Meta,
    failed: bool,
    bytes: u64,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let outcome = Exchange {
            replica: self.replica,
            status: self.status,
            latency: self.meta.started.elapsed(),
            response_bytes: self.bytes,
            caller: self.meta.caller.clone(),
            request_bytes: self.meta.request_bytes,
            failed: self.failed,
        };
        self.shared.record(&outcome);
    }
}

/// The response body the proxy sends: an upstream body or its own, tracked.
pub struct ProxyBody {
    inner: UpstreamBody,
    tracker: Option<Tracker>,
}

impl ProxyBody {
    fn new(inner: UpstreamBody, tracker: Option<Tracker>) -> Self {
        Self { inner, tracker }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(tracker)) = (frame.data_ref(), self.tracker.as_mut()) {
                    tracker.bytes += data.len() as u64;
                }
            }
            // Done: record now rather than when hyper drops the body.
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => drop(self.tracker.take()),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
