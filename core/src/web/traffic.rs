//! The traffic routes of docs/api.md: `/metrics` (Prometheus text), series, topology,
//! replica spread, load scenarios and control and the sample kit's knobs — each a few lines over `Cluster`.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::ApiState;
use super::error::{ApiError, ApiResult};
use crate::cluster::load_duration;
use crate::loadgen::LoadReport;
use crate::manifest::ScenarioOutline;
use crate::metrics::{prometheus::CONTENT_TYPE as PROMETHEUS_TEXT, ReplicaShare, RevisionSeries, Series, Topology};

/// The window of series and spread when the query names none: the charts' 5 minutes.
const DEFAULT_WINDOW_S: u64 = 300;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/topology", get(topology))
        .route("/api/services/{name}/series", get(series))
        .route("/api/services/{name}/spread", get(spread))
        .route("/api/services/{name}/revision-series", get(revision_series))
        .route("/api/services/{name}/knobs", post(knobs))
        .route("/api/services/{name}/crash", post(crash))
        .route("/api/load", get(load_report))
        .route("/api/load/scenarios", get(load_scenarios))
        .route("/api/load/start", post(load_start))
        .route("/api/load/rate", post(load_rate))
        .route("/api/load/stop", post(load_stop))
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(name)| name).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

fn body_of<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

async fn metrics(State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let text = s.cluster.prometheus().await?;
    Ok(([(CONTENT_TYPE, PROMETHEUS_TEXT)], text))
}

async fn topology(State(s): State<ApiState>) -> ApiResult<Topology> {
    Ok(Json(s.cluster.topology().await?))
}

/// `?window=` in seconds.
#[derive(Debug, Deserialize)]
pub struct WindowParams {
    window: Option<u64>,
}

fn window_of(params: Result<Query<WindowParams>, QueryRejection>) -> Result<Duration, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Duration::from_secs(p.window.unwrap_or(DEFAULT_WINDOW_S)))
}

async fn series(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<WindowParams>, QueryRejection>,
) -> ApiResult<Series> {
    let name = name_of(name)?;
    let window = window_of(params)?;
    let series = s.cluster.series(&name, window).await?;
    Ok(Json(series.unwrap_or_else(|| Series { service: name, ..Series::default() })))
}

/// Each revision's requests a second, error % and p95 (old and new side by side in a rollout).
async fn revision_series(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<WindowParams>, QueryRejection>,
) -> ApiResult<Vec<RevisionSeries>> {
    let name = name_of(name)?;
    let window = window_of(params)?;
    Ok(Json(s.cluster.revision_series(&name, window).await?))
}

async fn spread(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<WindowParams>, QueryRejection>,
) -> ApiResult<Vec<ReplicaShare>> {
    let name = name_of(name)?;
    let window = window_of(params)?;
    Ok(Json(s.cluster.replica_spread(&name, window).await?))
}

async fn knobs(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Value> {
    let name = name_of(name)?;
    let knobs = body_of(body)?;
    let replicas = s.cluster.set_knobs(&name, &knobs).await?;
    Ok(Json(json!({ "replicas": replicas })))
}

async fn crash(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<Value> {
    s.cluster.crash(&name_of(name)?).await?;
    Ok(Json(json!({})))
}

async fn load_scenarios(State(s): State<ApiState>) -> Json<Vec<ScenarioOutline>> {
    Json(s.cluster.load_scenarios())
}

#[derive(Debug, Deserialize)]
pub struct LoadStart {
    scenario: String,
    rate: f64,
    /// Seconds; none = until stopped.
    duration: Option<f64>,
}

async fn load_start(State(s): State<ApiState>, body: Result<Json<LoadStart>, JsonRejection>) -> ApiResult<LoadReport> {
    let b = body_of(body)?;
    let duration = b.duration.map(load_duration).transpose()?;
    Ok(Json(s.cluster.start_load(&b.scenario, b.rate, duration)?))
}

#[derive(Debug, Deserialize)]
pub struct LoadRate {
    rate: f64,
}

async fn load_rate(State(s): State<ApiState>, body: Result<Json<LoadRate>, JsonRejection>) -> ApiResult<LoadReport> {
    Ok(Json(s.cluster.set_load_rate(body_of(body)?.rate)?))
}

async fn load_stop(State(s): State<ApiState>) -> ApiResult<LoadReport> {
    Ok(Json(s.cluster.stop_load()?))
}

/// The current or last run's report; `null` before any run.
async fn load_report(State(s): State<ApiState>) -> Json<Option<LoadReport>> {
    Json(s.cluster.load_report())
}
