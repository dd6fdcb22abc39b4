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
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::http::request;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use super::balance::{Backend, InFlight};
use super::fault::Injected;
use super::headers::{prepare_headers, strip_hop_by_hop, upgrade_protocol, Peer, Survey};
use super::upstream::{self, ReplicaBody, UpgradeBody, Upstreams};
use super::watch::{Activity, Busy};
use super::ProxyShared;

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
    /// What a fault at the address added.
    pub injected: Injected,
}

/// What a request carries from its arrival to its record: first in [`Abandoned`], then in
/// the answer's [`Tracker`].
pub(super) struct Meta {
    pub started: Instant,
    caller: Arc<str>,
    request_bytes: u64,
    /// The service's in-flight gauge, held until the request is recorded.
    _gauge: Option<crate::metrics::InFlightGuard>,
    /// Marks the client connection busy until the request is recorded.
    _busy: Busy,
}

impl Meta {
    /// A request that has just arrived, from `caller` (else [`crate::metrics::EXTERNAL`]).
    pub(super) fn new(shared: &ProxyShared, caller: Option<Arc<str>>, request_bytes: u64, activity: &Arc<Activity>) -> Meta {
        Meta {
            started: Instant::now(),
            // The common caller shares one name.
            caller: caller.filter(|c| **c != *crate::metrics::EXTERNAL).unwrap_or_else(|| shared.external.clone()),
            request_bytes,
            _gauge: shared.gauge.get().map(|g| g.enter()),
            _busy: activity.enter(),
        }
    }
}

/// Serves one request, and records it however it ends.
pub async fn handle(
    shared: Arc<ProxyShared>,
    req: Request<Incoming>,
    peer: Option<Peer>,
    upstreams: Upstreams,
    activity: Arc<Activity>,
) -> Result<Response<ProxyBody>, Infallible> {
    let mut survey = Survey::of(req.headers());
    let meta = Meta::new(&shared, survey.caller.take(), survey.content_length, &activity);
    let started = meta.started;
    let mut abandoned = Abandoned { shared: &shared, meta: Some(meta), replica: None, injected: Injected::default() };
    let waiting = Waiting { activity: &activity, since: started };
    let mut response = respond(&shared, &upstreams, req, peer, &survey, waiting, (&mut abandoned.replica, &mut abandoned.injected)).await;
    // From here the response's tracker records the request.
    if let Some(tracker) = response.body_mut().tracker.as_mut() {
        tracker.meta = abandoned.meta.take();
        tracker.injected = abandoned.injected;
    }
    Ok(response)
}

/// Records a request its caller gave up on before any answer came (status 499, as nginx
/// logs it, with the time it waited): callers timing out of a queue would otherwise leave
/// the service looking idle.
pub(super) struct Abandoned<'a> {
    pub shared: &'a Arc<ProxyShared>,
    /// Taken by the answer's tracker once there is one.
    pub meta: Option<Meta>,
    /// The replica it was sent to, once picked.
    pub replica: Option<u32>,
    /// What a fault at the address added, once it did.
    pub injected: Injected,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        let Some(meta) = self.meta.take() else { return };
        let outcome = Exchange {
            replica: self.replica,
            status: CLIENT_CLOSED,
            latency: meta.started.elapsed(),
            response_bytes: 0,
            caller: meta.caller,
            request_bytes: meta.request_bytes,
            failed: false,
            injected: self.injected,
        };
        self.shared.record(&outcome);
    }
}

/// The status recorded for a request whose caller closed the connection first.
pub const CLIENT_CLOSED: u16 = 499;

