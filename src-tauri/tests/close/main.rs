//! The real `microdeck-desktop` under Xvfb: closing its window (or SIGTERM) stops every
//! service process before the app exits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod x11;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// An Xvfb on a display it picked itself (`-displayfd`); killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt-get install xvfb; `make deps-system`)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let display = format!(":{}", line.trim());
        assert!(line.trim().parse::<u32>().is_ok(), "Xvfb printed no display: {line:?}");
        Xvfb { child, display }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live (non-zombie) processes whose command line contains `token`, as "pid args".
fn processes_with(token: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(token) || pid == std::process::id() {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The state follows the `(comm)` field; zombies (`Z`) hold nothing and are skipped.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('Z') && state.is_some() {
            found.push(format!("{pid} {cmdline}"));
        }
    }
    found
}

fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cluster of `sleep`s whose program path carries `token`, so they can be counted.
fn write_cluster(dir: &Path, token: &str) -> PathBuf {
    let program = dir.join(token);
    std::os::unix::fs::symlink("/bin/sleep", &program).unwrap();
    let manifest = dir.join("cluster.toml");
    let text = format!(
        "name = \"close-test\"\n\
         [services.one]\ncommand = \"{p}\"\nargs = [\"1000\"]\nreplicas = 2\n\
         [services.two]\ncommand = \"{p}\"\nargs = [\"1001\"]\n",
        p = program.display()
    );
    std::fs::write(&manifest, text).unwrap();
    manifest
}

struct App {
    child: Child,
    token: String,
    dir: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        // Whatever the outcome, leave nothing running.
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in processes_with(&self.token) {
            if let Some(pid) = p.split(' ').next() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_app(name: &str, display: &str) -> App {
    // The token names only the program, not the folder the app's own arguments mention.
    let token = format!("sleep-mdkclose{name}{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("mdk-close-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = write_cluster(&dir, &token);
    let xdg = |sub: &str| {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let runtime = xdg("runtime");
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_microdeck-desktop"))
        .arg("--manifest")
        .arg(&manifest)
        .args(["--web-port", "0"])
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", xdg("config"))
        .env("XDG_STATE_HOME", xdg("state"))
        .env("XDG_DATA_HOME", xdg("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let app = App { child, token, dir };
    // Three replicas, each a shim and its `sleep`.
    poll("the three `sleep` replicas", || {
        let n = processes_with(&app.token).iter().filter(|p| !p.contains("__shim")).count();
        (n == 3).then_some(())
    });
    app
}

fn assert_all_stopped(app: &mut App) {
    let status = poll("the app to exit", || app.child.try_wait().unwrap());
    assert!(status.success(), "the app exited with {status}");
    let left = processes_with(&app.token);
    assert!(left.is_empty(), "still running after the app exited: {left:#?}");
}

#[test]
fn closing_the_window_leaves_no_service_process_running() {
    let xvfb = Xvfb::start();
    let mut app = start_app("window", &xvfb.display);
    let x = x11::X::open(&xvfb.display);
    let window = poll("the Microdeck window", || x.find("Microdeck"));
    x.close(window);
    assert_all_stopped(&mut app);
}

#[test]
fn sigterm_leaves_no_service_process_running() {
    let xvfb = Xvfb::start();
    let mut app = start_app("sigterm", &xvfb.display);
    let status = Command::new("kill").args(["-TERM", &app.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_all_stopped(&mut app);
}
