//! A check's number from what the cluster reports, and whether the machine let it be
//! measured fairly. Pure: the runner gathers the readings, these turn them into values.
//!
//! - traffic at a service (`rps`, `error_pct`, `p50_ms`…): its 1-second series over the
//!   window — the mean rate, the error share of all its requests, and the median of the
//!   seconds' percentiles (one slow second does not make a window slow);
//! - an edge and the load: two readings of their running counts, the window apart;
//! - the load's p95: the median of its per-second p95 over the window.

use super::model::Measure;
use crate::loadgen::LoadReport;
use crate::metrics::{ReplicaShare, Series, Topology};

/// Past this share of its asked requests dropped, the load generator fell behind: the
/// measurements of that window describe the machine, not the cluster.
pub const MAX_DROPPED_SHARE: f64 = 0.1;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// `series` holds the window's seconds; `None` (the service never had traffic) is 0 req/s.
pub fn from_series(measure: Measure, series: Option<&Series>) -> Option<f64> {
    let Some(s) = series.filter(|s| !s.t.is_empty()) else {
        return (measure == Measure::Rps).then_some(0.0);
    };
    let requests: f64 = s.rps.iter().sum();
    let busy = |col: &[Option<f64>]| median(col.iter().zip(&s.rps).filter(|(_, r)| **r > 0.0).filter_map(|(v, _)| *v).collect());
    match measure {
        Measure::Rps => Some(requests / s.t.len() as f64),
        Measure::ErrorPct => (requests > 0.0).then(|| s.rps.iter().zip(&s.error_pct).map(|(r, e)| r * e).sum::<f64>() / requests),
        Measure::P50Ms => busy(&s.p50_ms),
        Measure::P95Ms => busy(&s.p95_ms),
        Measure::P99Ms => busy(&s.p99_ms),
        _ => None,
    }
}

/// How far the busiest replica's share is from an even one, in percentage points, over
/// `replicas` (a ready replica that got nothing counts too); `None` with no request.
pub fn spread(shares: &[ReplicaShare], replicas: u32) -> Option<f64> {
    let n = (shares.len() as u32).max(replicas).max(1);
    let all: u64 = shares.iter().map(|s| s.requests).sum();
    if all == 0 {
        return None;
    }
    let busiest = shares.iter().map(|s| s.requests).max().unwrap_or(0) as f64 / all as f64;
    Some((busiest - 1.0 / f64::from(n)) * 100.0)
}

/// An edge's rate (req/s) or its errors (a count) between two readings `seconds` apart;
/// an edge never seen carried nothing.
pub fn edge(measure: Measure, before: &Topology, after: &Topology, caller: &str, callee: &str, seconds: f64) -> Option<f64> {
    let counts = |t: &Topology| {
        t.edges.iter().find(|e| e.caller == caller && e.callee == callee).map_or((0, 0), |e| (e.requests, e.errors))
    };
    let ((r0, e0), (r1, e1)) = (counts(before), counts(after));
    match measure {
        Measure::EdgeRps => (seconds > 0.0).then(|| r1.saturating_sub(r0) as f64 / seconds),
        Measure::EdgeErrors => Some(e1.saturating_sub(e0) as f64),
        _ => None,
    }
}

/// Requests that got an answer or failed (not the dropped ones, which were never sent).
fn completed(r: &LoadReport) -> u64 {
    r.ok + r.errors.total() - r.errors.dropped
}

/// The load's achieved rate or error % between two readings of the same run; its p95
/// from the per-second p95s seen in the window. `None` without a run.
pub fn load(measure: Measure, before: Option<&LoadReport>, after: Option<&LoadReport>, p95s: &[f64], seconds: f64) -> Option<f64> {
    let after = after?;
    let before = before.filter(|b| b.scenario == after.scenario && b.scheduled <= after.scheduled);
    let (done0, err0, sched0) = before.map_or((0, 0, 0), |b| (completed(b), b.errors.total(), b.scheduled));
    match measure {
        Measure::LoadRate => (seconds > 0.0).then(|| completed(after).saturating_sub(done0) as f64 / seconds),
        Measure::LoadErrorPct => {
            let asked = after.scheduled.saturating_sub(sched0);
            (asked > 0).then(|| after.errors.total().saturating_sub(err0) as f64 * 100.0 / asked as f64)
        }
        Measure::LoadP95Ms => median(p95s.to_vec()),
        _ => None,
    }
}

