//! The cluster manifest: TOML (or a Procfile) → a validated [`Manifest`], or every
//! problem of the file at once, each naming file, line, column and dotted key.
//!
//! - `model`: the validated types the engine consumes;
//! - `raw`: the file's shape, the source of the JSON Schema (`schema`);
//! - `source`: bytes → text (empty and binary files refused), positions, the report;
//! - `walk`: typed reads from the span-carrying TOML tree;
//! - `validate`: services and the cross-service checks; `scenario`: `[[load.scenario]]`;
//!   `autoscale`: `[services.NAME.autoscale]`;
//! - `graph`: `depends_on` cycles and start order; `suggest`: "did you mean …?";
//! - `procfile`: `name: command` lines; `origin`: where a manifest was read from (to read it again);
//! - `duration`: "250ms", "2s", "1m30s"; `placeholders`: `{{NAME.url}}`, `$PORT`…;
//! - `summary`: what `microdeck check` prints.

mod autoscale;
pub mod duration;
pub mod graph;
pub mod model;
mod origin;
pub mod placeholders;
pub mod procfile;
pub mod raw;
mod scenario;
pub mod schema;
pub(crate) mod source;
pub mod suggest;
pub mod summary;
pub(crate) mod validate;
pub(crate) mod walk;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use autoscale::{DEFAULT_PERIOD as AUTOSCALE_PERIOD, DEFAULT_WINDOW as AUTOSCALE_WINDOW};
pub use model::*;
pub use origin::Origin;
pub use scenario::{MAX_WEIGHT, METHODS};
pub use source::MAX_FILE_BYTES;
pub use validate::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_PROGRESS_DEADLINE, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_STOP_GRACE, MAX_REPLICAS, MAX_SERVICES,
};

/// One problem in a manifest, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Dotted key, e.g. `services.users.depends_on`; empty when the problem has none
    /// (a binary file, a Procfile line with no name).
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// `file:line:col: key: message (hint)`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{} has {} error(s):\n{}", .file, .diagnostics.len(), .diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
}

/// Which format a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Manifest,
    Procfile,
}

impl Format {
    /// `Procfile`, `Procfile.dev`, `*.procfile` are Procfiles; anything else is TOML.
    pub fn guess(path: &Path) -> Format {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name.starts_with("procfile") || name.ends_with(".procfile") {
            Format::Procfile
        } else {
            Format::Manifest
        }
    }
}

/// Reads and validates a file, guessing its format from its name.
pub fn load_file(path: &Path) -> Result<Manifest, LoadError> {
    load_file_as(path, Format::guess(path))
}

pub fn load_file_as(path: &Path, format: Format) -> Result<Manifest, LoadError> {
    let bytes = source::read_capped(path).map_err(|source| LoadError::Unreadable { path: path.to_path_buf(), source })?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file = path.display().to_string();
    let mut m = match format {
        Format::Manifest => parse_manifest(&bytes, &file, &base_dir)?,
        Format::Procfile => parse_procfile(&bytes, &file, &base_dir)?,
    };
    m.origin = Some(Origin::File { path: path.to_path_buf(), format });
    Ok(m)
}

fn invalid(file: &str, diagnostics: Vec<Diagnostic>) -> LoadError {
    LoadError::Invalid { file: file.to_string(), diagnostics }
}

/// Parses and validates manifest TOML. `file` names the source in diagnostics;
/// relative `cwd`s resolve against `base_dir`. Never panics, whatever the bytes.
pub fn parse_manifest(bytes: &[u8], file: &str, base_dir: &Path) -> Result<Manifest, LoadError> {
    let text = source::Text::decode(bytes, file, validate::EMPTY_HINT).map_err(|d| invalid(file, vec![d]))?;
    validate::manifest(&text, file, base_dir).map_err(|d| invalid(file, d))
}

/// Parses a Procfile (see `procfile` for the defaults its services get).
pub fn parse_procfile(bytes: &[u8], file: &str, base_dir: &Path) -> Result<Manifest, LoadError> {
    let text = source::Text::decode(bytes, file, procfile::EMPTY_HINT).map_err(|d| invalid(file, vec![d]))?;
    procfile::parse(&text, file, base_dir).map_err(|d| invalid(file, d))
}
