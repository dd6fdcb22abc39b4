//! `Cluster`: the one API both shells use — commands, snapshots, subscriptions, events.
//! The signatures are what the shells (desktop, web API, CLI) code against.
//!
//! - `options`: default folders (XDG) for a manifest;
//! - `folders`: the data folder's lock, held while the cluster runs, and `reset-data`;
//! - `lifecycle`: the one way services join the cluster (start-up and reload alike) and
//!   leave it (reload and shutdown alike);
//! - `wiring`: the log hub as the replicas' output, each service's address (its
//!   `proxy`) bound and following its supervisor's replica set;
//! - [`feed`]: the live feed's contract (rate, size, backlog, acknowledgements), one for
//!   every viewer;
//! - `subscribe`: the per-subscriber feed (snapshot first, then flushes paced by `feed`);
//! - `set`: the services running now, swapped whole by `reload` (a new manifest
//!   applied: changed services roll, new ones start, removed ones stop);
//! - `metrics_feed`: the one `Metrics` every address records into, fed with resource
//!   readings, and its queries;
//! - `load`: the load generator, one run at a time over the manifest's scenarios;
//! - `knobs`: the sample kit's demo knobs, on the ready replicas and for later ones;
//! - `crash`: a replica asked to crash itself, through the service's address;
//! - `deploy`: deploys, undos and the revision history of a service (its actor keeps them);
//! - `lesson`: one lesson at a time, run by `lessons::runner` as a client of this API;
//! - `fault`: faults injected at a service's address, their expiry and events;
//! - `autoscale`: each autoscaled service's loop (`crate::autoscale`), its switch, and the
//!   user's scale that switches it off.

mod autoscale;
mod crash;
mod deploy;
mod fault;
pub mod feed;
mod folders;
mod knobs;
mod lesson;
mod lifecycle;
mod load;
mod metrics_feed;
mod options;
mod reload;
mod set;
mod subscribe;
mod wiring;

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, OnceCell};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::{now_ms, EventLog};
use crate::logs::file::RotatingFile;
use crate::logs::{LogConfig, LogHub};
use crate::manifest::Manifest;
use crate::resources::Resources;
use crate::snapshot::{ClusterSnapshot, Event, LogLine};
use crate::supervisor::{ServiceHandle, Shared};
use lifecycle::Applying;
use set::ServiceSet;

pub use crate::error::ClusterError;
pub use folders::{lock_data, reset_data, reset_unless_running, DataLock, ResetError};
pub use crate::logs::LogQuery;
pub use fault::FaultView;
pub use lesson::{LessonStart, Pace};
pub use load::load_duration;
pub use reload::ReloadReport;
pub use subscribe::Subscription;

/// Where a cluster keeps its files, and how it shifts its ports.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Logs (`logs/<service>.log`), events (`events.jsonl`) and run state, all private to the
    /// user. Default: `$XDG_STATE_HOME/microdeck/<cluster>`.
    pub run_dir: PathBuf,
    /// One folder per service (`MICRODECK_DATA_DIR`), kept across runs. Default: `$XDG_DATA_HOME/microdeck/<cluster>`.
    pub data_dir: PathBuf,
    /// Added to every fixed port of the manifest, so a second cluster can run beside the first.
    pub port_offset: u16,
    /// Folders searched for a service's program before `PATH` (e.g. the folder of the running executable).
    pub program_dirs: Vec<PathBuf>,
    /// Lines kept in memory per service for viewers.
    pub log_ring_lines: usize,
    /// A service's log file, and the event file, is rotated past this size...
    pub log_file_bytes: u64,
    /// ...keeping this many files.
    pub log_files: usize,
    /// The executable run as each replica's shim (`<shim> __shim -- program…`).
    /// `None`: `$MICRODECK_SHIM`, else the running executable (which must be `microdeck`
    /// or call `microdeck::shim::run_if_shim()` first thing in `main`).
    pub shim: Option<PathBuf>,
}

/// What a subscriber receives: a snapshot first, then these as they happen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Update {
    /// At most one a flush ([`feed::MAX_FLUSHES_PER_SEC`]).
    Snapshot(ClusterSnapshot),
    /// At most one a flush, bounded by [`feed::MAX_LINES`] and [`feed::MAX_LOG_BYTES`]:
    /// `skipped` lines (all in the log files) were not sent to this subscriber before or
    /// among these, because they came faster than the feed carries or it fell behind.
    Logs { lines: Vec<LogLine>, skipped: u64 },
    Event(Event),
}

