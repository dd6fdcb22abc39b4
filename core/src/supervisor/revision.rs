//! A service's revisions: each definition it was deployed with, numbered from 1, the last
//! [`REVISIONS_KEPT`] kept with what changed from the one before; and a deploy's changes of
//! environment ([`EnvChange`]), kept on top of the manifest's definition. Plain code, tested
//! without processes; the service actor owns one [`History`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::manifest::{HealthCheck, Run, Service};
use crate::snapshot::{EpochMs, RevisionView};

/// Revisions a service keeps (Kubernetes' `revisionHistoryLimit` is 10 too).
pub const REVISIONS_KEPT: usize = 10;

/// Variables Microdeck sets for every replica: a deploy cannot change them.
pub const RESERVED: [&str; 4] = ["PORT", "SERVICE_NAME", "REPLICA", "MICRODECK_DATA_DIR"];

/// A change of environment on top of a definition: variables set, variables removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvChange {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub unset: BTreeSet<String>,
}

impl EnvChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }

    /// Why a deploy cannot carry this change: a name no shell would accept, a variable
    /// Microdeck sets itself, or one both set and unset.
    pub fn check(&self) -> Result<(), String> {
        for name in self.set.keys().chain(self.unset.iter()) {
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"));
            }
            if RESERVED.contains(&name.as_str()) {
                return Err(format!("{name} is set by microdeck for each replica"));
            }
        }
        if let Some(both) = self.set.keys().find(|k| self.unset.contains(*k)) {
            return Err(format!("{both} is both set and unset"));
        }
        Ok(())
    }

    /// This change, then `later` (a later deploy wins for the variables it names).
    pub fn then(&self, later: &EnvChange) -> EnvChange {
        let mut out = self.clone();
        for (k, v) in &later.set {
            out.unset.remove(k);
            out.set.insert(k.clone(), v.clone());
        }
        for k in &later.unset {
            out.set.remove(k);
            out.unset.insert(k.clone());
        }
        out
    }

    /// `base` with this change applied to its environment.
    pub fn apply(&self, base: &Service) -> Service {
        let mut s = base.clone();
        for k in &self.unset {
            s.env.remove(k);
        }
        s.env.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        s
    }

    /// "VERSION=2, unset DEBUG".
    pub fn describe(&self) -> String {
        let set = self.set.iter().map(|(k, v)| format!("{k}={v}"));
        let unset = self.unset.iter().map(|k| format!("unset {k}"));
        set.chain(unset).collect::<Vec<_>>().join(", ")
    }
}

/// Whether two definitions start the same processes (the replica count, the address and the
/// rollout settings are not part of a revision).
pub fn same_template(a: &Service, b: &Service) -> bool {
    a.run == b.run && a.cwd == b.cwd && a.env == b.env && a.health == b.health && a.restart == b.restart && a.stop_grace == b.stop_grace
}

fn run_text(run: &Run) -> String {
    match run {
        Run::Command { program, args } => std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" "),
        Run::Shell { line } => format!("sh -c {line}"),
    }
}

fn health_text(s: &Service) -> String {
    let h = &s.health;
    let check = match &h.check {
        HealthCheck::Http { path } => format!("http {path}"),
        HealthCheck::Tcp => "tcp".to_string(),
        HealthCheck::Process => "process alive".to_string(),
    };
    format!("{check} every {:?}", h.interval)
}

/// What changed from `from` to `to`, a line each: "env VERSION: 1 → 2", "command: a → b".
pub fn changes(from: &Service, to: &Service) -> Vec<String> {
    let mut out = vec![];
    if from.run != to.run {
        out.push(format!("command: {} → {}", run_text(&from.run), run_text(&to.run)));
    }
    if from.cwd != to.cwd {
        let cwd = |s: &Service| s.cwd.as_ref().map_or("-".to_string(), |c| c.display().to_string());
        out.push(format!("cwd: {} → {}", cwd(from), cwd(to)));
    }
    let keys: BTreeSet<&String> = from.env.keys().chain(to.env.keys()).collect();
    for k in keys {
        match (from.env.get(k), to.env.get(k)) {
            (Some(a), Some(b)) if a != b => out.push(format!("env {k}: {a} → {b}")),
            (None, Some(b)) => out.push(format!("env {k}: (unset) → {b}")),
            (Some(a), None) => out.push(format!("env {k}: {a} → (unset)")),
            _ => {}
        }
    }
    if from.health != to.health {
        let (a, b) = (health_text(from), health_text(to));
        out.push(if a == b { "health: thresholds or timeouts".to_string() } else { format!("health: {a} → {b}") });
    }
    if from.restart != to.restart {
        out.push(format!("restart: {:?} → {:?}", from.restart, to.restart).to_lowercase());
    }
    if from.stop_grace != to.stop_grace {
        out.push(format!("stop_grace: {:?} → {:?}", from.stop_grace, to.stop_grace));
    }
    out
}

