//! The load generator: open-loop HTTP traffic over a manifest scenario.
//!
//! Open loop: request *i* is scheduled at `t0 + i / rate` and handed out then, whether
//! or not earlier ones have been answered; its latency is measured from that scheduled
//! time. A slow service therefore shows its queueing in the percentiles instead of
//! slowing the generator down and hiding it (no coordinated omission). Requests go out
//! over keep-alive connections, one request at a time each; a connection is added
//! whenever due requests outnumber the free ones, up to [`MAX_CONNECTIONS`] (past it a
//! request waits for a free one, and the wait is in its latency). Requests beyond
//! [`MAX_IN_FLIGHT`] (handed out, not yet answered) are not sent and count as `dropped`.
//!
//! One actor task per run owns the schedule and the [`report::Stats`]; a [`worker`]
//! task per connection sends, reading responses with [`crate::http1`]. The actor wakes once
//! per due request, or once per timer tick at high rates, and folds the outcomes in
//! then (a response wakes no one). The [`LoadHandle`] changes the rate, stops the run
//! and watches the report.
//!
//! - [`request`]: a scenario's requests made ready to send, and the weighted pick;
//! - [`report`]: the run's counts and latency, and the report they make;
//! - `worker`: one connection's task;
//! - [`crate::http1`]: HTTP/1.1 encoding and response framing, shared with the proxy.

pub mod report;
pub mod request;
#[cfg(test)]
mod tests;
mod worker;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::manifest::Scenario;
use crate::metrics::tally::new_histogram;
pub use report::{ErrorCounts, LoadReport, LoadState};
use report::{Completion, Stats};
use request::{run_setup, Picker, Prepared};
use worker::{ScheduledRequest, Pool};

/// Requests allowed in flight at once; past it a scheduled request is dropped (an error).
pub const MAX_IN_FLIGHT: usize = 10_000;
/// A request with no whole response this long after it was sent is a timeout; so is one
/// still waiting for a free connection this long after its scheduled time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive connections a run may open; past it a due request waits for a free one.
pub const MAX_CONNECTIONS: usize = 64;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The highest rate accepted (requests per second).
pub const MAX_RATE: f64 = 100_000.0;
/// The longest run accepted; a longer one is a run with no duration, until stopped.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// How often the report is published while running.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);

pub(crate) type LoadClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LoadGenError {
    #[error("rate {0} is not a number of requests per second from 0 to {MAX_RATE}")]
    InvalidRate(f64),
    #[error("duration {0} is not a number of seconds from 0 to {max} (a day); leave it out to run until stopped", max = MAX_DURATION.as_secs())]
    InvalidDuration(f64),
    #[error("scenario `{0}` has no requests")]
    NoRequests(String),
    #[error("cannot build request {0}")]
    BadRequest(String),
    #[error("setup request {0}")]
    Setup(String),
    #[error("the load run is over")]
    Over,
    #[error("cannot make a latency histogram: {0}")]
    Histogram(String),
    #[error("no Tokio runtime to run the load on: start it from inside one")]
    NoRuntime,
}

fn check_rate(rate: f64) -> Result<f64, LoadGenError> {
    if rate.is_finite() && (0.0..=MAX_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(LoadGenError::InvalidRate(rate))
    }
}

fn check_duration(duration: Duration) -> Result<Duration, LoadGenError> {
    if duration <= MAX_DURATION {
        Ok(duration)
    } else {
        Err(LoadGenError::InvalidDuration(duration.as_secs_f64()))
    }
}

/// A run's length from the seconds a shell was sent, within the limits [`LoadGen::start`] holds to.
pub fn duration_from_secs(seconds: f64) -> Result<Duration, LoadGenError> {
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| LoadGenError::InvalidDuration(seconds))?;
    check_duration(duration)
}

/// Starts load runs.
pub struct LoadGen;

