//! The metrics state the actor owns: plain synchronous code, fed samples and ticks,
//! so it is tested without a runtime or a clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::revisions::{ByRevision, RevisionMap, RevisionSeries, RevisionTotals};
use super::tally::{micros, Class, ClassCounts, Percentiles, Tally};
use super::{RequestSample, EDGE_RATE_WINDOW, EXTERNAL, RETENTION, SPREAD_KEEP};

/// A service's in-flight gauge: the proxy holds a clone and enters it per request; the
/// metrics actor samples it once a second.
#[derive(Debug, Clone, Default)]
pub struct InFlightGauge(Arc<AtomicI64>);

impl InFlightGauge {
    /// Counts one request in flight until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(self.clone())
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Drop it when the request is over.
#[derive(Debug)]
pub struct InFlightGuard(InFlightGauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One closed second of one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Unix time (seconds) at the end of the bucket.
    pub t: f64,
    pub rps: f64,
    pub error_pct: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub in_flight: i64,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Requests answered by an injected abort (in `rps`, not in `error_pct`).
    pub injected_aborts: u64,
    /// The mean delay injected into the second's delayed requests (not in the percentiles).
    pub injected_delay_ms: Option<f64>,
}

/// The open second being filled.
#[derive(Debug)]
struct Bucket {
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
    replicas: BTreeMap<u32, u64>,
    injected: InjectedTotals,
}

/// What faults at a service's address injected, kept apart from what the service did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct InjectedTotals {
    /// Requests answered by an abort: no replica saw them.
    pub aborts: u64,
    /// Requests held by an injected delay before being forwarded.
    pub delayed: u64,
    /// The delay injected into them, summed in microseconds (exact, unlike a float sum).
    pub delay_us: u64,
}

impl InjectedTotals {
    fn add(&mut self, injected: super::Injected) {
        self.aborts += u64::from(injected.aborted);
        if injected.delay_ms > 0 {
            self.delayed += 1;
            self.delay_us += u64::from(injected.delay_ms) * 1000;
        }
    }
}

#[derive(Debug)]
struct ServiceStats {
    total: Tally,
    /// Keyed by replica index; `None` = answered by the proxy itself (no replica ready).
    replicas: BTreeMap<Option<u32>, Tally>,
    bucket: Bucket,
    series: VecDeque<Point>,
    /// Requests per replica in each closed second, newest last.
    spread: VecDeque<BTreeMap<u32, u64>>,
    in_flight: InFlightGauge,
    cpu_percent: Option<f64>,
    rss_bytes: Option<u64>,
    by_revision: ByRevision,
    injected: InjectedTotals,
}

#[derive(Debug)]
struct EdgeStats {
    total: Tally,
    bucket: u64,
    /// Requests in each of the last closed seconds, newest last.
    recent: VecDeque<u64>,
}

/// All metrics state.
#[derive(Debug)]
pub struct Store {
    proto: Histogram<u64>,
    services: BTreeMap<String, ServiceStats>,
    /// Keyed by (caller, callee): a sample's names move in, no copy. A caller is a service of
    /// the cluster or [`EXTERNAL`], so the callers a request names cannot grow the store.
    edges: BTreeMap<(Arc<str>, Arc<str>), EdgeStats>,
    external: Arc<str>,
    /// When the open bucket started (unix seconds); `None` before the first tick.
    bucket_start: Option<f64>,
}

impl Store {
    pub fn new(proto: Histogram<u64>) -> Store {
        Store { proto, services: BTreeMap::new(), edges: BTreeMap::new(), external: Arc::from(EXTERNAL), bucket_start: None }
    }

    fn service_mut(&mut self, name: &str) -> Option<&mut ServiceStats> {
        service_entry(&mut self.services, &self.proto, name)
    }

