//! A service's stable address: one listener per service that forwards to its *ready*
//! replicas — an HTTP/1.1 reverse proxy (keep-alive, streamed bodies) or a TCP forward.
//!
//! - [`balance`]: the lock-free backend set, round-robin / least-in-flight, counters;
//! - `front`: plain HTTP/1.1 requests read in place and their answers written as they came;
//! - `http`: HTTP forwarding through hyper's server for the rest (upgrades, streamed bodies…),
//!   the 503/502/504 answers, the per-request record hook;
//! - `headers`: hop-by-hop headers, `x-forwarded-for`, the dashboard's cookie, upgrades;
//! - `upstream`: each client connection's own connections to the replicas, written and read in its task;
//! - `watch`: each client connection's idle limit, stop and response timeout, one timer per connection;
//! - `tcp`: TCP forwarding;
//! - [`fault`]: a fault at the address, as described and as read on the request path;
//! - `inject`: a fault applied to an HTTP request or a TCP connection;
//! - `conn`: accepted sockets that reset on stop, so the port frees at once;
//! - [`holder`]: who holds a port, for a clear "port in use" error.

pub mod balance;
mod conn;
pub mod fault;
mod front;
mod headers;
pub mod holder;
mod http;
mod inject;
mod tcp;
mod upstream;
mod watch;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn_cap::ConnectionCap;
use crate::manifest::{Balance, Protocol, Service, DEFAULT_IDLE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};
use crate::metrics::{self, Metrics, MetricsError, RequestSample};
use balance::Balancer;
pub use balance::{Backend, BackendStatus};
pub use headers::DASHBOARD_COOKIE;
pub use http::Exchange;

/// How long open HTTP connections may finish their requests after a stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a client connection may go without a request's head arriving, idle keep-alive
/// time included: a half-sent request or a forgotten connection does not hold a slot for
/// ever. It is closed between this and half as long again after its last request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections per address (see [`ConnectionCap`]), so a flood of idle clients cannot
/// take every file descriptor of the engine.
pub const MAX_CONNECTIONS: usize = 512;

