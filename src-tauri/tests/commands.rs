//! The Tauri commands on `tauri::test::mock_builder()` (no display needed), against a real
//! `Cluster` of `sleep` services led by the real `microdeck` shim.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, Channel, InvokeBody, InvokeResponseBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

use microdeck::shell::ClusterArgs;
use microdeck::cluster::Update;
use microdeck_desktop::launch::Launch;
use microdeck_desktop::session::SessionHandle;

const DEADLINE: Duration = Duration::from_secs(30);

struct Fixture {
    /// Kept alive for the window; the tests go through the window, as the page does.
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    session: SessionHandle,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Leave no `sleep` behind, whatever the test did.
        tauri::async_runtime::block_on(self.session.shutdown());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const TINY: &str = r#"
name = "tiny"
[services.sleeper]
command = "sleep"
args = ["1000"]
[services.napper]
command = "sleep"
args = ["1001"]
"#;

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("mdk-desktop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Read from a file, as `--manifest F` does, so `reload` can read it again.
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let manifest = microdeck::manifest::load_file(&dir.join("tiny.toml")).unwrap();
    let launch = Launch {
        cluster: ClusterArgs { run_dir: Some(dir.join("run")), data_dir: Some(dir.join("data")), ..ClusterArgs::default() },
        exe_dir: None,
        shim: Some(microdeck_tests::bins::bin("microdeck")),
        web: None,
    };
    let (session, _) = tauri::async_runtime::block_on(SessionHandle::start(launch, manifest)).unwrap();
    let app = microdeck_desktop::register(mock_builder())
        .manage(session.clone())
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Fixture { _app: app, window, session, dir }
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, body: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.into(),
    };
    get_ipc_response(window, request).map(|b: InvokeResponseBody| b.deserialize::<Value>().unwrap())
}