impl LoadGen {
    /// Runs `scenario` against `target` at `rate` requests per second (0 = paused) for
    /// `duration` (or until stopped). The setup request, if any, runs first.
    pub fn start(
        target: SocketAddr,
        scenario: &Scenario,
        rate: f64,
        duration: Option<Duration>,
        cancel: CancellationToken,
    ) -> Result<LoadHandle, LoadGenError> {
        // A caller on a plain thread (a GUI's main thread) gets an error, not a panic.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LoadGenError::NoRuntime)?;
        let rate = check_rate(rate)?;
        let duration = duration.map(check_duration).transpose()?;
        if scenario.requests.is_empty() {
            return Err(LoadGenError::NoRequests(scenario.name.clone()));
        }
        let proto = new_histogram().map_err(|e| LoadGenError::Histogram(e.to_string()))?;
        let stats = Stats::new(scenario.name.clone(), target.to_string(), &proto);
        let (report_tx, report) = watch::channel(stats.report(LoadState::Setup, rate, 0));
        let (rate_tx, rate_rx) = watch::channel(rate);
        let cancel = cancel.child_token();
        let run = LoadRun { target, scenario: scenario.clone(), duration, stats, rate_rx, report_tx: report_tx.clone(), cancel: cancel.clone() };
        runtime.spawn(async move {
            if let Err(panic) = AssertUnwindSafe(run.run()).catch_unwind().await {
                fail_unfinished(&report_tx, panic_message(panic.as_ref()));
            }
        });
        Ok(LoadHandle { rate: rate_tx, report, cancel })
    }
}

