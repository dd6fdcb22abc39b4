//! The cluster's traffic side: the one [`Metrics`] every service address records into
//! (fed with resource readings too), its queries, the load generator (one run at a
//! time, scenarios from the manifest) and the sample kit's demo knobs.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::set::ServiceSet;
use super::{Cluster, ClusterError};
use crate::loadgen::{LoadGen, LoadHandle, LoadReport};
use crate::manifest::{Scenario, ScenarioOutline};
use crate::metrics::{Metrics, ReplicaShare, Series, ServiceTotals, Topology};
use crate::proxy::ServiceProxy;
use crate::resources::Resources;
use crate::snapshot::ReplicaState;

/// How long a knob or crash call to a replica may take.
const KNOB_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts the metrics actor, attaches every address to it and feeds it resource readings
/// of the services running at each reading.
pub(super) fn start_metrics(
    proxies: &[ServiceProxy],
    set: Weak<ArcSwap<ServiceSet>>,
    mut resources: watch::Receiver<Resources>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Metrics, ClusterError> {
    let metrics = Metrics::spawn(cancel.clone()).map_err(|e| ClusterError::Io(e.to_string()))?;
    for proxy in proxies {
        attach_metrics(proxy, &metrics, tracker);
    }
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
                let (mut cpu, mut rss) = (0.0f64, 0u64);
                for r in running.handle.view.borrow().replicas.iter() {
                    if let Some(u) = r.pid.and_then(|p| res.per_pid.get(&p)) {
                        cpu += f64::from(u.cpu_percent);
                        rss += u.rss_bytes;
                    }
                }
                m.record_resources(&running.handle.name, cpu, rss);
            }
        }
    });
    Ok(metrics)
}

/// Makes a service's address record its traffic into `metrics` (also one a reload added).
pub(super) fn attach_metrics(proxy: &ServiceProxy, metrics: &Metrics, tracker: &TaskTracker) {
    let (proxy, metrics) = (proxy.clone(), metrics.clone());
    tracker.spawn(async move {
        if let Err(e) = proxy.attach_metrics(metrics).await {
            tracing::warn!(service = proxy.service(), "traffic is not measured: {e}");
        }
    });
}

fn stopped(e: crate::metrics::MetricsError) -> ClusterError {
    ClusterError::Io(e.to_string())
}

impl Cluster {
    /// The service's 1-second series over the last `window` (empty before any traffic).
    pub async fn series(&self, service: &str, window: Duration) -> Result<Option<Series>, ClusterError> {
        self.service(service)?;
        self.inner.metrics.series(service, window).await.map_err(stopped)
    }

    /// Services and the caller→callee edges seen in traffic, with their rates.
    pub async fn topology(&self) -> Result<Topology, ClusterError> {
        self.inner.metrics.topology().await.map_err(stopped)
    }

    /// Each replica's share of the service's requests over the last `window`.
    pub async fn replica_spread(&self, service: &str, window: Duration) -> Result<Vec<ReplicaShare>, ClusterError> {
        self.service(service)?;
        let spread = self.inner.metrics.replica_spread(service, window).await.map_err(stopped)?;
        Ok(spread.unwrap_or_default())
    }

    /// Counts since the start, per service and per replica.
    pub async fn traffic_totals(&self) -> Result<Vec<ServiceTotals>, ClusterError> {
        self.inner.metrics.totals().await.map_err(stopped)
    }

    /// The body of `GET /metrics` (Prometheus text).
    pub async fn prometheus(&self) -> Result<String, ClusterError> {
        self.inner.metrics.render_prometheus().await.map_err(stopped)
    }

    /// The manifest's load scenarios, in manifest order.
    pub fn load_scenarios(&self) -> Vec<ScenarioOutline> {
        self.inner.set.load().manifest.load.scenarios.iter().map(Scenario::outline).collect()
    }