/// Forwards, retries once elsewhere if safe, or answers 503/502/504; `sent_to` learns each
/// replica tried, `injected` what a fault added.
async fn respond(
    shared: &Arc<ProxyShared>,
    upstreams: &Upstreams,
    req: Request<Incoming>,
    peer: Option<Peer>,
    survey: &Survey,
    mut waiting: Waiting<'_>,
    (sent_to, injected): (&mut Option<u32>, &mut Injected),
) -> Response<ProxyBody> {
    let Some(first) = shared.balancer.pick(None) else {
        let (status, body) = shared.no_replica();
        return shared.answer(status, body, None);
    };
    // A fault applies after the pick, to that replica's requests.
    if let Some(fault) = shared.faults.current() {
        match super::inject::http(shared, &fault, first.backend.replica, waiting.since, injected).await {
            super::inject::Applied::Forward { since } => waiting.since = since,
            super::inject::Applied::Abort { status, body } => return shared.answer(status, body, None),
        }
    }
    let (mut parts, body) = req.into_parts();
    let upgrade = if survey.connection { upgrade_protocol(&parts.headers) } else { None };
    prepare_headers(&mut parts.headers, &peer, survey);
    parts.version = Version::HTTP_11;
    // An upgrade (WebSocket…) asks the replica for one too; the two are joined on 101.
    let client_upgrade = match upgrade {
        Some(protocol) => {
            parts.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(UPGRADE, protocol);
            parts.extensions.remove::<OnUpgrade>()
        }
        None => None,
    };
    // The target goes out as the client sent it (origin-form), with the client's Host.
    if parts.uri.authority().is_some() {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        if let Ok(origin) = Uri::builder().path_and_query(path).build() {
            parts.uri = origin;
        }
    }
    let mut out = Outgoing { hostless: !survey.host, parts };
    let body = (!body.is_end_stream()).then_some(body);
    // Sent again only when nothing of it is consumed: idempotent and bodiless.
    let replayable = is_idempotent(&out.parts.method) && body.is_none() && client_upgrade.is_none();
    *sent_to = Some(first.backend.replica);
    let (error, failed) = match forward(shared, upstreams, &mut out, body, first, waiting, client_upgrade).await {
        Ok(response) => return response,
        Err(failure) => failure,
    };
    // A replica that took the request and said nothing may still be working on it: not sent again.
    if replayable && !error.timed_out {
        if let Some(second) = shared.balancer.pick(Some(failed)) {
            *sent_to = Some(second.backend.replica);
            match forward(shared, upstreams, &mut out, None, second, waiting, None).await {
                Ok(response) => return response,
                Err((e, _)) => return shared.upstream_failed(&e),
            }
        }
    }
    shared.upstream_failed(&error)
}

/// How a request waits for its answers: on its connection's watch, from its arrival.
#[derive(Clone, Copy)]
pub(super) struct Waiting<'a> {
    pub activity: &'a Activity,
    pub since: Instant,
}

/// A request's line and headers, ready for any replica.
struct Outgoing {
    parts: request::Parts,
    /// The client sent no `Host`: each replica gets its own `host:port`.
    hostless: bool,
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
    out: &mut Outgoing,
    body: Option<Incoming>,
    slot: InFlight,
    waiting: Waiting<'_>,
    client_upgrade: Option<OnUpgrade>,
) -> Result<Response<ProxyBody>, UpstreamFailure> {
    let backend = slot.backend;
    if out.hostless {
        out.parts.headers.insert(HOST, slot.counters().authority.clone());
    }
    let parts = &out.parts;
    let sending = async {
        match client_upgrade {
            // Boxed: hyper's client futures are large and upgrades rare; every request carries this.
            Some(_) => Box::pin(send_upgrade(shared, backend, parts, body)).await,
            None => upstreams.send(backend, parts, body).await.map(|r| r.map(Inner::Replica)),
        }
    };
    let limit = shared.options.response_timeout;
    let (sent, timed_out) = {
        let sending = std::pin::pin!(sending);
        match waiting.activity.answer_within(waiting.since, sending).await {
            Some(sent) => (sent, false),
            None => (Err(format!("no answer within {limit:?}")), true),
        }
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
                    shared.connections.spawn(tunnel_upgraded(client, upstream, slot, shared.stop.clone()));
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
                meta: None,
                failed: false,
                bytes: 0,
                injected: Injected::default(),
            };
            Ok(Response::from_parts(parts, ProxyBody::new(body, Some(tracker))))
        }
        Err(detail) => {
            slot.counters().failures.fetch_add(1, Ordering::Relaxed);
            Err((UpstreamError { replica: backend.replica, detail, timed_out }, backend))
        }
    }
}

/// Sends an upgrade request over a connection of its own (hyper's client).
async fn send_upgrade(shared: &ProxyShared, backend: Backend, parts: &request::Parts, body: Option<Incoming>) -> Result<Response<Inner>, String> {
    let mut sender = upstream::connect_for_upgrade(backend, &shared.connections).await.map_err(|e| e.0)?;
    sender.send_request(upgrade_request(parts, body)).await.map(|r| r.map(Inner::Upgrade)).map_err(|e| error_chain(&e))
}

