//! Crash on demand: a replica of a sample service asked, through the service's address, to
//! end itself, so a user sees the restart policy and the other replicas at work.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Cluster, ClusterError};

/// How long the crash call may take (the replica usually dies before it answers).
const CRASH_TIMEOUT: Duration = Duration::from_secs(3);

impl Cluster {
    /// The stable address of a service.
    pub fn address(&self, service: &str) -> Result<SocketAddr, ClusterError> {
        let set = self.inner.set.load();
        set.get(service).map(|r| r.proxy.local_addr()).ok_or_else(|| ClusterError::UnknownService(service.to_string()))
    }

    /// Asks one replica of the service (through its address) to crash itself.
    pub async fn crash(&self, service: &str) -> Result<(), ClusterError> {
        self.service(service)?;
        let address = self.address(service)?;
        let url = format!("http://{address}/admin/crash");
        let unreachable = |e| ClusterError::KitUnreachable { service: service.to_string(), port: address.port(), source: Arc::new(e) };
        // The replica may die before it answers: a reset is the expected outcome.
        let _answer = crate::loopback::client().map_err(unreachable)?.post(&url).timeout(CRASH_TIMEOUT).send().await;
        Ok(())
    }
}
