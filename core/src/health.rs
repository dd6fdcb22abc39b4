//! Health probes, one loop per replica: HTTP GET (reqwest), TCP connect, or
//! process-alive. While a replica starts it is probed every [`STARTING_PROBE_EVERY`]
//! so readiness is seen within tens of milliseconds; failures are reported no more
//! often than the manifest's interval, so fast probing cannot rush a replica into
//! `unhealthy`. Thresholds and states live in the replica state machine.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::manifest::{Health, HealthCheck};

/// Probe period until the replica is ready: a refused probe costs a connect, and each
/// period adds half its length on average to start-up and restart times.
pub const STARTING_PROBE_EVERY: Duration = Duration::from_millis(10);
/// The first probe of a starting replica: soon, but after the exec itself.
pub const FIRST_PROBE_AFTER: Duration = Duration::from_millis(5);

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
pub async fn probe_loop(target: ProbeTarget, client: reqwest::Client, cancel: CancellationToken, tx: mpsc::Sender<ProbeReport>) {
    let report = |result| ProbeReport { index: target.index, epoch: target.epoch, result };
    if target.health.check == HealthCheck::Process {
        // Alive is healthy (enough times for the threshold); the exit is seen by the process's waiter.
        for _ in 0..target.health.success_threshold.max(1) {
            if tx.send(report(Ok(()))).await.is_err() {
                return;
            }
        }
        return;
    }
    let interval = target.health.interval.max(Duration::from_millis(10));
    let threshold = target.health.success_threshold.max(1);
    let mut in_a_row = 0u32;
    // Fast until the replica has passed as many probes in a row as readiness needs.
    let mut seen_ready = false;
    let mut last_failure_report: Option<Instant> = None;
    let mut wait = FIRST_PROBE_AFTER;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = probe_once(&target.health, target.port, &client) => r,
        };
        let send = match &result {
            Ok(()) => {
                in_a_row += 1;
                seen_ready |= in_a_row >= threshold;
                true
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
        wait = if seen_ready { interval } else { STARTING_PROBE_EVERY };
        if send && tx.send(report(result)).await.is_err() {
            return;
        }
    }
}

/// One probe under the manifest's timeout.
pub async fn probe_once(health: &Health, port: u16, client: &reqwest::Client) -> Result<(), String> {
    let timeout = health.timeout;
    let fut = async {
        match &health.check {
            HealthCheck::Process => Ok(()),
            HealthCheck::Tcp => tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(|_| ()).map_err(|e| e.to_string()),
            HealthCheck::Http { path } => {
                let url = format!("http://127.0.0.1:{port}{path}");
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() || r.status().is_redirection() => Ok(()),
                    Ok(r) => Err(format!("GET {path}: HTTP {}", r.status().as_u16())),
                    Err(e) => Err(format!("GET {path}: {}", innermost(&e))),
                }
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}ms", timeout.as_millis())),
    }
}

/// The root cause's message ("Connection refused (os error 111)"), not reqwest's wrapper.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The one HTTP client of the probes: no proxy from the environment, short idle pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(check: HealthCheck) -> Health {
        Health { check, timeout: Duration::from_millis(500), ..Health::default() }
    }

    #[tokio::test]
    async fn a_starting_replica_is_probed_fast_until_the_threshold() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let health = Health { check: HealthCheck::Tcp, interval: Duration::from_secs(10), success_threshold: 3, ..Health::default() };
        let (tx, mut rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(probe_loop(ProbeTarget { index: 0, epoch: 1, port, health }, client(), cancel.clone(), tx));
        let started = Instant::now();
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await.expect("a report in time").expect("open");
            assert_eq!(r.result, Ok(()));
        }
        assert!(started.elapsed() < Duration::from_secs(1), "three probes took {:?}", started.elapsed());
        // Then the manifest's interval: nothing more for a while.
        assert!(tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.is_err());
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("ends on cancel").expect("no panic");
    }

    #[tokio::test]
    async fn tcp_and_http_probes_say_why_they_fail() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert_eq!(probe_once(&health(HealthCheck::Tcp), port, &client()).await, Ok(()));
        drop(l);
        let err = probe_once(&health(HealthCheck::Http { path: "/health".into() }), port, &client()).await;
        let msg = err.expect_err("nothing listens");
        assert!(msg.starts_with("GET /health: ") && msg.to_lowercase().contains("refused"), "{msg}");
    }
}
