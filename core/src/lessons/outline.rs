//! A lesson as a list and a lesson page show it before it runs: each step's text, the
//! actions it will take and the checks it will make, in words, and the services it names
//! (whose charts the page shows). Pure.

use serde::{Deserialize, Serialize};

use super::evaluate::{number, subject_text, unit};
use super::model::{Action, Check, Comparison, Lesson, Limit, Subject};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonOutline {
    pub name: String,
    pub title: String,
    pub claim: String,
    pub services: Vec<String>,
    pub steps: Vec<StepOutline>,
    /// Checks in all steps.
    pub checks: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutline {
    pub name: String,
    /// Markdown.
    pub text: String,
    /// What each action does, e.g. "scale auth to 3 replicas".
    pub actions: Vec<String>,
    pub wait_s: Option<f64>,
    /// What each check asks, e.g. "auth p95_ms at most 0.5 × its value at step `loaded`".
    pub checks: Vec<String>,
    /// The services its actions and checks name, in order of first mention.
    pub services: Vec<String>,
}

impl LessonOutline {
    pub fn of(l: &Lesson) -> LessonOutline {
        let steps: Vec<StepOutline> = l
            .steps
            .iter()
            .map(|s| StepOutline {
                name: s.name.clone(),
                text: s.text.clone(),
                actions: s.actions.iter().map(describe_action).collect(),
                wait_s: s.wait.map(|w| w.as_secs_f64()),
                checks: s.checks.iter().map(describe_check).collect(),
                services: named_services(&s.actions, &s.checks),
            })
            .collect();
        LessonOutline {
            name: l.name.clone(),
            title: l.title.clone(),
            claim: l.claim.clone(),
            services: l.services.clone(),
            checks: steps.iter().map(|s| s.checks.len()).sum(),
            steps,
        }
    }
}

fn seconds(d: std::time::Duration) -> String {
    format!("{} s", number(d.as_secs_f64()))
}

/// An action in words, as the lesson page lists it and the runner records it.
pub fn describe_action(a: &Action) -> String {
    match a {
        Action::StartLoad { scenario, rate, duration } => {
            let how_long = duration.map(|d| format!(" for {}", seconds(d))).unwrap_or_default();
            format!("start the `{scenario}` load at {} req/s{how_long}", number(*rate))
        }
        Action::SetLoadRate { rate } => format!("change the load's rate to {} req/s", number(*rate)),
        Action::StopLoad => "stop the load".into(),
        Action::Scale { service, replicas } => format!("scale {service} to {replicas} replica{}", if *replicas == 1 { "" } else { "s" }),
        Action::Stop { service } => format!("stop {service}"),
        Action::Start { service } => format!("start {service}"),
        Action::Restart { service } => format!("restart {service}, one replica at a time"),
        Action::Kill { service, replica } => format!("kill {service} replica {replica} (SIGKILL)"),
        Action::Knobs { service, knobs } => {
            let mut set = Vec::new();
            if let Some(v) = knobs.work_ms {
                set.push(format!("{v} ms of work a request"));
            }
            if let Some(v) = knobs.max_inflight {
                set.push(if v == 0 { "no limit of requests at a time".into() } else { format!("{v} request{} at a time", if v == 1 { "" } else { "s" }) });
            }
            if let Some(v) = knobs.error_rate {
                set.push(format!("{} % errors", number(v * 100.0)));
            }
            format!("set {service}'s knobs: {}", set.join(", "))
        }
        Action::Wait(d) => format!("wait {}", seconds(*d)),
        Action::WaitReady { service, within } => format!("wait until {service} is ready ({} at most)", seconds(*within)),
        Action::Autoscale { service, on } => format!("switch {service}'s autoscaler {}", if *on { "on" } else { "off" }),
        Action::Deploy { service, change } => format!("deploy {service} with {}", change.describe()),
        Action::WaitRollout { service, within } => format!("wait until {service}'s rollout ends ({} at most)", seconds(*within)),
        Action::Request { service, method, path, .. } => format!("send {method} {path} to {service}"),
        Action::Fault { service, fault } => format!("inject a fault into {service}: {}", fault.describe()),
        Action::ClearFault { service } => format!("clear the fault at {service}"),
    }
}

/// A check in words, before it is measured.
pub fn describe_check(c: &Check) -> String {
    let words = match c.bound.comparison {
        Comparison::Below => "below",
        Comparison::AtMost => "at most",
        Comparison::Above => "above",
        Comparison::AtLeast => "at least",
    };
    let bound = match &c.bound.limit {
        Limit::Value(v) => format!("{}{}", number(*v), unit(c.measure)),
        Limit::Relative { step, times } => format!("{} × its value at step `{step}`", number(*times)),
    };
    let of = c.path.as_ref().map(|p| format!(" of GET {p}")).unwrap_or_default();
    format!("{} {}{of} over {}: {words} {bound}", subject_text(&c.subject), c.measure.name(), seconds(c.window))
}

fn named_services(actions: &[Action], checks: &[Check]) -> Vec<String> {
    let mut named: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !named.iter().any(|n| n == s) {
            named.push(s.to_string());
        }
    };
    for a in actions {
        if let Some(s) = a.service() {
            add(s);
        }
    }
    for c in checks {
        match &c.subject {
            Subject::Service(s) => add(s),
            Subject::Edge { caller, callee } => {
                // `external` is no service; it has no chart.
                if caller != crate::metrics::EXTERNAL {
                    add(caller);
                }
                add(callee);
            }
            Subject::Load => {}
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_in_words() {
        let text = r#"
name = "l"
title = "L"
claim = "c"
[[step]]
name = "loaded"
text = "t"
actions = [{ knobs = "auth", work_ms = 100, max_inflight = 1 }, { start_load = "mixed", rate = 30, duration = "1m" }, { scale = "auth", replicas = 3 }, { kill = "analytics" }, { wait_ready = "auth" }]
wait = "8s"
checks = [
  { measure = "p95_ms", service = "users", at_most = 200 },
  { measure = "edge_rps", edge = "external -> gateway", above = 0, window = "3s" },
  { measure = "load_error_pct", at_most = 1 },
]
[[step]]
name = "scaled"
text = "t"
checks = [{ measure = "p95_ms", service = "auth", at_most = { step = "loaded", times = 0.5 } }]
"#;
        let lesson = crate::lessons::parse_lesson(text.as_bytes(), "l.toml").expect("valid");
        let o = LessonOutline::of(&lesson);
        assert_eq!(o.checks, 4);
        let s = &o.steps[0];
        assert_eq!(
            s.actions,
            [
                "set auth's knobs: 100 ms of work a request, 1 request at a time",
                "start the `mixed` load at 30 req/s for 60 s",
                "scale auth to 3 replicas",
                "kill analytics replica 0 (SIGKILL)",
                "wait until auth is ready (30 s at most)",
            ]
        );
        assert_eq!(s.wait_s, Some(8.0));
        assert_eq!(s.checks, ["users p95_ms over 5 s: at most 200 ms", "external -> gateway edge_rps over 3 s: above 0 req/s", "load load_error_pct over 5 s: at most 1 %"]);
        assert_eq!(s.services, ["auth", "analytics", "users", "gateway"]);
        assert_eq!(o.steps[1].checks, ["auth p95_ms over 5 s: at most 0.5 × its value at step `loaded`"]);
    }
}
