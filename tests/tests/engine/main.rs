//! The engine with real processes: `microdeck up` (or a `Cluster` in this process, for
//! commands) over `mdk-testsvc`. Timing matters here: run with `--test-threads=1`
//! (`make test` does).

mod autoscale;
mod faults;
mod feed;
mod lessons;
mod local_api;
mod members;
mod polish;
mod reload;
mod rollout;
mod replica_port;
mod run_folder;
mod stop_signal;
mod util;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use microdeck::snapshot::{EventKind, ReplicaState, ServiceState};
use util::*;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn three_services_come_up_and_a_killed_replica_comes_back() {
    let up = Up::start(
        r#"
name = "three"
[services.api]
command = "mdk-testsvc"
replicas = 2
health = { http = "/health", interval = "10s" }
[services.tcp]
command = "mdk-testsvc"
args = ["--tcp"]
protocol = "tcp"
health = { tcp = true }
[services.worker]
shell = "sleep 1001 & exec sleep 1000"
depends_on = ["api"]
"#,
    );
    let snap = up.wait_all_ready(LONG);
    assert_eq!(snap.services.len(), 3);
    // `depends_on`: the worker started only once an api replica was ready.
    let events = up.events();
    let api_ready = events.iter().find(|e| e.service == "api" && e.kind == EventKind::Ready).expect("api ready event");
    let worker_started = events.iter().find(|e| e.service == "worker" && e.kind == EventKind::Started).expect("worker started");
    assert!(worker_started.seq > api_ready.seq, "worker started before api was ready: {events:?}");
    // Starting replicas are probed fast: ready well before the 10 s probe interval.
    let api_started = events.iter().find(|e| e.service == "api" && e.replica == api_ready.replica && e.kind == EventKind::Started).expect("api started");
    assert!(api_started.seq < api_ready.seq, "api ready before it started: {events:?}");
    // Two readings of the wall clock, which may step: never negative.
    let to_ready = api_ready.at.saturating_sub(api_started.at);
    println!("api replica ready {to_ready} ms after start");
    assert!(to_ready < 5000, "ready seen {to_ready} ms after start");
    // Resources: sampled once a second for every replica and the engine.
    let sampled = poll_until("memory figures", LONG, || {
        up.snapshot().filter(|s| s.engine.rss_bytes > 0 && s.services.iter().all(|v| v.replicas.iter().all(|r| r.rss_bytes > 0)))
    });
    assert_eq!(sampled.engine.pid, up.pid());
    // A replica's memory counts its program's children (here the `sleep 1001`).
    let worker = sampled.services.iter().find(|s| s.name == "worker").expect("worker").replicas[0].clone();
    let own = rss(worker.pid.expect("worker pid"));
    assert!(worker.rss_bytes > own, "replica {} bytes vs its program alone {own}", worker.rss_bytes);
    let api = snap.services.iter().find(|s| s.name == "api").expect("api");
    assert_eq!(api.replicas.len(), 2);
    let old = api.replicas[0].pid.expect("a pid");
    assert!(alive(old));

    // SAFETY: kill(2) on a pid we just read from the engine.
    unsafe { libc::kill(old as i32, libc::SIGKILL) };
    let back = poll_until("api replica 0 back with a new pid", LONG, || {
        let s = up.snapshot()?;
        let r = s.services.iter().find(|s| s.name == "api")?.replicas.iter().find(|r| r.index == 0)?.clone();
        (r.state == ReplicaState::Ready && r.pid.is_some_and(|p| p != old)).then_some(r)
    });
    assert!(alive(back.pid.expect("pid")));
    assert_eq!(back.restarts, 1);
    assert_eq!(back.last_exit.as_ref().and_then(|e| e.signal), Some(9));

    let events = poll_until("exit and restart in the event log", LONG, || {
        let ev = up.events();
        let exit = ev.iter().position(|e| e.service == "api" && e.kind == EventKind::Exited && e.message.contains("signal 9"))?;
        ev[exit..].iter().any(|e| e.service == "api" && e.kind == EventKind::RestartScheduled).then_some(ev)
    });
    assert!(events.iter().any(|e| e.service == "api" && e.replica == Some(0) && e.kind == EventKind::Ready));
}

