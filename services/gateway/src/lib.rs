//! # gateway — the single entry point (sample service)
//!
//! Shows: **an API gateway** in front of independent services, and **fault isolation**.
//! `/api/<service>/<rest>` is forwarded to `<service>`'s address (`AUTH_URL`, `USERS_URL`,
//! `MEDIA_URL`, `ANALYTICS_URL`) as `/<rest>`; `GET /api/home` verifies the bearer token
//! with auth, then asks users and media at once, so one request fans out to three
//! services. In the dashboard, run the `browse` scenario and watch the edges gateway →
//! auth/users/media light up; stop auth and `/api/home` answers a fast 503 naming auth
//! while `/api/media/objects` keeps working.
//!
//! - `home`: the fan-out page and the naming of a failed dependency.

pub mod home;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use futures_util::TryStreamExt;

/// Largest request body forwarded (uploads to media).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// The services the gateway fronts, and the variable holding each one's address.
pub const UPSTREAMS: [(&str, &str); 4] =
    [("auth", "AUTH_URL"), ("users", "USERS_URL"), ("media", "MEDIA_URL"), ("analytics", "ANALYTICS_URL")];
/// How long `/api/home` waits for each dependency before answering 504 naming it; set
/// `DEPENDENCY_TIMEOUT_MS` to change it.
pub const DEPENDENCY_TIMEOUT: Duration = Duration::from_secs(2);
/// Where an upstream's own `x-replica` is passed on (the gateway's own replaces `x-replica`).
pub const UPSTREAM_REPLICA_HEADER: &str = "x-upstream-replica";

/// Headers that concern one hop only, plus those the gateway sets itself.
const NOT_FORWARDED: [&str; 11] = [
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "content-length", "x-microdeck-caller", "x-replica",
];

#[derive(Clone)]
pub struct Gateway {
    /// service name → base URL.
    pub upstreams: BTreeMap<String, String>,
    /// For `/api/home`: a dependency that is down must fail the page fast.
    pub fast: reqwest::Client,
    /// For forwarded requests, which may queue behind a busy service (a login storm).
    pub patient: reqwest::Client,
}

impl Gateway {
    pub fn new(service: &str, upstreams: BTreeMap<String, String>) -> Gateway {
        Gateway {
            upstreams,
            fast: service_kit::client(service, DEPENDENCY_TIMEOUT),
            patient: service_kit::client(service, Duration::from_secs(30)),
        }
    }

    /// From `AUTH_URL`, `USERS_URL`, `MEDIA_URL`, `ANALYTICS_URL` (unset ones are not routed),
    /// and `DEPENDENCY_TIMEOUT_MS` for the home page's calls.
    pub fn from_env(service: &str) -> Gateway {
        let upstreams =
            UPSTREAMS.iter().filter_map(|(name, var)| Some((name.to_string(), service_kit::env_url(var)?))).collect();
        let mut gw = Gateway::new(service, upstreams);
        if let Some(timeout) = dependency_timeout(std::env::var("DEPENDENCY_TIMEOUT_MS").ok().as_deref()) {
            gw.fast = service_kit::client(service, timeout);
        }
        gw
    }
}

/// `DEPENDENCY_TIMEOUT_MS` read: a whole number of milliseconds above 0; anything else is ignored.
pub fn dependency_timeout(value: Option<&str>) -> Option<Duration> {
    let ms: u64 = value?.trim().parse().ok().filter(|ms| *ms > 0)?;
    Some(Duration::from_millis(ms))
}

/// The gateway's routes (the kit adds health, knobs and logs).
pub fn router(gw: Gateway) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/home", get(home::home))
        .route("/api/{service}", any(forward_root))
        .route("/api/{service}/{*rest}", any(forward))
        .with_state(gw)
}

/// The JSON error every failure of a dependency answers with.
pub fn upstream_error(status: StatusCode, service: &str, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into(), "service": service }))).into_response()
}

/// Maps a failed call to `service` to 503 (unreachable) or 504 (too slow), naming it.
pub fn unreachable(service: &str, e: &reqwest::Error) -> Response {
    if e.is_timeout() {
        upstream_error(StatusCode::GATEWAY_TIMEOUT, service, format!("{service} did not answer in time"))
    } else {
        upstream_error(StatusCode::SERVICE_UNAVAILABLE, service, format!("{service} is unavailable"))
    }
}

async fn index(State(gw): State<Gateway>) -> Json<serde_json::Value> {
    let routes: Vec<String> = gw.upstreams.keys().map(|s| format!("/api/{s}/…")).collect();
    Json(serde_json::json!({ "service": "gateway", "routes": routes, "home": "/api/home" }))
}

async fn forward_root(State(gw): State<Gateway>, Path(service): Path<String>, req: Request) -> Response {
    proxy(gw, &service, "", req).await
}

async fn forward(State(gw): State<Gateway>, Path((service, rest)): Path<(String, String)>, req: Request) -> Response {
    proxy(gw, &service, &rest, req).await
}

async fn proxy(gw: Gateway, service: &str, rest: &str, req: Request) -> Response {
    let Some(base) = gw.upstreams.get(service) else {
        return upstream_error(StatusCode::NOT_FOUND, service, format!("the gateway routes no service named `{service}`"));
    };
    let mut url = format!("{base}/{rest}");
    if let Some(q) = req.uri().query() {
        url.push('?');
        url.push_str(q);
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return upstream_error(StatusCode::PAYLOAD_TOO_LARGE, service, "request body too large"),
    };
    let mut out = gw.patient.request(parts.method, &url).body(body);
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(service, error = %e, "forwarding failed");
            return unreachable(service, &e);
        }
    };
    let mut builder = Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        if name == "x-replica" {
            builder = builder.header(HeaderName::from_static(UPSTREAM_REPLICA_HEADER), value);
        } else if !NOT_FORWARDED.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    builder.body(Body::from_stream(stream)).unwrap_or_else(|e| {
        tracing::error!(error = %e, "bad upstream response");
        upstream_error(StatusCode::BAD_GATEWAY, service, format!("{service} sent a response the gateway cannot pass on"))
    })
}

/// The `x-replica` of an upstream answer, for the home page's `served_by`.
pub fn replica_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get("x-replica").and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string)
}

#[cfg(test)]
mod tests;
