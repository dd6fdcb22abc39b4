//! Engine leftovers: start right after stop, pids in events, reload.

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
