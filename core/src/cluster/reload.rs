//! `Cluster::reload`: a new manifest applied to the running cluster, diffed by service
//! name (`diff`). Unchanged services keep their processes; changed ones roll onto their
//! new definition through the drain (a new address, protocol or balancing: stopped and
//! added anew); new ones get an address, logs and an actor and start; removed ones stop
//! through the drain and their address closes. One reload at a time: a task of its own
//! carries them out in turn, so a caller that goes away cannot leave one half done.

mod diff;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::set::{service_env, Running, ServiceSet};
use super::{metrics_feed, wiring, Cluster, ClusterError, Inner, SHUTDOWN_MARGIN};
use crate::events::EventDraft;
use crate::manifest::{LoadError, Manifest, Service};
use crate::proxy::ServiceProxy;
use crate::snapshot::EventKind;
use crate::supervisor::actor::spawn_service;
use crate::supervisor::{Redefinition, ServiceHandle, DRAIN_LIMIT};

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
}

impl ReloadReport {
    /// "1 changed (users), 1 added (search), 1 removed (legacy), 2 unchanged".
    pub fn summary(&self) -> String {
        let named = |n: &str, names: &[String]| (!names.is_empty()).then(|| format!("{} {n} ({})", names.len(), names.join(", ")));
        let parts: Vec<String> = [named("changed", &self.changed), named("added", &self.added), named("removed", &self.removed)]
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            format!("nothing changed ({} unchanged)", self.unchanged.len())
        } else {
            format!("{}, {} unchanged", parts.join(", "), self.unchanged.len())
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
                    let result = Cluster { inner }.apply(*manifest).await;
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
        let origin = self.manifest().origin.ok_or_else(|| {
            ClusterError::InvalidArgument("this cluster's manifest was built in code: there is no file to read again".into())
        })?;
        let manifest = tokio::task::spawn_blocking(move || origin.load())
            .await
            .map_err(|e| ClusterError::Io(format!("reading the manifest failed: {e}")))?
            .map_err(|e| match e {
                LoadError::Unreadable { .. } | LoadError::Invalid { .. } => ClusterError::InvalidManifest(e.to_string()),
            })?;
        self.reload(manifest).await
    }

