//! `Cluster`: the one API both shells use — commands, snapshots, subscriptions, events.
//!
//! CONTRACT STUB: the signatures below are what the shells (desktop, web API, CLI) code
//! against; the engine issue fills in the bodies. Keep the signatures stable.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::snapshot::{ClusterSnapshot, Event, Level, LogLine};

/// Where a cluster keeps its files, and how it shifts its ports.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Logs (`logs/<service>.log`) and run state. Default: `$XDG_STATE_HOME/microdeck/<cluster>`.
    pub run_dir: PathBuf,
    /// One folder per service (`MICRODECK_DATA_DIR`), kept across runs. Default: `$XDG_DATA_HOME/microdeck/<cluster>`.
    pub data_dir: PathBuf,
    /// Added to every fixed port of the manifest, so a second cluster can run beside the first.
    pub port_offset: u16,
    /// Folders searched for a service's program before `PATH` (e.g. the folder of the running executable).
    pub program_dirs: Vec<PathBuf>,
    /// Lines kept in memory per service for viewers.
    pub log_ring_lines: usize,
    /// A service's log file is rotated past this size...
    pub log_file_bytes: u64,
    /// ...keeping this many files.
    pub log_files: usize,
}

/// A command that could not be carried out; crosses shells as `{ code, message }`.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum ClusterError {
    #[error("no service named `{0}`")]
    UnknownService(String),
    #[error("{service} has no replica {index}")]
    UnknownReplica { service: String, index: u32 },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("port {port} is already in use{}", .holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse { port: u16, holder: Option<String> },
    #[error("the cluster is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Io(String),
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
            ClusterError::Io(_) => "io",
        }
    }
}

/// A filter over the in-memory log rings, newest `limit` lines returned oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogQuery {
    pub service: Option<String>,
    pub replica: Option<u32>,
    /// Lines at this level or above (lines with no level are kept).
    pub level: Option<Level>,
    /// Case-insensitive substring.
    pub text: Option<String>,
    pub limit: Option<usize>,
}

/// What a subscriber receives: a snapshot first, then these as they happen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Update {
    /// At most 10 a second.
    Snapshot(ClusterSnapshot),
    /// `skipped` lines were dropped for this subscriber because it fell behind.
    Logs { lines: Vec<LogLine>, skipped: u64 },
    Event(Event),
}

/// A live feed from the cluster. Drop it to unsubscribe.
pub struct Subscription {
    _private: (),
}

impl Subscription {
    /// The next update; `None` once the cluster has shut down.
    pub async fn recv(&mut self) -> Option<Update> {
        todo!("engine issue")
    }
}

/// A cheap, cloneable handle to a running cluster.
#[derive(Clone)]
pub struct Cluster {
    _private: (),
}

impl Cluster {
    /// Starts every service (in `depends_on` order) and returns at once; readiness shows in snapshots.
    pub async fn start(_manifest: Manifest, _options: ClusterOptions) -> Result<Cluster, ClusterError> {
        todo!("engine issue")
    }
    pub fn manifest(&self) -> Manifest {
        todo!("engine issue")
    }
    pub async fn start_service(&self, _service: &str) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    pub async fn stop_service(&self, _service: &str) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    /// Rolling: one replica at a time, the new one ready before the old one stops.
    pub async fn restart_service(&self, _service: &str) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    pub async fn scale(&self, _service: &str, _replicas: u32) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    /// SIGKILL one replica (a demo of a crash); the restart policy brings it back.
    pub async fn kill_replica(&self, _service: &str, _index: u32) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    pub async fn start_all(&self) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    pub async fn stop_all(&self) -> Result<(), ClusterError> {
        todo!("engine issue")
    }
    pub fn snapshot(&self) -> ClusterSnapshot {
        todo!("engine issue")
    }
    pub fn subscribe(&self) -> Subscription {
        todo!("engine issue")
    }
    pub async fn logs(&self, _query: &LogQuery) -> Vec<LogLine> {
        todo!("engine issue")
    }
    /// Newest last, bounded.
    pub async fn events(&self) -> Vec<Event> {
        todo!("engine issue")
    }
    /// Stops every service (bounded by their grace periods) and every task; idempotent.
    pub async fn shutdown(&self) {
        todo!("engine issue")
    }
}
