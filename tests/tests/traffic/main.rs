//! Traffic end to end with real processes: every request through a service's address is
//! measured, round-robin spreads evenly, a rolling restart and a SIGKILL under open-loop
//! load fail nothing (the drain and the retry), the bundled cluster's "browse" load draws
//! its topology, a load starts from a thread without a runtime, knobs hold for replicas started
//! later, and `/metrics` from the real API parses with the reference parser.
//! Timing matters: run with `--test-threads=1` (`make test` does).

#[allow(dead_code)]
#[path = "../engine/util.rs"]
mod util;
#[allow(dead_code)]
#[path = "../samples/util.rs"]
mod samples;

use std::collections::BTreeSet;
use std::time::Duration;

use microdeck::cluster::Cluster;
use microdeck::loadgen::LoadReport;
use microdeck::snapshot::ReplicaState;
use microdeck::web::{self, WebOptions};
use microdeck_tests::bins::workspace_root;
use serde_json::Value;
use util::*;

const LONG: Duration = Duration::from_secs(30);

/// One test service behind an address, with a load scenario on it.
fn api_manifest(replicas: u32) -> String {
    format!(
        r#"
name = "traffic"
[services.api]
command = "mdk-testsvc"
replicas = {replicas}
stop_grace = "2s"
health = {{ http = "/health", interval = "1s" }}

[[load.scenario]]
name = "get"
target = "api"

[[load.scenario.request]]
method = "GET"
path = "/hello"

# Not idempotent (never retried) and held 40 ms in flight: only the drain saves it.
[[load.scenario]]
name = "slow-post"
target = "api"

[[load.scenario.request]]
method = "POST"
path = "/sleep/40"
body = "x"
"#
    )
}

async fn ready_pids(cluster: &Cluster, service: &str, n: usize) -> Vec<u32> {
    poll_until_async(&format!("{n} ready replicas of {service}"), LONG, || {
        let snap = cluster.snapshot();
        let s = snap.services.iter().find(|s| s.name == service)?;
        let ready: Vec<u32> = s.replicas.iter().filter(|r| r.state == ReplicaState::Ready).filter_map(|r| r.pid).collect();
        (ready.len() == n && s.replicas.len() == n).then_some(ready)
    })
    .await
}

/// Waits for the load run to be over and returns its last report.
async fn load_over(cluster: &Cluster) -> LoadReport {
    poll_until_async("the load run to end", LONG, || cluster.load_report().filter(|r| r.state.is_over())).await
}

