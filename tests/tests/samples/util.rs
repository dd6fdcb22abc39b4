//! Helpers for the sample cluster tests: the bundled cluster in process (on shifted
//! ports, with temp folders), an HTTP client under deadlines, polling.

use std::time::{Duration, Instant};

use microdeck::cluster::{Cluster, ClusterError, ClusterOptions};
use microdeck::snapshot::{ClusterSnapshot, ServiceState};
use microdeck_tests::bins;
use serde_json::Value;

/// Every wait in these tests; generous, as the machine may be busy.
pub const DEADLINE: Duration = Duration::from_secs(90);
/// A request through the cluster.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

pub fn manifest_path() -> std::path::PathBuf {
    bins::workspace_root().join("services/cluster.toml")
}

/// A port offset under which the bundled cluster's ports (7400..=7404) look free.
pub fn free_offset() -> u16 {
    loop {
        let offset = 1000 + (std::process::id() as u16 % 200) * 100 + (rand_u16() % 100);
        let base = 7400u32 + offset as u32;
        if base + 4 < 65000 && (0..5).all(|i| std::net::TcpListener::bind(("127.0.0.1", (base + i) as u16)).is_ok()) {
            return offset;
        }
    }
}

fn rand_u16() -> u16 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() as u16).unwrap_or(7)
}

/// The bundled cluster, run in this process; drop the folder after `shutdown`.
pub async fn bundled_cluster() -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = microdeck::manifest::load_file(&manifest_path()).expect("bundled manifest is valid");
    for _attempt in 0..5 {
        let mut options = ClusterOptions::default_for(&manifest);
        options.run_dir = dir.path().join("run");
        options.data_dir = dir.path().join("data");
        options.program_dirs = vec![bins::bin_dir().to_path_buf()];
        options.shim = Some(bins::bin("microdeck"));
        options.port_offset = free_offset();
        match tokio::time::timeout(DEADLINE, Cluster::start(manifest.clone(), options)).await.expect("start in time") {
            Ok(c) => return (c, dir),
            // Another process took a port between the check and the bind: shift again.
            Err(ClusterError::PortInUse { .. }) => continue,
            Err(e) => panic!("the bundled cluster does not start: {e}"),
        }
    }
    panic!("no free port range for the bundled cluster");
}

pub async fn poll<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn all_ready(s: &ClusterSnapshot) -> bool {
    !s.services.is_empty() && s.services.iter().all(|v| v.state == ServiceState::Ready && v.ready == v.desired)
}

pub async fn wait_all_ready(cluster: &Cluster) -> ClusterSnapshot {
    poll("every service ready", async || Some(cluster.snapshot()).filter(all_ready)).await
}

/// Waits until `service` is stopped and none of its processes is left.
pub async fn wait_stopped(cluster: &Cluster, service: &str) {
    wait_state(cluster, service, ServiceState::Stopped, 0).await;
    poll(&format!("every {service} process gone"), async || {
        let snap = cluster.snapshot();
        let view = snap.services.iter().find(|s| s.name == service)?;
        view.replicas.iter().all(|r| r.pid.is_none() && r.last_exit.is_some()).then_some(())
    })
    .await
}

pub async fn wait_state(cluster: &Cluster, service: &str, state: ServiceState, ready: u32) {
    let c = cluster.clone();
    let name = service.to_string();
    // On a timeout, say what the service was doing instead.
    let _report = Report(Box::new(move || {
        let snap = c.snapshot();
        let view = snap.services.iter().find(|s| s.name == name);
        let log = std::fs::read_to_string(std::path::Path::new(&snap.logs_dir).join(format!("{name}.log"))).unwrap_or_default();
        let tail: Vec<_> = log.lines().rev().take(15).collect();
        format!("{view:#?}\nlast log lines (newest first):\n{}", tail.join("\n"))
    }));
    poll(&format!("{service} {state:?} with {ready} ready"), async || {
        cluster.snapshot().services.iter().find(|s| s.name == service).filter(|s| s.state == state && s.ready == ready).map(|_| ())
    })
    .await
}

/// `http://ADDRESS` of a service's stable address.
pub fn url_of(cluster: &Cluster, service: &str) -> String {
    let snap = cluster.snapshot();
    let s = snap.services.iter().find(|s| s.name == service).unwrap_or_else(|| panic!("no service {service}"));
    format!("http://{}", s.address)
}

/// One answer: status and JSON body (null when not JSON).
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub bytes: Vec<u8>,
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = tokio::time::timeout(REQUEST_DEADLINE, req.send()).await.expect("answer in time").expect("request sent");
    let status = resp.status().as_u16();
    let bytes = tokio::time::timeout(REQUEST_DEADLINE, resp.bytes()).await.expect("body in time").expect("body").to_vec();
    Reply { status, json: serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

/// Logs in as the seeded `demo` at `base` (the gateway's or an auth replica's login URL).
pub async fn login(login_url: &str) -> String {
    let r = send(client().post(login_url).json(&serde_json::json!({ "username": "demo", "password": "demo" }))).await;
    assert_eq!(r.status, 200, "login at {login_url}: {}", r.json);
    r.json["token"].as_str().expect("token").to_string()
}

/// Prints its message if dropped during a panic (a failed wait), to show the state.
struct Report(Box<dyn Fn() -> String>);

impl Drop for Report {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", (self.0)());
        }
    }
}
