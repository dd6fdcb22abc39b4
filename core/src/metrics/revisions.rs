//! A service's traffic split by revision. The proxy records per replica only (its request
//! path stays as it is); the service's replica set says which revision each replica runs, and
//! the store counts each sample for the revision its replica runs when the sample is folded in
//! (a request with no replica, answered by the proxy itself, counts for the current revision).
//! Every sample counts for exactly one revision, so the revisions add up to the service.

use std::collections::{BTreeMap, VecDeque};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::tally::{micros, Class, ClassCounts, Percentiles, Tally};
use super::RETENTION;

/// Revisions counted per service (as many as a service keeps); the oldest goes first.
pub const REVISIONS_COUNTED: usize = crate::supervisor::revision::REVISIONS_KEPT;

/// Which revision each replica runs, as the service's replica set last said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevisionMap {
    /// The revision the service runs or rolls out now.
    pub current: u32,
    pub replicas: BTreeMap<u32, u32>,
}

#[derive(Debug)]
struct RevisionStats {
    total: Tally,
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
    series: VecDeque<RevisionPoint>,
}

/// One closed second of one revision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionPoint {
    pub t: f64,
    pub rps: f64,
    pub error_pct: f64,
    pub p95_ms: Option<f64>,
}

/// One revision's counts since the start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionTotals {
    pub revision: u32,
    pub requests: u64,
    pub errors: u64,
    pub classes: ClassCounts,
    pub latency: Percentiles,
}

/// One revision's 1-second series, as columns (`null` p95 in a second with no request).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RevisionSeries {
    pub revision: u32,
    pub t: Vec<f64>,
    pub rps: Vec<f64>,
    pub error_pct: Vec<f64>,
    pub p95_ms: Vec<Option<f64>>,
}

/// The per-revision side of one service's stats.
#[derive(Debug, Default)]
pub struct ByRevision {
    map: RevisionMap,
    stats: BTreeMap<u32, RevisionStats>,
}

impl ByRevision {
    pub fn set_map(&mut self, map: RevisionMap) {
        self.map = map;
    }

    fn revision_of(&self, replica: Option<u32>) -> u32 {
        replica.and_then(|r| self.map.replicas.get(&r).copied()).unwrap_or(self.map.current)
    }

    pub fn record(&mut self, proto: &Histogram<u64>, replica: Option<u32>, class: Class, latency: std::time::Duration, bytes: (u64, u64)) {
        let revision = self.revision_of(replica);
        let stats = self.stats.entry(revision).or_insert_with(|| RevisionStats {
            total: Tally::new(proto),
            requests: 0,
            errors: 0,
            latency: Histogram::new_from(proto),
            series: VecDeque::new(),
        });
        stats.total.add(class, latency, bytes.0, bytes.1);
        stats.requests += 1;
        stats.errors += u64::from(class.is_error());
        stats.latency.saturating_record(micros(latency));
        while self.stats.len() > REVISIONS_COUNTED {
            self.stats.pop_first();
        }
    }

    /// Closes the open second (`secs` long) at unix time `now`.
    pub fn tick(&mut self, now: f64, secs: f64) {
        for s in self.stats.values_mut() {
            let point = RevisionPoint {
                t: now,
                rps: s.requests as f64 / secs,
                error_pct: if s.requests == 0 { 0.0 } else { 100.0 * s.errors as f64 / s.requests as f64 },
                p95_ms: Percentiles::of(&s.latency).p95_ms,
            };
            while s.series.len() >= RETENTION {
                s.series.pop_front();
            }
            s.series.push_back(point);
            s.requests = 0;
            s.errors = 0;
            s.latency.reset();
        }
    }

    pub fn totals(&self) -> Vec<RevisionTotals> {
        self.stats
            .iter()
            .map(|(revision, s)| RevisionTotals {
                revision: *revision,
                requests: s.total.requests(),
                errors: s.total.errors(),
                classes: s.total.classes(),
                latency: Percentiles::of(&s.total.latency),
            })
            .collect()
    }

    /// The last `seconds` points of each revision.
    pub fn series(&self, seconds: usize) -> Vec<RevisionSeries> {
        self.stats
            .iter()
            .map(|(revision, s)| {
                let mut out = RevisionSeries { revision: *revision, ..RevisionSeries::default() };
                for p in s.series.iter().skip(s.series.len().saturating_sub(seconds)) {
                    out.t.push(p.t);
                    out.rps.push(p.rps);
                    out.error_pct.push(p.error_pct);
                    out.p95_ms.push(p.p95_ms);
                }
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_sample_counts_for_its_replicas_revision_and_the_revisions_add_up() {
        let proto = super::super::tally::new_histogram().expect("histogram");
        let mut by = ByRevision::default();
        let ms = Duration::from_millis(2);
        by.set_map(RevisionMap { current: 1, replicas: BTreeMap::from([(0, 1), (1, 1)]) });
        for r in [Some(0), Some(1), None, Some(7)] {
            by.record(&proto, r, Class::Success, ms, (1, 1));
        }
        // Replica 1 replaced by a process of revision 2.
        by.set_map(RevisionMap { current: 2, replicas: BTreeMap::from([(0, 1), (1, 2)]) });
        for r in [Some(0), Some(1), Some(1), None] {
            by.record(&proto, r, Class::ServerError, ms, (1, 1));
        }
        let totals = by.totals();
        let counts: Vec<(u32, u64, u64)> = totals.iter().map(|t| (t.revision, t.requests, t.errors)).collect();
        // Before: all four on revision 1 (no replica and an unknown one: the current). After:
        // replica 0 on 1, replica 1 twice and the proxy's own answer on 2.
        assert_eq!(counts, [(1, 5, 1), (2, 3, 3)]);
        by.tick(100.0, 1.0);
        let series = by.series(60);
        assert_eq!(series.iter().map(|s| (s.revision, s.rps.clone())).collect::<Vec<_>>(), [(1, vec![5.0]), (2, vec![3.0])]);
        assert_eq!(series[1].error_pct, [100.0]);
    }

    #[test]
    fn only_the_newest_revisions_are_counted() {
        let proto = super::super::tally::new_histogram().expect("histogram");
        let mut by = ByRevision::default();
        for n in 1..=(REVISIONS_COUNTED as u32 + 3) {
            by.set_map(RevisionMap { current: n, replicas: BTreeMap::new() });
            by.record(&proto, None, Class::Success, Duration::from_millis(1), (0, 0));
        }
        let kept: Vec<u32> = by.totals().iter().map(|t| t.revision).collect();
        assert_eq!(kept.len(), REVISIONS_COUNTED);
        assert_eq!(kept.first(), Some(&4));
    }
}