/// What an address carries, how it balances, and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressOptions {
    pub protocol: Protocol,
    pub balance: Balance,
    /// HTTP: the wait for a replica's answer to begin; past it the address answers 504.
    pub response_timeout: Duration,
    /// TCP: a connection that carries no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP: see [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl AddressOptions {
    /// The defaults for `protocol` and `balance`.
    pub fn new(protocol: Protocol, balance: Balance) -> AddressOptions {
        AddressOptions {
            protocol,
            balance,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }

    /// As the manifest defines the service's address.
    pub fn of(service: &Service) -> AddressOptions {
        AddressOptions {
            response_timeout: service.response_timeout,
            idle_timeout: service.idle_timeout,
            ..AddressOptions::new(service.protocol, service.balance)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("port {port} is already in use{}", .holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse { port: u16, holder: Option<String> },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Requests (HTTP) or connections (TCP) the proxy has seen, by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyTotals {
    pub requests: u64,
    pub ok: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// 503s: no ready replica.
    pub unavailable: u64,
    pub response_bytes: u64,
    /// Answered by an injected fault's abort, counted in none of the above.
    pub injected_aborts: u64,
}

/// What every connection task shares.
pub(crate) struct ProxyShared {
    service: Arc<str>,
    /// [`metrics::EXTERNAL`], shared by every request that names no caller.
    external: Arc<str>,
    balancer: Balancer,
    totals: Totals,
    /// The proxy's stop, for tasks that outlive a request (upgraded tunnels).
    stop: CancellationToken,
    /// Every connection and tunnel, waited for by `stop`.
    connections: TaskTracker,
    /// Where every request is recorded, once attached (see [`ServiceProxy::attach_metrics`]).
    metrics: OnceLock<Metrics>,
    /// The service's in-flight gauge, entered per request.
    gauge: OnceLock<metrics::InFlightGauge>,
    options: AddressOptions,
    /// The fault injected here, if any.
    faults: fault::FaultSlot,
}

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    ok: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    unavailable: AtomicU64,
    response_bytes: AtomicU64,
    injected_aborts: AtomicU64,
}

impl ProxyShared {
    /// The one place every HTTP request ends, so each is measured exactly once.
    fn record(&self, outcome: &Exchange) {
        let t = &self.totals;
        t.requests.fetch_add(1, Ordering::Relaxed);
        t.response_bytes
            .fetch_add(outcome.response_bytes, Ordering::Relaxed);
        let class = match outcome.status {
            _ if outcome.injected.aborted => &t.injected_aborts,
            503 if outcome.replica.is_none() => &t.unavailable,
            500..=599 => &t.server_errors,
            400..=499 => &t.client_errors,
            _ => &t.ok,
        };
        class.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = self.metrics.get() {
            m.record(RequestSample {
                service: self.service.clone(),
                replica: outcome.replica,
                caller: outcome.caller.clone(),
                status: if outcome.failed { 0 } else { outcome.status },
                latency: outcome.latency,
                bytes_in: outcome.request_bytes,
                bytes_out: outcome.response_bytes,
                injected: outcome.injected,
            });
        }
    }
}

/// The listener of one service. Clone it freely; it serves until [`stop`](Self::stop)
/// or the cancel token it was bound with — dropping handles does not stop it.
#[derive(Clone)]
pub struct ServiceProxy {
    shared: Arc<ProxyShared>,
    local_addr: SocketAddr,
    /// Cancelled once the listener is closed.
    closed: CancellationToken,
}

impl ServiceProxy {
    /// Binds `addr` now (so a held port is reported at start) and serves in spawned
    /// tasks. Must run inside a tokio runtime.
    pub fn bind(
        service: &str,
        addr: SocketAddr,
        options: AddressOptions,
        cancel: CancellationToken,
    ) -> Result<ServiceProxy, ProxyError> {
        let listener = listen(addr)?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ProxyError::Bind { addr, source })?;
        // Moved to the proxies' runtime, whose reactor then watches it.
        let listener = listener
            .into_std()
            .map_err(|source| ProxyError::Bind { addr, source })?;
        let runtime = proxy_runtime().map_err(|source| ProxyError::Bind { addr, source })?;
        let shared = Arc::new(ProxyShared {
            service: Arc::from(service),
            external: Arc::from(metrics::EXTERNAL),
            balancer: Balancer::new(options.balance),
            totals: Totals::default(),
            stop: cancel.child_token(),
            connections: TaskTracker::new(),
            metrics: OnceLock::new(),
            gauge: OnceLock::new(),
            options,
            faults: fault::FaultSlot::default(),
        });
        let closed = CancellationToken::new();
        let accept = AcceptLoop {
            listener,
            shared: shared.clone(),
            closed: closed.clone(),
        };
        runtime.spawn(accept.run());
        Ok(ServiceProxy {
            shared,
            local_addr,
            closed,
        })
    }

    /// Records every later request into `metrics` and keeps the service's in-flight gauge.
    /// The first attachment wins.
    pub async fn attach_metrics(&self, metrics: Metrics) -> Result<(), MetricsError> {
        let gauge = metrics.in_flight(&self.shared.service).await?;
        let _first = self.shared.gauge.set(gauge);
        let _first = self.shared.metrics.set(metrics);
        Ok(())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn service(&self) -> &str {
        &self.shared.service
    }

    /// The replicas to forward to: only ready ones. Takes effect for the next request.
    pub fn set_backends(&self, backends: Vec<Backend>) {
        self.shared.balancer.set(backends);
    }

    /// Waits up to `limit` for the requests (or TCP connections) in flight on `backend`
    /// to finish — call it after `set_backends` left the backend out, before signalling
    /// the replica. True if it went idle in time.
    pub async fn drain(&self, backend: Backend, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        self.shared.balancer.drain(backend, deadline).await
    }

    /// Each current backend with its in-flight and request counts.
    pub fn backends(&self) -> Vec<BackendStatus> {
        self.shared.balancer.status()
    }

    pub fn totals(&self) -> ProxyTotals {
        let t = &self.shared.totals;
        ProxyTotals {
            requests: t.requests.load(Ordering::Relaxed),
            ok: t.ok.load(Ordering::Relaxed),
            client_errors: t.client_errors.load(Ordering::Relaxed),
            server_errors: t.server_errors.load(Ordering::Relaxed),
            unavailable: t.unavailable.load(Ordering::Relaxed),
            response_bytes: t.response_bytes.load(Ordering::Relaxed),
            injected_aborts: t.injected_aborts.load(Ordering::Relaxed),
        }
    }

    /// Injects `fault` (validated by the caller) into the next requests, in place of any other.
    pub fn set_fault(&self, fault: fault::Fault) -> Arc<fault::Armed> {
        self.shared.faults.set(fault)
    }

    /// Clears the fault injected now (only if its id is `id`, when given); the one cleared.
    pub fn clear_fault(&self, id: Option<u64>) -> Option<Arc<fault::Armed>> {
        self.shared.faults.clear(id)
    }

    /// The fault injected now.
    pub fn fault(&self) -> Option<Arc<fault::Armed>> {
        self.shared.faults.current()
    }

    /// Closes the listener and waits for open connections to finish their current
    /// requests (at most a few seconds); then the port can be bound again at once.
    /// Idempotent; also the way to wait for a stop that the cancel token began.
    pub async fn stop(&self) {
        self.shared.stop.cancel();
        self.closed.cancelled().await;
        self.shared.connections.close();
        self.shared.connections.wait().await;
    }
}

fn listen(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    let bind_error = |source: io::Error| {
        if source.kind() == io::ErrorKind::AddrInUse {
            ProxyError::PortInUse {
                port: addr.port(),
                holder: holder::port_holder(addr.port()),
            }
        } else {
            ProxyError::Bind { addr, source }
        }
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(bind_error)?;
    // So a restarted engine can bind at once despite connections in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(addr).map_err(bind_error)?;
    socket.listen(1024).map_err(bind_error)
}

/// The proxies' own thread: one current-thread runtime serves every address and its
/// connections, as nginx's one worker does, so a request and its answer are handled on one
/// thread that sleeps only in `epoll_wait`. (On the engine's multi-thread runtime each
/// request parked and woke the other worker about four times.) No request arms a timer:
/// each connection's `watch` keeps its limits with one timer of its own.
fn proxy_runtime() -> io::Result<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Handle, String>> = OnceLock::new();
    let started = RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("microdeck-proxy".into())
            // Runs for the life of the process; the addresses on it stop on their own tokens.
            .spawn(move || {
                runtime.block_on(std::future::pending::<()>())
            })
            .map_err(|e| e.to_string())?;
        Ok(handle)
    });
    started
        .as_ref()
        .map_err(|e| io::Error::other(format!("cannot start the proxies' thread: {e}")))
}

struct AcceptLoop {
    listener: std::net::TcpListener,
    shared: Arc<ProxyShared>,
    closed: CancellationToken,
}

impl AcceptLoop {
    async fn run(self) {
        let listener = match TcpListener::from_std(self.listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(service = %self.shared.service, "cannot serve the address: {e}");
                self.closed.cancel();
                return;
            }
        };
        let options = self.shared.options;
        let mut http = http1::Builder::new();
        // No header-read timer per request: each connection's `watch` keeps the limit.
        http.keep_alive(true);
        let (stop, connections) = (&self.shared.stop, &self.shared.connections);
        let mut cap = ConnectionCap::new(options.max_connections, format!("the address of {}", self.shared.service));
        loop {
            let slot = tokio::select! {
                _ = stop.cancelled() => break,
                slot = cap.slot() => slot,
            };
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(service = %self.shared.service, "accept failed: {e}");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            };
            // Latency only: a socket without NODELAY still forwards.
            stream.set_nodelay(true).ok();
            let shared = self.shared.clone();
            let stream = conn::Accepted::new(stream, stop.clone());
            match options.protocol {
                Protocol::Tcp => connections.spawn(async move {
                    tcp::forward(shared, stream).await;
                    drop(slot);
                }),
                Protocol::Http => {
                    let http = http.clone();
                    connections.spawn(async move {
                        serve_http(http, stream, peer, shared).await;
                        drop(slot);
                    })
                }
            };
        }
        drop(listener);
        self.closed.cancel();
    }
}

