//! The proxy over real sockets: tiny axum backends on port 0, real clients.
//! HTTP forwarding here; plain requests on the wire in `plain`; TCP, upgrades, ports and stop
//! in `sockets`; timeouts, the connection cap and credentials in `hostile`.

mod faults;
mod hostile;
mod plain;
mod sockets;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::*;

const DEADLINE: Duration = Duration::from_secs(30);

struct TestBackend {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    /// `/hold` answers only once the test adds a permit here.
    release: Arc<tokio::sync::Semaphore>,
    _stop: tokio_util::sync::DropGuard,
}

impl TestBackend {
    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    fn as_backend(&self, replica: u32) -> Backend {
        Backend {
            replica,
            addr: self.addr,
        }
    }
}

/// An HTTP server on port 0 whose `/` answers its name; `/echo` streams the body back.
async fn http_backend(name: &str) -> TestBackend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicU64::new(0));
    let (counted, name) = (hits.clone(), name.to_string());
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let app = Router::new()
        .route(
            "/",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let name = name.clone();
                async move { name }
            }),
        )
        .route(
            "/headers",
            get(|headers: hyper::HeaderMap| async move {
                let get = |h: &str| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                format!("{}|{}", get("host"), get("x-forwarded-for"))
            }),
        )
        .route("/echo", post(|body: axum::body::Body| async move { body }))
        .route(
            "/hold",
            get(move || {
                let gate = gate.clone();
                async move {
                    gate.acquire().await.map(|permit| permit.forget()).ok();
                    "released"
                }
            }),
        );
    let stop = CancellationToken::new();
    let server = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    tokio::spawn(async move { server.await.ok() });
    TestBackend {
        addr,
        hits,
        release,
        _stop: stop.drop_guard(),
    }
}

fn proxy(protocol: Protocol, balance: Balance) -> (ServiceProxy, CancellationToken) {
    let cancel = CancellationToken::new();
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let proxy =
        ServiceProxy::bind("api", addr, AddressOptions::new(protocol, balance), cancel.clone()).expect("bind proxy");
    (proxy, cancel)
}

async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let response = timeout(DEADLINE, client.get(url).send())
        .await
        .expect("in time")
        .expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = timeout(DEADLINE, response.text())
        .await
        .expect("in time")
        .expect("body");
    (status, content_type, text)
}

fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

#[tokio::test]
async fn round_robin_spreads_evenly_and_a_removed_backend_gets_nothing() {
    let backends = [
        http_backend("b0").await,
        http_backend("b1").await,
        http_backend("b2").await,
    ];
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(
        backends
            .iter()
            .enumerate()
            .map(|(i, b)| b.as_backend(i as u32))
            .collect(),
    );
    let client = reqwest::Client::new();
    let url = format!("http://{}/", proxy.local_addr());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for _ in 0..30 {
        let (status, _, text) = get_text(&client, &url).await;
        assert_eq!(status, 200);
        *seen.entry(text).or_default() += 1;
    }
    assert_eq!(
        seen,
        HashMap::from([("b0".into(), 10), ("b1".into(), 10), ("b2".into(), 10)])
    );

    proxy.set_backends(vec![backends[0].as_backend(0), backends[2].as_backend(2)]);
    for _ in 0..30 {
        let (status, _, text) = get_text(&client, &url).await;
        assert_eq!(status, 200);
        assert_ne!(text, "b1", "a removed backend got a request");
    }
    assert_eq!(
        [backends[0].hits(), backends[1].hits(), backends[2].hits()],
        [25, 10, 25]
    );
    let totals = proxy.totals();
    assert_eq!((totals.requests, totals.ok), (60, 60));
    assert!(proxy.backends().iter().all(|b| b.in_flight == 0));
    cancel.cancel();
}

#[tokio::test]
async fn no_ready_replica_is_a_503_naming_the_service() {
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    let client = reqwest::Client::new();
    let (status, content_type, text) =
        get_text(&client, &format!("http://{}/x", proxy.local_addr())).await;
    assert_eq!(status, 503);
    assert_eq!(content_type, "application/json");
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        body,
        serde_json::json!({ "error": "no ready replica", "service": "api" })
    );
    assert_eq!(proxy.totals().unavailable, 1);
    cancel.cancel();
}

