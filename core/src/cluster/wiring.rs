//! The engine's parts joined: replica output into the log hub, each service's stable
//! address fed with its ready replicas, services ordered by `depends_on`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use std::net::SocketAddr;

use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::ClusterError;
use crate::logs::LogHub;
use crate::manifest::{Manifest, Service};
use crate::proxy::{Backend, ProxyError, ServiceProxy};
use crate::snapshot::{Level, ReplicaState, ServiceView};
use crate::supervisor::{Drainer, OutputSink};

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

/// Drains a leaving replica out of its service's address before it is signalled. The
/// addresses by name: a reload adds and removes some, so readers take no lock.
#[derive(Clone, Default)]
pub(super) struct ProxyDrainer(pub Arc<ArcSwap<HashMap<String, ServiceProxy>>>);

impl ProxyDrainer {
    /// Sets the addresses of `added` services (a replaced one's new address included) and
    /// forgets the `removed` ones.
    pub fn update(&self, added: &[(String, ServiceProxy)], removed: &[String]) {
        self.0.rcu(|map| {
            let mut map = HashMap::clone(map);
            for name in removed {
                map.remove(name);
            }
            map.extend(added.iter().cloned());
            map
        });
    }
}

impl Drainer for ProxyDrainer {
    fn drain(&self, service: &str, replica: u32, port: u16, limit: Duration) -> BoxFuture<'static, bool> {
        let proxy = self.0.load().get(service).cloned();
        Box::pin(async move {
            let backend = Backend { replica, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
            match proxy {
                Some(p) => p.remove_and_drain(backend, limit).await,
                None => true,
            }
        })
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

/// Binds every service's address: its manifest port shifted by `offset`, or a free one.
pub(super) fn bind_addresses(
    manifest: &Manifest,
    offset: u16,
    cancel: &CancellationToken,
) -> Result<Vec<(String, ServiceProxy)>, ClusterError> {
    manifest.services.iter().map(|s| Ok((s.name.clone(), bind_address(s, offset, cancel)?))).collect()
}

/// The port a service's address asks for: its manifest port shifted by `offset`, else 0 (any).
pub(super) fn wanted_port(service: &Service, offset: u16) -> Result<u16, ClusterError> {
    match service.port {
        Some(p) => p
            .checked_add(offset)
            .ok_or_else(|| ClusterError::InvalidArgument(format!("port {p} + offset {offset} is past 65535"))),
        None => Ok(0),
    }
}

/// Binds one service's address.
pub(super) fn bind_address(s: &Service, offset: u16, cancel: &CancellationToken) -> Result<ServiceProxy, ClusterError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], wanted_port(s, offset)?));
    ServiceProxy::bind(&s.name, addr, s.protocol, s.balance, cancel.clone()).map_err(|e| match e {
        ProxyError::PortInUse { port, holder } => ClusterError::PortInUse { service: s.name.clone(), port, holder },
        other => ClusterError::Io(format!("service `{}`: {other}", s.name)),
    })
}

/// Keeps the address's backends equal to the service's ready replicas.
pub(super) async fn feed_address(proxy: ServiceProxy, mut view: watch::Receiver<ServiceView>, cancel: CancellationToken) {
    let mut last: Vec<Backend> = vec![];
    loop {
        let ready: Vec<Backend> = view
            .borrow_and_update()
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Ready)
            .map(|r| Backend { replica: r.index, addr: SocketAddr::from(([127, 0, 0, 1], r.port)) })
            .collect();
        if ready != last {
            proxy.set_backends(ready.clone());
            last = ready;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = view.changed() => if r.is_err() { break },
        }
    }
}
