//! Faults at a service's address through `Cluster`, as every shell (and a lesson) sets them:
//! the description is checked, armed on the service's proxy, announced as an event, and
//! cleared by the cluster itself when its time is up — never polled per request.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};
use crate::events::EventDraft;
use crate::manifest::duration;
use crate::proxy::fault::{Armed, Fault};
use crate::snapshot::{EpochMs, EventKind};

/// A fault injected now, as the shells see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultView {
    pub service: String,
    pub fault: Fault,
    /// "delay 200ms on 100% of requests".
    pub summary: String,
    pub since: EpochMs,
    /// When the cluster clears it; none: until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<EpochMs>,
}

impl FaultView {
    fn of(service: &str, armed: &Armed) -> FaultView {
        FaultView {
            service: service.to_string(),
            fault: armed.fault,
            summary: armed.fault.describe(),
            since: armed.since,
            until: armed.fault.for_ms.map(|ms| armed.since.saturating_add(ms)),
        }
    }
}

impl Cluster {
    /// Injects `fault` at `service`'s address in place of any fault there; with `for_ms`, the
    /// cluster clears it after that long.
    pub async fn set_fault(&self, service: &str, fault: Fault) -> Result<FaultView, ClusterError> {
        let handle = self.service(service)?;
        fault.validate().map_err(|source| ClusterError::InvalidFault { service: service.to_string(), source })?;
        if let Some(index) = fault.replica {
            let exists = handle.view.borrow().replicas.iter().any(|r| r.index == index);
            if !exists {
                return Err(ClusterError::UnknownReplica { service: service.to_string(), index });
            }
        }
        let proxy = self.proxy(service)?;
        let armed = proxy.set_fault(fault);
        let lasting = match fault.for_ms {
            Some(ms) => format!(" for {}", duration::format(Duration::from_millis(ms))),
            None => " until cleared".to_string(),
        };
        self.fault_event(service, fault.replica, format!("fault on {service}: {}{lasting}", fault.describe()));
        if let Some(ms) = fault.for_ms {
            let (cluster, service, id) = (Arc::downgrade(&self.inner), service.to_string(), armed.id);
            let cancel = self.inner.cancel.clone();
            self.inner.tracker.spawn_on(
                async move {
                    let lasted = Duration::from_millis(ms);
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        () = tokio::time::sleep(lasted) => {
                            let Some(inner) = cluster.upgrade() else { return };
                            // Only the fault this timer was set for: a newer one stays.
                            let cluster = Cluster { inner };
                            let Ok(proxy) = cluster.proxy(&service) else { return };
                            if proxy.clear_fault(Some(id)).is_some() {
                                cluster.fault_event(&service, None, format!("fault on {service} cleared after {}", duration::format(lasted)));
                            }
                        }
                    }
                },
                &self.inner.runtime,
            );
        }
        Ok(FaultView::of(service, &armed))
    }

    /// Clears the fault at `service`'s address; the one cleared, if there was one.
    pub fn clear_fault(&self, service: &str) -> Result<Option<FaultView>, ClusterError> {
        let proxy = self.proxy(service)?;
        let cleared = proxy.clear_fault(None);
        if cleared.is_some() {
            self.fault_event(service, None, format!("fault on {service} cleared"));
        }
        Ok(cleared.map(|armed| FaultView::of(service, &armed)))
    }

    /// The fault at `service`'s address now.
    pub fn fault(&self, service: &str) -> Result<Option<FaultView>, ClusterError> {
        Ok(self.proxy(service)?.fault().map(|armed| FaultView::of(service, &armed)))
    }

    /// Every fault injected now, in manifest order.
    pub fn faults(&self) -> Vec<FaultView> {
        let set = self.inner.set.load();
        set.services.iter().filter_map(|r| r.proxy.fault().map(|armed| FaultView::of(&r.handle.name, &armed))).collect()
    }

    fn proxy(&self, service: &str) -> Result<crate::proxy::ServiceProxy, ClusterError> {
        self.service(service)?;
        self.inner.set.load().get(service).map(|r| r.proxy.clone()).ok_or_else(|| ClusterError::UnknownService(service.to_string()))
    }

    fn fault_event(&self, service: &str, replica: Option<u32>, message: String) {
        let draft = EventDraft { service: service.to_string(), replica, kind: EventKind::Fault, message };
        self.inner.events.record(draft);
        self.inner.shared.version.send_modify(|v| *v = v.wrapping_add(1));
    }
}