/// "restart in 250ms" → 250; "restarting now" → 0.
fn delay_ms(message: &str) -> Option<u64> {
    if message == "restarting now" {
        return Some(0);
    }
    let d = message.strip_prefix("restart in ")?;
    if let Some(ms) = d.strip_suffix("ms") {
        return ms.parse().ok();
    }
    d.strip_suffix('s')?.parse::<f64>().ok().map(|s| (s * 1000.0) as u64)
}

#[test]
fn a_crashing_service_backs_off_and_the_engine_stays_cheap() {
    let up = Up::start(
        r#"
name = "crashy"
[services.crash]
command = "mdk-testsvc"
args = ["--crash"]
health = { http = "/health" }
"#,
    );
    poll_until("crash-looping", LONG, || {
        up.snapshot()?.services.iter().find(|s| s.state == ServiceState::CrashLooping && s.next_restart_at.is_some()).map(|_| ())
    });
    let before = cpu_seconds(up.pid());
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu_seconds(up.pid()) - before;
    let share = used / start.elapsed().as_secs_f64();
    println!("engine CPU over {:?} of crash-looping: {:.1}% of one core", start.elapsed(), share * 100.0);
    assert!(share < 0.10, "the engine used {:.1}% of a core", share * 100.0);

    let delays: Vec<u64> = up
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::RestartScheduled)
        .filter_map(|e| delay_ms(&e.message))
        .collect();
    println!("restart delays: {delays:?}");
    assert!(delays.len() >= 5, "{delays:?}");
    assert_eq!(&delays[..5], &[0, 250, 500, 1000, 2000]);
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "delays grow: {delays:?}");
    let snap = up.snapshot().expect("snapshot");
    assert!(snap.services[0].restarts >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_and_down_and_requests_reach_only_ready_replicas() {
    let (cluster, _dir) = cluster(
        r#"
name = "scale"
[services.web]
command = "mdk-testsvc"
health = { http = "/health" }
stop_grace = "2s"
[services.db]
command = "mdk-testsvc"
args = ["--tcp"]
protocol = "tcp"
health = { tcp = true }
"#,
    )
    .await;
    let mut sub = cluster.subscribe();
    let first = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("an update in time");
    assert!(matches!(first, Some(microdeck::cluster::Update::Snapshot(_))), "a snapshot first");
    let ready = |n: u32| {
        let c = cluster.clone();
        move || {
            let s = c.snapshot();
            let w = s.services.iter().find(|s| s.name == "web")?.clone();
            (w.ready == n && w.replicas.len() == n as usize && w.replicas.iter().all(|r| r.state == ReplicaState::Ready)).then_some(w)
        }
    };
    poll_until_async("web with 1 ready replica", LONG, ready(1)).await;
    cluster.scale("web", 3).await.expect("scale to 3");
    let scaled = tokio::time::timeout(LONG, async {
        while let Some(u) = sub.recv().await {
            if let microdeck::cluster::Update::Event(e) = u {
                if e.kind == EventKind::Scaled {
                    return Some(e);
                }
            }
        }
        None
    })
    .await
    .expect("a scaled event in time")
    .expect("the feed lasts");
    assert_eq!(scaled.message, "scaled from 1 to 3 replica(s)");
    drop(sub);
    assert!(cluster.events().await.iter().any(|e| e.service == "web" && e.kind == EventKind::Scaled));
    let three = poll_until_async("web with 3 ready replicas", LONG, ready(3)).await;
    let query = microdeck::cluster::LogQuery { service: Some("web".into()), text: Some("listening on".into()), ..Default::default() };
    let lines = poll_until_async("each replica's first line in the ring", LONG, || {
        let lines = logs_now(&cluster, &query);
        (lines.len() == 3).then_some(lines)
    })
    .await;
    assert_eq!(lines.iter().map(|l| l.replica).collect::<BTreeSet<_>>(), BTreeSet::from([0, 1, 2]));
    let pids: BTreeSet<u32> = three.replicas.iter().filter_map(|r| r.pid).collect();
    let ports: BTreeSet<u16> = three.replicas.iter().map(|r| r.port).collect();
    assert_eq!(pids.len(), 3, "three processes");
    assert_eq!(ports.len(), 3, "on distinct ports");
    assert!(pids.iter().all(|p| alive(*p)));

    let address = three.address.clone();
    let seen = tokio::task::spawn_blocking({
        let address = address.clone();
        move || {
            let mut seen = BTreeSet::new();
            for _ in 0..30 {
                let body = http_get(&address, "/who").expect("request through the address");
                seen.insert(replica_of(&body).expect("replica field"));
            }
            seen
        }
    })
    .await
    .expect("requests");
    assert_eq!(seen, BTreeSet::from([0, 1, 2]), "every ready replica answers");

    cluster.scale("web", 1).await.expect("scale to 1");
    let one = poll_until_async("web back to 1 replica", LONG, ready(1)).await;
    let kept = one.replicas[0].pid.expect("pid");
    poll_until_async("the two stopped replicas gone", LONG, || pids.iter().all(|p| *p == kept || !alive(*p)).then_some(())).await;
    let seen = tokio::task::spawn_blocking(move || {
        (0..20).map(|_| http_get(&address, "/who").ok().and_then(|b| replica_of(&b))).collect::<Vec<_>>()
    })
    .await
    .expect("requests");
    assert!(seen.iter().all(|r| *r == Some(0)), "only the remaining replica answers: {seen:?}");

    // A TCP service through its address.
    let db = cluster.snapshot().services.iter().find(|s| s.name == "db").expect("db").address.clone();
    let greeting = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(&db).expect("connect to the tcp address");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read greeting");
        out
    })
    .await
    .expect("tcp");
    assert!(greeting.starts_with("replica 0 pid "), "{greeting:?}");
    tokio::time::timeout(Duration::from_secs(10), cluster.shutdown()).await.expect("shutdown in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_never_leaves_zero_ready() {
    let (cluster, _dir) = cluster(
        r#"
name = "roll"
[services.web]
command = "mdk-testsvc"
args = ["--start-delay-ms", "300"]
replicas = 2
health = { http = "/health" }
stop_grace = "2s"
"#,
    )
    .await;
    let web = |c: &microdeck::cluster::Cluster| c.snapshot().services.into_iter().find(|s| s.name == "web").expect("web");
    let before = poll_until_async("2 ready", LONG, || Some(web(&cluster)).filter(|w| w.ready == 2)).await;
    let old: BTreeSet<u32> = before.replicas.iter().filter_map(|r| r.pid).collect();
    // Snapshots to a subscriber come at most 10 a second, however busy the cluster is.
    let mut sub = cluster.subscribe();
    let feed = tokio::spawn(async move {
        let mut times = vec![];
        let end = tokio::time::Instant::now() + Duration::from_millis(1500);
        while let Ok(Some(u)) = tokio::time::timeout_at(end, sub.recv()).await {
            if matches!(u, microdeck::cluster::Update::Snapshot(_)) {
                times.push(Instant::now());
            }
        }
        times
    });
    cluster.restart_service("web").await.expect("restart");
    let start = Instant::now();
    let mut min_ready = u32::MAX;
    let mut samples = 0u32;
    loop {
        let w = web(&cluster);
        min_ready = min_ready.min(w.ready);
        samples += 1;
        let pids: BTreeSet<u32> = w.replicas.iter().filter_map(|r| r.pid).collect();
        if w.ready == 2 && w.replicas.len() == 2 && pids.is_disjoint(&old) {
            break;
        }
        assert!(start.elapsed() < LONG, "rolling restart did not finish: {w:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("rolling restart took {:?}, {samples} samples, min ready {min_ready}", start.elapsed());
    assert!(min_ready >= 1, "a moment with no ready replica");
    let times = feed.await.expect("feed task");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(times.len() >= 3, "snapshots while restarting: {}", times.len());
    // The first came at once on subscribe; the rest are throttled (2 ms of timer slack allowed).
    assert!(gaps[1..].iter().all(|g| *g >= Duration::from_millis(98)), "gaps {gaps:?}");
    assert!(start.elapsed() >= Duration::from_millis(600), "both replicas were replaced one after the other");
    let last: Vec<u32> = web(&cluster).replicas.iter().filter_map(|r| r.pid).collect();
    tokio::time::timeout(Duration::from_secs(10), cluster.shutdown()).await.expect("shutdown in time");
    assert!(last.iter().all(|p| !alive(*p)), "shutdown stopped the replicas");
    // Idempotent, and commands after it say why they fail.
    tokio::time::timeout(Duration::from_secs(1), cluster.shutdown()).await.expect("second shutdown at once");
    assert_eq!(cluster.scale("web", 3).await, Err(microdeck::cluster::ClusterError::ShuttingDown));
}

/// `Cluster::logs` from a sync poll: the query runs on the test's runtime.
fn logs_now(cluster: &microdeck::cluster::Cluster, query: &microdeck::cluster::LogQuery) -> Vec<microdeck::snapshot::LogLine> {
    let (cluster, query) = (cluster.clone(), query.clone());
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(async move { cluster.logs(&query).await }))
}

const NO_ORPHANS: &str = r#"
name = "orphans"
[services.web]
command = "mdk-testsvc"
args = ["--grandchild"]
replicas = 2
health = { http = "/health" }
stop_grace = "1s"
[services.shell]
shell = "sleep 1001 & exec mdk-testsvc"
health = { http = "/health" }
stop_grace = "1s"
[services.stubborn]
shell = "trap '' TERM; sleep 1002 & exec mdk-testsvc"
health = { http = "/health" }
stop_grace = "1s"
"#;

#[test]
fn sigkill_of_the_engine_leaves_no_process_behind() {
    let up = Up::start(NO_ORPHANS);
    let snap = up.wait_all_ready(LONG);
    let groups = replica_groups(&snap);
    let procs = members_of_groups(&groups);
    // Each group: shim + program (+ sleep): grandchildren are there to be cleaned up.
    assert!(procs.len() >= 4 * 2 + 3, "processes in the replica groups: {procs:?}");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(up.pid() as i32, libc::SIGKILL) };
    poll_until("every process of the engine gone", Duration::from_secs(10), || {
        members_of_groups(&groups).is_empty().then_some(())
    });
    assert!(procs.iter().all(|p| !alive(*p)));
}

