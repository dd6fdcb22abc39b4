//! # service-kit
//!
//! The one way the Rust samples of the sample cluster start, so each shows the same face
//! to Microdeck: `GET /health`, JSON log lines on stdout, graceful shutdown on SIGTERM,
//! an HTTP client that names its caller, an `x-replica` header on every answer, and the
//! demo knobs (`/admin/knobs`, `/admin/crash`). Its `VERSION` (default `1`) is in `/health`,
//! an `x-version` header and its log lines; `BAD_RELEASE=health` makes `/health` fail and
//! `BAD_RELEASE=crash` exits at start, so a demo can deploy a broken release on purpose.
//!
//! ## Layout
//!
//! - [`analytics`]: fire-and-forget events to the analytics service;
//! - `testing` (feature `testing`): a fake analytics for the samples' tests;
//! - [`knobs`]: `work_ms`, `max_inflight`, `error_rate` and the middleware applying them;
//! - this file: [`Config`] (from env), [`app`] (wraps a service's routes), [`serve`] / [`run`],
//!   [`client`], [`init_logging`].
//!
//! The build script also places `mdk-analytics` (the Python sample) next to the built binaries.

pub mod analytics;
pub mod knobs;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

pub use analytics::Analytics;
pub use knobs::{KnobState, Knobs, KnobsPatch};

/// Names the calling service on every outgoing request, so the proxy can draw the edge.
pub const CALLER_HEADER: &str = "x-microdeck-caller";
/// Names the replica that answered (`<service>-<replica>`).
pub const REPLICA_HEADER: &str = "x-replica";
/// The release that answered (`VERSION`).
pub const VERSION_HEADER: &str = "x-version";

/// A broken release on purpose (`BAD_RELEASE`), for demos of a rollout that stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRelease {
    #[default]
    No,
    /// `/health` answers 503: the replica never gets ready.
    Health,
    /// The program exits with status 1 at start.
    Crash,
}

impl BadRelease {
    /// `health`, `crash`, or nothing; another value is ignored with a warning.
    pub fn parse(value: Option<&str>) -> BadRelease {
        match value.map(str::trim) {
            None | Some("") => BadRelease::No,
            Some("health") => BadRelease::Health,
            Some("crash") => BadRelease::Crash,
            Some(other) => {
                tracing::warn!(value = other, "BAD_RELEASE is `health` or `crash`; ignoring it");
                BadRelease::No
            }
        }
    }
}

/// What a sample reads from its environment at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SERVICE_NAME`, else the sample's own name.
    pub service: String,
    /// `REPLICA` (the engine numbers replicas from 0).
    pub replica: String,
    /// `PORT`; 0 = any free port.
    pub port: u16,
    /// `MICRODECK_DATA_DIR`: the folder this service owns and keeps across runs.
    pub data_dir: PathBuf,
    pub knobs: Knobs,
    /// What `POST /admin/crash` does after replying (exit(1) outside tests).
    pub crash: fn(),
    /// `VERSION`, default `1`.
    pub version: String,
    /// `BAD_RELEASE`.
    pub bad_release: BadRelease,
}

fn crash_now() {
    std::process::exit(1);
}

impl Config {
    /// From `SERVICE_NAME`, `REPLICA`, `PORT`, `MICRODECK_DATA_DIR` and the knob variables.
    pub fn from_env(default_service: &str) -> Config {
        let service = std::env::var("SERVICE_NAME").unwrap_or_else(|_| default_service.to_string());
        let data_dir = std::env::var_os("MICRODECK_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(format!("mdk-{service}")));
        Config {
            replica: std::env::var("REPLICA").unwrap_or_else(|_| "0".into()),
            port: std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0),
            data_dir,
            knobs: Knobs::from_env(),
            crash: crash_now,
            version: std::env::var("VERSION").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "1".into()),
            bad_release: BadRelease::parse(std::env::var("BAD_RELEASE").ok().as_deref()),
            service,
        }
    }

    /// For unit tests: replica 0, any port, no knobs, the given data folder.
    pub fn for_test(service: &str, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            service: service.into(),
            replica: "0".into(),
            port: 0,
            data_dir: data_dir.into(),
            knobs: Knobs::default(),
            crash: crash_now,
            version: "1".into(),
            bad_release: BadRelease::No,
        }
    }

    /// `<service>-<replica>`, the value of `x-replica`.
    pub fn replica_id(&self) -> String {
        format!("{}-{}", self.service, self.replica)
    }
}

/// An environment variable holding another service's address, without a trailing `/`.
pub fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|u| u.trim_end_matches('/').to_string()).filter(|u| !u.is_empty())
}

