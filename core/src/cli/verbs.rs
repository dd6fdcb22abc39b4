//! The client verbs — `status`, `logs`, `scale`, `autoscale`, `restart`, `stop`, `start`,
//! `kill`, `reload`, `deploy`, `rollout`, `fault` — against a running cluster (headless or desktop) found
//! through its state file.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Subcommand;

use crate::cluster::{LogQuery, Update};
use super::client::{Client, ClientError};
use super::format;
use crate::snapshot::{Level, LogLine};

/// The verbs that talk to a running cluster; flattened into the binary's own subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show each service: state, ready/desired replicas, address, restarts.
    Status {
        /// Print the whole snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print recent log lines (all services, or one), and follow new ones with `-f`.
    Logs {
        service: Option<String>,
        /// Keep printing lines as they come.
        #[arg(short, long)]
        follow: bool,
        /// Only lines at this level or above (trace, debug, info, warn, error).
        #[arg(long, value_parser = parse_level)]
        level: Option<Level>,
        /// Only lines containing this text (case-insensitive).
        #[arg(long)]
        grep: Option<String>,
        /// How many recent lines to print first.
        #[arg(short = 'n', long = "lines", default_value_t = 100)]
        n: usize,
        /// Print the lines as the services wrote them, terminal control sequences included
        /// (by default each control character is shown escaped, e.g. ESC as `\x1b`).
        #[arg(long)]
        raw: bool,
    },
    /// Set a service's replica count.
    Scale { service: String, replicas: u32 },
    /// Switch a service's autoscaler on or off, or show it (`status`).
    Autoscale(super::autoscale::AutoscaleArgs),
    /// Inject a fault at a service's address (a delay, an abort, on one replica, for a
    /// while), clear it with `--clear`, or show it.
    Fault(super::fault::FaultArgs),
    /// Restart a service, one replica at a time.
    Restart { service: String },
    /// Stop a service.
    Stop { service: String },
    /// Start a stopped service.
    Start { service: String },
    /// SIGKILL one replica of a service (its restart policy brings it back).
    Kill { service: String, index: u32 },
    /// Read the manifest again from its file and apply it: changed services restart one
    /// replica at a time, new ones start, removed ones stop, the others keep running.
    /// Exit 3 if the file has errors (nothing changes then).
    Reload,
    /// Change a running service's environment and roll it out as a new revision, one replica
    /// at a time (a new one ready before an old one leaves). Not written to the manifest: a
    /// restart of Microdeck returns to the file.
    Deploy {
        service: String,
        /// Set a variable (repeat for more).
        #[arg(long = "env", value_name = "KEY=VALUE", value_parser = super::rollout::parse_pair)]
        env: Vec<(String, String)>,
        /// Remove a variable (repeat for more).
        #[arg(long, value_name = "KEY")]
        unset: Vec<String>,
    },
    /// A service's rollouts: `status [--wait]`, `history`, `undo [--to-revision N]`.
    Rollout {
        #[command(subcommand)]
        command: super::rollout::RolloutCommand,
    },
}

fn parse_level(s: &str) -> Result<Level, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown level `{s}` (trace, debug, info, warn, error)"))
}

