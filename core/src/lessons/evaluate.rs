//! A check's outcome from its measurement: passed, failed, or inconclusive when the machine
//! could not give a fair measurement — a busy laptop must never "disprove" a claim. Pure.

use serde::{Deserialize, Serialize};

use super::model::{Check, Comparison, Limit, Measure, Subject};

/// One measurement as the runner took it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// `None`: nothing to measure in the window (e.g. no request, so no p95).
    pub value: Option<f64>,
    /// Why the measurement is not fair, if it is not (e.g. the load generator fell far
    /// behind its asked rate).
    pub unfair: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    Inconclusive,
}

impl Outcome {
    /// As a report line starts: a failure stands out.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

/// What a check found, with its numbers and one plain sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Where the check sits in its file, e.g. `step[1].checks[0]`.
    pub key: String,
    pub measure: String,
    /// `auth`, `gateway -> auth` or `load`.
    pub subject: String,
    pub window_s: f64,
    pub value: Option<f64>,
    /// The bound the value was compared with (a relative one resolved to a number).
    pub bound: Option<f64>,
    pub comparison: String,
    pub outcome: Outcome,
    pub sentence: String,
}

/// A measurement's unit as shown after a number.
pub fn unit(measure: Measure) -> &'static str {
    match measure {
        Measure::Rps | Measure::EdgeRps | Measure::LoadRate => " req/s",
        Measure::ErrorPct | Measure::LoadErrorPct => " %",
        Measure::P50Ms | Measure::P95Ms | Measure::P99Ms | Measure::LoadP95Ms => " ms",
        Measure::ReadyReplicas => " ready",
        Measure::Restarts => " restarts",
        Measure::SpreadPct => " points",
        Measure::EdgeErrors => " errors",
        Measure::ServedVersion | Measure::RolloutStopped | Measure::Status => "",
        Measure::Replaced => " replaced",
    }
}

/// Three significant figures at most, no trailing zeros: 412, 0.5, 12.3, 0.0123.
pub fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub fn subject_text(subject: &Subject) -> String {
    match subject {
        Subject::Service(s) => s.clone(),
        Subject::Edge { caller, callee } => format!("{caller} -> {callee}"),
        Subject::Load => "load".into(),
    }
}

fn comparison_words(c: Comparison) -> (&'static str, &'static str) {
    match c {
        Comparison::Below => ("below", "below"),
        Comparison::AtMost => ("at_most", "at most"),
        Comparison::Above => ("above", "above"),
        Comparison::AtLeast => ("at_least", "at least"),
    }
}

