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
}

fn main() -> ExitCode {
    // Each replica runs under this same binary in a hidden mode (see `microdeck::shim`).
    if let Some(code) = microdeck::shim::run_if_shim() {
        return code;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file } => match microdeck::manifest::load_file(&file) {
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
        },
        Command::Up(args) => microdeck::cli::up::up(args),
    }
}
