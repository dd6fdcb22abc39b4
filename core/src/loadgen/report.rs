//! What a load run reports: counts, errors by kind, achieved rate and latency measured
//! from each request's scheduled time. [`Stats`] is the plain state behind it.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::metrics::tally::micros;
use crate::metrics::Percentiles;

/// The achieved rate "now" is the mean of this many closed seconds.
pub const RECENT_SECONDS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum LoadState {
    /// Running the scenario's setup request.
    Setup,
    Running,
    /// No more sends; waiting for the requests in flight.
    Draining,
    /// Ran its duration.
    Finished,
    /// Stopped by `stop()`, a dropped handle or the cancel token.
    Stopped,
    /// Never sent load: the setup or a request could not be made.
    Failed { message: String },
}

impl LoadState {
    pub fn is_over(&self) -> bool {
        matches!(self, LoadState::Finished | LoadState::Stopped | LoadState::Failed { .. })
    }
}

/// Requests that got no good answer, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// The connection could not be made.
    pub connect: u64,
    /// No whole response within the request timeout.
    pub timeout: u64,
    /// Not sent: the in-flight cap was reached.
    pub dropped: u64,
    /// Reset, closed early, or a malformed response.
    pub other: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.status_4xx + self.status_5xx + self.connect + self.timeout + self.dropped + self.other
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub scenario: String,
    pub target: String,
    #[serde(flatten)]
    pub state: LoadState,
    /// Requests per second asked for.
    pub rate: f64,
    pub elapsed_s: f64,
    /// Scheduled so far (sent + dropped).
    pub scheduled: u64,
    pub sent: u64,
    /// Answered 1xx–3xx.
    pub ok: u64,
    pub errors: ErrorCounts,
    pub in_flight: u64,
    /// Responses per second over the last few closed seconds.
    pub achieved_rps_recent: f64,
    /// Responses per second from the start to the latest response.
    pub achieved_rps_total: f64,
    /// Latency from each request's scheduled send time to its whole response.
    pub latency: Percentiles,
    /// The same, over the last closed second only.
    pub latency_last_second: Percentiles,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Status(u16),
    Connect,
    Timeout,
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// When the schedule said to send it (not when it went out).
    pub scheduled: Instant,
    pub done: Instant,
    pub ending: Ending,
}

#[derive(Debug)]
pub struct Stats {
    pub scenario: String,
    pub target: String,
    pub start: Instant,
    pub scheduled: u64,
    pub sent: u64,
    ok: u64,
    errors: ErrorCounts,
    latency: Histogram<u64>,
    second: Histogram<u64>,
    last_second: Percentiles,
    completed: u64,
    completed_this_second: u64,
    recent: VecDeque<u64>,
    last_done: Option<Instant>,
}

impl Stats {
    pub fn new(scenario: String, target: String, proto: &Histogram<u64>) -> Stats {
        Stats {
            scenario,
            target,
            start: Instant::now(),
            scheduled: 0,
            sent: 0,
            ok: 0,
            errors: ErrorCounts::default(),
            latency: Histogram::new_from(proto),
            second: Histogram::new_from(proto),
            last_second: Percentiles::default(),
            completed: 0,
            completed_this_second: 0,
            recent: VecDeque::with_capacity(RECENT_SECONDS),
            last_done: None,
        }
    }

    /// The load starts now (after the setup request).
    pub fn restart_clock(&mut self) {
        self.start = Instant::now();
    }

    pub fn dropped(&mut self) {
        self.scheduled += 1;
        self.errors.dropped += 1;
    }

    /// A request handed out but never sent (the run stopped first): as if never scheduled.
    pub fn unsend(&mut self) {
        self.scheduled = self.scheduled.saturating_sub(1);
        self.sent = self.sent.saturating_sub(1);
    }

    pub fn add(&mut self, o: Completion) {
        match o.ending {
            Ending::Status(status) => {
                let us = micros(o.done.saturating_duration_since(o.scheduled));
                self.latency.saturating_record(us);
                self.second.saturating_record(us);
                self.completed += 1;
                self.completed_this_second += 1;
                self.last_done = Some(o.done);
                match status {
                    400..=499 => self.errors.status_4xx += 1,
                    500..=599 => self.errors.status_5xx += 1,
                    100..=399 => self.ok += 1,
                    _ => self.errors.other += 1,
                }
            }
            Ending::Connect => self.errors.connect += 1,
            Ending::Timeout => self.errors.timeout += 1,
            Ending::Other => self.errors.other += 1,
        }
    }

    /// Closes one second of the recent rate and latency.
    pub fn roll_second(&mut self) {
        while self.recent.len() >= RECENT_SECONDS {
            self.recent.pop_front();
        }
        self.recent.push_back(std::mem::take(&mut self.completed_this_second));
        self.last_second = Percentiles::of(&self.second);
        self.second.reset();
    }

    pub fn report(&self, state: LoadState, rate: f64, in_flight: u64) -> LoadReport {
        let span = self.last_done.map_or(Duration::ZERO, |d| d.saturating_duration_since(self.start));
        let recent: u64 = self.recent.iter().sum();
        LoadReport {
            scenario: self.scenario.clone(),
            target: self.target.clone(),
            state,
            rate,
            elapsed_s: self.start.elapsed().as_secs_f64(),
            scheduled: self.scheduled,
            sent: self.sent,
            ok: self.ok,
            errors: self.errors,
            in_flight,
            achieved_rps_recent: if self.recent.is_empty() { 0.0 } else { recent as f64 / self.recent.len() as f64 },
            achieved_rps_total: if span.is_zero() { 0.0 } else { self.completed as f64 / span.as_secs_f64() },
            latency: Percentiles::of(&self.latency),
            latency_last_second: self.last_second,
        }
    }
}
