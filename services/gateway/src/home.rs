//! `GET /api/home`: verify the caller with auth, then fetch the profile (users) and the
//! media list (media) concurrently. A failing dependency is named in a fast 503.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::{replica_of, unreachable, upstream_error, Gateway};

/// A dependency's answer: status, JSON body (null if none), replica that served it.
struct Answer {
    status: StatusCode,
    body: Value,
    replica: Option<String>,
}

async fn call(gw: &Gateway, service: &str, req: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder) -> Result<Answer, Response> {
    let Some(base) = gw.upstreams.get(service) else {
        return Err(upstream_error(StatusCode::SERVICE_UNAVAILABLE, service, format!("no address configured for {service}")));
    };
    let resp = req(&gw.fast, base).send().await.map_err(|e| {
        tracing::warn!(service, error = %e, "dependency call failed");
        unreachable(service, &e)
    })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let replica = replica_of(resp.headers());
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok(Answer { status, body, replica })
}

/// A non-success answer from `service` becomes a 503 that names it (the engine's proxy
/// answers 503 `{"error":"no ready replica",...}` itself when the service has no replica).
fn failed(service: &str, a: &Answer) -> Response {
    let reason = a.body.get("error").and_then(Value::as_str).unwrap_or("error");
    let resp = upstream_error(StatusCode::SERVICE_UNAVAILABLE, service, format!("{service} answered {}: {reason}", a.status.as_u16()));
    tracing::warn!(service, status = a.status.as_u16(), reason, "dependency failed");
    resp
}

pub async fn home(State(gw): State<Gateway>, headers: HeaderMap) -> Response {
    let Some(auth_header) = headers.get("authorization").cloned() else {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "log in first: Authorization: Bearer <token>" }))).into_response();
    };
    let verified = match call(&gw, "auth", |c, base| c.post(format!("{base}/verify")).header("authorization", auth_header)).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if verified.status == StatusCode::UNAUTHORIZED {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid or expired token" }))).into_response();
    }
    let Some(username) = verified.body.get("username").and_then(Value::as_str).filter(|_| verified.status.is_success()) else {
        return failed("auth", &verified);
    };
    let (profile, media) = tokio::join!(
        call(&gw, "users", |c, base| c.get(format!("{base}/users/{username}"))),
        call(&gw, "media", |c, base| c.get(format!("{base}/objects"))),
    );
    let (profile, media) = match (profile, media) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    // No profile yet is a normal state for a freshly registered user.
    if !profile.status.is_success() && profile.status != StatusCode::NOT_FOUND {
        return failed("users", &profile);
    }
    if !media.status.is_success() {
        return failed("media", &media);
    }
    Json(json!({
        "user": username,
        "profile": if profile.status.is_success() { profile.body } else { Value::Null },
        "media": media.body,
        "served_by": { "auth": verified.replica, "users": profile.replica, "media": media.replica },
    }))
    .into_response()
}
