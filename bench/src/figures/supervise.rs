//! P1 (start-up of the bundled cluster), P2 (scale → first response from the new
//! replica), P3 (SIGKILL → the replacement answering, vs PM2).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use microdeck::cluster::{Cluster, ClusterOptions};
use microdeck::snapshot::{EventKind, ServiceState};

use super::Ctx;
use crate::engine::{manifest, Up};
use crate::http::{free_port, get_once, poll};
use crate::pm2::{Pm2, PYTHON};
use crate::report::{Row, Samples};

/// A port offset under which the bundled cluster's ports (7400–7404) are all free.
fn free_offset() -> Result<u16> {
    for k in 0..200u16 {
        let off = 20000 + (std::process::id() as u16 % 97) * 10 + k * 13;
        if (7400..7405).all(|p| std::net::TcpListener::bind(("127.0.0.1", p + off)).is_ok()) {
            return Ok(off);
        }
    }
    bail!("no free port offset for the bundled cluster")
}

/// The programs of the bundled cluster (services/cluster.toml).
const SAMPLES: [&str; 5] = ["mdk-gateway", "mdk-auth", "mdk-users", "mdk-media", "mdk-analytics"];

pub async fn p1(ctx: &Ctx) -> Result<Vec<Row>> {
    let manifest = ctx.root.join("services/cluster.toml");
    if !manifest.is_file() {
        bail!("no bundled cluster at {}", manifest.display());
    }
    let missing: Vec<&str> = SAMPLES.iter().copied().filter(|p| !ctx.bins.path(p).is_file()).collect();
    if !missing.is_empty() {
        bail!("sample programs not built in {}: {}", ctx.bins.dir.display(), missing.join(", "));
    }
    let mut s = Samples::default();
    for _ in 0..ctx.runs {
        let off = free_offset()?.to_string();
        let up = Up::start_bundled(&ctx.bins, &ctx.root, &["--port-offset", &off])?;
        let snap = up.wait_ready(Duration::from_secs(30)).await?;
        if snap.services.len() < 5 {
            bail!("the bundled cluster has {} services, not five", snap.services.len());
        }
        // events.jsonl may trail snapshot.json by a moment: wait for every ready event.
        let names: Vec<String> = snap.services.iter().map(|v| v.name.clone()).collect();
        let last = poll("a ready event per service in events.jsonl", Duration::from_secs(5), Duration::from_millis(5), || async {
            let events = up.events();
            let mut last = 0u64;
            for name in &names {
                last = last.max(events.iter().find(|e| &e.service == name && e.kind == EventKind::Ready)?.at);
            }
            Some(last)
        })
        .await?;
        s.push(last.saturating_sub(up.spawned_at_ms) as f64 / 1000.0);
    }
    let med = s.median();
    Ok(vec![Row::new("P1", "`microdeck up` of the bundled cluster → all five ready (from the events' own times)", s.show(" s"))
        .target("≤ 1.0 s", med <= 1.0)])
}

fn testsvc_body(port: u16) -> String {
    format!("command = \"mdk-testsvc\"\nport = {port}\nhealth = {{ http = \"/health\", interval = \"1s\" }}\n")
}

/// The `pid` field of mdk-testsvc's JSON answer.
fn answered_pid(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?["pid"].as_u64()
}

pub async fn p2(ctx: &Ctx) -> Result<Vec<Row>> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("cluster.toml");
    std::fs::write(&file, manifest("web", &testsvc_body(port)))?;
    let m = microdeck::manifest::load_file(&file)?;
    let mut options = ClusterOptions::default_for(&m);
    options.run_dir = dir.path().join("run");
    options.data_dir = dir.path().join("data");
    options.program_dirs = vec![ctx.bins.dir.clone()];
    options.shim = Some(ctx.bins.path("microdeck"));
    let cluster = tokio::time::timeout(Duration::from_secs(10), Cluster::start(m, options)).await??;
    let result = p2_runs(ctx, &cluster, port).await;
    tokio::time::timeout(Duration::from_secs(20), cluster.shutdown()).await?;
    let s = result?;
    let p95 = s.percentile(95.0);
    Ok(vec![Row::new("P2", format!("scale 1→2 → first proxied response from the new replica (p95 of {} runs; median {} ms)", s.0.len(), crate::report::num(s.median())), format!("{} ms p95 (min {} – max {})", crate::report::num(p95), crate::report::num(s.min()), crate::report::num(s.max())))
        .target("≤ 150 ms p95", p95 <= 150.0)])
}

async fn wait_replicas(cluster: &Cluster, n: u32) -> Result<Vec<u32>> {
    poll("replicas settled", Duration::from_secs(20), Duration::from_millis(5), || async {
        let snap = cluster.snapshot();
        let s = snap.services.first()?;
        let pids: Vec<u32> = s.replicas.iter().filter_map(|r| r.pid).collect();
        (s.state == ServiceState::Ready && s.ready == n && s.desired == n && pids.len() == n as usize).then_some(pids)
    })
    .await
}