/// `baseline`: the same measurement at the end of the step a relative bound names.
pub fn evaluate(check: &Check, measured: &Measured, baseline: Option<f64>) -> CheckResult {
    let (word, words) = comparison_words(check.bound.comparison);
    let unit = unit(check.measure);
    let subject = subject_text(&check.subject);
    let what = format!("{subject} {} over {} s", check.measure.name(), number(check.window.as_secs_f64()));
    let bound = match &check.bound.limit {
        Limit::Value(v) => Some(*v),
        Limit::Relative { times, .. } => baseline.map(|b| b * times),
    };
    let bound_text = match (&check.bound.limit, bound) {
        (Limit::Value(v), _) => format!("{}{unit}", number(*v)),
        (Limit::Relative { step, times }, Some(b)) => format!("{}{unit} ({} × its value at step `{step}`, {}{unit})", number(b), number(*times), number(baseline.unwrap_or_default())),
        (Limit::Relative { step, .. }, None) => format!("its value at step `{step}`"),
    };
    let (outcome, sentence) = match (&measured.unfair, measured.value, bound) {
        (Some(why), _, _) => (Outcome::Inconclusive, format!("{what}: not measured fairly ({why}), so neither proven nor disproven")),
        (None, None, _) => (Outcome::Inconclusive, format!("{what}: nothing to measure in the window")),
        (None, Some(_), None) => (Outcome::Inconclusive, format!("{what}: no value at the step it compares with")),
        (None, Some(v), Some(b)) => {
            let holds = match check.bound.comparison {
                Comparison::Below => v < b,
                Comparison::AtMost => v <= b,
                Comparison::Above => v > b,
                Comparison::AtLeast => v >= b,
            };
            let outcome = if holds { Outcome::Passed } else { Outcome::Failed };
            let sentence = match &check.says {
                Some(says) => says.replace("{value}", &number(v)).replace("{bound}", &number(b)),
                None => format!("{what}: {}{unit}, {}{words} {bound_text}", number(v), if holds { "" } else { "not " }),
            };
            (outcome, sentence)
        }
    };
    CheckResult {
        key: check.key.clone(),
        measure: check.measure.name().to_string(),
        subject,
        window_s: check.window.as_secs_f64(),
        value: measured.value,
        bound,
        comparison: word.to_string(),
        outcome,
        sentence,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lessons::model::Bound;

    fn check(measure: Measure, comparison: Comparison, limit: Limit) -> Check {
        Check { key: "step[1].checks[0]".into(), measure, subject: Subject::Service("auth".into()), window: Duration::from_secs(5), bound: Bound { comparison, limit }, says: None, path: None }
    }

    fn measured(v: f64) -> Measured {
        Measured { value: Some(v), unfair: None }
    }

    #[test]
    fn outcomes_for_every_comparison_and_bound() {
        let rel = |times| Limit::Relative { step: "loaded".into(), times };
        // (comparison, limit, measured, baseline, outcome, bound resolved)
        type Case = (Comparison, Limit, Measured, Option<f64>, Outcome, Option<f64>);
        let cases: Vec<Case> = vec![
            (Comparison::Below, Limit::Value(100.0), measured(99.0), None, Outcome::Passed, Some(100.0)),
            (Comparison::Below, Limit::Value(100.0), measured(100.0), None, Outcome::Failed, Some(100.0)),
            (Comparison::AtMost, Limit::Value(100.0), measured(100.0), None, Outcome::Passed, Some(100.0)),
            (Comparison::Above, Limit::Value(0.0), measured(0.0), None, Outcome::Failed, Some(0.0)),
            (Comparison::AtLeast, Limit::Value(0.0), measured(0.0), None, Outcome::Passed, Some(0.0)),
            // Relative: at most half of 412 ms.
            (Comparison::AtMost, rel(0.5), measured(150.0), Some(412.0), Outcome::Passed, Some(206.0)),
            (Comparison::AtMost, rel(0.5), measured(300.0), Some(412.0), Outcome::Failed, Some(206.0)),
            (Comparison::AtMost, rel(0.5), measured(300.0), None, Outcome::Inconclusive, None),
            (Comparison::Below, Limit::Value(1.0), Measured::default(), None, Outcome::Inconclusive, Some(1.0)),
            (Comparison::Below, Limit::Value(1.0), Measured { value: Some(0.0), unfair: Some("the load reached 40 of 400 req/s asked".into()) }, None, Outcome::Inconclusive, Some(1.0)),
        ];
        for (comparison, limit, m, baseline, want, bound) in cases {
            let c = check(Measure::P95Ms, comparison, limit.clone());
            let r = evaluate(&c, &m, baseline);
            assert_eq!((r.outcome, r.bound), (want, bound), "{comparison:?} {limit:?} {m:?} {baseline:?}: {}", r.sentence);
            assert!(r.sentence.starts_with("auth p95_ms over 5 s"), "{}", r.sentence);
        }
    }

    #[test]
    fn sentences_carry_the_numbers() {
        let c = check(Measure::P95Ms, Comparison::AtMost, Limit::Relative { step: "loaded".into(), times: 0.5 });
        assert_eq!(evaluate(&c, &measured(26.04), Some(7100.0)).sentence, "auth p95_ms over 5 s: 26 ms, at most 3550 ms (0.5 × its value at step `loaded`, 7100 ms)");
        let c = check(Measure::ErrorPct, Comparison::AtMost, Limit::Value(0.0));
        assert_eq!(evaluate(&c, &measured(1.5), None).sentence, "auth error_pct over 5 s: 1.5 %, not at most 0 %");
        let mut c = check(Measure::Rps, Comparison::AtLeast, Limit::Value(1.0));
        c.says = Some("media answered {value} requests a second while auth was stopped".into());
        assert_eq!(evaluate(&c, &measured(41.234), None).sentence, "media answered 41.2 requests a second while auth was stopped");
        let r = evaluate(&c, &Measured { value: None, unfair: Some("the load fell behind".into()) }, None);
        assert!(r.sentence.contains("not measured fairly (the load fell behind)"), "{}", r.sentence);
    }

    #[test]
    fn numbers_keep_three_figures() {
        for (v, s) in [(412.0, "412"), (0.5, "0.5"), (12.34, "12.3"), (0.01234, "0.0123"), (7100.0, "7100"), (0.0, "0"), (1.0, "1")] {
            assert_eq!(number(v), s);
        }
    }
}