/// One revision: the definition the replicas run, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: u32,
    /// What the replicas run: `base` with `deployed` on top.
    pub service: Service,
    /// The manifest's definition at the time.
    pub base: Service,
    /// The deploys' changes on top of `base`.
    pub deployed: EnvChange,
    /// "start", "deploy VERSION=2", "manifest reloaded", "undo: revision 2 again".
    pub cause: String,
    /// From the revision that was current when this one was made.
    pub changes: Vec<String>,
    pub at: EpochMs,
    /// Why its rollout failed, if it did.
    pub failed: Option<String>,
}

/// A service's revisions, newest last, and which one it runs (or rolls out) now.
#[derive(Debug, Clone)]
pub struct History {
    kept: VecDeque<Revision>,
    current: u32,
}

impl History {
    /// Revision 1: the definition the service starts with.
    pub fn new(base: Service, deployed: EnvChange, at: EpochMs) -> History {
        let service = deployed.apply(&base);
        let first = Revision { number: 1, service, base, deployed, cause: "start".into(), changes: vec![], at, failed: None };
        History { kept: VecDeque::from([first]), current: 1 }
    }

    pub fn current(&self) -> &Revision {
        self.get(self.current).or_else(|| self.kept.back()).unwrap_or_else(|| unreachable!("a history keeps its current revision"))
    }

    pub fn current_number(&self) -> u32 {
        self.current
    }

    pub fn get(&self, number: u32) -> Option<&Revision> {
        self.kept.iter().find(|r| r.number == number)
    }

    /// The newest kept revision older than the current one: where an undo goes.
    pub fn previous(&self) -> Option<&Revision> {
        self.kept.iter().filter(|r| r.number < self.current).max_by_key(|r| r.number)
    }

    /// Makes `base` + `deployed` the next revision and the current one, unless it runs the
    /// same processes as the current one (then `None`).
    pub fn record(&mut self, base: Service, deployed: EnvChange, cause: String, at: EpochMs) -> Option<u32> {
        let service = deployed.apply(&base);
        if same_template(&service, &self.current().service) {
            return None;
        }
        let number = self.kept.back().map_or(1, |r| r.number + 1);
        let changes = changes(&self.current().service, &service);
        self.kept.push_back(Revision { number, service, base, deployed, cause, changes, at, failed: None });
        self.current = number;
        while self.kept.len() > REVISIONS_KEPT {
            self.kept.pop_front();
        }
        Some(number)
    }

    /// The service runs `number` again (a rollback); false if it is no longer kept.
    pub fn set_current(&mut self, number: u32) -> bool {
        let kept = self.get(number).is_some();
        if kept {
            self.current = number;
        }
        kept
    }

    pub fn mark_failed(&mut self, number: u32, reason: &str) {
        if let Some(r) = self.kept.iter_mut().find(|r| r.number == number) {
            r.failed = Some(reason.to_string());
        }
    }

