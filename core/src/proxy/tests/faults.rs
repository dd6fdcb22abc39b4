//! Faults at the address over real sockets: the delay a caller waits, the share aborted, one
//! replica's requests only, and TCP's connect delay and reset.

use std::time::Instant;

use super::*;
use crate::proxy::fault::Fault;

/// The times in ms of `n` requests to `url`, sent `at_once` at a time, sorted; each must answer `status`.
async fn times_ms(client: &reqwest::Client, url: &str, n: usize, at_once: usize, status: u16) -> Vec<f64> {
    let mut times = vec![];
    for _ in 0..n / at_once {
        let batch = (0..at_once).map(|_| async {
            let start = Instant::now();
            let (got, _, _) = get_text(client, url).await;
            assert_eq!(got, status);
            start.elapsed().as_secs_f64() * 1000.0
        });
        times.extend(futures_util::future::join_all(batch).await);
    }
    times.sort_by(f64::total_cmp);
    times
}

async fn median_ms(client: &reqwest::Client, url: &str, n: usize, at_once: usize, status: u16) -> f64 {
    let times = times_ms(client, url, n, at_once, status).await;
    times[times.len() / 2]
}

#[tokio::test]
async fn an_injected_delay_is_what_callers_wait_and_clearing_it_brings_the_service_back() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let url = format!("http://{}/", proxy.local_addr());
    let client = reqwest::Client::new();
    let before = median_ms(&client, &url, 40, 8, 200).await;

    proxy.set_fault(Fault { delay_ms: 200, ..Fault::default() });
    let delayed = median_ms(&client, &url, 40, 8, 200).await;
    assert!((200.0..=250.0).contains(&delayed), "median {delayed:.1} ms with a 200 ms delay");

    // With jitter each request waits within the range, and not all the same.
    proxy.set_fault(Fault { delay_ms: 200, jitter_ms: 50, ..Fault::default() });
    let times = times_ms(&client, &url, 40, 8, 200).await;
    let (first, last) = (times[0], times[times.len() - 1]);
    assert!(first >= 150.0 && last <= 250.0 + 50.0, "{first:.1}..{last:.1} ms with a 200 ms ±50 ms delay");
    assert!(last - first >= 40.0, "{first:.1}..{last:.1} ms: the jitter hardly varies the delay");

    assert!(proxy.clear_fault(None).is_some());
    let after = median_ms(&client, &url, 40, 8, 200).await;
    assert!(after < before + 20.0 && after < 50.0, "median {after:.1} ms after clearing, {before:.1} ms before the fault");
    cancel.cancel();
}

#[tokio::test]
async fn the_aborted_share_is_the_asked_one_and_no_replica_sees_those_requests() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    proxy.set_fault(Fault { abort_percent: 20.0, abort_status: 418, ..Fault::default() });
    let url = format!("http://{}/", proxy.local_addr());
    let client = reqwest::Client::new();
    let n = 2000;
    let mut aborted = 0;
    for _ in 0..n {
        let (status, content_type, body) = get_text(&client, &url).await;
        match status {
            418 => {
                aborted += 1;
                assert_eq!(content_type, "application/json");
                assert!(body.contains("fault injected") && body.contains("abort 418 on 20%"), "{body}");
            }
            200 => assert_eq!(body, "b0"),
            other => panic!("status {other}: {body}"),
        }
    }
    let share = aborted as f64 * 100.0 / n as f64;
    assert!((share - 20.0).abs() <= 5.0, "{share}% aborted for 20% asked");
    assert_eq!(backend.hits(), n - aborted, "an aborted request reached the replica");
    let totals = proxy.totals();
    assert_eq!((totals.injected_aborts, totals.server_errors, totals.client_errors), (aborted, 0, 0));
    cancel.cancel();
}

#[tokio::test]
async fn a_fault_on_one_replica_touches_only_its_requests() {
    let backends = [http_backend("b0").await, http_backend("b1").await];
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(backends.iter().enumerate().map(|(i, b)| b.as_backend(i as u32)).collect());
    proxy.set_fault(Fault { abort_percent: 100.0, replica: Some(1), ..Fault::default() });
    let url = format!("http://{}/", proxy.local_addr());
    let client = reqwest::Client::new();
    let mut answers = HashMap::new();
    for _ in 0..200 {
        let (status, _, body) = get_text(&client, &url).await;
        let who = if status == 503 { "aborted".to_string() } else { format!("{status} {body}") };
        *answers.entry(who).or_insert(0u32) += 1;
    }
    assert_eq!(backends[1].hits(), 0, "replica 1 was reached: {answers:?}");
    assert_eq!(answers.get("200 b0"), Some(&100), "{answers:?}");
    assert_eq!(answers.get("aborted"), Some(&100), "{answers:?}");

    // A delay on replica 0 only: its answers are late, replica 1's (now cleared) are not.
    proxy.set_fault(Fault { delay_ms: 300, replica: Some(0), ..Fault::default() });
    let mut by_replica: HashMap<String, Vec<f64>> = HashMap::new();
    for _ in 0..10 {
        let start = Instant::now();
        let (status, _, body) = get_text(&client, &url).await;
        assert_eq!(status, 200);
        by_replica.entry(body).or_default().push(start.elapsed().as_secs_f64() * 1000.0);
    }
    assert!(by_replica["b0"].iter().all(|ms| *ms >= 300.0), "{by_replica:?}");
    assert!(by_replica["b1"].iter().all(|ms| *ms < 150.0), "{by_replica:?}");
    cancel.cancel();
}

#[tokio::test]
async fn a_tcp_service_gets_the_connect_delay_and_the_reset() {
    let (proxy, cancel) = proxy(Protocol::Tcp, Balance::RoundRobin);
    proxy.set_backends(vec![Backend { replica: 0, addr: sockets::echo_backend().await }]);
    let addr = proxy.local_addr();
    let echo = |delay_at_least: Duration| async move {
        let start = Instant::now();
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"ping").await.expect("write");
        let mut echoed = [0u8; 4];
        timeout(DEADLINE, client.read_exact(&mut echoed)).await.expect("in time").expect("read");
        assert_eq!(&echoed, b"ping");
        let took = start.elapsed();
        assert!(took >= delay_at_least, "echoed after {took:?}");
        took
    };
    let quick = echo(Duration::ZERO).await;
    assert!(quick < Duration::from_millis(100), "{quick:?} with no fault");

    proxy.set_fault(Fault { delay_ms: 300, ..Fault::default() });
    let slow = echo(Duration::from_millis(300)).await;
    assert!(slow < Duration::from_millis(300 + 100), "{slow:?} for a 300 ms delay");

    proxy.set_fault(Fault { abort_percent: 100.0, ..Fault::default() });
    // The reset may come before the client's connect has completed, or on its first read.
    let outcome = timeout(DEADLINE, async {
        let mut client = tokio::net::TcpStream::connect(addr).await?;
        client.read(&mut [0u8; 4]).await
    })
    .await
    .expect("in time");
    assert_eq!(outcome.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset), "the client sees a reset");

    proxy.clear_fault(None);
    echo(Duration::ZERO).await;
    cancel.cancel();
}