#[tokio::test]
async fn a_backend_that_is_down_is_a_502_and_idempotent_requests_retry_elsewhere() {
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![Backend {
        replica: 7,
        addr: dead_addr(),
    }]);
    let client = reqwest::Client::new();
    let url = format!("http://{}/", proxy.local_addr());
    let response = timeout(DEADLINE, client.post(&url).body("x").send())
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(response.status().as_u16(), 502);
    let body: serde_json::Value = timeout(DEADLINE, response.json())
        .await
        .expect("in time")
        .expect("json");
    assert_eq!(body["service"], "api");
    assert_eq!(body["replica"], 7);
    assert_eq!(body["error"], "upstream failed");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("refused"), "the cause is named: {detail}");

    // With a live replica beside the dead one, every GET succeeds (retried once).
    let live = http_backend("live").await;
    proxy.set_backends(vec![
        Backend {
            replica: 7,
            addr: dead_addr(),
        },
        live.as_backend(1),
    ]);
    for _ in 0..10 {
        let (status, _, text) = get_text(&client, &url).await;
        assert_eq!((status, text.as_str()), (200, "live"));
    }
    let dead = proxy
        .backends()
        .into_iter()
        .find(|b| b.replica == 7)
        .expect("dead backend");
    assert!(dead.failures >= 5, "{dead:?}");
    cancel.cancel();
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection_and_keeps_host() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::LeastInflight);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let stream = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let (mut sender, connection) = timeout(
        DEADLINE,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .expect("in time")
    .expect("handshake");
    tokio::spawn(connection);
    for _ in 0..100 {
        timeout(DEADLINE, sender.ready())
            .await
            .expect("in time")
            .expect("connection still open");
        let request = Request::get("/")
            .header("host", "api.test")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = timeout(DEADLINE, sender.send_request(request))
            .await
            .expect("in time")
            .expect("response");
        assert_eq!(response.status(), 200);
        let body = timeout(DEADLINE, response.into_body().collect())
            .await
            .expect("in time")
            .expect("body");
        assert_eq!(body.to_bytes(), "b0");
    }
    let request = Request::get("/headers")
        .header("host", "api.test")
        .header("x-forwarded-for", "10.0.0.1")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("in time")
        .expect("response");
    let body = timeout(DEADLINE, response.into_body().collect())
        .await
        .expect("in time")
        .expect("body");
    assert_eq!(body.to_bytes(), "api.test|10.0.0.1, 127.0.0.1");
    assert_eq!(backend.hits(), 100);
    cancel.cancel();
}

#[tokio::test]
async fn drain_waits_for_requests_in_flight_on_a_removed_replica() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let url = format!("http://{}/hold", proxy.local_addr());
    let request = tokio::spawn(async move { get_text(&reqwest::Client::new(), &url).await });
    let start = tokio::time::Instant::now();
    while proxy.backends().first().map(|b| b.in_flight) != Some(1) {
        assert!(
            start.elapsed() < DEADLINE,
            "the request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.set_backends(Vec::new());
    assert!(
        !proxy
            .drain(backend.as_backend(0), Duration::from_millis(50))
            .await,
        "still busy"
    );
    let draining = {
        let proxy = proxy.clone();
        let b = backend.as_backend(0);
        tokio::spawn(async move { proxy.drain(b, DEADLINE).await })
    };
    backend.release.add_permits(1);
    assert!(
        timeout(DEADLINE, draining)
            .await
            .expect("in time")
            .expect("join"),
        "drained"
    );
    let (status, _, text) = timeout(DEADLINE, request)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(
        (status, text.as_str()),
        (200, "released"),
        "the drained request finished"
    );
    cancel.cancel();
}

#[tokio::test]
async fn a_10_mib_body_streams_through_both_ways() {
    const TOTAL: usize = 10 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let pattern = |i: usize| (i % 251) as u8;
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let stream = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let frames = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|data| (Ok::<_, Infallible>(hyper::body::Frame::data(data)), rx))
    });
    let body = http_body_util::StreamBody::new(Box::pin(frames));
    let request = Request::post("/echo").body(body).expect("request");
    let chunk = move |k: usize| {
        Bytes::from(
            (k * CHUNK..(k + 1) * CHUNK)
                .map(pattern)
                .collect::<Vec<u8>>(),
        )
    };
    // Only the first chunk goes before the response starts: a buffering proxy would stall here.
    body_tx.send(chunk(0)).await.expect("send first chunk");
    let response = timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("response head before the body ended")
        .expect("response");
    assert_eq!(response.status(), 200);
    let mut echoed = response.into_body();
    let first = timeout(DEADLINE, echoed.frame())
        .await
        .expect("first echo in time")
        .expect("a frame")
        .expect("ok");
    let mut received: Vec<u8> = first.into_data().map(|d| d.to_vec()).unwrap_or_default();
    assert!(
        !received.is_empty(),
        "echo began while the request was still streaming"
    );
    let sending = tokio::spawn(async move {
        for k in 1..TOTAL / CHUNK {
            body_tx.send(chunk(k)).await.expect("send chunk");
        }
    });
    while let Some(frame) = timeout(DEADLINE, echoed.frame())
        .await
        .expect("frame in time")
    {
        if let Ok(data) = frame.expect("frame").into_data() {
            received.extend_from_slice(&data);
        }
    }
    timeout(DEADLINE, sending)
        .await
        .expect("in time")
        .expect("sender");
    assert_eq!(received.len(), TOTAL);
    assert!(
        received.iter().enumerate().all(|(i, b)| *b == pattern(i)),
        "bytes changed on the way"
    );
    cancel.cancel();
}

