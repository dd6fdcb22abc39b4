//! Lessons run as a user runs them: `microdeck up` with the bundled sample cluster, then
//! `microdeck lesson run … --json` against it. Each bundled lesson passes; a lesson written
//! to fail fails and names its check; a starved load generator is inconclusive; a lesson
//! stopped half way (Ctrl-C) and every other run leave the cluster as they found it; a
//! lesson is refused while another lesson or a load run is going; each refusal has its exit code.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use microdeck::snapshot::ClusterSnapshot;
use microdeck_tests::bins::{bin, fixture};
use microdeck_tests::rundir;
use serde_json::Value;

/// Every wait here; generous, as the machine may be busy.
const DEADLINE: Duration = Duration::from_secs(120);

/// `microdeck up` on the bundled cluster, on shifted ports, with its own state folder (so
/// the verbs find this one); stopped with SIGTERM when dropped.
struct Up {
    child: Child,
    dir: tempfile::TempDir,
}

impl Up {
    fn start() -> Up {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("xdg")).expect("state folder");
        let child = Command::new(bin("microdeck"))
            .args(["up", "--port-offset", &free_offset().to_string(), "--web-port", "0"])
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", dir.path().join("xdg"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start microdeck up");
        let up = Up { child, dir };
        up.wait_all_ready("the bundled cluster ready");
        up
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("xdg")
    }

    fn snapshot(&self) -> Option<ClusterSnapshot> {
        rundir::snapshot(&self.dir.path().join("run")).filter(|s| s.engine.pid == self.child.id())
    }

    fn wait_all_ready(&self, what: &str) -> ClusterSnapshot {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self.snapshot().filter(rundir::all_ready) {
                return s;
            }
            let stderr = std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
            assert!(Instant::now() < end, "timed out waiting for {what}; microdeck up said:\n{stderr}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `microdeck ARGS` against this cluster.
    fn microdeck(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("microdeck"));
        cmd.args(args).env("XDG_RUNTIME_DIR", self.state_dir());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.microdeck(args).output().expect("run microdeck")
    }

    /// A call to the local API, as a script with the state file's token would make it.
    fn api(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let state: Value = serde_json::from_slice(&std::fs::read(self.state_dir().join("microdeck/api.json")).expect("state file")).expect("state json");
        let url = state["url"].as_str().expect("url");
        let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        let token = state["token"].as_str().expect("token");
        let (status, text) = http(port, method, path, &[("authorization", &format!("Bearer {token}"))], body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// What a lesson must leave as it found it: replicas and state of each service, each
    /// kit service's knobs, and whether a load runs — read from the API (the snapshot file
    /// may lag a replica that was just replaced), once every service is ready.
    fn state(&self) -> ClusterState {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(state) = self.try_state() {
                return state;
            }
            assert!(Instant::now() < end, "timed out waiting for every service ready: {}", self.api("GET", "/api/snapshot", None));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn try_state(&self) -> Option<ClusterState> {
        let snapshot: ClusterSnapshot = serde_json::from_value(self.api("GET", "/api/snapshot", None)).expect("a snapshot");
        if !rundir::all_ready(&snapshot) {
            return None;
        }
        let mut services = BTreeMap::new();
        let mut knobs = BTreeMap::new();
        for s in &snapshot.services {
            services.insert(s.name.clone(), (s.desired, s.ready));
            for r in &s.replicas {
                // A replica being replaced may be gone already: read again.
                let (status, text) = try_http(r.port, "GET", "/admin/knobs", &[], None)?;
                if status == 200 {
                    knobs.insert(format!("{}[{}]", s.name, r.index), text);
                }
            }
        }
        let load = self.api("GET", "/api/load", None);
        let load_running = !load.is_null() && !["finished", "stopped", "failed"].contains(&load["state"].as_str().unwrap_or(""));
        let autoscale = snapshot.autoscalers.iter().map(|a| (a.service.clone(), a.on)).collect();
        Some(ClusterState { services, knobs, autoscale, load_running })
    }

    fn load_running(&self) -> bool {
        self.api("GET", "/api/load", None)["state"] == "running"
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Debug, PartialEq)]
struct ClusterState {
    /// Desired and ready replicas per service.
    services: BTreeMap<String, (u32, u32)>,
    /// `GET /admin/knobs` of each replica that has them.
    knobs: BTreeMap<String, String>,
    /// Each autoscaler: on or off.
    autoscale: BTreeMap<String, bool>,
    load_running: bool,
}

/// A port offset under which the bundled cluster's ports (7400..=7404) are free.
fn free_offset() -> u16 {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    (0..200u32)
        .map(|i| 1000 + ((seed / 7 + i * 131) % 500) as u16 * 100 + (std::process::id() % 100) as u16)
        .find(|offset| (0..5).all(|i| std::net::TcpListener::bind(("127.0.0.1", 7400 + offset + i)).is_ok()))
        .expect("a free port range")
}

/// One HTTP/1.0 exchange: the status and the body.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    try_http(port, method, path, headers, body).unwrap_or_else(|| panic!("{method} 127.0.0.1:{port}{path}: no answer"))
}

/// The same; `None` when nothing answers.
fn try_http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let body = body.unwrap_or("");
    let mut request = format!("{method} {path} HTTP/1.0\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {}\r\n", body.len());
    if !body.is_empty() {
        request.push_str("content-type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn text(out: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn progress(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn checks(progress: &Value) -> Vec<&Value> {
    progress["steps"].as_array().expect("steps").iter().flat_map(|s| s["checks"].as_array().expect("checks")).collect()
}

fn lesson_file(name: &str) -> String {
    fixture(&format!("lessons/{name}.toml")).display().to_string()
}

#[test]
fn every_bundled_lesson_passes_on_the_sample_cluster_and_leaves_it_as_it_found_it() {
    let up = Up::start();
    let list = up.run(&["lesson", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("list json");
    let names: Vec<&str> = list.as_array().expect("a list").iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["fault-isolation", "slow-dependency", "independent-scaling", "autoscaling", "freedom-of-technology", "independent-deployment", "roll-back", "data-per-service"]);
    for name in names {
        let before = up.state();
        let out = up.run(&["lesson", "run", name, "--json"]);
        let p = progress(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(p["state"], "passed", "{name}");
        let checks = checks(&p);
        let want = list.as_array().expect("list").iter().find(|l| l["name"] == name).expect("listed")["checks"].as_u64();
        assert_eq!(Some(checks.len() as u64), want, "{name}: every check reported");
        for c in checks {
            assert_eq!(c["outcome"], "passed", "{name}: {c}");
            assert!(c["value"].is_number() && c["bound"].is_number(), "{name}: a value and a bound: {c}");
            assert!(!c["sentence"].as_str().unwrap_or("").is_empty(), "{name}: a sentence: {c}");
        }
        assert_eq!(up.state(), before, "{name} left the cluster as it found it");
    }
    // The run is published like any other state: in the snapshot, and as events.
    let snapshot = up.api("GET", "/api/snapshot", None);
    assert_eq!((snapshot["lesson"]["name"].as_str(), snapshot["lesson"]["state"].as_str()), (Some("data-per-service"), Some("passed")));
    let events = up.api("GET", "/api/events", None);
    let lesson_events: Vec<&str> = events.as_array().expect("events").iter().filter(|e| e["kind"] == "lesson").filter_map(|e| e["message"].as_str()).collect();
    for said in ["lesson started: Data per service", "step 3 of 4: users-stopped", "passed: media serves sunset.png", "lesson passed: 7 of 7 checks passed"] {
        assert!(lesson_events.iter().any(|m| m.starts_with(said)), "an event `{said}…` among {lesson_events:#?}");
    }
    // The autoscaling lesson's decisions are events with their numbers, like a user's scale.
    let autoscale: Vec<&str> = events.as_array().expect("events").iter().filter(|e| e["kind"] == "autoscale").filter_map(|e| e["message"].as_str()).collect();
    for said in ["auth's autoscaler on: target 300 ms", "auth p95 ", "auth idle (no request) under target 300 ms", "auth's autoscaler off"] {
        assert!(autoscale.iter().any(|m| m.starts_with(said)), "an autoscale event `{said}…` among {autoscale:#?}");
    }
    assert!(autoscale.iter().any(|m| m.starts_with("auth p95 ") && m.contains("over target 300 ms with 1 replica ready → ")), "{autoscale:#?}");
}

#[test]
fn checks_can_fail_or_be_inconclusive_and_a_stopped_or_refused_lesson_changes_nothing() {
    let up = Up::start();
    let before = up.state();

    let out = up.run(&["lesson", "run", "no-such-lesson"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lesson named `no-such-lesson`; there are: fault-isolation"), "{}", text(&out));

    // Written to fail: no errors expected while media's error-rate knob is 0.5.
    let out = up.run(&["lesson", "run", "--file", &lesson_file("expects-no-errors"), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let p = progress(&out);
    let failed = checks(&p).into_iter().find(|c| c["outcome"] == "failed").unwrap_or_else(|| panic!("a failed check: {p}"));
    assert_eq!((failed["key"].as_str(), failed["measure"].as_str(), failed["bound"].as_f64()), (Some("step[0].checks[0]"), Some("error_pct"), Some(0.0)));
    let value = failed["value"].as_f64().expect("the measured value");
    assert!((25.0..=75.0).contains(&value), "about half of media's answers were errors: {value}");
    assert!(failed["sentence"].as_str().unwrap_or("").contains("not at most 0 %"), "{failed}");
    assert_eq!(up.state(), before, "a failed lesson restores the cluster (media's knobs back)");

    // A rate no machine sends: the generator drops most of it, so nothing is proven or disproven.
    let out = up.run(&["lesson", "run", "--file", &lesson_file("starved-generator"), "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let p = progress(&out);
    let c = checks(&p)[0].clone();
    assert_eq!(c["outcome"], "inconclusive", "{c}");
    assert!(c["sentence"].as_str().unwrap_or("").contains("the load generator could not send"), "{c}");
    assert_eq!(up.state(), before, "the starved load was stopped");

    // Written to fail: it expects a release that crashes at start to serve. The rollout went
    // back instead, so the check fails with the version that still serves, and the lesson
    // rolls users' earlier definition out again.
    let out = up.run(&["lesson", "run", "--file", &lesson_file("trusts-a-broken-release"), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let p = progress(&out);
    let c = checks(&p)[0].clone();
    assert_eq!((c["outcome"].as_str(), c["measure"].as_str(), c["value"].as_f64()), (Some("failed"), Some("served_version"), Some(1.0)), "{c}");
    assert_eq!(up.state(), before, "the deployed service runs its earlier definition again");
    let users: Value = up.api("GET", "/api/services/users/revisions", None);
    let current = users.as_array().expect("revisions").iter().find(|r| r["current"] == true).expect("a current revision").clone();
    // Back on the definition it had before (already by the rollback: no new revision needed).
    assert!(current["env"].get("BAD_RELEASE").is_none() && current["env"].get("VERSION").is_none(), "{users}");
    let events = up.api("GET", "/api/events", None);
    assert!(
        events.as_array().expect("events").iter().any(|e| e["kind"] == "rollout" && e["message"].as_str().unwrap_or("").contains("exited with code 1")),
        "the events say why the rollout stopped"
    );

    // Stopped half way: it scaled users, set auth's knobs, stopped media and started a load.
    let mut running = up.microdeck(&["lesson", "run", "--file", &lesson_file("slow-steps")]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run slow-steps");
    let end = Instant::now() + DEADLINE;
    loop {
        let s = up.snapshot().expect("a snapshot");
        let changed = s.services.iter().any(|v| v.name == "media" && v.state == microdeck::snapshot::ServiceState::Stopped)
            && s.services.iter().any(|v| v.name == "users" && v.ready == 2);
        if changed && up.load_running() {
            break;
        }
        assert!(Instant::now() < end, "slow-steps never reached its wait");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Refused while another lesson runs, and the CLI says why.
    let out = up.run(&["lesson", "run", "fault-isolation"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lesson `slow-steps` is running"), "{}", text(&out));
    // Ctrl-C: the lesson stops and the cluster is put back.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(running.id() as i32, libc::SIGINT) };
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = running.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < end, "the stopped lesson's CLI did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    running.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("stopped before its end"), "{stdout}");
    assert_eq!(up.state(), before, "a lesson stopped half way restores the cluster");

    // Refused while a load runs.
    up.api("POST", "/api/load/start", Some(r#"{"scenario":"browse","rate":2}"#));
    let out = up.run(&["lesson", "run", "fault-isolation"]);
    up.api("POST", "/api/load/stop", None);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a load run is going"), "{}", text(&out));
}

#[test]
fn bad_arguments_bad_files_and_no_cluster_have_their_exit_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| Command::new(bin("microdeck")).args(args).env("XDG_RUNTIME_DIR", dir.path()).output().expect("run microdeck");
    // No running cluster: cannot run.
    let out = run(&["lesson", "run", "fault-isolation"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running Microdeck found"), "{}", text(&out));
    // An unreadable file, and neither a name nor a file.
    let out = run(&["lesson", "run", "--file", "/nonexistent/lesson.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(run(&["lesson", "run"]).status.code(), Some(2));
    // An invalid file: every error at once, with its position, before any cluster is looked for.
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "name = \"Broken\"\ntitle = \"b\"\nclaim = \"c\"\n[[step]]\nname = \"s\"\ntext = \"t\"\nactions = [{ scale = \"auth\" }]\n").expect("write");
    let path = file.display().to_string();
    let out = run(&["lesson", "run", "--file", &path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{path}:1:8: name: `Broken` is not a lesson name")), "{stderr}");
    assert!(stderr.contains(&format!("{path}:7:12: step[0].actions[0]")), "{stderr}");
}
