//! A replica's program gets one SIGTERM per stop, whoever stops it: a program that takes a
//! second TERM as "exit now" still finishes its graceful stop. A second TERM that comes
//! before the first is delivered merges with it, unseen; eight replicas make it likely
//! that at least one sees it.

use std::path::Path;
use std::time::Duration;

use super::util::*;
use super::LONG;

/// Notes each TERM in `$MICRODECK_DATA_DIR/terms.$REPLICA`; a second one cuts the graceful
/// stop short.
const COUNTS_TERMS: &str = r#"
name = "terms"
[services.web]
command = "python3"
args = ["-c", '''
import os, signal, sys, time
log = os.path.join(os.environ["MICRODECK_DATA_DIR"], "terms." + os.environ["REPLICA"])
terms = []
def on_term(sig, frame):
    terms.append(sig)
    with open(log, "a") as f:
        f.write("TERM\n")
    if len(terms) > 1:
        os._exit(42)
signal.signal(signal.SIGTERM, on_term)
open(log, "w").close()
while not terms:
    time.sleep(0.01)
time.sleep(0.5)
with open(log, "a") as f:
    f.write("graceful\n")
sys.exit(0)
''']
replicas = 8
stop_grace = "5s"
restart = "never"
"#;

/// Each replica's notes, once all eight have their handler in place.
fn terms(data_dir: &Path) -> Option<Vec<String>> {
    (0..8).map(|r| std::fs::read_to_string(data_dir.join(format!("web/terms.{r}"))).ok()).collect()
}

fn graceful(notes: Option<Vec<String>>) {
    assert_eq!(notes, Some(vec!["TERM\ngraceful\n".to_string(); 8]), "a replica got more than one TERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_gets_one_term_and_stops_gracefully() {
    let (cluster, dir) = cluster(COUNTS_TERMS).await;
    let data = dir.path().join("data");
    // A file exists once its replica's handler is in place.
    poll_until_async("the programs' TERM handlers", LONG, || terms(&data)).await;
    let pids: Vec<u32> = cluster.snapshot().services[0].replicas.iter().filter_map(|r| r.pid).collect();
    assert_eq!(pids.len(), 8);
    cluster.stop_service("web").await.expect("stop");
    poll_until_async("the programs gone", LONG, || (!pids.iter().any(|p| alive(*p))).then_some(())).await;
    graceful(terms(&data));
    cluster.shutdown().await;
}

#[test]
fn a_replica_of_a_killed_engine_gets_one_term_and_stops_gracefully() {
    let up = Up::start(COUNTS_TERMS);
    let data = up.dir.path().join("data");
    poll_until("the programs' TERM handlers", LONG, || terms(&data));
    let pids: Vec<u32> = poll_until("8 pids", LONG, || {
        let pids: Vec<u32> = up.snapshot()?.services[0].replicas.iter().filter_map(|r| r.pid).collect();
        (pids.len() == 8).then_some(pids)
    });
    // SAFETY: kill(2) on our own child: its shims see their socket close and stop their groups.
    unsafe { libc::kill(up.pid() as i32, libc::SIGKILL) };
    poll_until("the programs gone", Duration::from_secs(10), || (!pids.iter().any(|p| alive(*p))).then_some(()));
    graceful(terms(&data));
}
