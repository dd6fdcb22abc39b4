//! Manifest validation: TOML text → [`Manifest`], or every problem of the file at once.
//!
//! The tree comes from `toml`'s recoverable parser, so syntax errors and the checks
//! below are all reported in one pass, each at its own line and column. Per-service
//! checks run first; cross-service checks (unknown `depends_on`, placeholders naming
//! unknown services, duplicate ports, dependency cycles) run on what was readable.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::de::DeTable;

use super::source::{Report, Text};
use super::walk::{self, field, join, unknown_keys, Item};
use super::{graph, placeholders, scenario, suggest};
use super::{Balance, Diagnostic, Health, HealthCheck, LoadConfig, Manifest, Protocol, RestartPolicy, Rollback, Run, Service};

pub(crate) const TOP_KEYS: &[&str] = &["name", "services", "load"];
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "command", "args", "shell", "cwd", "env", "port", "protocol", "replicas", "health", "restart", "depends_on",
    "stop_grace", "optional", "balance", "response_timeout", "idle_timeout", "autoscale", "progress_deadline", "rollback",
];
pub(crate) const HEALTH_KEYS: &[&str] =
    &["http", "tcp", "interval", "timeout", "failure_threshold", "success_threshold", "start_period"];

/// Most replicas a service may have — in a manifest, a lesson, or a scale command from any
/// shell: enough to show scaling, few enough for a laptop.
pub const MAX_REPLICAS: u32 = 16;
/// Most services a manifest or Procfile may declare: each one is an address, a proxy thread
/// and up to [`MAX_REPLICAS`] processes, and a laptop runs a few dozen of those well.
pub const MAX_SERVICES: usize = 64;
/// Time between SIGTERM and SIGKILL when the manifest says nothing.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long an HTTP address waits for a replica's answer to begin (nginx's `proxy_read_timeout`).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a TCP connection may carry nothing before the address closes it (nginx's stream
/// `proxy_timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a rollout waits for a new replica to be ready (Kubernetes' `progressDeadlineSeconds`
/// is 600 s for slow image pulls; a local process starts in seconds).
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(30);

const PROTOCOLS: &[(&str, Protocol)] = &[("http", Protocol::Http), ("tcp", Protocol::Tcp)];
const RESTARTS: &[(&str, RestartPolicy)] =
    &[("always", RestartPolicy::Always), ("on-failure", RestartPolicy::OnFailure), ("never", RestartPolicy::Never)];
const ROLLBACKS: &[(&str, Rollback)] = &[("auto", Rollback::Auto), ("manual", Rollback::Manual)];
const BALANCES: &[(&str, Balance)] = &[("round-robin", Balance::RoundRobin), ("least-inflight", Balance::LeastInflight)];

pub(crate) const EMPTY_HINT: &str = "start with `[services.web]` and `command = \"./web\"`";

/// A service as read, with the spans the cross-service checks point at.
pub(crate) struct Draft {
    pub service: Service,
    pub key: String,
    pub port_span: Range<usize>,
    pub depends: Vec<(String, Range<usize>)>,
    /// (dotted key, template, span) of every value placeholders are expanded in.
    pub templates: Vec<(String, String, Range<usize>)>,
}

/// The default service the manifest and the Procfile both start from.
pub(crate) fn default_service(name: &str, run: Run, base_dir: &Path) -> Service {
    Service {
        name: name.to_string(),
        run,
        cwd: Some(base_dir.to_path_buf()),
        env: BTreeMap::new(),
        port: None,
        protocol: Protocol::default(),
        replicas: 1,
        health: Health::default(),
        restart: RestartPolicy::default(),
        depends_on: Vec::new(),
        stop_grace: DEFAULT_STOP_GRACE,
        optional: false,
        balance: Balance::default(),
        response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        idle_timeout: DEFAULT_IDLE_TIMEOUT,
        autoscale: None,
        progress_deadline: DEFAULT_PROGRESS_DEADLINE,
        rollback: Rollback::default(),
    }
}

