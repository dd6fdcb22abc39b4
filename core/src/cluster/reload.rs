//! `Cluster::reload`: a new manifest applied to the running cluster, diffed by service
//! name (`diff`), through the same path as start-up (`lifecycle`). Unchanged services keep
//! their processes; changed ones roll onto their new definition through the drain (a new
//! address, protocol or balancing: stopped and added anew); new ones join and start;
//! removed ones leave. One reload at a time: a task of its own carries them out in turn,
//! so a caller that goes away cannot leave one half done.

pub(super) mod diff;

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::lifecycle::Applying;
use super::{Cluster, ClusterError, Inner};
use crate::manifest::Manifest;

/// Reloads waiting their turn.
pub(super) const QUEUE: usize = 4;
/// Most a shutdown waits for a reload under way (the stop of removed services bounds it).
pub(super) const LONGEST: Duration = Duration::from_secs(60);

/// What a reload did, by service name (each name in one list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReloadReport {
    /// New definition: rolled onto it one replica at a time (or scaled, when only `replicas` changed).
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Left running as they were.
    pub unchanged: Vec<String>,
    /// Services running deployed changes of environment on top of the file's definition
    /// (kept: deploys live until Microdeck stops).
    #[serde(default)]
    pub deployed_on_top: Vec<String>,
}

impl ReloadReport {
    /// "1 changed (users), 1 added (search), 1 removed (legacy), 2 unchanged".
    pub fn summary(&self) -> String {
        let named = |n: &str, names: &[String]| (!names.is_empty()).then(|| format!("{} {n} ({})", names.len(), names.join(", ")));
        let parts: Vec<String> = [named("changed", &self.changed), named("added", &self.added), named("removed", &self.removed)]
            .into_iter()
            .flatten()
            .collect();
        let text = if parts.is_empty() {
            format!("nothing changed ({} unchanged)", self.unchanged.len())
        } else {
            format!("{}, {} unchanged", parts.join(", "), self.unchanged.len())
        };
        if self.deployed_on_top.is_empty() {
            text
        } else {
            format!("{text}; deployed changes kept on top of the file: {}", self.deployed_on_top.join(", "))
        }
    }
}

pub(super) enum Job {
    Reload(Box<Manifest>, oneshot::Sender<Result<ReloadReport, ClusterError>>),
    /// Shutdown: answered once no reload runs; later ones are refused.
    Close(oneshot::Sender<()>),
}

/// The task that carries out reloads one after the other; it holds the cluster only while it works.
pub(super) fn spawn_reloader(cluster: Weak<Inner>, mut jobs: mpsc::Receiver<Job>, tracker: &TaskTracker) {
    tracker.spawn(async move {
        while let Some(job) = jobs.recv().await {
            match job {
                Job::Reload(manifest, reply) => {
                    let Some(inner) = cluster.upgrade() else { break };
                    let result = Cluster { inner }.apply(*manifest, Applying::Reload).await;
                    let _caller_gone = reply.send(result);
                }
                Job::Close(reply) => {
                    let _caller_gone = reply.send(());
                    break;
                }
            }
        }
    });
}

impl Cluster {
    /// Applies `manifest` (already validated) to the running cluster; see the module doc.
    /// Returns once the changes are under way: removed services are stopped and their ports
    /// free, new ones are starting, changed ones rolling.
    pub async fn reload(&self, manifest: Manifest) -> Result<ReloadReport, ClusterError> {
        if self.inner.closing.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let (reply, answer) = oneshot::channel();
        self.inner.reloads.send(Job::Reload(Box::new(manifest), reply)).await.map_err(|_| ClusterError::ShuttingDown)?;
        answer.await.map_err(|_| ClusterError::ShuttingDown)?
    }

    /// Reads the manifest again from where the running one came from (the bundled sample,
    /// `--manifest F`, `--procfile F`, a file opened later) and reloads it. A file with
    /// errors changes nothing: `InvalidManifest` lists them as `file:line:col: …`.
    pub async fn reload_from_source(&self) -> Result<ReloadReport, ClusterError> {
        let origin = self.manifest().origin.ok_or(ClusterError::NoManifestFile)?;
        let manifest = tokio::task::spawn_blocking(move || origin.load())
            .await
            .map_err(|e| ClusterError::ManifestRead(Arc::new(e)))?
            .map_err(|e| ClusterError::InvalidManifest(Arc::new(e)))?;
        self.reload(manifest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_changed() {
        let r = ReloadReport {
            changed: vec!["users".into()],
            added: vec!["search".into(), "cache".into()],
            removed: vec![],
            unchanged: vec!["a".into(), "b".into()],
            deployed_on_top: vec![],
        };
        assert_eq!(r.summary(), "1 changed (users), 2 added (search, cache), 2 unchanged");
        let none = ReloadReport { unchanged: vec!["a".into()], ..ReloadReport::default() };
        assert_eq!(none.summary(), "nothing changed (1 unchanged)");
        let on_top = ReloadReport { deployed_on_top: vec!["users".into()], ..none };
        assert_eq!(on_top.summary(), "nothing changed (1 unchanged); deployed changes kept on top of the file: users");
    }
}
