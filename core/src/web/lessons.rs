//! The lesson routes of docs/api.md: the bundled list, start (by name or a lesson's TOML),
//! stop, and the current run's progress — each a few lines over `Cluster`.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::api::ApiState;
use super::error::{ApiError, ApiResult};
use crate::cluster::LessonStart;
use crate::lessons::progress::LessonProgress;
use crate::lessons::LessonOutline;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/lessons", get(list))
        .route("/api/lessons/start", post(start))
        .route("/api/lessons/stop", post(stop))
        .route("/api/lessons/advance", post(advance))
        .route("/api/lessons/current", get(current))
}

async fn list() -> Json<Vec<LessonOutline>> {
    Json(crate::bundled::lesson_outlines())
}

/// `rest`: every step left, not only the next.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonAdvance {
    #[serde(default)]
    pub rest: bool,
}

async fn start(State(s): State<ApiState>, body: Result<Json<LessonStart>, JsonRejection>) -> ApiResult<LessonProgress> {
    let body = body.map(|Json(b)| b).map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Json(s.cluster.run_lesson(&body)?))
}

async fn advance(State(s): State<ApiState>, body: Result<Json<LessonAdvance>, JsonRejection>) -> ApiResult<LessonProgress> {
    let body = body.map(|Json(b)| b).map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Json(s.cluster.advance_lesson(body.rest)?))
}

async fn stop(State(s): State<ApiState>) -> ApiResult<LessonProgress> {
    Ok(Json(s.cluster.stop_lesson()?))
}

async fn current(State(s): State<ApiState>) -> Json<Option<LessonProgress>> {
    Json(s.cluster.lesson_progress())
}
