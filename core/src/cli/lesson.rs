//! `microdeck lesson list|run`: the bundled lessons, and a lesson run in the running
//! cluster (found like the other verbs), its steps and checks printed as they come.
//! The engine runs the lesson and restores the cluster; this is only its viewer, so Ctrl-C
//! asks the engine to stop and waits for the restore.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, ClientError};
use crate::lessons::progress::{LessonProgress, RunState, StepState};
use crate::lessons::{self, LessonError, LessonOutline};

/// Exit codes of `microdeck lesson run`.
pub mod exit {
    pub const PASSED: u8 = 0;
    /// A check failed, or a step could not be carried out.
    pub const FAILED: u8 = 1;
    /// Bad arguments, an unknown lesson or an unreadable file.
    pub const USAGE: u8 = 2;
    pub const INVALID_LESSON: u8 = 3;
    /// No check failed, and at least one could not be measured fairly.
    pub const INCONCLUSIVE: u8 = 4;
    /// No running cluster, or a lesson or a load run already going.
    pub const CANNOT_RUN: u8 = 5;
    /// Stopped with Ctrl-C (the cluster was restored).
    pub const STOPPED: u8 = 130;
}

const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Subcommand)]
pub enum LessonCommand {
    /// The bundled lessons: name, steps, checks, title and claim.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run a lesson in the running cluster and print its steps and checks with their
    /// numbers; Ctrl-C stops it and restores the cluster.
    #[command(after_help = "Exit status: 0 every check passed; 1 a check failed (or a step could not be \
        carried out); 2 bad arguments, an unknown lesson or an unreadable file; 3 an invalid lesson file; \
        4 inconclusive (a check could not be measured fairly); 5 cannot run (no running cluster, a lesson \
        or a load run already going, a service the lesson needs is missing); 130 stopped with Ctrl-C.")]
    Run {
        /// A bundled lesson (`microdeck lesson list`).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        name: Option<String>,
        /// A lesson file of your own (docs/lessons.md).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print the final progress as JSON (every check's value, bound and outcome) instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: LessonCommand) -> ExitCode {
    match command {
        LessonCommand::List { json } => list(json),
        LessonCommand::Run { name, file, json } => {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("microdeck: cannot start the async runtime: {e}");
                    return ExitCode::from(exit::CANNOT_RUN);
                }
            };
            ExitCode::from(runtime.block_on(run_lesson(name, file, json)))
        }
    }
}

fn list(json: bool) -> ExitCode {
    let outlines: Vec<LessonOutline> = crate::bundled::lesson_outlines();
    let mut out = std::io::stdout().lock();
    let written = if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outlines).unwrap_or_default())
    } else {
        let width = outlines.iter().map(|o| o.name.len()).max().unwrap_or(4);
        let mut text = format!("{:width$}  STEPS  CHECKS  TITLE\n", "NAME");
        for o in &outlines {
            text.push_str(&format!("{:width$}  {:>5}  {:>6}  {}\n{:width$}  {}\n", o.name, o.steps.len(), o.checks, o.title, "", o.claim));
        }
        write!(out, "{text}")
    };
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The request that starts the lesson, or the exit code and message refusing it.
fn start_body(name: Option<String>, file: Option<PathBuf>) -> Result<serde_json::Value, (u8, String)> {
    match (name, file) {
        (Some(name), None) => Ok(json!({ "name": name })),
        (None, Some(path)) => {
            // Read once, within the size limit, and sent as it was checked.
            let unreadable = |source| LessonError::Unreadable { path: path.clone(), source };
            let bytes = crate::manifest::source::read_capped(&path).map_err(|e| (exit::USAGE, format!("microdeck: {}", unreadable(e))))?;
            lesson_request(&bytes, &path)
        }
        _ => Err((exit::USAGE, "microdeck: name a bundled lesson or give --file FILE".into())),
    }
}

