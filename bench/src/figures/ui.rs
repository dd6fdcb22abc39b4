//! P7 (the desktop app: launch → first paint of the service list, its memory with WebKit's
//! processes, its binary size) and P8 (the dashboard in headless Chromium while 10,000 log
//! lines a second arrive: frame intervals and long tasks, from the page's own timing).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::Ctx;
use crate::browser::{Display, Session};
use crate::engine::{manifest, Up};
use crate::http::{free_port, poll};
use crate::procfs::{status_kb, tree};
use crate::report::{num, Row, Samples};

/// The `performance` mark the dashboard sets once its first service list is on screen.
const FIRST_LIST_MARK: &str = "microdeck:first-list";
/// P8's log rate, lines per second.
const LOG_RATE: u64 = 10_000;

pub async fn p7(ctx: &Ctx) -> Result<Vec<Row>> {
    let app = ctx.bins.path("microdeck-desktop");
    if !app.is_file() {
        bail!("{} is not built (cargo build -p microdeck-desktop, after make ui)", app.display());
    }
    let size_mb = std::fs::metadata(&app)?.len() as f64 / 1_048_576.0;
    let (mut paint, mut native, mut rss, mut pss) = (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let dir = tempfile::tempdir()?;
    let display = Display::start(dir.path()).await?;
    for run in 0..ctx.runs {
        let l = launch_once(ctx, dir.path(), &display, &app, run).await.with_context(|| format!("P7 run {run}"))?;
        paint.push(l.paint_ms);
        native.push(l.page_ms);
        rss.push(l.rss_mb);
        pss.push(l.pss_mb);
    }
    Ok(vec![
        Row::new("P7", "desktop app: launch → first paint of the service list", paint.show(" ms"))
            .peer("Tauri/Electron published figures: see README")
            .target("≤ 500 ms", paint.median() <= 500.0),
        // Where that time goes: before the page starts loading, it is the app's and WebKit's start-up.
        Row::new("P7", "of which launch → the page starts loading (native start-up)", native.show(" ms")),
        Row::new("P7", "desktop app + its WebKit processes: RSS, cluster ready (PSS in brackets)", format!("{} ({})", rss.show(" MB"), pss.show(" MB")))
            .target("≤ 200 MB", rss.median() <= 200.0),
        Row::new("P7", "desktop binary size", format!("{} MB ({})", num(size_mb), if ctx.quick { "debug build" } else { "release build" }))
            .target("≤ 15 MB", size_mb <= 15.0),
    ])
}

/// One launch of the app: ms from its exec, and its memory with the cluster ready.
struct Launched {
    paint_ms: f64,
    page_ms: f64,
    rss_mb: f64,
    pss_mb: f64,
}

/// Starts the app through WebDriver once.
async fn launch_once(ctx: &Ctx, dir: &Path, display: &Display, app: &Path, run: usize) -> Result<Launched> {
    let root = dir.join(format!("run{run}"));
    let env = isolated_env(&root)?;
    // A wrapper that notes the wall clock and its pid, then becomes the app.
    let launched = root.join("launched");
    let wrapper = root.join("microdeck-desktop");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\necho \"$$ $(date +%s%3N)\" > '{}'\nexec '{}' \"$@\"\n", launched.display(), app.display()),
    )?;
    set_executable(&wrapper)?;
    let args: Vec<String> = ["--port-offset", "1500", "--web-port", "0", "--run-dir", &root.join("run").display().to_string(), "--data-dir", &root.join("data").display().to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut env = env;
    env.push(("PATH".into(), ctx.bins.path_env()));
    let session = Session::desktop(&root, &ctx.root, display, &env, &wrapper, &args).await?;
    let script = format!("const m = performance.getEntriesByName('{FIRST_LIST_MARK}')[0]; return m ? [performance.timeOrigin, performance.timeOrigin + m.startTime] : null;");
    let (page, painted) = poll("the first service list to be painted", Duration::from_secs(60), Duration::from_millis(50), || async {
        let v = session.eval(&script).await.ok()?;
        Some((v.get(0)?.as_f64()?, v.get(1)?.as_f64()?))
    })
    .await?;
    let text = std::fs::read_to_string(&launched).context("the launch wrapper did not run")?;
    let mut parts = text.split_whitespace();
    let pid: u32 = parts.next().and_then(|p| p.parse().ok()).context("no pid from the wrapper")?;
    let at: f64 = parts.next().and_then(|p| p.parse().ok()).context("no time from the wrapper")?;
    // Memory once the bundled cluster is up: the app as a user leaves it running.
    poll("every service ready in the app", Duration::from_secs(60), Duration::from_millis(100), || async {
        let v = session.eval("return [...document.querySelectorAll('.row[data-state]')].map(e => e.dataset.state)").await.ok()?;
        let states: Vec<&str> = v.as_array()?.iter().filter_map(|s| s.as_str()).collect();
        (!states.is_empty() && states.iter().all(|s| *s == "ready")).then_some(())
    })
    .await?;
    let memory = app_memory(pid);
    // Quit as a user does (SIGTERM takes the window-close path): ending the WebDriver session
    // closes the page but only sometimes the window, and then the app waits for a close.
    // SAFETY: signalling the app this run launched, by the pid its wrapper wrote.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    // The shutdown stops the cluster; wait so runs do not overlap.
    poll("the app to exit", Duration::from_secs(60), Duration::from_millis(50), || async { gone(pid).then_some(()) }).await?;
    drop(session);
    let (rss_mb, pss_mb) = memory;
    Ok(Launched { paint_ms: painted - at, page_ms: page - at, rss_mb, pss_mb })
}

