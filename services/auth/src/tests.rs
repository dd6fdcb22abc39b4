//! Handler tests of auth, through `Router::oneshot`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::store::tests::tempdir;

/// Cheap hashing: these tests are about behaviour, not cost.
const TEST_ITERATIONS: u32 = 1_000;

fn replica(dir: &std::path::Path, n: &str) -> Router {
    let mut cfg = service_kit::Config::for_test("auth", dir);
    cfg.replica = n.into();
    service_kit::app(&cfg, router(Auth::open(dir, TEST_ITERATIONS).unwrap()))
}

async fn call(app: &Router, path: &str, bearer: Option<&str>, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method("POST").uri(path).header("content-type", "application/json");
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let fut = app.clone().oneshot(req.body(Body::from(body.to_string())).unwrap());
    let resp = tokio::time::timeout(Duration::from_secs(10), fut).await.unwrap().unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn creds(u: &str, p: &str) -> serde_json::Value {
    serde_json::json!({ "username": u, "password": p })
}

#[tokio::test]
async fn register_login_verify() {
    let dir = tempdir();
    let app = replica(dir.path(), "0");
    let (status, _) = call(&app, "/register", None, creds("alice", "s3cret")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&app, "/register", None, creds("alice", "other")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(&app, "/register", None, creds("no/slash", "x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = call(&app, "/login", None, creds("alice", "wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, "/login", None, creds("nobody", "s3cret")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app, "/login", None, creds("alice", "s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    let token = body["token"].as_str().unwrap().to_string();

    let (status, body) = call(&app, "/verify", Some(&token), serde_json::Value::Null).await;
    assert_eq!((status, body["username"].as_str()), (StatusCode::OK, Some("alice")));
    let (status, body) = call(&app, "/verify", None, serde_json::json!({ "token": token })).await;
    assert_eq!((status, body["username"].as_str()), (StatusCode::OK, Some("alice")));

    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, _) = call(&app, "/verify", Some(&forged), serde_json::Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, "/verify", None, serde_json::json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn demo_user_is_seeded() {
    let dir = tempdir();
    let app = replica(dir.path(), "0");
    let (status, body) = call(&app, "/login", None, creds("demo", "demo")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn token_from_one_replica_is_accepted_by_another() {
    let dir = tempdir();
    let (a, b) = (replica(dir.path(), "0"), replica(dir.path(), "1"));
    let (status, _) = call(&a, "/register", None, creds("bob", "pw")).await;
    assert_eq!(status, StatusCode::CREATED);
    // Registered on one replica, logs in on the other: one credential store.
    let (status, body) = call(&b, "/login", None, creds("bob", "pw")).await;
    assert_eq!(status, StatusCode::OK);
    let token = body["token"].as_str().unwrap().to_string();
    let (status, body) = call(&a, "/verify", Some(&token), serde_json::Value::Null).await;
    assert_eq!((status, body["username"].as_str()), (StatusCode::OK, Some("bob")));

    // A replica of another cluster (another data folder, another secret) rejects it.
    let other = tempdir();
    let stranger = replica(other.path(), "0");
    let (status, _) = call(&stranger, "/verify", Some(&token), serde_json::Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
