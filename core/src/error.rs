//! [`ClusterError`]: what a command of the engine can fail with. It sits below `cluster`, so
//! the supervisor that answers the commands and the shells that show the answers use one type.
//!
//! Each variant names what failed and keeps its cause as the error's `source`; the message a
//! user reads includes the cause's text too. A cause that is not `Clone` (`io::Error`,
//! `reqwest::Error`, …) is held in an `Arc`, so one error can answer several callers.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::manifest::MAX_REPLICAS;

/// A command that could not be carried out; crosses shells as `{ code, message }` ([`code`]
/// and `Display`).
///
/// [`code`]: ClusterError::code
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    #[error("no service named `{0}`")]
    UnknownService(String),
    #[error("{service} has no replica {index}")]
    UnknownReplica { service: String, index: u32 },
    #[error("{service}: at most {MAX_REPLICAS} replicas, not {asked}")]
    TooManyReplicas { service: String, asked: u32 },
    #[error("{service}: port {port} + offset {offset} is past 65535")]
    PortPastEnd { service: String, port: u16, offset: u16 },
    #[error("{service}: port {port} is already in use{}", .holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse { service: String, port: u16, holder: Option<String> },
    /// The service's address cannot be bound for a reason other than a taken port.
    #[error("{service}: {source}")]
    Bind {
        service: String,
        #[source]
        source: Arc<crate::proxy::ProxyError>,
    },
    #[error("the cluster is shutting down")]
    ShuttingDown,

    /// A folder the cluster needs cannot be made or changed (`what`: "create the run folder").
    #[error("cannot {what} {}: {source}", .path.display())]
    Folder {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("no Tokio runtime to run the cluster on: {0}")]
    NoRuntime(#[source] Arc<tokio::runtime::TryCurrentError>),
    #[error("cannot find the running executable for the replica shim: {0}")]
    NoShim(#[source] Arc<io::Error>),
    #[error("the log hub cannot start: {0}")]
    LogHubStart(#[source] Arc<crate::logs::LogError>),
    #[error("cannot add {service} to the log hub: {source}")]
    ServiceLog {
        service: String,
        #[source]
        source: Arc<crate::logs::LogError>,
    },
    #[error("the metrics actor cannot start: {0}")]
    MetricsStart(#[source] crate::metrics::MetricsError),
    /// A metrics query failed (the actor has stopped); the cause says so.
    #[error("{0}")]
    Metrics(#[source] crate::metrics::MetricsError),
    /// The desktop shell's local API cannot serve the cluster it started.
    #[error("the local API could not start: {0}")]
    LocalApi(#[source] Arc<crate::web::WebError>),

    #[error("{service} has no ready replica")]
    NoReadyReplica { service: String },
    #[error("{service} refused the knobs ({status}): {body}")]
    KnobsRefused { service: String, status: reqwest::StatusCode, body: String },
    #[error("cannot reach {service} on port {port}: {source}")]
    KitUnreachable {
        service: String,
        port: u16,
        #[source]
        source: Arc<reqwest::Error>,
    },
    #[error("cannot read {service}'s knobs on port {port}: {source}")]
    KnobsUnreadable {
        service: String,
        port: u16,
        #[source]
        source: Arc<reqwest::Error>,
    },
    #[error("{service} has no knobs ({status})")]
    NoKnobs { service: String, status: reqwest::StatusCode },

    #[error("a load run is going (`{scenario}` at {rate} req/s); stop it first")]
    LoadRunning { scenario: String, rate: f64 },
    #[error("no load scenario named `{0}`")]
    UnknownScenario(String),
    #[error("{0}")]
    InvalidLoad(#[source] crate::loadgen::LoadGenError),
    #[error("no load run was started")]
    NoLoadRun,

    #[error("no lesson named `{name}`; there are: {}", .known.join(", "))]
    UnknownLesson { name: String, known: Vec<String> },
    /// A lesson's text has errors (each `file:line:col: key: message`).
    #[error("{0}")]
    InvalidLesson(#[source] Arc<crate::lessons::LessonError>),
    #[error("send exactly one of `name` (a bundled lesson) and `toml` (a lesson file's text)")]
    LessonRequest,
    #[error("lesson `{lesson}` needs {} that this cluster does not run", .missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))]
    LessonNeedsServices { lesson: String, missing: Vec<String> },
    #[error("lesson `{0}` is running; stop it first")]
    LessonRunning(String),
    /// A lesson's numbers would include the load run's traffic.
    #[error("a load run is going (`{scenario}` at {rate} req/s); stop it first, or its traffic would mix with the lesson's numbers")]
    LoadBeforeLesson { scenario: String, rate: f64 },
    #[error("another lesson started just now")]
    LessonStarting,
    #[error("lesson `{0}` is running a step; wait for it to end")]
    StepRunning(String),
    #[error("no lesson is running")]
    NoLesson,

    #[error("cannot deploy {service}: {reason}")]
    InvalidDeploy { service: String, reason: String },
    #[error("{service} has no revision before the current one to go back to")]
    NoPreviousRevision { service: String },
    #[error("{service} keeps no revision {revision} (see `microdeck rollout history {service}`)")]
    UnknownRevision { service: String, revision: u32 },

    #[error("this cluster's manifest was built in code: there is no file to read again")]
    NoManifestFile,
    /// The manifest to reload cannot be read or has errors (each `file:line:col: …`).
    #[error("{0}")]
    InvalidManifest(#[source] Arc<crate::manifest::LoadError>),
    /// The task reading the manifest again panicked or was cancelled.
    #[error("reading the manifest failed: {0}")]
    ManifestRead(#[source] Arc<tokio::task::JoinError>),

    #[error("{0} has no autoscaler; give it an `[services.{0}.autoscale]` block in the manifest")]
    NoAutoscaler(String),

    #[error("cannot inject a fault into {service}: {source}")]
    InvalidFault {
        service: String,
        #[source]
        source: crate::proxy::fault::FaultError,
    },
}

impl ClusterError {
    /// A stable machine-readable code, e.g. `unknown-service`; the API and the UI rely on
    /// these, so a new variant takes the one that fits.
    pub fn code(&self) -> &'static str {
        use ClusterError as E;
        match self {
            E::UnknownService(_) => "unknown-service",
            E::UnknownReplica { .. } => "unknown-replica",
            E::TooManyReplicas { .. }
            | E::PortPastEnd { .. }
            | E::NoReadyReplica { .. }
            | E::KnobsRefused { .. }
            | E::NoKnobs { .. }
            | E::UnknownScenario(_)
            | E::InvalidLoad(_)
            | E::NoLoadRun
            | E::LessonRequest
            | E::LessonNeedsServices { .. }
            | E::NoLesson
            | E::NoManifestFile
            | E::NoAutoscaler(_)
            | E::InvalidFault { .. }
            | E::InvalidDeploy { .. }
            | E::NoPreviousRevision { .. }
            | E::UnknownRevision { .. } => "invalid-argument",
            E::PortInUse { .. } => "port-in-use",
            E::ShuttingDown => "shutting-down",
            E::InvalidManifest(_) => "invalid-manifest",
            E::Bind { .. }
            | E::Folder { .. }
            | E::NoRuntime(_)
            | E::NoShim(_)
            | E::LogHubStart(_)
            | E::ServiceLog { .. }
            | E::MetricsStart(_)
            | E::Metrics(_)
            | E::LocalApi(_)
            | E::KitUnreachable { .. }
            | E::KnobsUnreadable { .. }
            | E::ManifestRead(_) => "io",
            E::LoadRunning { .. } | E::LessonRunning(_) | E::LoadBeforeLesson { .. } | E::LessonStarting | E::StepRunning(_) => "busy",
            E::UnknownLesson { .. } => "unknown-lesson",
            E::InvalidLesson(_) => "invalid-lesson",
        }
    }
}

/// Two errors are equal when a shell would show them the same: same code, same message.
/// (Their causes, `io::Error` and the like, have no equality of their own.)
impl PartialEq for ClusterError {
    fn eq(&self, other: &ClusterError) -> bool {
        self.code() == other.code() && self.to_string() == other.to_string()
    }
}

impl Eq for ClusterError {}

/// A cause of each kind, for the tests of the errors and of their HTTP statuses.
#[cfg(test)]
pub(crate) mod causes {
    use std::io;
    use std::sync::Arc;

    pub fn io() -> Arc<io::Error> {
        Arc::new(io::Error::new(io::ErrorKind::PermissionDenied, "permission denied"))
    }
    pub fn bind() -> Arc<crate::proxy::ProxyError> {
        let source = io::Error::new(io::ErrorKind::AddrNotAvailable, "address not available");
        Arc::new(crate::proxy::ProxyError::Bind { addr: ([127, 0, 0, 1], 80).into(), source })
    }
    /// Called outside a runtime, as a plain `#[test]` is.
    pub fn no_runtime() -> Arc<tokio::runtime::TryCurrentError> {
        match tokio::runtime::Handle::try_current() {
            Err(e) => Arc::new(e),
            Ok(_) => panic!("a plain test runs outside any runtime"),
        }
    }
    pub fn log_hub() -> Arc<crate::logs::LogError> {
        Arc::new(crate::logs::LogError::Thread(io::Error::new(io::ErrorKind::OutOfMemory, "out of memory")))
    }
    pub fn local_api() -> Arc<crate::web::WebError> {
        Arc::new(crate::web::WebError::Bind { port: 7300, source: io::Error::new(io::ErrorKind::AddrInUse, "address in use") })
    }
    /// A request that never leaves: its URL does not parse.
    pub fn unreachable() -> Arc<reqwest::Error> {
        match crate::loopback::client().and_then(|c| c.get("http://[not-a-host/admin/knobs").build()) {
            Err(e) => Arc::new(e),
            Ok(_) => panic!("the URL parsed"),
        }
    }
    pub fn invalid_lesson() -> Arc<crate::lessons::LessonError> {
        match crate::lessons::parse_lesson(b"name = 3", "l.toml") {
            Err(e) => Arc::new(e),
            Ok(_) => panic!("the lesson parsed"),
        }
    }
    pub fn invalid_manifest() -> Arc<crate::manifest::LoadError> {
        Arc::new(crate::manifest::LoadError::Unreadable { path: "m.toml".into(), source: io::Error::from(io::ErrorKind::NotFound) })
    }
    /// A task cancelled before it ran.
    pub fn join() -> Arc<tokio::task::JoinError> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
        let task = runtime.spawn(std::future::pending::<()>());
        task.abort();
        match runtime.block_on(task) {
            Err(e) => Arc::new(e),
            Ok(()) => panic!("the task ran"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn io_bind_and_unreachable_errors_carry_their_cause_and_show_it() {
        let errors = [
            ClusterError::Folder { what: "create the run folder", path: "/run/x".into(), source: causes::io() },
            ClusterError::NoShim(causes::io()),
            ClusterError::Bind { service: "web".into(), source: causes::bind() },
            ClusterError::KitUnreachable { service: "web".into(), port: 9, source: causes::unreachable() },
            ClusterError::LocalApi(causes::local_api()),
            ClusterError::ManifestRead(causes::join()),
        ];
        for e in errors {
            let source = e.source().unwrap_or_else(|| panic!("{e:?} has no source"));
            let (shown, cause) = (e.to_string(), source.to_string());
            assert!(shown.contains(&cause) && shown != cause, "`{shown}` should say what failed and include `{cause}`");
        }
    }

    #[test]
    fn messages_say_what_failed() {
        let folder = ClusterError::Folder { what: "create the run folder", path: "/run/x".into(), source: causes::io() };
        assert_eq!(folder.to_string(), "cannot create the run folder /run/x: permission denied");
        let bind = ClusterError::Bind { service: "web".into(), source: causes::bind() };
        assert_eq!(bind.to_string(), "web: cannot listen on 127.0.0.1:80: address not available");
        assert_eq!(ClusterError::TooManyReplicas { service: "web".into(), asked: 17 }.to_string(), "web: at most 16 replicas, not 17");
        let past = ClusterError::PortPastEnd { service: "web".into(), port: 65000, offset: 1000 };
        assert_eq!(past.to_string(), "web: port 65000 + offset 1000 is past 65535");
        let refused = ClusterError::KnobsRefused { service: "web".into(), status: reqwest::StatusCode::BAD_REQUEST, body: "work_ms: not a number".into() };
        assert_eq!(refused.to_string(), "web refused the knobs (400 Bad Request): work_ms: not a number");
        let missing = ClusterError::LessonNeedsServices { lesson: "l".into(), missing: vec!["a".into(), "b".into()] };
        assert_eq!(missing.to_string(), "lesson `l` needs `a`, `b` that this cluster does not run");
    }

    #[test]
    fn errors_are_equal_when_code_and_message_are() {
        assert_eq!(ClusterError::ShuttingDown, ClusterError::ShuttingDown);
        assert_eq!(ClusterError::NoShim(causes::io()), ClusterError::NoShim(causes::io()));
        assert_ne!(ClusterError::NoLesson, ClusterError::NoLoadRun);
        assert_ne!(ClusterError::UnknownService("a".into()), ClusterError::UnknownService("b".into()));
    }
}
