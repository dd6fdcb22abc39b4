//! Deploys and rollouts through `Cluster`, as every shell offers them: a deploy changes a
//! running service's environment and rolls it out as the next revision; an undo rolls out an
//! earlier revision's definition as a new one. Deploys live in the engine only: a restart of
//! Microdeck starts every service from its manifest again.

use super::{Cluster, ClusterError};
use crate::snapshot::{DeployOutcome, RevisionView, ServiceView};
use crate::supervisor::revision::EnvChange;

impl Cluster {
    /// Sets and unsets environment variables of `service` on top of its definition and rolls
    /// the result out, one replica at a time (a stopped service uses it at its next start).
    pub async fn deploy(&self, service: &str, change: EnvChange) -> Result<DeployOutcome, ClusterError> {
        self.service(service)?.deploy(change).await
    }

    /// Rolls out revision `to`'s definition (else the one before the current) as a new revision.
    pub async fn rollout_undo(&self, service: &str, to: Option<u32>) -> Result<DeployOutcome, ClusterError> {
        self.service(service)?.undo(to).await
    }

    /// The service's kept revisions, newest first, each with what changed.
    pub async fn rollout_history(&self, service: &str) -> Result<Vec<RevisionView>, ClusterError> {
        self.service(service)?.history().await
    }

    /// The service's view: its revision, its last rollout, its replicas' revisions.
    pub fn rollout_status(&self, service: &str) -> Result<ServiceView, ClusterError> {
        let handle = self.service(service)?;
        let view = handle.view.borrow().clone();
        Ok(view)
    }
}