/// Puts a run whose task ended before a final state (it panicked) into `Failed`, so that
/// the cluster sees it over and a new run can start.
fn fail_unfinished(report: &watch::Sender<LoadReport>, why: String) {
    tracing::error!("the load run ended unexpectedly: {why}");
    report.send_modify(|r| {
        if !r.state.is_over() {
            r.state = LoadState::Failed { message: format!("the load run ended unexpectedly: {why}") };
        }
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    text.unwrap_or("a panic").to_string()
}

/// Controls one run. Drop the handle to stop the run.
#[derive(Debug)]
pub struct LoadHandle {
    rate: watch::Sender<f64>,
    report: watch::Receiver<LoadReport>,
    cancel: CancellationToken,
}

impl LoadHandle {
    /// Changes the rate from now on (0 pauses the sending).
    pub fn set_rate(&self, rate: f64) -> Result<(), LoadGenError> {
        let rate = check_rate(rate)?;
        self.rate.send(rate).map_err(|_| LoadGenError::Over)
    }

    /// Stops sending; the requests in flight are still counted, then the run is `Stopped`.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// The latest report (published once a second and when the state changes).
    pub fn report(&self) -> LoadReport {
        self.report.borrow().clone()
    }

    /// A live view of the report.
    pub fn watch(&self) -> watch::Receiver<LoadReport> {
        self.report.clone()
    }

    /// Waits for the run to be over and returns its final report.
    pub async fn finished(&self) -> LoadReport {
        let mut rx = self.report.clone();
        // An error means the run task is gone; its last report is then final.
        let _ = rx.wait_for(|r| r.state.is_over()).await;
        let last = rx.borrow().clone();
        last
    }
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct LoadRun {
    target: SocketAddr,
    scenario: Scenario,
    duration: Option<Duration>,
    stats: Stats,
    rate_rx: watch::Receiver<f64>,
    report_tx: watch::Sender<LoadReport>,
    cancel: CancellationToken,
}

/// For the setup request only; the load itself goes over [`worker`] connections.
fn client() -> LoadClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
}

impl LoadRun {
    fn publish(&self, state: LoadState, in_flight: usize) {
        let rate = *self.rate_rx.borrow();
        self.report_tx.send_replace(self.stats.report(state, rate, in_flight as u64));
    }

    async fn run(mut self) {
        #[cfg(test)]
        if self.scenario.name == tests::PANICS {
            panic!("a test's run task panics");
        }
        let client = client();
        let vars = match &self.scenario.setup {
            None => Default::default(),
            Some(setup) => tokio::select! {
                _ = self.cancel.cancelled() => return self.publish(LoadState::Stopped, 0),
                r = run_setup(&client, self.target, setup, request::SETUP_RETRY_FOR) => match r {
                    Ok(vars) => vars,
                    Err(e) => return self.publish(LoadState::Failed { message: e.to_string() }, 0),
                },
            },
        };
        let prepared: Result<Vec<Prepared>, LoadGenError> =
            self.scenario.requests.iter().map(|spec| Prepared::new(self.target, spec, &vars)).collect();
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => return self.publish(LoadState::Failed { message: e.to_string() }, 0),
        };
        let mut picker = Picker::new(self.scenario.requests.iter().map(|r| r.weight));
        let (job_tx, job_rx) = async_channel::bounded::<ScheduledRequest>(MAX_IN_FLIGHT);
        let (done_tx, mut done_rx) = mpsc::channel::<Completion>(MAX_IN_FLIGHT);
        let pool = Pool {
            target: self.target,
            requests: prepared.into(),
            jobs: job_rx.clone(),
            done: done_tx,
            busy: Arc::new(AtomicUsize::new(0)),
            cancel: self.cancel.clone(),
        };
        let mut workers = 0usize;
        self.stats.restart_clock();
        let t0 = self.stats.start;
        let end = self.duration.and_then(|d| t0.checked_add(d));
        let mut ticks = tokio::time::interval_at(t0 + REPORT_EVERY, REPORT_EVERY);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The schedule restarts at every rate change: `epoch + sent_in_epoch / rate`.
        let (mut epoch, mut sent_in_epoch, mut rate) = (t0, 0u64, *self.rate_rx.borrow_and_update());
        // Handed to the workers, outcome not yet folded in.
        let mut in_flight = 0usize;
        self.publish(LoadState::Running, 0);
        let stopped = loop {
            let now = Instant::now();
            // Hand out every request due by now (several per wake-up at high rates).
            let next = loop {
                // A time past what an `Instant` holds (a tiny rate) is no next request.
                let after = |s: f64| Duration::try_from_secs_f64(s).ok().and_then(|d| epoch.checked_add(d));
                let next = if rate > 0.0 { after(sent_in_epoch as f64 / rate) } else { None };
                let Some(at) = next.filter(|at| *at <= now && end.is_none_or(|e| *at < e)) else { break next };
                sent_in_epoch += 1;
                let job = ScheduledRequest { scheduled: at, request: picker.next_index() };
                if in_flight >= MAX_IN_FLIGHT || job_tx.try_send(job).is_err() {
                    self.stats.dropped();
                    continue;
                }
                self.stats.scheduled += 1;
                self.stats.sent += 1;
                in_flight += 1;
            };
            // One more connection for each due request no free connection can take.
            let free = workers.saturating_sub(pool.busy.load(Ordering::Relaxed));
            for _ in 0..job_tx.len().saturating_sub(free).min(MAX_CONNECTIONS - workers) {
                tokio::spawn(pool.clone().work());
                workers += 1;
            }
            // Outcomes are folded in here, so a response never wakes this task by itself.
            while let Ok(o) = done_rx.try_recv() {
                in_flight -= 1;
                self.stats.add(o);
            }
            let wake = match (next, end) {
                (Some(at), Some(end)) if at >= end => break false,
                (None, Some(end)) if end <= now => break false, // paused until the end
                (Some(at), _) => at,
                (None, end) => end.unwrap_or_else(|| now + Duration::from_secs(3600)),
            };
            tokio::select! {
                _ = self.cancel.cancelled() => break true,
                changed = self.rate_rx.changed() => {
                    if changed.is_err() { break true; }
                    (epoch, sent_in_epoch, rate) = (Instant::now(), 0, *self.rate_rx.borrow_and_update());
                }
                _ = ticks.tick() => {
                    while let Ok(o) = done_rx.try_recv() {
                        in_flight -= 1;
                        self.stats.add(o);
                    }
                    self.stats.roll_second();
                    self.publish(LoadState::Running, in_flight);
                }
                _ = sleep_until(wake) => {}
            }
        };
        // No more jobs: the workers finish the queue (or, stopped, leave it) and exit.
        drop((job_tx, pool));
        if stopped {
            while job_rx.try_recv().is_ok() {
                self.stats.unsend();
                in_flight -= 1;
            }
        }
        drop(job_rx);
        self.publish(LoadState::Draining, in_flight);
        // Every job ends within twice REQUEST_TIMEOUT (queued, then sent); a cancel stops waiting sooner.
        while in_flight > 0 {
            tokio::select! {
                _ = self.cancel.cancelled(), if !stopped => break,
                o = done_rx.recv() => match o {
                    Some(o) => { in_flight -= 1; self.stats.add(o); }
                    None => break, // every worker is gone
                },
                _ = ticks.tick() => { self.stats.roll_second(); self.publish(LoadState::Draining, in_flight); }
            }
        }
        self.stats.roll_second();
        self.publish(if stopped { LoadState::Stopped } else { LoadState::Finished }, in_flight);
    }
}
