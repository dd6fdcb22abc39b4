//! Engine leftovers: start right after stop, pids in events, reload.

use std::collections::BTreeSet;
use std::time::Duration;

use microdeck::snapshot::{ReplicaState, ServiceState};

use crate::util::*;

const LONG: Duration = Duration::from_secs(30);

/// A program that takes a second to stop after SIGTERM, so a start can come in between.
const SLOW_STOP: &str = r#"
name = "restop"
[services.slow]
shell = "trap 'sleep 1; exit 0' TERM; while true; do sleep 0.1; done"
stop_grace = "5s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_while_the_replica_is_still_stopping_brings_the_service_back() {
    let (cluster, _dir) = cluster(SLOW_STOP).await;
    let ready = || {
        let s = cluster.snapshot();
        let v = s.services.iter().find(|v| v.name == "slow")?.clone();
        (v.state == ServiceState::Ready && v.replicas.iter().any(|r| r.pid.is_some_and(alive))).then_some(v)
    };
    let first = poll_until_async("slow ready", LONG, ready).await;
    let old = first.replicas[0].pid.expect("a pid");
    tokio::time::timeout(LONG, cluster.stop_service("slow")).await.expect("in time").expect("stop");
    let s = cluster.snapshot();
    let v = s.services.iter().find(|v| v.name == "slow").expect("slow");
    assert_eq!(v.state, ServiceState::Stopped);
    assert_eq!(v.replicas[0].state, ReplicaState::Stopping, "the window this test is about");
    tokio::time::timeout(LONG, cluster.start_service("slow")).await.expect("in time").expect("start");
    let back = poll_until_async("slow ready again with a new process", LONG, || {
        ready().filter(|v| v.replicas.iter().any(|r| r.pid.is_some_and(|p| p != old)))
    })
    .await;
    assert_eq!(back.ready, 1);
    tokio::time::timeout(LONG, cluster.shutdown()).await.expect("shutdown in time");
}