/// The request for an upgrade, over hyper's client.
fn upgrade_request(parts: &request::Parts, body: Option<Incoming>) -> Request<UpgradeBody> {
    let body = match body {
        Some(body) => body.boxed(),
        None => Empty::new().map_err(|never| match never {}).boxed(),
    };
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    request
}

impl ProxyShared {
    /// A JSON answer of the proxy itself (503, 502, an injected abort).
    pub(super) fn answer(
        self: &Arc<Self>,
        status: StatusCode,
        body: serde_json::Value,
        replica: Option<u32>,
    ) -> Response<ProxyBody> {
        let bytes = Bytes::from(body.to_string());
        let tracker = Tracker {
            shared: self.clone(),
            replica,
            _in_flight: None,
            status: status.as_u16(),
            meta: None,
            failed: false,
            bytes: 0,
            injected: Injected::default(),
        };
        let mut response = Response::new(ProxyBody::new(Inner::Own(Full::new(bytes)), Some(tracker)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    fn upstream_failed(
        self: &Arc<Self>,
        error: &UpstreamError,
    ) -> Response<ProxyBody> {
        let (status, body) = self.failure(error);
        let mut response = self.answer(status, body, Some(error.replica));
        if let Some(tracker) = response.body_mut().tracker.as_mut() {
            tracker.failed = true;
        }
        response
    }

    /// The address's own answer when no replica is ready.
    pub(super) fn no_replica(&self) -> (StatusCode, serde_json::Value) {
        (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "error": "no ready replica", "service": &*self.service }))
    }

    /// The address's own answer when no replica answered (502), or none in time (504).
    pub(super) fn failure(&self, error: &UpstreamError) -> (StatusCode, serde_json::Value) {
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
        (status, body)
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

pub(super) fn is_idempotent(method: &Method) -> bool {
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
pub(super) struct Tracker {
    pub shared: Arc<ProxyShared>,
    pub replica: Option<u32>,
    /// Holds the backend's in-flight count until the body is done.
    pub _in_flight: Option<InFlight>,
    pub status: u16,
    /// Given by the request's handler as it returns the answer.
    pub meta: Option<Meta>,
    pub failed: bool,
    pub bytes: u64,
    pub injected: Injected,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.record();
    }
}

impl Tracker {
    /// Records the request now (once: a later call, or the drop, does nothing).
    pub(super) fn record(&mut self) {
        let Some(meta) = self.meta.take() else { return };
        let outcome = Exchange {
            replica: self.replica,
            status: self.status,
            latency: meta.started.elapsed(),
            response_bytes: self.bytes,
            caller: meta.caller,
            request_bytes: meta.request_bytes,
            failed: self.failed,
            injected: self.injected,
        };
        self.shared.record(&outcome);
    }
}

/// The response body the proxy sends: a replica's or its own, tracked.
pub struct ProxyBody {
    inner: Inner,
    tracker: Option<Tracker>,
}

/// Where a response body comes from.
// A replica's body is nearly every answer: boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Inner {
    /// Read from the replica's connection by this connection's task.
    Replica(ReplicaBody),
    /// An answer to an upgrade request, over hyper's client.
    Upgrade(Incoming),
    /// The proxy's own answer (503, 502, 504).
    Own(Full<Bytes>),
}

impl ProxyBody {
    fn new(inner: Inner, tracker: Option<Tracker>) -> Self {
        Self { inner, tracker }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled: Poll<Option<Result<Frame<Bytes>, BoxError>>> = match &mut self.inner {
            Inner::Replica(body) => Pin::new(body).poll_frame(cx).map_err(BoxError::from),
            Inner::Upgrade(body) => Pin::new(body).poll_frame(cx).map_err(BoxError::from),
            Inner::Own(body) => Pin::new(body).poll_frame(cx).map_err(|never| match never {}),
        };
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
        match &self.inner {
            Inner::Replica(body) => body.is_end_stream(),
            Inner::Upgrade(body) => body.is_end_stream(),
            Inner::Own(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Replica(body) => body.size_hint(),
            Inner::Upgrade(body) => body.size_hint(),
            Inner::Own(body) => body.size_hint(),
        }
    }
}
