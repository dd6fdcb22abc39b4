//! The lesson routes of docs/api.md: the bundled list, start (by name or a lesson's TOML),
//! stop, and the current run's progress — each a few lines over `Cluster`.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::api::ApiState;
use super::error::ApiError;
use crate::lessons::progress::LessonProgress;
use crate::lessons::{self, LessonError, LessonOutline};

type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/lessons", get(list))
        .route("/api/lessons/start", post(start))
        .route("/api/lessons/stop", post(stop))
        .route("/api/lessons/current", get(current))
}

async fn list() -> Json<Vec<LessonOutline>> {
    Json(crate::bundled::lessons().iter().map(LessonOutline::of).collect())
}

/// Exactly one of `name` (a bundled lesson) and `toml` (a lesson file's text; `file`
/// names it in error messages).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonStart {
    pub name: Option<String>,
    pub toml: Option<String>,
    pub file: Option<String>,
}

async fn start(State(s): State<ApiState>, body: Result<Json<LessonStart>, JsonRejection>) -> ApiResult<LessonProgress> {
    let body = body.map(|Json(b)| b).map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    let lesson = match (body.name, body.toml) {
        (Some(name), None) => crate::bundled::lesson(&name).ok_or_else(|| {
            let known: Vec<String> = crate::bundled::lessons().into_iter().map(|l| l.name).collect();
            ApiError::new(StatusCode::NOT_FOUND, "unknown-lesson", format!("no lesson named `{name}`; there are: {}", known.join(", ")))
        })?,
        (None, Some(toml)) => {
            let file = body.file.unwrap_or_else(|| "lesson.toml".into());
            lessons::parse_lesson(toml.as_bytes(), &file).map_err(|e| match e {
                LessonError::Invalid { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-lesson", e.to_string()),
                other => ApiError::invalid_argument(other.to_string()),
            })?
        }
        _ => return Err(ApiError::invalid_argument("send exactly one of `name` (a bundled lesson) and `toml` (a lesson file's text)")),
    };
    Ok(Json(s.cluster.start_lesson(lesson)?))
}

async fn stop(State(s): State<ApiState>) -> ApiResult<LessonProgress> {
    Ok(Json(s.cluster.stop_lesson()?))
}

async fn current(State(s): State<ApiState>) -> Json<Option<LessonProgress>> {
    Json(s.cluster.lesson_progress())
}