/// Burns a core until the flag drops, so the engine's tasks run late.
fn busy(stop: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let mut x = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_sends_a_replicas_started_event_before_any_snapshot_showing_it() {
    use microdeck::cluster::Update;
    use microdeck::snapshot::EventKind;
    let (cluster, _dir) = cluster(
        r#"
name = "feed"
[services.web]
shell = "exec sleep 1000"
replicas = 3
restart = "always"
"#,
    )
    .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burners: Vec<_> = (0..3).map(|_| busy(&stop)).collect();
    let mut sub = cluster.subscribe();
    let mut started: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut seen_pids: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut kills = 0;
    let outcome = tokio::time::timeout(LONG, async {
        while let Some(u) = sub.recv().await {
            match u {
                Update::Event(e) if e.service == "web" && e.kind == EventKind::Started => {
                    let pid = pid_in(&e.message).expect("a pid in the started event");
                    started.insert((e.replica.expect("a replica"), pid));
                }
                Update::Snapshot(s) => {
                    let web = s.services.iter().find(|v| v.name == "web").expect("web").clone();
                    for r in &web.replicas {
                        if let Some(pid) = r.pid.filter(|_| r.state == ReplicaState::Ready) {
                            if seen_pids.insert((r.index, pid)) && !started.contains(&(r.index, pid)) && kills > 0 {
                                return Err(format!("replica {} pid {pid} shown before its started event", r.index));
                            }
                        }
                    }
                    if web.ready == 3 {
                        if kills == 6 {
                            return Ok(());
                        }
                        kills += 1;
                        cluster.kill_replica("web", kills % 3).await.map_err(|e| e.to_string())?;
                    }
                }
                _ => {}
            }
        }
        Err("the feed ended".to_string())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    burners.into_iter().for_each(|b| b.join().expect("burner"));
    outcome.expect("in time").expect("events before snapshots, pids agree");
    tokio::time::timeout(LONG, cluster.shutdown()).await.expect("shutdown in time");
}

/// "started (pid 123, port 456)" → 123.
fn pid_in(message: &str) -> Option<u32> {
    message.split("pid ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// `microdeck up`'s feed (a slow heartbeat, so an idle engine does not rewrite
/// `snapshot.json` every second) still brings every state change at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_heartbeat_feed_still_brings_each_state_change() {
    use microdeck::cluster::Update;
    let (cluster, _dir) = cluster("name = \"beat\"\n[services.web]\nshell = \"exec sleep 1000\"\n").await;
    // Ready and its pid known: settled.
    poll_until_async("web ready", LONG, || {
        cluster.snapshot().services.iter().find(|v| v.ready == 1 && v.replicas.iter().all(|r| r.pid.is_some())).map(|_| ())
    })
    .await;
    let mut sub = cluster.subscribe_status(Duration::from_secs(3600));
    let first = tokio::time::timeout(LONG, sub.recv()).await.expect("in time");
    assert!(matches!(first, Some(Update::Snapshot(_))), "a snapshot first");
    // Nothing changes: no snapshot (the default feed would have sent one a second).
    let quiet = tokio::time::timeout(Duration::from_millis(2500), async {
        loop {
            match sub.recv().await {
                Some(Update::Snapshot(s)) => return s,
                Some(_) => {}
                None => panic!("the feed ended"),
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "a snapshot with nothing changed: {quiet:?}");
    cluster.scale("web", 2).await.expect("scale");
    let two = tokio::time::timeout(LONG, async {
        loop {
            if let Some(Update::Snapshot(s)) = sub.recv().await {
                if s.services[0].desired == 2 {
                    return s;
                }
            }
        }
    })
    .await
    .expect("the change came (the heartbeat is an hour away)");
    assert_eq!(two.services[0].desired, 2);
    drop(sub);
    tokio::time::timeout(LONG, cluster.shutdown()).await.expect("shutdown in time");
}

/// A service with no probe (`process` check) is ready once its program runs: no view shows
/// a ready replica without a pid, and its `started` event comes before its `ready` one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_checked_replica_is_ready_only_after_its_pid_is_known() {
    use microdeck::cluster::Update;
    use microdeck::snapshot::EventKind;
    let (cluster, _dir) = cluster("name = \"proc\"\n[services.web]\ncommand = \"sleep\"\nargs = [\"1000\"]\nreplicas = 3\n").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burners: Vec<_> = (0..3).map(|_| busy(&stop)).collect();
    let mut sub = cluster.subscribe();
    let mut started: BTreeSet<u32> = BTreeSet::new();
    let mut rounds = 0;
    let mut previous: BTreeSet<u32> = BTreeSet::new();
    let outcome = tokio::time::timeout(LONG, async {
        while let Some(u) = sub.recv().await {
            match u {
                Update::Event(e) if e.kind == EventKind::Started => {
                    started.insert(e.replica.ok_or("a replica on started")?);
                }
                Update::Event(e) if e.kind == EventKind::Ready => {
                    let r = e.replica.ok_or("a replica on ready")?;
                    if !started.remove(&r) {
                        return Err(format!("replica {r} ready before its started event"));
                    }
                }
                Update::Snapshot(s) => {
                    let web = &s.services[0];
                    if let Some(r) = web.replicas.iter().find(|r| r.state == ReplicaState::Ready && r.pid.is_none()) {
                        return Err(format!("replica {} shown ready without a pid", r.index));
                    }
                    let pids: BTreeSet<u32> = web.replicas.iter().filter_map(|r| r.pid).collect();
                    // Each round waits for three new processes, all ready.
                    if web.ready == 3 && pids.len() == 3 && pids.is_disjoint(&previous) {
                        if rounds == 3 {
                            return Ok(());
                        }
                        rounds += 1;
                        previous = pids;
                        cluster.restart_service("web").await.map_err(|e| e.to_string())?;
                    }
                }
                _ => {}
            }
        }
        Err("the feed ended".to_string())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    burners.into_iter().for_each(|b| b.join().expect("burner"));
    outcome.expect("in time").expect("ready only after started");
    tokio::time::timeout(LONG, cluster.shutdown()).await.expect("shutdown in time");
}

/// "Max open files" of a process: (soft, hard).
fn open_files_limit(pid: u32) -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line.split_whitespace().filter_map(|w| w.parse().ok());
    Some((numbers.next()?, numbers.next()?))
}

#[test]
fn the_engine_raises_its_open_file_limit_and_its_programs_get_the_one_it_started_with() {
    let (_, hard) = open_files_limit(std::process::id()).expect("this test's limits");
    assert!(hard > 256, "the hard limit here ({hard}) leaves nothing to raise");
    // Started as from a desktop session whose soft limit is low.
    let dir = tempfile::tempdir().expect("temp dir");
    let wrapper = dir.path().join("microdeck-low-limit");
    let script = format!("#!/bin/sh\nulimit -Sn 256\nexec '{}' \"$@\"\n", microdeck_tests::bins::bin("microdeck").display());
    std::fs::write(&wrapper, script).expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let manifest = "name = \"fds\"\n[services.idle]\ncommand = \"sleep\"\nargs = [\"600\"]\n";
    let up = Up(microdeck_tests::rundir::UpProcess::spawn(&wrapper, Some(manifest), &["--web-port", "0"], &std::env::var("PATH").unwrap_or_default(), None)
        .expect("start microdeck up"));
    let snap = up.wait_all_ready(LONG);
    let program = snap.services[0].replicas[0].pid.expect("the program's pid");
    assert_eq!(open_files_limit(up.pid()), Some((hard, hard)), "the engine runs with its hard limit");
    assert_eq!(open_files_limit(program), Some((256, hard)), "the program gets the limit the engine started with");
}