/// Checks a service name: it appears in placeholders, file names and URLs.
pub(crate) fn check_name(name: &str) -> Result<(), (String, String)> {
    let hint = "use lowercase letters, digits, `-` and `_`";
    if name.is_empty() {
        return Err(("a service name must not be empty".into(), hint.into()));
    }
    if name == "self" {
        return Err(("`self` is reserved: `{{self.port}}` means the replica's own port".into(), "pick another name".into()));
    }
    if name.len() > 63 {
        return Err((format!("service name is {} characters long; at most 63", name.len()), hint.into()));
    }
    let allowed = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !allowed(name) {
        let lower = name.to_ascii_lowercase();
        let hint = if allowed(&lower) { format!("use lowercase: `{lower}`") } else { hint.into() };
        return Err((format!("`{name}` is not a valid service name"), hint));
    }
    Ok(())
}

/// Reported once, at the first service past [`MAX_SERVICES`]; the rest are not read.
pub(crate) fn too_many_services(r: &mut Report<'_>, span: &Range<usize>, key: &str) {
    let message = format!("a cluster has at most {MAX_SERVICES} services; this is service {}", MAX_SERVICES + 1);
    r.error(span, key, message, Some("split the cluster into several manifests".into()));
}

/// The folder's name, else `fallback`: a cluster is named after where it lives.
pub(crate) fn folder_name(base_dir: &Path, fallback: &str) -> String {
    match base_dir.components().next_back() {
        Some(std::path::Component::Normal(n)) => n.to_string_lossy().into_owned(),
        _ => fallback.to_string(),
    }
}

pub(crate) fn manifest(text: &Text<'_>, file: &str, base_dir: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    let mut r = Report::new(file, text);
    let (root, whole) = r.parse();
    let root = root.get_ref();
    unknown_keys(&mut r, root, "", TOP_KEYS);
    let name = match field(root, "", "name") {
        Some((item, key)) => walk::text(&mut r, item, &key).map(str::to_string),
        None => None,
    };
    let mut drafts = Vec::new();
    match field(root, "", "services") {
        Some((item, key)) => {
            if let Some(t) = walk::table(&mut r, item, &key, "write one `[services.NAME]` table per service") {
                for (i, (k, v)) in t.iter().enumerate() {
                    if i == MAX_SERVICES {
                        too_many_services(&mut r, &k.span(), &join(&key, k.get_ref()));
                        break;
                    }
                    drafts.push(service(&mut r, k.get_ref(), k.span(), v, base_dir));
                }
                if t.is_empty() {
                    r.error(&item.span(), "services", "no services", Some(EMPTY_HINT.into()));
                }
            }
        }
        None if whole => r.error(&(0..0), "services", "no services", Some(EMPTY_HINT.into())),
        None => {}
    }
    cross_checks(&mut r, &drafts);
    let names: Vec<&str> = drafts.iter().map(|d| d.service.name.as_str()).collect();
    let load = match field(root, "", "load") {
        Some((item, key)) => scenario::load(&mut r, item, &key, &names),
        None => LoadConfig::default(),
    };
    if !r.is_clean() {
        return Err(r.finish());
    }
    Ok(Manifest {
        name: name.unwrap_or_else(|| folder_name(base_dir, "cluster")),
        origin: None,
        base_dir: base_dir.to_path_buf(),
        services: drafts.into_iter().map(|d| d.service).collect(),
        load,
    })
}