/// Serves one client connection: its plain requests in place (`front`), the rest with
/// hyper's server (`http`); either way its requests are written to the replicas and their
/// answers read in this task too (`upstream`). A stop lets the request under way finish (at
/// most [`STOP_GRACE`]).
async fn serve_http(
    http: http1::Builder,
    stream: conn::Accepted,
    peer: SocketAddr,
    shared: Arc<ProxyShared>,
) {
    let peer = headers::Peer::new(peer);
    let upstreams = upstream::Upstreams::default();
    let activity = Arc::new(watch::Activity::default());
    let ended = CancellationToken::new();
    let _ended = ended.clone().drop_guard();
    // Watched by a task of its own, so that a request's wake-ups poll only the connection.
    let limits = watch::Limits { idle: shared.options.header_read_timeout, response: shared.options.response_timeout };
    shared.connections.spawn(watch::watch(activity.clone(), limits, shared.stop.clone(), ended));
    let front = front::Front { shared: shared.clone(), client: stream, peer: peer.clone(), upstreams: upstreams.clone(), activity: activity.clone() };
    let (stream, read) = {
        let mut serving = std::pin::pin!(front.serve());
        tokio::select! {
            biased;
            ended = serving.as_mut() => match ended {
                front::Ended::Closed => return,
                front::Ended::Unusual(stream, read) => (stream, read),
            },
            why = activity.closing() => {
                if why == watch::Close::Stop {
                    let _ = tokio::time::timeout(STOP_GRACE, serving).await;
                }
                return;
            }
        }
    };
    let watched = activity.clone();
    let service = service_fn(move |req| http::handle(shared.clone(), req, peer.clone(), upstreams.clone(), watched.clone()));
    let connection = http
        .serve_connection(TokioIo::new(stream.unread(read)), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        biased;
        // A broken client connection is the client's business.
        _served = connection.as_mut() => {}
        why = activity.closing() => {
            if why == watch::Close::Stop {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(STOP_GRACE, connection).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
