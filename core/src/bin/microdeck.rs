//! `microdeck`: the headless CLI. Parses arguments and calls into the engine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use microdeck::manifest::{summary, Format};

#[derive(Parser)]
#[command(name = "microdeck", version, about = "A dashboard and supervisor for a local microservice cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a manifest or Procfile: prints every error as `file:line:col: key: message`,
    /// or `ok` and a line per service. Exit 0 valid, 1 invalid, 2 unreadable.
    Check {
        /// The manifest (TOML) or Procfile; the format is guessed from the name.
        file: PathBuf,
        /// Read FILE as a Procfile whatever its name.
        #[arg(long, conflicts_with = "manifest")]
        procfile: bool,
        /// Read FILE as a TOML manifest whatever its name.
        #[arg(long)]
        manifest: bool,
    },
    Up(microdeck::cli::up::UpArgs),
    /// Verbs that talk to a running cluster (`status`, `logs`, `scale`, …).
    #[command(flatten)]
    Client(microdeck::cli::verbs::ClientCommand),
    /// Send a manifest scenario's traffic at a fixed rate (open loop) and report it.
    Load(microdeck::cli::load::LoadArgs),
}

fn main() -> ExitCode {
    // Each replica runs under this same binary in a hidden mode (see `microdeck::shim`).
    if let Some(code) = microdeck::shim::run_if_shim() {
        return code;
    }
    match Cli::parse().command {
        Command::Client(verb) => microdeck::cli::verbs::run(verb),
        Command::Check { file, procfile, manifest } => check(&file, procfile, manifest),
        Command::Up(args) => microdeck::cli::up::up(args),
        Command::Load(args) => microdeck::cli::load::run(args),
    }
}

/// `microdeck check`: the formatting lives in `manifest::summary`.
fn check(file: &Path, procfile: bool, manifest: bool) -> ExitCode {
    let format = match (procfile, manifest) {
        (true, _) => Some(Format::Procfile),
        (_, true) => Some(Format::Manifest),
        _ => None,
    };
    let outcome = summary::check(file, format);
    // A closed pipe (`| head`) is not worth a panic; the exit code still tells.
    let out = std::io::stdout().lock().write_all(outcome.stdout.as_bytes());
    let err = std::io::stderr().lock().write_all(outcome.stderr.as_bytes());
    if out.is_err() || err.is_err() {
        return ExitCode::from(outcome.code.max(1));
    }
    ExitCode::from(outcome.code)
}
