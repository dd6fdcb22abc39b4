//! Lesson TOML → a validated [`Lesson`], or every problem at once, each at its file, line,
//! column and dotted key (the manifest's reader and report, so both read alike).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::model::*;
use crate::manifest::source::{Report, Text};
use crate::manifest::suggest;
use crate::manifest::walk::{self, field, join, unknown_keys, Item};
use crate::manifest::{Diagnostic, MAX_REPLICAS};

pub(crate) const EMPTY_HINT: &str = "a lesson needs name, title, claim and at least one [[step]]";
pub(crate) const TOP_KEYS: &[&str] = &["name", "title", "claim", "services", "step"];
pub(crate) const STEP_KEYS: &[&str] = &["name", "text", "actions", "wait", "checks"];
pub(crate) const CHECK_KEYS: &[&str] = &["measure", "service", "edge", "path", "window", "below", "at_most", "above", "at_least", "says"];
/// The methods a `request` action may send.
pub(crate) const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Each action's verb and the other keys it takes.
pub(crate) const ACTIONS: &[(&str, &[&str])] = &[
    ("start_load", &["rate", "duration"]),
    ("load_rate", &[]),
    ("stop_load", &[]),
    ("scale", &["replicas"]),
    ("stop", &[]),
    ("start", &[]),
    ("restart", &[]),
    ("kill", &["replica"]),
    ("knobs", &["work_ms", "max_inflight", "error_rate"]),
    ("wait", &[]),
    ("wait_ready", &["within"]),
    ("autoscale", &["on"]),
    ("deploy", &["env", "unset"]),
    ("wait_rollout", &["within"]),
    ("request", &["method", "path", "body"]),
    ("fault", &["delay", "jitter", "abort", "status", "for"]),
    ("clear_fault", &[]),
];
/// Measurements over less than this say nothing (the series are per second).
pub(crate) const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The longest window the metrics keep.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(900);
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_WITHIN: Duration = Duration::from_secs(30);
/// The load generator's largest rate.
pub(crate) const MAX_RATE: f64 = 100_000.0;

pub(crate) fn lesson(text: &Text<'_>, file: &str) -> Result<Lesson, Vec<Diagnostic>> {
    let mut r = Report::new(file, text);
    let (root, whole) = r.parse();
    let root = root.get_ref();
    unknown_keys(&mut r, root, "", TOP_KEYS);
    let name = required_text(&mut r, root, whole, "name", "name it: `name = \"independent-scaling\"`");
    if let Some((name, span)) = &name {
        if !is_lesson_name(name) {
            r.error(span, "name", format!("`{name}` is not a lesson name"), Some("lower-case letters, digits and `-`, e.g. `fault-isolation`".into()));
        }
    }
    let title = required_text(&mut r, root, whole, "title", "a title for the list: `title = \"Independent scaling\"`");
    let claim = required_text(&mut r, root, whole, "claim", "the claim it demonstrates, in one sentence");
    let services = match field(root, "", "services") {
        Some((item, key)) => walk::strings(&mut r, item, &key, "write `services = [\"auth\", \"media\"]`").unwrap_or_default(),
        None => Vec::new(),
    };
    let mut steps = Vec::new();
    match field(root, "", "step") {
        Some((item, key)) => {
            if let Some(list) = walk::array(&mut r, item, &key, "write one `[[step]]` table per step, with double brackets") {
                for (i, item) in list.iter().enumerate() {
                    if let Some(s) = step(&mut r, item, &format!("step[{i}]")) {
                        steps.push((s, item.span()));
                    }
                }
                if list.is_empty() {
                    r.error(&item.span(), "step", "no steps", Some(EMPTY_HINT.into()));
                }
            }
        }
        None if whole => r.error(&(0..0), "step", "no steps", Some(EMPTY_HINT.into())),
        None => {}
    }
    cross_checks(&mut r, &steps);
    if !r.is_clean() {
        return Err(r.finish());
    }
    Ok(Lesson {
        name: name.map(|n| n.0).unwrap_or_default(),
        title: title.map(|t| t.0).unwrap_or_default(),
        claim: claim.map(|c| c.0).unwrap_or_default(),
        services: services.into_iter().map(|s| s.0).collect(),
        steps: steps.into_iter().map(|s| s.0).collect(),
    })
}

