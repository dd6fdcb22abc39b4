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
use super::parse::{ACTIONS, CHECK_KEYS, METHODS, DEFAULT_WINDOW, DEFAULT_WITHIN, MAX_RATE, MAX_WINDOW, MIN_WINDOW, STEP_KEYS, TOP_KEYS};
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
const REQUIRED_PARAMS: &[(&str, &str)] = &[("start_load", "rate"), ("scale", "replicas"), ("autoscale", "on"), ("request", "path")];
/// Actions whose keys are each optional but which need at least one of them.
const SOME_PARAM: &[&str] = &["knobs", "deploy", "fault"];
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
                "allOf": subjects.into_iter().chain([
                    json!({ "if": { "required": ["measure"], "properties": { "measure": { "const": "status" } } }, "then": { "required": ["path"] } }),
                    json!({ "if": { "required": ["path"] }, "then": { "required": ["measure"], "properties": { "measure": { "const": "status" } } } }),
                ]).collect::<Vec<_>>(),
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
        "path" => json!({ "description": "With `measure = \"status\"`: the path asked for with GET.", "type": "string", "pattern": "^/" }),
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
        "deploy" => service("Deploys the service with `env` set and `unset` removed, rolled out as a new revision."),
        "wait_rollout" => service("Waits until the service's rollout ends: complete, rolled back or paused."),
        "request" => service("Sends one HTTP request to the service's address; an answer of 500 or more, or none, ends the step."),
        "fault" => service("Injects a fault at the service's address: a `delay` (with `jitter`) and/or an `abort` percentage answered with `status`, for a while (`for`) or until cleared."),
        "clear_fault" => service("Clears the fault at the service's address."),
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
        "env" => json!({
            "description": "Environment variables to set, e.g. `{ VERSION = \"2\" }`.",
            "type": "object",
            "additionalProperties": { "type": "string" },
            "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }
        }),
        "method" => json!({ "description": "The request's method (default GET).", "type": "string", "enum": METHODS, "default": "GET" }),
        "path" => json!({ "description": "The request's path, e.g. \"/users/ada\".", "type": "string", "pattern": "^/" }),
        "body" => text("The request's body (sent as JSON)."),
        "unset" => json!({ "description": "Environment variables to remove.", "type": "array", "items": { "type": "string" } }),
        "delay" => duration_of("Held before each request is forwarded, e.g. \"5s\" (at most 10 minutes)."),
        "jitter" => duration_of("Each delay varies by up to this either way (at most the delay)."),
        "abort" => number("The percentage of requests the address answers itself with `status`.", 0.0, 100.0),
        "status" => {
            let mut s = integer("The status an abort answers (default 503).", 400, 599);
            s["default"] = json!(crate::proxy::fault::DEFAULT_STATUS);
            s
        }
        "for" => duration_of("The fault is cleared after this long (default: when cleared or the lesson ends)."),
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
#[path = "schema_tests.rs"]
mod tests;