/// The shared HTTP client: names the caller and gives up fast (a dependency that is down
/// must not hold a request for long).
pub fn client(service: &str, timeout: Duration) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(service) {
        headers.insert(CALLER_HEADER, v);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .build()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "falling back to a default HTTP client");
            reqwest::Client::new()
        })
}

/// JSON log lines on stdout; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _already_set = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

#[derive(Clone)]
struct Admin {
    service: String,
    replica: String,
    version: String,
    health_fails: bool,
    started: Instant,
    knobs: Arc<KnobState>,
    crash: fn(),
}

/// Wraps a service's own `routes` (which the knobs govern) with `/health`, `/admin/*`,
/// the `x-replica` header and a log line per request.
pub fn app(config: &Config, routes: Router) -> Router {
    let knobs = Arc::new(KnobState::new(config.knobs));
    let admin = Admin {
        service: config.service.clone(),
        replica: config.replica.clone(),
        version: config.version.clone(),
        health_fails: config.bad_release == BadRelease::Health,
        started: Instant::now(),
        knobs: knobs.clone(),
        crash: config.crash,
    };
    let replica = HeaderValue::from_str(&config.replica_id()).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    let version = HeaderValue::from_str(&config.version).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    let own = routes.layer(middleware::from_fn_with_state(knobs, knobs::apply_knobs));
    Router::new()
        .route("/health", get(health))
        .route("/admin/knobs", get(get_knobs).post(set_knobs))
        .route("/admin/crash", post(crash))
        .with_state(admin)
        .merge(own)
        .layer(SetResponseHeaderLayer::overriding(HeaderName::from_static(REPLICA_HEADER), replica))
        .layer(SetResponseHeaderLayer::overriding(HeaderName::from_static(VERSION_HEADER), version))
        .layer(middleware::from_fn_with_state(Arc::<str>::from(config.version.as_str()), log_request))
}

async fn health(State(a): State<Admin>) -> Response {
    let status = if a.health_fails { "failing" } else { "ok" };
    let body = Json(serde_json::json!({
        "status": status,
        "service": a.service,
        "replica": a.replica,
        "version": a.version,
        "uptime_ms": a.started.elapsed().as_millis() as u64,
    }));
    if a.health_fails {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        body.into_response()
    }
}

async fn get_knobs(State(a): State<Admin>) -> Json<Knobs> {
    Json(a.knobs.get())
}

async fn set_knobs(State(a): State<Admin>, Json(patch): Json<KnobsPatch>) -> Response {
    match a.knobs.apply(patch) {
        Ok(k) => {
            tracing::info!(work_ms = k.work_ms, max_inflight = k.max_inflight, error_rate = k.error_rate, "knobs changed");
            Json(k).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": e }))).into_response(),
    }
}

async fn crash(State(a): State<Admin>) -> Json<serde_json::Value> {
    tracing::error!("crash requested via /admin/crash");
    let crash = a.crash;
    // Exit a moment later, so the caller still gets its answer.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        crash();
    });
    Json(serde_json::json!({ "crashing": true }))
}

async fn log_request(State(version): State<Arc<str>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let caller = req.headers().get(CALLER_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let resp = next.run(req).await;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status().as_u16();
    // Health probes come every second: kept out of the default log level.
    if path == "/health" {
        tracing::debug!(%method, %path, status, ms, %caller, %version, "request");
    } else if status >= 500 {
        tracing::warn!(%method, %path, status, ms, %caller, %version, "request");
    } else {
        tracing::info!(%method, %path, status, ms, %caller, %version, "request");
    }
    resp
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// A sample's whole life: bind `127.0.0.1:PORT`, serve `routes` wrapped by [`app`], stop on SIGTERM.
/// A `BAD_RELEASE=crash` release ends here, before it listens.
pub async fn run(config: Config, routes: Router) -> anyhow::Result<()> {
    let version = config.version.clone();
    if config.bad_release == BadRelease::Crash {
        tracing::error!(%version, "BAD_RELEASE=crash: exiting at start on purpose");
        anyhow::bail!("version {version} is a bad release on purpose (BAD_RELEASE=crash)");
    }
    let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(service = %config.service, replica = %config.replica, %version, %addr, "listening");
    if config.bad_release == BadRelease::Health {
        tracing::warn!(%version, "BAD_RELEASE=health: /health answers 503 on purpose");
    }
    serve(listener, app(&config, routes), shutdown_signal()).await?;
    tracing::info!(%version, "stopped");
    Ok(())
}

#[cfg(test)]
mod tests;
