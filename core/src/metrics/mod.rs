//! Traffic accounting: what each service's proxy saw, per service, per replica and per
//! caller→callee edge, as totals, 1-second series kept 15 minutes, and Prometheus text.
//!
//! The hot path is [`Metrics::record`]: a `try_send` of the sample into a bounded queue
//! (atomics only, no lock, no await). One actor task owns the [`store::Store`]: it
//! folds queued samples in every [`DRAIN_EVERY`] (and before each tick or query),
//! closes a 1-second bucket on every tick, and answers queries over a second bounded
//! channel. It polls the queue on a timer rather than waiting on it so that `record`
//! never pays for waking it (a futex call per sample, measured at ~1 µs); only a
//! queue past half full wakes it early. A poll that finds the queue empty parks the
//! actor (no timer at all while no traffic flows) and the next sample wakes it, once.
//! A sample that finds the queue full is dropped and counted
//! (`microdeck_metrics_dropped_samples_total`), never waited for.
//!
//! - [`store`]: the state the actor owns, plain synchronous code fed samples and ticks;
//! - [`revisions`]: each service's traffic by the revision of the replica that answered;
//! - [`tally`]: status classes, bytes and latency histograms, shared by services,
//!   replicas and edges;
//! - [`prometheus`]: the store as Prometheus text.

pub mod prometheus;
pub mod revisions;
pub mod store;
pub mod tally;
#[cfg(test)]
mod tests;

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

pub use store::{
    InFlightGauge, InFlightGuard, InjectedTotals, Point, ReplicaShare, ReplicaTotals, Series, ServiceTotals, Store, Topology, TopologyEdge,
    TopologyNode,
};
pub use revisions::{RevisionMap, RevisionSeries, RevisionTotals};
pub use tally::{Class, ClassCounts, Percentiles};

/// Points kept per series: 15 minutes of 1-second buckets.
pub const RETENTION: usize = 900;
/// Length of one bucket.
pub const TICK: Duration = Duration::from_secs(1);
/// Edge and node rates are averaged over this many closed seconds.
pub const EDGE_RATE_WINDOW: usize = 5;
/// Seconds of per-replica counts kept for [`Metrics::replica_spread`].
pub const SPREAD_KEEP: usize = 300;
/// Samples that may wait for the actor: 6.5 M/s at one drain every 10 ms.
pub const SAMPLE_QUEUE: usize = 65_536;
/// How often the actor folds in the queued samples.
pub const DRAIN_EVERY: Duration = Duration::from_millis(10);
const COMMAND_QUEUE: usize = 64;

/// The caller of a request that names none (no `x-microdeck-caller` header).
pub const EXTERNAL: &str = "external";

/// One finished request, as the proxy saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSample {
    /// Shared with the proxy: a sample costs no copy of the names.
    pub service: Arc<str>,
    /// The replica that answered; `None` when the proxy answered itself (no replica ready).
    pub replica: Option<u32>,
    /// From `x-microdeck-caller`, else [`EXTERNAL`].
    pub caller: Arc<str>,
    /// 0 = no response (connect refused, reset, timeout).
    pub status: u16,
    pub latency: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// What a fault at the address added to the request.
    pub injected: Injected,
}

/// What a fault injected into one request: counted apart, so a chart never blames a
/// service for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
/// Eight bytes: every request carries one from its arrival to its record.
pub struct Injected {
    /// Milliseconds waited by the address before forwarding (faults delay in whole
    /// milliseconds); part of the measured latency.
    pub delay_ms: u32,
    /// Answered by the address with the fault's status; no replica saw it.
    pub aborted: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MetricsError {
    #[error("the metrics actor has stopped")]
    Stopped,
    #[error("cannot make a latency histogram: {0}")]
    Histogram(String),
}

enum MetricsCommand {
    InFlightGauge(String, oneshot::Sender<InFlightGauge>),
    Resources { service: String, cpu_percent: f64, rss_bytes: u64 },
    Series(String, usize, oneshot::Sender<Option<Series>>),
    Topology(oneshot::Sender<Topology>),
    Spread(String, usize, oneshot::Sender<Option<Vec<ReplicaShare>>>),
    Totals(oneshot::Sender<Vec<ServiceTotals>>),
    Revisions(String, RevisionMap, oneshot::Sender<()>),
    RevisionSeries(String, usize, oneshot::Sender<Option<Vec<RevisionSeries>>>),
    Prometheus(oneshot::Sender<String>),
}

/// The handle: cheap to clone, one per proxy. The actor stops when the cancel token
/// fires or every handle is dropped.
#[derive(Clone, Debug)]
pub struct Metrics {
    samples: mpsc::Sender<RequestSample>,
    commands: mpsc::Sender<MetricsCommand>,
    dropped: Arc<AtomicU64>,
    /// Wakes the actor: a queue half full, or the first sample after it parked.
    wake: Arc<Wake>,
}

/// How `record` wakes the actor without a futex call per sample.
#[derive(Debug, Default)]
struct Wake {
    notify: Notify,
    /// Set by the actor when it stops polling an empty queue.
    parked: AtomicBool,
}

impl std::fmt::Debug for MetricsCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("metrics::MetricsCommand")
    }
}

