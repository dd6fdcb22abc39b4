//! `Cluster::reload` with real processes: a changed service rolls onto its new definition
//! while its address keeps answering, a new one starts, a removed one stops and frees its
//! port, an unchanged one keeps its processes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use microdeck::cluster::{Cluster, ClusterError, ReloadReport};
use microdeck::snapshot::{EventKind, ServiceState, ServiceView};

use super::util::*;
use super::LONG;

const BEFORE: &str = r#"
name = "reload"
[services.keep]
command = "mdk-testsvc"
health = { http = "/health" }
[services.web]
command = "mdk-testsvc"
args = ["--start-delay-ms", "300"]
replicas = 2
env = { GREETING = "hello" }
health = { http = "/health" }
stop_grace = "2s"
[services.gone]
command = "mdk-testsvc"
health = { http = "/health" }
"#;

/// The user's edit: `web`'s env changes, `gone` goes, `fresh` comes (after `keep`), `keep` stays.
fn after() -> String {
    let edited = BEFORE.replace("GREETING = \"hello\"", "GREETING = \"bonjour\"").replace("[services.gone]", "[services.fresh]");
    format!("{edited}depends_on = [\"keep\"]\n")
}

fn view(c: &Cluster, name: &str) -> Option<ServiceView> {
    c.snapshot().services.into_iter().find(|s| s.name == name)
}

fn pids(v: &ServiceView) -> BTreeSet<u32> {
    v.replicas.iter().filter_map(|r| r.pid).collect()
}

fn all_ready(c: &Cluster) -> Option<()> {
    let snap = c.snapshot();
    snap.services.iter().all(|s| s.state == ServiceState::Ready && s.ready == s.desired).then_some(())
}

