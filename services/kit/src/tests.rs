//! Handler tests of the kit, through `Router::oneshot`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> Config {
    Config::for_test("demo", std::env::temp_dir())
}

fn sample_app() -> Router {
    app(&config(), Router::new().route("/hello", get(|| async { "hi" })))
}

async fn call(app: &Router, method: &str, path: &str, body: Option<serde_json::Value>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = tokio::time::timeout(DEADLINE, app.clone().oneshot(req.body(body).unwrap())).await.unwrap().unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn health_answers_json_naming_service_and_replica() {
    let app = sample_app();
    let (status, headers, body) = call(&app, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["service"], "demo");
    assert_eq!(v["replica"], "0");
    assert!(v["uptime_ms"].is_u64(), "{v}");
    assert_eq!(headers["x-replica"], "demo-0");
    assert_eq!((v["version"].as_str(), headers["x-version"].to_str().ok()), (Some("1"), Some("1")));
}

#[tokio::test]
async fn a_version_is_reported_and_a_bad_release_fails_its_health() {
    let routes = || Router::new().route("/hello", get(|| async { "hi" }));
    let v2 = Config { version: "2".into(), ..config() };
    let (status, headers, _) = call(&app(&v2, routes()), "GET", "/hello", None).await;
    assert_eq!((status, headers["x-version"].to_str().ok()), (StatusCode::OK, Some("2")));
    let bad = Config { version: "3".into(), bad_release: BadRelease::Health, ..config() };
    let app = app(&bad, routes());
    let (status, _, body) = call(&app, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((json(&body)["status"].as_str(), json(&body)["version"].as_str()), (Some("failing"), Some("3")));
    // Only its health fails: a request that reaches it is served.
    assert_eq!(call(&app, "GET", "/hello", None).await.0, StatusCode::OK);
    let crash = Config { bad_release: BadRelease::Crash, ..config() };
    assert!(run(crash, routes()).await.is_err(), "a crashing release ends at start");
    assert_eq!(BadRelease::parse(Some("crash")), BadRelease::Crash);
    assert_eq!(BadRelease::parse(Some("nonsense")), BadRelease::No);
}

#[tokio::test]
async fn every_answer_carries_x_replica() {
    let mut cfg = config();
    cfg.replica = "3".into();
    let app = app(&cfg, Router::new().route("/hello", get(|| async { "hi" })));
    for path in ["/hello", "/admin/knobs", "/no-such-route"] {
        let (_, headers, _) = call(&app, "GET", path, None).await;
        assert_eq!(headers["x-replica"], "demo-3", "{path}");
    }
}

#[tokio::test]
async fn knobs_read_and_partially_update() {
    let app = sample_app();
    let (_, _, body) = call(&app, "GET", "/admin/knobs", None).await;
    assert_eq!(json(&body), serde_json::json!({ "work_ms": 0, "max_inflight": 0, "error_rate": 0.0 }));
    let (status, _, _) = call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "work_ms": 20 }))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, _) = call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "max_inflight": 4 }))).await;
    let (_, _, body) = call(&app, "GET", "/admin/knobs", None).await;
    assert_eq!(json(&body), serde_json::json!({ "work_ms": 20, "max_inflight": 4, "error_rate": 0.0 }));
    let (status, _, body) = call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "error_rate": 2.0 }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn error_rate_one_fails_own_routes_but_not_health() {
    let app = sample_app();
    call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "error_rate": 1.0 }))).await;
    for _ in 0..5 {
        let (status, _, _) = call(&app, "GET", "/hello", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let (status, _, _) = call(&app, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "error_rate": 0.0 }))).await;
    let (status, _, body) = call(&app, "GET", "/hello", None).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, b"hi".as_slice()));
}

#[tokio::test]
async fn work_ms_adds_latency() {
    let app = sample_app();
    call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "work_ms": 150 }))).await;
    let start = Instant::now();
    let (status, _, _) = call(&app, "GET", "/hello", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
}

/// Runs 8 concurrent requests whose handler records how many run at once.
async fn peak_concurrency(max_inflight: u32) -> usize {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let routes = Router::new().route(
        "/slow",
        get(move || {
            let (n, p) = (n.clone(), p.clone());
            async move {
                let cur = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(cur, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                "done"
            }
        }),
    );
    let app = app(&config(), routes);
    call(&app, "POST", "/admin/knobs", Some(serde_json::json!({ "max_inflight": max_inflight }))).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { call(&app, "GET", "/slow", None).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    peak.load(Ordering::SeqCst)
}

#[tokio::test]
async fn max_inflight_makes_the_rest_wait() {
    assert_eq!(peak_concurrency(2).await, 2);
    // Without a limit the same load overlaps further, so the bound above is the knob's doing.
    assert!(peak_concurrency(0).await > 2);
}

static CRASHED: AtomicBool = AtomicBool::new(false);

// The exit itself and its order after the reply: tests/tests/samples, with a real process.
#[tokio::test]
async fn crash_replies_then_runs_the_crash_hook() {
    let mut cfg = config();
    cfg.crash = || CRASHED.store(true, Ordering::SeqCst);
    let app = app(&cfg, Router::new());
    let (status, _, _) = call(&app, "POST", "/admin/crash", None).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + DEADLINE;
    while !CRASHED.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "crash hook never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn client_names_its_caller() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = Router::new().route(
        "/who",
        get(|h: axum::http::HeaderMap| async move { h.get(CALLER_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string() }),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, echo, async move {
        let _ = rx.await;
    }));
    let text = tokio::time::timeout(DEADLINE, async {
        client("gateway", Duration::from_secs(2)).get(format!("http://{addr}/who")).send().await.unwrap().text().await.unwrap()
    })
    .await
    .unwrap();
    assert_eq!(text, "gateway");
    tx.send(()).unwrap();
    tokio::time::timeout(DEADLINE, server).await.unwrap().unwrap().unwrap();
}
