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
        let code = e.code();
        ApiError::new(status_of(code), code, e.to_string())
    }
}

/// The status of each code `ClusterError::code` gives; the code, not the variant, is what the
/// API promises, so the two cannot disagree.
fn status_of(code: &str) -> StatusCode {
    match code {
        "unknown-service" | "unknown-replica" | "unknown-lesson" => StatusCode::NOT_FOUND,
        "invalid-argument" => StatusCode::BAD_REQUEST,
        "port-in-use" | "busy" => StatusCode::CONFLICT,
        "shutting-down" => StatusCode::SERVICE_UNAVAILABLE,
        "invalid-manifest" | "invalid-lesson" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
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
    use crate::error::causes;
    use ClusterError as E;

    /// Each variant's place in the table below: a new variant does not compile until it has one.
    fn row(e: &ClusterError) -> usize {
        match e {
            E::UnknownService(_) => 0,
            E::UnknownReplica { .. } => 1,
            E::TooManyReplicas { .. } => 2,
            E::PortPastEnd { .. } => 3,
            E::PortInUse { .. } => 4,
            E::Bind { .. } => 5,
            E::ShuttingDown => 6,
            E::Folder { .. } => 7,
            E::NoRuntime(_) => 8,
            E::NoShim(_) => 9,
            E::LogHubStart(_) => 10,
            E::ServiceLog { .. } => 11,
            E::MetricsStart(_) => 12,
            E::Metrics(_) => 13,
            E::LocalApi(_) => 14,
            E::NoReadyReplica { .. } => 15,
            E::KnobsRefused { .. } => 16,
            E::KitUnreachable { .. } => 17,
            E::KnobsUnreadable { .. } => 18,
            E::NoKnobs { .. } => 19,
            E::LoadRunning { .. } => 20,
            E::UnknownScenario(_) => 21,
            E::InvalidLoad(_) => 22,
            E::NoLoadRun => 23,
            E::UnknownLesson { .. } => 24,
            E::InvalidLesson(_) => 25,
            E::LessonRequest => 26,
            E::LessonNeedsServices { .. } => 27,
            E::LessonRunning(_) => 28,
            E::LoadBeforeLesson { .. } => 29,
            E::LessonStarting => 30,
            E::StepRunning(_) => 31,
            E::NoLesson => 32,
            E::InvalidDeploy { .. } => 33,
            E::NoPreviousRevision { .. } => 34,
            E::UnknownRevision { .. } => 35,
            E::NoManifestFile => 36,
            E::InvalidManifest(_) => 37,
            E::ManifestRead(_) => 38,
            E::NoAutoscaler(_) => 39,
            E::InvalidFault { .. } => 40,
        }
    }

    #[test]
    fn every_cluster_error_maps_to_its_status_and_code() {
        let web = || "web".to_string();
        let cases = [
            (E::UnknownService("x".into()), 404, "unknown-service"),
            (E::UnknownReplica { service: web(), index: 3 }, 404, "unknown-replica"),
            (E::TooManyReplicas { service: web(), asked: 17 }, 400, "invalid-argument"),
            (E::PortPastEnd { service: web(), port: 65000, offset: 1000 }, 400, "invalid-argument"),
            (E::PortInUse { service: web(), port: 80, holder: None }, 409, "port-in-use"),
            (E::Bind { service: web(), source: causes::bind() }, 500, "io"),
            (E::ShuttingDown, 503, "shutting-down"),
            (E::Folder { what: "create the run folder", path: "/run".into(), source: causes::io() }, 500, "io"),
            (E::NoRuntime(causes::no_runtime()), 500, "io"),
            (E::NoShim(causes::io()), 500, "io"),
            (E::LogHubStart(causes::log_hub()), 500, "io"),
            (E::ServiceLog { service: web(), source: causes::log_hub() }, 500, "io"),
            (E::MetricsStart(crate::metrics::MetricsError::Histogram("bad".into())), 500, "io"),
            (E::Metrics(crate::metrics::MetricsError::Stopped), 500, "io"),
            (E::LocalApi(causes::local_api()), 500, "io"),
            (E::NoReadyReplica { service: web() }, 400, "invalid-argument"),
            (E::KnobsRefused { service: web(), status: reqwest::StatusCode::BAD_REQUEST, body: "no".into() }, 400, "invalid-argument"),
            (E::KitUnreachable { service: web(), port: 9, source: causes::unreachable() }, 500, "io"),
            (E::KnobsUnreadable { service: web(), port: 9, source: causes::unreachable() }, 500, "io"),
            (E::NoKnobs { service: web(), status: reqwest::StatusCode::NOT_FOUND }, 400, "invalid-argument"),
            (E::LoadRunning { scenario: "browse".into(), rate: 20.0 }, 409, "busy"),
            (E::UnknownScenario("x".into()), 400, "invalid-argument"),
            (E::InvalidLoad(crate::loadgen::LoadGenError::InvalidRate(-1.0)), 400, "invalid-argument"),
            (E::NoLoadRun, 400, "invalid-argument"),
            (E::UnknownLesson { name: "x".into(), known: vec!["a".into()] }, 404, "unknown-lesson"),
            (E::InvalidLesson(causes::invalid_lesson()), 422, "invalid-lesson"),
            (E::LessonRequest, 400, "invalid-argument"),
            (E::LessonNeedsServices { lesson: "l".into(), missing: vec![web()] }, 400, "invalid-argument"),
            (E::LessonRunning("l".into()), 409, "busy"),
            (E::LoadBeforeLesson { scenario: "browse".into(), rate: 20.0 }, 409, "busy"),
            (E::LessonStarting, 409, "busy"),
            (E::StepRunning("l".into()), 409, "busy"),
            (E::NoLesson, 400, "invalid-argument"),
            (E::InvalidDeploy { service: web(), reason: "PORT is set by microdeck".into() }, 400, "invalid-argument"),
            (E::NoPreviousRevision { service: web() }, 400, "invalid-argument"),
            (E::UnknownRevision { service: web(), revision: 9 }, 400, "invalid-argument"),
            (E::NoManifestFile, 400, "invalid-argument"),
            (E::InvalidManifest(causes::invalid_manifest()), 422, "invalid-manifest"),
            (E::ManifestRead(causes::join()), 500, "io"),
            (E::NoAutoscaler(web()), 400, "invalid-argument"),
            (E::InvalidFault { service: web(), source: crate::proxy::fault::FaultError::Status(200) }, 400, "invalid-argument"),
        ];
        for (i, (e, status, code)) in cases.into_iter().enumerate() {
            assert_eq!(row(&e), i, "{e:?} is out of place");
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{code}: {message}");
            assert_eq!(api.body, ErrorBody { code: code.into(), message });
        }
    }
}
