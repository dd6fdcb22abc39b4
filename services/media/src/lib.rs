//! # media — an object store on disk (sample service)
//!
//! Shows: **a service that owns its data and serves it directly**, and **a CPU-costly
//! endpoint scaled on its own**. Objects are files under this service's data folder,
//! downloaded with their content type and byte ranges; thumbnails are decoded and resized
//! for real on every request. In the dashboard, run the `media` load scenario and watch
//! media's CPU and latency rise while auth and users stay flat; stop auth and media keeps
//! serving its objects (fault isolation). Uploads and downloads post events to analytics.
//!
//! Routes: `GET /objects`, `PUT|POST /objects/{name}`, `GET /objects/{name}` (ranges),
//! `GET /objects/{name}/thumbnail?size=N`.
//!
//! - `store`: the files, the seeded images and the thumbnail computation.

pub mod store;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde::Deserialize;
use service_kit::Analytics;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub use store::{ObjectInfo, Store, StoreError};

/// The largest upload accepted.
pub const MAX_UPLOAD: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct AppState {
    store: Store,
    analytics: Analytics,
}

/// The routes of one media replica (the kit adds health, knobs and logs).
pub fn router(store: Store, analytics: Analytics) -> Router {
    Router::new()
        .route("/objects", get(list))
        .route("/objects/{name}", get(download).put(upload).post(upload))
        .route("/objects/{name}/thumbnail", get(thumbnail))
        .with_state(AppState { store, analytics })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "media failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn bad_name() -> Response {
    error(StatusCode::BAD_REQUEST, "object names are letters, digits, `_`, `.`, `-` (not starting with `.`)")
}

async fn list(State(s): State<AppState>) -> Response {
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || store.list()).await {
        Ok(Ok(all)) => {
            s.analytics.event("list", serde_json::json!({ "count": all.len() }));
            Json(all).into_response()
        }
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

/// Streams the body to a temporary file, then renames it into place.
async fn upload(State(s): State<AppState>, Path(name): Path<String>, body: Body) -> Response {
    if !store::valid_name(&name) {
        return bad_name();
    }
    let tmp = s.store.temp_path(&name);
    let written = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut stream = body.into_data_stream().map_err(std::io::Error::other);
        let mut size = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            size += chunk.len() as u64;
            if size > MAX_UPLOAD {
                return Ok(None);
            }
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        tokio::fs::rename(&tmp, s.store.path(&name)).await?;
        Ok::<_, std::io::Error>(Some(size))
    }
    .await;
    match written {
        Ok(Some(size)) => {
            s.analytics.event("upload", serde_json::json!({ "object": name, "bytes": size }));
            (StatusCode::CREATED, Json(ObjectInfo { content_type: store::content_type(&name), size, name })).into_response()
        }
        Ok(None) => {
            let _removed = tokio::fs::remove_file(&tmp).await;
            error(StatusCode::PAYLOAD_TOO_LARGE, format!("uploads are at most {MAX_UPLOAD} bytes"))
        }
        Err(e) => {
            let _removed = tokio::fs::remove_file(&tmp).await;
            internal(e)
        }
    }
}

/// Served by tower-http's `ServeFile`: content type, `Range`, conditional requests.
async fn download(State(s): State<AppState>, Path(name): Path<String>, req: Request) -> Response {
    if !store::valid_name(&name) {
        return bad_name();
    }
    let path = s.store.path(&name);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return error(StatusCode::NOT_FOUND, format!("no object named `{name}`"));
    }
    let range = req.headers().get(header::RANGE).and_then(|r| r.to_str().ok()).map(str::to_string);
    match ServeFile::new(path).oneshot(req).await {
        Ok(resp) => {
            s.analytics.event("download", serde_json::json!({ "object": name, "range": range }));
            resp.map(Body::new)
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct ThumbQuery {
    size: Option<u32>,
}

async fn thumbnail(State(s): State<AppState>, Path(name): Path<String>, Query(q): Query<ThumbQuery>) -> Response {
    if !store::valid_name(&name) {
        return bad_name();
    }
    let size = q.size.unwrap_or(128).clamp(8, 1024);
    let store = s.store.clone();
    let n = name.clone();
    // Decoding and resizing are CPU work: off the async threads.
    match tokio::task::spawn_blocking(move || store.thumbnail(&n, size)).await {
        Ok(Ok(png)) => {
            s.analytics.event("thumbnail", serde_json::json!({ "object": name, "size": size }));
            ([(header::CONTENT_TYPE, "image/png")], png).into_response()
        }
        Ok(Err(StoreError::Io(e))) if e.kind() == std::io::ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, format!("no object named `{name}`"))
        }
        Ok(Err(StoreError::Image(image::ImageError::IoError(e)))) if e.kind() == std::io::ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, format!("no object named `{name}`"))
        }
        Ok(Err(StoreError::Image(e))) => error(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("`{name}` is not an image this service decodes: {e}")),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests;