async fn p2_runs(ctx: &Ctx, cluster: &Cluster, port: u16) -> Result<Samples> {
    let addr = format!("127.0.0.1:{port}");
    let mut s = Samples::default();
    let runs = if ctx.quick { 1 } else { 20.max(ctx.runs) };
    for _ in 0..runs {
        let old: Vec<u64> = wait_replicas(cluster, 1).await?.into_iter().map(u64::from).collect();
        let t0 = Instant::now();
        cluster.scale("web", 2).await?;
        poll("a response from the new replica", Duration::from_secs(10), Duration::from_millis(1), || async {
            let r = get_once(&addr, "/", Duration::from_millis(500)).await.ok()?;
            answered_pid(&r.body).filter(|p| r.status == 200 && !old.contains(p))
        })
        .await?;
        s.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.scale("web", 1).await?;
    }
    Ok(s)
}

/// Kills `pid` with SIGKILL and times until `addr` answers 200 from another process.
async fn kill_and_time(pid: u32, addr: &str, check_pid: bool) -> Result<f64> {
    // SAFETY: a plain kill(2) of a pid we just read from the supervisor.
    if unsafe { libc::kill(pid as i32, libc::SIGKILL) } != 0 {
        bail!("kill -9 {pid} failed");
    }
    let t0 = Instant::now();
    poll("the replacement answering", Duration::from_secs(15), Duration::from_millis(2), || async {
        let r = get_once(addr, "/", Duration::from_millis(300)).await.ok()?;
        let other = !check_pid || answered_pid(&r.body).is_some_and(|p| p != u64::from(pid));
        (r.status == 200 && other).then_some(())
    })
    .await?;
    Ok(t0.elapsed().as_secs_f64() * 1000.0)
}

/// Restart time under Microdeck for a program given by its manifest body: one kill per
/// fresh cluster, since a second crash in a row is backed off on purpose (250 ms, 500 ms…).
async fn p3_microdeck(ctx: &Ctx, body: &str, port: u16, check_pid: bool, s: &mut Samples) -> Result<()> {
    for _ in 0..ctx.runs {
        let up = Up::start(&ctx.bins, &manifest("web", body), &[])?;
        let snap = up.wait_ready(Duration::from_secs(20)).await?;
        let pid = snap.services[0].replicas[0].pid.context("no pid")?;
        s.push(kill_and_time(pid, &format!("127.0.0.1:{port}"), check_pid).await?);
    }
    Ok(())
}

pub async fn p3(ctx: &Ctx) -> Result<Vec<Row>> {
    let mut rust = Samples::default();
    let port = free_port()?;
    p3_microdeck(ctx, &testsvc_body(port), port, true, &mut rust).await?;
    let mut rows = vec![Row::new("P3", "SIGKILL of a replica → replacement answering via the service address (Rust, mdk-testsvc; first crash of a fresh cluster each run)", rust.show(" ms"))
        .target("≤ 100 ms", rust.median() <= 100.0)];
    let port = free_port()?;
    let py_body = format!(
        "shell = \"exec {PYTHON} -m http.server $PORT --bind 127.0.0.1\"\nport = {port}\nhealth = {{ http = \"/\", interval = \"1s\" }}\n"
    );
    let mut py = Samples::default();
    p3_microdeck(ctx, &py_body, port, false, &mut py).await?;
    if !ctx.peers {
        rows.push(Row::new("P3", "… same, Python `http.server` (peer PM2 skipped in quick mode)", py.show(" ms")));
        return Ok(rows);
    }
    let pm2 = Pm2::new(&ctx.bench_dir)?;
    let pm2_port = free_port()?;
    pm2.start(&serde_json::json!([{
        "name": "web", "script": PYTHON, "interpreter": "none",
        "args": ["-m", "http.server", pm2_port.to_string(), "--bind", "127.0.0.1"],
        "autorestart": true, "restart_delay": 0
    }]))?;
    let addr = format!("127.0.0.1:{pm2_port}");
    poll("PM2's python answering", Duration::from_secs(20), Duration::from_millis(20), || async {
        get_once(&addr, "/", Duration::from_millis(300)).await.ok().filter(|r| r.status == 200)
    })
    .await?;
    let mut peer = Samples::default();
    for _ in 0..ctx.runs {
        let pid = pm2.wait_pids(1, Duration::from_secs(10))?[0].1;
        peer.push(kill_and_time(pid, &addr, false).await?);
        // PM2 lists the new pid a moment after it answers.
        poll("PM2's new pid", Duration::from_secs(10), Duration::from_millis(20), || async {
            pm2.pids().ok()?.first().filter(|(_, p)| *p != pid).map(|_| ())
        })
        .await?;
    }
    let ratio = py.median() / peer.median();
    rows.push(
        Row::new("P3", "… same, Python `/usr/bin/python3 -m http.server`", py.show(" ms"))
            .peer(format!("PM2: {} → ratio {}×", peer.show(" ms"), crate::report::num(ratio)))
            .target("within 10% of PM2 (≤ 1.10×)", ratio <= 1.10),
    );
    Ok(rows)
}
