//! P9: `microdeck load`'s achieved rate at 1,000 and 5,000 rps and its ceiling, against
//! a fast local target (mdk-testsvc, no proxy), vs wrk in the same run.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::http::{free_port, get_once, poll};
use crate::report::{num, ratios, Row, Samples};

/// The target, killed on drop.
struct Target(Child);

impl Drop for Target {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

/// Fails, saying why, unless this tree's `microdeck` runs and has the `load` verb.
fn check_load(ctx: &Ctx) -> Result<()> {
    let program = ctx.bins.path("microdeck");
    let out = Command::new(&program)
        .args(["load", "--help"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!("`{} load --help` failed ({}): {}", program.display(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `microdeck load` at `rate` for `secs`; the achieved rate from its summary.
fn load(ctx: &Ctx, manifest: &std::path::Path, addr: &str, rate: f64, secs: u64) -> Result<f64> {
    let out = Command::new(ctx.bins.path("microdeck"))
        .args(["load", "--scenario", "get", "--rate", &rate.to_string(), "--for", &format!("{secs}s"), "--target", addr, "--manifest"])
        .arg(manifest)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("microdeck load failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let errors = text.lines().find_map(|l| l.split("errors ").nth(1)?.split_whitespace().next()?.parse::<u64>().ok());
    if errors.is_some_and(|e| e > 0) && rate < 10_000.0 {
        bail!("microdeck load met errors at {rate} rps: {text}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("achieved ")?.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no achieved rate in: {text}"))
}

/// wrk's Requests/sec, closed loop, 2 threads × 32 connections.
fn wrk(addr: &str, secs: u64) -> Result<f64> {
    let out = Command::new("wrk").args(["-t2", "-c32", &format!("-d{secs}s"), &format!("http://{addr}/")]).output().context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:")?.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {text}"))
}

pub async fn p9(ctx: &Ctx) -> Result<Vec<Row>> {
    check_load(ctx)?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let _target = Target(
        Command::new(ctx.bins.path("mdk-testsvc"))
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", ctx.bins.path("mdk-testsvc").display()))?,
    );
    poll("the target answering", Duration::from_secs(10), Duration::from_millis(10), || async {
        get_once(&addr, "/", Duration::from_millis(300)).await.ok().filter(|r| r.status == 200)
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("cluster.toml");
    std::fs::write(
        &manifest,
        format!("name = \"bench\"\n[services.web]\ncommand = \"mdk-testsvc\"\nport = {port}\n\n[[load.scenario]]\nname = \"get\"\ntarget = \"web\"\n\n[[load.scenario.request]]\npath = \"/\"\n"),
    )?;
    let secs = if ctx.quick { 2 } else { 10 };
    let mut rows = Vec::new();
    for rate in [1000.0, 5000.0] {
        let mut s = Samples::default();
        for _ in 0..ctx.runs {
            s.push(load(ctx, &manifest, &addr, rate, secs)?);
        }
        let off = Samples(s.0.iter().map(|v| (v / rate - 1.0) * 100.0).collect());
        let worst = off.min().abs().max(off.max().abs());
        rows.push(
            Row::new("P9", format!("`microdeck load` at {} rps for {secs} s (open loop; error {}% median, {}% worst)", num(rate), num(off.median()), num(worst)), s.show(" rps"))
                .target("±1% of the asked rate", off.median().abs() <= 1.0),
        );
    }
    let (mut ceil, mut peer) = (Samples::default(), Samples::default());
    for _ in 0..ctx.runs {
        ceil.push(load(ctx, &manifest, &addr, 100_000.0, secs)?);
        if ctx.peers {
            peer.push(wrk(&addr, secs)?);
        }
    }
    let mut row = Row::new("P9", "`microdeck load` ceiling (asked 100,000 rps, its maximum)", ceil.show(" rps"));
    if ctx.peers {
        let r = ratios(&ceil, &peer);
        row = row.peer(format!("wrk -t2 -c32: {} → ratio {}×", peer.show(" rps"), num(r.median()))).target("≥ 0.8× wrk", r.median() >= 0.8);
    }
    rows.push(row);
    Ok(rows)
}