/// Exited (a zombie waiting for its parent, WebKitWebDriver, counts as exited).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3)).is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// RSS and PSS (MB) of the app and its WebKit processes (not the services it supervises).
fn app_memory(pid: u32) -> (f64, f64) {
    let ours: Vec<u32> = tree(pid)
        .into_iter()
        .filter(|p| *p == pid || std::fs::read_to_string(format!("/proc/{p}/comm")).map(|c| c.starts_with("WebKit")).unwrap_or(false))
        .collect();
    let rss: u64 = ours.iter().filter_map(|p| status_kb(*p, "VmRSS")).sum();
    let pss: u64 = ours.iter().filter_map(|p| rollup_kb(*p, "Pss")).sum();
    (rss as f64 / 1024.0, pss as f64 / 1024.0)
}

fn rollup_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// XDG folders of one run under `root`, so the app's token, state and logs stay there.
fn isolated_env(root: &Path) -> Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    for (var, sub) in [("XDG_RUNTIME_DIR", "runtime"), ("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data-home"), ("XDG_CACHE_HOME", "cache")] {
        let d = root.join(sub);
        std::fs::create_dir_all(&d)?;
        env.push((var.to_string(), d.display().to_string()));
    }
    set_mode(&root.join("runtime"), 0o700)?;
    Ok(env)
}

fn set_executable(p: &Path) -> Result<()> {
    set_mode(p, 0o755)
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// What the page measured over one window (see `MEASURE`).
struct Window {
    frames: Vec<f64>,
    long_tasks: Vec<f64>,
    lines: f64,
    secs: f64,
}

/// Runs in the page for `secs`: every frame interval (requestAnimationFrame), every long task
/// (PerformanceObserver), and the newest flood line number at both ends (lines delivered).
const MEASURE: &str = r#"
const [secs, done] = arguments;
const newest = () => {
  const rows = document.querySelectorAll('[data-testid="log-line"]');
  let best = 0;
  for (const r of rows) { const m = /line (\d+)/.exec(r.textContent); if (m) best = Math.max(best, Number(m[1])); }
  return best;
};
const frames = [], tasks = [];
let obs = null;
try { obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push(e.duration); }); obs.observe({ type: 'longtask' }); } catch (e) {}
const first = newest(), t0 = performance.now();
let last = t0;
const tick = (t) => {
  frames.push(t - last); last = t;
  if (t - t0 < secs * 1000) requestAnimationFrame(tick);
  else { if (obs) obs.disconnect(); done({ frames, tasks, lines: newest() - first, secs: (performance.now() - t0) / 1000, observed: !!obs }); }
};
requestAnimationFrame(tick);
"#;

