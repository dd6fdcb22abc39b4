//! The guard in front of the server: loopback `Host` only (DNS rebinding) and no foreign
//! `Origin` (CSRF) on every request, a bearer token on every API route, and no framing of any
//! answer. The dashboard's files need no token: the page reads it from the address's fragment
//! and sends it as a header. No cookie is ever set or read, since browsers send a cookie to
//! every port of the host.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, HOST, ORIGIN, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::error::ApiError;

/// What the guard checks requests against.
#[derive(Clone)]
pub struct Guard {
    token: Arc<str>,
    port: u16,
}

impl Guard {
    /// `port` is the one the server is bound to: the only port a `Host` may name.
    pub fn new(token: impl Into<Arc<str>>, port: u16) -> Guard {
        Guard { token: token.into(), port }
    }

    /// Makes every route of `router` so far need the token; a fallback added later does not.
    pub fn require_token<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        router.route_layer(middleware::from_fn_with_state(self.clone(), check_token))
    }

    /// Wraps every route of `router` (and its fallback) in the Host and Origin checks and the
    /// headers that forbid framing.
    pub fn protect<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        router.layer(middleware::from_fn_with_state(self, check_caller))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let port = self.port;
        [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|host| self.host_allowed(host))
    }

    fn token_matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.token.as_bytes(), candidate.as_bytes())
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.token_matches(t.trim()))
    }
}

async fn check_caller(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let mut response = match refusal(&guard, &request) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    };
    forbid_framing(response.headers_mut());
    response
}

fn refusal(guard: &Guard, request: &Request) -> Option<ApiError> {
    // HTTP/1.1 sends `Host`; HTTP/2 puts it in the URI's authority.
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(h) if guard.host_allowed(&h) => {}
        Some(h) => return Some(ApiError::forbidden(format!("host `{h}` is not this server"))),
        None => return Some(ApiError::forbidden("a Host header is required")),
    }
    let origin = request.headers().get(ORIGIN)?;
    let origin = origin.to_str().unwrap_or("");
    (!guard.origin_allowed(origin)).then(|| ApiError::forbidden(format!("origin `{origin}` may not call this server")))
}

/// A page of another local port could otherwise frame the dashboard and click through it.
fn forbid_framing(headers: &mut HeaderMap) {
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn check_token(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if !guard.bearer_ok(request.headers()) {
        return ApiError::unauthorized().into_response();
    }
    next.run(request).await
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