fn service(r: &mut Report<'_>, name: &str, name_span: Range<usize>, item: &Item<'_>, base_dir: &Path) -> Draft {
    let key = join("services", name);
    if let Err((message, hint)) = check_name(name) {
        r.error(&name_span, &key, message, Some(hint));
    }
    let mut d = Draft {
        service: default_service(name, Run::Shell { line: String::new() }, base_dir),
        key: key.clone(),
        port_span: name_span.clone(),
        depends: Vec::new(),
        templates: Vec::new(),
    };
    let Some(t) = walk::table(r, item, &key, "write `[services.NAME]` with `command = \"...\"` under it") else {
        return d;
    };
    unknown_keys(r, t, &key, SERVICE_KEYS);
    read_run(r, t, &key, &name_span, &mut d);
    let s = &mut d.service;
    if let Some((item, k)) = field(t, &key, "cwd") {
        if let Some(cwd) = walk::text(r, item, &k) {
            s.cwd = Some(base_dir.join(cwd));
        }
    }
    if let Some((item, k)) = field(t, &key, "env") {
        read_env(r, item, &k, &mut d);
    }
    let s = &mut d.service;
    if let Some((item, k)) = field(t, &key, "port") {
        s.port = walk::integer(r, item, &k, 1..65536, "a port 1..=65535; leave `port` out for a free one")
            .and_then(|p| u16::try_from(p).ok());
        d.port_span = item.span();
    }
    if let Some((item, k)) = field(t, &key, "protocol") {
        s.protocol = walk::choice(r, item, &k, PROTOCOLS).unwrap_or_default();
    }
    if let Some((item, k)) = field(t, &key, "replicas") {
        let hint = format!("0 keeps the service stopped; at most {MAX_REPLICAS}");
        let range = 0..i64::from(MAX_REPLICAS) + 1;
        s.replicas = walk::integer(r, item, &k, range, &hint).and_then(|n| u32::try_from(n).ok()).unwrap_or(1);
    }
    if let Some((item, k)) = field(t, &key, "health") {
        s.health = read_health(r, item, &k);
    }
    if let Some((item, k)) = field(t, &key, "restart") {
        s.restart = walk::choice(r, item, &k, RESTARTS).unwrap_or_default();
    }
    if let Some((item, k)) = field(t, &key, "stop_grace") {
        s.stop_grace = walk::duration(r, item, &k, Duration::ZERO).unwrap_or(DEFAULT_STOP_GRACE);
    }
    if let Some((item, k)) = field(t, &key, "optional") {
        s.optional = walk::boolean(r, item, &k).unwrap_or(false);
    }
    if let Some((item, k)) = field(t, &key, "balance") {
        s.balance = walk::choice(r, item, &k, BALANCES).unwrap_or_default();
    }
    read_timeouts(r, t, &key, s);
    if let Some((item, k)) = field(t, &key, "autoscale") {
        s.autoscale = super::autoscale::read(r, item, &k, s.protocol);
    }
    if let Some((item, k)) = field(t, &key, "progress_deadline") {
        s.progress_deadline = walk::duration(r, item, &k, Duration::from_millis(100)).unwrap_or(DEFAULT_PROGRESS_DEADLINE);
    }
    if let Some((item, k)) = field(t, &key, "rollback") {
        s.rollback = walk::choice(r, item, &k, ROLLBACKS).unwrap_or_default();
    }
    if let Some((item, k)) = field(t, &key, "depends_on") {
        let list = walk::strings(r, item, &k, "write depends_on = [\"db\"]").unwrap_or_default();
        for (dep, span) in list {
            if !d.service.depends_on.contains(&dep) {
                d.service.depends_on.push(dep.clone());
                d.depends.push((dep, span));
            }
        }
    }
    d
}

/// `response_timeout` (HTTP) and `idle_timeout` (TCP), each refused on the other protocol,
/// where it would do nothing.
fn read_timeouts(r: &mut Report<'_>, t: &DeTable<'_>, key: &str, s: &mut Service) {
    let least = Duration::from_millis(1);
    if let Some((item, k)) = field(t, key, "response_timeout") {
        if s.protocol == Protocol::Tcp {
            let hint = "a tcp address forwards bytes and waits for no answer; `idle_timeout` closes a quiet connection";
            r.error(&item.span(), &k, "`response_timeout` applies to http services", Some(hint.into()));
        } else {
            s.response_timeout = walk::duration(r, item, &k, least).unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        }
    }
    if let Some((item, k)) = field(t, key, "idle_timeout") {
        if s.protocol == Protocol::Http {
            let hint = "an http address closes a kept connection that sends no request within 30s; `response_timeout` bounds the wait for a replica";
            r.error(&item.span(), &k, "`idle_timeout` applies to tcp services", Some(hint.into()));
        } else {
            s.idle_timeout = walk::duration(r, item, &k, least).unwrap_or(DEFAULT_IDLE_TIMEOUT);
        }
    }
}

