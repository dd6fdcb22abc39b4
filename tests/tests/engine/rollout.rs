//! Deploys and rollouts with real processes under open-loop load through the service's
//! address: a good version goes out with no failed request; a version whose health fails or
//! that crashes at start stops within its progress deadline and goes back (auto) or waits for
//! an undo (manual); the history says what changed.

use std::time::{Duration, Instant};

use microdeck::cluster::Cluster;
use microdeck::loadgen::LoadReport;
use microdeck::snapshot::{EventKind, ReplicaState, RolloutState, ServiceView};
use microdeck::supervisor::revision::EnvChange;

use super::util::*;

const LONG: Duration = Duration::from_secs(40);

fn manifest(replicas: u32, deadline: &str, rollback: &str) -> String {
    format!(
        r#"
name = "rollouts"
[services.api]
command = "mdk-testsvc"
replicas = {replicas}
stop_grace = "2s"
progress_deadline = "{deadline}"
rollback = "{rollback}"
health = {{ http = "/health", interval = "1s" }}

[[load.scenario]]
name = "get"
target = "api"

[[load.scenario.request]]
method = "GET"
path = "/hello"
"#
    )
}

fn set(pairs: &[(&str, &str)]) -> EnvChange {
    EnvChange { set: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..EnvChange::default() }
}

fn api(cluster: &Cluster) -> ServiceView {
    cluster.rollout_status("api").expect("api's view")
}

/// Every replica ready, on `revision`, and none other left.
fn all_on(view: &ServiceView, revision: u32) -> bool {
    view.replicas.len() == view.desired as usize
        && view.replicas.iter().all(|r| r.state == ReplicaState::Ready && r.revision == revision)
}

async fn rollout_in(cluster: &Cluster, state: RolloutState) -> ServiceView {
    poll_until_async(&format!("the rollout {state:?}"), LONG, || Some(api(cluster)).filter(|v| v.rollout.as_ref().is_some_and(|r| r.state == state))).await
}

async fn load_running(cluster: &Cluster, rate: f64) {
    cluster.start_load("get", rate, None).expect("load starts");
    poll_until_async("load running", LONG, || cluster.load_report().filter(|r| r.ok > 50)).await;
}

async fn stop_load(cluster: &Cluster) -> LoadReport {
    cluster.stop_load().expect("stop");
    poll_until_async("the load run to end", LONG, || cluster.load_report().filter(|r| r.state.is_over())).await
}

