//! `ApiError`: every failure of the local API answers `{ code, message }` with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterError;

/// What a JSON route answers: its body, or an error as `{ code, message }` with its status.
pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

/// The JSON body of every error answer (the same shape the Tauri commands return).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// An error answer: a status and an `ErrorBody`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, body: ErrorBody { code: code.to_owned(), message: message.into() } }
    }
    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-argument", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a token is required: `Authorization: Bearer TOKEN`, or open the URL `microdeck up` printed",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> ApiError {
        let status = match e {
            ClusterError::UnknownService(_) | ClusterError::UnknownReplica { .. } | ClusterError::UnknownLesson(_) => StatusCode::NOT_FOUND,
            ClusterError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ClusterError::PortInUse { .. } => StatusCode::CONFLICT,
            ClusterError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ClusterError::InvalidManifest(_) | ClusterError::InvalidLesson(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ClusterError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ClusterError::Busy(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = %self.body.code, "local API error: {}", self.body.message);
        }
        (self.status, Json(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_errors_map_to_statuses_and_codes() {
        let cases = [
            (ClusterError::UnknownService("x".into()), 404, "unknown-service"),
            (ClusterError::UnknownReplica { service: "x".into(), index: 3 }, 404, "unknown-replica"),
            (ClusterError::InvalidArgument("bad".into()), 400, "invalid-argument"),
            (ClusterError::PortInUse { service: "web".into(), port: 80, holder: None }, 409, "port-in-use"),
            (ClusterError::ShuttingDown, 503, "shutting-down"),
            (ClusterError::InvalidManifest("m.toml:1:1: bad".into()), 422, "invalid-manifest"),
            (ClusterError::Io("disk".into()), 500, "io"),
            (ClusterError::Busy("a lesson is running".into()), 409, "busy"),
            (ClusterError::UnknownLesson("no lesson named `x`".into()), 404, "unknown-lesson"),
            (ClusterError::InvalidLesson("l.toml:1:1: name: bad".into()), 422, "invalid-lesson"),
        ];
        for (e, status, code) in cases {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status);
            assert_eq!(api.body, ErrorBody { code: code.into(), message });
        }
    }
}