    pub fn record(&mut self, s: RequestSample) {
        let class = Class::of(s.status);
        let proto = &self.proto;
        let Some(svc) = service_entry(&mut self.services, proto, &s.service) else { return };
        svc.bucket.requests += 1;
        if s.injected != super::Injected::default() {
            svc.injected.add(s.injected);
            svc.bucket.injected.add(s.injected);
        }
        // The service's own numbers: an injected abort never reached it, an injected delay is not its time.
        if !s.injected.aborted {
            let own = s.latency.saturating_sub(std::time::Duration::from_millis(u64::from(s.injected.delay_ms)));
            svc.total.add(class, own, s.bytes_in, s.bytes_out);
            svc.by_revision.record(proto, s.replica, class, own, (s.bytes_in, s.bytes_out));
            svc.replicas.entry(s.replica).or_insert_with(|| Tally::new(proto)).add(class, own, s.bytes_in, s.bytes_out);
            svc.bucket.errors += u64::from(class.is_error());
            svc.bucket.latency.saturating_record(micros(own));
            if let Some(r) = s.replica {
                *svc.bucket.replicas.entry(r).or_default() += 1;
            }
        }
        // Any local client may name any caller; only the cluster's services get an edge of their own.
        let caller = if self.services.contains_key(&*s.caller) { s.caller } else { self.external.clone() };
        let edge = self.edges.entry((caller, s.service)).or_insert_with(|| EdgeStats {
            total: Tally::new(proto),
            bucket: 0,
            recent: VecDeque::with_capacity(EDGE_RATE_WINDOW),
        });
        edge.total.add(class, s.latency, s.bytes_in, s.bytes_out);
        edge.bucket += 1;
    }

    /// The gauge the proxy of `service` updates (made on first ask).
    pub fn in_flight(&mut self, service: &str) -> InFlightGauge {
        self.service_mut(service).map(|s| s.in_flight.clone()).unwrap_or_default()
    }

    /// Which revision each replica of `service` runs from now on.
    pub fn set_revisions(&mut self, service: &str, map: RevisionMap) {
        if let Some(svc) = self.service_mut(service) {
            svc.by_revision.set_map(map);
        }
    }

    /// Each revision's last `seconds` points.
    pub fn revision_series(&self, service: &str, seconds: usize) -> Option<Vec<RevisionSeries>> {
        Some(self.services.get(service)?.by_revision.series(seconds))
    }

    pub fn resources(&mut self, service: &str, cpu_percent: f64, rss_bytes: u64) {
        if let Some(svc) = self.service_mut(service) {
            svc.cpu_percent = Some(cpu_percent);
            svc.rss_bytes = Some(rss_bytes);
        }
    }

    /// Closes the open second at unix time `now` into every series.
    pub fn tick(&mut self, now: f64) {
        let secs = self.bucket_start.map_or(1.0, |start| (now - start).max(1e-3));
        self.bucket_start = Some(now);
        for svc in self.services.values_mut() {
            let b = &mut svc.bucket;
            let p = Percentiles::of(&b.latency);
            let own = b.requests - b.injected.aborts;
            let point = Point {
                t: now,
                rps: b.requests as f64 / secs,
                error_pct: if own == 0 { 0.0 } else { 100.0 * b.errors as f64 / own as f64 },
                p50_ms: p.p50_ms,
                p95_ms: p.p95_ms,
                p99_ms: p.p99_ms,
                in_flight: svc.in_flight.get(),
                cpu_percent: svc.cpu_percent,
                rss_bytes: svc.rss_bytes,
                injected_aborts: b.injected.aborts,
                injected_delay_ms: (b.injected.delayed > 0).then(|| b.injected.delay_us as f64 / 1000.0 / b.injected.delayed as f64),
            };
            push_bounded(&mut svc.series, point, RETENTION);
            push_bounded(&mut svc.spread, std::mem::take(&mut b.replicas), SPREAD_KEEP);
            svc.by_revision.tick(now, secs);
            b.requests = 0;
            b.errors = 0;
            b.latency.reset();
            b.injected = InjectedTotals::default();
        }
        for edge in self.edges.values_mut() {
            push_bounded(&mut edge.recent, std::mem::take(&mut edge.bucket), EDGE_RATE_WINDOW);
        }
    }

