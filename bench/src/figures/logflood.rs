//! P8: the dashboard's Logs view, following, while a service writes 10,000 lines a second —
//! in headless Chromium (the web dashboard) and in the desktop app (WebKit under Xvfb, through
//! tauri-driver). Frame intervals and long tasks come from the page's own timing; for the
//! desktop app also the memory of the app and its WebKit processes over a minute.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::ui::{app_memory, DesktopApp};
use super::Ctx;
use crate::browser::{Display, Session};
use crate::engine::{manifest, Up};
use crate::http::{free_port, poll};
use crate::report::{num, Row, Samples};

/// Lines a second the flood service writes.
const LOG_RATE: u64 = 10_000;
/// A frame this long means the page was busy for a long task (where the browser cannot say).
const LONG_MS: f64 = 50.0;

fn flood_manifest() -> Result<String> {
    let port = free_port()?;
    Ok(manifest("flood", &format!("command = \"mdk-testsvc\"\nargs = [\"--log-rate\", \"{LOG_RATE}\"]\nport = {port}\nhealth = {{ http = \"/health\" }}\n")))
}

/// What the page measured over one window (see `MEASURE`).
struct Window {
    frames: Vec<f64>,
    /// `None` where the browser has no long-task timing (WebKit).
    long_tasks: Option<Vec<f64>>,
    lines: f64,
    secs: f64,
}

/// Runs in the page for `secs`: every frame interval (requestAnimationFrame), every long task
/// (PerformanceObserver, where supported), and the newest flood line number at both ends.
const MEASURE: &str = r#"
const [secs, done] = arguments;
const newest = () => {
  const rows = document.querySelectorAll('[data-testid="log-line"]');
  let best = 0;
  for (const r of rows) { const m = /line (\d+)/.exec(r.textContent); if (m) best = Math.max(best, Number(m[1])); }
  return best;
};
const frames = [], tasks = [];
const supported = typeof PerformanceObserver !== 'undefined' && (PerformanceObserver.supportedEntryTypes || []).includes('longtask');
let obs = null;
if (supported) { obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push(e.duration); }); obs.observe({ type: 'longtask' }); }
const first = newest(), t0 = performance.now();
let last = t0;
const tick = (t) => {
  frames.push(t - last); last = t;
  if (t - t0 < secs * 1000) requestAnimationFrame(tick);
  else { if (obs) obs.disconnect(); done({ frames, tasks, lines: newest() - first, secs: (performance.now() - t0) / 1000, observed: supported }); }
};
requestAnimationFrame(tick);
"#;

/// The web dashboard in headless Chromium.
pub async fn p8(ctx: &Ctx) -> Result<Vec<Row>> {
    let ui = ctx.root.join("ui").join("dist");
    if !ui.join("index.html").is_file() {
        bail!("{} is not built (make ui)", ui.display());
    }
    let ui_arg = ui.display().to_string();
    let up = Up::start(&ctx.bins, &flood_manifest()?, &["--web-port", "0", "--ui-dir", &ui_arg])?;
    up.wait_ready(Duration::from_secs(30)).await?;
    let url = poll("microdeck up to print its URL", Duration::from_secs(30), Duration::from_millis(20), || async {
        let out = std::fs::read_to_string(up.dir.path().join("stdout")).unwrap_or_default();
        out.split_whitespace().find(|w| w.starts_with("http://") && w.contains("token=")).map(str::to_string)
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let session = Session::chromium(dir.path()).await?;
    let result = async {
        session.client.goto(&url).await?;
        let logs = format!("{}#/logs", url.split('#').next().unwrap_or(&url));
        session.client.goto(&logs).await?;
        measure_windows(ctx, &session).await
    }
    .await;
    session.close().await?;
    let windows = result?;
    if windows.iter().any(|w| w.long_tasks.is_none()) {
        bail!("this Chromium has no long-task timing");
    }
    Ok(frame_rows(&windows, "dashboard (Logs, following) in headless Chromium"))
}

/// The desktop app, with the same flood, and its memory over a minute.
pub async fn p8_desktop(ctx: &Ctx) -> Result<Vec<Row>> {
    let app = ctx.bins.path("microdeck-desktop");
    if !app.is_file() {
        bail!("{} is not built (cargo build -p microdeck-desktop, after make ui)", app.display());
    }
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("app");
    std::fs::create_dir_all(&root)?;
    let file = root.join("flood.toml");
    std::fs::write(&file, flood_manifest()?)?;
    let display = Display::start(dir.path()).await?;
    let file_arg = file.display().to_string();
    let desktop = DesktopApp::launch(ctx, &root, &display, &app, &["--manifest", &file_arg]).await?;
    let result = measure_desktop(ctx, &desktop).await;
    desktop.quit().await?;
    let (windows, memory) = result?;
    let mut rows = frame_rows(&windows, "desktop app (Logs, following) in WebKit under Xvfb");
    let secs = memory.last().map(|m| m.0).unwrap_or_default();
    // The rings fill in the first seconds; after that a bounded feed stays level, so the second
    // half's peak is compared with the first half's.
    let peak = |from: f64, to: f64| memory.iter().filter(|m| m.0 >= from && m.0 <= to).map(|m| m.1).fold(0.0, f64::max);
    let (first_half, second_half) = (peak(0.0, secs / 2.0), peak(secs / 2.0 + 0.001, secs));
    let first = memory.first().map(|m| m.1).unwrap_or_default();
    if first_half <= 0.0 || second_half <= 0.0 {
        bail!("too few memory samples: {memory:?}");
    }
    rows.push(
        Row::new(
            "P8",
            format!("desktop app + its WebKit processes under the flood: RSS over {} s", num(secs)),
            format!("{} MB at the start; peak {} MB in the first half, {} MB in the second", num(first), num(first_half), num(second_half)),
        )
        .target("second half ≤ first + 25 MB", second_half <= first_half + 25.0),
    );
    Ok(rows)
}

/// Frame windows, while memory is sampled 12 times over a minute (10 s in quick mode) from the
/// moment flood lines are on screen: (seconds since, MB).
async fn measure_desktop(ctx: &Ctx, desktop: &DesktopApp) -> Result<(Vec<Window>, Vec<(f64, f64)>)> {
    let session = &desktop.session;
    poll("the app's first service list", Duration::from_secs(60), Duration::from_millis(100), || async {
        let v = session.eval("return document.querySelectorAll('.row[data-state]').length").await.ok()?;
        (v.as_u64()? > 0).then_some(())
    })
    .await?;
    session.eval("location.hash = '#/logs'; return null").await?;
    let (pid, _) = desktop.launched()?;
    let minute = Duration::from_secs(if ctx.quick { 10 } else { 60 });
    let start = Instant::now();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(minute / 12);
        while start.elapsed() <= minute {
            tick.tick().await;
            samples.push((start.elapsed().as_secs_f64(), app_memory(pid)?.0));
        }
        anyhow::Ok(samples)
    });
    let windows = measure_windows(ctx, session).await;
    let memory = sampler.await.context("the memory sampler")??;
    Ok((windows?, memory))
}

