//! The autoscaler on real processes: `mdk-testsvc` replicas that serve one 100 ms request at a
//! time (10 a second each), loaded by the load generator past one replica's capacity.

use std::time::{Duration, Instant};

use microdeck::cluster::Cluster;
use microdeck::snapshot::{Event, EventKind};

use super::util::*;
use super::LONG;

const TARGET_MS: f64 = 300.0;
const PERIOD: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(20);

const MANIFEST: &str = r#"
name = "autoscale"
[services.web]
command = "mdk-testsvc"
args = ["--max-inflight", "1"]
health = { http = "/health" }
balance = "least-inflight"
autoscale = { enabled = true, min = 1, max = 4, target = { p95 = "300ms" }, period = "2s", window = "20s" }
[services.other]
command = "mdk-testsvc"
health = { http = "/health" }
[[load.scenario]]
name = "slow"
target = "web"
[[load.scenario.request]]
path = "/sleep/100"
"#;

fn desired(cluster: &Cluster, service: &str) -> u32 {
    cluster.snapshot().services.iter().find(|s| s.name == service).map_or(0, |s| s.desired)
}

async fn autoscale_events(cluster: &Cluster) -> Vec<Event> {
    cluster.events().await.into_iter().filter(|e| e.kind == EventKind::Autoscale && e.service == "web").collect()
}