/// The request for a lesson file's text, checked first.
fn lesson_request(bytes: &[u8], path: &std::path::Path) -> Result<serde_json::Value, (u8, String)> {
    match lessons::parse_lesson(bytes, &path.display().to_string()) {
        Ok(_) => {
            let text = String::from_utf8_lossy(bytes);
            Ok(json!({ "toml": text, "file": path.display().to_string() }))
        }
        Err(LessonError::Invalid { diagnostics, .. }) => {
            Err((exit::INVALID_LESSON, diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")))
        }
        Err(e) => Err((exit::USAGE, format!("microdeck: {e}"))),
    }
}

fn refusal(e: &ClientError) -> u8 {
    match e {
        ClientError::Api { code, .. } if code == "unknown-lesson" => exit::USAGE,
        ClientError::Api { code, .. } if code == "invalid-lesson" => exit::INVALID_LESSON,
        _ => exit::CANNOT_RUN,
    }
}

async fn run_lesson(name: Option<String>, file: Option<PathBuf>, json: bool) -> u8 {
    let body = match start_body(name, file) {
        Ok(b) => b,
        Err((code, message)) => {
            eprintln!("{message}");
            return code;
        }
    };
    let client = match Client::discover() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("microdeck: {e}");
            return exit::CANNOT_RUN;
        }
    };
    let first = match client.start_lesson(body).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("microdeck: {e}");
            return refusal(&e);
        }
    };
    let mut printer = Printer::new(json);
    printer.show(&first);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut asked_to_stop = false;
    let last = loop {
        tokio::select! {
            _ = &mut ctrl_c, if !asked_to_stop => {
                asked_to_stop = true;
                eprintln!("stopping the lesson; the cluster is being put back as it was…");
                if let Err(e) = client.stop_lesson().await {
                    eprintln!("microdeck: {e}");
                }
            }
            _ = tokio::time::sleep(POLL) => {
                match client.lesson_progress().await {
                    // Another lesson started meanwhile means ours is over; its last state is gone.
                    Ok(Some(p)) if p.name == first.name && p.started_at == first.started_at => {
                        printer.show(&p);
                        if p.state.is_over() {
                            break p;
                        }
                    }
                    Ok(_) => {
                        eprintln!("microdeck: the lesson's progress is gone (was the cluster restarted?)");
                        return exit::CANNOT_RUN;
                    }
                    Err(e) => {
                        eprintln!("microdeck: {e}");
                        return exit::CANNOT_RUN;
                    }
                }
            }
        }
    };
    printer.finish(&last);
    match last.state {
        RunState::Passed => exit::PASSED,
        RunState::Failed | RunState::Broken => exit::FAILED,
        RunState::Inconclusive => exit::INCONCLUSIVE,
        RunState::Stopped => exit::STOPPED,
        RunState::Running | RunState::Restoring => exit::CANNOT_RUN,
    }
}

/// Prints what is new in each progress it is shown (or, with `--json`, only the last).
struct Printer {
    json: bool,
    introduced: bool,
    /// Steps whose heading is printed, and whose checks are.
    headed: usize,
    checked: usize,
    restoring: bool,
}

impl Printer {
    fn new(json: bool) -> Printer {
        Printer { json, introduced: false, headed: 0, checked: 0, restoring: false }
    }

    fn show(&mut self, p: &LessonProgress) {
        if self.json {
            return;
        }
        let mut out = String::new();
        if !self.introduced {
            out.push_str(&format!("lesson {}: {}\nclaim: {}\n", p.name, p.title, p.claim));
            self.introduced = true;
        }
        let n = p.steps.len();
        for (i, step) in p.steps.iter().enumerate() {
            let begun = !matches!(step.state, StepState::Pending | StepState::Skipped);
            if begun && i >= self.headed {
                out.push_str(&format!("\nstep {} of {n}: {}\n", i + 1, step.name));
                for line in step.text.trim().lines() {
                    out.push_str(&format!("  │ {line}\n"));
                }
                self.headed = i + 1;
            }
            if step.state == StepState::Done && i >= self.checked {
                for c in &step.checks {
                    out.push_str(&format!("  {:<12} {}\n", c.outcome.word(), c.sentence));
                }
                if let Some(e) = &step.error {
                    out.push_str(&format!("  {:<12} {e}\n", "not done"));
                }
                self.checked = i + 1;
            }
        }
        if p.state == RunState::Restoring && !self.restoring {
            self.restoring = true;
            out.push_str("\nputting the cluster back as it was…\n");
        }
        // A closed pipe is no reason to stop watching: the exit code still tells.
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }

    fn finish(&mut self, p: &LessonProgress) {
        let text = if self.json {
            format!("{}\n", serde_json::to_string_pretty(p).unwrap_or_default())
        } else {
            self.show(p);
            format!("\n{}\n", p.summary())
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}