impl Metrics {
    /// Starts the actor on the current tokio runtime.
    pub fn spawn(cancel: CancellationToken) -> Result<Metrics, MetricsError> {
        let proto = tally::new_histogram().map_err(|e| MetricsError::Histogram(e.to_string()))?;
        let (samples, sample_rx) = mpsc::channel(SAMPLE_QUEUE);
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let wake = Arc::new(Wake::default());
        let queues = Queues { samples: sample_rx, commands: command_rx, wake: wake.clone() };
        tokio::spawn(run(Store::new(proto), queues, dropped.clone(), cancel));
        Ok(Metrics { samples, commands, dropped, wake })
    }

    /// Records one finished request. Never blocks: a full queue drops the sample and
    /// counts it.
    pub fn record(&self, sample: RequestSample) {
        if self.samples.try_send(sample).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Pairs with the fence in `park`: either the actor sees this sample or we see it parked.
        fence(Ordering::SeqCst);
        let parked = self.wake.parked.load(Ordering::Relaxed) && self.wake.parked.swap(false, Ordering::AcqRel);
        if parked || self.samples.capacity() < SAMPLE_QUEUE / 2 {
            self.wake.notify.notify_one();
        }
    }

    /// Samples lost to a full queue (or a stopped actor) so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The engine's latest resource reading of a service (all its replicas together).
    /// Best effort: a reading that finds the queue full is skipped; the next one comes.
    pub fn record_resources(&self, service: &str, cpu_percent: f64, rss_bytes: u64) {
        let cmd = MetricsCommand::Resources { service: service.to_string(), cpu_percent, rss_bytes };
        if self.commands.try_send(cmd).is_err() {
            tracing::debug!(service, "metrics queue full: resource reading skipped");
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> MetricsCommand) -> Result<T, MetricsError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| MetricsError::Stopped)?;
        rx.await.map_err(|_| MetricsError::Stopped)
    }

    /// The in-flight gauge of `service`, for its proxy to [`InFlightGauge::enter`] per request.
    pub async fn in_flight(&self, service: &str) -> Result<InFlightGauge, MetricsError> {
        self.ask(|tx| MetricsCommand::InFlightGauge(service.to_string(), tx)).await
    }

    /// The closed seconds of the last `window` (at most 15 minutes) as columns;
    /// `None` for a service never seen.
    pub async fn series(&self, service: &str, window: Duration) -> Result<Option<Series>, MetricsError> {
        let points = usize::try_from(window.as_secs()).unwrap_or(RETENTION).min(RETENTION);
        self.ask(|tx| MetricsCommand::Series(service.to_string(), points, tx)).await
    }

    pub async fn topology(&self) -> Result<Topology, MetricsError> {
        self.ask(MetricsCommand::Topology).await
    }

    /// Each replica's share of `service`'s requests over the last `window`.
    pub async fn replica_spread(&self, service: &str, window: Duration) -> Result<Option<Vec<ReplicaShare>>, MetricsError> {
        let seconds = usize::try_from(window.as_secs()).unwrap_or(SPREAD_KEEP).clamp(1, SPREAD_KEEP);
        self.ask(|tx| MetricsCommand::Spread(service.to_string(), seconds, tx)).await
    }

    /// Which revision each replica of `service` runs from now on. Returns once the store has
    /// it: samples recorded before count for the revisions before, later ones for these.
    pub async fn set_revisions(&self, service: &str, map: RevisionMap) -> Result<(), MetricsError> {
        self.ask(|tx| MetricsCommand::Revisions(service.to_string(), map, tx)).await
    }

    /// Each revision's 1-second series over the last `window`; `None` for a service never seen.
    pub async fn revision_series(&self, service: &str, window: Duration) -> Result<Option<Vec<RevisionSeries>>, MetricsError> {
        let points = usize::try_from(window.as_secs()).unwrap_or(RETENTION).min(RETENTION);
        self.ask(|tx| MetricsCommand::RevisionSeries(service.to_string(), points, tx)).await
    }

    /// Counts since the start, per service and per replica.
    pub async fn totals(&self) -> Result<Vec<ServiceTotals>, MetricsError> {
        self.ask(MetricsCommand::Totals).await
    }

    /// The body of `GET /metrics` (serve with [`prometheus::CONTENT_TYPE`]).
    pub async fn render_prometheus(&self) -> Result<String, MetricsError> {
        self.ask(MetricsCommand::Prometheus).await
    }
}

