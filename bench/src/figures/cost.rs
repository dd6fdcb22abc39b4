//! P5 (idle cost of supervising 10 replicas, vs PM2's daemon) and P6 (stdout capture of
//! a fast writer, vs a plain pipe and vs PM2).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::engine::{manifest, Up};
use crate::http::{free_port, free_ports, poll};
use crate::pm2::Pm2;
use crate::procfs::{cpu_ticks, hz, status_kb, tree};
use crate::report::{num, Row, Samples};

const REPLICAS: usize = 10;

pub async fn p5(ctx: &Ctx) -> Result<Vec<Row>> {
    let secs = ctx.p5_secs;
    let (mut rss, mut cpu, mut cpu_shims, mut shim_rss) = (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let (mut pm2_rss, mut pm2_cpu) = (Samples::default(), Samples::default());
    for _ in 0..ctx.runs {
        let port = free_port()?;
        let body = format!("command = \"mdk-testsvc\"\nport = {port}\nreplicas = {REPLICAS}\nhealth = {{ http = \"/health\" }}\n");
        let up = Up::start(&ctx.bins, &manifest("web", &body), &[])?;
        let snap = up.wait_ready(Duration::from_secs(30)).await?;
        let programs: Vec<u32> = snap.services[0].replicas.iter().filter_map(|r| r.pid).collect();
        let shims: Vec<u32> = tree(up.pid()).into_iter().filter(|p| *p != up.pid() && !programs.contains(p)).collect();
        if programs.len() != REPLICAS || shims.len() != REPLICAS {
            bail!("expected {REPLICAS} replicas and {REPLICAS} shims under the engine, found programs {programs:?} and shims {shims:?}");
        }
        let pm2 = if ctx.peers {
            let pm2 = Pm2::new(&ctx.bench_dir)?;
            let apps: Vec<serde_json::Value> = free_ports(REPLICAS)?
                .into_iter()
                .enumerate()
                .map(|(i, port)| {
                    serde_json::json!({ "name": format!("web{i}"), "script": ctx.bins.path("mdk-testsvc"), "interpreter": "none",
                        "env": { "PORT": port.to_string(), "REPLICA": i.to_string() }, "autorestart": true })
                })
                .collect();
            pm2.start(&serde_json::Value::Array(apps))?;
            pm2.wait_pids(REPLICAS, Duration::from_secs(60))?;
            Some((pm2.daemon_pid()?, pm2))
        } else {
            None
        };
        // Past the start-up burst: idle supervision only.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (e0, s0) = (cpu_ticks(up.pid()).context("engine gone")?, ticks(&shims)?);
        let d0 = match &pm2 {
            Some((p, _)) => Some(cpu_ticks(*p).context("PM2 daemon gone")?),
            None => None,
        };
        let t0 = Instant::now();
        let (mut peak, mut peak_pm2) = (0u64, 0u64);
        while t0.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak = peak.max(status_kb(up.pid(), "VmRSS").context("engine gone")?);
            if let Some((p, _)) = &pm2 {
                peak_pm2 = peak_pm2.max(status_kb(*p, "VmRSS").context("PM2 daemon gone")?);
            }
        }
        let dt = t0.elapsed().as_secs_f64();
        let pct = |t: u64| t as f64 / hz() / dt * 100.0;
        let e1 = cpu_ticks(up.pid()).context("engine gone")?;
        cpu.push(pct(e1 - e0));
        cpu_shims.push(pct(e1 - e0 + ticks(&shims)? - s0));
        rss.push(peak as f64 / 1024.0);
        shim_rss.push(rss_kb(&shims)? as f64 / 1024.0);
        if let (Some((p, _)), Some(d0)) = (&pm2, d0) {
            pm2_cpu.push(pct(cpu_ticks(*p).context("PM2 daemon gone")? - d0));
            pm2_rss.push(peak_pm2 as f64 / 1024.0);
        }
    }
    let what = format!("engine supervising {REPLICAS} replicas for {secs} s (probes + sampling on)");
    let mut rss_row = Row::new("P5", format!("{what}: RSS (peak)"), format!("{} (its {REPLICAS} shims: {} MB in all)", rss.show(" MB"), num(shim_rss.median())))
        .target("≤ 25 MB", rss.median() <= 25.0);
    let mut cpu_row = Row::new("P5", format!("{what}: CPU"), format!("{} (with its shims: {})", cpu.show(" %"), cpu_shims.show(" %")));
    if ctx.peers {
        rss_row = rss_row.peer(format!("PM2 God Daemon: {}", pm2_rss.show(" MB")));
        cpu_row = cpu_row
            .peer(format!("PM2 God Daemon: {}", pm2_cpu.show(" %")))
            .target("≤ PM2's (engine + shims)", cpu_shims.median() <= pm2_cpu.median());
    }
    Ok(vec![rss_row, cpu_row])
}

/// CPU ticks of every process in `pids`; fails if one cannot be read, so a sum is never over fewer.
fn ticks(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|p| cpu_ticks(*p).with_context(|| format!("CPU time of pid {p} unreadable (gone?)"))).sum()
}