/// How long a shutdown waits past the longest grace period (and its SIGKILL).
pub const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// A cheap, cloneable handle to a running cluster.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClusterOptions,
    /// The services running now and their manifest; a reload swaps in the next set.
    set: Arc<ArcSwap<ServiceSet>>,
    /// What every service actor shares.
    shared: Arc<Shared>,
    /// Reloads, carried out one at a time by their own task.
    reloads: mpsc::Sender<reload::Job>,
    /// Cancelled as shutdown begins: no reload starts after it.
    closing: CancellationToken,
    version: watch::Receiver<u64>,
    resources: watch::Receiver<Resources>,
    events: EventLog,
    logs: LogHub,
    /// What every address records into.
    metrics: crate::metrics::Metrics,
    /// The current or last load run.
    load: arc_swap::ArcSwapOption<crate::loadgen::LoadHandle>,
    /// The current or last lesson run.
    lesson: arc_swap::ArcSwapOption<lesson::LessonRun>,
    /// The autoscalers of the services running now.
    autoscalers: ArcSwap<autoscale::Autoscalers>,
    /// Every task but the log hub's, which outlives the children to keep their last lines.
    cancel: CancellationToken,
    logs_cancel: CancellationToken,
    tracker: TaskTracker,
    /// The runtime the cluster started on: its sync methods (`start_load`) spawn there,
    /// whatever thread calls them (a desktop shell's main thread has no runtime).
    runtime: tokio::runtime::Handle,
    shut: OnceCell<()>,
    /// Tells `reset-data` the data folder is in use (none if another cluster shares it).
    _data_lock: Option<DataLock>,
}

