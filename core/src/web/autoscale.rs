//! The autoscaler routes of docs/api.md: a service's autoscaler state, and its switch — each
//! a few lines over `Cluster`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::api::ApiState;
use super::error::{ApiError, ApiResult};
use crate::autoscale::AutoscalerView;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/services/{name}/autoscale", get(state).post(switch))
}

/// `{ "on": true }` switches the autoscaler on, `false` off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSwitch {
    pub on: bool,
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(name)| name).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

async fn state(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<AutoscalerView> {
    Ok(Json(s.cluster.autoscaler_view(&name_of(name)?)?))
}

async fn switch(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<AutoscaleSwitch>, JsonRejection>,
) -> ApiResult<AutoscalerView> {
    let name = name_of(name)?;
    let Json(body) = body.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Json(s.cluster.set_autoscale(&name, body.on).await?))
}
