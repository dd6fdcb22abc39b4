//! The guard over a trivial router, served on a real loopback listener.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use reqwest::header::{AUTHORIZATION, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
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
    let app = Guard::new(TOKEN, port).protect(
        Router::new().route("/", get(|| async { "home" })).route("/api/ping", get(|| async { "pong" })),
    );
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
    let r = send(client().get(format!("{}/?token=nope", s.base))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn accepts_the_bearer_token() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/api/ping", s.base)).bearer_auth(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn accepts_the_cookie() {
    let s = serve_trivial().await;
    let cookie = format!("theme=dark; {COOKIE_NAME}={TOKEN}");
    let r = send(client().get(format!("{}/api/ping", s.base)).header(COOKIE, cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
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

#[tokio::test]
async fn login_url_sets_an_httponly_samesite_strict_cookie_and_redirects_home() {
    let s = serve_trivial().await;
    let r = send(client().get(format!("{}/?token={TOKEN}", s.base))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers().get(LOCATION).unwrap(), "/");
    let cookie = r.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let parts: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(parts[0], format!("{COOKIE_NAME}={TOKEN}"));
    assert!(parts.contains(&"HttpOnly"), "{cookie}");
    assert!(parts.contains(&"SameSite=Strict"), "{cookie}");
    assert!(parts.contains(&"Path=/"), "{cookie}");
    // The cookie it set is what lets the browser in afterwards.
    let r = send(client().get(format!("{}/", s.base)).header(COOKIE, parts[0])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "home");
}

#[test]
fn constant_time_eq_compares_whole_strings() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
    assert!(!constant_time_eq(b"", b"a"));
}
