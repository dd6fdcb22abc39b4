//! The lesson file's JSON Schema, so editors (Taplo reads a first-line `#:schema` comment) can
//! complete and check a lesson as they do a manifest. It is built from the parser's own key
//! lists and words (`parse`'s TOP_KEYS, STEP_KEYS, CHECK_KEYS, ACTIONS; `model`'s MEASURES
//! and COMPARISONS), so a key the parser learns is a key the schema offers, and checked in
//! at `core/schema/lesson.schema.json`. Draft-07, the dialect every TOML editor reads.
//!
//! What needs the whole file stays `microdeck check`'s: unique step names, a relative bound
//! naming an earlier step, a window's and a duration's limits.

use serde_json::{json, Map, Value};

use super::model::{SubjectKind, COMPARISONS, MEASURES};
use super::parse::{ACTIONS, CHECK_KEYS, DEFAULT_WINDOW, DEFAULT_WITHIN, MAX_RATE, MAX_WINDOW, MIN_WINDOW, STEP_KEYS, TOP_KEYS};
use crate::manifest::duration;
use crate::manifest::raw::DURATION_PATTERN;
use crate::manifest::MAX_REPLICAS;

/// Where the checked-in schema lives, relative to the `core/` crate.
pub const SCHEMA_PATH: &str = "schema/lesson.schema.json";

/// Lower-case letters, digits and `-`, neither first nor last (parse.rs's `is_lesson_name`).
const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
/// Something non-blank on each side of an arrow; looser than the parser, never stricter.
const EDGE_PATTERN: &str = r"\S\s*->\s*\S";
/// The parser's `text`: a string with something besides white space.
const TEXT_PATTERN: &str = r"\S";
/// The keys besides its verb that an action cannot do without.
const REQUIRED_PARAMS: &[(&str, &str)] = &[("start_load", "rate"), ("scale", "replicas"), ("autoscale", "on")];
/// Actions whose keys are each optional but which need at least one of them.
const SOME_PARAM: &[&str] = &["knobs"];
/// What a measure can be taken on: one `if`/`then` rule each in a check.
const SUBJECTS: [SubjectKind; 3] = [SubjectKind::Service, SubjectKind::Edge, SubjectKind::Load];

/// The schema as a JSON value.
pub fn json_schema() -> Value {
    let verbs: Vec<Value> = ACTIONS.iter().map(|(verb, params)| action(verb, params)).collect();
    let one_bound: Vec<Value> = COMPARISONS.iter().map(|(word, _)| json!({ "required": [word] })).collect();
    let subjects: Vec<Value> = SUBJECTS.iter().map(|k| subject(*k)).collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Microdeck lesson",
        "description": "A lesson (docs/lessons.md): a claim, the services it needs, and steps of actions and checks. `microdeck check FILE` also checks what a schema cannot: unique step names, relative bounds naming earlier steps, windows and durations in range.",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "title", "claim", "step"],
        "properties": properties(TOP_KEYS, top_key),
        "definitions": {
            "step": {
                "description": "One step: what the learner reads, the actions run in order, a wait, then the checks.",
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "text"],
                "properties": properties(STEP_KEYS, step_key),
            },
            "action": {
                "description": "One verb a table, with its own keys: `{ scale = \"auth\", replicas = 3 }`.",
                "oneOf": verbs,
            },
            "check": {
                "description": "A measurement over a window against one bound: `{ measure = \"p95_ms\", service = \"auth\", below = 200 }`.",
                "type": "object",
                "additionalProperties": false,
                "required": ["measure"],
                "properties": properties(CHECK_KEYS, check_key),
                // Each branch requires one bound word, so two words match two branches: not one.
                "oneOf": one_bound,
                "allOf": subjects,
            },
            "bound": {
                "description": "A number, or `{ step = \"loaded\", times = 0.5 }`: the same measurement at the end of an earlier step, times a factor.",
                "oneOf": [
                    { "type": "number" },
                    {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["step"],
                        "properties": {
                            "step": text("An earlier step's name."),
                            "times": { "description": "The factor (default 1).", "type": "number", "minimum": 0, "maximum": 1_000_000, "default": 1 },
                        },
                    },
                ],
            },
        },
    })
}

