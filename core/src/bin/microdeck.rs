//! `microdeck`: the headless CLI. Parses arguments and calls into the engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "microdeck", version, about = "A dashboard and supervisor for a local microservice cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a manifest or Procfile: prints errors, or `ok` and a line per service.
    Check {
        /// The manifest (TOML) or Procfile.
        file: PathBuf,
    },
    Up(microdeck::cli::up::UpArgs),
    /// Verbs that talk to a running cluster (`status`, `logs`, `scale`, …).
    #[command(flatten)]
    Client(microdeck::cli::verbs::ClientCommand),
}

fn main() -> ExitCode {
    // Each replica runs under this same binary in a hidden mode (see `microdeck::shim`).
    if let Some(code) = microdeck::shim::run_if_shim() {
        return code;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Client(verb) => microdeck::cli::verbs::run(verb),
        Command::Check { file } => check(&file),
        Command::Up(args) => microdeck::cli::up::up(args),
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    match microdeck::manifest::load_file(file) {
        Ok(m) => {
            println!("ok: {} ({} services)", m.name, m.services.len());
            ExitCode::SUCCESS
        }
        Err(e @ microdeck::manifest::LoadError::Unreadable { .. }) => {
            eprintln!("microdeck: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
