//! Handler tests of users, through `Router::oneshot`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// A data folder removed when the test ends.
fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn app(dir: &std::path::Path, analytics: Analytics) -> Router {
    service_kit::app(&service_kit::Config::for_test("users", dir), router(Db::open(dir).unwrap(), analytics))
}

async fn call(app: &Router, method: &str, path: &str, body: Option<serde_json::Value>) -> (StatusCode, serde_json::Value) {
    let req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let resp = tokio::time::timeout(DEADLINE, app.clone().oneshot(req.body(body).unwrap())).await.unwrap().unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn crud_persists_across_a_new_router_on_the_same_db() {
    let tmp = tempdir();
    let dir = tmp.path().to_path_buf();
    let first = app(&dir, Analytics::new(None, "users"));
    let (status, body) = call(&first, "POST", "/users", Some(serde_json::json!({ "name": "carol", "email": "c@x.test" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["display_name"], "carol");
    let (status, _) = call(&first, "POST", "/users", Some(serde_json::json!({ "name": "carol" }))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(&first, "POST", "/users", Some(serde_json::json!({ "name": "bad name" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(&first, "PUT", "/users/carol", Some(serde_json::json!({ "bio": "hello" }))).await;
    assert_eq!((status, body["bio"].as_str(), body["email"].as_str()), (StatusCode::OK, Some("hello"), Some("c@x.test")));
    let (status, _) = call(&first, "PUT", "/users/nobody", Some(serde_json::json!({ "bio": "x" }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    drop(first);

    // A new process on the same data folder (here: a new router) sees the same rows.
    let second = app(&dir, Analytics::new(None, "users"));
    let (status, body) = call(&second, "GET", "/users/carol", None).await;
    assert_eq!((status, body["bio"].as_str()), (StatusCode::OK, Some("hello")));
    let (status, body) = call(&second, "GET", "/users", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["carol", "demo"]);
    let (status, _) = call(&second, "GET", "/users/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deleted_profile_is_gone_and_a_second_delete_is_a_404() {
    let tmp = tempdir();
    let app = app(tmp.path(), Analytics::new(None, "users"));
    let (status, _) = call(&app, "POST", "/users", Some(serde_json::json!({ "name": "dora" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(call(&app, "DELETE", "/users/dora", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", "/users/dora", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "DELETE", "/users/dora", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_profile_is_seeded() {
    let tmp = tempdir();
    let app = app(tmp.path(), Analytics::new(None, "users"));
    let (status, body) = call(&app, "GET", "/users/demo", None).await;
    assert_eq!((status, body["display_name"].as_str()), (StatusCode::OK, Some("Demo User")));
}

#[tokio::test]
async fn reads_and_writes_post_events_and_survive_analytics_down() {
    let (url, mut rx) = service_kit::testing::fake_analytics().await.unwrap();
    let tmp = tempdir();
    let app = app(tmp.path(), Analytics::new(Some(url), "users"));
    call(&app, "POST", "/users", Some(serde_json::json!({ "name": "dave" }))).await;
    call(&app, "GET", "/users/dave", None).await;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let (caller, ev) = tokio::time::timeout(DEADLINE, rx.recv()).await.unwrap().unwrap();
        assert_eq!((caller.as_str(), ev["source"].as_str(), ev["user"].as_str()), ("users", Some("users"), Some("dave")));
        kinds.push(ev["kind"].as_str().unwrap().to_string());
    }
    kinds.sort();
    assert_eq!(kinds, ["read", "write"]);

    // With nothing listening at the analytics address, requests still succeed.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let tmp = tempdir();
    let app = app_with(tmp.path(), dead);
    let (status, _) = call(&app, "GET", "/users/demo", None).await;
    assert_eq!(status, StatusCode::OK);
}

fn app_with(dir: &std::path::Path, analytics_url: String) -> Router {
    app(dir, Analytics::new(Some(analytics_url), "users"))
}