/// `command` + `args`, or `shell`: exactly one way to launch.
fn read_run(r: &mut Report<'_>, t: &DeTable<'_>, key: &str, name_span: &Range<usize>, d: &mut Draft) {
    let mut args = Vec::new();
    if let Some((item, k)) = field(t, key, "args") {
        let list = walk::strings(r, item, &k, "write args = [\"--flag\", \"value\"]").unwrap_or_default();
        for (i, (a, span)) in list.into_iter().enumerate() {
            d.templates.push((format!("{k}[{i}]"), a.clone(), span));
            args.push(a);
        }
    }
    match (field(t, key, "command"), field(t, key, "shell")) {
        (Some((item, k)), None) => {
            let Some(program) = walk::text(r, item, &k) else { return };
            if program.contains(char::is_whitespace) && !program.contains('/') {
                let hint = "put the arguments in `args = [...]`, or use `shell = \"...\"` for a command line";
                r.error(&item.span(), &k, format!("`{program}` is one program, not a command line"), Some(hint.into()));
            }
            d.service.run = Run::Command { program: program.to_string(), args };
        }
        (None, Some((item, k))) => {
            if let Some(line) = walk::text(r, item, &k) {
                d.templates.push((k.clone(), line.to_string(), item.span()));
                d.service.run = Run::Shell { line: line.to_string() };
            }
            if let Some((a, k)) = field(t, key, "args") {
                let hint = "append the arguments to the shell line, or use `command` + `args`";
                r.error(&a.span(), &k, "`args` go with `command`, not with `shell`", Some(hint.into()));
            }
        }
        (Some(_), Some((item, k))) => {
            let hint = "keep `command` (+ `args`) to run a program directly, or `shell` for a command line";
            r.error(&item.span(), &k, "give `command` or `shell`, not both", Some(hint.into()));
        }
        (None, None) => {
            let hint = "add `command = \"./program\"`, or `shell = \"...\"` for a command line";
            r.error(name_span, key, "missing `command`", Some(hint.into()));
        }
    }
}

fn read_env(r: &mut Report<'_>, item: &Item<'_>, key: &str, d: &mut Draft) {
    let Some(t) = walk::table(r, item, key, "write `env = { NAME = \"value\" }` or an `[services.NAME.env]` table") else {
        return;
    };
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let vkey = join(key, name);
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let hint = "letters, digits and `_`, not starting with a digit";
            r.error(&k.span(), &vkey, format!("`{name}` is not an environment variable name"), Some(hint.into()));
        } else if name == "PORT" {
            let hint = "microdeck sets PORT for each replica; refer to it as $PORT or {{self.port}}";
            r.error(&k.span(), &vkey, "PORT is set by microdeck", Some(hint.into()));
        }
        if let Some(value) = walk::string(r, v, &vkey) {
            d.templates.push((vkey, value.to_string(), v.span()));
            d.service.env.insert(name.to_string(), value.to_string());
        }
    }
}

