//! The sample kit's demo knobs (`work_ms`, `max_inflight`, `error_rate`): set on the ready
//! replicas over their admin route, and kept for the service so later replicas start with them.

use std::sync::Arc;
use std::time::Duration;

use super::{Cluster, ClusterError};
use crate::snapshot::ReplicaState;

/// How long a knob call to a replica may take.
const KNOB_TIMEOUT: Duration = Duration::from_secs(3);

impl Cluster {
    /// Sets the sample kit's demo knobs (`work_ms`, `max_inflight`, `error_rate`) on every
    /// ready replica of the service, and for the service: replicas started later (a scale-up,
    /// a restart) get them too, through the variables the kit reads at start (`WORK_MS`, …),
    /// until a reload redefines the service. Returns how many replicas took them.
    pub async fn set_knobs(&self, service: &str, knobs: &serde_json::Value) -> Result<usize, ClusterError> {
        let handle = self.service(service)?;
        let ports: Vec<u16> = {
            let view = handle.view.borrow();
            view.replicas.iter().filter(|r| r.state == ReplicaState::Ready).map(|r| r.port).collect()
        };
        if ports.is_empty() {
            return Err(ClusterError::NoReadyReplica { service: service.to_string() });
        }
        let unreachable = |port, e| ClusterError::KitUnreachable { service: service.to_string(), port, source: Arc::new(e) };
        let client = crate::loopback::client().map_err(|e| unreachable(ports[0], e))?;
        let mut done = 0;
        for port in ports {
            let url = format!("http://127.0.0.1:{port}/admin/knobs");
            let sent = client.post(&url).json(knobs).timeout(KNOB_TIMEOUT).send().await;
            match sent {
                Ok(r) if r.status().is_success() => done += 1,
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(ClusterError::KnobsRefused { service: service.to_string(), status, body });
                }
                Err(e) => return Err(unreachable(port, e)),
            }
        }
        // After the replicas accepted them (the kit validates): a replica started between the
        // two reads the knobs it had at start.
        handle.set_env(knob_env(knobs)).await?;
        Ok(done)
    }

    /// The sample kit's knobs of the service's first ready replica (`GET /admin/knobs`).
    pub async fn knobs(&self, service: &str) -> Result<serde_json::Value, ClusterError> {
        let handle = self.service(service)?;
        let port = {
            let view = handle.view.borrow();
            view.replicas.iter().find(|r| r.state == ReplicaState::Ready).map(|r| r.port)
        };
        let port = port.ok_or_else(|| ClusterError::NoReadyReplica { service: service.to_string() })?;
        let url = format!("http://127.0.0.1:{port}/admin/knobs");
        let unreadable = |e| ClusterError::KnobsUnreadable { service: service.to_string(), port, source: Arc::new(e) };
        let answer = crate::loopback::client().map_err(unreadable)?.get(&url).timeout(KNOB_TIMEOUT).send().await.map_err(unreadable)?;
        if !answer.status().is_success() {
            return Err(ClusterError::NoKnobs { service: service.to_string(), status: answer.status() });
        }
        answer.json().await.map_err(unreadable)
    }
}

/// The kit's start-up variables for the knobs in `knobs` (`work_ms` → `WORK_MS`, …).
fn knob_env(knobs: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    const VARS: [(&str, &str); 3] = [("work_ms", "WORK_MS"), ("max_inflight", "MAX_INFLIGHT"), ("error_rate", "ERROR_RATE")];
    VARS.iter()
        .filter_map(|(knob, var)| {
            let v = knobs.get(*knob)?;
            v.is_number().then(|| (var.to_string(), v.to_string()))
        })
        .collect()
}
