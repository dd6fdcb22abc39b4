//! Faults through `Cluster` on real processes: set like a user's action, seen in the snapshot,
//! the events and the metrics, and cleared by the cluster when their time is up.

use std::time::Instant;

use microdeck::cluster::{Cluster, ClusterError};
use microdeck::proxy::fault::Fault;
use microdeck::snapshot::EventKind;

use super::util::*;
use super::LONG;

const MANIFEST: &str = r#"
name = "faults"
[services.web]
command = "mdk-testsvc"
health = { http = "/health" }
replicas = 2
"#;

async fn fault_events(cluster: &Cluster) -> Vec<String> {
    cluster.events().await.into_iter().filter(|e| e.kind == EventKind::Fault && e.service == "web").map(|e| e.message).collect()
}

/// The median of `n` sequential requests' times in ms, and how many answered `status`.
async fn median_ms(client: &reqwest::Client, url: &str, n: usize, status: u16) -> (f64, usize) {
    let mut times = vec![];
    let mut with_status = 0;
    for _ in 0..n {
        let start = Instant::now();
        let answer = tokio::time::timeout(LONG, client.get(url).send()).await.expect("in time").expect("an answer");
        with_status += usize::from(answer.status().as_u16() == status);
        answer.bytes().await.expect("a body");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], with_status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_set_through_the_cluster_is_seen_everywhere_and_cleared_when_its_time_is_up() {
    let (cluster, _dir) = cluster(MANIFEST).await;
    let web = poll_until_async("web ready", LONG, || {
        let s = cluster.snapshot();
        s.services.into_iter().find(|v| v.name == "web" && v.ready == 2)
    })
    .await;
    let url = format!("http://{}/", web.address);
    let client = reqwest::Client::new();

    let refused = cluster.set_fault("web", Fault { replica: Some(7), delay_ms: 100, ..Fault::default() }).await;
    assert_eq!(refused.map_err(|e| e.code()), Err("unknown-replica"));
    let refused = cluster.set_fault("web", Fault { abort_percent: 120.0, ..Fault::default() }).await;
    let message = refused.map_err(|e: ClusterError| e.to_string()).expect_err("120% refused");
    assert_eq!(message, "cannot inject a fault into web: a percentage is between 0 and 100, not 120");
    assert!(cluster.set_fault("nope", Fault { delay_ms: 1, ..Fault::default() }).await.is_err());
    assert!(cluster.faults().is_empty() && fault_events(&cluster).await.is_empty(), "a refused fault is not set");

    let view = cluster.set_fault("web", Fault { delay_ms: 150, for_ms: Some(3000), ..Fault::default() }).await.expect("set");
    assert_eq!(view.until, Some(view.since + 3000));
    assert_eq!(cluster.snapshot().faults, vec![view.clone()]);
    let (delayed, ok) = median_ms(&client, &url, 10, 200).await;
    assert_eq!(ok, 10);
    assert!((150.0..=187.5).contains(&delayed), "median {delayed:.1} ms with a 150 ms delay");
    poll_until_async("the fault cleared by the cluster", LONG, || cluster.snapshot().faults.is_empty().then_some(())).await;
    let events = fault_events(&cluster).await;
    assert_eq!(
        events,
        vec!["fault on web: delay 150ms on 100% of requests for 3s".to_string(), "fault on web cleared after 3s".to_string()]
    );
    let (after, _) = median_ms(&client, &url, 10, 200).await;
    assert!(after < 50.0, "median {after:.1} ms once cleared");

    // Aborts are counted apart, in the totals and in /metrics.
    cluster.set_fault("web", Fault { abort_percent: 50.0, abort_status: 502, ..Fault::default() }).await.expect("set");
    let (_, aborted) = median_ms(&client, &url, 200, 502).await;
    assert!((50..=150).contains(&aborted), "{aborted} of 200 aborted at 50%");
    assert!(cluster.clear_fault("web").expect("clear").is_some());
    assert!(cluster.clear_fault("web").expect("clear again").is_none(), "nothing left to clear");
    let text = poll_until_async("the aborts in /metrics", LONG, || {
        let text = futures_now(cluster.prometheus());
        text.contains(&format!("microdeck_injected_aborts_total{{service=\"web\"}} {aborted}")).then_some(text)
    })
    .await;
    let web_5xx: Vec<&str> = text.lines().filter(|l| l.starts_with("microdeck_requests_total{service=\"web\"") && l.contains("class=\"5xx\"")).collect();
    assert!(!web_5xx.is_empty() && web_5xx.iter().all(|l| l.ends_with(" 0")), "an aborted request counted as the service's 5xx: {web_5xx:?}");
    assert_eq!(fault_events(&cluster).await.last().map(String::as_str), Some("fault on web cleared"));
    cluster.shutdown().await;
}

/// Runs a future to completion on the current multi-thread runtime, from a sync closure.
fn futures_now(f: impl std::future::Future<Output = Result<String, ClusterError>>) -> String {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap_or_default()
}