/// The schema as the checked-in file spells it: pretty JSON and a final newline.
pub fn render() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    s.push('\n');
    s
}

fn properties(keys: &[&str], schema_of: fn(&str) -> Value) -> Value {
    Value::Object(keys.iter().map(|k| (k.to_string(), schema_of(k))).collect())
}

/// A key the parser knows and this file has no type for: still offered, and a test fails.
fn untyped() -> Value {
    json!({})
}

fn text(description: &str) -> Value {
    json!({ "description": description, "type": "string", "pattern": TEXT_PATTERN })
}

fn service(description: &str) -> Value {
    text(description)
}

fn duration_of(description: &str) -> Value {
    json!({ "description": description, "type": "string", "pattern": DURATION_PATTERN })
}

fn number(description: &str, min: f64, max: f64) -> Value {
    json!({ "description": description, "type": "number", "minimum": whole(min), "maximum": whole(max) })
}

/// `100000` rather than `100000.0` in the file, when the limit is whole.
fn whole(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn integer(description: &str, min: i64, max: i64) -> Value {
    json!({ "description": description, "type": "integer", "minimum": min, "maximum": max })
}

fn list_of(definition: &str, description: &str) -> Value {
    json!({ "description": description, "type": "array", "items": { "$ref": format!("#/definitions/{definition}") } })
}

fn top_key(key: &str) -> Value {
    match key {
        "name" => json!({
            "description": "How the lesson is named on the command line: lower-case letters, digits and `-`.",
            "type": "string",
            "pattern": NAME_PATTERN,
        }),
        "title" => text("Shown in lists."),
        "claim" => text("The claim it demonstrates, one sentence."),
        "services" => json!({
            "description": "The services it needs (checked against the running cluster when it runs).",
            "type": "array",
            "items": { "type": "string" },
        }),
        "step" => {
            let mut steps = list_of("step", "The steps, in order (`[[step]]`); at least one.");
            steps["minItems"] = json!(1);
            steps
        }
        _ => untyped(),
    }
}

fn step_key(key: &str) -> Value {
    match key {
        "name" => text("Unique in the lesson; relative bounds name it."),
        "text" => text("What the learner reads (short Markdown)."),
        "actions" => list_of("action", "Actions, run in order."),
        "wait" => duration_of("Time for the actions to show before the checks measure, e.g. \"10s\"."),
        "checks" => list_of("check", "Checks, measured after the wait."),
        _ => untyped(),
    }
}

fn check_key(key: &str) -> Value {
    match key {
        "measure" => {
            let names: Vec<&str> = MEASURES.iter().map(|(n, _)| *n).collect();
            let on = |kind| MEASURES.iter().filter(|(_, m)| m.subject_kind() == kind).map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
            json!({
                "description": format!(
                    "What is measured. On a `service`: {}. On an `edge`: {}. On the running load (neither): {}.",
                    on(SubjectKind::Service),
                    on(SubjectKind::Edge),
                    on(SubjectKind::Load)
                ),
                "type": "string",
                "enum": names,
            })
        }
        "service" => service("The service measured."),
        "edge" => json!({
            "description": "The edge measured, \"caller -> callee\" (`external` for callers outside the cluster).",
            "type": "string",
            "pattern": EDGE_PATTERN,
        }),
        "window" => {
            let mut w = duration_of(&format!(
                "How far back the measurement looks: {} to {}m.",
                duration::format(MIN_WINDOW),
                MAX_WINDOW.as_secs() / 60
            ));
            w["default"] = json!(duration::format(DEFAULT_WINDOW));
            w
        }
        "says" => text("The sentence a result is told with; {value} and {bound} become the numbers."),
        _ if COMPARISONS.iter().any(|(word, _)| *word == key) => json!({ "$ref": "#/definitions/bound" }),
        _ => untyped(),
    }
}

/// One branch of the action's `oneOf`: the verb, required, and only its own keys.
fn action(verb: &str, params: &[&str]) -> Value {
    let mut props = Map::new();
    props.insert(verb.to_string(), verb_value(verb));
    for p in params {
        props.insert(p.to_string(), param(p));
    }
    let mut required = vec![verb];
    required.extend(REQUIRED_PARAMS.iter().filter(|(v, _)| *v == verb).map(|(_, p)| *p));
    let mut a = json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props });
    if SOME_PARAM.contains(&verb) {
        // The verb and at least one of its keys (the others are not allowed).
        a["minProperties"] = json!(2);
    }
    a
}

