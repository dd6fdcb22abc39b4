//! The validated cluster model: what the rest of the engine consumes.
//! Every value here has passed validation; defaults are already filled in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// A whole cluster: its services in manifest order, and its load scenarios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: String,
    /// Where it was read from (to read it again on reload); `None` when built in code.
    pub origin: Option<super::Origin>,
    /// Relative `cwd`s and programs are resolved against this folder (the file's folder).
    pub base_dir: PathBuf,
    pub services: Vec<Service>,
    pub load: LoadConfig,
}

impl Manifest {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Service names in an order where each comes after what it `depends_on`, else
    /// in manifest order (validation has ruled out cycles).
    pub fn start_order(&self) -> Vec<String> {
        let nodes: Vec<(&str, Vec<&str>)> =
            self.services.iter().map(|s| (s.name.as_str(), s.depends_on.iter().map(String::as_str).collect())).collect();
        super::graph::start_order(&nodes).unwrap_or_else(|| self.services.iter().map(|s| s.name.clone()).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    pub run: Run,
    /// Working directory, already resolved against `Manifest::base_dir`; that folder
    /// itself when the manifest gives none (a Procfile's processes run from its folder).
    pub cwd: Option<PathBuf>,
    /// Values are templates: placeholders are expanded per replica (see `placeholders`).
    pub env: BTreeMap<String, String>,
    /// The stable address's port; `None` = a free one picked at start.
    pub port: Option<u16>,
    pub protocol: Protocol,
    pub replicas: u32,
    pub health: Health,
    pub restart: RestartPolicy,
    pub depends_on: Vec<String>,
    pub stop_grace: Duration,
    /// A missing program is reported, and the rest of the cluster starts.
    pub optional: bool,
    pub balance: Balance,
    /// HTTP: how long the address waits for a replica's answer to begin before it answers 504.
    pub response_timeout: Duration,
    /// TCP: a connection with no byte either way for this long is closed.
    pub idle_timeout: Duration,
    /// `[services.NAME.autoscale]`, when given.
    pub autoscale: Option<Autoscale>,
    /// A rollout's new replica that is not ready this long after its start stops the rollout.
    pub progress_deadline: Duration,
    /// What a stopped rollout does: go back to the previous revision, or wait for the user.
    pub rollback: Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Rollback {
    /// The new revision's replicas are removed and the previous revision runs its full count.
    #[default]
    Auto,
    /// Old and new replicas stay side by side until the user undoes or deploys again.
    Manual,
}

/// An autoscaler's settings: the HPA rule (`crate::autoscale`) between `min` and `max`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Autoscale {
    /// On when the cluster starts (the bundled sample ships it off).
    pub enabled: bool,
    pub min: u32,
    pub max: u32,
    pub target: AutoscaleTarget,
    /// How often it measures and decides.
    pub period: Duration,
    /// A scale-down goes no lower than the largest recommendation of this long.
    pub window: Duration,
}

/// The one number an autoscaler keeps at its target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "metric", content = "value", rename_all = "kebab-case")]
pub enum AutoscaleTarget {
    /// The service's p95 latency, in milliseconds.
    P95Ms(f64),
    /// Requests a second per ready replica.
    RpsPerReplica(f64),
    /// Requests in flight per ready replica.
    InFlightPerReplica(f64),
    /// CPU % per ready replica (100 = one core).
    CpuPercentPerReplica(f64),
}

impl AutoscaleTarget {
    pub fn value(self) -> f64 {
        match self {
            AutoscaleTarget::P95Ms(v)
            | AutoscaleTarget::RpsPerReplica(v)
            | AutoscaleTarget::InFlightPerReplica(v)
            | AutoscaleTarget::CpuPercentPerReplica(v) => v,
        }
    }
}

/// How a replica is launched. Arguments and the shell line are templates.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Run {
    Command { program: String, args: Vec<String> },
    /// Run by `sh -c`.
    Shell { line: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    #[default]
    Http,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastInflight,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub check: HealthCheck,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// Failures during this spell after start do not count toward `failure_threshold`.
    pub start_period: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            check: HealthCheck::Process,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            failure_threshold: 3,
            success_threshold: 1,
            start_period: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HealthCheck {
    /// GET this path on the replica's port; 2xx/3xx is healthy.
    Http { path: String },
    /// A TCP connect to the replica's port.
    Tcp,
    /// Alive = healthy.
    Process,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LoadConfig {
    pub scenarios: Vec<Scenario>,
}

/// A named traffic mix sent to one service's stable address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    /// The service whose address receives the traffic.
    pub target: String,
    /// Run once before the load; fills placeholders such as `{{token}}`.
    pub setup: Option<Setup>,
    /// Mixed in proportion to `weight` (smooth weighted round-robin: exact, evenly spread).
    pub requests: Vec<RequestSpec>,
}

/// What a client is shown of a scenario (`GET /api/load/scenarios`): no headers or bodies,
/// which may carry credentials (the setup's login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioOutline {
    pub name: String,
    pub target: String,
    /// `POST /api/auth/login` when the scenario runs a setup request first.
    pub setup: Option<String>,
    pub requests: Vec<RequestOutline>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestOutline {
    pub method: String,
    pub path: String,
    pub weight: u32,
}

impl Scenario {
    pub fn outline(&self) -> ScenarioOutline {
        ScenarioOutline {
            name: self.name.clone(),
            target: self.target.clone(),
            setup: self.setup.as_ref().map(|s| format!("{} {}", s.request.method, s.request.path)),
            requests: self
                .requests
                .iter()
                .map(|r| RequestOutline { method: r.method.clone(), path: r.path.clone(), weight: r.weight })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestSpec {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setup {
    pub request: RequestSpec,
    /// placeholder name → JSON pointer into the response body, e.g. `token` → `/token`.
    pub extract: BTreeMap<String, String>,
}
