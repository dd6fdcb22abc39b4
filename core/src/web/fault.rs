//! The fault routes of docs/api.md: a service's fault read, set (`PUT` or `POST`) and cleared
//! (`DELETE`) — each a few lines over `Cluster`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::api::ApiState;
use super::error::{ApiError, ApiResult};
use crate::cluster::FaultView;
use crate::proxy::fault::Fault;

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/services/{name}/fault", get(state).put(set).post(set).delete(clear))
}

/// A service's fault now, or what a `DELETE` cleared: `{ "fault": null }` when none.
#[derive(Debug, Serialize)]
pub struct FaultAnswer {
    pub fault: Option<FaultView>,
}

fn name_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(name)| name).map_err(|e| ApiError::invalid_argument(e.body_text()))
}

async fn state(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<FaultAnswer> {
    Ok(Json(FaultAnswer { fault: s.cluster.fault(&name_of(name)?)? }))
}

async fn set(
    State(s): State<ApiState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<Fault>, JsonRejection>,
) -> ApiResult<FaultAnswer> {
    let name = name_of(name)?;
    let Json(fault) = body.map_err(|e| ApiError::invalid_argument(e.body_text()))?;
    Ok(Json(FaultAnswer { fault: Some(s.cluster.set_fault(&name, fault).await?) }))
}

async fn clear(State(s): State<ApiState>, name: Result<Path<String>, PathRejection>) -> ApiResult<FaultAnswer> {
    Ok(Json(FaultAnswer { fault: s.cluster.clear_fault(&name_of(name)?)? }))
}