#[tokio::test]
async fn a_request_its_caller_gives_up_on_is_recorded_with_its_wait() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    let metrics = crate::metrics::Metrics::spawn(cancel.clone()).expect("metrics");
    proxy.attach_metrics(metrics.clone()).await.expect("attach");
    proxy.set_backends(vec![backend.as_backend(0)]);
    // The caller waits 300 ms for `/hold`, which never answers, and hangs up.
    let url = format!("http://{}/hold", proxy.local_addr());
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    assert!(client.get(&url).send().await.is_err(), "the caller gave up");
    let start = tokio::time::Instant::now();
    let service = loop {
        let totals = metrics.totals().await.expect("totals");
        if let Some(s) = totals.into_iter().find(|s| s.service == "api" && s.requests == 1) {
            break s;
        }
        assert!(start.elapsed() < DEADLINE, "the abandoned request was never recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(proxy.totals().client_errors, 1, "counted as the caller's doing (499), not the service's");
    let waited = service.latency.max_ms.expect("a latency");
    assert!(waited >= 250.0, "recorded with the time it waited: {waited} ms");
    let replica = service.replicas.iter().find(|r| r.requests == 1).map(|r| r.replica);
    assert_eq!(replica, Some(Some(0)), "on the replica it was sent to");
    backend.release.add_permits(1);
    cancel.cancel();
}

/// One client connection to the proxy, kept alive across requests (what a browser or a
/// pooled client holds), and its driver.
async fn one_connection(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the proxy");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn get_on(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>, addr: SocketAddr) -> String {
    sender.ready().await.expect("the kept connection is open");
    let request = Request::get("/").header("host", addr.to_string()).body(Empty::new()).expect("request");
    let response = timeout(DEADLINE, sender.send_request(request)).await.expect("in time").expect("response");
    assert_eq!(response.status(), 200);
    let body = timeout(DEADLINE, response.into_body().collect()).await.expect("in time").expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test]
async fn a_kept_connection_reaches_replicas_added_after_it_connected() {
    let backends = [http_backend("b0").await, http_backend("b1").await, http_backend("b2").await];
    let (proxy, _cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backends[0].as_backend(0)]);
    let mut client = one_connection(proxy.local_addr()).await;
    for _ in 0..3 {
        assert_eq!(get_on(&mut client, proxy.local_addr()).await, "b0");
    }
    // Two replicas join while the client keeps its one connection.
    proxy.set_backends(backends.iter().enumerate().map(|(i, b)| b.as_backend(i as u32)).collect());
    let mut answered: HashMap<String, u32> = HashMap::new();
    for _ in 0..9 {
        *answered.entry(get_on(&mut client, proxy.local_addr()).await).or_default() += 1;
    }
    assert_eq!(answered.len(), 3, "every replica answered the kept connection: {answered:?}");
    assert!(answered.values().all(|n| *n == 3), "round-robin over the kept connection: {answered:?}");
    // And when one leaves, the same connection goes on over the others only.
    proxy.set_backends(vec![backends[1].as_backend(1)]);
    for _ in 0..3 {
        assert_eq!(get_on(&mut client, proxy.local_addr()).await, "b1");
    }
}

/// An HTTP server on port 0 that closes each connection after one answer.
async fn one_answer_backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(Bytes::from_static(b"once"))))
            });
            tokio::spawn(http1::Builder::new().keep_alive(false).serve_connection(TokioIo::new(stream), service));
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn an_upstream_connection_the_replica_closed_is_replaced_for_the_next_request() {
    let (addr, connections) = one_answer_backend().await;
    let (proxy, _cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![Backend { replica: 0, addr }]);
    let mut client = one_connection(proxy.local_addr()).await;
    for _ in 0..5 {
        assert_eq!(get_on(&mut client, proxy.local_addr()).await, "once");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 5, "one upstream connection per answer");
    assert_eq!(proxy.totals().server_errors, 0);
}
