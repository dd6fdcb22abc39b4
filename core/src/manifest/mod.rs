//! The cluster manifest: TOML (or a Procfile) → a validated [`Manifest`].
//!
//! - `model`: the validated types the engine consumes;
//! - `raw`: the file's shape, also the source of the JSON Schema;
//! - `duration`: "250ms", "2s", "1m";
//! - `placeholders`: `{{NAME.url}}`, `{{NAME.port}}`, `{{self.port}}`, `$PORT`.

pub mod duration;
pub mod model;
pub mod placeholders;
pub mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use model::*;

/// One problem in a manifest, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no line (e.g. an empty file).
    pub line: usize,
    pub column: usize,
    /// Dotted key, e.g. `services.users.depends_on`.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable { path: path.to_path_buf(), source })?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let base_dir = if base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { base_dir };
    let mut m = match format {
        Format::Manifest => parse_manifest(&bytes, &path.display().to_string(), &base_dir)?,
        Format::Procfile => parse_procfile(&bytes, &path.display().to_string(), &base_dir)?,
    };
    m.source = Some(path.to_path_buf());
    Ok(m)
}

fn invalid(file: &str, line: usize, key: &str, message: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        file: file.to_string(),
        diagnostics: vec![Diagnostic { file: file.to_string(), line, column: 0, key: key.to_string(), message: message.into(), hint: None }],
    }
}

/// Parses manifest TOML. `file` names the source in diagnostics.
// NOTE: first cut (stops at the first error); issue 2 replaces it with span-aware validation.
pub fn parse_manifest(bytes: &[u8], file: &str, base_dir: &Path) -> Result<Manifest, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid(file, 0, "", "not UTF-8 text"))?;
    let raw: raw::RawManifest = toml::from_str(text).map_err(|e| invalid(file, 0, "", e.to_string()))?;
    let mut services = Vec::new();
    for (name, s) in raw.services {
        let key = format!("services.{name}");
        let run = match (s.command, s.shell) {
            (Some(program), None) => Run::Command { program, args: s.args.unwrap_or_default() },
            (None, Some(line)) => Run::Shell { line },
            _ => return Err(invalid(file, 0, &key, "give exactly one of `command` or `shell`")),
        };
        let d = |v: Option<String>, k: &str, def: Duration| -> Result<Duration, LoadError> {
            match v {
                None => Ok(def),
                Some(v) => duration::parse(&v).map_err(|e| invalid(file, 0, &format!("{key}.{k}"), e.to_string())),
            }
        };
        let h = s.health;
        let defaults = Health::default();
        let health = match h {
            None => defaults,
            Some(h) => Health {
                check: match (h.http, h.tcp) {
                    (Some(path), _) => HealthCheck::Http { path },
                    (None, Some(true)) => HealthCheck::Tcp,
                    _ => HealthCheck::Process,
                },
                interval: d(h.interval, "health.interval", defaults.interval)?,
                timeout: d(h.timeout, "health.timeout", defaults.timeout)?,
                failure_threshold: h.failure_threshold.unwrap_or(defaults.failure_threshold),
                success_threshold: h.success_threshold.unwrap_or(defaults.success_threshold),
                start_period: d(h.start_period, "health.start_period", defaults.start_period)?,
            },
        };
        services.push(Service {
            cwd: s.cwd.map(|c| base_dir.join(c)),
            env: s.env.unwrap_or_default(),
            port: s.port,
            protocol: match s.protocol.as_deref() {
                Some("tcp") => Protocol::Tcp,
                _ => Protocol::Http,
            },
            replicas: s.replicas.unwrap_or(1),
            health,
            restart: match s.restart.as_deref() {
                Some("never") => RestartPolicy::Never,
                Some("on-failure") => RestartPolicy::OnFailure,
                _ => RestartPolicy::Always,
            },
            depends_on: s.depends_on.unwrap_or_default(),
            stop_grace: d(s.stop_grace, "stop_grace", Duration::from_secs(5))?,
            optional: s.optional.unwrap_or(false),
            balance: match s.balance.as_deref() {
                Some("least-inflight") => Balance::LeastInflight,
                _ => Balance::RoundRobin,
            },
            name,
            run,
        });
    }
    let scenarios = raw
        .load
        .map(|l| l.scenario)
        .unwrap_or_default()
        .into_iter()
        .map(|s| Scenario {
            name: s.name,
            target: s.target,
            setup: s.setup.map(|st| Setup {
                request: RequestSpec {
                    method: st.method.unwrap_or_else(|| "GET".into()),
                    path: st.path,
                    headers: st.headers.unwrap_or_default(),
                    body: st.body,
                    weight: 1,
                },
                extract: st.extract,
            }),
            requests: s
                .request
                .into_iter()
                .map(|r| RequestSpec {
                    method: r.method.unwrap_or_else(|| "GET".into()),
                    path: r.path,
                    headers: r.headers.unwrap_or_default(),
                    body: r.body,
                    weight: r.weight.unwrap_or(1),
                })
                .collect(),
        })
        .collect();
    Ok(Manifest {
        name: raw.name.unwrap_or_else(|| "cluster".into()),
        source: None,
        base_dir: base_dir.to_path_buf(),
        services,
        load: LoadConfig { scenarios },
    })
}

/// Parses a Procfile: `name: command` lines, run by `sh -c` with `$PORT` set.
pub fn parse_procfile(bytes: &[u8], file: &str, base_dir: &Path) -> Result<Manifest, LoadError> {
    let text = String::from_utf8_lossy(bytes);
    let mut services = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((name, cmd)) = l.split_once(':') else {
            return Err(invalid(file, i + 1, "", "expected `name: command`"));
        };
        services.push(Service {
            name: name.trim().to_string(),
            run: Run::Shell { line: cmd.trim().to_string() },
            cwd: Some(base_dir.to_path_buf()),
            env: BTreeMap::new(),
            port: None,
            protocol: Protocol::Http,
            replicas: 1,
            health: Health::default(),
            restart: RestartPolicy::Always,
            depends_on: vec![],
            stop_grace: Duration::from_secs(5),
            optional: false,
            balance: Balance::RoundRobin,
        });
    }
    let name = base_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "procfile".into());
    Ok(Manifest { name, source: None, base_dir: base_dir.to_path_buf(), services, load: LoadConfig::default() })
}