/// Unix seconds on the tokio clock, so paused-time tests see time move.
struct Clock {
    unix_at_start: f64,
    start: Instant,
}

impl Clock {
    fn new() -> Clock {
        let unix_at_start = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Clock { unix_at_start, start: Instant::now() }
    }

    fn now(&self) -> f64 {
        self.unix_at_start + self.start.elapsed().as_secs_f64()
    }
}

struct Queues {
    samples: mpsc::Receiver<RequestSample>,
    commands: mpsc::Receiver<MetricsCommand>,
    wake: Arc<Wake>,
}

async fn run(mut store: Store, queues: Queues, dropped: Arc<AtomicU64>, cancel: CancellationToken) {
    let Queues { mut samples, mut commands, wake } = queues;
    let clock = Clock::new();
    let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
    // A late tick closes one longer bucket (its rps divides by the real length).
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    store.tick(clock.now());
    let mut drain_tick = tokio::time::interval(DRAIN_EVERY);
    drain_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut parked = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                // Fold in what is already queued, so the bucket holds this second's samples.
                let _ = drain(&mut store, &mut samples);
                store.tick(clock.now());
            }
            _ = drain_tick.tick(), if !parked => {
                match drain(&mut store, &mut samples) {
                    Drained::Closed => break, // every handle is gone
                    Drained::Some => {}
                    Drained::None => parked = park(&wake, &mut store, &mut samples),
                }
            }
            _ = wake.notify.notified() => {
                if parked {
                    parked = false;
                    drain_tick.reset();
                }
                let _ = drain(&mut store, &mut samples);
            }
            cmd = commands.recv() => match cmd {
                Some(cmd) => {
                    // A query sees every sample recorded before it was asked.
                    let _ = drain(&mut store, &mut samples);
                    answer(&mut store, cmd, &dropped);
                }
                None => break,
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Drained {
    Some,
    None,
    /// Every handle is gone.
    Closed,
}

/// Folds in every queued sample.
fn drain(store: &mut Store, samples: &mut mpsc::Receiver<RequestSample>) -> Drained {
    let mut any = Drained::None;
    loop {
        match samples.try_recv() {
            Ok(s) => {
                store.record(s);
                any = Drained::Some;
            }
            Err(mpsc::error::TryRecvError::Empty) => return any,
            Err(mpsc::error::TryRecvError::Disconnected) => return Drained::Closed,
        }
    }
}

/// Stops polling an empty queue; true if parked (the next `record` wakes the actor).
fn park(wake: &Wake, store: &mut Store, samples: &mut mpsc::Receiver<RequestSample>) -> bool {
    wake.parked.store(true, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    // A sample queued before `record` could see the flag is caught here.
    if drain(store, samples) == Drained::None {
        return true;
    }
    // Busy again; a `record` that already cleared the flag leaves a spare wake-up, harmless.
    wake.parked.store(false, Ordering::Relaxed);
    false
}

fn answer(store: &mut Store, cmd: MetricsCommand, dropped: &AtomicU64) {
    // A dropped reply means the asker gave up; nothing to do.
    match cmd {
        MetricsCommand::InFlightGauge(service, tx) => {
            let _ = tx.send(store.in_flight(&service));
        }
        MetricsCommand::Resources { service, cpu_percent, rss_bytes } => store.resources(&service, cpu_percent, rss_bytes),
        MetricsCommand::Series(service, points, tx) => {
            let _ = tx.send(store.series(&service, points));
        }
        MetricsCommand::Topology(tx) => {
            let _ = tx.send(store.topology());
        }
        MetricsCommand::Spread(service, seconds, tx) => {
            let _ = tx.send(store.replica_spread(&service, seconds));
        }
        MetricsCommand::Totals(tx) => {
            let _ = tx.send(store.totals());
        }
        MetricsCommand::Revisions(service, map, tx) => {
            store.set_revisions(&service, map);
            let _ = tx.send(());
        }
        MetricsCommand::RevisionSeries(service, points, tx) => {
            let _ = tx.send(store.revision_series(&service, points));
        }
        MetricsCommand::Prometheus(tx) => {
            let _ = tx.send(prometheus::render(store, dropped.load(Ordering::Relaxed)));
        }
    }
}
