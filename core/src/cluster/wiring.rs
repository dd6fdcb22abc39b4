//! The engine's parts joined: replica output into the log hub, each service's stable
//! address following its supervisor's replica set, services ordered by `depends_on`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use crate::logs::LogHub;
use crate::metrics::{Metrics, RevisionMap};
use crate::manifest::{Manifest, Service};
use crate::proxy::{AddressOptions, Backend, ProxyError, ServiceProxy};
use crate::snapshot::Level;
use crate::supervisor::{Member, OutputSink, ReplicaSet};

/// Replica output goes to the log hub.
pub(super) struct LogOutput(pub LogHub);

impl OutputSink for LogOutput {
    fn capture(&self, service: &str, replica: u32, stdout: ChildStdout, stderr: ChildStderr) {
        if let Err(e) = self.0.capture_child(service, replica, stdout, stderr) {
            tracing::warn!(service, replica, "cannot capture output: {e}");
        }
    }

    fn note(&self, service: &str, replica: u32, level: Level, text: String) {
        let hub = self.0.clone();
        let service = service.to_string();
        tokio::spawn(async move {
            if let Err(e) = hub.note(&service, replica, level, text).await {
                tracing::debug!("cannot note in the log of {service}: {e}");
            }
        });
    }
}

/// Services with their dependencies first; members of a cycle keep manifest order.
pub(super) fn dependency_order(manifest: &Manifest) -> Vec<&Service> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut out = vec![];
    let mut left: Vec<&Service> = manifest.services.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|s| {
            let ready = s.depends_on.iter().all(|d| done.contains(d.as_str()) || manifest.service(d).is_none());
            if ready {
                done.insert(s.name.as_str());
                out.push(*s);
            }
            !ready
        });
        if left.len() == before {
            out.append(&mut left);
        }
    }
    out
}

/// The port a service's address asks for: its manifest port shifted by `offset`, else 0 (any).
pub(super) fn wanted_port(service: &Service, offset: u16) -> Result<u16, ClusterError> {
    match service.port {
        Some(port) => port.checked_add(offset).ok_or_else(|| ClusterError::PortPastEnd { service: service.name.clone(), port, offset }),
        None => Ok(0),
    }
}

/// Binds one service's address.
pub(super) fn bind_address(s: &Service, offset: u16, cancel: &CancellationToken) -> Result<ServiceProxy, ClusterError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], wanted_port(s, offset)?));
    ServiceProxy::bind(&s.name, addr, AddressOptions::of(s), cancel.clone()).map_err(|e| match e {
        ProxyError::PortInUse { port, holder } => ClusterError::PortInUse { service: s.name.clone(), port, holder },
        other => ClusterError::Bind { service: s.name.clone(), source: Arc::new(other) },
    })
}

/// Keeps the address equal to the service's replica set, in the order the actor published
/// it: the ready replicas are its backends; a leaving one is out of them at once, its
/// requests in flight are waited for, and then the actor is told it may signal it.
pub(super) async fn follow_replicas(
    proxy: ServiceProxy,
    mut members: watch::Receiver<ReplicaSet>,
    metrics: Metrics,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let backend = |m: &Member| Backend { replica: m.replica, addr: SocketAddr::from(([127, 0, 0, 1], m.port)) };
    let mut last: Vec<Backend> = vec![];
    let mut last_revisions = RevisionMap::default();
    let mut draining: HashSet<Member> = HashSet::new();
    loop {
        let set = members.borrow_and_update().clone();
        // The metrics store, not the request path, tells a replica's revision, and has it before
        // the replica takes a request; a ready process wins over a leaving one of the same slot,
        // whose last answers then count for the new one.
        let revisions = RevisionMap {
            current: set.revision,
            replicas: set.leaving.iter().map(|l| &l.member).chain(&set.starting).chain(&set.ready).map(|m| (m.replica, m.revision)).collect(),
        };
        if revisions != last_revisions {
            if let Err(e) = metrics.set_revisions(proxy.service(), revisions.clone()).await {
                tracing::debug!(service = proxy.service(), "revisions not measured: {e}");
            }
            last_revisions = revisions;
        }
        let ready: Vec<Backend> = set.ready.iter().map(backend).collect();
        if ready != last {
            proxy.set_backends(ready.clone());
            last = ready;
        }
        for leaving in &set.leaving {
            if draining.insert(leaving.member) {
                let (proxy, leaving, b) = (proxy.clone(), leaving.clone(), backend(&leaving.member));
                tracker.spawn(async move {
                    if !proxy.drain(b, leaving.limit).await {
                        let (service, replica, limit) = (proxy.service(), b.replica, leaving.limit);
                        tracing::info!(service, replica, "requests still in flight after {limit:?}; stopping anyway");
                    }
                    leaving.drained.cancel();
                });
            }
        }
        draining.retain(|m| set.leaving.iter().any(|l| l.member == *m));
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = members.changed() => if r.is_err() { break },
        }
    }
}