#[test]
fn sigterm_stops_every_child_within_grace_and_frees_the_ports() {
    stop_on_signal(libc::SIGTERM);
}

#[test]
fn ctrl_c_stops_every_child_within_grace_and_frees_the_ports() {
    stop_on_signal(libc::SIGINT);
}

fn stop_on_signal(signal: i32) {
    let mut up = Up::start(NO_ORPHANS);
    let snap = up.wait_all_ready(LONG);
    let groups = replica_groups(&snap);
    assert!(!members_of_groups(&groups).is_empty());
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(up.pid() as i32, signal) };
    let status = poll_until("microdeck up exits", Duration::from_secs(10), || up.child.try_wait().ok().flatten());
    let took = sent.elapsed();
    assert!(status.success(), "exit status {status:?}; stderr: {}", up.stderr());
    assert!(members_of_groups(&groups).is_empty(), "children left: {:?}", members_of_groups(&groups));
    println!("stopped in {took:?} (grace 1s)");
    // `stubborn` ignores SIGTERM, so the stop waits its 1 s grace, then kills; the default
    // grace (5 s) would show as 5 s or more.
    assert!(took >= Duration::from_secs(1), "took {took:?}: the grace was not waited for");
    assert!(took < Duration::from_secs(4), "took {took:?}, more than the 1 s grace + 3 s");
    assert!(up.stdout().contains("stopping: "), "{}", up.stdout());
    for s in &snap.services {
        std::net::TcpListener::bind(&s.address).unwrap_or_else(|e| panic!("{} still held: {e}", s.address));
        for r in &s.replicas {
            std::net::TcpListener::bind(("127.0.0.1", r.port)).unwrap_or_else(|e| panic!("replica port {} still held: {e}", r.port));
        }
    }
}

