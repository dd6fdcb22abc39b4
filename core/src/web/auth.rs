//! The guard in front of every route: loopback `Host` only (DNS rebinding), no foreign
//! `Origin` (CSRF), and the token as a bearer header or the `microdeck_token` cookie.
//! `GET /?token=T` trades a right token for that cookie so a browser's SSE works.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::error::ApiError;

/// The cookie a browser carries after opening the printed URL.
pub const COOKIE_NAME: &str = "microdeck_token";

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

    /// Wraps every route of `router` (and its fallback) in the guard.
    pub fn protect<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        router.layer(middleware::from_fn_with_state(self, check))
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

    fn presented_token_ok(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.token_matches(t.trim()));
        bearer || cookie_values(headers, COOKIE_NAME).any(|t| self.token_matches(t))
    }
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    // HTTP/1.1 sends `Host`; HTTP/2 puts it in the URI's authority.
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(h) if guard.host_allowed(&h) => {}
        Some(h) => return ApiError::forbidden(format!("host `{h}` is not this server")).into_response(),
        None => return ApiError::forbidden("a Host header is required").into_response(),
    }
    if let Some(origin) = request.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !guard.origin_allowed(origin) {
            return ApiError::forbidden(format!("origin `{origin}` may not call this server")).into_response();
        }
    }
    if let Some(token) = login_token(&request) {
        if !guard.token_matches(&token) {
            return ApiError::unauthorized().into_response();
        }
        return login_response(&token);
    }
    if !guard.presented_token_ok(request.headers()) {
        return ApiError::unauthorized().into_response();
    }
    next.run(request).await
}

/// The `token` query parameter of a `GET /`, if any.
fn login_token(request: &Request) -> Option<String> {
    if request.method() != Method::GET || request.uri().path() != "/" {
        return None;
    }
    let query = request.uri().query()?;
    form_urlencoded_pairs(query).find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn login_response(token: &str) -> Response {
    let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(SET_COOKIE, cookie);
            response.headers_mut().insert(LOCATION, HeaderValue::from_static("/"));
            response
        }
        // A token that matched ours is plain hex, so this only guards against a future change.
        Err(_) => ApiError::unauthorized().into_response(),
    }
}

fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default().into_iter()
}

fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