/// The manifest read from `file` as a user's edit would leave it.
fn reread(file: &std::path::Path) -> microdeck::manifest::Manifest {
    microdeck::manifest::load_file(file).expect("valid manifest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_rolls_the_changed_adds_the_new_stops_the_removed_and_leaves_the_rest() {
    let (cluster, dir) = cluster(BEFORE).await;
    poll_until_async("every service ready", LONG, || all_ready(&cluster)).await;
    let keep_before = pids(&view(&cluster, "keep").expect("keep"));
    let web_before = view(&cluster, "web").expect("web");
    let gone = view(&cluster, "gone").expect("gone");
    let gone_pids = pids(&gone);
    assert_eq!(keep_before.len(), 1);
    assert_eq!(pids(&web_before).len(), 2);
    let web_addr = web_before.address.clone();
    assert_eq!(http_get(&web_addr, "/env/GREETING").expect("greeting"), "hello");

    // Requests through web's address, all through the reload: none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let client = {
        let (stop, ok, failed, addr) = (stop.clone(), ok.clone(), failed.clone(), web_addr.clone());
        std::thread::spawn(move || {
            let (mut errors, mut answered_by) = (vec![], BTreeSet::new());
            while !stop.load(Ordering::Relaxed) {
                match http_get(&addr, "/sleep/20") {
                    Ok(body) => {
                        answered_by.extend(serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| v["pid"].as_u64()));
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        errors.push(e.to_string());
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            (errors, answered_by)
        })
    };
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, manifest_text(&after())).expect("edit the manifest");
    let report = tokio::time::timeout(LONG, cluster.reload(reread(&file))).await.expect("reload in time").expect("reload");
    assert_eq!(
        report,
        ReloadReport { changed: vec!["web".into()], added: vec!["fresh".into()], removed: vec!["gone".into()], unchanged: vec!["keep".into()], deployed_on_top: vec![] }
    );

    // The removed service: its processes gone, its port free again, out of the snapshot.
    assert!(view(&cluster, "gone").is_none(), "gone still in the snapshot");
    assert!(gone_pids.iter().all(|p| !alive(*p)), "gone's processes outlived the reload");
    std::net::TcpListener::bind(("127.0.0.1", gone.port)).expect("gone's port is free after the reload");

    // The changed service rolls onto its new env: new pids, both ready, the new value in effect.
    let rolled = poll_until_async("web rolled onto its new definition", LONG, || {
        view(&cluster, "web").filter(|w| w.ready == 2 && w.replicas.len() == 2 && pids(w).len() == 2 && pids(w).is_disjoint(&pids(&web_before)))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let (errors, answered_by) = tokio::task::spawn_blocking(move || client.join().expect("client thread")).await.expect("join");
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("requests through web's address during the reload: {ok} ok, {failed} failed");
    assert_eq!(failed, 0, "requests failed during the roll, the first: {:?}", &errors[..errors.len().min(3)]);
    // The requests spanned the roll: old and new replicas answered some.
    let answered_by: BTreeSet<u32> = answered_by.into_iter().filter_map(|p| u32::try_from(p).ok()).collect();
    assert!(!answered_by.is_disjoint(&pids(&web_before)), "no request reached an old replica: {answered_by:?}");
    assert!(!answered_by.is_disjoint(&pids(&rolled)), "no request reached a new replica: {answered_by:?}");
    assert_eq!(rolled.address, web_addr, "a changed service keeps its address");
    assert_eq!(http_get(&web_addr, "/env/GREETING").expect("greeting"), "bonjour");
    assert!(pids(&web_before).iter().all(|p| !alive(*p)), "web's old replicas were stopped");

    // The added service: ready and answering on its own address.
    let fresh = poll_until_async("fresh ready", LONG, || view(&cluster, "fresh").filter(|f| f.state == ServiceState::Ready)).await;
    let body = http_get(&fresh.address, "/").expect("fresh answers");
    assert!(body.contains("\"service\":\"fresh\""), "{body}");
    // Its logs and resources are kept like every other service's.
    poll_until_async("fresh's resources sampled", LONG, || {
        view(&cluster, "fresh").filter(|f| f.rss_bytes > 0)
    })
    .await;
    let query = microdeck::cluster::LogQuery { service: Some("fresh".into()), text: Some("listening on".into()), ..Default::default() };
    assert!(!cluster.logs(&query).await.is_empty(), "fresh's log is captured");
    let measured = async {
        loop {
            let totals = cluster.traffic_totals().await.expect("totals");
            if totals.iter().any(|t| t.service == "fresh" && t.requests >= 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(LONG, measured).await.expect("fresh's traffic is measured");

    // The unchanged one kept its process and saw no event since the reload began.
    assert_eq!(pids(&view(&cluster, "keep").expect("keep")), keep_before);
    assert!(keep_before.iter().all(|p| alive(*p)));
    let events = cluster.events().await;
    let reloaded = events.iter().find(|e| e.kind == EventKind::Reloaded).expect("a reloaded event");
    assert_eq!(reloaded.service, "reload");
    assert!(reloaded.message.contains("1 changed (web)") && reloaded.message.contains("1 removed (gone)"), "{}", reloaded.message);
    let keep_after: Vec<_> = events.iter().filter(|e| e.service == "keep" && e.seq > reloaded.seq).collect();
    assert!(keep_after.is_empty(), "keep was touched: {keep_after:?}");
    // The changed service's new definition is its next revision, rolled out.
    let deployed = events.iter().find(|e| e.service == "web" && e.kind == EventKind::Deployed && e.seq > reloaded.seq).expect("web's new revision");
    assert!(deployed.message.starts_with("revision 2 (manifest reloaded)") && deployed.message.contains("env GREETING"), "{}", deployed.message);
    assert!(events.iter().any(|e| e.service == "web" && e.kind == EventKind::Rollout && e.message == "rollout of revision 2 complete"), "{events:?}");

    tokio::time::timeout(Duration::from_secs(15), cluster.shutdown()).await.expect("shutdown in time");
    let last: Vec<u32> = [rolled, fresh].iter().flat_map(pids).collect();
    assert!(last.iter().all(|p| !alive(*p)), "shutdown stopped the new processes too");
    assert_eq!(cluster.reload(reread(&file)).await, Err(ClusterError::ShuttingDown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reloads_at_once_run_one_after_the_other() {
    let one = "name = \"twice\"\n[services.a]\ncommand = \"sleep\"\nargs = [\"1000\"]\n";
    let (cluster, dir) = cluster(one).await;
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, format!("{one}[services.b]\ncommand = \"sleep\"\nargs = [\"1001\"]\n")).expect("write");
    let with_b = reread(&file);
    std::fs::write(&file, format!("{one}[services.c]\ncommand = \"sleep\"\nargs = [\"1002\"]\n")).expect("write");
    let with_c = reread(&file);
    let (first, second) = tokio::time::timeout(LONG, async { tokio::join!(cluster.reload(with_b), cluster.reload(with_c)) }).await.expect("in time");
    let (first, second) = (first.expect("first reload"), second.expect("second reload"));
    // The second saw the first's result: b running (so removed now), a untouched throughout.
    assert_eq!(first, ReloadReport { added: vec!["b".into()], unchanged: vec!["a".into()], ..ReloadReport::default() });
    assert_eq!(second, ReloadReport { added: vec!["c".into()], removed: vec!["b".into()], unchanged: vec!["a".into()], ..ReloadReport::default() });
    let names: Vec<String> = cluster.snapshot().services.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "c"]);
    tokio::time::timeout(Duration::from_secs(15), cluster.shutdown()).await.expect("shutdown in time");
}

/// What a service that joined a cluster shows, however it joined: its events, its traffic
/// measured, its address serving every replica (after a scale too), its log and resources.
#[derive(Debug, PartialEq)]
struct Joined {
    event_kinds: Vec<String>,
    requests: u64,
    metric_names: BTreeSet<String>,
    replicas_served: Vec<u32>,
    replicas_served_after_scale: Vec<u32>,
    logged: bool,
    sampled: bool,
}

async fn joined(cluster: &Cluster, name: &str) -> Joined {
    let ready = |c: &Cluster, n: u32| view(c, name).filter(|v| v.state == ServiceState::Ready && v.ready == n);
    let v = poll_until_async("the service ready", LONG, || ready(cluster, 2)).await;
    let served = |count: usize| {
        let addr = v.address.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut by: BTreeSet<u32> = BTreeSet::new();
                for _ in 0..count {
                    by.extend(replica_of(&http_get(&addr, "/").expect("answered")).map(|r| r as u32));
                }
                by.into_iter().collect::<Vec<u32>>()
            })
            .await
            .expect("client")
        }
    };
    let replicas_served = served(6).await;
    let measured = async {
        loop {
            let totals = cluster.traffic_totals().await.expect("totals");
            if let Some(t) = totals.iter().find(|t| t.service == name && t.requests >= 6) {
                return t.requests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let requests = tokio::time::timeout(LONG, measured).await.expect("the requests are measured");
    cluster.scale(name, 3).await.expect("scale");
    poll_until_async("three ready", LONG, || ready(cluster, 3)).await;
    let replicas_served_after_scale = served(9).await;
    let sampled = poll_until_async("resources sampled", LONG, || view(cluster, name).filter(|v| v.rss_bytes > 0)).await.rss_bytes > 0;
    // Its series, the resource ones included once a reading has reached the metrics.
    let label = format!("service=\"{name}\"");
    let metric_names = tokio::time::timeout(LONG, async {
        loop {
            let metrics = cluster.prometheus().await.expect("metrics");
            let names: BTreeSet<String> =
                metrics.lines().filter(|l| !l.starts_with('#') && l.contains(&label)).filter_map(|l| l.split('{').next()).map(str::to_string).collect();
            if names.contains("microdeck_rss_bytes") {
                return names;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the resource series");
    let query = microdeck::cluster::LogQuery { service: Some(name.into()), text: Some("listening on".into()), ..Default::default() };
    let logged = !cluster.logs(&query).await.is_empty();
    let mut event_kinds: Vec<String> = cluster.events().await.iter().filter(|e| e.service == name).map(|e| format!("{:?}", e.kind)).collect();
    event_kinds.sort();
    Joined { event_kinds, requests, metric_names, replicas_served, replicas_served_after_scale, logged, sampled }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_added_by_reload_joins_as_one_started_at_launch_does() {
    let base = "name = \"join\"\n[services.base]\ncommand = \"sleep\"\nargs = [\"1000\"]\n";
    let web = "[services.web]\ncommand = \"mdk-testsvc\"\nreplicas = 2\nhealth = { http = \"/health\", interval = \"200ms\" }\n";
    let (at_launch, _dir) = cluster(&format!("{base}{web}")).await;
    let launched = joined(&at_launch, "web").await;
    tokio::time::timeout(Duration::from_secs(15), at_launch.shutdown()).await.expect("shutdown in time");

    let (by_reload, dir) = cluster(base).await;
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, manifest_text(&format!("{base}{web}"))).expect("edit the manifest");
    let report = by_reload.reload(reread(&file)).await.expect("reload");
    assert_eq!(report.added, ["web"]);
    let reloaded = joined(&by_reload, "web").await;
    tokio::time::timeout(Duration::from_secs(15), by_reload.shutdown()).await.expect("shutdown in time");

    // What each shows on its own, so equal cannot mean equally empty.
    assert_eq!(launched.requests, 6);
    assert_eq!(launched.replicas_served, [0, 1], "both replicas are in the address");
    assert_eq!(launched.replicas_served_after_scale, [0, 1, 2], "the address follows a scale");
    assert!(launched.metric_names.contains("microdeck_requests_total"), "{:?}", launched.metric_names);
    assert!(launched.event_kinds.iter().filter(|k| *k == "Ready").count() >= 3, "{:?}", launched.event_kinds);
    assert!(launched.logged && launched.sampled);
    assert_eq!(reloaded, launched, "a service added by a reload joins as one started at launch");
}
