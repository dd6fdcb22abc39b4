//! Handler tests of the gateway through `Router::oneshot`, against fake upstreams on port 0.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Uri};
use axum::routing::post;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// Serves `app` on a free port for the rest of the test; returns its URL.
async fn spawn(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A URL where nothing listens.
async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn with_replica(name: &'static str, app: Router) -> Router {
    app.layer(axum::middleware::map_response(move |mut r: Response| async move {
        r.headers_mut().insert("x-replica", HeaderValue::from_static(name));
        r
    }))
}

fn fake_auth() -> Router {
    let verify = post(|h: HeaderMap| async move {
        match h.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer good") => (StatusCode::OK, Json(serde_json::json!({ "username": "demo" }))),
            _ => (StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "error": "bad token" }))),
        }
    });
    // Echoes what arrived, to check the forwarding itself.
    let echo = any(|uri: Uri, h: HeaderMap, body: String| async move {
        Json(serde_json::json!({
            "path": uri.path(), "query": uri.query(), "body": body,
            "caller": h.get("x-microdeck-caller").and_then(|v| v.to_str().ok()),
        }))
    });
    with_replica("auth-1", Router::new().route("/verify", verify).route("/echo/{*rest}", echo))
}

fn fake_users() -> Router {
    let get_user = get(|Path(name): Path<String>| async move {
        if name == "demo" {
            (StatusCode::OK, Json(serde_json::json!({ "name": "demo", "display_name": "Demo User" })))
        } else {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no profile" })))
        }
    });
    with_replica("users-0", Router::new().route("/users/{name}", get_user))
}

fn fake_media() -> Router {
    let list = get(|| async { Json(serde_json::json!([{ "name": "sunset.png", "size": 10 }])) });
    with_replica("media-2", Router::new().route("/objects", list))
}

fn fake_no_ready_replica(service: &'static str) -> Router {
    Router::new().fallback(move || async move {
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "no ready replica", "service": service })))
    })
}

fn gateway(auth: String, users: String, media: String) -> Router {
    let upstreams = [("auth", auth), ("users", users), ("media", media)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    service_kit::app(&service_kit::Config::for_test("gateway", std::env::temp_dir()), router(Gateway::new("gateway", upstreams)))
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, serde_json::Value) {
    let resp = tokio::time::timeout(DEADLINE, app.clone().oneshot(req)).await.unwrap().unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn home_req(token: &str) -> Request<Body> {
    Request::get("/api/home").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn forwards_by_service_prefix() {
    let app = gateway(spawn(fake_auth()).await, spawn(fake_users()).await, spawn(fake_media()).await);
    let req = Request::post("/api/auth/echo/a/b?x=1").header("x-microdeck-caller", "someone").body(Body::from("hello")).unwrap();
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({ "path": "/echo/a/b", "query": "x=1", "body": "hello", "caller": "gateway" }));
    assert_eq!(headers["x-replica"], "gateway-0");
    assert_eq!(headers[UPSTREAM_REPLICA_HEADER], "auth-1");

    let (status, _, body) = call(&app, Request::get("/api/users/users/demo").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["display_name"].as_str()), (StatusCode::OK, Some("Demo User")));
    let (status, _, body) = call(&app, Request::get("/api/nope/x").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["service"].as_str()), (StatusCode::NOT_FOUND, Some("nope")));
}

#[tokio::test]
async fn home_fans_out_to_auth_users_and_media() {
    let app = gateway(spawn(fake_auth()).await, spawn(fake_users()).await, spawn(fake_media()).await);
    let (status, _, body) = call(&app, home_req("good")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], "demo");
    assert_eq!(body["profile"]["display_name"], "Demo User");
    assert_eq!(body["media"][0]["name"], "sunset.png");
    assert_eq!(body["served_by"], serde_json::json!({ "auth": "auth-1", "users": "users-0", "media": "media-2" }));

    let (status, _, _) = call(&app, home_req("forged")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, Request::get("/api/home").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn home_names_a_failing_media_or_users() {
    let (auth, users, media) = (spawn(fake_auth()).await, spawn(fake_users()).await, spawn(fake_media()).await);
    let app = gateway(auth.clone(), users.clone(), spawn(fake_no_ready_replica("media")).await);
    let (status, _, body) = call(&app, home_req("good")).await;
    assert_eq!((status, body["service"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("media")));
    let app = gateway(auth, dead_url().await, media);
    let (status, _, body) = call(&app, home_req("good")).await;
    assert_eq!((status, body["service"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("users")));
}

/// Wall-clock checks: `make test` runs `timing` modules one test at a time, after the parallel pass.
mod timing {
    use super::*;

    #[tokio::test]
    async fn home_with_auth_down_fails_fast_naming_auth() {
        let (users, media) = (spawn(fake_users()).await, spawn(fake_media()).await);
        for auth in [dead_url().await, spawn(fake_no_ready_replica("auth")).await] {
            let app = gateway(auth, users.clone(), media.clone());
            let start = Instant::now();
            let (status, _, body) = call(&app, home_req("good")).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["service"], "auth", "{body}");
            // Under the 2 s the gateway would wait for an auth that hangs: it did not wait at all.
            assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
            // Media still answers through the same gateway.
            let (status, _, _) = call(&app, Request::get("/api/media/objects").body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
}

#[test]
fn the_dependency_timeout_is_read_from_a_whole_number_of_milliseconds() {
    assert_eq!(crate::dependency_timeout(Some("500")), Some(Duration::from_millis(500)));
    assert_eq!(crate::dependency_timeout(Some(" 2000 ")), Some(crate::DEPENDENCY_TIMEOUT));
    for ignored in [None, Some(""), Some("0"), Some("2s"), Some("-1")] {
        assert_eq!(crate::dependency_timeout(ignored), None, "{ignored:?}");
    }
}
