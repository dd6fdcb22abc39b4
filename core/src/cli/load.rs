//! `microdeck load`: sends a manifest scenario's traffic at a fixed rate, prints a line
//! a second (achieved rate, latency percentiles, errors) and a final summary.
//!
//! Exit codes: 0 the load ran (errors in the traffic are data, not a failure of the
//! command); 1 it could not run (the setup request failed); 2 bad arguments, an
//! unreadable manifest or an unknown scenario; 3 an invalid manifest.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::loadgen::{LoadGen, LoadReport, LoadState};
use crate::manifest::{self, placeholders::HOST, Manifest, Scenario};
use crate::metrics::Percentiles;

pub const EXIT_RAN: u8 = 0;
pub const EXIT_NOT_RUN: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INVALID_MANIFEST: u8 = 3;

/// Arguments of `microdeck load`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Exit status: 0 when the load ran, whatever errors the traffic met (they are \
    in the report); 1 when it could not run (its setup request failed); 2 bad arguments, an unreadable \
    manifest or an unknown scenario; 3 an invalid manifest.\n\nLatency is measured from each request's \
    scheduled send time (open loop), so queueing in a slow service shows in the percentiles.")]
pub struct LoadArgs {
    /// The `[[load.scenario]]` to send, by name.
    #[arg(long)]
    pub scenario: String,
    /// Requests per second.
    #[arg(long)]
    pub rate: f64,
    /// How long to send, e.g. `30s` or `2m`; without it, until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The manifest holding the scenario.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Send here instead of the scenario target's stable address from the manifest.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<SocketAddr>,
    /// The port offset the cluster runs with (added to the manifest's port).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    manifest::duration::parse(s).map_err(|e| e.to_string())
}

/// Why the command could not start, with its exit code.
struct Refusal(u8, String);

fn resolve(args: &LoadArgs) -> Result<(SocketAddr, Scenario), Refusal> {
    let usage = |m: String| Refusal(EXIT_USAGE, m);
    let Some(path) = &args.manifest else {
        return Err(usage("give the manifest with --manifest FILE".into()));
    };
    let m: Manifest = manifest::load_file(path).map_err(|e| match e {
        manifest::LoadError::Invalid { .. } => Refusal(EXIT_INVALID_MANIFEST, e.to_string()),
        manifest::LoadError::Unreadable { .. } => usage(e.to_string()),
    })?;
    let Some(scenario) = m.load.scenarios.iter().find(|s| s.name == args.scenario) else {
        let names: Vec<&str> = m.load.scenarios.iter().map(|s| s.name.as_str()).collect();
        let known = if names.is_empty() { "it has none".to_string() } else { format!("it has: {}", names.join(", ")) };
        return Err(usage(format!("{} has no scenario `{}`; {known}", path.display(), args.scenario)));
    };
    let addr = match args.target {
        Some(addr) => addr,
        None => {
            let port = m.service(&scenario.target).and_then(|s| s.port).ok_or_else(|| {
                usage(format!(
                    "service `{}` has no fixed port in the manifest; pass its address with --target ADDR",
                    scenario.target
                ))
            })?;
            let port = port
                .checked_add(args.port_offset)
                .ok_or_else(|| usage(format!("port {port} + offset {} is past 65535", args.port_offset)))?;
            format!("{HOST}:{port}").parse().map_err(|e| usage(format!("{e}")))?
        }
    };
    Ok((addr, scenario.clone()))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| if v < 10.0 { format!("{v:.2}") } else { format!("{v:.0}") })
}

fn percentiles(p: &Percentiles) -> String {
    format!("p50 {} ms  p95 {} ms  p99 {} ms", ms(p.p50_ms), ms(p.p95_ms), ms(p.p99_ms))
}

/// The line printed once a second.
pub fn progress_line(r: &LoadReport) -> String {
    format!(
        "{:>5.0}s  {:>7.1} rps (asked {})  {}  errors {}  in flight {}",
        r.elapsed_s,
        r.achieved_rps_recent,
        r.rate,
        percentiles(&r.latency_last_second),
        r.errors.total(),
        r.in_flight
    )
}

/// The summary printed at the end.
pub fn summary(r: &LoadReport) -> String {
    let e = &r.errors;
    let kinds: Vec<String> = [
        ("4xx", e.status_4xx),
        ("5xx", e.status_5xx),
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("dropped", e.dropped),
        ("other", e.other),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    let kinds = if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) };
    let state = match &r.state {
        LoadState::Failed { message } => format!("failed: {message}"),
        LoadState::Stopped => "stopped".into(),
        LoadState::Finished => "finished".into(),
        LoadState::Setup | LoadState::Running | LoadState::Draining => "running".into(),
    };
    format!(
        "scenario {} → {}: {state} after {:.1} s\nsent {}, ok {}, errors {}{kinds}\nachieved {:.1} rps (asked {}); \
         latency from the scheduled send: {}  max {} ms\n",
        r.scenario,
        r.target,
        r.elapsed_s,
        r.sent,
        r.ok,
        e.total(),
        r.achieved_rps_total,
        r.rate,
        percentiles(&r.latency),
        ms(r.latency.max_ms),
    )
}

/// Runs `microdeck load`; see the module doc for the exit codes.
pub fn run(args: LoadArgs) -> ExitCode {
    let (addr, scenario) = match resolve(&args) {
        Ok(v) => v,
        Err(Refusal(code, message)) => {
            eprintln!("microdeck load: {message}");
            return ExitCode::from(code);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("microdeck load: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_NOT_RUN);
        }
    };
    rt.block_on(drive(addr, scenario, args))
}

async fn drive(addr: SocketAddr, scenario: Scenario, args: LoadArgs) -> ExitCode {
    let cancel = CancellationToken::new();
    let handle = match LoadGen::start(addr, &scenario, args.rate, args.duration, cancel.clone()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("microdeck load: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut out = std::io::stdout();
    // A closed pipe is no reason to stop the load; the summary still tries.
    let _ = writeln!(out, "sending `{}` to {addr} at {} rps", scenario.name, args.rate);
    let mut watch = handle.watch();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => handle.stop(),
            changed = watch.changed() => {
                let report = watch.borrow_and_update().clone();
                if changed.is_err() || report.state.is_over() {
                    break;
                }
                if matches!(report.state, LoadState::Running) && report.elapsed_s >= 0.5 {
                    let _ = writeln!(out, "{}", progress_line(&report));
                }
            }
        }
    }
    let report = handle.finished().await;
    if let LoadState::Failed { message } = &report.state {
        eprintln!("microdeck load: {message}");
        return ExitCode::from(EXIT_NOT_RUN);
    }
    let _ = write!(out, "{}", summary(&report));
    ExitCode::from(EXIT_RAN)
}