/// The `x-version` header of an answer through the service's address.
async fn version_served(cluster: &Cluster) -> String {
    let addr = cluster.address("api").expect("address");
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let answer = client.get(format!("http://{addr}/hello")).send().await.expect("answered");
    answer.headers().get("x-version").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_under_300_rps_fails_no_request_and_ends_with_every_replica_on_the_new_revision() {
    let (cluster, _dir) = cluster(&manifest(3, "30s", "auto")).await;
    let first = poll_until_async("api ready", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 1))).await;
    let old_pids: Vec<u32> = first.replicas.iter().filter_map(|r| r.pid).collect();
    assert_eq!(version_served(&cluster).await, "1");
    load_running(&cluster, 300.0).await;
    let outcome = cluster.deploy("api", set(&[("VERSION", "2")])).await.expect("deploy");
    assert_eq!((outcome.revision, outcome.rolling), (2, true));
    assert_eq!(outcome.changes, ["env VERSION: (unset) → 2"]);
    // Never fewer ready replicas than asked for while it rolls.
    let mut fewest = 3;
    let done = poll_until_async("the rollout complete", LONG, || {
        let v = api(&cluster);
        fewest = fewest.min(v.ready);
        v.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Complete).then_some(v)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = stop_load(&cluster).await;
    println!("rollout under 300 rps: sent {} ok {} errors {:?} latency {:?}; fewest ready {fewest}", report.sent, report.ok, report.errors, report.latency);
    assert!(all_on(&done, 2), "{done:?}");
    assert!(done.replicas.iter().all(|r| r.pid.is_some_and(|p| !old_pids.contains(&p))), "every process is new: {done:?}");
    let rollout = done.rollout.as_ref().expect("rollout");
    assert_eq!((rollout.from, rollout.to, rollout.updated, rollout.desired), (1, 2, 3, 3));
    assert!(fewest >= 3, "a replica left before its successor was ready ({fewest} ready)");
    assert!(report.sent > 300, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(version_served(&cluster).await, "2");
    // The traffic by revision: old and new both served, and they add up to the service's total.
    let end = Instant::now() + LONG;
    let api_totals = loop {
        let all = cluster.traffic_totals().await.expect("totals");
        let t = all.into_iter().find(|t| t.service == "api").expect("api counted");
        if t.requests > report.sent || Instant::now() > end {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let by_revision: Vec<(u32, u64)> = api_totals.revisions.iter().map(|r| (r.revision, r.requests)).collect();
    println!("api: {} requests, by revision {by_revision:?}", api_totals.requests);
    assert_eq!(by_revision.iter().map(|(_, n)| n).sum::<u64>(), api_totals.requests, "{by_revision:?}");
    assert!(by_revision.len() == 2 && by_revision.iter().all(|(_, n)| *n > 0), "both revisions served: {by_revision:?}");
    let series = cluster.revision_series("api", Duration::from_secs(60)).await.expect("series");
    assert_eq!(series.iter().map(|s| s.revision).collect::<Vec<_>>(), [1, 2]);
    // Each replica's step is in the events, and the end.
    let events = cluster.events().await;
    let steps = events.iter().filter(|e| e.kind == EventKind::Rollout && e.message.contains("on revision 2:")).count();
    assert_eq!(steps, 3, "{events:?}");
    assert!(events.iter().any(|e| e.kind == EventKind::Rollout && e.message == "rollout of revision 2 complete"));
    cluster.shutdown().await;
}

/// Deploys a bad release under load; returns the view once the rollout stopped, how long
/// that took, and the load's report.
async fn bad_release(cluster: &Cluster, bad: &str, stopped: RolloutState) -> (ServiceView, Duration, LoadReport) {
    poll_until_async("api ready", LONG, || Some(api(cluster)).filter(|v| all_on(v, 1))).await;
    load_running(cluster, 100.0).await;
    let started = Instant::now();
    let outcome = cluster.deploy("api", set(&[("VERSION", "2"), ("BAD_RELEASE", bad)])).await.expect("deploy");
    assert!(outcome.rolling);
    poll_until_async("the rollout stopped", LONG, || Some(api(cluster)).filter(|v| v.rollout.as_ref().is_some_and(|r| r.reason.is_some()))).await;
    let took = started.elapsed();
    let view = rollout_in(cluster, stopped).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    (view, took, stop_load(cluster).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_health_fails_stops_within_its_deadline_and_goes_back_by_itself() {
    let (cluster, _dir) = cluster(&manifest(2, "2s", "auto")).await;
    let (back, took, report) = bad_release(&cluster, "health", RolloutState::RolledBack).await;
    println!("bad health: stopped after {took:?}; load {:?} errors of {}", report.errors, report.sent);
    assert!(took < Duration::from_secs(4), "stopped {took:?} after the deploy, past its 2 s deadline");
    let reason = back.rollout.as_ref().and_then(|r| r.reason.clone()).expect("a reason");
    assert!(reason.starts_with("rollout of revision 2 failed: replica 0 not ready within 2s"), "{reason}");
    assert!(reason.contains("503"), "the last probe's error: {reason}");
    assert_eq!(back.revision, 1);
    let back = poll_until_async("every replica on revision 1", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 1))).await;
    assert_eq!(back.ready, 2);
    assert_eq!(report.errors.total(), 0, "{report:?}");
    let events = cluster.events().await;
    assert!(events.iter().any(|e| e.kind == EventKind::Rollout && e.message == reason), "{events:?}");
    assert!(events.iter().any(|e| e.kind == EventKind::Rollout && e.message == "rolled back to revision 1"));
    assert_eq!(version_served(&cluster).await, "1");
    let history = cluster.rollout_history("api").await.expect("history");
    assert_eq!(history.iter().map(|r| (r.revision, r.current, r.failed.is_some())).collect::<Vec<_>>(), [(2, false, true), (1, true, false)]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_crashes_at_start_stops_the_rollout_and_goes_back_by_itself() {
    let (cluster, _dir) = cluster(&manifest(2, "5s", "auto")).await;
    let (back, took, report) = bad_release(&cluster, "crash", RolloutState::RolledBack).await;
    println!("crash at start: stopped after {took:?}; load {:?} errors of {}", report.errors, report.sent);
    assert!(took < Duration::from_secs(5), "an exit stops the rollout at once, not at the deadline: {took:?}");
    let reason = back.rollout.as_ref().and_then(|r| r.reason.clone()).expect("a reason");
    assert!(reason.contains("replica 0 of revision 2 exited with code 1"), "{reason}");
    let back = poll_until_async("every replica on revision 1", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 1))).await;
    assert_eq!((back.revision, back.ready), (1, 2));
    assert_eq!(report.errors.total(), 0, "{report:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_manual_rollback_a_bad_version_waits_beside_the_old_replicas_until_undo() {
    let (cluster, _dir) = cluster(&manifest(2, "2s", "manual")).await;
    let (paused, took, report) = bad_release(&cluster, "health", RolloutState::Paused).await;
    println!("manual: paused after {took:?}; load {:?} errors of {}", report.errors, report.sent);
    assert_eq!(paused.revision, 2, "the service stays on the new revision until the user acts");
    // The old replicas still serve, all of them, for a while.
    load_running(&cluster, 100.0).await;
    for _ in 0..10 {
        let v = api(&cluster);
        let old_ready = v.replicas.iter().filter(|r| r.revision == 1 && r.state == ReplicaState::Ready).count();
        assert_eq!(old_ready, 2, "{v:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A scale-up beside the paused rollout adds a replica of the revision that works.
    cluster.scale("api", 3).await.expect("scale");
    let scaled = poll_until_async("a third replica ready", LONG, || {
        Some(api(&cluster)).filter(|v| v.replicas.iter().any(|r| r.index == 2 && r.state == ReplicaState::Ready))
    })
    .await;
    let third = scaled.replicas.iter().find(|r| r.index == 2).map(|r| r.revision);
    assert_eq!(third, Some(1), "the new replica runs revision 1, not the release that stopped: {scaled:?}");
    let undo = cluster.rollout_undo("api", None).await.expect("undo");
    assert_eq!(undo.revision, 3, "an undo is a new revision");
    assert!(undo.changes.iter().any(|c| c == "env BAD_RELEASE: health → (unset)"), "{:?}", undo.changes);
    rollout_in(&cluster, RolloutState::Complete).await;
    poll_until_async("every replica on revision 3", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 3))).await;
    let report = stop_load(&cluster).await;
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(version_served(&cluster).await, "1");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_lists_each_revision_with_what_changed_and_undo_returns_to_the_previous() {
    let (cluster, _dir) = cluster(&manifest(1, "30s", "auto")).await;
    poll_until_async("api ready", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 1))).await;
    cluster.deploy("api", set(&[("VERSION", "2")])).await.expect("deploy 2");
    poll_until_async("revision 2 out", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 2))).await;
    cluster.deploy("api", set(&[("VERSION", "3")])).await.expect("deploy 3");
    poll_until_async("revision 3 out", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 3))).await;
    let same = cluster.deploy("api", set(&[("VERSION", "3")])).await.expect("the same again");
    assert_eq!((same.revision, same.rolling, same.changes.len()), (3, false, 0), "no new revision for no change");
    let history = cluster.rollout_history("api").await.expect("history");
    let lines: Vec<(u32, String, Vec<String>)> = history.iter().map(|r| (r.revision, r.cause.clone(), r.changes.clone())).collect();
    assert_eq!(
        lines,
        [
            (3, "deploy VERSION=3".to_string(), vec!["env VERSION: 2 → 3".to_string()]),
            (2, "deploy VERSION=2".to_string(), vec!["env VERSION: (unset) → 2".to_string()]),
            (1, "start".to_string(), vec![]),
        ]
    );
    let undo = cluster.rollout_undo("api", None).await.expect("undo");
    assert_eq!((undo.revision, undo.changes.clone()), (4, vec!["env VERSION: 3 → 2".to_string()]));
    poll_until_async("revision 4 out", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 4))).await;
    assert_eq!(version_served(&cluster).await, "2");
    assert_eq!(api(&cluster).deployed, set(&[("VERSION", "2")]));
    let bad = cluster.deploy("api", set(&[("PORT", "80")])).await.expect_err("PORT is microdeck's");
    assert_eq!(bad.code(), "invalid-argument");
    assert_eq!(cluster.rollout_undo("api", Some(99)).await.expect_err("no such revision").code(), "invalid-argument");
    cluster.shutdown().await;
}

