//! P7 (the desktop app: launch → first paint of the service list, its memory with WebKit's
//! processes, its binary size), and what P8 shares with it: the desktop app launched through a
//! wrapper that notes its pid, its memory, its private folders.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::browser::{Display, Session};
use crate::http::poll;
use crate::procfs::{status_kb, tree};
use crate::report::{num, Row, Samples};

/// The `performance` mark the dashboard sets once its first service list is on screen.
const FIRST_LIST_MARK: &str = "microdeck:first-list";

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

/// The desktop app started through tauri-driver by a wrapper that notes its pid and the wall
/// clock of its exec, with its folders under `root`.
pub struct DesktopApp {
    pub session: Session,
    launched: std::path::PathBuf,
}

impl DesktopApp {
    pub async fn launch(ctx: &Ctx, root: &Path, display: &Display, app: &Path, extra: &[&str]) -> Result<DesktopApp> {
        let mut env = isolated_env(root)?;
        let launched = root.join("launched");
        let wrapper = root.join("microdeck-desktop");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\necho \"$$ $(date +%s%3N)\" > '{}'\nexec '{}' \"$@\"\n", launched.display(), app.display()),
        )?;
        set_executable(&wrapper)?;
        let mut args: Vec<String> = ["--port-offset", "1500", "--web-port", "0", "--run-dir", &root.join("run").display().to_string(), "--data-dir", &root.join("data").display().to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        env.push(("PATH".into(), ctx.bins.path_env()));
        let session = Session::desktop(root, &ctx.root, display, &env, &wrapper, &args).await?;
        Ok(DesktopApp { session, launched })
    }

    /// The app's pid and the wall clock (ms) of its exec.
    pub fn launched(&self) -> Result<(u32, f64)> {
        let text = std::fs::read_to_string(&self.launched).context("the launch wrapper did not run")?;
        let mut parts = text.split_whitespace();
        let pid: u32 = parts.next().and_then(|p| p.parse().ok()).context("no pid from the wrapper")?;
        let at: f64 = parts.next().and_then(|p| p.parse().ok()).context("no time from the wrapper")?;
        Ok((pid, at))
    }

    /// Quits as a user does (SIGTERM takes the window-close path): ending the WebDriver session
    /// closes the page but only sometimes the window, and then the app waits for a close.
    pub async fn quit(self) -> Result<()> {
        let (pid, _) = self.launched()?;
        // SAFETY: signalling the app this run launched, by the pid its wrapper wrote.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        // The shutdown stops the cluster; wait so runs do not overlap.
        poll("the app to exit", Duration::from_secs(60), Duration::from_millis(50), || async { gone(pid).then_some(()) }).await?;
        drop(self.session);
        Ok(())
    }
}

/// Starts the app through WebDriver once.
async fn launch_once(ctx: &Ctx, dir: &Path, display: &Display, app: &Path, run: usize) -> Result<Launched> {
    let root = dir.join(format!("run{run}"));
    let desktop = DesktopApp::launch(ctx, &root, display, app, &[]).await?;
    let session = &desktop.session;
    let script = format!("const m = performance.getEntriesByName('{FIRST_LIST_MARK}')[0]; return m ? [performance.timeOrigin, performance.timeOrigin + m.startTime] : null;");
    let (page, painted) = poll("the first service list to be painted", Duration::from_secs(60), Duration::from_millis(50), || async {
        let v = session.eval(&script).await.ok()?;
        Some((v.get(0)?.as_f64()?, v.get(1)?.as_f64()?))
    })
    .await?;
    let (pid, at) = desktop.launched()?;
    // Memory once the bundled cluster is up: the app as a user leaves it running.
    poll("every service ready in the app", Duration::from_secs(60), Duration::from_millis(100), || async {
        let v = session.eval("return [...document.querySelectorAll('.row[data-state]')].map(e => e.dataset.state)").await.ok()?;
        let states: Vec<&str> = v.as_array()?.iter().filter_map(|s| s.as_str()).collect();
        (!states.is_empty() && states.iter().all(|s| *s == "ready")).then_some(())
    })
    .await?;
    let (rss_mb, pss_mb) = app_memory(pid)?;
    desktop.quit().await?;
    Ok(Launched { paint_ms: painted - at, page_ms: page - at, rss_mb, pss_mb })
}

/// Exited (a zombie waiting for its parent, WebKitWebDriver, counts as exited).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3)).is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// RSS and PSS (MB) of the app and its WebKit processes (not the services it supervises);
/// fails if any of them cannot be read, so a figure is never a sum over nothing.
pub fn app_memory(pid: u32) -> Result<(f64, f64)> {
    let mut ours = Vec::new();
    for p in tree(pid) {
        let webkit = match std::fs::read_to_string(format!("/proc/{p}/comm")) {
            Ok(comm) => comm.starts_with("WebKit"),
            // Exited since the tree was read: not part of the app any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => bail!("cannot tell whether pid {p} is one of the app's WebKit processes: {e}"),
        };
        if p == pid || webkit {
            ours.push(p);
        }
    }
    if ours.len() < 2 {
        bail!("no WebKit process under the app (pid {pid})");
    }
    let (mut rss, mut pss) = (0, 0);
    for p in &ours {
        rss += status_kb(*p, "VmRSS").with_context(|| format!("VmRSS of pid {p}"))?;
        pss += rollup_kb(*p, "Pss").with_context(|| format!("Pss of pid {p}"))?;
    }
    Ok((rss as f64 / 1024.0, pss as f64 / 1024.0))
}

fn rollup_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// XDG folders of one run under `root`, so the app's token, state and logs stay there.
pub fn isolated_env(root: &Path) -> Result<Vec<(String, String)>> {
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
