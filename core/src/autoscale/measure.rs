//! One period's measurement of an autoscaler's target, from the service's 1-second series,
//! and the sentence its decision is told with.

use crate::manifest::AutoscaleTarget;
use crate::metrics::Series;

use super::rule::{Decision, Why, TOLERANCE};

/// The period's value of `target`'s metric, per ready replica where the target is; `None`
/// when there is nothing to measure (no series, no ready replica, no CPU reading, or requests
/// in flight that none finished: a stuck service is not an idle one).
pub fn measure(target: AutoscaleTarget, series: Option<&Series>, ready: u32) -> Option<f64> {
    let s = series.filter(|s| !s.t.is_empty())?;
    if ready == 0 {
        return None;
    }
    let per_replica = |total: f64| total / f64::from(ready);
    let in_flight = mean(s.in_flight.iter().map(|n| *n as f64))?;
    match target {
        AutoscaleTarget::P95Ms(_) => {
            let mut p95s: Vec<f64> = s.p95_ms.iter().flatten().copied().collect();
            if p95s.is_empty() {
                return (in_flight <= 0.0).then_some(0.0);
            }
            // The median second: one slow second does not make a period slow.
            p95s.sort_by(f64::total_cmp);
            Some(p95s[p95s.len() / 2])
        }
        AutoscaleTarget::RpsPerReplica(_) => mean(s.rps.iter().copied()).map(per_replica),
        AutoscaleTarget::InFlightPerReplica(_) => Some(per_replica(in_flight)),
        AutoscaleTarget::CpuPercentPerReplica(_) => mean(s.cpu_percent.iter().flatten().copied()).map(per_replica),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// A value of the target's metric as people read it: "412 ms", "23.5 rps per replica".
pub fn quantity(target: AutoscaleTarget, v: f64) -> String {
    match target {
        AutoscaleTarget::P95Ms(_) => format!("{v:.0} ms"),
        AutoscaleTarget::RpsPerReplica(_) => format!("{v:.1} rps per replica"),
        AutoscaleTarget::InFlightPerReplica(_) => format!("{v:.1} in flight per replica"),
        AutoscaleTarget::CpuPercentPerReplica(_) => format!("{v:.0} % CPU per replica"),
    }
}

/// The metric's name in a sentence: "p95", "load", …
fn metric(target: AutoscaleTarget) -> &'static str {
    match target {
        AutoscaleTarget::P95Ms(_) => "p95",
        AutoscaleTarget::RpsPerReplica(_) => "rate",
        AutoscaleTarget::InFlightPerReplica(_) => "requests in flight",
        AutoscaleTarget::CpuPercentPerReplica(_) => "CPU",
    }
}

fn replicas(n: u32) -> String {
    if n == 1 {
        "1 replica".into()
    } else {
        format!("{n} replicas")
    }
}

/// The decision as one sentence with its numbers, e.g.
/// "auth p95 412 ms over target 100 ms with 1 replica → 5".
pub fn describe(service: &str, target: AutoscaleTarget, min: u32, measured: Option<f64>, ready: u32, d: &Decision) -> String {
    let goal = target.value();
    let head = match measured {
        None => format!("{service} {}: nothing to measure with {} ready", metric(target), replicas(ready)),
        Some(m) if m == 0.0 && matches!(target, AutoscaleTarget::P95Ms(_)) => {
            format!("{service} idle (no request) under target {} with {} ready", quantity(target, goal), replicas(ready))
        }
        Some(m) => {
            let side = if m > goal * (1.0 + TOLERANCE) {
                "over"
            } else if m < goal * (1.0 - TOLERANCE) {
                "under"
            } else {
                "within 10 % of"
            };
            let (m, goal) = (quantity(target, m), quantity(target, goal));
            let goal = goal.trim_end_matches(" per replica");
            format!("{service} {} {m} {side} target {goal} with {} ready", metric(target), replicas(ready))
        }
    };
    let tail = match d.why {
        Why::Ratio | Why::Tolerance | Why::Missing | Why::Starting => String::new(),
        Why::UpLimit => format!(" (at most {} a period; it wants {})", d.to, d.recommended),
        Why::Window => " (the largest recommendation within its window)".to_string(),
        Why::Bounds if d.to == min => " (its min)".to_string(),
        Why::Bounds => " (its max)".to_string(),
    };
    let held = match d.why {
        Why::Missing => " → holds",
        Why::Starting => " → waits for the replicas starting",
        _ => "",
    };
    if d.to == d.from && !held.is_empty() {
        format!("{head}{held} at {}", d.from)
    } else {
        format!("{head} → {}{tail}", d.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rps: &[f64], p95: &[Option<f64>], in_flight: &[i64], cpu: &[Option<f64>]) -> Series {
        Series {
            service: "auth".into(),
            t: (0..rps.len()).map(|i| i as f64).collect(),
            rps: rps.to_vec(),
            p95_ms: p95.to_vec(),
            in_flight: in_flight.to_vec(),
            cpu_percent: cpu.to_vec(),
            ..Series::default()
        }
    }

    #[test]
    fn each_target_is_measured_per_ready_replica_or_for_the_service() {
        let s = series(&[20.0, 40.0], &[Some(300.0), Some(500.0)], &[4, 2], &[Some(100.0), None]);
        let cases: &[(AutoscaleTarget, u32, Option<f64>)] = &[
            (AutoscaleTarget::P95Ms(100.0), 2, Some(500.0)),
            (AutoscaleTarget::RpsPerReplica(10.0), 2, Some(15.0)),
            (AutoscaleTarget::InFlightPerReplica(1.0), 3, Some(1.0)),
            (AutoscaleTarget::CpuPercentPerReplica(50.0), 2, Some(50.0)),
            (AutoscaleTarget::RpsPerReplica(10.0), 0, None),
        ];
        for (target, ready, want) in cases {
            assert_eq!(measure(*target, Some(&s), *ready), *want, "{target:?} with {ready} ready");
        }
        assert_eq!(measure(AutoscaleTarget::P95Ms(100.0), None, 1), None, "no series");
    }

    #[test]
    fn no_finished_request_is_idle_when_nothing_waits_and_missing_when_something_does() {
        let idle = series(&[0.0, 0.0], &[None, None], &[0, 0], &[None, None]);
        assert_eq!(measure(AutoscaleTarget::P95Ms(100.0), Some(&idle), 2), Some(0.0));
        let stuck = series(&[0.0, 0.0], &[None, None], &[3, 3], &[None, None]);
        assert_eq!(measure(AutoscaleTarget::P95Ms(100.0), Some(&stuck), 2), None);
        assert_eq!(measure(AutoscaleTarget::CpuPercentPerReplica(50.0), Some(&idle), 2), None, "no CPU reading");
    }

    #[test]
    fn a_decision_reads_with_its_numbers() {
        let d = Decision { from: 1, to: 5, recommended: 5, why: Why::Ratio };
        assert_eq!(describe("auth", AutoscaleTarget::P95Ms(100.0), 1, Some(412.0), 1, &d), "auth p95 412 ms over target 100 ms with 1 replica ready → 5");
        let d = Decision { from: 4, to: 4, recommended: 1, why: Why::Window };
        let s = describe("auth", AutoscaleTarget::RpsPerReplica(10.0), 1, Some(0.0), 4, &d);
        assert_eq!(s, "auth rate 0.0 rps per replica under target 10.0 rps with 4 replicas ready → 4 (the largest recommendation within its window)");
        let d = Decision { from: 2, to: 1, recommended: 1, why: Why::Bounds };
        assert_eq!(describe("auth", AutoscaleTarget::P95Ms(100.0), 1, Some(0.0), 2, &d), "auth idle (no request) under target 100 ms with 2 replicas ready → 1 (its min)");
        let d = Decision { from: 1, to: 4, recommended: 4, why: Why::Bounds };
        assert!(describe("auth", AutoscaleTarget::P95Ms(100.0), 1, Some(900.0), 1, &d).ends_with("→ 4 (its max)"));
        let d = Decision { from: 2, to: 2, recommended: 2, why: Why::Missing };
        assert_eq!(describe("auth", AutoscaleTarget::P95Ms(100.0), 1, None, 2, &d), "auth p95: nothing to measure with 2 replicas ready → holds at 2");
    }
}
