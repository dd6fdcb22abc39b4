//! # users — profiles in a database of its own (sample service)
//!
//! Shows: **database per service**. Profiles live in SQLite under this service's own data
//! folder; no other service touches it. In the dashboard, restart users (or kill its
//! replica): a profile created before is still there after, and the gateway's `/api/home`
//! recovers by itself. Every read and write posts an event to analytics (fire-and-forget),
//! visible as the users → analytics edge of the traffic graph.
//!
//! Routes: `POST /users {name, display_name?, email?, bio?}`, `GET /users`,
//! `GET /users/{name}`, `PUT /users/{name} {display_name?, email?, bio?}`, `DELETE /users/{name}`.
//!
//! - `db`: the SQLite store.

pub mod db;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::Analytics;

pub use db::{Db, DbError, Profile, ProfileFields};

#[derive(Clone)]
struct AppState {
    db: Db,
    analytics: Analytics,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProfile {
    name: String,
    #[serde(flatten)]
    fields: ProfileFields,
}

/// The routes of one users replica (the kit adds health, knobs and logs).
pub fn router(db: Db, analytics: Analytics) -> Router {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{name}", get(read).put(update).delete(remove))
        .with_state(AppState { db, analytics })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Runs a database call off the async threads; maps failures to a logged 500.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, DbError> + Send + 'static) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(DbError::Exists(name))) => Err(error(StatusCode::CONFLICT, format!("a profile named `{name}` exists"))),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "users database failed");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "database error"))
        }
        Err(e) => {
            tracing::error!(error = %e, "users task failed");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

async fn list(State(s): State<AppState>) -> Response {
    let db = s.db.clone();
    match blocking(move || db.list(100)).await {
        Ok(all) => {
            s.analytics.event("list", serde_json::json!({ "count": all.len() }));
            Json(all).into_response()
        }
        Err(r) => r,
    }
}

async fn create(State(s): State<AppState>, Json(p): Json<NewProfile>) -> Response {
    if !valid_name(&p.name) {
        return error(StatusCode::BAD_REQUEST, "name: 1 to 32 letters, digits, `_`, `.` or `-`");
    }
    let db = s.db.clone();
    match blocking(move || db.create(&p.name, p.fields)).await {
        Ok(created) => {
            s.analytics.event("write", serde_json::json!({ "user": created.name, "op": "create" }));
            (StatusCode::CREATED, Json(created)).into_response()
        }
        Err(r) => r,
    }
}

async fn read(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let (db, n) = (s.db.clone(), name.clone());
    match blocking(move || db.get(&n)).await {
        Ok(found) => {
            s.analytics.event("read", serde_json::json!({ "user": name, "found": found.is_some() }));
            match found {
                Some(p) => Json(p).into_response(),
                None => error(StatusCode::NOT_FOUND, format!("no profile named `{name}`")),
            }
        }
        Err(r) => r,
    }
}

async fn update(State(s): State<AppState>, Path(name): Path<String>, Json(f): Json<ProfileFields>) -> Response {
    let (db, n) = (s.db.clone(), name.clone());
    match blocking(move || db.update(&n, f)).await {
        Ok(Some(p)) => {
            s.analytics.event("write", serde_json::json!({ "user": name, "op": "update" }));
            Json(p).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no profile named `{name}`")),
        Err(r) => r,
    }
}

async fn remove(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let (db, n) = (s.db.clone(), name.clone());
    match blocking(move || db.delete(&n)).await {
        Ok(true) => {
            s.analytics.event("write", serde_json::json!({ "user": name, "op": "delete" }));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no profile named `{name}`")),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests;
