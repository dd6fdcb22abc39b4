//! A replica's port taken by another process between the engine picking it and the program
//! listening on it: the replica starts again on a fresh port, and an event says why.

use std::time::Duration;

use microdeck::snapshot::EventKind;

use super::util::*;
use super::LONG;

/// On its first start the program has a process outside its group (a session of its own,
/// so the replica's stop does not end it) listen on `$PORT` first; the program then fails
/// to listen there, as one would whose port another program took a moment before.
const STOLEN_ONCE: &str = r#"
name = "stolen"
[services.web]
shell = '''
if [ ! -e "$MICRODECK_DATA_DIR/thief" ]; then
  setsid python3 -c '
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
' "$MICRODECK_DATA_DIR/thief" &
  while [ ! -e "$MICRODECK_DATA_DIR/thief" ]; do sleep 0.01; done
fi
exec {bin}/mdk-testsvc
'''
health = { http = "/health" }
restart = "never"
"#;

/// Ends the process that took the port, whatever the test's outcome.
struct Thief(std::path::PathBuf);

impl Drop for Thief {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            // SAFETY: kill(2) on the test's own grandchild.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_port_was_taken_starts_again_on_a_fresh_port() {
    let (cluster, dir) = cluster(STOLEN_ONCE).await;
    let _thief = Thief(dir.path().join("data/web/thief"));
    let ready = poll_until_async("the replica ready", LONG, || {
        let s = cluster.snapshot();
        let r = s.services[0].replicas.first()?;
        (s.services[0].ready == 1).then_some(r.port)
    })
    .await;
    let thief: u32 = std::fs::read_to_string(dir.path().join("data/web/thief")).expect("the thief's pid").trim().parse().expect("a pid");
    let events = cluster.events().await;
    let why = events
        .iter()
        .find(|e| e.kind == EventKind::Exited)
        .unwrap_or_else(|| panic!("no exit event: {events:#?}"))
        .message
        .clone();
    assert!(why.contains(&format!("was taken by pid {thief} (python3)")) && why.contains("starting again on a fresh port"), "{why}");
    let stolen: u16 = why.split("port ").nth(1).and_then(|w| w.split(' ').next()).and_then(|p| p.parse().ok()).expect("a port");
    assert_ne!(ready, stolen, "the replica is ready on the port it was given first");
    let address = cluster.snapshot().services[0].address.clone();
    let body = tokio::task::spawn_blocking(move || http_get(&address, "/")).await.expect("join").expect("the service answers");
    assert_eq!(replica_of(&body), Some(0));
    tokio::time::timeout(Duration::from_secs(20), cluster.shutdown()).await.expect("shutdown in time");
}
