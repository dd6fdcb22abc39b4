//! The local API over a real `Cluster` of `sleep` services: JSON routes, errors as
//! `{ code, message }`, the SSE feed, the guard, the CLI verbs found through the state file,
//! reloading the manifest file after an edit, (`deploy`) deploys and rollouts, and (`fault`)
//! faults at a service's address.

mod deploy;
mod fault;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use tokio::time::timeout;

use microdeck::cluster::{Cluster, ClusterOptions};
use microdeck::web::{self, WebHandle, WebOptions};
use microdeck_tests::bins;

const DEADLINE: Duration = Duration::from_secs(30);

struct Running {
    cluster: Cluster,
    web: Option<WebHandle>,
    url: String,
    token: String,
    dir: PathBuf,
}

impl Running {
    async fn stop(mut self) {
        if let Some(web) = self.web.take() {
            timeout(DEADLINE, web.shutdown()).await.expect("the API stops in time");
        }
        timeout(DEADLINE, self.cluster.shutdown()).await.expect("the cluster stops in time");
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("runtime")
    }
}

const TINY: &str = "name = \"tiny\"\n[services.sleeper]\ncommand = \"sleep\"\nargs = [\"1000\"]\n";

async fn start(name: &str) -> Result<Running> {
    start_with(name, "").await
}

/// A cluster of `TINY` plus `extra` manifest text (e.g. load scenarios), read from
/// `<dir>/cluster.toml` (so a reload reads that file again).
async fn start_with(name: &str, extra: &str) -> Result<Running> {
    let dir = std::env::temp_dir().join(format!("mdk-webapi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cluster.toml"), format!("{TINY}{extra}"))?;
    let manifest = microdeck::manifest::load_file(&dir.join("cluster.toml"))?;
    let mut options = ClusterOptions::default_for(&manifest);
    options.run_dir = dir.join("run");
    options.data_dir = dir.join("data");
    options.shim = Some(bins::bin("microdeck"));
    let cluster = Cluster::start(manifest, options).await?;
    let web = web::serve_for(
        cluster.clone(),
        WebOptions {
            port: 0,
            ui_dir: Some(dir.join("ui")),
            token_file: Some(dir.join("config/microdeck/token")),
            state_file: Some(dir.join("runtime/microdeck/api.json")),
        },
    )
    .await?;
    let token = std::fs::read_to_string(dir.join("config/microdeck/token"))?.trim().to_owned();
    Ok(Running { cluster, url: web.url.clone(), web: Some(web), token, dir })
}

async fn call(r: &Running, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", r.url);
    let mut req = client.request(reqwest::Method::from_bytes(method.as_bytes())?, &url);
    req = req.bearer_auth(&r.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = timeout(DEADLINE, req.send()).await??;
    let status = resp.status().as_u16();
    let text = timeout(DEADLINE, resp.text()).await??;
    Ok((status, serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))?))
}

