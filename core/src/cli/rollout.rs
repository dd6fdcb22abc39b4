//! `microdeck deploy` and `microdeck rollout status|history|undo`: what they ask the running
//! cluster and what they print. Deploys live in the running engine only: a restart of
//! Microdeck starts every service from its manifest again, and every deploy says so.

use std::time::Duration;

use clap::Subcommand;

use super::client::{Client, ClientError};
use crate::snapshot::{DeployOutcome, RevisionView, RolloutState, ServiceView};
use crate::supervisor::revision::EnvChange;
use crate::supervisor::rollout::progress_text;

/// Said after every deploy and undo.
pub const NOT_IN_THE_FILE: &str = "deploys are not written to the manifest: a restart of Microdeck returns to the file";

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// The service's revision and its last rollout (progress, or why it stopped).
    Status {
        service: String,
        /// Wait until the rollout ends; exit 1 if it stopped on a bad replica.
        #[arg(long)]
        wait: bool,
    },
    /// The service's kept revisions (the last 10), newest first, each with what changed.
    History { service: String },
    /// Roll out the previous revision's definition (or `--to-revision N`'s) as a new revision.
    Undo {
        service: String,
        #[arg(long)]
        to_revision: Option<u32>,
    },
}

/// `KEY=VALUE`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

pub fn change(env: Vec<(String, String)>, unset: Vec<String>) -> EnvChange {
    EnvChange { set: env.into_iter().collect(), unset: unset.into_iter().collect() }
}

/// "api: revision 3 rolling out\n  env VERSION: 1 → 2\n…".
pub fn outcome(o: &DeployOutcome) -> String {
    if o.changes.is_empty() {
        return format!("{}: nothing changed (revision {} already runs that)\n", o.service, o.revision);
    }
    let what = if o.rolling { "rolling out" } else { "recorded (the service is not running: it starts with it)" };
    let mut out = format!("{}: revision {} {what}\n", o.service, o.revision);
    for c in &o.changes {
        out.push_str(&format!("  {c}\n"));
    }
    out.push_str(&format!("note: {NOT_IN_THE_FILE}\n"));
    out
}

fn state_word(s: RolloutState) -> &'static str {
    match s {
        RolloutState::Progressing => "progressing",
        RolloutState::Complete => "complete",
        RolloutState::RollingBack => "rolling back",
        RolloutState::RolledBack => "rolled back",
        RolloutState::Paused => "paused",
    }
}

/// The revision, the rollout's progress and reason, and a line per replica.
pub fn status(v: &ServiceView) -> String {
    let mut out = format!("{}: revision {}", v.name, v.revision);
    if !v.deployed.is_empty() {
        out.push_str(&format!(" (deployed on top of the file: {})", v.deployed.describe()));
    }
    out.push('\n');
    match &v.rollout {
        Some(r) => {
            out.push_str(&format!("rollout {} → {}: {}, {}\n", r.from, r.to, state_word(r.state), progress_text(r.updated, r.desired, r.to)));
            if let Some(reason) = &r.reason {
                out.push_str(&format!("{reason}\n"));
            }
        }
        None => out.push_str("no rollout since the start\n"),
    }
    for r in &v.replicas {
        let state = serde_json::to_value(r.state).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
        out.push_str(&format!("  replica {} revision {} {state}\n", r.index, r.revision));
    }
    out
}

pub fn history(revisions: &[RevisionView]) -> String {
    let mut out = String::new();
    for r in revisions {
        let mark = if r.current { " (current)" } else { "" };
        out.push_str(&format!("{:>3}  {}  {}{mark}\n", r.revision, super::format::clock(r.at), r.cause));
        for c in &r.changes {
            out.push_str(&format!("       {c}\n"));
        }
        if let Some(f) = &r.failed {
            out.push_str(&format!("       {f}\n"));
        }
    }
    out
}

/// Whether a rollout is still replacing replicas.
fn going(v: &ServiceView) -> bool {
    v.rollout.as_ref().is_some_and(|r| matches!(r.state, RolloutState::Progressing | RolloutState::RollingBack))
}

/// Carries out a rollout verb; `Ok(false)` when `status --wait` saw the rollout stop on a bad replica.
pub async fn execute(client: &Client, command: RolloutCommand) -> Result<bool, ClientError> {
    match command {
        RolloutCommand::Status { service, wait } => {
            let mut view = client.rollout_status(&service).await?;
            let mut last = None;
            while wait && going(&view) {
                let line = view.rollout.as_ref().map(|r| format!("{}: {}", state_word(r.state), progress_text(r.updated, r.desired, r.to)));
                if line != last {
                    println!("{}", line.clone().unwrap_or_default());
                    last = line;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                view = client.rollout_status(&service).await?;
            }
            print!("{}", status(&view));
            Ok(view.rollout.as_ref().is_none_or(|r| r.reason.is_none()))
        }
        RolloutCommand::History { service } => {
            print!("{}", history(&client.rollout_history(&service).await?));
            Ok(true)
        }
        RolloutCommand::Undo { service, to_revision } => {
            print!("{}", outcome(&client.rollout_undo(&service, to_revision).await?));
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_and_the_outcome_says_the_file_wins_at_restart() {
        assert_eq!(parse_pair("VERSION=2"), Ok(("VERSION".into(), "2".into())));
        assert_eq!(parse_pair("EMPTY="), Ok(("EMPTY".into(), String::new())));
        assert!(parse_pair("=2").is_err() && parse_pair("VERSION").is_err());
        let o = DeployOutcome { service: "api".into(), revision: 2, changes: vec!["env VERSION: 1 → 2".into()], rolling: true };
        assert_eq!(outcome(&o), format!("api: revision 2 rolling out\n  env VERSION: 1 → 2\nnote: {NOT_IN_THE_FILE}\n"));
        let same = DeployOutcome { changes: vec![], rolling: false, ..o };
        assert_eq!(outcome(&same), "api: nothing changed (revision 2 already runs that)\n");
    }
}
