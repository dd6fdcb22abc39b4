//! The generator against real in-test HTTP servers on port 0: rate accuracy, the
//! open-loop property (against a closed loop), weights, setup, rate changes, errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{any, post};
use axum::Router;
use http_body_util::BodyExt;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::manifest::{RequestSpec, Scenario, Setup};

const T: Duration = Duration::from_secs(30);

/// Serves `app` on 127.0.0.1:0 until the test ends.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn get(path: &str, weight: u32) -> RequestSpec {
    RequestSpec { method: "GET".into(), path: path.into(), headers: BTreeMap::new(), body: None, weight }
}

fn scenario(requests: Vec<RequestSpec>) -> Scenario {
    Scenario { name: "test".into(), target: "svc".into(), setup: None, requests }
}

/// Counts requests per path.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counter {
    fn get(&self, path: &str) -> u64 {
        self.0.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

async fn count(State(c): State<Counter>, uri: Uri) -> &'static str {
    *c.0.lock().expect("lock").entry(uri.path().to_string()).or_default() += 1;
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_are_respected_over_1000_requests() {
    let counter = Counter::default();
    let addr = serve(Router::new().fallback(any(count)).with_state(counter.clone())).await;
    let s = scenario(vec![get("/a", 1), get("/b", 3), get("/c", 6)]);
    let h = LoadGen::start(addr, &s, 500.0, Some(Duration::from_secs(2)), CancellationToken::new()).expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.sent, r.ok), (1000, 1000));
    for (path, want) in [("/a", 100.0), ("/b", 300.0), ("/c", 600.0)] {
        let got = counter.get(path) as f64;
        assert!((got - want).abs() <= want * 0.1, "{path}: {got} of 1000, want {want} ±10%");
    }
}