fn verb_value(verb: &str) -> Value {
    match verb {
        "start_load" => text("Starts a load scenario of the manifest at `rate` requests a second."),
        "load_rate" => number("Changes the running load's rate, requests a second.", 0.0, MAX_RATE),
        "stop_load" => json!({ "description": "Stops the load: `stop_load = true`.", "type": "boolean", "const": true }),
        "scale" => service("Scales the service to `replicas`."),
        "stop" => service("Stops the service."),
        "start" => service("Starts the service."),
        "restart" => service("Restarts the service, rolling."),
        "kill" => service("Kills one replica of the service (SIGKILL)."),
        "knobs" => service("Sets the sample kit's knobs on the service: any of work_ms, max_inflight, error_rate."),
        "wait" => duration_of("Waits this long, e.g. \"5s\"."),
        "wait_ready" => service("Waits until every replica of the service is ready."),
        "autoscale" => service("Switches the service's autoscaler on (`on = true`) or off."),
        _ => untyped(),
    }
}

/// The ranges are parse.rs's; the agreement test below catches one that drifts.
fn param(key: &str) -> Value {
    match key {
        "rate" => number("Requests a second.", 0.0, MAX_RATE),
        "duration" => duration_of("How long the load runs (optional)."),
        "replicas" => integer("How many replicas.", 0, MAX_REPLICAS.into()),
        "replica" => {
            let mut r = integer("Which replica, from 0 (default 0).", 0, i64::from(MAX_REPLICAS) - 1);
            r["default"] = json!(0);
            r
        }
        "work_ms" => integer("Milliseconds of work a request.", 0, 60_000),
        "max_inflight" => integer("Requests a replica serves at once.", 1, 10_000),
        "error_rate" => number("The share of requests that fail, 0 to 1.", 0.0, 1.0),
        "on" => json!({ "description": "On (true) or off (false).", "type": "boolean" }),
        "within" => {
            let mut w = duration_of("How long to wait at most.");
            w["default"] = json!(duration::format(DEFAULT_WITHIN));
            w
        }
        _ => untyped(),
    }
}

