//! `[[load.scenario]]` validation: the traffic mixes the load generator sends.

use std::collections::BTreeMap;
use std::ops::Range;

use hyper::header::{HeaderName, HeaderValue};
use toml::de::DeTable;

use super::source::Report;
use super::walk::{self, field, join, unknown_keys, Item};
use super::{placeholders, suggest, LoadConfig, RequestSpec, Scenario, Setup};

pub(crate) const LOAD_KEYS: &[&str] = &["scenario"];
pub(crate) const SCENARIO_KEYS: &[&str] = &["name", "target", "setup", "request"];
pub(crate) const REQUEST_KEYS: &[&str] = &["method", "path", "headers", "body", "weight"];
pub(crate) const SETUP_KEYS: &[&str] = &["method", "path", "headers", "body", "extract"];

/// The methods a scenario may send (RFC 9110 plus PATCH).
pub const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
/// Largest request weight; weights are relative, so more adds nothing.
pub const MAX_WEIGHT: i64 = 1000;

pub(crate) fn load(r: &mut Report<'_>, item: &Item<'_>, key: &str, services: &[&str]) -> LoadConfig {
    let mut config = LoadConfig::default();
    let Some(t) = walk::table(r, item, key, "write `[[load.scenario]]` tables") else { return config };
    unknown_keys(r, t, key, LOAD_KEYS);
    let Some((item, key)) = field(t, key, "scenario") else { return config };
    let Some(list) = walk::array(r, item, &key, "write `[[load.scenario]]`, with double brackets") else {
        return config;
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let Some(s) = scenario(r, item, &key, services) else { continue };
        if let Some(first) = seen.get(&s.name) {
            let message = format!("scenario `{}` is already defined (scenario {first})", s.name);
            let at = item.get_ref().get("name").map_or(item.span(), |n| n.span());
            r.error(&at, &join(&key, "name"), message, Some("give each scenario its own name".into()));
        }
        seen.insert(s.name.clone(), i);
        config.scenarios.push(s);
    }
    config
}

fn scenario(r: &mut Report<'_>, item: &Item<'_>, key: &str, services: &[&str]) -> Option<Scenario> {
    let t = walk::table(r, item, key, "write `[[load.scenario]]` with name, target and requests")?;
    unknown_keys(r, t, key, SCENARIO_KEYS);
    let name = required(r, t, key, "name", &item.span(), "name it: `name = \"browse\"`");
    let target = required(r, t, key, "target", &item.span(), "the service that receives it: `target = \"gateway\"`");
    if let Some((target, span)) = &target {
        if !services.contains(&target.as_str()) {
            let hint = suggest::did_you_mean(target, services.iter().copied())
                .unwrap_or_else(|| format!("services: {}", services.join(", ")));
            r.error(span, &join(key, "target"), format!("`{target}` is not a service"), Some(hint));
        }
    }
    let setup = field(t, key, "setup").and_then(|(item, k)| setup(r, item, &k));
    let vars: Vec<&str> = setup.as_ref().map(|s| s.extract.keys().map(String::as_str).collect()).unwrap_or_default();
    let mut requests = Vec::new();
    match field(t, key, "request") {
        Some((item, k)) => {
            if let Some(list) = walk::array(r, item, &k, "write `[[load.scenario.request]]`, with double brackets") {
                for (i, item) in list.iter().enumerate() {
                    if let Some(req) = request(r, item, &format!("{k}[{i}]"), REQUEST_KEYS, &vars) {
                        requests.push(req);
                    }
                }
                if list.is_empty() {
                    r.error(&item.span(), &k, "no requests", Some("add a `[[load.scenario.request]]` table".into()));
                }
            }
        }
        None => {
            let hint = "add `[[load.scenario.request]]` with `path = \"/\"`";
            r.error(&item.span(), &join(key, "request"), "a scenario needs at least one request", Some(hint.into()));
        }
    }
    Some(Scenario { name: name?.0, target: target?.0, setup, requests })
}

fn required(
    r: &mut Report<'_>,
    t: &DeTable<'_>,
    key: &str,
    name: &str,
    table_span: &Range<usize>,
    hint: &str,
) -> Option<(String, Range<usize>)> {
    match field(t, key, name) {
        Some((item, k)) => walk::text(r, item, &k).map(|s| (s.to_string(), item.span())),
        None => {
            r.error(table_span, &join(key, name), format!("missing `{name}`"), Some(hint.into()));
            None
        }
    }
}

