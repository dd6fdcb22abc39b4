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
    /// Validate a manifest, Procfile or lesson: prints every error as
    /// `file:line:col: key: message`, or `ok` and a line per service (or per step).
    /// Exit 0 valid, 1 invalid, 2 unreadable.
    Check {
        /// The manifest (TOML), Procfile or lesson (TOML with `[[step]]`s); the format is
        /// guessed from the name and, for TOML, its content.
        file: PathBuf,
        /// Read FILE as a Procfile whatever its name.
        #[arg(long, conflicts_with = "manifest")]
        procfile: bool,
        /// Read FILE as a TOML manifest whatever its name.
        #[arg(long, conflicts_with = "lesson")]
        manifest: bool,
        /// Read FILE as a lesson whatever it holds.
        #[arg(long, conflicts_with = "procfile")]
        lesson: bool,
    },
    Up(microdeck::cli::up::UpArgs),
    /// Verbs that talk to a running cluster (`status`, `logs`, `scale`, …).
    #[command(flatten)]
    Client(microdeck::cli::verbs::ClientCommand),
    /// Send a manifest scenario's traffic at a fixed rate (open loop) and report it.
    Load(microdeck::cli::load::LoadArgs),
    /// Lessons: guided demonstrations of the microservice claims, checked with numbers.
    Lesson {
        #[command(subcommand)]
        command: microdeck::cli::lesson::LessonCommand,
    },
    /// Wipe the bundled sample cluster's data folders; they are re-seeded at the next
    /// start. Exit 0 done, 5 cannot, 6 refused: a cluster is running with that data.
    ResetData {
        /// The data folder `microdeck up` was given (default: the sample cluster's).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Each replica runs under this same binary in a hidden mode (see `microdeck::shim`).
    if let Some(code) = microdeck::shim::run_if_shim() {
        return code;
    }
    match Cli::parse().command {
        Command::Client(verb) => microdeck::cli::verbs::run(verb),
        Command::Check { file, procfile, manifest, lesson } => check(&file, procfile, manifest, lesson),
        Command::Up(args) => microdeck::cli::up::up(args),
        Command::Load(args) => microdeck::cli::load::run(args),
        Command::Lesson { command } => microdeck::cli::lesson::run(command),
        Command::ResetData { data_dir } => reset_data(data_dir),
    }
}

fn reset_data(data_dir: Option<PathBuf>) -> ExitCode {
    use microdeck::cluster::{self, ResetError};
    let manifest = match microdeck::bundled::manifest() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("microdeck: {e}");
            return ExitCode::from(microdeck::cli::exit::START_FAILED);
        }
    };
    let dir = data_dir.unwrap_or_else(|| microdeck::cluster::ClusterOptions::default_for(&manifest).data_dir);
    let services: Vec<String> = manifest.services.iter().map(|s| s.name.clone()).collect();
    match cluster::reset_unless_running(&dir, &services) {
        Ok(()) => {
            println!("microdeck: wiped the data of {} in {}", services.join(", "), dir.display());
            ExitCode::SUCCESS
        }
        Err(e @ ResetError::Running(_)) => {
            eprintln!("microdeck: {e}");
            ExitCode::from(microdeck::cli::exit::IN_USE)
        }
        Err(e) => {
            eprintln!("microdeck: cannot wipe {}: {e}", dir.display());
            ExitCode::from(microdeck::cli::exit::START_FAILED)
        }
    }
}

/// `microdeck check`: the formatting lives in `manifest::summary` and `lessons`.
fn check(file: &Path, procfile: bool, manifest: bool, lesson: bool) -> ExitCode {
    let format = match (procfile, manifest) {
        (true, _) => Some(Format::Procfile),
        (_, true) => Some(Format::Manifest),
        _ => None,
    };
    let is_lesson = lesson || (format.is_none() && Format::guess(file) == Format::Manifest && reads_as_lesson(file));
    let outcome = if is_lesson { microdeck::lessons::check_file(file) } else { summary::check(file, format) };
    // A closed pipe (`| head`) is not worth a panic; the exit code still tells.
    let out = std::io::stdout().lock().write_all(outcome.stdout.as_bytes());
    let err = std::io::stderr().lock().write_all(outcome.stderr.as_bytes());
    if out.is_err() || err.is_err() {
        return ExitCode::from(outcome.code.max(1));
    }
    ExitCode::from(outcome.code)
}

/// A TOML file whose first MiB has `[[step]]` or `claim` is a lesson (an unreadable one is
/// left to the manifest reader, which says why).
fn reads_as_lesson(file: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let read = std::fs::File::open(file).and_then(|f| f.take(microdeck::lessons::MAX_FILE_BYTES).read_to_end(&mut head));
    read.is_ok() && microdeck::lessons::looks_like_lesson(&String::from_utf8_lossy(&head))
}