async fn totals_of(cluster: &Cluster, service: &str, requests: u64) -> microdeck::metrics::ServiceTotals {
    let end = std::time::Instant::now() + LONG;
    loop {
        let totals = cluster.traffic_totals().await.expect("totals");
        if let Some(t) = totals.into_iter().find(|t| t.service == service && t.requests >= requests) {
            return t;
        }
        assert!(std::time::Instant::now() < end, "{service} never counted {requests} requests");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_through_the_address_is_counted_once_per_status_class() {
    let (cluster, _dir) = cluster(&api_manifest(2)).await;
    ready_pids(&cluster, "api", 2).await;
    let addr = cluster.address("api").expect("address");
    let client = reqwest::Client::new();
    let plan = [("/hello", 37u64), ("/status/404", 23), ("/status/500", 11), ("/status/302", 5)];
    for (path, n) in plan {
        for _ in 0..n {
            let r = tokio::time::timeout(LONG, client.get(format!("http://{addr}{path}")).send()).await.expect("in time");
            r.expect("answered").bytes().await.expect("body");
        }
    }
    let t = totals_of(&cluster, "api", 76).await;
    // A moment more: nothing beyond the 76 may show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t2 = totals_of(&cluster, "api", 76).await;
    assert_eq!(t, t2);
    assert_eq!(t.requests, 76);
    assert_eq!((t.classes.success, t.classes.client_error, t.classes.server_error, t.classes.redirect), (37, 23, 11, 5));
    assert_eq!(t.classes.failed, 0);
    assert!(t.bytes_out > 0);
    assert_eq!(t.replicas.iter().map(|r| r.requests).sum::<u64>(), 76);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_to_three_under_load_each_replica_gets_a_third() {
    let (cluster, _dir) = cluster(&api_manifest(1)).await;
    ready_pids(&cluster, "api", 1).await;
    cluster.start_load("get", 200.0, None).expect("load starts");
    cluster.scale("api", 3).await.expect("scale");
    ready_pids(&cluster, "api", 3).await;
    // Whole seconds with all three ready, then the spread over the last two.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let spread = cluster.replica_spread("api", Duration::from_secs(2)).await.expect("spread");
    cluster.stop_load().expect("stop");
    let report = load_over(&cluster).await;
    println!("spread over 3 replicas at 200 rps: {spread:?}");
    assert_eq!(spread.len(), 3, "{spread:?}");
    for s in &spread {
        assert!((s.share - 1.0 / 3.0).abs() <= 0.2 / 3.0, "replica {} got {:.3} of the requests", s.replica, s.share);
    }
    assert_eq!(report.errors.total(), 0, "{report:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_300_rps_fails_no_request() {
    let (cluster, _dir) = cluster(&api_manifest(2)).await;
    let old: BTreeSet<u32> = ready_pids(&cluster, "api", 2).await.into_iter().collect();
    cluster.start_load("slow-post", 300.0, None).expect("load starts");
    poll_until_async("load running", LONG, || cluster.load_report().filter(|r| r.ok > 100)).await;
    cluster.restart_service("api").await.expect("restart");
    let end = std::time::Instant::now() + LONG;
    loop {
        let now: BTreeSet<u32> = ready_pids(&cluster, "api", 2).await.into_iter().collect();
        if now.is_disjoint(&old) {
            break;
        }
        assert!(std::time::Instant::now() < end, "the rolling restart did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.stop_load().expect("stop");
    let report = load_over(&cluster).await;
    println!("rolling restart under 300 rps: sent {} ok {} errors {:?} p99 {:?}", report.sent, report.ok, report.errors, report.latency);
    assert!(report.sent > 300, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(report.ok, report.sent);
    let t = totals_of(&cluster, "api", report.sent).await;
    assert_eq!(t.classes.failed + t.classes.server_error, 0, "{t:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_replica_under_load_fails_no_idempotent_request() {
    let (cluster, _dir) = cluster(&api_manifest(3)).await;
    let pids = ready_pids(&cluster, "api", 3).await;
    cluster.start_load("get", 200.0, None).expect("load starts");
    poll_until_async("load running", LONG, || cluster.load_report().filter(|r| r.ok > 100)).await;
    cluster.kill_replica("api", 1).await.expect("kill");
    // Back to three ready, one of them new.
    poll_until_async("the killed replica replaced", LONG, || {
        let snap = cluster.snapshot();
        let s = snap.services.iter().find(|s| s.name == "api")?;
        let ready: Vec<u32> = s.replicas.iter().filter(|r| r.state == ReplicaState::Ready).filter_map(|r| r.pid).collect();
        (ready.len() == 3 && ready.iter().any(|p| !pids.contains(p))).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.stop_load().expect("stop");
    let report = load_over(&cluster).await;
    let rate = report.errors.total() as f64 / report.sent.max(1) as f64;
    println!("SIGKILL under 200 rps: sent {} errors {:?} ({:.3}%)", report.sent, report.errors, rate * 100.0);
    assert!(report.sent > 200, "{report:?}");
    assert_eq!(report.errors.total(), 0, "idempotent GETs saw errors: {report:?}");
    assert!(rate < 0.01);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_started_from_a_thread_without_a_runtime_runs_on_the_clusters() {
    // The desktop shell runs sync commands on its main thread, where there is no runtime.
    let (cluster, _dir) = cluster(&api_manifest(1)).await;
    ready_pids(&cluster, "api", 1).await;
    let c = cluster.clone();
    let started = std::thread::spawn(move || c.start_load("get", 50.0, Some(Duration::from_secs(1))).map(|r| r.scenario));
    let started = tokio::task::spawn_blocking(move || started.join()).await.expect("joined").expect("no panic on a plain thread");
    assert_eq!(started.expect("the load starts"), "get");
    let report = load_over(&cluster).await;
    assert!(report.ok >= 40 && report.errors.total() == 0, "{report:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_on_the_bundled_cluster_draws_the_topology() {
    let (cluster, _dir) = samples::bundled_cluster().await;
    samples::wait_all_ready(&cluster).await;
    cluster.start_load("browse", 30.0, None).expect("browse starts");
    let wanted = [("gateway", "auth"), ("gateway", "users"), ("gateway", "media"), ("users", "analytics")];
    let end = std::time::Instant::now() + LONG;
    let topology = loop {
        let t = cluster.topology().await.expect("topology");
        let has = |(from, to): (&str, &str)| t.edges.iter().any(|e| e.caller == from && e.callee == to && e.rps > 0.0);
        if wanted.iter().all(|w| has(*w)) {
            break t;
        }
        assert!(std::time::Instant::now() < end, "edges missing after browse: {:?}", t.edges);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    cluster.stop_load().expect("stop");
    for e in &topology.edges {
        println!("edge {} -> {}: {:.1} rps, {} requests", e.caller, e.callee, e.rps, e.requests);
    }
    assert!(topology.edges.iter().any(|e| e.caller == "external" && e.callee == "gateway"));
    cluster.shutdown().await;
}

/// The knobs each ready replica of `service` reports (`GET /admin/knobs` on its own port).
async fn replica_knobs(cluster: &Cluster, service: &str) -> Vec<Value> {
    let snap = cluster.snapshot();
    let s = snap.services.iter().find(|s| s.name == service).expect("the service");
    let mut out = Vec::new();
    for r in s.replicas.iter().filter(|r| r.state == ReplicaState::Ready) {
        let url = format!("http://127.0.0.1:{}/admin/knobs", r.port);
        let answer = reqwest::Client::builder().no_proxy().build().expect("client").get(&url).send().await.expect("knobs answer");
        out.push(answer.json::<Value>().await.expect("knobs as JSON"));
    }
    out
}

/// Knobs hold for the service: replicas started after they were set — by a scale-up, then by
/// a rolling restart — serve with them too, so a service slowed on screen stays slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knobs_set_on_a_service_hold_for_replicas_started_later() {
    let (cluster, _dir) = samples::bundled_cluster().await;
    samples::wait_all_ready(&cluster).await;
    let took = cluster.set_knobs("auth", &serde_json::json!({ "work_ms": 37, "max_inflight": 3 })).await.expect("knobs");
    assert_eq!(took, 1);
    let has_knobs = |k: &Value| k["work_ms"] == 37 && k["max_inflight"] == 3;
    cluster.scale("auth", 3).await.expect("scale");
    let first = ready_pids(&cluster, "auth", 3).await;
    let knobs = replica_knobs(&cluster, "auth").await;
    assert!(knobs.len() == 3 && knobs.iter().all(has_knobs), "after a scale-up: {knobs:?}");
    cluster.restart_service("auth").await.expect("restart");
    poll_until_async("auth's three replicas replaced", LONG, || {
        let snap = cluster.snapshot();
        let s = snap.services.iter().find(|s| s.name == "auth")?;
        let pids: Vec<u32> = s.replicas.iter().filter(|r| r.state == ReplicaState::Ready).filter_map(|r| r.pid).collect();
        (pids.len() == 3 && s.replicas.len() == 3 && pids.iter().all(|p| !first.contains(p))).then_some(())
    })
    .await;
    let knobs = replica_knobs(&cluster, "auth").await;
    assert!(knobs.len() == 3 && knobs.iter().all(has_knobs), "after a rolling restart: {knobs:?}");
    // Another service's replicas keep the manifest's values.
    let media = replica_knobs(&cluster, "media").await;
    assert!(!media.is_empty() && media.iter().all(|k| k["work_ms"] != 37), "{media:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_from_the_real_api_parse_as_prometheus_text() {
    let (cluster, dir) = cluster(&api_manifest(2)).await;
    ready_pids(&cluster, "api", 2).await;
    let handle = web::serve_for(
        cluster.clone(),
        WebOptions {
            port: 0,
            ui_dir: Some(dir.path().join("no-ui")),
            token_file: Some(dir.path().join("config/token")),
            state_file: Some(dir.path().join("runtime/api.json")),
        },
    )
    .await
    .expect("API up");
    let token = std::fs::read_to_string(dir.path().join("config/token")).expect("token").trim().to_owned();
    let addr = cluster.address("api").expect("address");
    let client = reqwest::Client::new();
    for path in ["/a", "/status/503", "/b"] {
        client.get(format!("http://{addr}{path}")).header("x-microdeck-caller", "no-such-service").send().await.expect("answered");
    }
    totals_of(&cluster, "api", 3).await;
    let unauthorized = client.get(format!("{}/metrics", handle.url)).send().await.expect("answered");
    assert_eq!(unauthorized.status().as_u16(), 401, "/metrics is behind the token");
    let resp = client.get(format!("{}/metrics", handle.url)).bearer_auth(&token).send().await.expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
    let text = resp.text().await.expect("text");
    let families = parse(&text);
    let requests = families.iter().find(|f| f["name"] == "microdeck_requests").expect("requests family");
    let total: f64 = requests["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| s["name"] == "microdeck_requests_total" && s["labels"]["service"] == "api")
        .map(|s| s["value"].as_f64().expect("value"))
        .sum();
    assert_eq!(total, 3.0);
    let edges = families.iter().find(|f| f["name"] == "microdeck_edge_requests").expect("edges family");
    // A caller that is no service of the cluster counts as external.
    let callers: Vec<&Value> = edges["samples"].as_array().expect("samples").iter().map(|s| &s["labels"]["caller"]).collect();
    assert!(!callers.is_empty() && callers.iter().all(|c| *c == "external"), "{callers:?}");
    // The JSON routes answer too.
    let topo: Value = client.get(format!("{}/api/topology", handle.url)).bearer_auth(&token).send().await.expect("answered").json().await.expect("json");
    assert!(topo["edges"].as_array().is_some_and(|e| e.iter().any(|e| e["caller"] == "external" && e["callee"] == "api")), "{topo}");
    let series: Value = client.get(format!("{}/api/services/api/series?window=60", handle.url)).bearer_auth(&token).send().await.expect("answered").json().await.expect("json");
    assert_eq!(series["service"], "api");
    let missing = client.get(format!("{}/api/services/nope/series", handle.url)).bearer_auth(&token).send().await.expect("answered");
    assert_eq!(missing.status().as_u16(), 404);
    handle.shutdown().await;
    cluster.shutdown().await;
}

/// Runs the reference parser (tests/tools/parse_prometheus.py) over `text`.
fn parse(text: &str) -> Vec<Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = workspace_root().join("tests/tools/parse_prometheus.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser output");
    assert!(out.status.success(), "the parser rejected the text: {}\n---\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("parser json")
}
