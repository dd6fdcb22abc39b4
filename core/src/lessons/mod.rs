//! Lessons: guided, self-checking demonstrations of the microservice claims, as data. A lesson
//! is a TOML file (docs/lessons.md): a claim, the services it needs, and steps of actions (a
//! user's commands) and checks (a measurement over a window against a bound, or against the
//! same measurement at an earlier step).
//!
//! - `model`: the validated lesson;
//! - `parse`: TOML → lesson, every problem at once as `file:line:col: key: message`;
//! - `schema`: the file's JSON Schema, from `parse`'s keys (core/schema/lesson.schema.json);
//! - `evaluate`: a check's outcome (passed, failed, inconclusive) and its sentence;
//! - `measure`: a check's number from the cluster's series, topology and load report,
//!   and whether the machine let it be measured fairly;
//! - `outline`: a lesson as a page shows it before it runs, actions and checks in words;
//! - `progress`: a run as the shells see it, and the lesson's verdict;
//! - `runner`: runs a lesson on the live cluster through `Cluster`, then restores it.

pub mod evaluate;
pub mod measure;
pub mod model;
pub mod outline;
mod parse;
pub mod progress;
pub mod runner;
pub mod schema;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use model::*;
pub use outline::LessonOutline;

use crate::manifest::source::Text;
use crate::manifest::Diagnostic;

pub use crate::manifest::MAX_FILE_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{} has {} error(s):\n{}", .file, .diagnostics.len(), .diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
}

/// Parses and validates lesson TOML; `file` names the source in diagnostics. Never panics.
pub fn parse_lesson(bytes: &[u8], file: &str) -> Result<Lesson, LessonError> {
    let invalid = |diagnostics| LessonError::Invalid { file: file.to_string(), diagnostics };
    let text = Text::decode(bytes, file, parse::EMPTY_HINT).map_err(|d| invalid(vec![d]))?;
    parse::lesson(&text, file).map_err(invalid)
}

/// Reads and validates a lesson file.
pub fn load_lesson_file(path: &Path) -> Result<Lesson, LessonError> {
    let unreadable = |source| LessonError::Unreadable { path: path.to_path_buf(), source };
    let bytes = crate::manifest::source::read_capped(path).map_err(unreadable)?;
    parse_lesson(&bytes, &path.display().to_string())
}

/// Whether TOML text looks like a lesson rather than a manifest (for `microdeck check`).
pub fn looks_like_lesson(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("[[step]]") || l.starts_with("claim")
    })
}

/// What `microdeck check` prints for a lesson file: every error one per line (exit 1), or
/// `ok` and a line per step (exit 0); exit 2 when it cannot be read.
pub fn check_file(path: &Path) -> crate::manifest::summary::CheckOutcome {
    use crate::manifest::summary::CheckOutcome;
    match load_lesson_file(path) {
        Ok(l) => CheckOutcome { stdout: describe(&l), stderr: String::new(), code: 0 },
        Err(LessonError::Invalid { file, diagnostics }) => {
            let stdout = diagnostics.iter().map(|d| format!("{d}\n")).collect();
            let n = diagnostics.len();
            CheckOutcome { stdout, stderr: format!("{file}: {n} error{}\n", if n == 1 { "" } else { "s" }), code: 1 }
        }
        Err(e) => CheckOutcome { stdout: String::new(), stderr: format!("microdeck: {e}\n"), code: 2 },
    }
}

/// `ok: lesson NAME (N steps, M checks): TITLE`, the claim, then a line per step.
pub fn describe(l: &Lesson) -> String {
    let checks: usize = l.steps.iter().map(|s| s.checks.len()).sum();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut out = format!("ok: lesson {} ({}, {}): {}\n  claim: {}\n", l.name, plural(l.steps.len(), "step"), plural(checks, "check"), l.title, l.claim);
    let width = l.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &l.steps {
        out.push_str(&format!("  {:width$}  {}, {}\n", s.name, plural(s.actions.len(), "action"), plural(s.checks.len(), "check")));
    }
    out
}