/// Polls `snapshot` until `ok` holds, or fails with the last one.
fn wait_for_snapshot(window: &WebviewWindow<MockRuntime>, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let snap = invoke(window, "snapshot", json!({})).unwrap();
        if ok(&snap) {
            return snap;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; last snapshot: {snap:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process-alive probe can mark a replica ready a moment before the shim has told its pid.
fn both_ready(snap: &Value) -> bool {
    let services = snap["services"].as_array();
    services.is_some_and(|v| v.len() == 2 && v.iter().all(|s| s["state"] == "ready" && s["replicas"][0]["pid"].is_u64()))
}

fn service<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

#[test]
fn snapshot_returns_the_clusters_services() {
    let f = fixture("snapshot");
    let snap = wait_for_snapshot(&f.window, "both services ready with their pids", both_ready);
    assert_eq!(snap["name"], "tiny");
    let mut names: Vec<&str> = snap["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["napper", "sleeper"]);
    assert!(service(&snap, "sleeper")["replicas"][0]["pid"].as_u64().is_some());
}

#[test]
fn scale_of_an_unknown_service_is_an_unknown_service_error() {
    let f = fixture("unknown");
    let err = invoke(&f.window, "scale", json!({ "name": "nope", "replicas": 2 })).unwrap_err();
    assert_eq!(err["code"], "unknown-service", "{err}");
    assert!(err["message"].as_str().unwrap().contains("nope"), "{err}");
    let err = invoke(&f.window, "kill_replica", json!({ "name": "sleeper", "index": 7 })).unwrap_err();
    assert_eq!(err["code"], "unknown-replica", "{err}");
}

#[test]
fn scale_past_the_replica_limit_is_refused_as_the_api_refuses_it() {
    let f = fixture("limit");
    let over = microdeck::manifest::MAX_REPLICAS + 1;
    let err = invoke(&f.window, "scale", json!({ "name": "sleeper", "replicas": over })).unwrap_err();
    assert_eq!(err, json!({ "code": "invalid-argument", "message": format!("sleeper: at most 16 replicas, not {over}") }));
    let snap = invoke(&f.window, "snapshot", json!({})).unwrap();
    assert_eq!(service(&snap, "sleeper")["desired"], 1, "{snap}");
}

#[test]
fn scale_and_stop_reach_the_cluster() {
    let f = fixture("scale");
    assert_eq!(invoke(&f.window, "scale", json!({ "name": "sleeper", "replicas": 3 })), Ok(Value::Null));
    wait_for_snapshot(&f.window, "sleeper 3/3", |s| {
        let svc = service(s, "sleeper");
        svc["desired"] == 3 && svc["ready"] == 3
    });
    assert_eq!(invoke(&f.window, "stop_service", json!({ "name": "napper" })), Ok(Value::Null));
    wait_for_snapshot(&f.window, "napper stopped", |s| service(s, "napper")["state"] == "stopped");
    let logs = invoke(&f.window, "logs", json!({ "query": { "service": "sleeper", "limit": 10 } })).unwrap();
    assert!(logs.is_array(), "{logs}");
    let start = Instant::now();
    loop {
        let events = invoke(&f.window, "events", json!({})).unwrap();
        if events.as_array().unwrap().iter().any(|e| e["service"] == "napper" && e["kind"] == "stopped") {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "no `stopped` event for napper: {events:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_subscription_gets_a_snapshot_first_and_a_resubscribe_replaces_it() {
    let f = fixture("subscribe");
    let (tx, rx) = mpsc::channel::<Value>();
    let first = tx.clone();
    f.session.subscribe("main".into(), Channel::new(move |body| {
        let _ = first.send(body.deserialize::<Value>().unwrap());
        Ok(())
    }));
    let message = rx.recv_timeout(DEADLINE).unwrap();
    let parsed: Vec<Update> = serde_json::from_value(message.clone()).unwrap();
    assert!(matches!(parsed.first(), Some(Update::Snapshot(_))), "{message}");
    // The same page subscribing again ends the first feed: its sender is dropped.
    let (tx2, rx2) = mpsc::channel::<Value>();
    drop(tx);
    f.session.subscribe("main".into(), Channel::new(move |body| {
        let _ = tx2.send(body.deserialize::<Value>().unwrap());
        Ok(())
    }));
    assert!(rx2.recv_timeout(DEADLINE).is_ok());
    let start = Instant::now();
    loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(_) => assert!(start.elapsed() < DEADLINE, "the first feed never ended"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the first feed did not end: {e}"),
        }
    }
}

/// A page that acknowledges nothing holds its feed at `IN_FLIGHT` messages (the heartbeat alone
/// would send one a second); its acknowledgements let exactly that many more through.
#[test]
fn a_page_that_does_not_acknowledge_is_sent_no_more_than_the_window() {
    let f = fixture("window");
    let (tx, rx) = mpsc::channel::<Value>();
    f.session.subscribe("main".into(), Channel::new(move |body| {
        let _ = tx.send(body.deserialize::<Value>().unwrap());
        Ok(())
    }));
    let window = microdeck::cluster::feed::IN_FLIGHT as usize;
    for n in 0..window {
        rx.recv_timeout(DEADLINE).unwrap_or_else(|e| panic!("message {n} of the window: {e}"));
    }
    // Three heartbeats' time with nothing acknowledged: nothing more arrives.
    assert!(rx.recv_timeout(Duration::from_secs(3)).is_err(), "a message past the window with no acknowledgement");
    tauri::async_runtime::block_on(f.session.ack("main".into(), 1));
    rx.recv_timeout(DEADLINE).expect("one more message after one acknowledgement");
    assert!(rx.recv_timeout(Duration::from_secs(3)).is_err(), "only one more message for one acknowledgement");
    // The command the page calls does the same.
    assert_eq!(invoke(&f.window, "feed_ack", json!({ "received": 3 })), Ok(Value::Null));
    rx.recv_timeout(DEADLINE).expect("a message after the page's feed_ack");
}

#[test]
fn reload_applies_the_edited_manifest_and_answers_its_errors() {
    let f = fixture("reload");
    let before = wait_for_snapshot(&f.window, "both services ready with their pids", both_ready);
    let napper_pid = service(&before, "napper")["replicas"][0]["pid"].as_u64().unwrap();
    let file = f.dir.join("tiny.toml");
    let edited = TINY.replace("\"1000\"", "\"1003\"") + "[services.dozer]\ncommand = \"sleep\"\nargs = [\"1004\"]\n";
    std::fs::write(&file, edited).unwrap();
    let report = invoke(&f.window, "reload", json!({})).unwrap();
    assert_eq!(report, json!({ "changed": ["sleeper"], "added": ["dozer"], "removed": [], "unchanged": ["napper"], "deployed-on-top": [] }));
    let after = wait_for_snapshot(&f.window, "dozer ready", |s| {
        s["services"].as_array().is_some_and(|v| v.iter().any(|s| s["name"] == "dozer" && s["state"] == "ready"))
    });
    assert_eq!(service(&after, "napper")["replicas"][0]["pid"].as_u64(), Some(napper_pid), "napper was left running");
    let events = invoke(&f.window, "events", json!({})).unwrap();
    assert!(events.as_array().unwrap().iter().any(|e| e["kind"] == "reloaded" && e["service"] == "tiny"), "{events:#}");

    std::fs::write(&file, "name = \"tiny\"\n[services.sleeper]\nshell = 1\n").unwrap();
    let err = invoke(&f.window, "reload", json!({})).unwrap_err();
    assert_eq!(err["code"], "invalid-manifest", "{err}");
    assert!(err["message"].as_str().unwrap().contains(&format!("{}:3:", file.display())), "{err}");
    let same = invoke(&f.window, "snapshot", json!({})).unwrap();
    assert_eq!(same["services"].as_array().unwrap().len(), 3, "a broken file changed nothing");
}

#[test]
fn deploy_rollout_history_and_undo_reach_the_cluster() {
    let f = fixture("deploy");
    wait_for_snapshot(&f.window, "both services ready with their pids", both_ready);
    let deployed = invoke(&f.window, "deploy", json!({ "name": "sleeper", "change": { "set": { "VERSION": "2" } } })).unwrap();
    assert_eq!((deployed["revision"].as_u64(), deployed["rolling"].as_bool()), (Some(2), Some(true)), "{deployed}");
    let status = wait_for_snapshot(&f.window, "sleeper on revision 2", |snap| {
        let s = service(snap, "sleeper");
        s["rollout"]["state"] == "complete" && s["replicas"].as_array().is_some_and(|r| r.len() == 1 && r[0]["revision"] == 2)
    });
    assert_eq!(service(&status, "sleeper")["deployed"]["set"]["VERSION"], "2");
    let rollout = invoke(&f.window, "rollout_status", json!({ "name": "sleeper" })).unwrap();
    assert_eq!(rollout["revision"], 2);
    let history = invoke(&f.window, "rollout_history", json!({ "name": "sleeper" })).unwrap();
    assert_eq!(history[0]["changes"], json!(["env VERSION: (unset) → 2"]), "{history}");
    let undone = invoke(&f.window, "rollout_undo", json!({ "name": "sleeper" })).unwrap();
    assert_eq!(undone["revision"], 3);
    let err = invoke(&f.window, "deploy", json!({ "name": "sleeper", "change": { "set": { "PORT": "1" } } })).unwrap_err();
    assert_eq!(err["code"], "invalid-argument", "{err}");
    let series = invoke(&f.window, "revision_series", json!({ "name": "sleeper", "windowS": 60 })).unwrap();
    assert!(series.is_array(), "{series}");
}

#[test]
fn set_fault_and_clear_fault_reach_the_cluster_and_refuse_what_the_api_refuses() {
    let f = fixture("fault");
    let set = invoke(&f.window, "set_fault", json!({ "name": "sleeper", "fault": { "delay_ms": 200, "jitter_ms": 50, "for_ms": 60000 } })).unwrap();
    assert_eq!(set["summary"], "delay 200ms ±50ms on 100% of requests", "{set}");
    wait_for_snapshot(&f.window, "the fault in the snapshot", |s| s["faults"][0]["service"] == "sleeper");
    let err = invoke(&f.window, "set_fault", json!({ "name": "sleeper", "fault": { "abort_percent": 10, "abort_status": 200 } })).unwrap_err();
    assert_eq!(err, json!({ "code": "invalid-argument", "message": "cannot inject a fault into sleeper: an abort answers a status from 400 to 599, not 200" }));
    let cleared = invoke(&f.window, "clear_fault", json!({ "name": "sleeper" })).unwrap();
    assert_eq!(cleared["summary"], "delay 200ms ±50ms on 100% of requests", "the first fault stayed: {cleared}");
    assert_eq!(invoke(&f.window, "clear_fault", json!({ "name": "sleeper" })), Ok(Value::Null));
    wait_for_snapshot(&f.window, "no fault in the snapshot", |s| s.get("faults").is_none());
}