fn is_lesson_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('-') && !name.ends_with('-') && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A top-level text; its absence is reported only when the file parsed whole.
fn required_text(r: &mut Report<'_>, t: &DeTable<'_>, whole: bool, name: &str, hint: &str) -> Option<(String, Range<usize>)> {
    match field(t, "", name) {
        Some((item, key)) => walk::text(r, item, &key).map(|s| (s.to_string(), item.span())),
        None => {
            if whole {
                r.error(&(0..0), name, format!("`{name}` is missing"), Some(hint.into()));
            }
            None
        }
    }
}

/// Required keys of a table inside the file are reported at that table.
fn required_in(r: &mut Report<'_>, t: &DeTable<'_>, at: &Range<usize>, parent: &str, name: &str, hint: &str) -> Option<String> {
    match field(t, parent, name) {
        Some((item, key)) => walk::text(r, item, &key).map(str::to_string),
        None => {
            r.error(at, &join(parent, name), format!("`{name}` is missing"), Some(hint.into()));
            None
        }
    }
}

fn step(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<Step> {
    let t = walk::table(r, item, key, "write `[[step]]` with name, text, actions and checks")?;
    unknown_keys(r, t, key, STEP_KEYS);
    let name = required_in(r, t, &item.span(), key, "name", "name the step: `name = \"loaded\"`");
    let text = required_in(r, t, &item.span(), key, "text", "what the learner reads at this step");
    let wait = field(t, key, "wait").and_then(|(item, k)| walk::duration(r, item, &k, Duration::ZERO));
    let mut actions = Vec::new();
    if let Some((item, k)) = field(t, key, "actions") {
        if let Some(list) = walk::array(r, item, &k, "write `actions = [{ scale = \"auth\", replicas = 3 }]`") {
            for (i, a) in list.iter().enumerate() {
                if let Some(a) = action(r, a, &format!("{k}[{i}]")) {
                    actions.push(a);
                }
            }
        }
    }
    let mut checks = Vec::new();
    if let Some((item, k)) = field(t, key, "checks") {
        if let Some(list) = walk::array(r, item, &k, "write `checks = [{ measure = \"p95_ms\", service = \"auth\", below = 200 }]`") {
            for (i, c) in list.iter().enumerate() {
                if let Some(c) = check(r, c, &format!("{k}[{i}]")) {
                    checks.push(c);
                }
            }
        }
    }
    Some(Step { name: name?, text: text?, actions, wait, checks })
}

fn action(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<Action> {
    let t = walk::table(r, item, key, "an action is a table: `{ restart = \"auth\" }`")?;
    let verbs: Vec<&str> = ACTIONS.iter().map(|(v, _)| *v).collect();
    let named: Vec<&str> = t.iter().map(|(k, _)| k.get_ref().as_ref()).filter(|k| verbs.contains(k)).collect();
    let verb = match named.as_slice() {
        [one] => *one,
        [] => {
            let first = t.iter().next().map(|(k, _)| k.get_ref().as_ref().to_string()).unwrap_or_default();
            let hint = suggest::did_you_mean(&first, verbs.iter().copied()).unwrap_or_else(|| format!("actions: {}", verbs.join(", ")));
            r.error(&item.span(), key, "no action named", Some(hint));
            return None;
        }
        many => {
            r.error(&item.span(), key, format!("one action a table, found {}", many.join(" and ")), Some("write each as its own `{ … }` in the list".into()));
            return None;
        }
    };
    let params = ACTIONS.iter().find(|(v, _)| *v == verb).map_or(&[][..], |(_, p)| *p);
    let known: Vec<&str> = std::iter::once(verb).chain(params.iter().copied()).collect();
    unknown_keys(r, t, key, &known);
    let (value, vkey) = field(t, key, verb)?;
    let service = |r: &mut Report<'_>| walk::text(r, value, &vkey).map(str::to_string);
    let at = item.span();
    Some(match verb {
        "start_load" => {
            let scenario = walk::text(r, value, &vkey)?.to_string();
            let rate = match field(t, key, "rate") {
                Some((i, k)) => number(r, i, &k, 0.0, MAX_RATE)?,
                None => {
                    r.error(&at, &join(key, "rate"), "`rate` is missing", Some("requests a second: `rate = 30`".into()));
                    return None;
                }
            };
            let duration = field(t, key, "duration").and_then(|(i, k)| walk::duration(r, i, &k, MIN_WINDOW));
            Action::StartLoad { scenario, rate, duration }
        }
        "load_rate" => Action::SetLoadRate { rate: number(r, value, &vkey, 0.0, MAX_RATE)? },
        "stop_load" => {
            walk::boolean(r, value, &vkey).filter(|b| *b).or_else(|| {
                r.error(&value.span(), &vkey, "write `stop_load = true`", None);
                None
            })?;
            Action::StopLoad
        }
        "scale" => {
            let service = service(r)?;
            let replicas = match field(t, key, "replicas") {
                Some((i, k)) => walk::integer(r, i, &k, 0..i64::from(MAX_REPLICAS) + 1, &format!("0 to {MAX_REPLICAS}"))?,
                None => {
                    r.error(&at, &join(key, "replicas"), "`replicas` is missing", Some("how many: `replicas = 3`".into()));
                    return None;
                }
            };
            Action::Scale { service, replicas: replicas as u32 }
        }
        "stop" => Action::Stop { service: service(r)? },
        "start" => Action::Start { service: service(r)? },
        "restart" => Action::Restart { service: service(r)? },
        "kill" => {
            let service = service(r)?;
            let replica = match field(t, key, "replica") {
                Some((i, k)) => walk::integer(r, i, &k, 0..i64::from(MAX_REPLICAS), "a replica's index, from 0")? as u32,
                None => 0,
            };
            Action::Kill { service, replica }
        }
        "knobs" => {
            let service = service(r)?;
            let work_ms = field(t, key, "work_ms").and_then(|(i, k)| walk::integer(r, i, &k, 0..60_001, "milliseconds of work a request, 0 to 60000")).map(|n| n as u64);
            let max_inflight = field(t, key, "max_inflight").and_then(|(i, k)| walk::integer(r, i, &k, 1..10_001, "requests a replica serves at once, 1 to 10000")).map(|n| n as u32);
            let error_rate = field(t, key, "error_rate").and_then(|(i, k)| number(r, i, &k, 0.0, 1.0));
            let knobs = Knobs { work_ms, max_inflight, error_rate };
            if params.iter().all(|p| !t.contains_key(*p)) {
                r.error(&at, key, "no knob set", Some("set work_ms, max_inflight or error_rate".into()));
                return None;
            }
            if knobs == Knobs::default() {
                return None;
            }
            Action::Knobs { service, knobs }
        }
        "wait" => Action::Wait(walk::duration(r, value, &vkey, Duration::ZERO)?),
        "wait_ready" => {
            let service = service(r)?;
            let within = field(t, key, "within").map_or(Some(DEFAULT_WITHIN), |(i, k)| walk::duration(r, i, &k, MIN_WINDOW))?;
            Action::WaitReady { service, within }
        }
        "autoscale" => {
            let service = service(r)?;
            let on = match field(t, key, "on") {
                Some((i, k)) => walk::boolean(r, i, &k)?,
                None => {
                    r.error(&at, &join(key, "on"), "`on` is missing", Some("`on = true` switches it on, `on = false` off".into()));
                    return None;
                }
            };
            Action::Autoscale { service, on }
        }
        "deploy" => {
            let service = service(r)?;
            let mut change = crate::supervisor::revision::EnvChange::default();
            if let Some((i, k)) = field(t, key, "env") {
                let vars = walk::table(r, i, &k, "write `env = { VERSION = \"2\" }`")?;
                for (name, v) in vars.iter() {
                    let value = walk::string(r, v, &join(&k, name.get_ref()))?;
                    change.set.insert(name.get_ref().to_string(), value.to_string());
                }
            }
            if let Some((i, k)) = field(t, key, "unset") {
                let names = walk::strings(r, i, &k, "write `unset = [\"DEBUG\"]`")?;
                change.unset.extend(names.into_iter().map(|(n, _)| n));
            }
            if change.is_empty() {
                r.error(&at, key, "nothing to deploy", Some("set variables with `env = { VERSION = \"2\" }` or remove some with `unset = [\"DEBUG\"]`".into()));
                return None;
            }
            if let Err(why) = change.check() {
                r.error(&at, key, why, None);
                return None;
            }
            Action::Deploy { service, change }
        }
        "request" => {
            let service = service(r)?;
            let method = match field(t, key, "method") {
                Some((i, k)) => {
                    let m = walk::text(r, i, &k)?;
                    if !METHODS.contains(&m) {
                        r.error(&i.span(), &k, format!("`{m}` is not one of {}", METHODS.join(", ")), None);
                        return None;
                    }
                    m.to_string()
                }
                None => "GET".to_string(),
            };
            let path = match field(t, key, "path") {
                Some((i, k)) => path_of(r, i, &k)?,
                None => {
                    r.error(&at, &join(key, "path"), "`path` is missing", Some("what to ask for: `path = \"/users/ada\"`".into()));
                    return None;
                }
            };
            let body = field(t, key, "body").and_then(|(i, k)| walk::text(r, i, &k).map(str::to_string));
            Action::Request { service, method, path, body }
        }
        "fault" => {
            let service = service(r)?;
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            // A key given but unreadable is reported by its reader and ends the action.
            let delay = field(t, key, "delay").map(|(i, k)| walk::duration(r, i, &k, Duration::ZERO).map(ms));
            let jitter = field(t, key, "jitter").map(|(i, k)| walk::duration(r, i, &k, Duration::ZERO).map(ms));
            let abort = field(t, key, "abort").map(|(i, k)| number(r, i, &k, 0.0, 100.0));
            let status = field(t, key, "status").map(|(i, k)| walk::integer(r, i, &k, 400..600, "an HTTP status from 400 to 599").map(|n| n as u16));
            let lasting = field(t, key, "for").map(|(i, k)| walk::duration(r, i, &k, MIN_WINDOW).map(ms));
            let fault = crate::proxy::fault::Fault {
                delay_ms: delay.unwrap_or(Some(0))?,
                jitter_ms: jitter.unwrap_or(Some(0))?,
                abort_percent: abort.unwrap_or(Some(0.0))?,
                abort_status: status.unwrap_or(Some(crate::proxy::fault::DEFAULT_STATUS))?,
                for_ms: match lasting { Some(parsed) => Some(parsed?), None => None },
                ..crate::proxy::fault::Fault::default()
            };
            if let Err(e) = fault.validate() {
                r.error(&at, key, e.to_string(), Some("e.g. `{ fault = \"users\", delay = \"5s\" }` or `{ fault = \"users\", abort = 10, status = 503 }`".into()));
                return None;
            }
            Action::Fault { service, fault }
        }
        "clear_fault" => Action::ClearFault { service: service(r)? },
        "wait_rollout" => {
            let service = service(r)?;
            let within = field(t, key, "within").map_or(Some(DEFAULT_WITHIN), |(i, k)| walk::duration(r, i, &k, MIN_WINDOW))?;
            Action::WaitRollout { service, within }
        }
        _ => return None,
    })
}

fn check(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<Check> {
    let t = walk::table(r, item, key, "a check is a table: `{ measure = \"error_pct\", service = \"media\", at_most = 0 }`")?;
    unknown_keys(r, t, key, CHECK_KEYS);
    let at = item.span();
    let measure = match field(t, key, "measure") {
        Some((i, k)) => walk::choice(r, i, &k, &MEASURES),
        None => {
            let names: Vec<&str> = MEASURES.iter().map(|(n, _)| *n).collect();
            r.error(&at, &join(key, "measure"), "`measure` is missing", Some(format!("one of {}", names.join(", "))));
            None
        }
    };
    let service = field(t, key, "service").and_then(|(i, k)| walk::text(r, i, &k).map(|s| (s.to_string(), i.span(), k)));
    let edge = field(t, key, "edge").and_then(|(i, k)| walk::text(r, i, &k).map(|s| (s.to_string(), i.span(), k)));
    let window = field(t, key, "window").map_or(Some(DEFAULT_WINDOW), |(i, k)| {
        let d = walk::duration(r, i, &k, MIN_WINDOW)?;
        if d > MAX_WINDOW {
            r.error(&i.span(), &k, "at most 15m: the metrics keep 15 minutes", None);
            return None;
        }
        Some(d)
    });
    let bounds: Vec<(Comparison, &Item<'_>, String)> =
        COMPARISONS.iter().filter_map(|(word, c)| field(t, key, word).map(|(i, k)| (*c, i, k))).collect();
    let bound = match bounds.as_slice() {
        [(comparison, i, k)] => limit(r, i, k).map(|limit| Bound { comparison: *comparison, limit }),
        [] => {
            r.error(&at, key, "no bound", Some("say what passes: below, at_most, above or at_least, a number or `{ step = \"loaded\", times = 0.5 }`".into()));
            None
        }
        [_, (_, second, k), ..] => {
            r.error(&second.span(), k, "one bound a check", Some("write a second check for a range".into()));
            None
        }
    };
    let says = field(t, key, "says").and_then(|(i, k)| walk::text(r, i, &k).map(str::to_string));
    let path = field(t, key, "path").and_then(|(i, k)| path_of(r, i, &k).map(|p| (p, i.span(), k)));
    let measure = measure?;
    match (&path, measure == Measure::Status) {
        (None, true) => {
            r.error(&at, &join(key, "path"), "`status` needs a `path`", Some("what to ask for: `path = \"/users/ada\"`".into()));
            return None;
        }
        (Some((_, span, k)), false) => {
            r.error(span, k, "`path` goes with `measure = \"status\"`", None);
            return None;
        }
        _ => {}
    }
    let path = path.map(|(p, _, _)| p);
    let subject = match (measure.subject_kind(), service, edge) {
        (SubjectKind::Service, Some((s, _, _)), None) => Subject::Service(s),
        (SubjectKind::Edge, None, Some((e, span, k))) => match e.split_once("->") {
            Some((caller, callee)) if !caller.trim().is_empty() && !callee.trim().is_empty() => {
                Subject::Edge { caller: caller.trim().to_string(), callee: callee.trim().to_string() }
            }
            _ => {
                r.error(&span, &k, format!("`{e}` is not an edge"), Some("caller -> callee, e.g. `gateway -> auth` (`external` for outside callers)".into()));
                return None;
            }
        },
        (SubjectKind::Load, None, None) => Subject::Load,
        (kind, service, edge) => {
            let want = match kind {
                SubjectKind::Service => "a `service`",
                SubjectKind::Edge => "an `edge` (caller -> callee)",
                SubjectKind::Load => "neither `service` nor `edge` (it measures the running load)",
            };
            let span = service.as_ref().map(|s| s.1.clone()).or_else(|| edge.as_ref().map(|e| e.1.clone())).unwrap_or(at);
            r.error(&span, key, format!("`{}` takes {want}", measure.name()), None);
            return None;
        }
    };
    Some(Check { key: key.to_string(), measure, subject, window: window?, bound: bound?, says, path })
}

/// A request path: it starts with `/`.
fn path_of(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<String> {
    let p = walk::text(r, item, key)?;
    if !p.starts_with('/') {
        r.error(&item.span(), key, format!("`{p}` is not a path"), Some(format!("start it with `/`: \"/{p}\"")));
        return None;
    }
    Some(p.to_string())
}

/// A bound: a number, or `{ step = "…", times = x }`.
fn limit(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<Limit> {
    if let DeValue::Table(t) = item.get_ref() {
        unknown_keys(r, t, key, &["step", "times"]);
        let step = required_in(r, t, &item.span(), key, "step", "the earlier step to compare with: `step = \"loaded\"`");
        let times = match field(t, key, "times") {
            Some((i, k)) => number(r, i, &k, 0.0, 1e6),
            None => Some(1.0),
        };
        return Some(Limit::Relative { step: step?, times: times? });
    }
    number(r, item, key, f64::MIN, f64::MAX).map(Limit::Value)
}

/// An integer or a float within `min..=max`.
fn number(r: &mut Report<'_>, item: &Item<'_>, key: &str, min: f64, max: f64) -> Option<f64> {
    let v = walk::number(r, item, key)?;
    if v < min || v > max {
        r.error(&item.span(), key, format!("{v} is out of range {min}..={max}"), None);
        return None;
    }
    Some(v)
}

/// Step names are unique, and a relative bound names an earlier step.
fn cross_checks(r: &mut Report<'_>, steps: &[(Step, Range<usize>)]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (step, span)) in steps.iter().enumerate() {
        if let Some(first) = seen.get(step.name.as_str()) {
            r.error(span, &format!("step[{i}].name"), format!("step `{}` is already step[{first}]", step.name), Some("give each step its own name".into()));
        }
        for check in &step.checks {
            if let Limit::Relative { step: earlier, .. } = &check.bound.limit {
                if !seen.contains_key(earlier.as_str()) {
                    let names: Vec<&str> = seen.keys().copied().collect();
                    let hint = suggest::did_you_mean(earlier, names.iter().copied())
                        .unwrap_or_else(|| if names.is_empty() { "the first step has nothing to compare with".into() } else { format!("earlier steps: {}", names.join(", ")) });
                    r.error(span, &check.key, format!("`{earlier}` is not an earlier step"), Some(hint));
                }
            }
        }
        seen.entry(&step.name).or_insert(i);
    }
}
