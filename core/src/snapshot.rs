//! What the shells see: serde views of the cluster with stable field names.
//! The UI's `transport` module mirrors these types; change both together.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type EpochMs = u64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    pub name: String,
    pub taken_at: EpochMs,
    pub services: Vec<ServiceView>,
    pub engine: EngineStats,
    /// Where `<service>.log` files are written.
    pub logs_dir: String,
    pub run_dir: String,
    /// The lesson running, or the last one run (its results stay until the next starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson: Option<Box<crate::lessons::progress::LessonProgress>>,
    /// The autoscalers of the services that have an `autoscale` block, in manifest order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub autoscalers: Vec<crate::autoscale::AutoscalerView>,
    /// The faults injected now, in manifest order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::cluster::FaultView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    pub pid: u32,
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// Waiting for `depends_on`, or replicas not ready yet.
    Starting,
    /// Every desired replica is ready.
    Ready,
    /// Some replicas ready, not all.
    Degraded,
    /// No replica ready, at least one failing its probe.
    Unhealthy,
    /// In restart backoff; see `next_restart_at`.
    CrashLooping,
    Stopped,
    /// An optional service whose program is missing, or a start that failed for good.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub state: ServiceState,
    pub desired: u32,
    pub ready: u32,
    /// The stable address, e.g. `127.0.0.1:7400`.
    pub address: String,
    pub port: u16,
    pub protocol: String,
    pub restarts: u32,
    pub next_restart_at: Option<EpochMs>,
    /// Why the service is `failed` (e.g. "program `python3` not found"), if it is.
    pub problem: Option<String>,
    pub optional: bool,
    /// Since the service was last started; `None` when stopped.
    pub started_at: Option<EpochMs>,
    pub cpu_percent: f32,
    pub rss_bytes: u64,
    pub replicas: Vec<ReplicaView>,
    /// The revision the service runs, or rolls out (see `rollout`).
    #[serde(default)]
    pub revision: u32,
    /// The last rollout (a deploy, an undo, a reload that changed the service), while the
    /// service keeps running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutView>,
    /// The deploys' changes of environment on top of the manifest's definition (a restart of
    /// Microdeck returns to the file).
    #[serde(default)]
    pub deployed: crate::supervisor::revision::EnvChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Replacing replicas one at a time.
    Progressing,
    /// Every replica runs the new revision.
    Complete,
    /// Stopped on a bad replica (`rollback = "auto"`): returning to the previous revision.
    RollingBack,
    /// Stopped, and back on the previous revision with every replica.
    RolledBack,
    /// Stopped (`rollback = "manual"`): old and new replicas stay until an undo or a deploy.
    Paused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutView {
    pub from: u32,
    pub to: u32,
    pub state: RolloutState,
    /// Ready replicas on revision `to`.
    pub updated: u32,
    pub desired: u32,
    /// "rollout of revision 4 failed: replica 0 exited with code 1", once stopped.
    pub reason: Option<String>,
    pub started_at: EpochMs,
    pub finished_at: Option<EpochMs>,
    /// The `progress_deadline` each new replica had to be ready in.
    pub deadline_ms: u64,
}

/// One revision of a service, as `rollout history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionView {
    pub revision: u32,
    pub at: EpochMs,
    /// "start", "deploy VERSION=2", "manifest reloaded", "undo: revision 2 again".
    pub cause: String,
    /// From the revision current before it, a line each ("env VERSION: 1 → 2").
    pub changes: Vec<String>,
    pub command: String,
    pub env: std::collections::BTreeMap<String, String>,
    /// The deploys' part of `env`.
    pub deployed: crate::supervisor::revision::EnvChange,
    /// The revision the service runs (or rolls out) now.
    pub current: bool,
    /// Why its rollout failed, if it did.
    pub failed: Option<String>,
}

/// What a deploy or an undo did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployOutcome {
    pub service: String,
    /// The revision the service now runs or rolls out.
    pub revision: u32,
    /// What changed from the revision before (empty: nothing did, no new revision).
    pub changes: Vec<String>,
    /// A rollout started (false when the service is stopped, or nothing changed).
    pub rolling: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaState {
    Starting,
    Ready,
    Unhealthy,
    /// Drained / SIGTERM sent, waiting for exit.
    Stopping,
    Stopped,
    Exited,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaView {
    pub index: u32,
    pub pid: Option<u32>,
    pub port: u16,
    pub state: ReplicaState,
    pub restarts: u32,
    pub started_at: Option<EpochMs>,
    pub last_exit: Option<ExitInfo>,
    /// The last failed probe's message, so the UI can say why it is unhealthy.
    pub last_probe_error: Option<String>,
    pub cpu_percent: f32,
    pub rss_bytes: u64,
    /// The revision this process runs.
    #[serde(default)]
    pub revision: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: EpochMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// A line's level as logs show it (`INFO`, `WARN`, …; `-` for a line with none).
pub fn level_word(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Trace) => "TRACE",
        Some(Level::Debug) => "DEBUG",
        Some(Level::Info) => "INFO",
        Some(Level::Warn) => "WARN",
        Some(Level::Error) => "ERROR",
        None => "-",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Per-service sequence number: gaps say how many lines a viewer skipped.
    pub seq: u64,
    pub at: EpochMs,
    pub service: String,
    pub replica: u32,
    pub stream: Stream,
    pub level: Option<Level>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Started,
    Ready,
    Unhealthy,
    Exited,
    RestartScheduled,
    Scaled,
    Stopped,
    Killed,
    Restarted,
    Failed,
    /// The cluster's manifest was reloaded (`service` is the cluster's name).
    Reloaded,
    /// A lesson's step, check or end (`service` is the lesson's name).
    Lesson,
    /// An autoscaler's decision that changes the replicas, or its switch going on or off.
    Autoscale,
    /// A new revision of the service (a deploy, an undo, a changed manifest).
    Deployed,
    /// A step of a rollout: a replica on the new revision, complete, failed, rolled back.
    Rollout,
    /// A fault injected at the service's address, or cleared.
    Fault,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: EpochMs,
    pub service: String,
    pub replica: Option<u32>,
    pub kind: EventKind,
    /// Human sentence, e.g. "exited with signal 9 (SIGKILL)", "restart in 500ms".
    pub message: String,
}
