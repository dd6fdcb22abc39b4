//! The load generator as a cluster command: one run at a time, over the manifest's scenarios,
//! aimed at a service's address so its traffic is measured like any caller's.

use std::sync::Arc;
use std::time::Duration;

use super::{Cluster, ClusterError};
use crate::loadgen::{LoadGen, LoadHandle, LoadReport};
use crate::manifest::{Scenario, ScenarioOutline};

/// A load run's length from the seconds a shell was sent.
pub fn load_duration(seconds: f64) -> Result<Duration, ClusterError> {
    crate::loadgen::duration_from_secs(seconds).map_err(ClusterError::InvalidLoad)
}

impl Cluster {
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
        if let Some(going) = self.load_report().filter(|r| !r.state.is_over()) {
            return Err(ClusterError::LoadRunning { scenario: going.scenario, rate: going.rate });
        }
        let manifest = self.manifest();
        let found = manifest.load.scenarios.iter().find(|s| s.name == scenario);
        let scenario = found.ok_or_else(|| ClusterError::UnknownScenario(scenario.to_string()))?;
        let target = self.address(&scenario.target)?;
        let _on_runtime = self.inner.runtime.enter();
        let handle = LoadGen::start(target, scenario, rate, duration, self.inner.cancel.clone()).map_err(ClusterError::InvalidLoad)?;
        let report = handle.report();
        self.inner.load.store(Some(Arc::new(handle)));
        Ok(report)
    }

    fn current_load(&self) -> Result<Arc<LoadHandle>, ClusterError> {
        self.inner.load.load_full().ok_or(ClusterError::NoLoadRun)
    }

    /// Changes the running load's rate (0 pauses it).
    pub fn set_load_rate(&self, rate: f64) -> Result<LoadReport, ClusterError> {
        let run = self.current_load()?;
        run.set_rate(rate).map_err(ClusterError::InvalidLoad)?;
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
}