fn read_health(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Health {
    let mut h = Health::default();
    let Some(t) = walk::table(r, item, key, "write `health = { http = \"/health\" }`") else { return h };
    unknown_keys(r, t, key, HEALTH_KEYS);
    let http = field(t, key, "http").and_then(|(item, k)| {
        let path = walk::text(r, item, &k)?;
        if !path.starts_with('/') {
            r.error(&item.span(), &k, format!("`{path}` is not a path"), Some(format!("start it with `/`: \"/{path}\"")));
        }
        Some((path.to_string(), item.span()))
    });
    let tcp = field(t, key, "tcp").and_then(|(item, k)| walk::boolean(r, item, &k).map(|b| (b, item.span(), k)));
    h.check = match (http, tcp) {
        (Some(_), Some((true, span, k))) => {
            r.error(&span, &k, "give `http` or `tcp`, not both", Some("an HTTP probe already connects".into()));
            HealthCheck::Process
        }
        (Some((path, _)), _) => HealthCheck::Http { path },
        (None, Some((true, _, _))) => HealthCheck::Tcp,
        _ => HealthCheck::Process,
    };
    let ms = Duration::from_millis(1);
    if let Some((item, k)) = field(t, key, "interval") {
        h.interval = walk::duration(r, item, &k, ms).unwrap_or(h.interval);
    }
    if let Some((item, k)) = field(t, key, "timeout") {
        h.timeout = walk::duration(r, item, &k, ms).unwrap_or(h.timeout);
    }
    if let Some((item, k)) = field(t, key, "start_period") {
        h.start_period = walk::duration(r, item, &k, Duration::ZERO).unwrap_or(h.start_period);
    }
    let threshold = |r: &mut Report<'_>, name: &str, default: u32| -> u32 {
        field(t, key, name)
            .and_then(|(item, k)| walk::integer(r, item, &k, 1..101, "a count of consecutive probes, 1..=100"))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    h.failure_threshold = threshold(r, "failure_threshold", h.failure_threshold);
    h.success_threshold = threshold(r, "success_threshold", h.success_threshold);
    h
}

/// Checks that need every service: references, ports, cycles.
pub(crate) fn cross_checks(r: &mut Report<'_>, drafts: &[Draft]) {
    let names: Vec<&str> = drafts.iter().map(|d| d.service.name.as_str()).collect();
    for d in drafts {
        for (dep, span) in &d.depends {
            if !names.contains(&dep.as_str()) {
                let hint = suggest::did_you_mean(dep, names.iter().copied())
                    .unwrap_or_else(|| format!("services: {}", names.join(", ")));
                let key = join(&d.key, "depends_on");
                r.error(span, &key, format!("`{dep}` is not a service"), Some(hint));
            }
        }
        for (key, template, span) in &d.templates {
            for (name, field) in placeholders::references(template) {
                if name != "self" && !names.contains(&name.as_str()) {
                    let hint = suggest::did_you_mean(&name, names.iter().copied().chain(["self"]))
                        .unwrap_or_else(|| format!("services: {}", names.join(", ")));
                    r.error(span, key, format!("`{{{{{name}.{field}}}}}` names no service"), Some(hint));
                } else if !placeholders::FIELDS.contains(&field.as_str()) {
                    let hint = suggest::did_you_mean(&field, placeholders::FIELDS)
                        .unwrap_or_else(|| format!("one of: {}", placeholders::FIELDS.join(", ")));
                    r.error(span, key, format!("`{{{{{name}.{field}}}}}`: no field `{field}`"), Some(hint));
                }
            }
        }
    }
    let mut ports: BTreeMap<u16, &Draft> = BTreeMap::new();
    for d in drafts {
        let Some(port) = d.service.port else { continue };
        if let Some(first) = ports.get(&port) {
            let (line, _) = r.text.position(first.port_span.start);
            let message = format!("port {port} is already the address of `{}` (line {line})", first.service.name);
            r.error(&d.port_span, &join(&d.key, "port"), message, Some("give each service its own port".into()));
        } else {
            ports.insert(port, d);
        }
    }
    let nodes: Vec<(&str, Vec<&str>)> =
        drafts.iter().map(|d| (d.service.name.as_str(), d.depends.iter().map(|(n, _)| n.as_str()).collect())).collect();
    for cycle in graph::cycles(&nodes) {
        // Point at the first service's entry that starts the loop.
        let first = drafts.iter().find(|d| d.service.name == cycle[0]);
        let at = first.and_then(|d| d.depends.iter().find(|(n, _)| Some(n) == cycle.get(1)).map(|(_, s)| (d, s.clone())));
        if let Some((d, span)) = at {
            let hint = "remove one of these `depends_on` entries";
            r.error(&span, &join(&d.key, "depends_on"), format!("dependency cycle: {}", graph::render(&cycle)), Some(hint.into()));
        }
    }
}