/// VmRSS (kB) of every process in `pids`; fails if one cannot be read.
fn rss_kb(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|p| status_kb(*p, "VmRSS").with_context(|| format!("VmRSS of pid {p} unreadable (gone?)"))).sum()
}

/// The child: `seq 1 N` timed by itself, the time on stderr as `elapsed_ns=…`.
fn timed(inner: &str) -> String {
    format!("a=$(date +%s%N); {inner}; b=$(date +%s%N); echo elapsed_ns=$((b-a)) >&2")
}

/// (lines of `seq` output, the child's own elapsed ms) over files whose name starts with `prefix`;
/// `None` while a file cannot be read (e.g. rotated away meanwhile), so no line goes uncounted.
fn count(dir: &Path, prefix: &str, n: u64) -> Option<(u64, Option<f64>)> {
    let (mut lines, mut elapsed) = (0, None);
    for e in std::fs::read_dir(dir).ok()? {
        let e = e.ok()?;
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).ok()?;
        for l in text.lines() {
            if let Some(ns) = l.split("elapsed_ns=").nth(1) {
                elapsed = ns.trim().parse::<f64>().ok().map(|v| v / 1e6);
            } else if l.rsplit(' ').next().and_then(|t| t.parse::<u64>().ok()).is_some_and(|v| (1..=n).contains(&v)) {
                lines += 1;
            }
        }
    }
    Some((lines, elapsed))
}

/// Waits for the elapsed line and for the line count to stop growing.
async fn settle(dir: &Path, prefix: &str, n: u64) -> Result<(u64, f64)> {
    let mut last = (u64::MAX, Instant::now());
    poll("the child's output on disk, every file readable", Duration::from_secs(60), Duration::from_millis(100), || {
        let counted = count(dir, prefix, n);
        let Some((lines, el)) = counted else { return std::future::ready(None) };
        if lines != last.0 {
            last = (lines, Instant::now());
        }
        std::future::ready(el.filter(|_| lines == n || last.1.elapsed() > Duration::from_secs(2)).map(|e| (lines, e)))
    })
    .await
}

pub async fn p6(ctx: &Ctx) -> Result<Vec<Row>> {
    let n: u64 = if ctx.quick { 200_000 } else { 2_000_000 };
    let (mut base, mut md, mut lost, mut hwm, mut ratio) = (Samples::default(), Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let (mut pm, mut pm_lost, mut pm_ratio) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..ctx.runs {
        let dir = tempfile::tempdir()?;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(timed(&format!("seq 1 {n} | cat > {}", dir.path().join("out").display())))
            .output()?;
        let b = String::from_utf8_lossy(&out.stderr).split("elapsed_ns=").nth(1).and_then(|v| v.trim().parse::<f64>().ok()).context("baseline time")? / 1e6;
        base.push(b);

        let body = format!("shell = \"{}\"\nrestart = \"never\"\n", timed(&format!("seq 1 {n}")));
        let up = Up::start(&ctx.bins, &manifest("seq", &body), &["--log-file-bytes", "2000000000"])?;
        let (lines, el) = settle(&up.run_dir().join("logs"), "seq.log", n).await?;
        md.push(el);
        ratio.push(el / b);
        lost.push((n - lines) as f64);
        hwm.push(status_kb(up.pid(), "VmHWM").context("engine gone")? as f64 / 1024.0);
        drop(up);

        if ctx.peers {
            let pm2 = Pm2::new(&ctx.bench_dir)?;
            pm2.start(&serde_json::json!([{ "name": "seq", "script": "/bin/sh", "interpreter": "none",
                "args": ["-c", timed(&format!("seq 1 {n}"))], "autorestart": false }]))?;
            let (lines, el) = settle(&pm2.logs_dir(), "seq-", n).await?;
            pm.push(el);
            pm_ratio.push(el / b);
            pm_lost.push((n - lines) as f64);
        }
    }
    if lost.max() > 0.0 && !ctx.peers {
        bail!("Microdeck lost {} of {n} lines", lost.max());
    }
    let mut rows = vec![
        Row::new("P6", format!("`seq 1 {n}` under Microdeck's capture: run time, ratio to `seq \\| cat > file` ({} ms)", num(base.median())), format!("{} = {}× the pipe", md.show(" ms"), num(ratio.median())))
            .target("≤ 1.5× the pipe", ratio.median() <= 1.5),
        Row::new("P6", "… lines lost (log retention 2 GB)", lost.show("")).target("0 lost", lost.max() == 0.0),
        Row::new("P6", "… engine peak RSS (VmHWM)", hwm.show(" MB")).target("≤ 40 MB", hwm.median() <= 40.0),
    ];
    if ctx.peers {
        rows[0] = rows[0].clone().peer(format!("PM2: {} = {}× the pipe", pm.show(" ms"), num(pm_ratio.median())));
        rows[1] = rows[1].clone().peer(format!("PM2 lost {}", pm_lost.show("")));
    }
    Ok(rows)
}