fn frame_rows(windows: &[Window], what: &str) -> Vec<Row> {
    let (mut median_frame, mut p95_frame, mut rate) = (Samples::default(), Samples::default(), Samples::default());
    let mut tasks: Vec<f64> = Vec::new();
    let mut long_frames: Vec<f64> = Vec::new();
    for w in windows {
        let f = Samples(w.frames.clone());
        median_frame.push(f.median());
        p95_frame.push(f.percentile(95.0));
        rate.push(w.lines / w.secs);
        tasks.extend(w.long_tasks.iter().flatten());
        long_frames.extend(w.frames.iter().filter(|f| **f > LONG_MS));
    }
    let secs: f64 = windows.iter().map(|w| w.secs).sum();
    let what = format!("{what}, {} lines/s arriving", num(LOG_RATE as f64));
    let frames = Row::new("P8", format!("{what}: median frame interval"), format!("{} (p95 {}; lines shown {}/s)", median_frame.show(" ms"), num(p95_frame.median()), num(rate.median())))
        .target("≤ 20 ms", median_frame.median() <= 20.0);
    let observed = windows.iter().all(|w| w.long_tasks.is_some());
    let longest = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let busy = if observed {
        Row::new(
            "P8",
            format!("{what}: long tasks over {} s", num(secs)),
            if tasks.is_empty() { "0 tasks over 50 ms".to_string() } else { format!("{} tasks over 50 ms, longest {} ms", tasks.len(), num(longest(&tasks))) },
        )
        .target("no task over 50 ms", tasks.is_empty())
    } else {
        // WebKit has no long-task timing: a frame over 50 ms is where one would show.
        Row::new(
            "P8",
            format!("{what}: frames over 50 ms in {} s (WebKit has no long-task timing)", num(secs)),
            if long_frames.is_empty() { "0 frames over 50 ms".to_string() } else { format!("{} frames over 50 ms, longest {} ms", long_frames.len(), num(longest(&long_frames))) },
        )
        .target("no frame over 50 ms", long_frames.is_empty())
    };
    vec![frames, busy]
}

/// Waits for flood lines in the Logs view, then measures `ctx.runs` windows of 10 s (3 s quick).
async fn measure_windows(ctx: &Ctx, session: &Session) -> Result<Vec<Window>> {
    poll("flood lines in the log view", Duration::from_secs(30), Duration::from_millis(100), || async {
        let v = session.eval("return document.querySelectorAll('[data-testid=\"log-line\"]').length").await.ok()?;
        (v.as_u64()? > 0).then_some(())
    })
    .await?;
    let secs = if ctx.quick { 3 } else { 10 };
    let mut out = Vec::new();
    for _ in 0..ctx.runs {
        let v = session.eval_async(MEASURE, vec![Value::from(secs)]).await?;
        let list = |k: &str| -> Result<Vec<f64>> {
            let a = v.get(k).and_then(Value::as_array).with_context(|| format!("no `{k}` in the page's measure: {v}"))?;
            Ok(a.iter().filter_map(Value::as_f64).collect())
        };
        let observed = v.get("observed").and_then(Value::as_bool).context("no `observed` in the page's measure")?;
        let w = Window {
            frames: list("frames")?,
            long_tasks: if observed { Some(list("tasks")?) } else { None },
            lines: v.get("lines").and_then(Value::as_f64).context("no `lines` in the page's measure")?,
            secs: v.get("secs").and_then(Value::as_f64).context("no `secs` in the page's measure")?,
        };
        if w.frames.len() < 10 {
            bail!("only {} frames in {secs} s: the page is not painting", w.frames.len());
        }
        if w.lines <= 0.0 {
            bail!("no new flood line was shown in {secs} s");
        }
        out.push(w);
    }
    Ok(out)
}