fn setup(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<Setup> {
    let t = walk::table(r, item, key, "write `setup = { path = \"/login\", extract = { token = \"/token\" } }`")?;
    let request = request(r, item, key, SETUP_KEYS, &[])?;
    let mut extract = BTreeMap::new();
    if let Some((item, k)) = field(t, key, "extract") {
        if let Some(map) = walk::table(r, item, &k, "write `extract = { token = \"/token\" }`") {
            for (name, v) in map.iter() {
                let name = name.get_ref().as_ref();
                let vkey = join(&k, name);
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.is_empty() {
                    let hint = "letters, digits, `-` and `_`: it is used as `{{name}}`";
                    r.error(&v.span(), &vkey, format!("`{name}` cannot be a placeholder name"), Some(hint.into()));
                }
                let Some(pointer) = walk::string(r, v, &vkey) else { continue };
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    let hint = format!("a JSON pointer starts with `/`: \"/{pointer}\"");
                    r.error(&v.span(), &vkey, format!("`{pointer}` is not a JSON pointer"), Some(hint));
                }
                extract.insert(name.to_string(), pointer.to_string());
            }
        }
    }
    Some(Setup { request, extract })
}

/// A request table; `vars` are the `{{name}}` placeholders the setup provides.
fn request(r: &mut Report<'_>, item: &Item<'_>, key: &str, known: &[&str], vars: &[&str]) -> Option<RequestSpec> {
    let t = walk::table(r, item, key, "write `[[load.scenario.request]]` with `path = \"/\"`")?;
    unknown_keys(r, t, key, known);
    let mut templates: Vec<(String, String, Range<usize>)> = Vec::new();
    let method = match field(t, key, "method") {
        Some((item, k)) => {
            let m = walk::text(r, item, &k).map(str::to_string);
            if let Some(m) = m.as_deref().filter(|m| !METHODS.contains(m)) {
                let hint = suggest::did_you_mean(m, METHODS).unwrap_or_else(|| format!("one of: {}", METHODS.join(", ")));
                r.error(&item.span(), &k, format!("`{m}` is not an HTTP method"), Some(hint));
            }
            m
        }
        None => Some("GET".to_string()),
    };
    let path = required(r, t, key, "path", &item.span(), "the request path: `path = \"/\"`");
    if let Some((p, span)) = &path {
        if !p.starts_with('/') {
            r.error(span, &join(key, "path"), format!("`{p}` is not a path"), Some(format!("start it with `/`: \"/{p}\"")));
        }
        templates.push((join(key, "path"), p.clone(), span.clone()));
    }
    let mut headers = BTreeMap::new();
    if let Some((item, k)) = field(t, key, "headers") {
        if let Some(map) = walk::table(r, item, &k, "write `headers = { Accept = \"application/json\" }`") {
            for (name, v) in map.iter() {
                let hkey = join(&k, name.get_ref());
                if HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
                    let hint = "letters, digits and `-`, e.g. `Content-Type`";
                    r.error(&name.span(), &hkey, format!("`{}` is not a header name", name.get_ref()), Some(hint.into()));
                }
                let Some(value) = walk::string(r, v, &hkey) else { continue };
                if HeaderValue::from_str(value).is_err() {
                    r.error(&v.span(), &hkey, "not a valid header value", Some("no line breaks or control characters".into()));
                }
                templates.push((hkey, value.to_string(), v.span()));
                headers.insert(name.get_ref().to_string(), value.to_string());
            }
        }
    }
    let body = field(t, key, "body").and_then(|(item, k)| {
        let b = walk::string(r, item, &k)?;
        templates.push((k, b.to_string(), item.span()));
        Some(b.to_string())
    });
    let weight = match field(t, key, "weight") {
        Some((item, k)) => walk::integer(r, item, &k, 1..MAX_WEIGHT + 1, "a relative weight, 1..=1000; remove the request to send none")
            .and_then(|w| u32::try_from(w).ok()),
        None => Some(1),
    };
    for (k, template, span) in &templates {
        for var in placeholders::variables(template) {
            if !vars.contains(&var.as_str()) {
                let hint = suggest::did_you_mean(&var, vars.iter().copied())
                    .unwrap_or_else(|| "fill it from a setup request: `extract = { NAME = \"/json/pointer\" }`".into());
                r.error(span, k, format!("`{{{{{var}}}}}` is not set by the scenario's setup"), Some(hint));
            }
        }
    }
    Some(RequestSpec { method: method?, path: path?.0, headers, body, weight: weight? })
}
