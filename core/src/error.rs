//! [`ClusterError`]: what a command of the engine can fail with. It sits below `cluster`, so
//! the supervisor that answers the commands and the shells that show the answers use one type.

use serde::{Deserialize, Serialize};

/// A command that could not be carried out; crosses shells as `{ code, message }`.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum ClusterError {
    #[error("no service named `{0}`")]
    UnknownService(String),
    #[error("{service} has no replica {index}")]
    UnknownReplica { service: String, index: u32 },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{service}: port {port} is already in use{}", .holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse { service: String, port: u16, holder: Option<String> },
    #[error("the cluster is shutting down")]
    ShuttingDown,
    /// The manifest to reload cannot be read or has errors (each `file:line:col: …`).
    #[error("{0}")]
    InvalidManifest(String),
    #[error("{0}")]
    Io(String),
    /// Another run holds what the command needs (a lesson, a load run).
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    UnknownLesson(String),
    /// A lesson's text has errors (each `file:line:col: key: message`).
    #[error("{0}")]
    InvalidLesson(String),
}

impl ClusterError {
    /// A stable machine-readable code, e.g. `unknown-service`.
    pub fn code(&self) -> &'static str {
        match self {
            ClusterError::UnknownService(_) => "unknown-service",
            ClusterError::UnknownReplica { .. } => "unknown-replica",
            ClusterError::InvalidArgument(_) => "invalid-argument",
            ClusterError::PortInUse { .. } => "port-in-use",
            ClusterError::ShuttingDown => "shutting-down",
            ClusterError::InvalidManifest(_) => "invalid-manifest",
            ClusterError::Io(_) => "io",
            ClusterError::Busy(_) => "busy",
            ClusterError::UnknownLesson(_) => "unknown-lesson",
            ClusterError::InvalidLesson(_) => "invalid-lesson",
        }
    }
}