/// The subject a measure of this kind takes: a `service`, an `edge`, or neither.
fn subject(kind: SubjectKind) -> Value {
    let measures: Vec<&str> = MEASURES.iter().filter(|(_, m)| m.subject_kind() == kind).map(|(n, _)| *n).collect();
    let then = match kind {
        SubjectKind::Service => json!({ "required": ["service"], "properties": { "edge": false } }),
        SubjectKind::Edge => json!({ "required": ["edge"], "properties": { "service": false } }),
        SubjectKind::Load => json!({ "properties": { "service": false, "edge": false } }),
    };
    json!({ "if": { "required": ["measure"], "properties": { "measure": { "enum": measures } } }, "then": then })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::lessons::parse_lesson;

    fn keys(node: &Value) -> BTreeSet<String> {
        node["properties"].as_object().expect("properties").keys().cloned().collect()
    }

    fn set(words: impl IntoIterator<Item = impl ToString>) -> BTreeSet<String> {
        words.into_iter().map(|w| w.to_string()).collect()
    }

    /// Why `v` does not fit `schema`, for the keywords this schema uses; `pattern` goes
    /// unchecked (no regex engine here). A keyword it does not know is itself a violation, so
    /// the schema cannot grow one that these tests silently skip.
    fn violations(root: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let s = match schema {
            Value::Bool(true) => return vec![],
            Value::Bool(false) => return vec![format!("{at}: not allowed")],
            Value::Object(s) => s,
            other => return vec![format!("{at}: {other} is not a schema")],
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let def = &root["definitions"][r.trim_start_matches("#/definitions/")];
            assert!(!def.is_null(), "{r} is not a definition");
            return violations(root, def, v, at);
        }
        let fits = |sub: &Value| violations(root, sub, v, at).is_empty();
        let mut out = Vec::new();
        for (keyword, want) in s {
            match keyword.as_str() {
                "type" => {
                    let ok = match want.as_str() {
                        Some("object") => v.is_object(),
                        Some("array") => v.is_array(),
                        Some("string") => v.is_string(),
                        Some("number") => v.is_number(),
                        Some("integer") => v.is_i64() || v.is_u64(),
                        Some("boolean") => v.is_boolean(),
                        _ => false,
                    };
                    if !ok {
                        out.push(format!("{at}: {v} is not {want}"));
                    }
                }
                "const" if v != want => out.push(format!("{at}: {v} is not {want}")),
                "enum" if !want.as_array().expect("enum").contains(v) => out.push(format!("{at}: {v} is not one of {want}")),
                "minimum" if v.as_f64().is_some_and(|x| x < want.as_f64().expect("minimum")) => out.push(format!("{at}: {v} < {want}")),
                "maximum" if v.as_f64().is_some_and(|x| x > want.as_f64().expect("maximum")) => out.push(format!("{at}: {v} > {want}")),
                "minItems" if v.as_array().is_some_and(|a| (a.len() as u64) < want.as_u64().expect("minItems")) => {
                    out.push(format!("{at}: fewer than {want} items"))
                }
                "minProperties" if v.as_object().is_some_and(|o| (o.len() as u64) < want.as_u64().expect("minProperties")) => {
                    out.push(format!("{at}: fewer than {want} keys"))
                }
                "items" => {
                    for (i, el) in v.as_array().into_iter().flatten().enumerate() {
                        out.extend(violations(root, want, el, &format!("{at}[{i}]")));
                    }
                }
                "properties" => {
                    for (k, val) in v.as_object().into_iter().flatten() {
                        if let Some(p) = want.get(k) {
                            out.extend(violations(root, p, val, &format!("{at}.{k}")));
                        }
                    }
                }
                "additionalProperties" => {
                    assert_eq!(want, &Value::Bool(false), "{at}: only `additionalProperties: false` is checked");
                    for k in v.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if s.get("properties").and_then(|p| p.get(k)).is_none() {
                            out.push(format!("{at}: unknown key `{k}`"));
                        }
                    }
                }
                "required" => {
                    for r in want.as_array().expect("required").iter().filter_map(Value::as_str) {
                        if v.as_object().is_some_and(|o| !o.contains_key(r)) {
                            out.push(format!("{at}: `{r}` is missing"));
                        }
                    }
                }
                "oneOf" => {
                    let n = want.as_array().expect("oneOf").iter().filter(|b| fits(b)).count();
                    if n != 1 {
                        out.push(format!("{at}: fits {n} of the oneOf's branches, not one"));
                    }
                }
                "allOf" => want.as_array().expect("allOf").iter().for_each(|b| out.extend(violations(root, b, v, at))),
                "if" => {
                    if fits(want) {
                        out.extend(s.get("then").map(|t| violations(root, t, v, at)).unwrap_or_default());
                    }
                }
                "const" | "enum" | "minimum" | "maximum" | "minItems" | "minProperties" => {}
                "then" | "pattern" | "$schema" | "title" | "description" | "default" | "definitions" => {}
                other => out.push(format!("{at}: the test's validator does not know `{other}`")),
            }
        }
        out
    }

    fn fits(text: &str) -> Vec<String> {
        let schema = json_schema();
        let v: Value = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        violations(&schema, &schema, &v, "lesson")
    }

    fn documented_example() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lessons.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let start = doc.find("```toml\n").expect("a ```toml block in docs/lessons.md") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("the block's end");
        doc[start..end].to_string()
    }

    #[test]
    fn schema_file_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let generated = render();
        if std::env::var_os("MICRODECK_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write schema");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{} differs from the schema generated from core/src/lessons/parse.rs and model.rs;\n\
             regenerate it with: MICRODECK_BLESS=1 cargo test -p microdeck --lib lessons::schema",
            path.display()
        );
    }

    #[test]
    fn every_key_verb_and_measure_is_in_the_schema() {
        let s = json_schema();
        let defs = &s["definitions"];
        assert_eq!(keys(&s), set(TOP_KEYS));
        assert_eq!(keys(&defs["step"]), set(STEP_KEYS));
        assert_eq!(keys(&defs["check"]), set(CHECK_KEYS));

        let branches = defs["action"]["oneOf"].as_array().expect("action's oneOf");
        assert_eq!(branches.len(), ACTIONS.len());
        for (verb, params) in ACTIONS {
            let mine: Vec<&Value> = branches.iter().filter(|b| b["required"].as_array().is_some_and(|r| r.contains(&json!(verb)))).collect();
            assert_eq!(mine.len(), 1, "`{verb}` should be required by exactly one action branch");
            assert_eq!(keys(mine[0]), set(std::iter::once(verb).chain(params.iter())), "`{verb}`'s keys");
        }

        let measures = set(MEASURES.iter().map(|(n, _)| n));
        let listed: Vec<String> = defs["check"]["properties"]["measure"]["enum"].as_array().expect("measure's enum").iter().map(|m| m.as_str().expect("a word").to_string()).collect();
        assert_eq!(set(&listed), measures);
        assert_eq!(listed.len(), MEASURES.len());
        // Each measure falls under exactly one subject rule.
        let mut ruled: Vec<String> = defs["check"]["allOf"].as_array().expect("subject rules").iter().flat_map(|r| r["if"]["properties"]["measure"]["enum"].as_array().expect("a rule's measures").clone()).map(|m| m.as_str().expect("a word").to_string()).collect();
        ruled.sort();
        assert_eq!(ruled, measures.iter().cloned().collect::<Vec<_>>());

        let bounds: Vec<&Value> = defs["check"]["oneOf"].as_array().expect("one bound").iter().map(|b| &b["required"][0]).collect();
        assert_eq!(set(bounds.iter().map(|b| b.as_str().expect("a word"))), set(COMPARISONS.iter().map(|(w, _)| w)));

        // A key the parser learned without a type here is `{}`: typed it must be.
        let mut without_type = Vec::new();
        let mut nodes: Vec<(String, &Value)> = vec![("lesson".into(), &s)];
        nodes.extend(defs.as_object().expect("definitions").iter().map(|(n, d)| (n.clone(), d)));
        nodes.extend(branches.iter().map(|b| (format!("action {}", b["required"][0]), b)));
        for (at, node) in nodes {
            for (k, p) in node["properties"].as_object().into_iter().flatten() {
                if p == &untyped() {
                    without_type.push(format!("{at}.{k}"));
                }
            }
        }
        assert!(without_type.is_empty(), "keys without a type in schema.rs: {without_type:?}");
    }

    #[test]
    fn the_documented_example_fits_the_schema() {
        let example = documented_example();
        assert!(parse_lesson(example.as_bytes(), "docs/lessons.md").is_ok(), "the parser rejects docs/lessons.md's example");
        let v = fits(&example);
        assert!(v.is_empty(), "docs/lessons.md's example does not fit the schema:\n{}", v.join("\n"));
    }

    fn lesson(top: &str, step: &str) -> String {
        format!(
            "name = \"agree\"\ntitle = \"Agree\"\nclaim = \"The schema and the parser agree.\"\n{top}\n\
             [[step]]\nname = \"loaded\"\ntext = \"First.\"\n\n[[step]]\nname = \"then\"\ntext = \"Second.\"\n{step}\n"
        )
    }

    /// Lessons on both sides of every line the schema draws (types, ranges, required and
    /// unknown keys, one verb, one bound, the subject): the parser and the schema must agree
    /// on each, so a rule that drifts in either fails here. What only the parser can see
    /// (patterns, step names, window lengths) is not asked.
    #[test]
    fn the_schema_and_the_parser_agree() {
        let whole = lesson("", "");
        let mut cases: Vec<(String, bool)> = vec![
            (whole.clone(), true),
            (lesson("services = [\"auth\", \"media\"]", "wait = \"5s\""), true),
            (whole.replace("claim = \"The schema and the parser agree.\"\n", ""), false),
            (whole.replace("name = \"agree\"\n", ""), false),
            (whole.replace("text = \"Second.\"\n", ""), false),
            (whole.replace("name = \"then\"\n", ""), false),
            ("name = \"agree\"\ntitle = \"Agree\"\nclaim = \"C.\"\n".to_string(), false),
            ("name = \"agree\"\ntitle = \"Agree\"\nclaim = \"C.\"\nstep = []\n".to_string(), false),
            (lesson("colour = \"red\"", ""), false),
            (whole.replace("title = \"Agree\"", "title = 3"), false),
            (lesson("services = \"auth\"", ""), false),
            (lesson("", "wiat = \"5s\""), false),
            (lesson("", "wait = 5"), false),
            (lesson("", "actions = { stop = \"auth\" }"), false),
        ];
        let actions = [
            ("{ start_load = \"browse\", rate = 30, duration = \"1m\" }", true),
            ("{ start_load = \"browse\", rate = 0.5 }", true),
            ("{ load_rate = 70 }", true),
            ("{ stop_load = true }", true),
            ("{ scale = \"auth\", replicas = 0 }", true),
            ("{ scale = \"auth\", replicas = 16 }", true),
            ("{ stop = \"auth\" }", true),
            ("{ start = \"auth\" }", true),
            ("{ restart = \"auth\" }", true),
            ("{ kill = \"analytics\" }", true),
            ("{ kill = \"analytics\", replica = 15 }", true),
            ("{ knobs = \"auth\", work_ms = 60000, max_inflight = 1, error_rate = 1 }", true),
            ("{ knobs = \"auth\", error_rate = 0 }", true),
            ("{ knobs = \"auth\", max_inflight = 10000 }", true),
            ("{ wait = \"5s\" }", true),
            ("{ wait_ready = \"auth\" }", true),
            ("{ wait_ready = \"auth\", within = \"30s\" }", true),
            ("{ explode = \"auth\" }", false),
            ("{ restart = \"auth\", stop = \"auth\" }", false),
            ("{ restart = \"auth\", replicas = 3 }", false),
            ("\"restart auth\"", false),
            ("{ start_load = \"browse\" }", false),
            ("{ start_load = \"browse\", rate = 100001 }", false),
            ("{ start_load = \"browse\", rate = \"30\" }", false),
            ("{ start_load = \"browse\", rate = 30, duration = 60 }", false),
            ("{ load_rate = -1 }", false),
            ("{ stop_load = false }", false),
            ("{ stop_load = \"yes\" }", false),
            ("{ scale = \"auth\" }", false),
            ("{ scale = \"auth\", replicas = 17 }", false),
            ("{ scale = \"auth\", replicas = 2.0 }", false),
            ("{ scale = 3, replicas = 2 }", false),
            ("{ kill = \"analytics\", replica = 16 }", false),
            ("{ kill = \"analytics\", replica = \"0\" }", false),
            ("{ knobs = \"auth\" }", false),
            ("{ knobs = \"auth\", work_ms = 60001 }", false),
            ("{ knobs = \"auth\", max_inflight = 0 }", false),
            ("{ knobs = \"auth\", error_rate = 1.5 }", false),
            ("{ knobs = \"auth\", work_ms = 20.5 }", false),
            ("{ knobs = \"auth\", max_inflight = \"4\" }", false),
            ("{ knobs = \"auth\", work_ms = 20, colour = \"red\" }", false),
            ("{ wait = 5 }", false),
            ("{ wait_ready = \"auth\", within = 30 }", false),
        ];
        cases.extend(actions.iter().map(|(a, ok)| (lesson("", &format!("actions = [{a}]")), *ok)));
        let checks = [
            ("{ measure = \"p95_ms\", service = \"auth\", below = 200, window = \"15m\", says = \"{value} ms\" }", true),
            ("{ measure = \"rps\", service = \"auth\", at_most = { step = \"loaded\", times = 0.5 } }", true),
            ("{ measure = \"rps\", service = \"auth\", at_most = { step = \"loaded\" } }", true),
            ("{ measure = \"restarts\", service = \"auth\", below = -1 }", true),
            ("{ measure = \"load_rate\", above = 10.5 }", true),
            ("{ measure = \"p95\", service = \"auth\", below = 1 }", false),
            ("{ service = \"auth\", below = 1 }", false),
            ("{ measure = \"rps\", service = \"auth\" }", false),
            ("{ measure = \"rps\", service = \"auth\", below = 1, above = 2 }", false),
            ("{ measure = \"rps\", service = \"auth\", below = \"1\" }", false),
            ("{ measure = \"rps\", service = \"auth\", below = { step = \"loaded\", factor = 2 } }", false),
            ("{ measure = \"rps\", service = \"auth\", below = { times = 2 } }", false),
            ("{ measure = \"rps\", service = \"auth\", below = { step = \"loaded\", times = -1 } }", false),
            ("{ measure = \"rps\", service = \"auth\", below = 1, colour = \"red\" }", false),
            ("{ measure = \"rps\", service = \"auth\", below = 1, window = 5 }", false),
            ("{ measure = \"rps\", service = \"auth\", below = 1, says = 3 }", false),
        ];
        cases.extend(checks.iter().map(|(c, ok)| (lesson("", &format!("checks = [{c}]")), *ok)));
        // Every measure with its own subject, and with each of the others.
        let subjects = [(SubjectKind::Service, "service = \"auth\", "), (SubjectKind::Edge, "edge = \"gateway -> auth\", "), (SubjectKind::Load, "")];
        for (name, m) in MEASURES {
            for (kind, subject) in subjects {
                let check = format!("{{ measure = \"{name}\", {subject}at_least = 1 }}");
                cases.push((lesson("", &format!("checks = [{check}]")), m.subject_kind() == kind));
            }
            cases.push((lesson("", &format!("checks = [{{ measure = \"{name}\", service = \"a\", edge = \"a -> b\", at_least = 1 }}]")), false));
        }

        let mut disagree = Vec::new();
        for (text, ok) in &cases {
            let parser = parse_lesson(text.as_bytes(), "case.toml");
            let schema = fits(text);
            if parser.is_ok() != *ok || schema.is_empty() != *ok {
                disagree.push(format!(
                    "expected {}; parser: {}; schema: {:?}\n{text}",
                    if *ok { "valid" } else { "invalid" },
                    parser.as_ref().map_or_else(|e| e.to_string(), |_| "valid".into()),
                    schema
                ));
            }
        }
        assert!(disagree.is_empty(), "{} of {} cases:\n\n{}", disagree.len(), cases.len(), disagree.join("\n\n"));
    }
}
