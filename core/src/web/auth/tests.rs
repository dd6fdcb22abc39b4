//! The guard over a trivial router (an API route, and a fallback standing for the dashboard's
//! files), served on a real loopback listener.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use reqwest::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, COOKIE, HOST, ORIGIN, SET_COOKIE, X_FRAME_OPTIONS};
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const DEADLINE: Duration = Duration::from_secs(10);

struct Served {
    base: String,
    port: u16,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve_trivial() -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let guard = Guard::new(TOKEN, port);
    let api = guard.require_token(Router::new().route("/api/ping", get(|| async { "pong" })));
    let app = guard.protect(api.fallback(|| async { "home" }));
    let stop = CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(until.cancelled_owned()).await.unwrap();
    });
    Served { base: format!("http://127.0.0.1:{port}"), port, stop }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    tokio::time::timeout(DEADLINE, request.send()).await.unwrap().unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: ErrorBodyView = tokio::time::timeout(DEADLINE, response.json()).await.unwrap().unwrap();
    body.code
}

#[derive(serde::Deserialize)]
struct ErrorBodyView {
    code: String,
    #[allow(dead_code)]
    message: String,
}

#[tokio::test]
async fn refuses_a_request_without_the_token() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/api/ping", s.base))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "unauthorized");
}

#[tokio::test]
async fn refuses_a_wrong_token() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/api/ping", s.base)).header(AUTHORIZATION, "Bearer nope")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn accepts_the_bearer_token() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn refuses_the_cookie_as_a_credential() {
    let s = serve_trivial().await;
    // A browser may still hold the cookie older dashboards set: never a credential.
    let cookie = format!("theme=dark; {}={TOKEN}", crate::proxy::DASHBOARD_COOKIE);
    let r = send(client().get(format!("{}/api/ping", s.base)).header(COOKIE, cookie)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "unauthorized");
}

#[tokio::test]
async fn serves_the_files_without_a_token_and_never_sets_a_cookie() {
    let s = serve_trivial().await;
    for path in ["/", "/index.html", "/assets/app.js", &format!("/?token={TOKEN}")] {
        let r = send(client().get(format!("{}{path}", s.base))).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers().get(SET_COOKIE).is_none(), "{path}");
        assert_eq!(r.text().await.unwrap(), "home", "{path}");
    }
    let answers = [
        client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN),
        client().get(format!("{}/api/ping", s.base)),
        client().get(format!("{}/api/ping?token={TOKEN}", s.base)),
    ];
    for request in answers {
        let r = send(request).await;
        assert!(r.headers().get(SET_COOKIE).is_none(), "{} {}", r.url(), r.status());
    }
}

#[tokio::test]
async fn forbids_framing_of_files_api_and_refusals() {
    let s = serve_trivial().await;
    let requests = [
        ("a file", client().get(format!("{}/", s.base))),
        ("the API", client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN)),
        ("a refused token", client().get(format!("{}/api/ping", s.base))),
        ("a refused host", client().get(format!("{}/", s.base)).header(HOST, "evil.example")),
    ];
    for (what, request) in requests {
        let r = send(request).await;
        assert_eq!(r.headers().get(CONTENT_SECURITY_POLICY).map(|v| v.to_str().unwrap()), Some("frame-ancestors 'none'"), "{what}");
        assert_eq!(r.headers().get(X_FRAME_OPTIONS).map(|v| v.to_str().unwrap()), Some("DENY"), "{what}");
    }
}

#[tokio::test]
async fn files_still_need_a_loopback_host_and_origin() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/", s.base)).header(HOST, format!("evil.example:{}", s.port))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(client().get(format!("{}/", s.base)).header(ORIGIN, "http://evil.example")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refuses_a_foreign_host_even_with_the_token() {
    let s = serve_trivial().await;
    for host in [format!("evil.example:{}", s.port), "127.0.0.1:1".to_owned(), "localhost".to_owned()] {
        let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN).header(HOST, &host)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "host {host}");
        assert_eq!(error_code(r).await, "forbidden");
    }
    for host in [format!("localhost:{}", s.port), format!("[::1]:{}", s.port)] {
        let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN).header(HOST, &host)).await;
        assert_eq!(r.status(), StatusCode::OK, "host {host}");
    }
}

#[tokio::test]
async fn refuses_a_foreign_origin_even_with_the_token() {
    let s = serve_trivial().await;
    for origin in ["http://evil.example".to_owned(), "null".to_owned(), format!("https://127.0.0.1:{}", s.port)] {
        let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN).header(ORIGIN, &origin)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "origin {origin}");
    }
    let own = format!("http://127.0.0.1:{}", s.port);
    let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN).header(ORIGIN, own)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn constant_time_eq_compares_whole_strings() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"", b"a"));
}
