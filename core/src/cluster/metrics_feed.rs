//! The cluster's one [`Metrics`]: every service address records its traffic into it, the
//! engine's resource readings feed each service's CPU and memory, and its queries.

use std::sync::Weak;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::set::ServiceSet;
use super::{Cluster, ClusterError};
use crate::metrics::{Metrics, ReplicaShare, RevisionSeries, Series, ServiceTotals, Topology};
use crate::proxy::ServiceProxy;
use crate::resources::Resources;

/// Starts the metrics actor and feeds it resource readings of the services running at
/// each reading (their addresses are attached as they launch).
pub(super) fn start_metrics(
    set: Weak<ArcSwap<ServiceSet>>,
    mut resources: watch::Receiver<Resources>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Metrics, ClusterError> {
    let metrics = Metrics::spawn(cancel.clone()).map_err(ClusterError::MetricsStart)?;
    let m = metrics.clone();
    let cancel = cancel.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = resources.changed() => if changed.is_err() { break },
            }
            let res = resources.borrow_and_update().clone();
            let Some(set) = set.upgrade() else { break };
            for running in set.load().services.iter() {
                let mut view = running.handle.view.borrow().clone();
                res.fill(&mut view);
                m.record_resources(&running.handle.name, f64::from(view.cpu_percent), view.rss_bytes);
            }
        }
    });
    Ok(metrics)
}

/// Makes a service's address record its traffic into `metrics`.
pub(super) fn attach_metrics(proxy: &ServiceProxy, metrics: &Metrics, tracker: &TaskTracker) {
    let (proxy, metrics) = (proxy.clone(), metrics.clone());
    tracker.spawn(async move {
        if let Err(e) = proxy.attach_metrics(metrics).await {
            tracing::warn!(service = proxy.service(), "traffic is not measured: {e}");
        }
    });
}

impl Cluster {
    /// The service's 1-second series over the last `window` (empty before any traffic).
    pub async fn series(&self, service: &str, window: Duration) -> Result<Option<Series>, ClusterError> {
        self.service(service)?;
        self.inner.metrics.series(service, window).await.map_err(ClusterError::Metrics)
    }

    /// Services and the caller→callee edges seen in traffic, with their rates.
    pub async fn topology(&self) -> Result<Topology, ClusterError> {
        self.inner.metrics.topology().await.map_err(ClusterError::Metrics)
    }

    /// Each replica's share of the service's requests over the last `window`.
    pub async fn replica_spread(&self, service: &str, window: Duration) -> Result<Vec<ReplicaShare>, ClusterError> {
        self.service(service)?;
        let spread = self.inner.metrics.replica_spread(service, window).await.map_err(ClusterError::Metrics)?;
        Ok(spread.unwrap_or_default())
    }

    /// Each revision's 1-second series over the last `window` (requests, errors, p95).
    pub async fn revision_series(&self, service: &str, window: Duration) -> Result<Vec<RevisionSeries>, ClusterError> {
        self.service(service)?;
        let series = self.inner.metrics.revision_series(service, window).await.map_err(ClusterError::Metrics)?;
        Ok(series.unwrap_or_default())
    }

    /// Counts since the start, per service and per replica.
    pub async fn traffic_totals(&self) -> Result<Vec<ServiceTotals>, ClusterError> {
        self.inner.metrics.totals().await.map_err(ClusterError::Metrics)
    }

    /// The body of `GET /metrics` (Prometheus text).
    pub async fn prometheus(&self) -> Result<String, ClusterError> {
        self.inner.metrics.render_prometheus().await.map_err(ClusterError::Metrics)
    }
}
