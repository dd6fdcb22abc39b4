//! `microdeck up`: runs a cluster in the foreground, headless.
//!
//! Prints a status table when something changes (at most twice a second) and one line
//! per failed service; writes `<run-dir>/snapshot.json` (the latest `ClusterSnapshot`,
//! replaced atomically on change; CPU and memory figures refreshed every
//! [`FIGURES_EVERY`], so an idle cluster does not rewrite it every second), so scripts and
//! tests can follow it beside the engine's `<run-dir>/events.jsonl`. Ctrl-C or SIGTERM
//! stops every service, showing what it waits for, and exits 0; a second one exits at once.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;

use super::exit;
use super::format::{self, Columns};
use crate::cluster::{Cluster, ClusterError, ClusterOptions, Update};
use crate::manifest::{LoadError, Manifest};
use crate::shell::{stop_reporting, Signals};
use crate::snapshot::{ClusterSnapshot, ServiceState};

/// Run a cluster headless until Ctrl-C or SIGTERM.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Files: <run-dir>/logs/<service>.log, <run-dir>/snapshot.json (latest status), <run-dir>/events.jsonl.\n\
Exit codes: 0 stopped on request; 2 bad arguments or unreadable file; 3 invalid manifest; 4 a port is already in use; 5 the cluster could not start; 130 a second Ctrl-C or SIGTERM ended the stop at once.")]
pub struct UpArgs {
    #[command(flatten)]
    pub cluster: crate::shell::ClusterArgs,
    /// A service's log file is rotated past this many bytes (5 files kept). Default: 10 MiB.
    #[arg(long)]
    pub log_file_bytes: Option<u64>,
    #[command(flatten)]
    pub web: super::web_args::WebArgs,
}

/// Least time between two printed tables.
const TABLE_EVERY: Duration = Duration::from_millis(500);
/// With no state change, `snapshot.json` is rewritten this often for its resource figures.
pub const FIGURES_EVERY: Duration = Duration::from_secs(5);

pub fn up(args: UpArgs) -> ExitCode {
    // Engine diagnostics on stderr: errors only, unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _already_set = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("microdeck: cannot start the runtime: {e}");
            return ExitCode::from(exit::START_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(run(args)))
}

fn load(args: &UpArgs) -> Result<Manifest, u8> {
    // No file: the sample cluster built into this binary.
    let loaded = args.cluster.origin().load();
    loaded.map_err(|e| {
        match &e {
            LoadError::Unreadable { .. } => eprintln!("microdeck: {e}"),
            LoadError::Invalid { .. } => eprintln!("{e}"),
        }
        match e {
            LoadError::Unreadable { .. } => exit::USAGE,
            LoadError::Invalid { .. } => exit::INVALID_MANIFEST,
        }
    })
}

async fn run(args: UpArgs) -> u8 {
    let manifest = match load(&args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let mut options = ClusterOptions::default_for(&manifest);
    args.cluster.apply(&mut options);
    if let Some(b) = args.log_file_bytes {
        options.log_file_bytes = b;
    }
    let run_dir = options.run_dir.clone();
    let cluster = match Cluster::start(manifest, options).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("microdeck: {e}");
            return match e {
                ClusterError::PortInUse { .. } => exit::PORT_IN_USE,
                _ => exit::START_FAILED,
            };
        }
    };
    println!("microdeck: cluster `{}` starting; logs in {}", cluster.manifest().name, run_dir.join("logs").display());
    let web = match args.web.serve(&cluster).await {
        Ok(web) => web,
        Err(e) => {
            eprintln!("microdeck: {e}");
            cluster.shutdown().await;
            return exit::START_FAILED;
        }
    };
    if let Some(signals) = follow(&cluster, &run_dir).await {
        tokio::spawn(signals.exit_on_next());
    }
    stop(&cluster).await;
    web.shutdown().await;
    exit::OK
}

/// Prints updates and keeps `snapshot.json` until Ctrl-C or SIGTERM; gives back the signals
/// that ended it.
async fn follow(cluster: &Cluster, run_dir: &Path) -> Option<Signals> {
    // Headless: the lines go to the files; a log feed here would copy each one for nothing.
    let mut sub = cluster.subscribe_status(FIGURES_EVERY);
    let mut printed = String::new();
    let mut printed_at = Instant::now() - TABLE_EVERY;
    let mut reported: Vec<String> = vec![];
    let mut signals = match Signals::catch() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("microdeck: cannot watch signals: {e}");
            return None;
        }
    };
    loop {
        let update = tokio::select! {
            () = signals.recv() => return Some(signals),
            u = sub.recv() => match u { Some(u) => u, None => return None },
        };
        match update {
            Update::Snapshot(snap) => {
                write_snapshot(run_dir, &snap);
                report_failures(&snap, &mut reported);
                let text = format::status_table(&snap, Columns::States);
                if text != printed && printed_at.elapsed() >= TABLE_EVERY {
                    print!("\n{text}");
                    let _unwritable = std::io::stdout().flush();
                    printed = text;
                    printed_at = Instant::now();
                }
            }
            Update::Event(_) | Update::Logs { .. } => {}
        }
    }
}

/// One line on stderr per service that failed to start.
fn report_failures(snap: &ClusterSnapshot, reported: &mut Vec<String>) {
    for s in &snap.services {
        if s.state == ServiceState::Failed && !reported.contains(&s.name) {
            reported.push(s.name.clone());
            let problem = s.problem.clone().unwrap_or_default();
            if s.optional {
                eprintln!("microdeck: optional service `{}` is not running: {problem}", s.name);
            } else {
                eprintln!("microdeck: service `{}` failed: {problem} (the others keep running)", s.name);
            }
        }
    }
}

/// `snapshot.json`, replaced atomically so a reader never sees half a file.
fn write_snapshot(run_dir: &Path, snap: &ClusterSnapshot) {
    let Ok(json) = serde_json::to_vec_pretty(snap) else { return };
    if crate::private_fs::write_atomic(&run_dir.join("snapshot.json"), &json).is_err() {
        tracing::warn!("cannot write {}/snapshot.json", run_dir.display());
    }
}

/// Stops everything, saying what it still waits for.
async fn stop(cluster: &Cluster) {
    let mut first = true;
    stop_reporting(cluster, cluster.shutdown(), |waiting| {
        match (first, waiting.is_empty()) {
            (true, true) => println!("\nstopping… (Ctrl-C again to exit now)"),
            (true, false) => println!("\nstopping: {waiting}… (Ctrl-C again to exit now)"),
            (false, false) => println!("waiting for: {waiting}…"),
            (false, true) => {}
        }
        first = false;
    })
    .await;
    println!("stopped.");
}