#[test]
fn a_flood_of_lines_is_kept_whole_and_in_order() {
    const LINES: u32 = 200_000;
    let up = Up::start(
        r#"
name = "flood"
[services.flood]
command = "mdk-testsvc"
args = ["--flood", "200000"]
health = { http = "/health" }
"#,
    );
    let last = format!("line {LINES:07}");
    let files = poll_until("the last line on disk", Duration::from_secs(60), || {
        let files = log_files(&up.run_dir(), "flood");
        let newest = std::fs::read_to_string(files.last()?).ok()?;
        newest.contains(&last).then_some(files)
    });
    let mut expected = 1u32;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read log");
        for line in text.lines() {
            let Some(pos) = line.find("line ") else { continue };
            let n: u32 = line[pos + 5..].trim().parse().expect("numbered line");
            assert_eq!(n, expected, "in {}: {line}", f.display());
            expected += 1;
        }
    }
    assert_eq!(expected, LINES + 1, "every line is in the files");
    let peak = peak_rss(up.pid());
    println!("engine peak RSS: {:.1} MB over {} files", peak as f64 / 1e6, files.len());
    assert!(peak < 60_000_000, "engine peak RSS {peak} bytes");
}

#[test]
fn up_log_file_bytes_sets_where_a_log_file_rotates() {
    let up = Up::start_with(
        r#"
name = "rotate"
[services.flood]
command = "mdk-testsvc"
args = ["--flood", "300"]
health = { http = "/health" }
"#,
        &["--log-file-bytes", "4096"],
    );
    let files = poll_until("the last line on disk", Duration::from_secs(30), || {
        let files = log_files(&up.run_dir(), "flood");
        let newest = std::fs::read_to_string(files.last()?).ok()?;
        newest.contains("line 0000300").then_some(files)
    });
    // About 15 KB of lines in files of at most 4 KiB (plus the line that crosses it).
    assert!(files.len() >= 3, "only {} log files", files.len());
    for f in &files {
        let len = std::fs::metadata(f).expect("log file").len();
        assert!(len <= 4096 + 200, "{} is {len} bytes", f.display());
    }
}

