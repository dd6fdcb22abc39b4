//! Metrics through the real actor: exact counts, percentiles, retention (paused time),
//! rates, topology, spread, and the cost of `record` on the hot path.

use std::time::{Duration, Instant};

use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::*;

const T: Duration = Duration::from_secs(10);

fn sample(service: &str, replica: Option<u32>, caller: &str, status: u16, latency_ms: u64) -> RequestSample {
    RequestSample {
        service: service.into(),
        replica,
        caller: caller.into(),
        status,
        latency: Duration::from_millis(latency_ms),
        bytes_in: 10,
        bytes_out: 100,
        injected: Default::default(),
    }
}

/// Sleeps into the middle of the next second, so the actor's tick has run first.
async fn next_second() {
    tokio::time::sleep(TICK).await;
}

#[tokio::test(start_paused = true)]
async fn n_samples_are_counted_exactly_per_status_class() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    let statuses = [200, 201, 204, 301, 404, 500, 503, 0, 101, 700];
    let n = 1000;
    for i in 0..n {
        m.record(sample("users", Some((i % 3) as u32), "gateway", statuses[i % statuses.len()], 5));
    }
    let totals = timeout(T, m.totals()).await.expect("in time").expect("totals");
    let users = totals.iter().find(|t| t.service == "users").expect("users counted");
    let per = (n / statuses.len()) as u64;
    assert_eq!(users.requests, n as u64);
    assert_eq!(users.classes.success, 3 * per);
    assert_eq!(users.classes.redirect, per);
    assert_eq!(users.classes.client_error, per);
    assert_eq!(users.classes.server_error, 2 * per);
    assert_eq!(users.classes.informational, per);
    assert_eq!(users.classes.failed, 2 * per, "status 0 and 700 are failures");
    assert_eq!(users.bytes_in, 10 * n as u64);
    assert_eq!(users.bytes_out, 100 * n as u64);
    let by_replica: Vec<u64> = users.replicas.iter().map(|r| r.requests).collect();
    assert_eq!(by_replica, vec![334, 333, 333]);
    assert_eq!(users.replicas.iter().map(|r| r.classes.total()).sum::<u64>(), n as u64);
    assert_eq!(m.dropped(), 0);
}

#[tokio::test(start_paused = true)]
async fn injected_aborts_and_delay_are_counted_apart_from_the_service() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    tokio::time::sleep(TICK / 2).await;
    let injected = |delay_ms: u32, aborted: bool| Injected { delay_ms, aborted };
    // 10 answered by the service in 20 ms after 200 ms injected; 5 aborted with 503; 5 plain 500s.
    for _ in 0..10 {
        m.record(RequestSample { injected: injected(200, false), ..sample("users", Some(0), "gateway", 200, 220) });
    }
    for _ in 0..5 {
        m.record(RequestSample { injected: injected(0, true), ..sample("users", None, "gateway", 503, 1) });
        m.record(sample("users", Some(0), "gateway", 500, 20));
    }
    next_second().await;
    let totals = timeout(T, m.totals()).await.expect("in time").expect("totals");
    let users = totals.iter().find(|t| t.service == "users").expect("users counted");
    assert_eq!(users.requests, 15, "the aborted requests are not the service's");
    assert_eq!((users.classes.success, users.classes.server_error), (10, 5));
    assert_eq!(users.injected, InjectedTotals { aborts: 5, delayed: 10, delay_us: 2_000_000 });
    let p99 = users.latency.p99_ms.expect("a latency");
    assert!((19.0..=21.0).contains(&p99), "the service's own latency is 20 ms, not {p99} ms");

    let s = m.series("users", Duration::from_secs(60)).await.expect("series").expect("users has a series");
    assert_eq!(s.rps, vec![20.0], "every request reached the address");
    assert_eq!(s.error_pct, vec![100.0 * 5.0 / 15.0], "its own 500s, not the injected 503s");
    assert_eq!(s.injected_aborts, vec![5]);
    assert_eq!(s.injected_delay_ms, vec![Some(200.0)]);

    let text = m.render_prometheus().await.expect("text");
    for line in [
        "microdeck_injected_aborts_total{service=\"users\"} 5",
        "microdeck_injected_delayed_requests_total{service=\"users\"} 10",
        "microdeck_injected_delay_seconds_total{service=\"users\"} 2",
        "microdeck_requests_total{service=\"users\",replica=\"0\",class=\"5xx\"} 5",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(!text.contains("replica=\"none\""), "an injected abort is counted on no replica");
}