    /// Starts the manifest's `scenario` at `rate` requests per second; one run at a time.
    /// Callable from any thread: the run goes on the cluster's runtime.
    pub fn start_load(&self, scenario: &str, rate: f64, duration: Option<Duration>) -> Result<LoadReport, ClusterError> {
        if self.inner.cancel.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        if let Some(run) = self.inner.load.load_full() {
            if !run.report().state.is_over() {
                return Err(ClusterError::InvalidArgument("a load run is already going; stop it first".into()));
            }
        }
        let manifest = self.manifest();
        let found = manifest.load.scenarios.iter().find(|s| s.name == scenario);
        let scenario = found.ok_or_else(|| ClusterError::InvalidArgument(format!("no load scenario named `{scenario}`")))?;
        let target = self.address(&scenario.target)?;
        let _on_runtime = self.inner.runtime.enter();
        let handle = LoadGen::start(target, scenario, rate, duration, self.inner.cancel.clone())
            .map_err(|e| ClusterError::InvalidArgument(e.to_string()))?;
        let report = handle.report();
        self.inner.load.store(Some(Arc::new(handle)));
        Ok(report)
    }

    fn current_load(&self) -> Result<Arc<LoadHandle>, ClusterError> {
        self.inner.load.load_full().ok_or_else(|| ClusterError::InvalidArgument("no load run was started".into()))
    }

    /// Changes the running load's rate (0 pauses it).
    pub fn set_load_rate(&self, rate: f64) -> Result<LoadReport, ClusterError> {
        let run = self.current_load()?;
        run.set_rate(rate).map_err(|e| ClusterError::InvalidArgument(e.to_string()))?;
        Ok(run.report())
    }

    /// Stops the load run (its report stays readable).
    pub fn stop_load(&self) -> Result<LoadReport, ClusterError> {
        let run = self.current_load()?;
        run.stop();
        Ok(run.report())
    }

    /// The latest report of the current or last load run; `None` before any.
    pub fn load_report(&self) -> Option<LoadReport> {
        self.inner.load.load_full().map(|r| r.report())
    }

    /// The stable address of a service.
    pub fn address(&self, service: &str) -> Result<SocketAddr, ClusterError> {
        let set = self.inner.set.load();
        set.get(service).map(|r| r.proxy.local_addr()).ok_or_else(|| ClusterError::UnknownService(service.to_string()))
    }

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
            return Err(ClusterError::InvalidArgument(format!("{service} has no ready replica")));
        }
        let client = reqwest::Client::new();
        let mut done = 0;
        for port in ports {
            let url = format!("http://127.0.0.1:{port}/admin/knobs");
            let sent = client.post(&url).json(knobs).timeout(KNOB_TIMEOUT).send().await;
            match sent {
                Ok(r) if r.status().is_success() => done += 1,
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(ClusterError::InvalidArgument(format!("{service} refused the knobs ({status}): {body}")));
                }
                Err(e) => return Err(ClusterError::Io(format!("cannot reach {service} on port {port}: {e}"))),
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
        let port = port.ok_or_else(|| ClusterError::InvalidArgument(format!("{service} has no ready replica")))?;
        let url = format!("http://127.0.0.1:{port}/admin/knobs");
        let unreachable = |e: reqwest::Error| ClusterError::Io(format!("cannot read {service}'s knobs on port {port}: {e}"));
        let answer = reqwest::Client::new().get(&url).timeout(KNOB_TIMEOUT).send().await.map_err(unreachable)?;
        if !answer.status().is_success() {
            return Err(ClusterError::InvalidArgument(format!("{service} has no knobs ({})", answer.status())));
        }
        answer.json().await.map_err(unreachable)
    }

    /// Asks one replica of the service (through its address) to crash itself.
    pub async fn crash(&self, service: &str) -> Result<(), ClusterError> {
        self.service(service)?;
        let url = format!("http://{}/admin/crash", self.address(service)?);
        // The replica may die before it answers: a reset is the expected outcome.
        let _answer = reqwest::Client::new().post(&url).timeout(KNOB_TIMEOUT).send().await;
        Ok(())
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
