//! The probes against real sockets: cadence, reasons, and the kept-alive HTTP connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

fn health(check: HealthCheck) -> Health {
    Health { check, timeout: Duration::from_millis(500), ..Health::default() }
}

#[tokio::test]
async fn tcp_and_http_probes_say_why_they_fail() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    assert_eq!(probe_once(&health(HealthCheck::Tcp), port).await, Ok(()));
    drop(l);
    let msg = probe_once(&health(HealthCheck::Tcp), port).await.expect_err("nothing listens");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    let msg = probe_once(&health(HealthCheck::Http { path: "/health".into() }), port).await.expect_err("nothing listens");
    assert!(msg.starts_with("GET /health: ") && msg.to_lowercase().contains("refused"), "{msg}");
}

/// A `/health` server on port 0: 200 while `healthy`, else 500. Counts the connections
/// it accepted; `drop_all` closes the open ones (an idle keep-alive timeout).
struct Replica {
    port: u16,
    healthy: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    drop_all: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}


async fn replica() -> Replica {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let healthy = Arc::new(AtomicBool::new(true));
    let accepted = Arc::new(AtomicUsize::new(0));
    let drop_all = Arc::new(tokio::sync::Notify::new());
    let (h, a, d) = (healthy.clone(), accepted.clone(), drop_all.clone());
    let task = tokio::spawn(async move {
        // Aborting this task drops the set, and with it every connection.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let Ok((stream, _)) = r else { return };
                    a.fetch_add(1, Ordering::SeqCst);
                    let h = h.clone();
                    let service = hyper::service::service_fn(move |_req| {
                        let status = if h.load(Ordering::SeqCst) { 200 } else { 500 };
                        let resp = hyper::Response::builder().status(status).body(http_body_util::Full::new(bytes::Bytes::from_static(b"ok")));
                        async move { resp }
                    });
                    conns.spawn(hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service));
                }
                _ = d.notified() => conns.abort_all(),
            }
        }
    });
    Replica { port, healthy, accepted, drop_all, task }
}

fn http_health() -> Health {
    health(HealthCheck::Http { path: "/health".into() })
}

#[tokio::test]
async fn the_http_probe_keeps_its_connection_and_still_sees_the_replica_go_unhealthy_then_die() {
    let r = replica().await;
    let mut prober = Prober::new(&http_health(), r.port);
    for _ in 0..5 {
        assert_eq!(prober.probe().await, Ok(()));
    }
    assert!(prober.connected());
    assert_eq!(r.accepted.load(Ordering::SeqCst), 1, "five probes over one connection");
    r.healthy.store(false, Ordering::SeqCst);
    assert_eq!(prober.probe().await, Err("GET /health: HTTP 500".to_string()));
    assert_eq!(r.accepted.load(Ordering::SeqCst), 1);
    r.task.abort();
    let _ended = r.task.await;
    let err = prober.probe().await.expect_err("the replica is gone");
    assert!(err.starts_with("GET /health: ") && err.to_lowercase().contains("refused"), "{err}");
    assert!(!prober.connected());
}

#[tokio::test]
async fn a_keep_alive_connection_the_replica_closed_is_replaced_without_a_failed_probe() {
    let r = replica().await;
    let mut prober = Prober::new(&http_health(), r.port);
    assert_eq!(prober.probe().await, Ok(()));
    r.drop_all.notify_one();
    // Wait until the replica's side is closed (the next accept count stays 1 until then).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut results = vec![];
    while r.accepted.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        results.push(prober.probe().await);
    }
    assert_eq!(r.accepted.load(Ordering::SeqCst), 2, "a fresh connection after the close");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    r.task.abort();
}

#[tokio::test]
async fn a_healthy_replica_is_reported_until_ready_then_only_when_it_fails() {
    let r = replica().await;
    let health = Health { interval: Duration::from_millis(20), success_threshold: 2, ..http_health() };
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(probe_loop(ProbeTarget { index: 0, epoch: 1, port: r.port, health }, cancel.clone(), tx));
    for _ in 0..2 {
        let rep = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a report in time").expect("open");
        assert_eq!(rep.result, Ok(()));
    }
    // Ready: ~15 more passing probes at 20 ms, none of them reported.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "a pass reported after readiness");
    r.healthy.store(false, Ordering::SeqCst);
    let rep = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a failure in time").expect("open");
    assert_eq!(rep.result, Err("GET /health: HTTP 500".to_string()));
    r.healthy.store(true, Ordering::SeqCst);
    // Passes count again after a failure, until the threshold.
    loop {
        let rep = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a report in time").expect("open");
        if rep.result.is_ok() {
            break;
        }
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), task).await.expect("ends on cancel").expect("no panic");
    r.task.abort();
}

#[tokio::test]
async fn an_http_1_0_replica_that_closes_after_each_answer_passes_every_probe() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _read = s.read(&mut buf).await;
            let _written = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok").await;
        }
    });
    let mut prober = Prober::new(&http_health(), port);
    for _ in 0..3 {
        assert_eq!(prober.probe().await, Ok(()));
        assert!(!prober.connected());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    server.abort();
}

/// Wall-clock checks: `make test` runs `timing` modules one test at a time, after the parallel pass.
mod timing {
    use super::*;

    #[tokio::test]
    async fn a_starting_replica_is_probed_fast_until_the_threshold() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let health = Health { check: HealthCheck::Tcp, interval: Duration::from_secs(10), success_threshold: 3, ..Health::default() };
        let (tx, mut rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(probe_loop(ProbeTarget { index: 0, epoch: 1, port, health }, cancel.clone(), tx));
        let started = Instant::now();
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a report in time").expect("open");
            assert_eq!(r.result, Ok(()));
        }
        // Probed at the manifest's 10 s interval, three probes would take 20 s: far under that is fast.
        assert!(started.elapsed() < Duration::from_secs(5), "three probes took {:?}", started.elapsed());
        // Then the manifest's interval: nothing more for a while.
        assert!(tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.is_err());
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("ends on cancel").expect("no panic");
    }
}
