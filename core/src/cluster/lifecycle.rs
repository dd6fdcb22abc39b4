//! The one way services join and leave the running cluster. Start-up applies the manifest
//! to an empty cluster and a reload applies the next one to the services running, through
//! the same [`Cluster::apply`]: every new service gets its address and log first (or
//! nothing changes), then [`Cluster::launch`] gives it an actor, an address that follows
//! the actor's replica set, and its traffic measured; every leaving one goes through
//! [`stop_services`] (the drain, the grace period, the address closed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::watch;

use super::reload::{diff, ReloadReport};
use super::set::{service_env, Running, ServiceSet};
use super::{metrics_feed, wiring, Cluster, ClusterError, SHUTDOWN_MARGIN};
use crate::events::EventDraft;
use crate::manifest::{Manifest, Service};
use crate::proxy::ServiceProxy;
use crate::snapshot::{EventKind, ServiceView};
use crate::supervisor::actor::spawn_service;
use crate::supervisor::revision::History;
use crate::supervisor::spawn::ServiceEnv;
use crate::supervisor::{Redefinition, ServiceHandle, DRAIN_LIMIT};

/// Why a manifest is applied: the first one at start-up, or a reload (which is announced
/// with an event, and goes on past an address it could not bind once the rest is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applying {
    Start,
    Reload,
}

impl Cluster {
    /// Applies `manifest` (already validated) to the services running; see the module doc.
    /// Returns once the changes are under way: removed services are stopped and their ports
    /// free, new ones are starting, changed ones rolling. Run by one task at a time.
    pub(super) async fn apply(&self, manifest: Manifest, why: Applying) -> Result<ReloadReport, ClusterError> {
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
                return Err(ClusterError::ServiceLog { service: s.name.clone(), source: Arc::new(e) });
            }
        }

        // A service at a new address keeps its revisions: the actor taking over goes on from them.
        let mut histories = HashMap::new();
        for r in leaving.iter().filter(|r| d.replaced.contains(&r.handle.name)) {
            if let Some(history) = r.handle.handover().await {
                histories.insert(r.handle.name.clone(), history);
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
        for s in wiring::dependency_order(&manifest) {
            let Some(proxy) = bound.get(&s.name) else { continue };
            let handle = self.launch(s, proxy, senv.clone(), deps_of(s, &handles), histories.remove(&s.name));
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
            deployed_on_top: services
                .iter()
                .filter(|r| !d.replaced.contains(&r.handle.name) && !r.handle.view.borrow().deployed.is_empty())
                .map(|r| r.handle.name.clone())
                .collect(),
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
        // Services whose file sets another count while their autoscaler's settings stay.
        let rescaled: Vec<(String, u32)> = manifest
            .services
            .iter()
            .filter(|s| old.get(&s.name).is_some_and(|o| o.service.replicas != s.replicas && o.service.autoscale == s.autoscale))
            .map(|s| (s.name.clone(), s.replicas))
            .collect();
        inner.set.store(Arc::new(ServiceSet { manifest, services }));
        self.sync_autoscalers(&inner.set.load().manifest);
        for (service, replicas) in &rescaled {
            self.manifest_scaled(service, *replicas).await;
        }
        if why == Applying::Reload {
            inner.events.record(EventDraft {
                service: name,
                replica: None,
                kind: EventKind::Reloaded,
                message: format!("manifest reloaded{from}: {}", report.summary()),
            });
        }
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

    /// The one way a service joins the cluster, once its address is bound and its log open:
    /// its actor (idle until started), its address following the actor's replica set, its
    /// traffic recorded. A task every service needs starts here.
    fn launch(&self, service: &Service, proxy: &ServiceProxy, senv: ServiceEnv, deps: Vec<watch::Receiver<ServiceView>>, before: Option<History>) -> ServiceHandle {
        let inner = &self.inner;
        let port = proxy.local_addr().port();
        let (handle, members) = spawn_service(service.clone(), senv, port, deps, inner.shared.clone(), before);
        let follow = wiring::follow_replicas(proxy.clone(), members, inner.metrics.clone(), inner.tracker.clone(), inner.cancel.clone());
        inner.tracker.spawn(follow);
        metrics_feed::attach_metrics(proxy, &inner.metrics, &inner.tracker);
        handle
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

/// The one way services leave (a reload's removal, the shutdown): each through the drain
/// and its grace period, its actor ended, then its address closed so the port is free at
/// once. Bounded even if a process cannot die (e.g. stuck in the kernel): the longest grace
/// period, the drain, the SIGKILL, then [`SHUTDOWN_MARGIN`].
pub(super) async fn stop_services(leaving: &[Running]) {
    if leaving.is_empty() {
        return;
    }
    let longest = leaving.iter().map(|r| r.service.stop_grace).max().unwrap_or_default();
    let all = futures_util::future::join_all(leaving.iter().map(|r| r.handle.shutdown()));
    if tokio::time::timeout(longest + DRAIN_LIMIT + SHUTDOWN_MARGIN, all).await.is_err() {
        tracing::error!("some processes did not exit {SHUTDOWN_MARGIN:?} after SIGKILL; giving up on them");
    }
    stop_proxies(leaving.iter().map(|r| &r.proxy)).await;
}