    /// Newest first, as `rollout history` shows them.
    pub fn views(&self) -> Vec<RevisionView> {
        self.kept
            .iter()
            .rev()
            .map(|r| RevisionView {
                revision: r.number,
                at: r.at,
                cause: r.cause.clone(),
                changes: r.changes.clone(),
                command: run_text(&r.service.run),
                env: r.service.env.clone(),
                deployed: r.deployed.clone(),
                current: r.number == self.current,
                failed: r.failed.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(env: &[(&str, &str)]) -> Service {
        let mut s = crate::manifest::validate::default_service("users", Run::Command { program: "mdk-users".into(), args: vec![] }, std::path::Path::new("."));
        s.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        s
    }

    fn change(set: &[(&str, &str)], unset: &[&str]) -> EnvChange {
        EnvChange {
            set: set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            unset: unset.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn a_later_change_wins_for_the_variables_it_names() {
        let cases = [
            (change(&[("VERSION", "2")], &[]), change(&[("VERSION", "3")], &[]), change(&[("VERSION", "3")], &[])),
            (change(&[("VERSION", "2")], &[]), change(&[], &["VERSION"]), change(&[], &["VERSION"])),
            (change(&[], &["DEBUG"]), change(&[("DEBUG", "1")], &[]), change(&[("DEBUG", "1")], &[])),
            (change(&[("A", "1")], &[]), change(&[("B", "2")], &["C"]), change(&[("A", "1"), ("B", "2")], &["C"])),
        ];
        for (first, later, want) in cases {
            assert_eq!(first.then(&later), want, "{first:?} then {later:?}");
        }
    }

    #[test]
    fn a_change_applies_to_the_environment_only() {
        let base = service(&[("VERSION", "1"), ("DEBUG", "1")]);
        let s = change(&[("VERSION", "2")], &["DEBUG", "ABSENT"]).apply(&base);
        assert_eq!(s.env, service(&[("VERSION", "2")]).env);
        assert_eq!(s.run, base.run);
    }

    #[test]
    fn bad_names_and_reserved_variables_are_refused() {
        let cases: [(EnvChange, Option<&str>); 5] = [
            (change(&[("VERSION", "2")], &["DEBUG"]), None),
            (change(&[("2FAST", "x")], &[]), Some("not an environment variable name")),
            (change(&[("PORT", "80")], &[]), Some("set by microdeck")),
            (change(&[], &["REPLICA"]), Some("set by microdeck")),
            (change(&[("A", "1")], &["A"]), Some("both set and unset")),
        ];
        for (c, want) in cases {
            match (c.check(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{e}"),
                (got, want) => panic!("{c:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn changes_name_each_difference() {
        let a = service(&[("VERSION", "1"), ("DEBUG", "1")]);
        let b = service(&[("VERSION", "2"), ("NEW", "x")]);
        assert_eq!(changes(&a, &b), ["env DEBUG: 1 → (unset)", "env NEW: (unset) → x", "env VERSION: 1 → 2"]);
        let mut c = b.clone();
        c.run = Run::Command { program: "mdk-users".into(), args: vec!["--fast".into()] };
        assert_eq!(changes(&b, &c), ["command: mdk-users → mdk-users --fast"]);
        assert!(changes(&a, &a).is_empty());
        let mut more = a.clone();
        more.replicas = 5;
        assert!(same_template(&a, &more), "the replica count is no revision");
    }

    #[test]
    fn revisions_number_up_keep_ten_and_undo_goes_to_the_one_before() {
        let mut h = History::new(service(&[("VERSION", "1")]), EnvChange::default(), 0);
        assert_eq!(h.current_number(), 1);
        assert!(h.previous().is_none());
        let v2 = change(&[("VERSION", "2")], &[]);
        assert_eq!(h.record(h.current().base.clone(), v2.clone(), "deploy".into(), 1), Some(2));
        // The same definition again is no new revision.
        assert_eq!(h.record(h.current().base.clone(), v2, "deploy".into(), 2), None);
        assert_eq!(h.current().changes, ["env VERSION: 1 → 2"]);
        assert_eq!(h.previous().map(|r| r.number), Some(1));
        for n in 3..=14 {
            let c = change(&[("VERSION", &n.to_string())], &[]);
            assert_eq!(h.record(h.current().base.clone(), c, "deploy".into(), 3), Some(n));
        }
        let views = h.views();
        assert_eq!(views.len(), REVISIONS_KEPT);
        assert_eq!(views.first().map(|v| (v.revision, v.current)), Some((14, true)));
        assert_eq!(views.last().map(|v| v.revision), Some(5));
        // A rollback makes an older revision current; the one before it is then the undo's.
        assert!(h.set_current(13));
        assert_eq!(h.previous().map(|r| r.number), Some(12));
        assert!(!h.set_current(2), "revision 2 is no longer kept");
        h.mark_failed(14, "exited with code 1");
        assert_eq!(h.views()[0].failed.as_deref(), Some("exited with code 1"));
    }
}
