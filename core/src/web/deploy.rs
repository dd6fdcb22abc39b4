//! The deploy and rollout routes of docs/api.md, each a few lines over `Cluster`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::api::ApiState;
use super::error::{ApiError, ApiResult};
use crate::snapshot::{DeployOutcome, RevisionView, ServiceView};
use crate::supervisor::revision::EnvChange;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/services/{name}/deploy", post(deploy))
        .route("/api/services/{name}/rollout", get(status))
        .route("/api/services/{name}/revisions", get(history))
        .route("/api/services/{name}/rollout/undo", post(undo))
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(name)| name).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

/// `{ "env": { "VERSION": "2" }, "unset": ["DEBUG"] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    unset: std::collections::BTreeSet<String>,
}

async fn deploy(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> ApiResult<DeployOutcome> {
    let name = name_of(name)?;
    let Json(body) = body.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Json(s.cluster.deploy(&name, EnvChange { set: body.env, unset: body.unset }).await?))
}

async fn status(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<ServiceView> {
    Ok(Json(s.cluster.rollout_status(&name_of(name)?)?))
}

async fn history(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<Vec<RevisionView>> {
    Ok(Json(s.cluster.rollout_history(&name_of(name)?).await?))
}

/// `{}` (the revision before the current) or `{ "to_revision": 2 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    to_revision: Option<u32>,
}

async fn undo(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<UndoBody>, JsonRejection>,
) -> ApiResult<DeployOutcome> {
    let name = name_of(name)?;
    // No body at all means the revision before the current.
    let to = match body {
        Ok(Json(b)) => b.to_revision,
        Err(JsonRejection::MissingJsonContentType(_)) => None,
        Err(e) => return Err(ApiError::invalid_argument(e.body_text())),
    };
    Ok(Json(s.cluster.rollout_undo(&name, to).await?))
}