impl Cluster {
    /// Starts every service (in `depends_on` order) and returns at once; readiness shows in snapshots.
    pub async fn start(manifest: Manifest, options: ClusterOptions) -> Result<Cluster, ClusterError> {
        crate::fd_limit::raise();
        let folder = |what, path: &PathBuf, e| ClusterError::Folder { what, path: path.clone(), source: Arc::new(e) };
        crate::private_fs::create_dir(&options.run_dir).map_err(|e| folder("create the run folder", &options.run_dir, e))?;
        crate::private_fs::create_dir(&options.data_dir).map_err(|e| folder("create the data folder", &options.data_dir, e))?;
        let event_file = options.run_dir.join("events.jsonl");
        let event_file = RotatingFile::open(event_file.clone(), options.log_file_bytes, options.log_files)
            .map_err(|e| folder("write the event file", &event_file, e))?;
        let data_lock = lock_data(&options.data_dir).map_err(|e| folder("create the data folder lock in", &options.data_dir, e))?;
        let shim = options::shim_path(&options)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| ClusterError::NoRuntime(Arc::new(e)))?;
        let cancel = CancellationToken::new();
        let logs_cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let log_config = LogConfig {
            dir: options.run_dir.join("logs"),
            ring_lines: options.log_ring_lines,
            file_bytes: options.log_file_bytes,
            files: options.log_files,
        };
        let logs = LogHub::start(log_config, &[], logs_cancel.clone()).map_err(|e| ClusterError::LogHubStart(Arc::new(e)))?;
        let events = EventLog::start_writing(cancel.clone(), event_file);
        let (version_tx, version) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            shim,
            events: events.clone(),
            output: Arc::new(wiring::LogOutput(logs.clone())),
            version: version_tx,
            cancel: cancel.clone(),
            tracker: tracker.clone(),
        });
        // Empty until the manifest is applied below, as a reload would apply it.
        let empty = Manifest { services: vec![], ..manifest.clone() };
        let set = Arc::new(ArcSwap::from_pointee(ServiceSet { manifest: empty, services: vec![] }));
        // Weak: dropping the last `Cluster` drops the set's handles, which stops the services.
        let pids_of = Arc::downgrade(&set);
        let resources = crate::resources::spawn(move || pids_of.upgrade().map(|s| s.load().pids()).unwrap_or_default(), cancel.clone());
        let metrics = match metrics_feed::start_metrics(Arc::downgrade(&set), resources.clone(), &cancel, &tracker) {
            Ok(m) => m,
            Err(e) => {
                cancel.cancel();
                logs_cancel.cancel();
                return Err(e);
            }
        };
        let (reloads, reload_jobs) = mpsc::channel(reload::QUEUE);
        let inner = Arc::new(Inner {
            options,
            set,
            shared,
            reloads,
            closing: CancellationToken::new(),
            version,
            resources,
            events,
            logs,
            metrics,
            load: arc_swap::ArcSwapOption::empty(),
            lesson: arc_swap::ArcSwapOption::empty(),
            autoscalers: ArcSwap::from_pointee(autoscale::Autoscalers::new()),
            cancel,
            logs_cancel,
            tracker,
            runtime,
            shut: OnceCell::new(),
            _data_lock: data_lock,
        });
        reload::spawn_reloader(Arc::downgrade(&inner), reload_jobs, &inner.tracker);
        let cluster = Cluster { inner };
        // No reload can run yet: only this caller holds the cluster.
        if let Err(e) = cluster.apply(manifest, Applying::Start).await {
            cluster.shutdown().await;
            return Err(e);
        }
        Ok(cluster)
    }

    /// The manifest running now (the last one reloaded).
    pub fn manifest(&self) -> Manifest {
        self.inner.set.load().manifest.clone()
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.inner.options
    }

    fn service(&self, name: &str) -> Result<ServiceHandle, ClusterError> {
        if self.inner.cancel.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        self.inner.set.load().get(name).map(|r| r.handle.clone()).ok_or_else(|| ClusterError::UnknownService(name.to_string()))
    }

    fn handles(&self) -> Vec<ServiceHandle> {
        self.inner.set.load().services.iter().map(|r| r.handle.clone()).collect()
    }

    pub async fn start_service(&self, service: &str) -> Result<(), ClusterError> {
        self.service(service)?.start().await
    }
    pub async fn stop_service(&self, service: &str) -> Result<(), ClusterError> {
        self.service(service)?.stop().await
    }
    /// Rolling: one replica at a time, the new one ready before the old one stops.
    pub async fn restart_service(&self, service: &str) -> Result<(), ClusterError> {
        self.service(service)?.restart().await
    }
    /// A user's scale; an autoscaled service's autoscaler switches off (see [`Cluster::scale_and_say`]).
    pub async fn scale(&self, service: &str, replicas: u32) -> Result<(), ClusterError> {
        self.scale_and_say(service, replicas).await.map(drop)
    }
    /// SIGKILL one replica (a demo of a crash); the restart policy brings it back.
    pub async fn kill_replica(&self, service: &str, index: u32) -> Result<(), ClusterError> {
        self.service(service)?.kill(index).await
    }
    pub async fn start_all(&self) -> Result<(), ClusterError> {
        for h in self.handles() {
            h.start().await?;
        }
        Ok(())
    }
    pub async fn stop_all(&self) -> Result<(), ClusterError> {
        for h in self.handles() {
            h.stop().await?;
        }
        Ok(())
    }

    pub fn snapshot(&self) -> ClusterSnapshot {
        let res = self.inner.resources.borrow().clone();
        let set = self.inner.set.load();
        let services = set
            .services
            .iter()
            .map(|r| {
                let mut v = r.handle.view.borrow().clone();
                res.fill(&mut v);
                v
            })
            .collect();
        let logs_dir = self.inner.logs.dir().display().to_string();
        ClusterSnapshot {
            name: set.manifest.name.clone(),
            taken_at: now_ms(),
            services,
            engine: res.engine,
            logs_dir,
            run_dir: self.inner.options.run_dir.display().to_string(),
            lesson: self.lesson_progress().map(Box::new),
            autoscalers: self.autoscalers(),
            faults: self.faults(),
        }
    }

    pub fn subscribe(&self) -> Subscription {
        subscribe::start(self.clone(), true, subscribe::HEARTBEAT)
    }

    /// A feed of snapshots and events only, for a viewer that never shows log lines.
    /// Changes come at once; with none, a snapshot every `heartbeat` carries the fresh
    /// CPU and memory figures (a slow one keeps an idle engine asleep).
    pub fn subscribe_status(&self, heartbeat: std::time::Duration) -> Subscription {
        subscribe::start(self.clone(), false, heartbeat)
    }

    pub async fn logs(&self, query: &LogQuery) -> Vec<LogLine> {
        self.inner.logs.query(query).await
    }

    /// Newest last, bounded.
    pub async fn events(&self) -> Vec<Event> {
        self.inner.events.list().await
    }

    /// Stops every service (bounded by their grace periods) and every task; idempotent.
    pub async fn shutdown(&self) {
        let inner = self.inner.clone();
        self.inner
            .shut
            .get_or_init(|| async move {
                inner.closing.cancel();
                // A reload under way finishes first, so the set read below is the last one.
                let (done, finished) = tokio::sync::oneshot::channel();
                if inner.reloads.send(reload::Job::Close(done)).await.is_ok() {
                    let _waited = tokio::time::timeout(reload::LONGEST, finished).await;
                }
                lifecycle::stop_services(&inner.set.load_full().services).await;
                inner.cancel.cancel();
                inner.logs_cancel.cancel();
                // A flood's backlog (at most the capture budget) reaches the files first.
                let _written = tokio::time::timeout(std::time::Duration::from_secs(5), inner.logs.written()).await;
                inner.tracker.close();
                let _late = tokio::time::timeout(std::time::Duration::from_secs(2), inner.tracker.wait()).await;
            })
            .await;
    }
}