/// The median of the per-second p95 over the last `seconds` (seconds with requests only).
async fn recent_p95(cluster: &Cluster, seconds: u64) -> Option<f64> {
    let series = cluster.series("web", Duration::from_secs(seconds)).await.ok()??;
    let mut p95s: Vec<f64> = series.p95_ms.into_iter().flatten().collect();
    p95s.sort_by(f64::total_cmp);
    p95s.get(p95s.len() / 2).copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_it_scales_up_until_p95_is_under_target_and_after_the_window_back_to_min() {
    let (cluster, _dir) = cluster(MANIFEST).await;
    poll_until_async("web and other ready", LONG, || {
        let s = cluster.snapshot();
        s.services.iter().all(|v| v.ready == v.desired && v.desired == 1).then_some(())
    })
    .await;
    assert!(cluster.autoscalers().iter().any(|a| a.service == "web" && a.on), "on at start: {:?}", cluster.autoscalers());

    // 25 requests a second for 10 a second of capacity.
    let loaded = Instant::now();
    cluster.start_load("slow", 25.0, Some(Duration::from_secs(60))).expect("load starts");
    let up = poll_until_async("a scale-up to 3 or more", PERIOD * 6, || (desired(&cluster, "web") >= 3).then_some(loaded.elapsed())).await;
    println!("scaled to {} after {up:?}", desired(&cluster, "web"));
    let events = autoscale_events(&cluster).await;
    let decision = events.iter().find(|e| e.message.contains("over target 300 ms") && e.message.contains(" → ")).expect("the decision's event");
    println!("decision: {}", decision.message);
    assert!(decision.message.starts_with("web p95 "), "{}", decision.message);
    let scaled = cluster.events().await.into_iter().find(|e| e.kind == EventKind::Scaled && e.service == "web").expect("the scale's own event");
    assert!(scaled.seq > decision.seq, "the decision is told before the scale it sends");

    let end = Instant::now() + Duration::from_secs(40);
    let under = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(p) = recent_p95(&cluster, 3).await.filter(|p| *p < TARGET_MS) {
            break p;
        }
        assert!(Instant::now() < end, "p95 still {:?} ms with {} replicas", recent_p95(&cluster, 3).await, desired(&cluster, "web"));
    };
    println!("p95 {under:.0} ms with {} replicas, {:?} after the load started", desired(&cluster, "web"), loaded.elapsed());
    assert_eq!(desired(&cluster, "other"), 1, "no other service changed");

    // The load stops; web goes back to min, and no scale-down came within the window of the
    // scale-up before it (the window remembers that recommendation).
    let busy = desired(&cluster, "web");
    cluster.stop_load().expect("load stops");
    let stopped = Instant::now();
    let down = poll_until_async("web back to min", WINDOW + PERIOD * 6, || (desired(&cluster, "web") == 1).then_some(stopped.elapsed())).await;
    println!("from {busy} replicas back to 1 {down:?} after the load stopped");
    let mut last_up = None;
    let mut downs = 0;
    for e in autoscale_events(&cluster).await {
        if e.message.contains("over target") {
            last_up = Some(e.at);
        } else if e.message.contains("under target") {
            let up = last_up.expect("a scale-up before any scale-down");
            let after = Duration::from_millis(e.at.saturating_sub(up));
            println!("scale-down {after:?} after the scale-up: {}", e.message);
            // The loop's ticks are a whole number of periods apart; the events' clock reads may differ by a little.
            assert!(after + Duration::from_millis(500) >= WINDOW, "a scale-down {after:?} after a scale-up, inside the {WINDOW:?} window");
            downs += 1;
        }
    }
    assert!(downs >= 1, "the way back to min is the autoscaler's");
    assert_eq!(desired(&cluster, "other"), 1);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_scale_switches_the_autoscaler_off_with_the_event() {
    let (cluster, _dir) = cluster(MANIFEST).await;
    poll_until_async("web ready", LONG, || (cluster.snapshot().services.iter().all(|v| v.ready == 1)).then_some(())).await;
    let note = cluster.scale_and_say("web", 3).await.expect("scale").expect("a note: the autoscaler was on");
    assert!(note.contains("switched off") && note.contains("microdeck autoscale web on"), "{note}");
    let events = autoscale_events(&cluster).await;
    assert!(events.iter().any(|e| e.message == note), "the note is an event: {events:?}");
    let view = cluster.autoscaler_view("web").expect("web's autoscaler");
    assert!(!view.on && view.note.as_deref() == Some(note.as_str()), "{view:?}");
    // Idle and on, it would go to min at its next period; off, the user's 3 stay.
    tokio::time::sleep(PERIOD * 3).await;
    assert_eq!(desired(&cluster, "web"), 3);
    // A second scale says nothing more; on again, the autoscaler takes over from there.
    assert_eq!(cluster.scale_and_say("web", 2).await.expect("scale"), None);
    assert!(cluster.set_autoscale("web", true).await.expect("on").on);
    poll_until_async("the idle web back to min", PERIOD * 4, || (desired(&cluster, "web") == 1).then_some(())).await;
    assert_eq!(cluster.set_autoscale("other", true).await.map(|_| ()), Err(microdeck::cluster::ClusterError::NoAutoscaler("other".into())));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_sets_another_count_switches_the_autoscaler_off_and_one_that_does_not_leaves_it() {
    let (cluster, dir) = cluster(MANIFEST).await;
    poll_until_async("web ready", LONG, || (cluster.snapshot().services.iter().all(|v| v.ready == 1)).then_some(())).await;
    let file = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&file).expect("manifest");
    // Another service changed: web's autoscaler runs on.
    std::fs::write(&file, text.replace("[services.other]\ncommand = \"mdk-testsvc\"", "[services.other]\ncommand = \"mdk-testsvc\"\nenv = { X = \"1\" }")).expect("edit");
    let report = cluster.reload(microdeck::manifest::load_file(&file).expect("valid")).await.expect("reload");
    assert_eq!(report.changed, ["other"]);
    assert!(cluster.autoscaler_view("web").expect("web's autoscaler").on, "a reload that leaves web alone leaves its autoscaler on");
    // web's count set in the file: the file is a user's scale.
    std::fs::write(&file, text.replace("[services.web]\n", "[services.web]\nreplicas = 3\n")).expect("edit");
    cluster.reload(microdeck::manifest::load_file(&file).expect("valid")).await.expect("reload");
    let view = cluster.autoscaler_view("web").expect("web's autoscaler");
    let note = view.note.clone().unwrap_or_default();
    assert!(!view.on && note.contains("manifest now asks for 3") && note.contains("microdeck autoscale web on"), "{view:?}");
    let events = autoscale_events(&cluster).await;
    assert!(events.iter().any(|e| e.message == note), "the note is an event: {events:?}");
    poll_until_async("web at the file's 3", LONG, || (desired(&cluster, "web") == 3).then_some(())).await;
    // Idle and on, it would go to min at its next period; off, the file's 3 stay.
    tokio::time::sleep(PERIOD * 3).await;
    assert_eq!(desired(&cluster, "web"), 3);
    cluster.shutdown().await;
}

/// `microdeck up` with its own state folder, so the CLI verbs find this one; SIGTERM on drop.
struct UpWithState {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for UpWithState {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + LONG;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl UpWithState {
    fn microdeck(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(microdeck_tests::bins::bin("microdeck"))
            .args(args)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("xdg"))
            .output()
            .expect("run microdeck");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_cli_switches_and_shows_the_autoscaler_and_its_scale_says_when_it_switched_it_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("xdg")).expect("state folder");
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, manifest_text(MANIFEST)).expect("manifest");
    let path = format!("{}:{}", microdeck_tests::bins::bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let child = std::process::Command::new(microdeck_tests::bins::bin("microdeck"))
        .arg("up")
        .arg("--manifest")
        .arg(&file)
        .args(["--web-port", "0", "--run-dir"])
        .arg(dir.path().join("run"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("XDG_RUNTIME_DIR", dir.path().join("xdg"))
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start microdeck up");
    let up = UpWithState { child, dir };
    poll_until("web ready and the CLI finding the cluster", LONG, || {
        let (ok, out, _) = up.microdeck(&["status"]);
        (ok && out.lines().any(|l| l.starts_with("web") && l.contains("1/1"))).then_some(())
    });

    let (ok, out, err) = up.microdeck(&["autoscale", "web", "status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("web: autoscaler on · target 300 ms · 1..=4 replicas · every 2 s · scale-down window 20 s"), "{out}");
    let (ok, out, err) = up.microdeck(&["autoscale", "web", "off"]);
    assert!(ok && out.starts_with("web: autoscaler off"), "{out}{err}");
    let (ok, out, err) = up.microdeck(&["scale", "web", "2"]);
    assert!(ok && !out.contains("switched off"), "off already, so nothing to say: {out}{err}");
    let (ok, out, err) = up.microdeck(&["autoscale", "web", "on"]);
    assert!(ok && out.starts_with("web: autoscaler on"), "{out}{err}");
    let (ok, out, err) = up.microdeck(&["scale", "web", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("web's autoscaler switched off: a manual scale to 3 wins") && out.contains("microdeck autoscale web on"), "{out}");
    let (ok, out, _) = up.microdeck(&["autoscale", "web"]);
    assert!(ok && out.starts_with("web: autoscaler off") && out.contains("a manual scale to 3 wins"), "status is the default: {out}");
    let (ok, _, err) = up.microdeck(&["autoscale", "other", "on"]);
    assert!(!ok && err.contains("other has no autoscaler"), "{err}");
}
