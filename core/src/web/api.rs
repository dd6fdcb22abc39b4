//! The JSON routes of docs/api.md, each a few lines over `Cluster`, and the SSE feed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, ApiResult};
use crate::cluster::{Cluster, LogQuery, ReloadReport, Update};
use crate::snapshot::{ClusterSnapshot, Event, Level, LogLine};

/// What every handler reaches: the cluster, and the server's shutdown (which ends SSE feeds).
#[derive(Clone)]
pub struct ApiState {
    pub cluster: Cluster,
    pub shutdown: CancellationToken,
}

/// How often an idle SSE feed sends a comment, so proxies and browsers keep it open.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .route("/api/logs", get(logs))
        .route("/api/subscribe", get(subscribe))
        .route("/api/services/{name}/start", post(start_service))
        .route("/api/services/{name}/stop", post(stop_service))
        .route("/api/services/{name}/restart", post(restart_service))
        .route("/api/services/{name}/scale", post(scale))
        .route("/api/services/{name}/replicas/{index}/kill", post(kill_replica))
        .route("/api/cluster/start-all", post(start_all))
        .route("/api/cluster/stop-all", post(stop_all))
        .route("/api/reload", post(reload))
        .merge(super::traffic::routes())
        .merge(super::deploy::routes())
        .merge(super::lessons::routes())
        .merge(super::autoscale::routes())
        .merge(super::fault::routes())
        // Anything else under /api is a mistake, not a page of the app.
        .route("/api", get(unknown_route).post(unknown_route))
        .route("/api/{*rest}", get(unknown_route).post(unknown_route))
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such API route; see docs/api.md")
}

async fn snapshot(State(s): State<ApiState>) -> Json<ClusterSnapshot> {
    Json(s.cluster.snapshot())
}

async fn events(State(s): State<ApiState>) -> Json<Vec<Event>> {
    Json(s.cluster.events().await)
}

/// The query string of `/api/logs`; empty values mean "any".
#[derive(Debug, Deserialize)]
pub struct LogParams {
    service: Option<String>,
    replica: Option<String>,
    level: Option<String>,
    text: Option<String>,
    limit: Option<String>,
}

impl TryFrom<LogParams> for LogQuery {
    type Error = ApiError;
    fn try_from(p: LogParams) -> Result<LogQuery, ApiError> {
        fn given(v: Option<String>) -> Option<String> {
            v.filter(|v| !v.is_empty())
        }
        fn number<T: std::str::FromStr>(key: &str, v: Option<String>) -> Result<Option<T>, ApiError> {
            given(v)
                .map(|v| v.parse().map_err(|_| ApiError::invalid_argument(format!("`{key}` must be a number, not `{v}`"))))
                .transpose()
        }
        let level = given(p.level)
            .map(|l| {
                serde_json::from_value::<Level>(Value::String(l.to_ascii_lowercase())).map_err(|_| {
                    ApiError::invalid_argument(format!("unknown level `{l}` (trace, debug, info, warn, error)"))
                })
            })
            .transpose()?;
        Ok(LogQuery {
            service: given(p.service),
            replica: number("replica", p.replica)?,
            level,
            text: given(p.text),
            limit: number("limit", p.limit)?,
        })
    }
}

async fn logs(State(s): State<ApiState>, params: Result<Query<LogParams>, QueryRejection>) -> ApiResult<Vec<LogLine>> {
    let Query(params) = params.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    let query = LogQuery::try_from(params)?;
    Ok(Json(s.cluster.logs(&query).await))
}

/// `event: update` frames carrying `Update` JSON, from a snapshot on; ends with the cluster or the server.
async fn subscribe(State(s): State<ApiState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let subscription = s.cluster.subscribe();
    let updates = stream::unfold(subscription, |mut sub| async move { sub.recv().await.map(|u| (u, sub)) });
    let frames = updates
        .filter_map(|update: Update| async move {
            match SseEvent::default().event("update").json_data(&update) {
                Ok(frame) => Some(Ok(frame)),
                Err(e) => {
                    tracing::warn!("could not encode an update for SSE: {e}");
                    None
                }
            }
        })
        .take_until(s.shutdown.cancelled_owned());
    Sse::new(frames).keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE))
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(name)| name).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

fn done() -> Json<Value> {
    Json(json!({}))
}

async fn start_service(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<Value> {
    s.cluster.start_service(&name_of(name)?).await?;
    Ok(done())
}

async fn stop_service(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<Value> {
    s.cluster.stop_service(&name_of(name)?).await?;
    Ok(done())
}

async fn restart_service(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<Value> {
    s.cluster.restart_service(&name_of(name)?).await?;
    Ok(done())
}

#[derive(Debug, Deserialize)]
pub struct ScaleBody {
    replicas: u32,
}

async fn scale(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> ApiResult<Value> {
    let name = name_of(name)?;
    let Json(body) = body.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    // An autoscaled service's autoscaler switches off: the answer says so, and how to switch it on.
    match s.cluster.scale_and_say(&name, body.replicas).await? {
        Some(note) => Ok(Json(json!({ "autoscaler_off": note }))),
        None => Ok(done()),
    }
}

async fn kill_replica(
    State(s): State<ApiState>,
    path: Result<Path<(String, u32)>, PathRejection>,
) -> ApiResult<Value> {
    let Path((name, index)) = path.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    s.cluster.kill_replica(&name, index).await?;
    Ok(done())
}

async fn start_all(State(s): State<ApiState>) -> ApiResult<Value> {
    s.cluster.start_all().await?;
    Ok(done())
}

async fn stop_all(State(s): State<ApiState>) -> ApiResult<Value> {
    s.cluster.stop_all().await?;
    Ok(done())
}

/// Reads the manifest again from its file and applies it (422 with its errors, if any).
async fn reload(State(s): State<ApiState>) -> ApiResult<ReloadReport> {
    Ok(Json(s.cluster.reload_from_source().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &str) -> Result<LogQuery, ApiError> {
        let p: LogParams = serde_urlencoded::from_str(pairs).unwrap();
        LogQuery::try_from(p)
    }

    #[test]
    fn log_params_parse_and_empty_means_any() {
        let q = params("service=users&replica=2&level=WARN&text=boom&limit=50").unwrap();
        assert_eq!(q.service.as_deref(), Some("users"));
        assert_eq!(q.replica, Some(2));
        assert_eq!(q.level, Some(Level::Warn));
        assert_eq!(q.text.as_deref(), Some("boom"));
        assert_eq!(q.limit, Some(50));
        let q = params("service=&replica=&level=&text=&limit=").unwrap();
        assert!(q.service.is_none() && q.replica.is_none() && q.level.is_none() && q.text.is_none() && q.limit.is_none());
    }

    #[test]
    fn bad_log_params_are_invalid_arguments() {
        for bad in ["level=loud", "limit=many", "replica=-1"] {
            let e = params(bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert_eq!(e.body.code, "invalid-argument");
        }
    }
}
