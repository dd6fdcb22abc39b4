//! Health probes, one loop per replica: HTTP GET (over one kept-alive connection, see
//! `http`), TCP connect, or process-alive. While a replica starts it is probed every
//! [`STARTING_PROBE_EVERY`] (then [`SLOW_START_PROBE_EVERY`]) so readiness is seen
//! within milliseconds; failures are reported no more often than the manifest's
//! interval, so fast probing cannot rush a replica into `unhealthy`. Once a replica has
//! passed enough probes in a row to be ready, further passes are not reported (the
//! state machine would do nothing with them): an idle healthy replica costs its probe
//! and no wake-up of its service actor. Thresholds and states live in the replica
//! state machine.

mod http;

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::manifest::{Health, HealthCheck};

/// Probe period while a replica starts: each period adds half its length on average to
/// start-up and restart times, and a refused probe costs only a connect (~20 µs).
pub const STARTING_PROBE_EVERY: Duration = Duration::from_millis(2);
/// Still not ready after this long: a slow starter, probed at [`SLOW_START_PROBE_EVERY`].
pub const FAST_START_FOR: Duration = Duration::from_secs(1);
pub const SLOW_START_PROBE_EVERY: Duration = Duration::from_millis(10);
/// The first probe of a starting replica: soon, but after the exec itself.
pub const FIRST_PROBE_AFTER: Duration = Duration::from_millis(2);

/// One probe's outcome for one process of a replica slot.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub index: u32,
    pub epoch: u64,
    pub result: Result<(), String>,
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub index: u32,
    pub epoch: u64,
    pub port: u16,
    pub health: Health,
}

/// Probes until cancelled (the replica stopped) or the receiver is gone.
pub async fn probe_loop(target: ProbeTarget, cancel: CancellationToken, tx: mpsc::Sender<ProbeReport>) {
    // A `process` check has nothing to probe: the supervisor passes it when the program's pid arrives.
    let report = |result| ProbeReport { index: target.index, epoch: target.epoch, result };
    let interval = target.health.interval.max(Duration::from_millis(10));
    let threshold = target.health.success_threshold.max(1);
    let mut prober = Prober::new(&target.health, target.port);
    let started = Instant::now();
    let mut in_a_row = 0u32;
    // Fast until the replica has passed as many probes in a row as readiness needs.
    let mut seen_ready = false;
    let mut last_failure_report: Option<Instant> = None;
    let mut wait = FIRST_PROBE_AFTER;
    loop {
        // A ready replica's probe waits for the shared grid, so idle probes fire together.
        let due = if seen_ready { crate::grid::next(interval) } else { Instant::now() + wait };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = prober.probe() => r,
        };
        let send = match &result {
            Ok(()) => {
                in_a_row = in_a_row.saturating_add(1);
                seen_ready |= in_a_row >= threshold;
                // The state machine has seen `threshold` passes in a row: it is ready, and
                // more passes change nothing there.
                in_a_row <= threshold
            }
            Err(_) => {
                in_a_row = 0;
                let due = last_failure_report.is_none_or(|t| t.elapsed() >= interval);
                if due {
                    last_failure_report = Some(Instant::now());
                }
                due
            }
        };
        wait = if started.elapsed() < FAST_START_FOR {
            STARTING_PROBE_EVERY
        } else {
            SLOW_START_PROBE_EVERY
        };
        if send && tx.send(report(result)).await.is_err() {
            return;
        }
    }
}

/// One replica's probe, with what it keeps between probes (the HTTP connection).
pub struct Prober {
    health: Health,
    port: u16,
    http: Option<http::HttpProbe>,
}

impl Prober {
    pub fn new(health: &Health, port: u16) -> Prober {
        let http = match &health.check {
            HealthCheck::Http { path } => Some(http::HttpProbe::new(port, path)),
            _ => None,
        };
        Prober { health: health.clone(), port, http }
    }

    /// One probe under the manifest's timeout.
    pub async fn probe(&mut self) -> Result<(), String> {
        let timeout = self.health.timeout;
        let port = self.port;
        let fut = async {
            match (&self.health.check, self.http.as_mut()) {
                (HealthCheck::Tcp, _) => TcpStream::connect(("127.0.0.1", port)).await.map(|_| ()).map_err(|e| e.to_string()),
                (HealthCheck::Http { path }, Some(http)) => match http.get().await {
                    Ok(s) if s.is_success() || s.is_redirection() => Ok(()),
                    Ok(s) => Err(format!("GET {path}: HTTP {}", s.as_u16())),
                    Err(e) => Err(format!("GET {path}: {e}")),
                },
                _ => Ok(()),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}ms", timeout.as_millis())),
        }
    }

    /// Whether an HTTP connection is kept for the next probe.
    pub fn connected(&self) -> bool {
        self.http.as_ref().is_some_and(http::HttpProbe::connected)
    }
}

/// One probe on a fresh connection under the manifest's timeout.
pub async fn probe_once(health: &Health, port: u16) -> Result<(), String> {
    Prober::new(health, port).probe().await
}

#[cfg(test)]
mod tests;
