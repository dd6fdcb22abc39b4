//! Counting pieces shared by services, replicas and edges: status classes, bytes and
//! latency, plus the hdrhistogram settings every latency histogram uses.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency is kept in microseconds, from 1 µs up to this (longer values saturate).
pub const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Two significant digits: 1% resolution, about 20 KB per histogram.
pub const LATENCY_SIGFIG: u8 = 2;

/// A new, empty latency histogram with the shared bounds.
pub fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG)
}

/// A latency as histogram microseconds (at least 1, the histogram's floor).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// What became of a request: its status class, or `Failed` when no response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Class {
    #[serde(rename = "1xx")]
    Informational,
    #[serde(rename = "2xx")]
    Success,
    #[serde(rename = "3xx")]
    Redirect,
    #[serde(rename = "4xx")]
    ClientError,
    #[serde(rename = "5xx")]
    ServerError,
    #[serde(rename = "failed")]
    Failed,
}

impl Class {
    pub const ALL: [Class; 6] =
        [Class::Informational, Class::Success, Class::Redirect, Class::ClientError, Class::ServerError, Class::Failed];

    /// Status 0 (no response) and anything outside 100..=599 count as failed.
    pub fn of(status: u16) -> Class {
        match status {
            100..=199 => Class::Informational,
            200..=299 => Class::Success,
            300..=399 => Class::Redirect,
            400..=499 => Class::ClientError,
            500..=599 => Class::ServerError,
            _ => Class::Failed,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Informational => "1xx",
            Class::Success => "2xx",
            Class::Redirect => "3xx",
            Class::ClientError => "4xx",
            Class::ServerError => "5xx",
            Class::Failed => "failed",
        }
    }

    /// What the error rate counts: the service failed, not the caller.
    pub fn is_error(self) -> bool {
        matches!(self, Class::ServerError | Class::Failed)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests per status class, in [`Class::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirect: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
    pub failed: u64,
}

impl ClassCounts {
    fn from_array(a: [u64; 6]) -> ClassCounts {
        let [informational, success, redirect, client_error, server_error, failed] = a;
        ClassCounts { informational, success, redirect, client_error, server_error, failed }
    }

    pub fn get(&self, class: Class) -> u64 {
        match class {
            Class::Informational => self.informational,
            Class::Success => self.success,
            Class::Redirect => self.redirect,
            Class::ClientError => self.client_error,
            Class::ServerError => self.server_error,
            Class::Failed => self.failed,
        }
    }

    pub fn total(&self) -> u64 {
        Class::ALL.iter().map(|c| self.get(*c)).sum()
    }
}

/// Latency percentiles in milliseconds; `None` when nothing was measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| Some(us as f64 / 1000.0);
        Percentiles {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Everything counted for one service, replica or edge since the start.
#[derive(Debug, Clone)]
pub struct Tally {
    classes: [u64; 6],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency: Histogram<u64>,
    /// Exact sum for the Prometheus `_sum` (the histogram only keeps buckets).
    pub latency_sum_s: f64,
}

impl Tally {
    pub fn new(proto: &Histogram<u64>) -> Tally {
        Tally { classes: [0; 6], bytes_in: 0, bytes_out: 0, latency: Histogram::new_from(proto), latency_sum_s: 0.0 }
    }

    pub fn add(&mut self, class: Class, latency: Duration, bytes_in: u64, bytes_out: u64) {
        self.classes[class.index()] += 1;
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        self.latency.saturating_record(micros(latency));
        self.latency_sum_s += latency.as_secs_f64();
    }

    pub fn classes(&self) -> ClassCounts {
        ClassCounts::from_array(self.classes)
    }

    pub fn requests(&self) -> u64 {
        self.classes.iter().sum()
    }

    pub fn errors(&self) -> u64 {
        Class::ALL.iter().filter(|c| c.is_error()).map(|c| self.classes[c.index()]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_cover_every_code() {
        assert_eq!(Class::of(0), Class::Failed);
        assert_eq!(Class::of(101), Class::Informational);
        assert_eq!(Class::of(204), Class::Success);
        assert_eq!(Class::of(304), Class::Redirect);
        assert_eq!(Class::of(429), Class::ClientError);
        assert_eq!(Class::of(503), Class::ServerError);
        assert_eq!(Class::of(600), Class::Failed);
        assert!(Class::Failed.is_error() && Class::ServerError.is_error() && !Class::ClientError.is_error());
    }
}