pub async fn p8(ctx: &Ctx) -> Result<Vec<Row>> {
    let ui = ctx.root.join("ui").join("dist");
    if !ui.join("index.html").is_file() {
        bail!("{} is not built (make ui)", ui.display());
    }
    let port = free_port()?;
    let body = format!("command = \"mdk-testsvc\"\nargs = [\"--log-rate\", \"{LOG_RATE}\"]\nport = {port}\nhealth = {{ http = \"/health\" }}\n");
    let ui_arg = ui.display().to_string();
    let up = Up::start(&ctx.bins, &manifest("flood", &body), &["--web-port", "0", "--ui-dir", &ui_arg])?;
    up.wait_ready(Duration::from_secs(30)).await?;
    let url = poll("microdeck up to print its URL", Duration::from_secs(30), Duration::from_millis(20), || async {
        let out = std::fs::read_to_string(up.dir.path().join("stdout")).unwrap_or_default();
        out.split_whitespace().find(|w| w.starts_with("http://") && w.contains("token=")).map(str::to_string)
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let session = Session::chromium(dir.path()).await?;
    let result = measure_windows(ctx, &session, &url).await;
    session.close().await?;
    let windows = result?;
    let (mut median_frame, mut p95_frame, mut rate) = (Samples::default(), Samples::default(), Samples::default());
    let mut tasks: Vec<f64> = Vec::new();
    for w in &windows {
        let f = Samples(w.frames.clone());
        median_frame.push(f.median());
        p95_frame.push(f.percentile(95.0));
        rate.push(w.lines / w.secs);
        tasks.extend(&w.long_tasks);
    }
    let longest = tasks.iter().copied().fold(0.0, f64::max);
    let secs: f64 = windows.iter().map(|w| w.secs).sum();
    let what = format!("dashboard (Logs, following) in headless Chromium, {} lines/s arriving", num(LOG_RATE as f64));
    Ok(vec![
        Row::new("P8", format!("{what}: median frame interval"), format!("{} (p95 {}; lines shown {}/s)", median_frame.show(" ms"), num(p95_frame.median()), num(rate.median())))
            .target("≤ 20 ms", median_frame.median() <= 20.0),
        Row::new(
            "P8",
            format!("{what}: long tasks over {} s", num(secs)),
            if tasks.is_empty() { "0 tasks over 50 ms".to_string() } else { format!("{} tasks over 50 ms, longest {} ms", tasks.len(), num(longest)) },
        )
        .target("no task over 50 ms", tasks.is_empty()),
    ])
}

async fn measure_windows(ctx: &Ctx, session: &Session, url: &str) -> Result<Vec<Window>> {
    session.client.goto(url).await?;
    let logs = format!("{}#/logs", url.split('#').next().unwrap_or(url));
    session.client.goto(&logs).await?;
    poll("flood lines in the log view", Duration::from_secs(30), Duration::from_millis(100), || async {
        let v = session.eval("return document.querySelectorAll('[data-testid=\"log-line\"]').length").await.ok()?;
        (v.as_u64()? > 0).then_some(())
    })
    .await?;
    let secs = if ctx.quick { 3 } else { 10 };
    let mut out = Vec::new();
    for _ in 0..ctx.runs {
        let v = session.eval_async(MEASURE, vec![Value::from(secs)]).await?;
        if v.get("observed").and_then(Value::as_bool) != Some(true) {
            bail!("this browser has no long-task timing");
        }
        let list = |k: &str| -> Vec<f64> { v.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default() };
        let w = Window { frames: list("frames"), long_tasks: list("tasks"), lines: v.get("lines").and_then(Value::as_f64).unwrap_or(0.0), secs: v.get("secs").and_then(Value::as_f64).unwrap_or(secs as f64) };
        if w.frames.len() < 10 {
            bail!("only {} frames in {secs} s: the page is not painting", w.frames.len());
        }
        out.push(w);
    }
    Ok(out)
}
