//! A validated lesson: what the runner acts on and measures.

use std::time::Duration;

/// A guided demonstration of one claim of the architecture, run step by step on a live cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// Lower-case words joined by `-`, e.g. `independent-scaling`.
    pub name: String,
    pub title: String,
    /// The claim it demonstrates, in one sentence.
    pub claim: String,
    /// The services it needs running.
    pub services: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique in the lesson; a relative bound names the step it compares with.
    pub name: String,
    /// Shown to the learner (short Markdown).
    pub text: String,
    pub actions: Vec<Action>,
    /// Time for the actions to show before the checks measure.
    pub wait: Option<Duration>,
    pub checks: Vec<Check>,
}

/// What a step does to the cluster, in order: each is a user's command.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    StartLoad { scenario: String, rate: f64, duration: Option<Duration> },
    SetLoadRate { rate: f64 },
    StopLoad,
    Scale { service: String, replicas: u32 },
    Stop { service: String },
    Start { service: String },
    Restart { service: String },
    Kill { service: String, replica: u32 },
    Knobs { service: String, knobs: Knobs },
    Wait(Duration),
    /// Waits until every replica of the service is ready, failing the step after `within`.
    WaitReady { service: String, within: Duration },
    /// Switches the service's autoscaler on or off.
    Autoscale { service: String, on: bool },
    /// Sets and unsets environment variables of the service and rolls them out.
    Deploy { service: String, change: crate::supervisor::revision::EnvChange },
    /// Waits until the service's rollout ends (complete, rolled back or paused), failing the
    /// step after `within`.
    WaitRollout { service: String, within: Duration },
    /// One HTTP request to the service's address, as a client would send it; an answer below
    /// 500 carries the step on (a 409 "exists" is a state the lesson can go on from).
    Request { service: String, method: String, path: String, body: Option<String> },
    /// Injects a fault at the service's address, in place of any there.
    Fault { service: String, fault: crate::proxy::fault::Fault },
    /// Clears the fault at the service's address.
    ClearFault { service: String },
}

impl Action {
    /// The service it acts on, if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Scale { service, .. }
            | Action::Stop { service }
            | Action::Start { service }
            | Action::Restart { service }
            | Action::Kill { service, .. }
            | Action::Knobs { service, .. }
            | Action::WaitReady { service, .. }
            | Action::Autoscale { service, .. }
            | Action::Deploy { service, .. }
            | Action::WaitRollout { service, .. }
            | Action::Request { service, .. }
            | Action::Fault { service, .. }
            | Action::ClearFault { service } => Some(service),
            Action::StartLoad { .. } | Action::SetLoadRate { .. } | Action::StopLoad | Action::Wait(_) => None,
        }
    }
}

/// The sample kit's knobs a lesson may set (each optional: unset ones stay as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Knobs {
    pub work_ms: Option<u64>,
    pub max_inflight: Option<u32>,
    pub error_rate: Option<f64>,
}

/// A number measured over a window, compared with a bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Where it sits in the file (`step[2].checks[0]`), for reports.
    pub key: String,
    pub measure: Measure,
    pub subject: Subject,
    pub window: Duration,
    pub bound: Bound,
    /// The sentence a result is told with; `{value}` and `{bound}` are replaced by the numbers.
    pub says: Option<String>,
    /// The path a `status` check asks for.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    /// Requests a second at the service's address.
    Rps,
    ErrorPct,
    P50Ms,
    P95Ms,
    P99Ms,
    ReadyReplicas,
    Restarts,
    /// How far the busiest replica's share is from an even one, in percentage points.
    SpreadPct,
    /// Requests a second on a caller → callee edge.
    EdgeRps,
    EdgeErrors,
    /// The running load's achieved rate, error % and p95.
    LoadRate,
    LoadErrorPct,
    LoadP95Ms,
    /// The `x-version` of an answer from the service's address (`GET /health`).
    ServedVersion,
    /// The service's processes that are not ones it ran when the lesson began.
    Replaced,
    /// 1 if the service's last rollout stopped on a bad replica, else 0.
    RolloutStopped,
    /// The status of a `GET path` through the service's address.
    Status,
}

/// The words a file names measures by, and what each is measured on.
pub const MEASURES: [(&str, Measure); 17] = [
    ("rps", Measure::Rps),
    ("error_pct", Measure::ErrorPct),
    ("p50_ms", Measure::P50Ms),
    ("p95_ms", Measure::P95Ms),
    ("p99_ms", Measure::P99Ms),
    ("ready_replicas", Measure::ReadyReplicas),
    ("restarts", Measure::Restarts),
    ("spread_pct", Measure::SpreadPct),
    ("edge_rps", Measure::EdgeRps),
    ("edge_errors", Measure::EdgeErrors),
    ("load_rate", Measure::LoadRate),
    ("load_error_pct", Measure::LoadErrorPct),
    ("load_p95_ms", Measure::LoadP95Ms),
    ("served_version", Measure::ServedVersion),
    ("replaced", Measure::Replaced),
    ("rollout_stopped", Measure::RolloutStopped),
    ("status", Measure::Status),
];

/// What a measure is taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    Service,
    Edge,
    Load,
}

impl Measure {
    pub fn name(self) -> &'static str {
        MEASURES.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }

    pub fn subject_kind(self) -> SubjectKind {
        match self {
            Measure::EdgeRps | Measure::EdgeErrors => SubjectKind::Edge,
            Measure::LoadRate | Measure::LoadErrorPct | Measure::LoadP95Ms => SubjectKind::Load,
            _ => SubjectKind::Service,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Service(String),
    Edge { caller: String, callee: String },
    Load,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub comparison: Comparison,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Below,
    AtMost,
    Above,
    AtLeast,
}

/// The file's words for each comparison.
pub const COMPARISONS: [(&str, Comparison); 4] =
    [("below", Comparison::Below), ("at_most", Comparison::AtMost), ("above", Comparison::Above), ("at_least", Comparison::AtLeast)];

#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    Value(f64),
    /// `times` × the same measurement taken at the end of the step `step`.
    Relative { step: String, times: f64 },
}