/// Why a window's measurements are not fair, if they are not: the load generator could not
/// send what was asked of it.
pub fn unfairness(before: Option<&LoadReport>, after: Option<&LoadReport>) -> Option<String> {
    let (before, after) = (before?, after?);
    if before.scenario != after.scenario || after.scheduled < before.scheduled {
        return None;
    }
    let asked = after.scheduled - before.scheduled;
    let dropped = after.errors.dropped.saturating_sub(before.errors.dropped);
    let share = dropped as f64 / asked.max(1) as f64;
    (asked > 0 && share > MAX_DROPPED_SHARE).then(|| {
        format!(
            "the load generator could not send {:.0} % of the requests asked at {} req/s: this machine cannot keep that many in flight",
            share * 100.0,
            super::evaluate::number(after.rate)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::{ErrorCounts, LoadState};
    use crate::metrics::{Percentiles, TopologyEdge};

    fn series(rps: &[f64], error_pct: &[f64], p95: &[Option<f64>]) -> Series {
        Series {
            service: "auth".into(),
            t: (0..rps.len()).map(|i| i as f64).collect(),
            rps: rps.to_vec(),
            error_pct: error_pct.to_vec(),
            p50_ms: p95.to_vec(),
            p95_ms: p95.to_vec(),
            p99_ms: p95.to_vec(),
            ..Series::default()
        }
    }

    #[test]
    fn series_values() {
        let s = series(&[10.0, 30.0, 0.0, 20.0], &[0.0, 10.0, 0.0, 50.0], &[Some(5.0), Some(400.0), None, Some(9.0)]);
        let cases = [
            (Measure::Rps, Some(15.0)),
            // 3 + 10 errors of 60 requests.
            (Measure::ErrorPct, Some(13.0 / 60.0 * 100.0)),
            // The seconds with requests: 5, 9, 400.
            (Measure::P95Ms, Some(9.0)),
        ];
        for (m, want) in cases {
            let got = from_series(m, Some(&s));
            assert!(got.zip(want).is_some_and(|(g, w)| (g - w).abs() < 1e-9), "{m:?}: {got:?} != {want:?}");
        }
        let idle = series(&[0.0, 0.0], &[0.0, 0.0], &[None, None]);
        assert_eq!(from_series(Measure::Rps, Some(&idle)), Some(0.0));
        assert_eq!(from_series(Measure::ErrorPct, Some(&idle)), None);
        assert_eq!(from_series(Measure::P95Ms, Some(&idle)), None);
        assert_eq!(from_series(Measure::Rps, None), Some(0.0));
        assert_eq!(from_series(Measure::P99Ms, None), None);
    }

    #[test]
    fn spread_from_an_even_share() {
        let share = |replica, requests| ReplicaShare { replica, requests, share: 0.0 };
        assert_eq!(spread(&[share(0, 50), share(1, 50)], 2), Some(0.0));
        // 60 of 100 on one of three: 60 − 33.3 points.
        let s = spread(&[share(0, 60), share(1, 20), share(2, 20)], 3).expect("a spread");
        assert!((s - (60.0 - 100.0 / 3.0)).abs() < 1e-9, "{s}");
        // A ready replica that got nothing counts: all on one of two is 50 points off.
        assert_eq!(spread(&[share(0, 10)], 2), Some(50.0));
        assert_eq!(spread(&[], 3), None);
    }

    fn topology(requests: u64, errors: u64) -> Topology {
        let edge = TopologyEdge { caller: "gateway".into(), callee: "auth".into(), rps: 0.0, requests, errors, latency: Percentiles::default() };
        Topology { nodes: vec![], edges: vec![edge] }
    }

    #[test]
    fn edges_from_two_readings() {
        let (a, b) = (topology(100, 2), topology(150, 7));
        assert_eq!(edge(Measure::EdgeRps, &a, &b, "gateway", "auth", 5.0), Some(10.0));
        assert_eq!(edge(Measure::EdgeErrors, &a, &b, "gateway", "auth", 5.0), Some(5.0));
        assert_eq!(edge(Measure::EdgeRps, &a, &b, "users", "analytics", 5.0), Some(0.0));
        // First seen in the window: all of it is the window's.
        assert_eq!(edge(Measure::EdgeRps, &Topology::default(), &b, "gateway", "auth", 5.0), Some(30.0));
    }

    fn report(scheduled: u64, ok: u64, status_5xx: u64, dropped: u64) -> LoadReport {
        LoadReport {
            scenario: "browse".into(),
            target: "127.0.0.1:7400".into(),
            state: LoadState::Running,
            rate: 100.0,
            elapsed_s: 0.0,
            scheduled,
            sent: scheduled - dropped,
            ok,
            errors: ErrorCounts { status_5xx, dropped, ..ErrorCounts::default() },
            in_flight: 0,
            achieved_rps_recent: 0.0,
            achieved_rps_total: 0.0,
            latency: Percentiles::default(),
            latency_last_second: Percentiles::default(),
        }
    }

    #[test]
    fn load_from_two_readings() {
        let (a, b) = (report(100, 90, 10, 0), report(600, 570, 30, 0));
        assert_eq!(load(Measure::LoadRate, Some(&a), Some(&b), &[], 5.0), Some(100.0));
        assert_eq!(load(Measure::LoadErrorPct, Some(&a), Some(&b), &[], 5.0), Some(4.0));
        assert_eq!(load(Measure::LoadP95Ms, Some(&a), Some(&b), &[30.0, 10.0, 20.0], 5.0), Some(20.0));
        assert_eq!(load(Measure::LoadRate, Some(&a), None, &[], 5.0), None);
        assert_eq!(unfairness(Some(&a), Some(&b)), None);
    }

    #[test]
    fn a_generator_that_drops_what_it_was_asked_is_unfair() {
        let (a, b) = (report(100, 100, 0, 0), report(1100, 500, 0, 400));
        let why = unfairness(Some(&a), Some(&b)).expect("unfair");
        assert!(why.contains("could not send 40 % of the requests asked at 100 req/s"), "{why}");
        // A few drops are not enough to call the window unfair.
        assert_eq!(unfairness(Some(&a), Some(&report(1100, 950, 0, 50))), None);
        // Another run started in between: the two readings are not comparable.
        let mut other = b.clone();
        other.scenario = "media".into();
        assert_eq!(unfairness(Some(&a), Some(&other)), None);
    }
}