async fn wait_snapshot(r: &Running, what: &str, ok: impl Fn(&Value) -> bool) -> Result<Value> {
    let start = Instant::now();
    loop {
        let (_, snap) = call(r, "GET", "/api/snapshot", None).await?;
        if ok(&snap) {
            return Ok(snap);
        }
        ensure!(start.elapsed() < DEADLINE, "timed out waiting for {what}: {snap:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sleeper(snap: &Value) -> &Value {
    &snap["services"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_json_and_errors_carry_code_and_status() -> Result<()> {
    let r = start("routes").await?;
    let result = async {
        wait_snapshot(&r, "sleeper ready", |s| sleeper(s)["state"] == "ready").await?;
        assert_eq!(call(&r, "POST", "/api/services/sleeper/scale", Some(json!({"replicas": 2}))).await?, (200, json!({})));
        wait_snapshot(&r, "sleeper 2/2", |s| sleeper(s)["ready"] == 2 && sleeper(s)["desired"] == 2).await?;
        let (status, err) = call(&r, "POST", "/api/services/nope/restart", None).await?;
        assert_eq!((status, err["code"].as_str()), (404, Some("unknown-service")), "{err}");
        let (status, err) = call(&r, "POST", "/api/services/sleeper/replicas/9/kill", None).await?;
        assert_eq!((status, err["code"].as_str()), (404, Some("unknown-replica")), "{err}");
        let (status, err) = call(&r, "POST", "/api/services/sleeper/scale", Some(json!({"replicas": "many"}))).await?;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid-argument")), "{err}");
        let (status, err) = call(&r, "GET", "/api/logs?level=loud", None).await?;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid-argument")), "{err}");
        let (status, err) = call(&r, "GET", "/api/nothing-here", None).await?;
        assert_eq!((status, err["code"].as_str()), (404, Some("not-found")), "{err}");
        let (status, lines) = call(&r, "GET", "/api/logs?service=sleeper&limit=5", None).await?;
        assert!(status == 200 && lines.is_array(), "{lines}");
        let (status, events) = call(&r, "GET", "/api/events", None).await?;
        assert!(status == 200 && events.as_array().is_some_and(|e| !e.is_empty()), "{events}");
        assert_eq!(call(&r, "POST", "/api/cluster/stop-all", None).await?, (200, json!({})));
        wait_snapshot(&r, "sleeper stopped", |s| sleeper(s)["state"] == "stopped").await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

const SCENARIOS: &str = r#"
[[load.scenario]]
name = "browse"
target = "sleeper"
setup = { method = "POST", path = "/login", body = '{"password":"secret"}', extract = { token = "/token" } }

[[load.scenario.request]]
method = "GET"
path = "/home"
headers = { authorization = "Bearer {{token}}" }
weight = 3

[[load.scenario.request]]
method = "PUT"
path = "/note"
body = "hello"

[[load.scenario]]
name = "storm"
target = "sleeper"

[[load.scenario.request]]
method = "POST"
path = "/login"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_scenarios_lists_the_manifest_scenarios_in_order_without_secrets() -> Result<()> {
    let r = start_with("scenarios", SCENARIOS).await?;
    let result = async {
        let (status, list) = call(&r, "GET", "/api/load/scenarios", None).await?;
        assert_eq!(status, 200, "{list}");
        assert_eq!(
            list,
            json!([
                {
                    "name": "browse",
                    "target": "sleeper",
                    "setup": "POST /login",
                    "requests": [{"method": "GET", "path": "/home", "weight": 3}, {"method": "PUT", "path": "/note", "weight": 1}],
                },
                {"name": "storm", "target": "sleeper", "setup": null, "requests": [{"method": "POST", "path": "/login", "weight": 1}]},
            ])
        );
        // Headers and bodies stay in the engine: the setup's credentials are not listed.
        let text = list.to_string();
        assert!(!text.contains("secret") && !text.contains("Bearer") && !text.contains("hello"), "{text}");
        // Without a token the list is refused like every other route.
        let resp = timeout(DEADLINE, reqwest::get(format!("{}/api/load/scenarios", r.url))).await??;
        assert_eq!(resp.status().as_u16(), 401);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_without_scenarios_lists_none() -> Result<()> {
    let r = start("no-scenarios").await?;
    let result = async {
        assert_eq!(call(&r, "GET", "/api/load/scenarios", None).await?, (200, json!([])));
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_load_run_is_busy_until_the_first_stops() -> Result<()> {
    let r = start_with("load-busy", SCENARIOS).await?;
    let result = async {
        let storm = || Some(json!({"scenario": "storm", "rate": 1}));
        let (status, bad) = call(&r, "POST", "/api/load/start", Some(json!({"scenario": "storm", "rate": 1, "duration": -1}))).await?;
        assert_eq!((status, bad["code"].as_str()), (400, Some("invalid-argument")), "{bad}");
        let (status, report) = call(&r, "POST", "/api/load/start", storm()).await?;
        assert_eq!(status, 200, "{report}");
        let (status, err) = call(&r, "POST", "/api/load/start", storm()).await?;
        assert_eq!((status, err["code"].as_str()), (409, Some("busy")), "{err}");
        assert_eq!(err["message"], "a load run is going (`storm` at 1 req/s); stop it first");
        assert_eq!(call(&r, "POST", "/api/load/stop", None).await?.0, 200);
        let (status, report) = call(&r, "POST", "/api/load/start", storm()).await?;
        assert_eq!(status, 200, "a stopped run leaves room for the next: {report}");
        assert_eq!(call(&r, "POST", "/api/load/stop", None).await?.0, 200);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_duration_past_the_limit_is_refused_and_the_next_start_works() -> Result<()> {
    let r = start_with("load-huge", SCENARIOS).await?;
    let result = async {
        let huge = Some(json!({"scenario": "storm", "rate": 1, "duration": 1e19}));
        let (status, err) = call(&r, "POST", "/api/load/start", huge).await?;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid-argument")), "{err}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains("from 0 to 86400"), "the message names the limits: {message}");
        let (status, err) = call(&r, "POST", "/api/load/start", Some(json!({"scenario": "storm", "rate": 1e9}))).await?;
        assert_eq!((status, err["code"].as_str()), (400, Some("invalid-argument")), "{err}");
        let (status, report) = call(&r, "POST", "/api/load/start", Some(json!({"scenario": "storm", "rate": 1, "duration": 60}))).await?;
        assert_eq!(status, 200, "a refused start leaves room for the next: {report}");
        let (status, report) = call(&r, "POST", "/api/load/stop", None).await?;
        assert_eq!(status, 200, "{report}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_streams_update_events_starting_with_a_snapshot() -> Result<()> {
    let r = start("sse").await?;
    let result = async {
        let mut resp = timeout(
            DEADLINE,
            reqwest::Client::new().get(format!("{}/api/subscribe", r.url)).bearer_auth(&r.token).send(),
        )
        .await??;
        ensure!(resp.status() == 200, "status {}", resp.status());
        let content_type = resp.headers()["content-type"].to_str()?.to_owned();
        ensure!(content_type.starts_with("text/event-stream"), "{content_type}");
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = timeout(DEADLINE, resp.chunk()).await??.context("the feed ended")?;
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let frame = text.split("\n\n").next().unwrap_or_default();
        ensure!(frame.lines().any(|l| l == "event: update"), "{frame}");
        let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).context("no data line")?;
        let update: Value = serde_json::from_str(data)?;
        assert_eq!(update["type"], "snapshot", "{update}");
        assert_eq!(update["name"], "tiny", "{update}");
        Ok(())
    }
    .await;
    // An open feed must not hold the server up: the shutdown ends it.
    r.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_missing_token_foreign_host_and_origin() -> Result<()> {
    let r = start("guard").await?;
    let client = reqwest::Client::new();
    let url = format!("{}/api/snapshot", r.url);
    let port = r.url.rsplit(':').next().unwrap_or_default().to_owned();
    let no_token = timeout(DEADLINE, client.get(&url).send()).await??.status().as_u16();
    let host = timeout(DEADLINE, client.get(&url).bearer_auth(&r.token).header("host", format!("attacker.example:{port}")).send()).await??.status().as_u16();
    let origin = timeout(DEADLINE, client.post(format!("{}/api/cluster/stop-all", r.url)).bearer_auth(&r.token).header("origin", "http://attacker.example").send()).await??.status().as_u16();
    let snap_after = call(&r, "GET", "/api/snapshot", None).await?.1;
    r.stop().await;
    assert_eq!((no_token, host, origin), (401, 403, 403));
    // The refused stop-all did nothing.
    assert_ne!(sleeper(&snap_after)["desired"], 0, "{snap_after}");
    Ok(())
}

/// The dashboard as a browser meets it: files without a token, the API and the live feed only
/// with the bearer header (the `microdeck_token` cookie alone is refused), no cookie set, and
/// nothing that another page may frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_needs_no_cookie_and_cannot_be_framed() -> Result<()> {
    let r = start("dashboard").await?;
    let result = async {
        let ui = r.dir.join("ui");
        std::fs::create_dir_all(ui.join("assets"))?;
        std::fs::write(ui.join("index.html"), "<!doctype html><title>deck</title>")?;
        std::fs::write(ui.join("assets/app.js"), "console.log('deck')")?;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{}{path}", r.url));
        let cookie = format!("{}={}", microdeck::proxy::DASHBOARD_COOKIE, r.token);
        let cases = [
            ("/", get("/"), 200, "<!doctype html><title>deck</title>"),
            ("/assets/app.js", get("/assets/app.js"), 200, "console.log('deck')"),
            ("a route of the app", get("/service/sleeper"), 200, "<!doctype html><title>deck</title>"),
            ("snapshot with the cookie only", get("/api/snapshot").header("cookie", &cookie), 401, ""),
            ("feed with the cookie only", get("/api/subscribe").header("cookie", &cookie), 401, ""),
            ("metrics with the cookie only", get("/metrics").header("cookie", &cookie), 401, ""),
            ("snapshot with the header", get("/api/snapshot").bearer_auth(&r.token), 200, ""),
            ("feed with the header", get("/api/subscribe").bearer_auth(&r.token), 200, ""),
        ];
        for (what, request, status, body) in cases {
            let resp = timeout(DEADLINE, request.send()).await??;
            let headers = resp.headers().clone();
            ensure!(resp.status().as_u16() == status, "{what}: status {}", resp.status());
            ensure!(headers.get("set-cookie").is_none(), "{what}: sets a cookie: {headers:?}");
            ensure!(headers.get("content-security-policy").is_some_and(|v| v == "frame-ancestors 'none'"), "{what}: {headers:?}");
            ensure!(headers.get("x-frame-options").is_some_and(|v| v == "DENY"), "{what}: {headers:?}");
            if what.starts_with("feed with the header") {
                let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
                ensure!(kind.starts_with("text/event-stream"), "{what}: {kind}");
            } else if !body.is_empty() {
                ensure!(timeout(DEADLINE, resp.text()).await?? == body, "{what}: another body");
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

fn cli(state_dir: &Path, args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new(bins::bin("microdeck")).args(args).env("XDG_RUNTIME_DIR", state_dir).output()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verbs_find_the_cluster_through_the_state_file() -> Result<()> {
    let r = start("cli").await?;
    let state_dir = r.state_dir();
    let result = async {
        wait_snapshot(&r, "sleeper ready", |s| sleeper(s)["state"] == "ready").await?;
        let (ok, out, err) = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || cli(&d, &["scale", "sleeper", "3"])
        })
        .await??;
        ensure!(ok, "scale failed: {err}");
        ensure!(out.contains("sleeper"), "{out}");
        wait_snapshot(&r, "sleeper 3/3", |s| sleeper(s)["ready"] == 3).await?;
        let (ok, out, err) = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || cli(&d, &["status"])
        })
        .await??;
        ensure!(ok, "status failed: {err}");
        ensure!(out.lines().any(|l| l.starts_with("sleeper") && l.contains("ready") && l.contains("3/3")), "{out}");
        let (ok, _, err) = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || cli(&d, &["restart", "nope"])
        })
        .await??;
        ensure!(!ok && err.contains("no service named `nope`"), "{err}");
        Ok(())
    }
    .await;
    r.stop().await;
    result?;
    // Once it stopped, the state file is gone and the CLI says so.
    let (ok, _, err) = cli(&state_dir, &["status"])?;
    ensure!(!ok && err.contains("no running Microdeck found") && err.contains("microdeck up"), "{err}");
    Ok(())
}

/// A listener standing for an HTTP proxy: it keeps what each connection sends, then closes it.
fn proxy_listener() -> Result<(String, std::sync::mpsc::Receiver<Vec<u8>>)> {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut got = vec![0; 4096];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
            let n = conn.read(&mut got).unwrap_or(0);
            got.truncate(n);
            let _ = tx.send(got);
        }
    });
    Ok((url, rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_goes_to_the_local_api_directly_whatever_proxy_the_environment_names() -> Result<()> {
    let r = start("no-proxy").await?;
    let state_dir = r.state_dir();
    let result = async {
        let (proxy, seen) = proxy_listener()?;
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(bins::bin("microdeck"));
            cmd.arg("status").env("XDG_RUNTIME_DIR", &state_dir).env_remove("NO_PROXY").env_remove("no_proxy");
            for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
                cmd.env(var, &proxy);
            }
            cmd.output()
        })
        .await??;
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // A connection is kept before it is closed, so one made during the command shows here.
        let sent: Vec<String> = seen.try_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
        ensure!(sent.is_empty(), "the proxy was sent: {sent:?}");
        ensure!(out.status.success(), "status failed: {stderr}");
        ensure!(stdout.contains("sleeper"), "{stdout}");
        Ok(())
    }
    .await;
    r.stop().await;
    result
}

const PAINTER: &str = r#"
[services.painter]
shell = "printf 'painted \\033[31mred\\033]0;retitled\\007 and\\ttabbed\\n'; exec sleep 1000"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_show_a_services_terminal_control_sequences_escaped_unless_raw() -> Result<()> {
    let r = start_with("logs-escape", PAINTER).await?;
    let state_dir = r.state_dir();
    let result = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let escaped = loop {
            let (ok, out, err) = cli(&state_dir, &["logs", "painter"])?;
            ensure!(ok, "logs failed: {err}");
            if out.contains("painted") {
                break out;
            }
            ensure!(start.elapsed() < DEADLINE, "no `painted` line in time: {out}");
            std::thread::sleep(Duration::from_millis(50));
        };
        ensure!(!escaped.contains('\u{1b}') && !escaped.contains('\u{7}'), "control characters reached the terminal: {escaped:?}");
        ensure!(escaped.contains("painted \\x1b[31mred\\x1b]0;retitled\\x07 and\ttabbed"), "{escaped:?}");
        let (ok, raw, err) = cli(&state_dir, &["logs", "painter", "--raw"])?;
        ensure!(ok, "logs --raw failed: {err}");
        ensure!(raw.contains("painted \u{1b}[31mred\u{1b}]0;retitled\u{7} and\ttabbed"), "{raw:?}");
        Ok(())
    })
    .await;
    r.stop().await;
    result?
}

/// The one replica limit: a manifest asking for one more is refused at its position, and a
/// scale to one more is refused by the API and the CLI with the same code and message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_past_the_replica_limit_is_refused_like_the_manifest_refuses_it() -> Result<()> {
    use microdeck::manifest::MAX_REPLICAS;
    assert_eq!(MAX_REPLICAS, 16);
    let over = MAX_REPLICAS + 1;
    let text = format!("{TINY}replicas = {over}\n");
    let errors = microdeck::manifest::parse_manifest(text.as_bytes(), "over.toml", Path::new(".")).expect_err("17 replicas");
    let message = errors.to_string();
    ensure!(message.contains("over.toml:5:12: services.sleeper.replicas: 17 is out of range 0..=16"), "{message}");

    let r = start("limit").await?;
    let state_dir = r.state_dir();
    let result = async {
        wait_snapshot(&r, "sleeper ready", |s| sleeper(s)["state"] == "ready").await?;
        let want = format!("sleeper: at most {MAX_REPLICAS} replicas, not {over}");
        let (status, err) = call(&r, "POST", "/api/services/sleeper/scale", Some(json!({"replicas": over}))).await?;
        assert_eq!((status, err["code"].as_str(), err["message"].as_str()), (400, Some("invalid-argument"), Some(want.as_str())), "{err}");
        let (ok, _, err) = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || cli(&d, &["scale", "sleeper", &over.to_string()])
        })
        .await??;
        ensure!(!ok && err.contains(&want), "{err}");
        let (_, snap) = call(&r, "GET", "/api/snapshot", None).await?;
        assert_eq!(sleeper(&snap)["desired"], 1, "{snap}");
        // The limit itself is allowed, and a rolling restart at the limit (one surge process
        // beside the 16) replaces every replica.
        assert_eq!(call(&r, "POST", "/api/services/sleeper/scale", Some(json!({"replicas": MAX_REPLICAS}))).await?, (200, json!({})));
        let full = wait_snapshot(&r, "sleeper 16/16", |s| sleeper(s)["ready"] == MAX_REPLICAS).await?;
        let old: Vec<u64> = pids_of(&full).into_iter().flat_map(|(_, p)| p).collect();
        assert_eq!(call(&r, "POST", "/api/services/sleeper/restart", None).await?, (200, json!({})));
        wait_snapshot(&r, "16 new replicas", |s| {
            let pids: Vec<u64> = pids_of(s).into_iter().flat_map(|(_, p)| p).collect();
            sleeper(s)["ready"] == MAX_REPLICAS && pids.len() == MAX_REPLICAS as usize && pids.iter().all(|p| !old.contains(p))
        })
        .await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}

fn pids_of(snap: &Value) -> Vec<(String, Vec<u64>)> {
    let services = snap["services"].as_array().cloned().unwrap_or_default();
    services
        .iter()
        .map(|s| {
            let pids = s["replicas"].as_array().into_iter().flatten().filter_map(|r| r["pid"].as_u64()).collect();
            (s["name"].as_str().unwrap_or_default().to_owned(), pids)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_the_edited_file_and_a_broken_one_changes_nothing() -> Result<()> {
    let r = start("reload").await?;
    let file = r.dir.join("cluster.toml");
    let state_dir = r.state_dir();
    let result = async {
        wait_snapshot(&r, "sleeper ready", |s| sleeper(s)["state"] == "ready").await?;
        let no_token = timeout(DEADLINE, reqwest::Client::new().post(format!("{}/api/reload", r.url)).send()).await??;
        assert_eq!(no_token.status().as_u16(), 401);

        std::fs::write(&file, format!("{TINY}[services.napper]\ncommand = \"sleep\"\nargs = [\"1001\"]\n"))?;
        let (status, report) = call(&r, "POST", "/api/reload", None).await?;
        assert_eq!((status, report), (200, json!({"changed": [], "added": ["napper"], "removed": [], "unchanged": ["sleeper"], "deployed-on-top": []})));
        let running = wait_snapshot(&r, "napper ready", |s| s["services"][1]["name"] == "napper" && s["services"][1]["state"] == "ready").await?;

        // Line 5 has the error: nothing is applied, every process keeps running.
        std::fs::write(&file, format!("{TINY}replicas = \"many\"\n[services.extra]\ncommand = \"sleep\"\nargs = [\"1002\"]\n"))?;
        let (status, err) = call(&r, "POST", "/api/reload", None).await?;
        assert_eq!((status, err["code"].as_str()), (422, Some("invalid-manifest")), "{err}");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("{}:5:", file.display())) && message.contains("replicas"), "{message}");
        let (_, after) = call(&r, "GET", "/api/snapshot", None).await?;
        assert_eq!(pids_of(&after), pids_of(&running), "a broken manifest changed the cluster");
        assert_eq!(pids_of(&after).len(), 2);

        // The CLI verb: the same errors (exit 3), then what a good file changed.
        let out = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || Command::new(bins::bin("microdeck")).arg("reload").env("XDG_RUNTIME_DIR", d).output()
        })
        .await??;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains(&format!("{}:5:", file.display())), "{stderr}");
        std::fs::write(&file, TINY)?;
        let (ok, out, err) = tokio::task::spawn_blocking({
            let d = state_dir.clone();
            move || cli(&d, &["reload"])
        })
        .await??;
        ensure!(ok, "reload failed: {err}");
        assert_eq!(out, "removed:   napper\nunchanged: sleeper\n");
        let (_, after) = call(&r, "GET", "/api/snapshot", None).await?;
        assert_eq!(pids_of(&after), pids_of(&running)[..1], "sleeper kept its process");
        let (_, events) = call(&r, "GET", "/api/events", None).await?;
        let reloads = events.as_array().into_iter().flatten().filter(|e| e["kind"] == "reloaded").count();
        assert_eq!(reloads, 2, "{events:#}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    r.stop().await;
    result
}
