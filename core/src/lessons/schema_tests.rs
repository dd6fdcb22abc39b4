//! The lesson schema against the parser: every key, verb and measure listed, the documented
//! example and a table of cases that both accept or both refuse.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::lessons::model::Measure;
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
                for (k, val) in v.as_object().into_iter().flatten() {
                    if s.get("properties").and_then(|p| p.get(k)).is_some() {
                        continue;
                    }
                    match want {
                        Value::Bool(false) => out.push(format!("{at}: unknown key `{k}`")),
                        schema => out.extend(violations(root, schema, val, &format!("{at}.{k}"))),
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
            "then" | "pattern" | "propertyNames" | "$schema" | "title" | "description" | "default" | "definitions" => {}
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
    // Each measure falls under exactly one subject rule (the rules of `path` name one measure, by `const`).
    let rules = defs["check"]["allOf"].as_array().expect("subject rules").iter();
    let mut ruled: Vec<String> = rules.filter_map(|r| r["if"]["properties"]["measure"]["enum"].as_array().cloned()).flatten().map(|m| m.as_str().expect("a word").to_string()).collect();
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
        ("{ deploy = \"users\", env = { VERSION = \"2\" } }", true),
        ("{ deploy = \"users\", unset = [\"BAD_RELEASE\"] }", true),
        ("{ deploy = \"users\", env = { VERSION = \"3\" }, unset = [\"DEBUG\"] }", true),
        ("{ wait_rollout = \"users\" }", true),
        ("{ wait_rollout = \"users\", within = \"1m\" }", true),
        ("{ deploy = \"users\" }", false),
        ("{ deploy = \"users\", env = { VERSION = 2 } }", false),
        ("{ deploy = \"users\", unset = \"DEBUG\" }", false),
        ("{ deploy = \"users\", env = { VERSION = \"2\" }, replicas = 3 }", false),
        ("{ wait_rollout = \"users\", within = 60 }", false),
        ("{ request = \"users\", method = \"POST\", path = \"/users\", body = \"{}\" }", true),
        ("{ request = \"users\", path = \"/users/ada\" }", true),
        ("{ request = \"users\" }", false),
        ("{ request = \"users\", method = \"FETCH\", path = \"/users\" }", false),
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
        ("{ measure = \"status\", service = \"users\", path = \"/users/ada\", at_most = 200 }", true),
        ("{ measure = \"status\", service = \"users\", at_most = 200 }", false),
        ("{ measure = \"rps\", service = \"users\", path = \"/users\", at_most = 200 }", false),
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
        // `status` asks for a path.
        let path = if m == Measure::Status { "path = \"/\", " } else { "" };
        for (kind, subject) in subjects {
            let check = format!("{{ measure = \"{name}\", {subject}{path}at_least = 1 }}");
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
