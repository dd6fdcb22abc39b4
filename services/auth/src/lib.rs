//! # auth — log-in and tokens (sample service)
//!
//! Shows: **independent scaling of a CPU-bound service**. Passwords are hashed with salted
//! PBKDF2 whose cost is `AUTH_HASH_ITERATIONS`, so a login storm (the `login-storm` load
//! scenario) loads auth alone; in the dashboard, watch auth's latency and CPU climb, then
//! scale auth to 3 and see them fall while the other services never noticed. Replicas
//! share one signing secret and one credential store in the data folder, so a token one
//! replica issues is accepted by any other.
//!
//! Routes: `POST /register {username,password}` → 201; `POST /login` → `{token}`;
//! `POST /verify` (bearer header or `{token}`) → `{username}` or 401.
//!
//! - `store`: the shared secret and the credential database.

pub mod store;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use store::{Credentials, StoreError};

/// About 40–55 ms per hash on one core of a 2-core dev machine under load (auth is built
/// with opt-level 3 even in debug builds, so debug and release cost about the same).
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// Tokens live a day, so a long load run keeps its token.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `AUTH_HASH_ITERATIONS`, else [`DEFAULT_ITERATIONS`].
pub fn iterations_from_env() -> u32 {
    std::env::var("AUTH_HASH_ITERATIONS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_ITERATIONS)
}

/// One auth replica's state.
#[derive(Clone)]
pub struct Auth {
    /// Keyed with the shared secret once; cloned per token.
    mac: Hmac<Sha256>,
    creds: Credentials,
    iterations: u32,
}

impl Auth {
    /// Opens (creating on first start) the shared secret and credentials; seeds `demo`/`demo`.
    pub fn open(data_dir: &Path, iterations: u32) -> Result<Auth, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let secret = store::load_or_create_secret(data_dir)?;
        let creds = Credentials::open(data_dir)?;
        match creds.add("demo", "demo", iterations) {
            Ok(()) | Err(StoreError::Taken) => {}
            Err(e) => return Err(e),
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret).map_err(|_| StoreError::BadSecret(data_dir.join("secret")))?;
        Ok(Auth { mac, creds, iterations })
    }

    /// `base64(payload).base64(hmac)`, payload = `{"sub":..., "exp":...}`.
    pub fn issue(&self, username: &str) -> String {
        let exp = (SystemTime::now() + TOKEN_TTL).duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let payload = B64.encode(serde_json::json!({ "sub": username, "exp": exp }).to_string());
        let sig = B64.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// The username a valid, unexpired token names.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (payload, sig) = token.split_once('.')?;
        self.mac(payload).verify_slice(&B64.decode(sig).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        (claims.exp > now).then_some(claims.sub)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct TokenReply {
    token: String,
}

/// The routes of one auth replica (the kit adds health, knobs and logs).
pub fn router(auth: Auth) -> Router {
    Router::new()
        .route("/register", post(register))
        .route("/login", post(login))
        .route("/verify", post(verify))
        .with_state(auth)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "auth failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

async fn register(State(auth): State<Auth>, Json(req): Json<Login>) -> Response {
    if !valid_username(&req.username) {
        return error(StatusCode::BAD_REQUEST, "username: 1 to 32 letters, digits, `_`, `.` or `-`");
    }
    if req.password.is_empty() || req.password.len() > 256 {
        return error(StatusCode::BAD_REQUEST, "password: 1 to 256 bytes");
    }
    let (creds, iterations, name) = (auth.creds.clone(), auth.iterations, req.username.clone());
    // Hashing is CPU work: off the async threads.
    match tokio::task::spawn_blocking(move || creds.add(&name, &req.password, iterations)).await {
        Ok(Ok(())) => (StatusCode::CREATED, Json(serde_json::json!({ "username": req.username }))).into_response(),
        Ok(Err(StoreError::Taken)) => error(StatusCode::CONFLICT, "username taken"),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn login(State(auth): State<Auth>, Json(req): Json<Login>) -> Response {
    let creds = auth.creds.clone();
    let name = req.username.clone();
    match tokio::task::spawn_blocking(move || creds.check(&name, &req.password)).await {
        Ok(Ok(true)) => Json(TokenReply { token: auth.issue(&req.username) }).into_response(),
        Ok(Ok(false)) => error(StatusCode::UNAUTHORIZED, "invalid username or password"),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

/// The token from `Authorization: Bearer …`, else from a JSON body `{"token": …}`.
fn token_of(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| serde_json::from_slice::<serde_json::Value>(body).ok()?.get("token")?.as_str().map(str::to_string))
}

async fn verify(State(auth): State<Auth>, headers: HeaderMap, body: Bytes) -> Response {
    match token_of(&headers, &body).and_then(|t| auth.verify(&t)) {
        Some(username) => Json(serde_json::json!({ "username": username })).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "missing, invalid or expired token"),
    }
}

#[cfg(test)]
mod tests;