    /// One reload, run by the reloader task only (so never two at once).
    async fn apply(&self, manifest: Manifest) -> Result<ReloadReport, ClusterError> {
        let inner = &self.inner;
        if inner.closing.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let old = inner.set.load_full();
        let running: Vec<Service> = old.services.iter().map(|r| r.service.clone()).collect();
        let d = diff::diff(&running, &manifest);
        let fresh: Vec<&Service> = manifest.services.iter().filter(|s| d.added.contains(&s.name) || d.replaced.contains(&s.name)).collect();
        let leaving: Vec<Running> =
            old.services.iter().filter(|r| d.removed.contains(&r.handle.name) || d.replaced.contains(&r.handle.name)).cloned().collect();

        // Nothing changes unless every address that can be bound now is, and every log opens.
        let released: HashSet<u16> = leaving.iter().map(|r| r.proxy.local_addr().port()).collect();
        let mut bound = self.bind_free(&fresh, &released).await?;
        for s in &fresh {
            if let Err(e) = inner.logs.add_service(&s.name) {
                stop_proxies(bound.values()).await;
                return Err(ClusterError::Io(e.to_string()));
            }
        }

        stop_services(&leaving).await;
        // The ports just let go (a replaced service keeping its port, or taking a removed one's).
        let mut late = None;
        let waiting: Vec<&Service> = fresh.iter().copied().filter(|s| !bound.contains_key(&s.name)).collect();
        for s in waiting {
            match wiring::bind_address(s, inner.options.port_offset, &inner.cancel) {
                Ok(proxy) => {
                    bound.insert(s.name.clone(), proxy);
                }
                // Taken by another program in the meantime: the rest of the reload goes on.
                Err(e) => late = Some(e),
            }
        }

        let mut ports: BTreeMap<String, u16> = BTreeMap::new();
        let mut handles: HashMap<String, ServiceHandle> = HashMap::new();
        for s in &manifest.services {
            let kept = old.get(&s.name).filter(|_| !fresh.iter().any(|f| f.name == s.name));
            if let Some(r) = kept {
                ports.insert(s.name.clone(), r.proxy.local_addr().port());
                handles.insert(s.name.clone(), r.handle.clone());
            } else if let Some(p) = bound.get(&s.name) {
                ports.insert(s.name.clone(), p.local_addr().port());
            }
        }
        let senv = service_env(&inner.options, &manifest.base_dir, &ports);
        let deps_of = |s: &Service, handles: &HashMap<String, ServiceHandle>| {
            s.depends_on.iter().filter_map(|d| handles.get(d).map(|h| h.view.clone())).collect::<Vec<_>>()
        };
        let mut started = vec![];
        for s in wiring::dependency_order(&manifest).into_iter().filter(|s| bound.contains_key(&s.name)) {
            let port = ports.get(&s.name).copied().unwrap_or(0);
            let handle = spawn_service(s.clone(), senv.clone(), port, deps_of(s, &handles), inner.shared.clone());
            handles.insert(s.name.clone(), handle.clone());
            started.push(handle);
        }
        let services: Vec<Running> = manifest
            .services
            .iter()
            .filter_map(|s| {
                let handle = handles.get(&s.name)?.clone();
                let proxy = match bound.get(&s.name) {
                    Some(p) => p.clone(),
                    None => old.get(&s.name)?.proxy.clone(),
                };
                Some(Running { handle, proxy, service: s.clone() })
            })
            .collect();
        let new_addresses: Vec<(String, ServiceProxy)> = bound.iter().map(|(n, p)| (n.clone(), p.clone())).collect();
        inner.drainer.update(&new_addresses, &d.removed);
        for (name, proxy) in &new_addresses {
            if let Some(h) = handles.get(name) {
                inner.tracker.spawn(wiring::feed_address(proxy.clone(), h.view.clone(), inner.cancel.clone()));
            }
            metrics_feed::attach_metrics(proxy, &inner.metrics, &inner.tracker);
        }

        let report = ReloadReport {
            changed: manifest
                .services
                .iter()
                .map(|s| &s.name)
                .filter(|n| d.replaced.contains(n) || d.redefined.iter().any(|(r, _)| r == *n))
                .cloned()
                .collect(),
            added: d.added.clone(),
            removed: d.removed.clone(),
            unchanged: d.unchanged.clone(),
        };
        let name = manifest.name.clone();
        let from = manifest.origin.as_ref().map(|o| format!(" from {o}")).unwrap_or_default();
        let redefine: Vec<(Service, bool)> = d
            .redefined
            .iter()
            .map(|(n, roll)| (n, *roll))
            .chain(d.rewired.iter().map(|n| (n, false)))
            .filter_map(|(n, roll)| Some((manifest.service(n)?.clone(), roll)))
            .collect();
        inner.set.store(Arc::new(ServiceSet { manifest, services }));
        inner.events.record(EventDraft {
            service: name,
            replica: None,
            kind: EventKind::Reloaded,
            message: format!("manifest reloaded{from}: {}", report.summary()),
        });
        inner.shared.version.send_modify(|v| *v = v.wrapping_add(1));

        // Set in motion: new services start (each waits for its `depends_on`), changed ones roll.
        for handle in &started {
            handle.start().await?;
        }
        for (service, roll) in redefine {
            let Some(handle) = handles.get(&service.name) else { continue };
            let deps = deps_of(&service, &handles);
            handle.redefine(Redefinition { service, senv: senv.clone(), deps, roll }).await?;
        }
        match late {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Binds the addresses of `fresh` services whose port is not one of `released` (those
    /// wait for their service to stop); on a failure, closes what it bound.
    async fn bind_free(&self, fresh: &[&Service], released: &HashSet<u16>) -> Result<HashMap<String, ServiceProxy>, ClusterError> {
        let offset = self.inner.options.port_offset;
        let mut bound = HashMap::new();
        for s in fresh {
            let result = wiring::wanted_port(s, offset).and_then(|port| {
                let free_now = port == 0 || !released.contains(&port);
                free_now.then(|| wiring::bind_address(s, offset, &self.inner.cancel)).transpose()
            });
            match result {
                Ok(Some(proxy)) => {
                    bound.insert(s.name.clone(), proxy);
                }
                Ok(None) => {}
                Err(e) => {
                    stop_proxies(bound.values()).await;
                    return Err(e);
                }
            }
        }
        Ok(bound)
    }
}

async fn stop_proxies<'a>(proxies: impl Iterator<Item = &'a ServiceProxy>) {
    futures_util::future::join_all(proxies.map(|p| p.stop())).await;
}

/// Stops services through the drain and ends their actors, then closes their addresses.
async fn stop_services(leaving: &[Running]) {
    if leaving.is_empty() {
        return;
    }
    let longest = leaving.iter().map(|r| r.service.stop_grace).max().unwrap_or_default();
    let all = futures_util::future::join_all(leaving.iter().map(|r| r.handle.shutdown()));
    if tokio::time::timeout(longest + DRAIN_LIMIT + SHUTDOWN_MARGIN, all).await.is_err() {
        tracing::error!("some processes of removed services did not exit after SIGKILL; giving up on them");
    }
    stop_proxies(leaving.iter().map(|r| &r.proxy)).await;
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
        };
        assert_eq!(r.summary(), "1 changed (users), 2 added (search, cache), 2 unchanged");
        let none = ReloadReport { unchanged: vec!["a".into()], ..ReloadReport::default() };
        assert_eq!(none.summary(), "nothing changed (1 unchanged)");
    }
}