    /// The last `seconds` points of a service, as columns.
    pub fn series(&self, service: &str, seconds: usize) -> Option<Series> {
        let svc = self.services.get(service)?;
        let skip = svc.series.len().saturating_sub(seconds);
        let mut s = Series { service: service.to_string(), ..Series::default() };
        for p in svc.series.iter().skip(skip) {
            s.t.push(p.t);
            s.rps.push(p.rps);
            s.error_pct.push(p.error_pct);
            s.p50_ms.push(p.p50_ms);
            s.p95_ms.push(p.p95_ms);
            s.p99_ms.push(p.p99_ms);
            s.in_flight.push(p.in_flight);
            s.cpu_percent.push(p.cpu_percent);
            s.rss_bytes.push(p.rss_bytes);
            s.injected_aborts.push(p.injected_aborts);
            s.injected_delay_ms.push(p.injected_delay_ms);
        }
        Some(s)
    }

    pub fn topology(&self) -> Topology {
        let mut names: BTreeSet<&str> = self.services.keys().map(String::as_str).collect();
        names.extend(self.edges.keys().map(|(caller, _)| &**caller));
        let nodes = names
            .into_iter()
            .map(|name| match self.services.get(name) {
                Some(svc) => TopologyNode {
                    name: name.to_string(),
                    external: false,
                    rps: recent_rate(svc.series.iter().rev().take(EDGE_RATE_WINDOW).map(|p| p.rps)),
                    requests: svc.total.requests(),
                },
                None => TopologyNode { name: name.to_string(), external: true, rps: 0.0, requests: 0 },
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|((caller, callee), e)| TopologyEdge {
                caller: caller.to_string(),
                callee: callee.to_string(),
                rps: recent_rate(e.recent.iter().map(|n| *n as f64)),
                requests: e.total.requests(),
                errors: e.total.errors(),
                latency: Percentiles::of(&e.total.latency),
            })
            .collect();
        Topology { nodes, edges }
    }

    /// Each replica's share of the requests of the last `seconds` closed seconds.
    pub fn replica_spread(&self, service: &str, seconds: usize) -> Option<Vec<ReplicaShare>> {
        let svc = self.services.get(service)?;
        let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
        for second in svc.spread.iter().rev().take(seconds) {
            for (r, n) in second {
                *counts.entry(*r).or_default() += n;
            }
        }
        let all: u64 = counts.values().sum();
        Some(
            counts
                .into_iter()
                .map(|(replica, requests)| ReplicaShare {
                    replica,
                    requests,
                    share: if all == 0 { 0.0 } else { requests as f64 / all as f64 },
                })
                .collect(),
        )
    }

    pub fn totals(&self) -> Vec<ServiceTotals> {
        self.services
            .iter()
            .map(|(name, svc)| ServiceTotals {
                service: name.clone(),
                requests: svc.total.requests(),
                classes: svc.total.classes(),
                bytes_in: svc.total.bytes_in,
                bytes_out: svc.total.bytes_out,
                latency: Percentiles::of(&svc.total.latency),
                injected: svc.injected,
                revisions: svc.by_revision.totals(),
                replicas: svc
                    .replicas
                    .iter()
                    .map(|(r, t)| ReplicaTotals {
                        replica: *r,
                        requests: t.requests(),
                        classes: t.classes(),
                        bytes_in: t.bytes_in,
                        bytes_out: t.bytes_out,
                        latency: Percentiles::of(&t.latency),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Per service: what faults injected.
    pub(crate) fn injected(&self) -> impl Iterator<Item = (&str, InjectedTotals)> {
        self.services.iter().map(|(n, s)| (n.as_str(), s.injected))
    }

    pub(crate) fn services(&self) -> impl Iterator<Item = (&str, &Tally, &BTreeMap<Option<u32>, Tally>)> {
        self.services.iter().map(|(n, s)| (n.as_str(), &s.total, &s.replicas))
    }

    /// Per service: each revision's counts.
    pub(crate) fn revisions(&self) -> impl Iterator<Item = (&str, Vec<RevisionTotals>)> {
        self.services.iter().map(|(n, s)| (n.as_str(), s.by_revision.totals()))
    }

    /// Per service: in-flight, CPU %, RSS.
    pub(crate) fn gauges(&self) -> impl Iterator<Item = (&str, i64, Option<f64>, Option<u64>)> {
        self.services.iter().map(|(n, s)| (n.as_str(), s.in_flight.get(), s.cpu_percent, s.rss_bytes))
    }

    pub(crate) fn edges(&self) -> impl Iterator<Item = (&str, &str, &Tally)> {
        self.edges.iter().map(|((a, b), e)| (&**a, &**b, &e.total))
    }
}

fn service_entry<'a>(
    services: &'a mut BTreeMap<String, ServiceStats>,
    proto: &Histogram<u64>,
    name: &str,
) -> Option<&'a mut ServiceStats> {
    // Looked up first so the hot path does not allocate the name.
    if !services.contains_key(name) {
        services.insert(name.to_string(), new_service(proto));
    }
    services.get_mut(name)
}

fn new_service(proto: &Histogram<u64>) -> ServiceStats {
    ServiceStats {
        total: Tally::new(proto),
        replicas: BTreeMap::new(),
        bucket: Bucket { requests: 0, errors: 0, latency: Histogram::new_from(proto), replicas: BTreeMap::new(), injected: InjectedTotals::default() },
        series: VecDeque::with_capacity(RETENTION),
        spread: VecDeque::with_capacity(SPREAD_KEEP),
        in_flight: InFlightGauge::default(),
        cpu_percent: None,
        rss_bytes: None,
        by_revision: ByRevision::default(),
        injected: InjectedTotals::default(),
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    while q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// Mean of per-second rates (0 when there are none yet).
fn recent_rate(rates: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = rates.fold((0.0, 0usize), |(s, n), r| (s + r, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// One service's series as columns, ready for uPlot (`t` is the x axis, unix seconds).
/// Latency is `null` in a second with no request, which uPlot draws as a gap.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Series {
    pub service: String,
    pub t: Vec<f64>,
    pub rps: Vec<f64>,
    pub error_pct: Vec<f64>,
    pub p50_ms: Vec<Option<f64>>,
    pub p95_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    pub in_flight: Vec<i64>,
    pub cpu_percent: Vec<Option<f64>>,
    pub rss_bytes: Vec<Option<u64>>,
    pub injected_aborts: Vec<u64>,
    pub injected_delay_ms: Vec<Option<f64>>,
}

/// Services and the traffic seen between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Topology {
    pub nodes: Vec<TopologyNode>,
    pub edges: Vec<TopologyEdge>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyNode {
    pub name: String,
    /// A caller that is no service this cluster measured (e.g. `external`).
    pub external: bool,
    /// Requests received per second, over the last few seconds.
    pub rps: f64,
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyEdge {
    pub caller: String,
    pub callee: String,
    /// Per second over the last few (up to `EDGE_RATE_WINDOW`) closed seconds.
    pub rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub latency: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaShare {
    pub replica: u32,
    pub requests: u64,
    /// Of the service's requests that reached a replica in the window, 0 to 1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTotals {
    pub service: String,
    pub requests: u64,
    pub classes: ClassCounts,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency: Percentiles,
    /// Counted apart: injected aborts are in none of the above, injected delay in no latency.
    pub injected: InjectedTotals,
    pub replicas: Vec<ReplicaTotals>,
    /// The same requests by the revision of the replica that answered (they add up to `requests`).
    pub revisions: Vec<RevisionTotals>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaTotals {
    /// `None`: answered by the proxy itself, no replica was ready.
    pub replica: Option<u32>,
    pub requests: u64,
    pub classes: ClassCounts,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency: Percentiles,
}
