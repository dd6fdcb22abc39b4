//! The manifest as written (TOML), before validation. These types are also the
//! source of the checked-in JSON Schema, so their doc comments are what editors show.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A Microdeck cluster manifest.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    /// The cluster's name, shown in the title bar.
    pub name: Option<String>,
    /// One table per service: `[services.NAME]`.
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    /// Traffic scenarios for the load generator.
    pub load: Option<RawLoad>,
}

/// One service: a program run as one or more replicas behind one stable address.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The program to run (looked up on PATH, then next to the manifest). Not run by a shell.
    pub command: Option<String>,
    /// Arguments; placeholders such as `{{self.port}}` and `$PORT` are expanded.
    pub args: Option<Vec<String>>,
    /// A shell line run with `sh -c`, instead of `command` + `args`.
    pub shell: Option<String>,
    /// Working directory, relative to the manifest's folder.
    pub cwd: Option<String>,
    /// Extra environment; values may use placeholders such as `{{users.url}}`.
    pub env: Option<BTreeMap<String, String>>,
    /// The service's stable address port (absent = a free one).
    pub port: Option<u16>,
    /// `http` (default) or `tcp`.
    pub protocol: Option<String>,
    /// How many replicas to run, 0 to 16 (default 1).
    pub replicas: Option<u32>,
    /// How readiness is probed.
    pub health: Option<RawHealth>,
    /// `always` (default), `on-failure` or `never`.
    pub restart: Option<String>,
    /// Services that must be ready before this one starts.
    pub depends_on: Option<Vec<String>>,
    /// Time between SIGTERM and SIGKILL, e.g. "5s" (default 5s).
    pub stop_grace: Option<String>,
    /// A missing program is reported instead of failing the cluster.
    pub optional: Option<bool>,
    /// `round-robin` (default) or `least-inflight`.
    pub balance: Option<String>,
}

/// Health probe settings. Give `http` or `tcp`, or neither for process-alive.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Path probed with GET on the replica's port, e.g. "/health".
    pub http: Option<String>,
    /// Probe with a TCP connect.
    pub tcp: Option<bool>,
    /// Time between probes once ready, e.g. "1s".
    pub interval: Option<String>,
    /// Probe timeout, e.g. "500ms".
    pub timeout: Option<String>,
    /// Consecutive failures before a ready replica is unhealthy (default 3).
    pub failure_threshold: Option<u32>,
    /// Consecutive successes before a replica is ready (default 1).
    pub success_threshold: Option<u32>,
    /// Grace after start during which failures don't count (default 10s).
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

/// A named traffic mix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    /// The service whose address receives the traffic.
    pub target: String,
    /// A request run once before the load, whose response fills placeholders.
    pub setup: Option<RawSetup>,
    /// `[[load.scenario.request]]` tables, picked by weight.
    #[serde(default)]
    pub request: Vec<RawRequest>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// HTTP method (default GET).
    pub method: Option<String>,
    pub path: String,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    /// Relative weight (default 1).
    pub weight: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSetup {
    pub method: Option<String>,
    pub path: String,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    /// placeholder → JSON pointer into the response, e.g. `{ token = "/token" }`.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
}