#[tokio::test(start_paused = true)]
async fn percentiles_match_a_known_uniform_distribution() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    tokio::time::sleep(TICK / 2).await;
    // 1..=1000 ms once each: p50 = 500, p95 = 950, p99 = 990 ms.
    for ms in 1..=1000 {
        m.record(sample("auth", Some(0), EXTERNAL, 200, ms));
    }
    next_second().await;
    let s = timeout(T, m.series("auth", Duration::from_secs(60))).await.expect("in time").expect("series");
    let s = s.expect("auth has a series");
    assert_eq!(s.t.len(), 1);
    let close = |got: Option<f64>, want: f64| {
        let got = got.expect("a value");
        assert!((got - want).abs() <= want * 0.015, "got {got} ms, want {want} ms ±1.5%");
    };
    close(s.p50_ms[0], 500.0);
    close(s.p95_ms[0], 950.0);
    close(s.p99_ms[0], 990.0);
    assert_eq!(s.rps[0], 1000.0);
    let totals = m.totals().await.expect("totals");
    close(totals[0].latency.max_ms, 1000.0);
}

#[tokio::test(start_paused = true)]
async fn series_keep_900_points_of_one_second() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    tokio::time::sleep(TICK / 2).await;
    for second in 0..1000u64 {
        // A rate that names its second: 1 + second % 7 requests.
        for _ in 0..(1 + second % 7) {
            m.record(sample("media", Some(0), EXTERNAL, if second.is_multiple_of(2) { 200 } else { 500 }, 3));
        }
        next_second().await;
    }
    let s = m.series("media", Duration::from_secs(3600)).await.expect("series").expect("media");
    assert_eq!(s.t.len(), RETENTION);
    assert_eq!(s.rps.len(), RETENTION);
    for w in s.t.windows(2) {
        assert!((w[1] - w[0] - 1.0).abs() < 1e-6, "points one second apart: {w:?}");
    }
    // The oldest kept point is second 100; rates and error % follow the pattern.
    for (i, (rps, err)) in s.rps.iter().zip(&s.error_pct).enumerate() {
        let second = (100 + i) as u64;
        assert!((rps - (1 + second % 7) as f64).abs() < 1e-6, "second {second}: rps {rps}");
        assert_eq!(*err, if second.is_multiple_of(2) { 0.0 } else { 100.0 });
    }
    let last5 = m.series("media", Duration::from_secs(5)).await.expect("series").expect("media");
    assert_eq!(last5.t, s.t[RETENTION - 5..].to_vec());
}