/// The body of a GET through the service's address.
async fn get_text(cluster: &Cluster, path: &str) -> String {
    let addr = cluster.address("api").expect("address");
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    client.get(format!("http://{addr}{path}")).send().await.expect("answered").text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_deploy_and_applies_a_changed_file_with_the_deploy_on_top() {
    let template = manifest(2, "30s", "auto").replace("rollback = \"auto\"", "rollback = \"auto\"\nenv = { GREETING = \"hi\" }");
    let (cluster, dir) = cluster(&template).await;
    poll_until_async("api ready", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 1))).await;
    cluster.deploy("api", set(&[("VERSION", "2")])).await.expect("deploy");
    let deployed = poll_until_async("revision 2 out", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 2))).await;
    let pids: Vec<Option<u32>> = deployed.replicas.iter().map(|r| r.pid).collect();

    // The same file again: nothing changes, the deployed revision keeps running.
    let same = cluster.reload_from_source().await.expect("reload");
    assert_eq!((same.unchanged.clone(), same.deployed_on_top.clone()), (vec!["api".to_string()], vec!["api".to_string()]), "{same:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = api(&cluster);
    assert_eq!((kept.revision, kept.replicas.iter().map(|r| r.pid).collect::<Vec<_>>()), (2, pids));

    // A changed file: its definition with the deploy on top, as revision 3.
    std::fs::write(dir.path().join("cluster.toml"), manifest_text(&template.replace("\"hi\"", "\"hello\""))).expect("edit");
    let changed = cluster.reload_from_source().await.expect("reload");
    assert_eq!((changed.changed.clone(), changed.deployed_on_top.clone()), (vec!["api".to_string()], vec!["api".to_string()]));
    assert!(changed.summary().contains("deployed changes kept on top of the file: api"), "{}", changed.summary());
    poll_until_async("revision 3 out", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 3))).await;
    assert_eq!((get_text(&cluster, "/env/GREETING").await, get_text(&cluster, "/env/VERSION").await), ("hello".to_string(), "2".to_string()));
    let history = cluster.rollout_history("api").await.expect("history");
    assert_eq!(history[0].cause, "manifest reloaded (deployed VERSION=2 kept on top)");
    assert_eq!(history[0].changes, ["env GREETING: hi → hello"]);
    let events = cluster.events().await;
    assert!(events.iter().any(|e| e.kind == EventKind::Deployed && e.message.contains("kept on top")), "{events:?}");

    // A new address and a changed file: the service starts over there, its revisions and its
    // deploy going on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let moved = template.replace("\"hi\"", "\"hey\"").replace("[services.api]\n", &format!("[services.api]\nport = {port}\n"));
    std::fs::write(dir.path().join("cluster.toml"), manifest_text(&moved)).expect("edit");
    let report = cluster.reload_from_source().await.expect("reload");
    assert_eq!(report.changed, ["api"], "{report:?}");
    assert_eq!(cluster.address("api").map(|a| a.port()), Ok(port));
    poll_until_async("revision 4 ready at the new address", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 4))).await;
    assert_eq!((get_text(&cluster, "/env/GREETING").await, get_text(&cluster, "/env/VERSION").await), ("hey".to_string(), "2".to_string()));
    let history = cluster.rollout_history("api").await.expect("history");
    assert_eq!(history.iter().map(|r| r.revision).collect::<Vec<_>>(), [4, 3, 2, 1]);
    assert_eq!(history[0].cause, "manifest reloaded at a new address (deployed VERSION=2 kept on top)");
    assert_eq!(history[0].changes, ["env GREETING: hello → hey"]);
    // Only the address moves: the same processes start there, on the same revision.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let moved = template.replace("\"hi\"", "\"hey\"").replace("[services.api]\n", &format!("[services.api]\nport = {port}\n"));
    std::fs::write(dir.path().join("cluster.toml"), manifest_text(&moved)).expect("edit");
    cluster.reload_from_source().await.expect("reload");
    assert_eq!(cluster.address("api").map(|a| a.port()), Ok(port));
    poll_until_async("revision 4 ready again", LONG, || Some(api(&cluster)).filter(|v| all_on(v, 4))).await;
    assert_eq!(cluster.rollout_history("api").await.expect("history").len(), 4);
    cluster.shutdown().await;
}
