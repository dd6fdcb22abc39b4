//! Text the CLI prints: the status table (`up` and `status`), what a shutdown waits for,
//! log lines, and what a reload did.

use std::borrow::Cow;

use crate::cluster::ReloadReport;
use crate::events::now_ms;
use crate::snapshot::{level_word, ClusterSnapshot, LogLine, ServiceState, ServiceView};

fn state_word(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Starting => "starting",
        ServiceState::Ready => "ready",
        ServiceState::Degraded => "degraded",
        ServiceState::Unhealthy => "unhealthy",
        ServiceState::CrashLooping => "crash-looping",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "FAILED",
    }
}

/// `12.3 MiB`
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A line per non-empty list: `changed:   users, auth`; or that nothing changed.
pub fn reload_report(r: &ReloadReport) -> String {
    let lists = [("changed", &r.changed), ("added", &r.added), ("removed", &r.removed), ("unchanged", &r.unchanged)];
    let mut out = String::new();
    if r.changed.is_empty() && r.added.is_empty() && r.removed.is_empty() {
        out.push_str("reloaded: nothing changed\n");
    }
    for (what, names) in lists.iter().filter(|(_, names)| !names.is_empty()) {
        out.push_str(&format!("{:<10} {}\n", format!("{what}:"), names.join(", ")));
    }
    if !r.deployed_on_top.is_empty() {
        out.push_str(&format!("deployed:  {} (their deployed changes stay on top of the file)\n", r.deployed_on_top.join(", ")));
    }
    out
}

/// Why a service is not fine: its problem, its next restart, or a replica's last probe error.
fn note(s: &ServiceView) -> String {
    if let Some(p) = &s.problem {
        return p.clone();
    }
    if let Some(at) = s.next_restart_at {
        let ms = at.saturating_sub(now_ms());
        // Rounded to whole seconds so `up`'s table does not change every tick.
        return format!("next restart in {}s", ms.div_ceil(1000));
    }
    s.replicas.iter().find_map(|r| r.last_probe_error.clone()).unwrap_or_default()
}

/// Which columns a status table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// What `up` reprints on each change: no CPU or memory, which change every tick.
    States,
    /// `microdeck status`: also CPU and memory.
    WithResources,
}

