//! `web`: the local HTTP API of docs/api.md — JSON routes and server-sent events over a
//! `Cluster`, plus the built dashboard — on 127.0.0.1, behind a token, Host and Origin guard.
//!
//! - [`auth`]: the guard (the API's bearer token, Host and Origin checks, no framing);
//! - [`api`]: the routes over `Cluster`; [`traffic`]: `/metrics`, series, topology, load, knobs;
//!   [`lessons`]: list, start, stop and progress of lessons; [`autoscale`]: a service's
//!   autoscaler and its switch; [`deploy`]: deploy, rollout status, history and undo;
//!   [`fault`]: a fault at a service's address, set, read and cleared;
//!   [`error`]: `{ code, message }` answers;
//! - [`ui`]: the built UI folder, found at run time; [`files`]: the token and state files;
//! - [`server`]: the connections: a cap on how many are open, a time limit on a request's
//!   head, and a stop that waits for them only so long.
//!
//! [`serve`] takes an already-bound listener and a shutdown future (so tests bind port 0);
//! [`serve_for`] is what `microdeck up` and the desktop app call.

pub mod api;
pub mod auth;
pub mod autoscale;
pub mod deploy;
pub mod error;
pub mod fault;
pub mod files;
pub mod lessons;
pub mod server;
pub mod traffic;
pub mod ui;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
pub use auth::Guard;
pub use error::{ApiError, ErrorBody};
pub use files::StateFile;

/// The port `microdeck up` tries first, so its URL stays the same across runs.
pub const DEFAULT_PORT: u16 = 7300;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    File(#[from] files::FileError),
}

/// How [`serve_for`] sets the server up.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Tried first; `0` takes any free port. A busy port falls back to a free one.
    pub port: u16,
    /// `--ui-dir`; `None` looks next to the executable, then in the source tree.
    pub ui_dir: Option<PathBuf>,
    /// Where the per-user token lives; `None` is `$XDG_CONFIG_HOME/microdeck/token`.
    pub token_file: Option<PathBuf>,
    /// Where the CLI finds this server; `None` is `$XDG_RUNTIME_DIR/microdeck/api.json`.
    pub state_file: Option<PathBuf>,
}

impl Default for WebOptions {
    fn default() -> WebOptions {
        WebOptions { port: DEFAULT_PORT, ui_dir: None, token_file: None, state_file: None }
    }
}

/// The whole app: API routes behind the token, the UI's files without it, all behind the guard.
pub fn app(cluster: Cluster, token: &str, port: u16, ui_dir: Option<PathBuf>, shutdown: CancellationToken) -> Router {
    let guard = Guard::new(token, port);
    let routes = ui::with_ui(guard.require_token(api::routes()), ui_dir).with_state(api::ApiState { cluster, shutdown });
    guard.protect(routes)
}

/// Serves the API for `cluster` on `listener` until `shutdown` completes; open SSE feeds end
/// then, and other open connections get [`server::DRAIN_TIMEOUT`] to finish.
pub async fn serve(
    listener: TcpListener,
    cluster: Cluster,
    token: String,
    ui_dir: Option<PathBuf>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let router = app(cluster, &token, port, ui_dir, stop.clone());
    let signal = async move {
        shutdown.await;
        stop.cancel();
    };
    server::serve(listener, router, server::ConnectionLimits::default(), signal).await;
    Ok(())
}

/// A running server of [`serve_for`]. Drop it (or call [`WebHandle::shutdown`]) to stop it.
pub struct WebHandle {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    token: String,
    state_file: PathBuf,
    task: Option<JoinHandle<std::io::Result<()>>>,
    stop: CancellationToken,
}

impl WebHandle {
    /// The URL to open in a browser: the token rides in the fragment, which a browser never
    /// sends to a server; the page keeps it for its tab and sends it as a bearer header.
    pub fn login_url(&self) -> String {
        format!("{}/#token={}", self.url, self.token)
    }

    /// Stops serving, waits for open connections to end (closing those still open after
    /// [`server::DRAIN_TIMEOUT`]), and removes the state file.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("local API stopped with an error: {e}"),
                Err(e) => tracing::warn!("local API task failed: {e}"),
            }
        }
        StateFile::remove_if_ours(&self.state_file);
    }
}

impl Drop for WebHandle {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.task.is_some() {
            StateFile::remove_if_ours(&self.state_file);
        }
    }
}

/// Binds 127.0.0.1 (`options.port`, else any free port), writes the state file and serves
/// `cluster` in a task. Call it inside a tokio runtime.
pub async fn serve_for(cluster: Cluster, options: WebOptions) -> Result<WebHandle, WebError> {
    let token_file = match options.token_file {
        Some(p) => p,
        None => files::token_path()?,
    };
    let token = files::load_or_create_token(&token_file)?;
    let listener = bind_loopback(options.port).await?;
    let port = listener.local_addr().map_err(|source| WebError::Bind { port: options.port, source })?.port();
    let url = format!("http://127.0.0.1:{port}");
    let state_file = options.state_file.unwrap_or_else(files::state_path);
    StateFile { url: url.clone(), token: token.clone(), pid: std::process::id() }.write(&state_file)?;
    let stop = CancellationToken::new();
    let until = stop.clone().cancelled_owned();
    let task = tokio::spawn(serve(listener, cluster, token.clone(), options.ui_dir, until));
    Ok(WebHandle { url, token, state_file, task: Some(task), stop })
}

async fn bind_loopback(port: u16) -> Result<TcpListener, WebError> {
    let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpListener::bind(at(port)).await {
        Ok(l) => Ok(l),
        Err(e) if port != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::info!("port {port} is busy; the local API takes a free one");
            TcpListener::bind(at(0)).await.map_err(|source| WebError::Bind { port: 0, source })
        }
        Err(source) => Err(WebError::Bind { port, source }),
    }
}
