//! A service's actor publishes its replica set, and its address follows it: a leaving
//! replica is out of the ready list from the set that names it leaving on, and is
//! signalled only once the follower says its drain is over (at once when no one follows).

use std::sync::Arc;
use std::time::{Duration, Instant};

use microdeck::snapshot::{Level, ServiceView};
use microdeck::supervisor::actor::spawn_service;
use microdeck::supervisor::spawn::ServiceEnv;
use microdeck::supervisor::{OutputSink, ReplicaSet, ServiceHandle, Shared, DRAIN_LIMIT};
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::util::*;
use super::LONG;

/// Output read and thrown away (a closed pipe would fail the program's writes).
struct Discard;

impl OutputSink for Discard {
    fn capture(&self, _: &str, _: u32, mut stdout: ChildStdout, mut stderr: ChildStderr) {
        tokio::spawn(async move { tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await });
        tokio::spawn(async move { tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await });
    }
    fn note(&self, _: &str, _: u32, _: Level, _: String) {}
}

/// One `mdk-testsvc` replica, as a cluster's actor would run it but with no address.
fn web(dir: &std::path::Path, cancel: &CancellationToken) -> (ServiceHandle, watch::Receiver<ReplicaSet>) {
    let file = dir.join("cluster.toml");
    let text = "name = \"m\"\n[services.web]\ncommand = \"mdk-testsvc\"\nhealth = { http = \"/health\", interval = \"200ms\" }\nstop_grace = \"20s\"\n";
    std::fs::write(&file, manifest_text(text)).expect("write manifest");
    let manifest = microdeck::manifest::load_file(&file).expect("valid manifest");
    let service = manifest.service("web").expect("web").clone();
    let (version, _) = watch::channel(0);
    let shared = Arc::new(Shared {
        shim: microdeck_tests::bins::bin("microdeck"),
        events: microdeck::events::EventLog::start(cancel.clone()),
        output: Arc::new(Discard),
        version,
        cancel: cancel.clone(),
        tracker: TaskTracker::new(),
    });
    let senv = ServiceEnv {
        base_dir: dir.to_path_buf(),
        program_dirs: vec![microdeck_tests::bins::bin_dir().to_path_buf()],
        data_dir: dir.join("data"),
        addresses: Default::default(),
    };
    spawn_service(service, senv, 0, vec![], shared, None)
}

fn ready_pid(view: &watch::Receiver<ServiceView>) -> Option<u32> {
    let v = view.borrow();
    (v.ready == 1 && v.replicas.len() == 1).then(|| v.replicas[0].pid).flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_replica_is_signalled_once_its_follower_drained_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cancel = CancellationToken::new();
    let (handle, mut members) = web(dir.path(), &cancel);
    handle.start().await.expect("start");
    let old = poll_until_async("web ready", LONG, || ready_pid(&handle.view)).await;

    // A rolling restart: the new replica gets ready, then the old one leaves.
    handle.restart().await.expect("restart");
    let mut seen: Vec<ReplicaSet> = vec![];
    let leaving = tokio::time::timeout(LONG, async {
        loop {
            members.changed().await.expect("the actor runs");
            let set = members.borrow_and_update().clone();
            seen.push(set.clone());
            if let Some(l) = set.leaving.first() {
                return l.clone();
            }
        }
    })
    .await
    .expect("the old replica leaves");
    let left_at = Instant::now();
    let last = seen.last().expect("a set");
    assert!(!last.ready.contains(&leaving.member), "a leaving replica is not ready: {last:?}");
    assert_eq!(last.ready.len(), 1, "its successor is ready as it leaves: {last:?}");
    assert_eq!(leaving.limit, DRAIN_LIMIT, "the drain's limit: the grace period capped by DRAIN_LIMIT");

    // Held while the drain is not over; signalled as soon as the follower says it is.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(alive(old), "signalled before its drain was over");
    leaving.drained.cancel();
    poll_until_async("the old replica stopped", LONG, || (!alive(old)).then_some(())).await;
    let stopped_after = left_at.elapsed();
    assert!(stopped_after < DRAIN_LIMIT - Duration::from_millis(500), "stopped {stopped_after:?} after leaving: not by the follower's word");

    // Gone from every list once it exited, and never ready again on the way.
    let gone = tokio::time::timeout(LONG, async {
        loop {
            let set = members.borrow_and_update().clone();
            assert!(!set.ready.contains(&leaving.member), "a replica that left came back: {set:?}");
            if set.leaving.is_empty() {
                return set;
            }
            members.changed().await.expect("the actor runs");
        }
    })
    .await
    .expect("the leaving list empties");
    assert_eq!(gone.ready.len(), 1);

    // With no one following, a leaving replica is signalled at once.
    drop(members);
    let second = poll_until_async("web ready again", LONG, || ready_pid(&handle.view)).await;
    let began = Instant::now();
    handle.restart().await.expect("restart");
    poll_until_async("the replaced replica stopped", LONG, || (!alive(second)).then_some(())).await;
    assert!(began.elapsed() < DRAIN_LIMIT, "a replica with no follower waited for a drain: {:?}", began.elapsed());

    handle.shutdown().await;
    cancel.cancel();
}
