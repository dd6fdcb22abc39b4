//! Autoscaling: each service with `[services.NAME.autoscale]` gets a control loop that
//! measures one number each period and scales the service to keep it at its target, with the
//! Kubernetes HPA rule. The loop is a client of `Cluster` like a user: it sends the same
//! scale command, so every change shows in the events and the UI like a user's; a user's
//! own scale switches it off.
//!
//! - [`rule`]: the HPA rule as a pure function, and the window of recent recommendations;
//! - [`measure`]: one period's measurement of a target from the 1-second series, and the
//!   sentence a decision is told with;
//! - `control`: the thin loop per service, over a [`control::Plant`] (the cluster, or a fake
//!   in tests).

pub(crate) mod control;
pub mod measure;
pub mod rule;

use serde::{Deserialize, Serialize};

use crate::manifest::{Autoscale, AutoscaleTarget};
use crate::snapshot::EpochMs;

pub use rule::{Decision, Why};

/// An autoscaler as the shells show it: on or off, its settings, its last decision and the
/// recommendations its window holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscalerView {
    pub service: String,
    pub on: bool,
    pub min: u32,
    pub max: u32,
    pub target: AutoscaleTarget,
    pub period_ms: u64,
    pub window_ms: u64,
    /// The latest period's decision since it was last switched on.
    pub last: Option<DecisionView>,
    /// The recommendations of the window, oldest first: a scale-down goes no lower than the largest.
    pub window: Vec<u32>,
    /// Why it is off when a user's scale switched it off, and how to switch it back on.
    pub note: Option<String>,
}

impl AutoscalerView {
    pub(crate) fn new(service: &str, a: &Autoscale) -> AutoscalerView {
        AutoscalerView {
            service: service.to_string(),
            on: a.enabled,
            min: a.min,
            max: a.max,
            target: a.target,
            period_ms: a.period.as_millis() as u64,
            window_ms: a.window.as_millis() as u64,
            last: None,
            window: vec![],
            note: None,
        }
    }
}

/// One period's decision with the numbers it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionView {
    pub at: EpochMs,
    /// The period's measurement (`None`: nothing to measure).
    pub measured: Option<f64>,
    pub ready: u32,
    #[serde(flatten)]
    pub decision: Decision,
    /// E.g. "auth p95 412 ms over target 100 ms with 1 replica → 5".
    pub message: String,
}

/// What `microdeck autoscale SERVICE on` says, for a user's scale that switched it off.
pub fn how_to_switch_on(service: &str) -> String {
    format!("switch it back on with `microdeck autoscale {service} on` or the switch on its page")
}