/// One row a service: name, state, ready/desired, restarts, address, [CPU, memory,] note (or
/// "autoscaler on", so that a manual scale that switches it off shows).
pub fn status_table(snapshot: &ClusterSnapshot, columns: Columns) -> String {
    let resources = columns == Columns::WithResources;
    let mut header = vec!["SERVICE", "STATE", "READY", "RESTARTS", "ADDRESS"];
    if resources {
        header.extend(["CPU", "MEMORY"]);
    }
    header.push("NOTE");
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for s in &snapshot.services {
        let mut row = vec![s.name.clone(), state_word(s.state).to_string(), format!("{}/{}", s.ready, s.desired), s.restarts.to_string(), s.address.clone()];
        if resources {
            row.extend([format!("{:.1}%", s.cpu_percent), bytes(s.rss_bytes)]);
        }
        let autoscaled = snapshot.autoscalers.iter().any(|a| a.service == s.name && a.on);
        let why = note(s);
        row.push(if why.is_empty() && autoscaled { "autoscaler on".to_string() } else { why });
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `HH:MM:SS.mmm` (UTC) of epoch milliseconds.
pub fn clock(at_ms: u64) -> String {
    let ms = at_ms % 86_400_000;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// `12:00:01.250 users/0 INFO  the text`; unless `raw`, the text's control characters are
/// shown escaped ([`escape_controls`]).
pub fn log_line(line: &LogLine, raw: bool) -> String {
    let text = if raw { Cow::Borrowed(line.text.as_str()) } else { escape_controls(&line.text) };
    format!("{} {}/{} {:<5} {}", clock(line.at), line.service, line.replica, level_word(line.level), text)
}

/// The text with each control character but tab written as `\x1b` and the like: a service's
/// output must not move the cursor, retitle the window or answer for the user in their terminal.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && c != '\t';
    if !text.contains(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{EngineStats, Level, ServiceView, Stream};

    #[test]
    fn table_lines_up_columns_and_shows_ready_over_desired() {
        let service = |name: &str, state, ready, desired| ServiceView {
            name: name.into(), state, desired, ready, address: "127.0.0.1:7400".into(), port: 7400,
            protocol: "http".into(), restarts: 2, next_restart_at: None, problem: None, optional: false,
            started_at: None, cpu_percent: 1.5, rss_bytes: 3 * 1024 * 1024, replicas: vec![],
            revision: 1, rollout: None, deployed: Default::default(),
        };
        let snap = ClusterSnapshot {
            name: "demo".into(), taken_at: 0,
            services: vec![service("users", ServiceState::Ready, 2, 2), service("analytics", ServiceState::CrashLooping, 0, 1)],
            engine: EngineStats { pid: 1, cpu_percent: 0.0, rss_bytes: 0 }, logs_dir: String::new(), run_dir: String::new(), lesson: None,
            autoscalers: vec![], faults: vec![],
        };
        let table = status_table(&snap, Columns::WithResources);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "SERVICE    STATE          READY  RESTARTS  ADDRESS         CPU   MEMORY   NOTE", "{table}");
        assert_eq!(lines[1], "users      ready          2/2    2         127.0.0.1:7400  1.5%  3.0 MiB", "{table}");
        assert!(lines[2].starts_with("analytics  crash-looping  0/1"), "{table}");
        let short = status_table(&snap, Columns::States);
        assert_eq!(short.lines().next(), Some("SERVICE    STATE          READY  RESTARTS  ADDRESS         NOTE"), "{short}");
        // An autoscaler that is on says so where nothing else is to be said.
        let mut snap = snap;
        let on = crate::autoscale::AutoscalerView {
            service: "users".into(), on: true, min: 1, max: 4, target: crate::manifest::AutoscaleTarget::P95Ms(300.0),
            period_ms: 5000, window_ms: 30000, last: None, window: vec![], note: None,
        };
        snap.autoscalers = vec![on];
        let table = status_table(&snap, Columns::States);
        assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("users") && l.ends_with("autoscaler on")), "{table}");
    }

    #[test]
    fn log_lines_show_time_source_and_level() {
        let line = LogLine { seq: 1, at: 3_600_000 + 61_250, service: "auth".into(), replica: 1, stream: Stream::Stdout, level: Some(Level::Warn), text: "slow".into() };
        assert_eq!(log_line(&line, false), "01:01:01.250 auth/1 WARN  slow");
        assert_eq!(bytes(512), "512 B");
    }

    #[test]
    fn control_characters_but_tab_are_escaped_unless_raw() {
        let cases = [
            ("plain text, tab\tand ünïcode", "plain text, tab\tand ünïcode"),
            ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
            ("\x1b]0;retitled\x07", "\\x1b]0;retitled\\x07"),
            ("carriage\rreturn, back\x08space, nul\0", "carriage\\x0dreturn, back\\x08space, nul\\x00"),
            ("del\x7f and C1 CSI \u{9b}2J", "del\\x7f and C1 CSI \\x9b2J"),
        ];
        for (text, shown) in cases {
            assert_eq!(escape_controls(text), shown, "{text:?}");
        }
        let line = LogLine { seq: 1, at: 0, service: "web".into(), replica: 0, stream: Stream::Stdout, level: None, text: "\x1b[2Jgone".into() };
        assert_eq!(log_line(&line, false), "00:00:00.000 web/0 -     \\x1b[2Jgone");
        assert_eq!(log_line(&line, true), "00:00:00.000 web/0 -     \x1b[2Jgone");
    }

    #[test]
    fn a_reload_report_lists_what_changed() {
        let r = ReloadReport {
            changed: vec!["users".into()],
            added: vec![],
            removed: vec!["old".into()],
            unchanged: vec!["a".into(), "b".into()],
            deployed_on_top: vec!["users".into()],
        };
        let shown = "changed:   users\nremoved:   old\nunchanged: a, b\ndeployed:  users (their deployed changes stay on top of the file)\n";
        assert_eq!(reload_report(&r), shown);
        let none = ReloadReport { unchanged: vec!["a".into()], ..ReloadReport::default() };
        assert_eq!(reload_report(&none), "reloaded: nothing changed\nunchanged: a\n");
    }
}
