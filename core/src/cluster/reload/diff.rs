//! What a reload does to each service, decided by name from the definitions running now
//! and the new manifest: plain code, unit-tested without processes.

use std::collections::BTreeSet;

use crate::manifest::{placeholders, Manifest, Run, Service};

/// The plan of a reload, names in manifest order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(in crate::cluster) struct Diff {
    /// Same definition (and every address it refers to stays).
    pub unchanged: Vec<String>,
    /// Same address, new definition: its actor takes it; `true` = roll the replicas onto it
    /// (`false`: only `replicas` changed, a scale is enough).
    pub redefined: Vec<(String, bool)>,
    /// Port, protocol, balancing or a timeout of the address changed: stopped with its
    /// address, then added anew.
    pub replaced: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Unchanged, but something in its `depends_on` is replaced: it gets the new one's view.
    pub rewired: Vec<String>,
}

/// The address is what a listener was bound with: a change needs a new one.
fn same_address(a: &Service, b: &Service) -> bool {
    a.port == b.port
        && a.protocol == b.protocol
        && a.balance == b.balance
        && a.response_timeout == b.response_timeout
        && a.idle_timeout == b.idle_timeout
}

/// Every service a definition reaches through `{{name.field}}` placeholders.
fn referenced(s: &Service) -> BTreeSet<String> {
    let run: Vec<&str> = match &s.run {
        Run::Command { program, args } => std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).collect(),
        Run::Shell { line } => vec![line.as_str()],
    };
    run.into_iter().chain(s.env.values().map(String::as_str)).flat_map(placeholders::references).map(|(name, _)| name).collect()
}

pub(in crate::cluster) fn diff(running: &[Service], new: &Manifest) -> Diff {
    let mut d = Diff::default();
    let old = |name: &str| running.iter().find(|s| s.name == name);
    for s in &new.services {
        match old(&s.name) {
            None => d.added.push(s.name.clone()),
            Some(o) if !same_address(o, s) => d.replaced.push(s.name.clone()),
            // The autoscaler follows the manifest apart: its settings alone roll nothing.
            Some(o) if Service { autoscale: o.autoscale.clone(), ..s.clone() } == *o => d.unchanged.push(s.name.clone()),
            Some(o) => {
                let only_replicas = Service { replicas: o.replicas, autoscale: o.autoscale.clone(), ..s.clone() } == *o;
                d.redefined.push((s.name.clone(), !only_replicas));
            }
        }
    }
    d.removed = running.iter().filter(|s| new.service(&s.name).is_none()).map(|s| s.name.clone()).collect();
    // A placeholder naming a replaced service now expands to another port: roll onto it.
    let replaced: BTreeSet<&String> = d.replaced.iter().collect();
    let mut kept = vec![];
    for name in std::mem::take(&mut d.unchanged) {
        let Some(s) = new.service(&name) else { continue };
        if referenced(s).iter().any(|r| replaced.contains(r)) {
            d.redefined.push((name, true));
        } else {
            if s.depends_on.iter().any(|dep| replaced.contains(dep)) {
                d.rewired.push(name.clone());
            }
            kept.push(name);
        }
    }
    d.unchanged = kept;
    let order = |name: &String| new.services.iter().position(|s| s.name == *name);
    d.redefined.sort_by_key(|(name, _)| order(name));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        crate::manifest::parse_manifest(text.as_bytes(), "m.toml", std::path::Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
    }

    const BEFORE: &str = r#"
[services.keep]
command = "a"
[services.env]
command = "a"
env = { GREETING = "hello" }
[services.gone]
command = "a"
[services.moves]
command = "a"
port = 7001
[services.more]
command = "a"
[services.caller]
command = "a"
env = { MOVES = "{{moves.url}}" }
[services.waiter]
command = "a"
depends_on = ["moves"]
"#;

    #[test]
    fn each_service_lands_in_one_bucket() {
        let before = manifest(BEFORE);
        let after = manifest(
            &BEFORE
                .replace("GREETING = \"hello\"", "GREETING = \"bonjour\"")
                .replace("[services.gone]\ncommand = \"a\"\n", "[services.new]\ncommand = \"b\"\n")
                .replace("port = 7001", "port = 7002")
                .replace("[services.more]\ncommand = \"a\"", "[services.more]\ncommand = \"a\"\nreplicas = 3"),
        );
        let d = diff(&before.services, &after);
        assert_eq!(d.unchanged, ["keep", "waiter"]);
        assert_eq!(d.redefined, [("env".to_string(), true), ("more".to_string(), false), ("caller".to_string(), true)]);
        assert_eq!(d.replaced, ["moves"]);
        assert_eq!(d.added, ["new"]);
        assert_eq!(d.removed, ["gone"]);
        assert_eq!(d.rewired, ["waiter"]);
    }

    #[test]
    fn the_same_manifest_changes_nothing() {
        let m = manifest(BEFORE);
        let d = diff(&m.services, &m);
        assert_eq!(d.unchanged.len(), m.services.len());
        assert!(d.redefined.is_empty() && d.replaced.is_empty() && d.added.is_empty() && d.removed.is_empty() && d.rewired.is_empty());
    }

    #[test]
    fn a_protocol_balance_or_timeout_change_needs_a_new_address() {
        let before = manifest("[services.t]\ncommand = \"a\"\n[services.u]\ncommand = \"a\"\n[services.v]\ncommand = \"a\"\n");
        let after = manifest(
            "[services.t]\ncommand = \"a\"\nprotocol = \"tcp\"\n[services.u]\ncommand = \"a\"\nbalance = \"least-inflight\"\n[services.v]\ncommand = \"a\"\nresponse_timeout = \"5s\"\n",
        );
        assert_eq!(diff(&before.services, &after).replaced, ["t", "u", "v"]);
    }
}
