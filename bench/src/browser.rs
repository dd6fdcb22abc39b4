//! A real browser for the UI figures (P7, P8): Xvfb and a session bus for the desktop app,
//! tauri-driver (WebKitWebDriver) or chromedriver, and a WebDriver client (fantoccini).
//! Every process started here is stopped when its handle drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};

use crate::engine::terminate;
use crate::http::{free_port, poll};

/// A helper process, SIGTERMed (then SIGKILLed) on drop.
pub struct Helper {
    name: &'static str,
    child: Child,
}

impl Helper {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Helper> {
        let out = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {name} (make deps installs it)"))?;
        Ok(Helper { name, child })
    }

    /// Fails if it exited, with what it wrote.
    pub fn alive(&mut self, log: &Path) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("{} exited ({status}): {}", self.name, tail(log));
        }
        Ok(())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(10));
    }
}

/// The last lines a helper wrote.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let start = text.len().saturating_sub(1500);
    text.get(start..).unwrap_or_default().to_string()
}

/// A virtual display and a session bus of our own, as the desktop app needs.
pub struct Display {
    pub display: String,
    pub bus: String,
    _xvfb: Helper,
    _dbus: Helper,
}

impl Display {
    pub async fn start(dir: &Path) -> Result<Display> {
        let n = (90..400)
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists() && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
            .context("no free X display number")?;
        let display = format!(":{n}");
        let log = dir.join("xvfb.log");
        let mut xvfb = Helper::spawn("Xvfb", Command::new("Xvfb").args([&display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"]), &log)?;
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        poll("Xvfb to listen", Duration::from_secs(20), Duration::from_millis(20), || {
            let up = socket.exists();
            let gone = xvfb.alive(&log).is_err();
            async move { (up || gone).then_some(()) }
        })
        .await?;
        xvfb.alive(&log)?;
        // The address is the line dbus-daemon prints to its stdout (the log).
        let log = dir.join("dbus.log");
        let dbus = Helper::spawn("dbus-daemon", Command::new("dbus-daemon").args(["--session", "--nofork", "--print-address=1"]), &log)?;
        let bus = poll("a session bus", Duration::from_secs(20), Duration::from_millis(20), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move { text.lines().find(|l| l.starts_with("unix:")).map(str::to_string) }
        })
        .await?;
        Ok(Display { display, bus, _xvfb: xvfb, _dbus: dbus })
    }
}

/// A WebDriver server (tauri-driver or chromedriver) and a session on it.
pub struct Session {
    pub client: Client,
    _driver: Helper,
}

impl Session {
    /// tauri-driver, which starts WebKitWebDriver, which starts `app args…` on `display`.
    pub async fn desktop(dir: &Path, cwd: &Path, display: &Display, env: &[(String, String)], app: &Path, args: &[String]) -> Result<Session> {
        let (port, native) = (free_port()?, free_port()?);
        let log = dir.join("tauri-driver.log");
        let mut cmd = Command::new("tauri-driver");
        cmd.args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .current_dir(cwd)
            .env("DISPLAY", &display.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &display.bus)
            .env("NO_AT_BRIDGE", "1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let driver = Helper::spawn("tauri-driver", &mut cmd, &log)?;
        let caps = json!({ "tauri:options": { "application": app, "args": args } });
        Self::connect(driver, port, caps, &log).await
    }

    /// chromedriver and a headless Chromium.
    pub async fn chromium(dir: &Path) -> Result<Session> {
        let port = free_port()?;
        let log = dir.join("chromedriver.log");
        let driver = Helper::spawn("chromedriver", Command::new("chromedriver").arg(format!("--port={port}")), &log)?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900"
            ] }
        });
        Self::connect(driver, port, caps, &log).await
    }

    async fn connect(mut driver: Helper, port: u16, caps: Value, log: &Path) -> Result<Session> {
        let url = format!("http://127.0.0.1:{port}");
        poll("the WebDriver server to listen", Duration::from_secs(30), Duration::from_millis(20), || {
            let open = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            async move { open.then_some(()) }
        })
        .await
        .with_context(|| tail(log))?;
        driver.alive(log)?;
        let caps: Map<String, Value> = match caps {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // tauri-driver listens before WebKitWebDriver behind it does: retry the session a while.
        let end = std::time::Instant::now() + Duration::from_secs(60);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() < end && driver.alive(log).is_ok() => {
                    let _retried = e;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => bail!("no WebDriver session: {e}: {}", tail(log)),
            }
        };
        Ok(Session { client, _driver: driver })
    }

    /// Runs `script` in the page and returns its result.
    pub async fn eval(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Runs an async script (its last argument is the callback) and returns what it passes back.
    pub async fn eval_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute_async(script, args).await?)
    }

    /// Closes the session (for the desktop app: closes the app) and the driver.
    pub async fn close(self) -> Result<()> {
        let r = self.client.close().await;
        drop(self._driver);
        Ok(r?)
    }
}
