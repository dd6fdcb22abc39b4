//! The autoscalers of the services running now, one loop each (`autoscale::control`), kept in
//! step with the manifest after every apply; their switches; and the user's scale, which
//! goes through a service's autoscaler so that it switches it off.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterError, Inner};
use crate::autoscale::control::{self, Command, Plant};
use crate::autoscale::AutoscalerView;
use crate::events::EventDraft;
use crate::manifest::{Autoscale, Manifest};
use crate::metrics::Series;
use crate::snapshot::{EventKind, ServiceState};

/// One service's running autoscaler. Cancelling `stop` ends its loop.
pub(super) struct AutoscalerHandle {
    config: Autoscale,
    commands: mpsc::Sender<Command>,
    view: watch::Receiver<AutoscalerView>,
    stop: CancellationToken,
}

/// The autoscalers by service, swapped whole after each apply.
pub(super) type Autoscalers = BTreeMap<String, Arc<AutoscalerHandle>>;

/// The cluster as an autoscaler sees it; weak, so a loop never keeps a dropped cluster alive.
#[derive(Clone)]
struct WeakCluster(Weak<Inner>);

impl WeakCluster {
    fn get(&self) -> Option<Cluster> {
        self.0.upgrade().map(|inner| Cluster { inner })
    }
}

impl Plant for WeakCluster {
    fn replicas(&self, service: &str) -> Option<(u32, u32, bool)> {
        let cluster = self.get()?;
        let set = cluster.inner.set.load();
        let view = set.get(service)?.handle.view.borrow().clone();
        Some((view.desired, view.ready, view.state == ServiceState::Stopped))
    }

    async fn series(&self, service: &str, window: Duration) -> Option<Series> {
        self.get()?.series(service, window).await.ok().flatten()
    }

    async fn scale(&self, service: &str, replicas: u32) -> Result<(), ClusterError> {
        let cluster = self.get().ok_or(ClusterError::ShuttingDown)?;
        cluster.service(service)?.scale(replicas).await
    }

    fn event(&self, service: &str, message: String) {
        if let Some(c) = self.get() {
            c.inner.events.record(EventDraft { service: service.to_string(), replica: None, kind: EventKind::Autoscale, message });
        }
    }

    fn changed(&self) {
        if let Some(c) = self.get() {
            c.inner.shared.version.send_modify(|v| *v = v.wrapping_add(1));
        }
    }
}

impl Cluster {
    /// Gives each service of `manifest` with an `autoscale` block its loop: a running one
    /// with the same settings stays as it is; a new or changed one starts as the block says
    /// (on or off); a loop whose service or block is gone ends.
    pub(super) fn sync_autoscalers(&self, manifest: &Manifest) {
        let inner = &self.inner;
        let old = inner.autoscalers.load_full();
        let mut next = Autoscalers::new();
        for s in &manifest.services {
            let Some(config) = &s.autoscale else { continue };
            if let Some(running) = old.get(&s.name).filter(|h| h.config == *config) {
                next.insert(s.name.clone(), running.clone());
                continue;
            }
            let (view_tx, view) = watch::channel(AutoscalerView::new(&s.name, config));
            let (commands, rx) = mpsc::channel(control::QUEUE);
            let stop = inner.cancel.child_token();
            let plant = WeakCluster(Arc::downgrade(inner));
            let task = control::run(plant, s.name.clone(), config.clone(), rx, view_tx, stop.clone());
            inner.tracker.spawn_on(task, &inner.runtime);
            next.insert(s.name.clone(), Arc::new(AutoscalerHandle { config: config.clone(), commands, view, stop }));
        }
        for (name, h) in old.iter() {
            if !next.get(name).is_some_and(|n| Arc::ptr_eq(n, h)) {
                h.stop.cancel();
            }
        }
        inner.autoscalers.store(Arc::new(next));
    }

    fn autoscaler(&self, service: &str) -> Result<Arc<AutoscalerHandle>, ClusterError> {
        self.service(service)?;
        self.inner.autoscalers.load().get(service).cloned().ok_or_else(|| ClusterError::NoAutoscaler(service.to_string()))
    }

    /// Every autoscaler's state, in manifest order.
    pub fn autoscalers(&self) -> Vec<AutoscalerView> {
        let set = self.inner.set.load();
        let all = self.inner.autoscalers.load();
        set.services.iter().filter_map(|r| all.get(&r.handle.name).map(|h| h.view.borrow().clone())).collect()
    }

    /// A service's autoscaler state.
    pub fn autoscaler_view(&self, service: &str) -> Result<AutoscalerView, ClusterError> {
        Ok(self.autoscaler(service)?.view.borrow().clone())
    }

    /// Switches a service's autoscaler on or off; its state after.
    pub async fn set_autoscale(&self, service: &str, on: bool) -> Result<AutoscalerView, ClusterError> {
        let h = self.autoscaler(service)?;
        let (reply, answer) = oneshot::channel();
        h.commands.send(Command::Switch { on, why: None, reply }).await.map_err(|_| ClusterError::ShuttingDown)?;
        answer.await.map_err(|_| ClusterError::ShuttingDown)
    }

    /// A reload set the replicas of `service`, whose autoscaler runs on unchanged settings: the
    /// file is a user's scale too, so the autoscaler switches off and says so.
    pub(super) async fn manifest_scaled(&self, service: &str, replicas: u32) {
        let Ok(h) = self.autoscaler(service) else { return };
        if !h.view.borrow().on {
            return;
        }
        let why = format!(
            "{service}'s autoscaler switched off: the manifest now asks for {replicas} replica(s); {}",
            crate::autoscale::how_to_switch_on(service)
        );
        let (reply, answer) = oneshot::channel();
        if h.commands.send(Command::Switch { on: false, why: Some(why), reply }).await.is_ok() {
            let _switched = answer.await;
        }
    }

    /// A user's scale. An autoscaled service's scale goes through its autoscaler, which then
    /// switches off: the answer is what to tell the user then (how to switch it back on).
    pub async fn scale_and_say(&self, service: &str, replicas: u32) -> Result<Option<String>, ClusterError> {
        let handle = self.service(service)?;
        let Ok(h) = self.autoscaler(service) else {
            return handle.scale(replicas).await.map(|()| None);
        };
        let (reply, answer) = oneshot::channel();
        h.commands.send(Command::UserScale { replicas, reply }).await.map_err(|_| ClusterError::ShuttingDown)?;
        answer.await.map_err(|_| ClusterError::ShuttingDown)?
    }
}
