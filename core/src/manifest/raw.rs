//! The manifest as written (TOML), before validation. These types are the source of
//! the checked-in JSON Schema (`core/schema/manifest.schema.json`), so their doc
//! comments are what editors show; a test keeps them and the validator's keys in step.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A Microdeck cluster manifest: services run as child processes, each behind a
/// stable address. Reference this schema from a TOML file with a first-line comment
/// `#:schema ./path/to/manifest.schema.json` (Taplo / Even Better TOML).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Microdeck cluster manifest")]
pub struct RawManifest {
    /// The cluster's name, shown in the title bar (default: the folder's name).
    #[schemars(length(min = 1))]
    pub name: Option<String>,
    /// One table per service: `[services.NAME]`. Names use lowercase letters, digits,
    /// `-` and `_`: they appear in placeholders, file names and URLs. At most 64 services.
    #[schemars(extend("propertyNames" = { "pattern": "^[a-z0-9_-]{1,63}$" }, "maxProperties" = super::MAX_SERVICES))]
    pub services: BTreeMap<String, RawService>,
    /// Traffic scenarios for the load generator.
    pub load: Option<RawLoad>,
}

/// One service: a program run as one or more replicas behind one stable address.
/// Give exactly one of `command` or `shell`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "oneOf" = [{ "required": ["command"] }, { "required": ["shell"] }],
    "dependencies" = { "args": ["command"] }
))]
pub struct RawService {
    /// The program to run (looked up on PATH, or relative to the manifest's folder). Not run by a shell.
    #[schemars(length(min = 1))]
    pub command: Option<String>,
    /// Arguments of `command`; `{{self.port}}`, `$PORT`, `{{NAME.url}}`, `{{NAME.port}}` are expanded.
    pub args: Option<Vec<String>>,
    /// A command line run with `sh -c`, instead of `command` + `args`.
    #[schemars(length(min = 1))]
    pub shell: Option<String>,
    /// Working directory, relative to the manifest's folder (default: that folder).
    pub cwd: Option<String>,
    /// Extra environment; values may use placeholders such as `{{users.url}}`. `PORT` is set by Microdeck.
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "not": { "const": "PORT" } }))]
    pub env: Option<BTreeMap<String, String>>,
    /// The service's stable address port (absent = a free one).
    #[schemars(range(min = 1))]
    pub port: Option<u16>,
    /// What the stable address carries (default `http`).
    pub protocol: Option<RawProtocol>,
    /// How many replicas to run, 0 to 16 (default 1).
    #[schemars(range(min = 0, max = super::MAX_REPLICAS))]
    pub replicas: Option<u32>,
    /// How readiness is probed (default: the process being alive).
    pub health: Option<RawHealth>,
    /// When a replica that exits is started again (default `always`).
    pub restart: Option<RawRestart>,
    /// Services that must be ready before this one starts.
    pub depends_on: Option<Vec<String>>,
    /// Time between SIGTERM and SIGKILL, e.g. "5s" (default 5s).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub stop_grace: Option<String>,
    /// A missing program is reported instead of failing the cluster (default false).
    pub optional: Option<bool>,
    /// How the stable address spreads requests over ready replicas (default `round-robin`).
    pub balance: Option<RawBalance>,
    /// HTTP: how long the address waits for a replica's answer to begin, then answers 504 (default "60s").
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub response_timeout: Option<String>,
    /// TCP: how long a connection may carry no byte either way before the address closes it (default "10m").
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub idle_timeout: Option<String>,
    /// How long a rollout's new replica may take to be ready before the rollout stops, e.g. "30s" (default 30s).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub progress_deadline: Option<String>,
    /// What a rollout that stops does (default `auto`).
    pub rollback: Option<RawRollback>,
    /// Scale the replicas to follow one measured number (the Kubernetes HPA rule).
    pub autoscale: Option<RawAutoscale>,
}