#[derive(Clone)]
struct Auth {
    token: String,
    logins: Arc<AtomicU64>,
    authorized: Arc<AtomicU64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_fills_the_token_header() {
    let auth = Auth {
        token: format!("tok-{}", std::process::id()),
        logins: Arc::default(),
        authorized: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/login",
            post(|State(a): State<Auth>, body: String| async move {
                a.logins.fetch_add(1, Ordering::SeqCst);
                assert_eq!(body, r#"{"user":"demo"}"#);
                axum::Json(serde_json::json!({ "session": { "token": a.token } }))
            }),
        )
        .route(
            "/me",
            any(|State(a): State<Auth>, headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", a.token)) {
                    a.authorized.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .with_state(auth.clone());
    let addr = serve(app).await;
    let mut s = scenario(vec![RequestSpec {
        headers: [("authorization".to_string(), "Bearer {{token}}".to_string())].into(),
        ..get("/me", 1)
    }]);
    s.setup = Some(Setup {
        request: RequestSpec { method: "POST".into(), body: Some(r#"{"user":"demo"}"#.into()), ..get("/login", 1) },
        extract: [("token".to_string(), "/session/token".to_string())].into(),
    });
    let h = LoadGen::start(addr, &s, 100.0, Some(Duration::from_secs(1)), CancellationToken::new()).expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!(r.state, LoadState::Finished);
    assert_eq!(auth.logins.load(Ordering::SeqCst), 1, "setup runs once");
    assert_eq!((r.sent, r.ok, r.errors.status_4xx), (100, 100, 0));
    assert_eq!(auth.authorized.load(Ordering::SeqCst), 100);

    // A setup whose response lacks the pointer fails the run before any load.
    if let Some(setup) = s.setup.as_mut() {
        setup.extract.insert("token".into(), "/nope".into());
    }
    let h = LoadGen::start(addr, &s, 100.0, Some(Duration::from_secs(1)), CancellationToken::new()).expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert!(matches!(&r.state, LoadState::Failed { message } if message.contains("/nope")), "{:?}", r.state);
    assert_eq!(r.sent, 0);
}

/// A login answered 503 `unavailable` times, then a token.
async fn login_after(unavailable: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let tries = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/login",
            post(move |State(t): State<Arc<AtomicU64>>| async move {
                if t.fetch_add(1, Ordering::SeqCst) < unavailable {
                    return (StatusCode::SERVICE_UNAVAILABLE, "no ready replica").into_response();
                }
                axum::Json(serde_json::json!({ "token": "t" })).into_response()
            }),
        )
        .with_state(tries.clone());
    (serve(app).await, tries)
}

fn login_setup() -> Setup {
    Setup { request: RequestSpec { method: "POST".into(), ..get("/login", 1) }, extract: [("token".to_string(), "/token".to_string())].into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_that_meets_a_passing_503_is_tried_again() {
    let (addr, tries) = login_after(2).await;
    let vars = timeout(T, request::run_setup(&client(), addr, &login_setup(), request::SETUP_RETRY_FOR)).await.expect("in time").expect("the third try logs in");
    assert_eq!(vars.get("token").map(String::as_str), Some("t"));
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    // One that stays unavailable fails once its time is up, saying why.
    let (addr, tries) = login_after(u64::MAX).await;
    let err = timeout(T, request::run_setup(&client(), addr, &login_setup(), Duration::from_millis(400))).await.expect("in time").expect_err("still 503");
    assert!(err.to_string().contains("status 503"), "{err}");
    assert!(tries.load(Ordering::SeqCst) >= 2, "tried more than once");
    // A refusal that is no unavailability is not tried again.
    let (addr, tries) = login_after(0).await;
    let mut wrong = login_setup();
    wrong.request.path = "/nope".into();
    let err = timeout(T, request::run_setup(&client(), addr, &wrong, request::SETUP_RETRY_FOR)).await.expect("in time").expect_err("404");
    assert!(err.to_string().contains("status 404"), "{err}");
    assert_eq!(tries.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_changes_at_run_time_and_stop_ends_the_run() {
    let counter = Counter::default();
    let addr = serve(Router::new().fallback(any(count)).with_state(counter.clone())).await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 20.0, None, CancellationToken::new()).expect("start");
    assert_eq!(h.set_rate(-1.0), Err(LoadGenError::InvalidRate(-1.0)));
    let mut watch = h.watch();
    timeout(T, watch.wait_for(|r| r.achieved_rps_recent > 0.0)).await.expect("in time").expect("report");
    let slow = h.report().achieved_rps_recent;
    assert!((10.0..=30.0).contains(&slow), "at 20 rps: {slow}");
    h.set_rate(200.0).expect("set rate");
    timeout(T, watch.wait_for(|r| r.achieved_rps_recent > 150.0)).await.expect("speeds up").expect("report");
    h.stop();
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!(r.state, LoadState::Stopped);
    assert_eq!(r.errors.total(), 0);
    assert_eq!(r.ok, counter.get("/"), "every request sent was counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_counts_as_connect_errors() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 50.0, Some(Duration::from_secs(1)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!(r.state, LoadState::Finished);
    assert_eq!((r.sent, r.errors.connect, r.ok), (50, 50, 0));
    assert_eq!(r.latency.p99_ms, None);
}

/// The scenario name whose run task panics at its start (a hook of the unit tests only).
pub(super) const PANICS: &str = "test-hook-run-panics";

#[tokio::test]
async fn a_run_whose_task_panics_ends_failed() {
    let s = Scenario { name: PANICS.into(), ..scenario(vec![get("/", 1)]) };
    let h = LoadGen::start("127.0.0.1:9".parse().expect("addr"), &s, 10.0, None, CancellationToken::new()).expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    match r.state {
        LoadState::Failed { message } => assert!(message.contains("a test's run task panics"), "{message}"),
        other => panic!("a panicked run should be failed, not {other:?}"),
    }
    assert!(h.report().state.is_over());
}

#[test]
fn durations_past_a_day_are_refused_with_the_limit_in_the_message() {
    for secs in [0.0, 0.5, 86_400.0] {
        assert_eq!(duration_from_secs(secs), Ok(Duration::from_secs_f64(secs)));
    }
    for secs in [86_400.5, 1e19, 1e300, -1.0, f64::NAN, f64::INFINITY] {
        let refused = duration_from_secs(secs).expect_err("refused");
        assert!(matches!(refused, LoadGenError::InvalidDuration(_)), "{secs}: {refused:?}");
        assert!(refused.to_string().contains("from 0 to 86400"), "{refused}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let _on = runtime.enter();
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let started = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 1.0, Some(Duration::MAX), CancellationToken::new());
    assert!(matches!(started, Err(LoadGenError::InvalidDuration(_))), "{started:?}");
}

#[tokio::test]
async fn a_rate_too_small_to_schedule_a_second_request_sends_one_and_finishes() {
    let counter = Counter::default();
    let addr = serve(Router::new().fallback(any(count)).with_state(counter.clone())).await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 1e-300, Some(Duration::from_millis(300)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.state, r.sent, r.ok), (LoadState::Finished, 1, 1));
}

#[test]
fn outside_a_runtime_start_is_an_error_not_a_panic() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let started = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 10.0, None, CancellationToken::new());
    assert!(matches!(started, Err(LoadGenError::NoRuntime)), "{started:?}");
}

/// Serves every accepted connection with `serve_one` and counts the connections.
async fn counting_server<F, Fut>(serve_one: F) -> (SocketAddr, Arc<AtomicU64>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_one(stream));
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_rate_reuses_a_few_keep_alive_connections() {
    let (addr, connections) = counting_server(|stream| async move {
        let service = hyper::service::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok")))) });
        let _closed = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
    })
    .await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 500.0, Some(Duration::from_secs(2)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.sent, r.ok, r.errors.total()), (1000, 1000, 0));
    let opened = connections.load(Ordering::SeqCst);
    // One connection per request would be 1000; a burst per timer tick needs a handful, and a
    // stall of the shared host (requests keep coming in an open loop) a few dozen more.
    assert!((1..=100).contains(&opened), "{opened} connections for 1000 requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_after_each_response_still_gets_every_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // HTTP/1.0 style, like Python's http.server: one response, then the connection closes.
    let (addr, connections) = counting_server(|mut stream| async move {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _gone = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
    })
    .await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 100.0, Some(Duration::from_secs(1)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.sent, r.ok, r.errors.total()), (100, 100, 0), "{:?}", r.errors);
    assert_eq!(connections.load(Ordering::SeqCst), 100, "a new connection for each request");
}

/// Reads one request head from `stream`; false once the client has gone.
async fn read_head(stream: &mut tokio::net::TcpStream, got: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            got.drain(..end + 4);
            return true;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_responses_written_in_pieces_keep_their_connection() {
    use tokio::io::AsyncWriteExt;
    let (addr, connections) = counting_server(|mut stream| async move {
        let mut got = Vec::new();
        while read_head(&mut stream, &mut got).await {
            // Each piece its own write, so the client sees the body arrive in parts.
            for piece in [&b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..], b"3\r\nabc\r\n", b"4;ext=1\r\ndefg\r\n", b"0\r\n\r\n"] {
                if stream.write_all(piece).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 200.0, Some(Duration::from_secs(1)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.sent, r.ok, r.errors.total()), (200, 200, 0), "{:?}", r.errors);
    let opened = connections.load(Ordering::SeqCst);
    assert!((1..=32).contains(&opened), "{opened} connections for 200 chunked responses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_the_server_dropped_is_replaced_without_an_error() {
    use tokio::io::AsyncWriteExt;
    // Keep-alive framing, then the server closes anyway (as an idle timeout does).
    let (addr, connections) = counting_server(|mut stream| async move {
        let mut got = Vec::new();
        if read_head(&mut stream, &mut got).await {
            let _gone = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        }
    })
    .await;
    let h = LoadGen::start(addr, &scenario(vec![get("/", 1)]), 50.0, Some(Duration::from_secs(1)), CancellationToken::new())
        .expect("start");
    let r = timeout(T, h.finished()).await.expect("finishes");
    assert_eq!((r.sent, r.ok, r.errors.total()), (50, 50, 0), "{:?}", r.errors);
    assert!(connections.load(Ordering::SeqCst) >= 50, "each request needed a connection of its own");
}

/// Wall-clock checks: `make test` runs `timing` modules one test at a time, after the parallel pass.
mod timing {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_200_rps_for_5_s_it_sends_1000_requests_at_about_that_rate() {
        let counter = Counter::default();
        let addr = serve(Router::new().fallback(any(count)).with_state(counter.clone())).await;
        let s = scenario(vec![get("/", 1)]);
        let h = LoadGen::start(addr, &s, 200.0, Some(Duration::from_secs(5)), CancellationToken::new()).expect("start");
        let r = timeout(T, h.finished()).await.expect("finishes");
        println!("200 rps × 5 s: {r:?}");
        assert_eq!(r.state, LoadState::Finished);
        assert_eq!(r.sent, 1000);
        assert_eq!(counter.get("/"), 1000);
        assert_eq!((r.ok, r.errors.total()), (1000, 0));
        // Never faster than asked (an open loop sends on its schedule); slower only by what a busy
        // machine costs. The ±1% figure is the bench's (P9, release build).
        assert!((160.0..=210.0).contains(&r.achieved_rps_total), "achieved {} rps", r.achieved_rps_total);
        assert!((4.9..6.5).contains(&r.elapsed_s), "took {} s", r.elapsed_s);
    }

    /// Every request arriving in [start + 1.5 s, start + 2.5 s) is held until the window ends.
    async fn stalling_server() -> SocketAddr {
        let window_start = Instant::now() + Duration::from_millis(1500);
        let window_end = window_start + Duration::from_secs(1);
        let app = Router::new().fallback(any(move || async move {
            let now = Instant::now();
            if now >= window_start && now < window_end {
                tokio::time::sleep_until(window_end).await;
            }
            "ok"
        }));
        serve(app).await
    }

    /// A naïve closed-loop client: one request at a time, the next 10 ms after the last
    /// answer, latency timed from the actual send.
    async fn closed_loop(addr: SocketAddr, run: Duration) -> hdrhistogram::Histogram<u64> {
        let client = super::client();
        let mut h = crate::metrics::tally::new_histogram().expect("histogram");
        let p = Prepared::new(addr, &get("/", 1), &BTreeMap::new()).expect("request");
        let end = Instant::now() + run;
        while Instant::now() < end {
            let sent = Instant::now();
            let resp = timeout(T, client.request(p.request())).await.expect("in time").expect("response");
            timeout(T, resp.into_body().collect()).await.expect("in time").expect("body");
            h.saturating_record(crate::metrics::tally::micros(sent.elapsed()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_p99_shows_a_one_second_stall_that_a_closed_loop_hides() {
        let (open_addr, closed_addr) = (stalling_server().await, stalling_server().await);
        let s = scenario(vec![get("/", 1)]);
        let run = Duration::from_secs(4);
        let h = LoadGen::start(open_addr, &s, 100.0, Some(run), CancellationToken::new()).expect("start");
        let (open, closed) = tokio::join!(timeout(T, h.finished()), closed_loop(closed_addr, run));
        let open = open.expect("finishes");
        let ms = |us: u64| us as f64 / 1000.0;
        let (closed_p99, closed_max) = (ms(closed.value_at_quantile(0.99)), ms(closed.max()));
        println!("open loop: {:?}; closed loop: {} requests, p99 {closed_p99} ms, max {closed_max} ms", open.latency, closed.len());
        assert_eq!((open.sent, open.errors.total()), (400, 0));
        let open_p99 = open.latency.p99_ms.expect("p99");
        assert!(open_p99 >= 900.0, "open-loop p99 {open_p99} ms should show the 1 s stall");
        // The closed loop met the stall too (its max) but sent one request into it, not a hundred.
        assert!(closed_max >= 400.0, "the closed loop was exposed to the stall: max {closed_max} ms");
        // Under half the stall: the closed loop's p99 is its ordinary latency, whatever the machine's load.
        assert!(closed_p99 < 450.0, "closed-loop p99 {closed_p99} ms hides it");
        assert!(open_p99 > 2.0 * closed_p99);
    }
}