#[test]
fn a_held_port_names_its_holder() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let mut up = Up::start(&format!(
        r#"
name = "held"
[services.web]
command = "mdk-testsvc"
port = {port}
"#
    ));
    let status = poll_until("microdeck up gives up", LONG, || up.child.try_wait().ok().flatten());
    assert_eq!(status.code(), Some(4), "exit code for a port in use");
    let err = up.stderr();
    assert!(err.contains(&format!("web: port {port} is already in use")), "names the service: {err}");
    assert!(err.contains(&format!("pid {}", std::process::id())), "names the holder: {err}");
    drop(held);
}

#[test]
fn an_optional_service_with_a_missing_program_is_reported_and_the_rest_start() {
    let up = Up::start(
        r#"
name = "optional"
[services.web]
command = "mdk-testsvc"
health = { http = "/health" }
[services.extra]
command = "mdk-no-such-program"
optional = true
"#,
    );
    let snap = poll_until("web ready and extra failed", LONG, || {
        let s = up.snapshot()?;
        let web = s.services.iter().find(|v| v.name == "web")?;
        let extra = s.services.iter().find(|v| v.name == "extra")?;
        (web.state == ServiceState::Ready && extra.state == ServiceState::Failed).then_some(s.clone())
    });
    let extra = snap.services.iter().find(|v| v.name == "extra").expect("extra");
    let problem = extra.problem.clone().unwrap_or_default();
    assert!(problem.starts_with("program `mdk-no-such-program` not found in "), "{problem}");
    poll_until("the failure reported on stderr", LONG, || {
        up.stderr().contains("optional service `extra` is not running: program `mdk-no-such-program` not found").then_some(())
    });
}