#[tokio::test(start_paused = true)]
async fn topology_has_edges_with_rates_and_replica_spread_sums_to_one() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    tokio::time::sleep(TICK / 2).await;
    for _ in 0..3 {
        for i in 0..30u32 {
            m.record(sample("gateway", Some(0), EXTERNAL, 200, 2));
            m.record(sample("users", Some(i % 3), "gateway", 200, 2));
            if i % 3 == 0 {
                m.record(sample("analytics", Some(0), "users", 500, 2));
            }
        }
        next_second().await;
    }
    let topo = m.topology().await.expect("topology");
    let edge = |a: &str, b: &str| topo.edges.iter().find(|e| e.caller == a && e.callee == b).cloned();
    let gu = edge("gateway", "users").expect("gateway→users");
    assert_eq!(gu.requests, 90);
    assert!((gu.rps - 30.0).abs() < 1e-6, "rps {}", gu.rps);
    let ua = edge("users", "analytics").expect("users→analytics");
    assert_eq!((ua.requests, ua.errors), (30, 30));
    assert!((ua.rps - 10.0).abs() < 1e-6);
    assert!(edge("external", "gateway").is_some());
    assert!(edge("gateway", "analytics").is_none());
    let ext = topo.nodes.iter().find(|n| n.name == EXTERNAL).expect("external node");
    assert!(ext.external);
    assert!(topo.nodes.iter().any(|n| n.name == "users" && !n.external && (n.rps - 30.0).abs() < 1e-6));

    let spread = m.replica_spread("users", Duration::from_secs(10)).await.expect("spread").expect("users");
    assert_eq!(spread.iter().map(|r| r.requests).collect::<Vec<_>>(), vec![30, 30, 30]);
    assert!((spread.iter().map(|r| r.share).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(m.replica_spread("nobody", Duration::from_secs(10)).await.expect("spread").is_none());
}

#[tokio::test(start_paused = true)]
async fn gauges_and_resources_land_in_the_next_point() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    tokio::time::sleep(TICK / 2).await;
    let gauge = m.in_flight("auth").await.expect("gauge");
    let (a, b) = (gauge.enter(), gauge.enter());
    m.record_resources("auth", 42.5, 1 << 20);
    next_second().await;
    drop(a);
    next_second().await;
    drop(b);
    let s = m.series("auth", Duration::from_secs(60)).await.expect("series").expect("auth");
    assert_eq!(s.in_flight, vec![2, 1]);
    assert_eq!(s.cpu_percent.last(), Some(&Some(42.5)));
    assert_eq!(s.rss_bytes.last(), Some(&Some(1 << 20)));
    assert_eq!(gauge.get(), 0);
    assert_eq!(s.p50_ms, vec![None, None], "no request, no latency");
}

#[tokio::test(start_paused = true)]
async fn callers_that_are_no_service_share_the_external_edge_so_they_cannot_grow_the_store() {
    let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
    let _gauge = m.in_flight("gateway").await.expect("gateway registered");
    m.record(sample("users", Some(0), "gateway", 200, 1));
    let small = m.render_prometheus().await.expect("text").len();
    // Any local client can send any `x-microdeck-caller`.
    for i in 0..5_000 {
        m.record(sample("users", Some(0), &format!("caller-{i}"), 200, 1));
    }
    let topo = m.topology().await.expect("topology");
    let mut edges: Vec<(&str, &str, u64)> = topo.edges.iter().map(|e| (&*e.caller, &*e.callee, e.requests)).collect();
    edges.sort_unstable();
    assert_eq!(edges, vec![(EXTERNAL, "users", 5_000), ("gateway", "users", 1)]);
    assert!(!topo.nodes.iter().any(|n| n.name.starts_with("caller-")), "no node per named caller");
    let text = m.render_prometheus().await.expect("text");
    assert!(!text.contains("caller-"), "no series per named caller");
    assert!(text.len() < small * 2, "/metrics grew from {small} to {} bytes", text.len());
}

/// Wall-clock checks: `make test` runs `timing` modules one test at a time, after the parallel pass.
mod timing {
    use super::*;

    /// `record` from one thread, then several at once: what a call costs (wall time per
    /// call), and that every sample is either counted or reported dropped.
    #[test]
    fn record_is_cheap_and_loses_nothing_silently() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let m = rt.block_on(async { Metrics::spawn(CancellationToken::new()) }).expect("metrics");
        let mut expected = 0u64;
        for (threads, per_thread) in [(1u32, 50_000u32), (4, 50_000)] {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads {
                    let m = m.clone();
                    scope.spawn(move || {
                        for i in 0..per_thread {
                            m.record(sample("users", Some(t), "gateway", 200 + (i % 2) as u16 * 300, 1));
                        }
                    });
                }
            });
            let per_record = start.elapsed() / (threads * per_thread);
            expected += u64::from(threads * per_thread);
            let counted = rt.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let totals = timeout(T, m.totals()).await.expect("in time").expect("totals");
                    let n = totals.first().map_or(0, |t| t.requests);
                    if n + m.dropped() >= expected || Instant::now() > deadline {
                        break n;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            println!("record: {per_record:?} per call from {threads} thread(s); counted {counted}, dropped {}", m.dropped());
            assert_eq!(counted + m.dropped(), expected);
            // The proxy adds ~250 µs a request in a debug build (bench P4): a record stays well under it.
            assert!(per_record < Duration::from_micros(100), "record took {per_record:?}");
        }
    }
}
