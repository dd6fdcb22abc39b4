//! The supervisor: one actor (tokio task) per service owning its replicas.
//!
//! - `backoff`: the restart delay policy (named constants + `backoff_delay`);
//! - `replica`: one replica slot's state machine (sync, unit-tested without processes);
//! - `spawn`: program lookup, a replica's environment, and the shim launch;
//! - `actor`: the service actor that turns the state machine's actions into processes,
//!   signals and timers, and publishes the service's view on a `watch`;
//! - `view`: that view, built from the slots;
//! - [`revision`]: numbered definitions, what changed between two, a deploy's changes of
//!   environment; [`rollout`]: one rollout's plan, steps and what a stopped one does (both
//!   plain code); `deploy`: the actor applying them through the slots' surge-then-drain;
//! - [`members`]: the replica set the actor publishes for the service's address to follow
//!   (ready, starting, leaving — a leaving one is signalled once its drain is over).
//!
//! The outside holds a [`ServiceHandle`]: commands over a bounded channel with a
//! `oneshot` reply, and the latest view.

pub mod actor;
pub mod backoff;
mod deploy;
mod launch;
pub mod members;
pub mod replica;
pub mod revision;
pub mod rollout;
pub mod spawn;
mod view;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::ClusterError;
use crate::events::EventLog;
use crate::snapshot::{DeployOutcome, Level, RevisionView, ServiceView};

pub use backoff::{backoff_delay, BACKOFF_MAX, BACKOFF_MIN, BACKOFF_RESET};
pub use members::{Leaving, Member, ReplicaSet};

pub use crate::manifest::MAX_REPLICAS;

/// Processes a rolling restart runs beyond a service's replicas: it replaces one replica at
/// a time, and that replica's old process serves until its successor is ready. Not a
/// count anyone can scale to — a service never has more than [`MAX_REPLICAS`] replicas.
pub const ROLL_SURGE: u32 = 1;

pub(crate) type Reply = oneshot::Sender<Result<(), ClusterError>>;
pub(crate) type DeployReply = oneshot::Sender<Result<DeployOutcome, ClusterError>>;

/// What a service actor can be asked.
pub enum ServiceCommand {
    Start(Reply),
    Stop(Reply),
    /// Rolling: one replica at a time, the new one ready before the old one stops.
    Restart(Reply),
    Scale(u32, Reply),
    Kill(u32, Reply),
    /// A manifest reload gave the service a new definition (same address).
    Redefine(Box<Redefinition>, Reply),
    /// Environment for the replicas started from now on (the running ones keep theirs), until
    /// the next redefinition.
    SetEnv(std::collections::BTreeMap<String, String>, Reply),
    /// Environment changes on top of the definition, rolled out as a new revision.
    Deploy(revision::EnvChange, DeployReply),
    /// A revision's definition (else the one before the current) rolled out as a new revision.
    Undo(Option<u32>, DeployReply),
    /// The kept revisions, newest first.
    History(oneshot::Sender<Vec<RevisionView>>),
    /// The whole history, for the actor that takes the service over at a new address.
    Handover(oneshot::Sender<revision::History>),
    /// Stop everything and end the actor; answered once every process is gone.
    Shutdown(oneshot::Sender<()>),
}

/// What a reload hands a running service actor.
pub struct Redefinition {
    pub service: crate::manifest::Service,
    pub senv: spawn::ServiceEnv,
    /// The views of its (new) `depends_on`.
    pub deps: Vec<watch::Receiver<ServiceView>>,
    /// Replace the replicas one at a time (false: only `replicas` changed, or only `deps`).
    pub roll: bool,
}

/// Where a replica's stdout and stderr go (the log hub, in a cluster).
pub trait OutputSink: Send + Sync {
    fn capture(&self, service: &str, replica: u32, stdout: ChildStdout, stderr: ChildStderr);
    /// A line from the engine about a replica ("exited with code 1"), so its log says why.
    fn note(&self, service: &str, replica: u32, level: Level, text: String);
}

/// Most a leaving replica waits for its requests in flight before it is signalled
/// (capped further by the service's `stop_grace`).
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What every service actor shares.
pub struct Shared {
    /// The executable run in shim mode (`microdeck __shim`).
    pub shim: PathBuf,
    pub events: EventLog,
    pub output: Arc<dyn OutputSink>,
    /// Bumped whenever any service's view changes.
    pub version: watch::Sender<u64>,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
}

/// A service actor's handle. Dropping every handle stops the service's processes.
#[derive(Clone)]
pub struct ServiceHandle {
    pub name: String,
    tx: mpsc::Sender<ServiceCommand>,
    pub view: watch::Receiver<ServiceView>,
}

impl ServiceHandle {
    async fn call(&self, make: impl FnOnce(Reply) -> ServiceCommand) -> Result<(), ClusterError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| ClusterError::ShuttingDown)?;
        rx.await.map_err(|_| ClusterError::ShuttingDown)?
    }

    pub async fn start(&self) -> Result<(), ClusterError> {
        self.call(ServiceCommand::Start).await
    }
    pub async fn stop(&self) -> Result<(), ClusterError> {
        self.call(ServiceCommand::Stop).await
    }
    pub async fn restart(&self) -> Result<(), ClusterError> {
        self.call(ServiceCommand::Restart).await
    }
    pub async fn scale(&self, n: u32) -> Result<(), ClusterError> {
        self.call(|r| ServiceCommand::Scale(n, r)).await
    }
    pub async fn kill(&self, index: u32) -> Result<(), ClusterError> {
        self.call(|r| ServiceCommand::Kill(index, r)).await
    }
    /// Takes a new definition; a running service rolls onto it, a stopped one uses it at its next start.
    pub async fn redefine(&self, r: Redefinition) -> Result<(), ClusterError> {
        self.call(|reply| ServiceCommand::Redefine(Box::new(r), reply)).await
    }
    /// Variables every replica started from now on gets (added to the manifest's `env`).
    pub async fn set_env(&self, vars: std::collections::BTreeMap<String, String>) -> Result<(), ClusterError> {
        self.call(|r| ServiceCommand::SetEnv(vars, r)).await
    }
    /// Rolls out the current definition with `change` on top, as the next revision.
    pub async fn deploy(&self, change: revision::EnvChange) -> Result<DeployOutcome, ClusterError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(ServiceCommand::Deploy(change, reply)).await.map_err(|_| ClusterError::ShuttingDown)?;
        rx.await.map_err(|_| ClusterError::ShuttingDown)?
    }
    /// Rolls out revision `to`'s definition (else the previous revision's) as the next revision.
    pub async fn undo(&self, to: Option<u32>) -> Result<DeployOutcome, ClusterError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(ServiceCommand::Undo(to, reply)).await.map_err(|_| ClusterError::ShuttingDown)?;
        rx.await.map_err(|_| ClusterError::ShuttingDown)?
    }
    /// The kept revisions, newest first.
    pub async fn history(&self) -> Result<Vec<RevisionView>, ClusterError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(ServiceCommand::History(reply)).await.map_err(|_| ClusterError::ShuttingDown)?;
        rx.await.map_err(|_| ClusterError::ShuttingDown)
    }
    /// The service's history, for the actor that takes it over at a new address (`None` once
    /// this one has ended).
    pub async fn handover(&self) -> Option<revision::History> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(ServiceCommand::Handover(reply)).await.ok()?;
        rx.await.ok()
    }
    /// Resolves once the service's processes are all gone (at once if the actor already ended).
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(ServiceCommand::Shutdown(reply)).await.is_ok() {
            let _ended = rx.await;
        }
    }
}