/// Runs one verb against the cluster of the state file; prints errors as `microdeck: …`.
pub fn run(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("microdeck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(async { execute(&Client::discover()?, command).await }) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(ClientError::Api { code, message, .. }) if code == "invalid-manifest" => {
            eprintln!("{message}");
            ExitCode::from(super::exit::INVALID_MANIFEST)
        }
        Err(e) => {
            eprintln!("microdeck: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Carries out `command` with `client`, printing to stdout; false when what it watched failed
/// (`rollout status --wait` on a rollout that stopped).
pub async fn execute(client: &Client, command: ClientCommand) -> Result<bool, ClientError> {
    match command {
        ClientCommand::Status { json } => {
            let snapshot = client.snapshot().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&snapshot).unwrap_or_default());
            } else {
                print!("{}\n{}", snapshot.name, format::status_table(&snapshot, format::Columns::WithResources));
            }
        }
        ClientCommand::Logs { service, follow, level, grep, n, raw } => {
            let query = LogQuery { service, replica: None, level, text: grep, limit: Some(n) };
            follow_logs(client, query, follow, raw).await?;
        }
        ClientCommand::Scale { service, replicas } => {
            let note = client.scale(&service, replicas).await?;
            println!("{service}: scaling to {replicas}");
            if let Some(note) = note {
                println!("{note}");
            }
        }
        ClientCommand::Restart { service } => {
            client.restart_service(&service).await?;
            println!("{service}: restarting");
        }
        ClientCommand::Stop { service } => {
            client.stop_service(&service).await?;
            println!("{service}: stopped");
        }
        ClientCommand::Start { service } => {
            client.start_service(&service).await?;
            println!("{service}: starting");
        }
        ClientCommand::Kill { service, index } => {
            client.kill_replica(&service, index).await?;
            println!("{service}/{index}: killed");
        }
        ClientCommand::Autoscale(args) => super::autoscale::run(client, args).await?,
        ClientCommand::Fault(args) => super::fault::run(client, args).await?,
        ClientCommand::Reload => print!("{}", format::reload_report(&client.reload().await?)),
        ClientCommand::Deploy { service, env, unset } => {
            let outcome = client.deploy(&service, &super::rollout::change(env, unset)).await?;
            print!("{}", super::rollout::outcome(&outcome));
        }
        ClientCommand::Rollout { command } => return super::rollout::execute(client, command).await,
    }
    Ok(true)
}

/// Whether a streamed line passes the same filter the server applies to `/api/logs`.
fn matches(query: &LogQuery, line: &LogLine) -> bool {
    query.service.as_ref().is_none_or(|s| *s == line.service)
        && query.replica.is_none_or(|r| r == line.replica)
        && query.level.is_none_or(|min| line.level.is_none_or(|l| l >= min))
        && query.text.as_ref().is_none_or(|t| line.text.to_lowercase().contains(&t.to_lowercase()))
}

async fn follow_logs(client: &Client, query: LogQuery, follow: bool, raw: bool) -> Result<(), ClientError> {
    // Subscribe first so no line falls between the backlog and the feed; `seq` drops repeats.
    let mut feed = if follow { Some(client.subscribe().await?) } else { None };
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for line in client.logs(&query).await? {
        last_seq.insert(line.service.clone(), line.seq);
        println!("{}", format::log_line(&line, raw));
    }
    let Some(feed) = feed.as_mut() else { return Ok(()) };
    while let Some(update) = feed.next().await? {
        let Update::Logs { lines, skipped } = update else { continue };
        if skipped > 0 {
            println!("… {skipped} lines skipped — all are in the log file");
        }
        for line in lines.iter().filter(|l| matches(&query, l)) {
            let seen = last_seq.get(&line.service).is_some_and(|&s| line.seq <= s);
            if !seen {
                last_seq.insert(line.service.clone(), line.seq);
                println!("{}", format::log_line(line, raw));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Stream;

    #[test]
    fn streamed_lines_are_filtered_like_the_server_does() {
        let line = |service: &str, level, text: &str| LogLine {
            seq: 1, at: 0, service: service.into(), replica: 0, stream: Stream::Stdout, level, text: text.into(),
        };
        let q = LogQuery { service: Some("auth".into()), level: Some(Level::Warn), text: Some("LOGIN".into()), ..LogQuery::default() };
        assert!(matches(&q, &line("auth", Some(Level::Error), "login failed")));
        assert!(matches(&q, &line("auth", None, "login (no level)")));
        assert!(!matches(&q, &line("auth", Some(Level::Info), "login ok")));
        assert!(!matches(&q, &line("users", Some(Level::Error), "login failed")));
        assert!(!matches(&q, &line("auth", Some(Level::Error), "other")));
    }

    #[test]
    fn levels_parse_any_case() {
        assert_eq!(parse_level("WARN"), Ok(Level::Warn));
        assert!(parse_level("loud").is_err());
    }
}