/// An autoscaler: between `min` and `max` replicas, keeping one `target`. Switched on and
/// off at run time too (`microdeck autoscale NAME on|off`); a manual scale switches it off.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    /// On when the cluster starts (default false).
    pub enabled: Option<bool>,
    /// The fewest replicas, 1 to 16 (default 1).
    #[schemars(range(min = 1, max = super::MAX_REPLICAS))]
    pub min: Option<u32>,
    /// The most replicas, 1 to 16, at least `min`.
    #[schemars(range(min = 1, max = super::MAX_REPLICAS))]
    pub max: u32,
    /// The one number kept at its value.
    pub target: RawAutoscaleTarget,
    /// How often it measures and decides, at least "1s" (default "5s").
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub period: Option<String>,
    /// A scale-down waits until every recommendation of this long agrees (default "30s").
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub window: Option<String>,
}

/// Exactly one of the four.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct RawAutoscaleTarget {
    /// The service's p95 latency, e.g. "200ms".
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub p95: Option<String>,
    /// Requests a second per ready replica.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub rps_per_replica: Option<f64>,
    /// Requests in flight per ready replica.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub in_flight_per_replica: Option<f64>,
    /// CPU % per ready replica (100 = one core).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub cpu_percent_per_replica: Option<f64>,
}

/// A number and a unit (ms, s, m/min, h), possibly repeated: "250ms", "2s", "1m30s".
pub const DURATION_PATTERN: &str = r"^(\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ms|s|min|m|h))+\s*$";

/// An HTTP header name: an RFC 9110 token.
pub const HEADER_NAME_PATTERN: &str = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawProtocol {
    /// HTTP: requests are balanced one by one and counted.
    Http,
    /// Plain TCP: connections are balanced.
    Tcp,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawRestart {
    /// Restart whenever a replica exits, with backoff.
    Always,
    /// Restart only after a non-zero exit or a signal.
    OnFailure,
    /// Never restart.
    Never,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawRollback {
    /// Remove the new revision's replicas and return to the previous revision's full count.
    Auto,
    /// Pause with old and new replicas side by side until `rollout undo` or another deploy.
    Manual,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawBalance {
    /// Each ready replica in turn.
    RoundRobin,
    /// The ready replica with the fewest requests in flight.
    LeastInflight,
}

/// Health probe settings. Give `http` or `tcp`, or neither for process-alive.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Path probed with GET on the replica's port, e.g. "/health"; 2xx/3xx is healthy.
    #[schemars(regex(pattern = r"^/"))]
    pub http: Option<String>,
    /// Probe with a TCP connect to the replica's port.
    pub tcp: Option<bool>,
    /// Time between probes, e.g. "1s" (default 1s).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Probe timeout, e.g. "500ms" (default 500ms).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Consecutive failures before a ready replica is unhealthy (default 3).
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<u32>,
    /// Consecutive successes before a replica is ready (default 1).
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: Option<u32>,
    /// Grace after start during which failures don't count (default 10s).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub start_period: Option<String>,
}

/// Load generator configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// `[[load.scenario]]` tables.
    #[serde(default)]
    pub scenario: Vec<RawScenario>,
}

/// A named traffic mix sent to one service's stable address.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Unique among scenarios.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The service whose address receives the traffic.
    pub target: String,
    /// A request run once before the load, whose response fills `{{name}}` placeholders.
    pub setup: Option<RawSetup>,
    /// `[[load.scenario.request]]` tables, picked at random in proportion to `weight`.
    #[schemars(length(min = 1))]
    pub request: Vec<RawRequest>,
}

/// An HTTP method.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RawMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

/// One kind of request in a scenario; path, headers and body may use `{{name}}` from the setup.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// HTTP method (default GET).
    pub method: Option<RawMethod>,
    /// Request path, starting with `/`.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// Extra request headers.
    #[schemars(extend("propertyNames" = { "pattern": HEADER_NAME_PATTERN }))]
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    /// Relative weight, 1 to 1000 (default 1).
    #[schemars(range(min = 1, max = 1000))]
    pub weight: Option<u32>,
}

/// A request sent once before the load.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetup {
    /// HTTP method (default GET).
    pub method: Option<RawMethod>,
    /// Request path, starting with `/`.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    #[schemars(extend("propertyNames" = { "pattern": HEADER_NAME_PATTERN }))]
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    /// placeholder → JSON pointer into the response, e.g. `{ token = "/token" }`.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
}
