//! What `microdeck check` prints: every error one per line, or `ok` and one line per
//! service; and the exit code (0 ok, 1 invalid, 2 unreadable).

use std::path::Path;

use super::{duration, load_file_as, Format, HealthCheck, LoadError, Manifest, Protocol, Run, Service};

/// The outcome of checking one file, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub stdout: String,
    pub stderr: String,
    /// 0 valid, 1 invalid, 2 unreadable.
    pub code: u8,
}

/// Checks a file as `format` (guessed from its name when `None`).
pub fn check(path: &Path, format: Option<Format>) -> CheckOutcome {
    let format = format.unwrap_or_else(|| Format::guess(path));
    match load_file_as(path, format) {
        Ok(m) => CheckOutcome { stdout: describe(&m), stderr: String::new(), code: 0 },
        Err(LoadError::Invalid { file, diagnostics }) => {
            let stdout = diagnostics.iter().map(|d| format!("{d}\n")).collect();
            let n = diagnostics.len();
            let stderr = format!("{file}: {n} error{}\n", if n == 1 { "" } else { "s" });
            CheckOutcome { stdout, stderr, code: 1 }
        }
        Err(e @ LoadError::Unreadable { .. }) => CheckOutcome { stdout: String::new(), stderr: format!("microdeck: {e}\n"), code: 2 },
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `ok`, the cluster, then one line per service.
pub fn describe(m: &Manifest) -> String {
    let mut out = format!(
        "ok: {} ({}, {})\n",
        m.name,
        plural(m.services.len(), "service"),
        plural(m.load.scenarios.len(), "load scenario")
    );
    let width = m.services.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &m.services {
        out.push_str(&format!("  {:width$}  {}\n", s.name, service_line(s)));
    }
    out
}

/// `./web --port $PORT · 2 replicas · port 8080/http · health GET /health every 1s`.
pub fn service_line(s: &Service) -> String {
    let run = match &s.run {
        Run::Command { program, args } => std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).map(quote).collect::<Vec<_>>().join(" "),
        Run::Shell { line } => format!("sh -c {}", quote(line)),
    };
    let port = match s.port {
        Some(p) => p.to_string(),
        None => "auto".to_string(),
    };
    let protocol = match s.protocol {
        Protocol::Http => "http",
        Protocol::Tcp => "tcp",
    };
    let health = match &s.health.check {
        HealthCheck::Http { path } => format!("GET {path} every {}", duration::format(s.health.interval)),
        HealthCheck::Tcp => format!("tcp connect every {}", duration::format(s.health.interval)),
        HealthCheck::Process => "process alive".to_string(),
    };
    let mut line = format!("{run} · {} · port {port}/{protocol} · health {health}", plural(s.replicas as usize, "replica"));
    if !s.depends_on.is_empty() {
        line.push_str(&format!(" · after {}", s.depends_on.join(", ")));
    }
    if s.optional {
        line.push_str(" · optional");
    }
    if let Some(a) = &s.autoscale {
        let target = crate::autoscale::measure::quantity(a.target, a.target.value());
        let on = if a.enabled { "on" } else { "off at start" };
        line.push_str(&format!(" · autoscale {}..={} on {target} ({on})", a.min, a.max));
    }
    line
}

/// Shell-style quoting, only where a word needs it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+{}$".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse_manifest;
    use super::*;

    #[test]
    fn one_line_per_service_with_command_replicas_port_and_health() {
        let text = br#"
name = "demo"
[services.web]
command = "./web"
args = ["--port", "{{self.port}}", "hello world"]
port = 8080
replicas = 2
health = { http = "/health", interval = "2s" }
depends_on = ["db"]
[services.db]
shell = "exec db --port $PORT"
protocol = "tcp"
health = { tcp = true }
"#;
        let m = parse_manifest(text, "demo.toml", Path::new(".")).expect("valid");
        let out = describe(&m);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ok: demo (2 services, 0 load scenarios)");
        assert_eq!(
            lines[1],
            "  web  ./web --port {{self.port}} 'hello world' · 2 replicas · port 8080/http · health GET /health every 2s · after db"
        );
        assert_eq!(lines[2], "  db   sh -c 'exec db --port $PORT' · 1 replica · port auto/tcp · health tcp connect every 1s");
    }
}
