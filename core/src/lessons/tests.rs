use std::time::Duration;

use super::*;

const GOOD: &str = r#"
name = "independent-scaling"
title = "Independent scaling"
claim = "Scaling only the loaded service brings its latency down; nothing else changes."
services = ["gateway", "auth", "users", "media"]

[[step]]
name = "loaded"
text = "Auth gets more logins than one replica can serve."
actions = [
  { knobs = "auth", work_ms = 20, max_inflight = 1 },
  { start_load = "login-storm", rate = 70, duration = "2m" },
]
wait = "10s"
checks = [
  { measure = "p95_ms", service = "auth", window = "5s", above = 200, says = "auth's p95 is {value} ms" },
  { measure = "load_rate", at_least = 10 },
]

[[step]]
name = "scaled"
text = "Scale only auth."
actions = [{ scale = "auth", replicas = 3 }, { wait_ready = "auth" }, { wait = "5s" }]
checks = [
  { measure = "p95_ms", service = "auth", at_most = { step = "loaded", times = 0.5 } },
  { measure = "edge_errors", edge = "gateway -> auth", at_most = 0 },
  { measure = "spread_pct", service = "auth", below = 15 },
]

[[step]]
name = "back"
text = "Done."
actions = [{ stop_load = true }, { restart = "media" }, { kill = "analytics" }, { stop = "users" }, { start = "users" }, { load_rate = 5 }]
"#;

#[test]
fn a_complete_lesson_reads_into_its_model() {
    let l = parse_lesson(GOOD.as_bytes(), "scaling.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.name, "independent-scaling");
    assert_eq!(l.services, ["gateway", "auth", "users", "media"]);
    assert_eq!(l.steps.len(), 3);
    let loaded = &l.steps[0];
    assert_eq!(loaded.wait, Some(Duration::from_secs(10)));
    assert_eq!(
        loaded.actions,
        vec![
            Action::Knobs { service: "auth".into(), knobs: Knobs { work_ms: Some(20), max_inflight: Some(1), error_rate: None } },
            Action::StartLoad { scenario: "login-storm".into(), rate: 70.0, duration: Some(Duration::from_secs(120)) },
        ]
    );
    let c = &loaded.checks[0];
    assert_eq!((c.measure, &c.subject, c.window), (Measure::P95Ms, &Subject::Service("auth".into()), Duration::from_secs(5)));
    assert_eq!(c.bound, Bound { comparison: Comparison::Above, limit: Limit::Value(200.0) });
    assert_eq!(c.says.as_deref(), Some("auth's p95 is {value} ms"));
    assert_eq!(c.key, "step[0].checks[0]");
    assert_eq!(loaded.checks[1].subject, Subject::Load);
    let scaled = &l.steps[1];
    assert_eq!(scaled.actions[1], Action::WaitReady { service: "auth".into(), within: Duration::from_secs(30) });
    assert_eq!(scaled.checks[0].bound.limit, Limit::Relative { step: "loaded".into(), times: 0.5 });
    assert_eq!(scaled.checks[0].window, Duration::from_secs(5), "the default window");
    assert_eq!(scaled.checks[1].subject, Subject::Edge { caller: "gateway".into(), callee: "auth".into() });
    assert_eq!(
        l.steps[2].actions,
        vec![
            Action::StopLoad,
            Action::Restart { service: "media".into() },
            Action::Kill { service: "analytics".into(), replica: 0 },
            Action::Stop { service: "users".into() },
            Action::Start { service: "users".into() },
            Action::SetLoadRate { rate: 5.0 },
        ]
    );
}

/// Each bad file, and the first diagnostic it must give: `line:col`, key, a piece of the message.
#[test]
fn bad_lessons_name_the_line_column_and_key() {
    let head = "name = \"x\"\ntitle = \"X\"\nclaim = \"c\"\n";
    let step = |body: &str| format!("{head}[[step]]\nname = \"s\"\ntext = \"t\"\n{body}");
    let cases: Vec<(String, (usize, usize), &str, &str)> = vec![
        ("title = \"X\"\nclaim = \"c\"\n[[step]]\nname = \"s\"\ntext = \"t\"\n".into(), (1, 1), "name", "`name` is missing"),
        (format!("{head}colour = \"red\"\n[[step]]\nname = \"s\"\ntext = \"t\"\n"), (4, 1), "colour", "unknown key"),
        (head.to_string(), (1, 1), "step", "no steps"),
        ("name = \"Bad Name\"\ntitle = \"X\"\nclaim = \"c\"\n[[step]]\nname = \"s\"\ntext = \"t\"\n".into(), (1, 8), "name", "not a lesson name"),
        (step("actions = [{ scael = \"auth\", replicas = 2 }]\n"), (7, 12), "step[0].actions[0]", "no action named"),
        (step("actions = [{ stop = \"auth\", start = \"auth\" }]\n"), (7, 12), "step[0].actions[0]", "one action a table"),
        (step("actions = [{ scale = \"auth\", replicas = 99 }]\n"), (7, 41), "step[0].actions[0].replicas", "out of range"),
        (step("actions = [{ scale = \"auth\" }]\n"), (7, 12), "step[0].actions[0].replicas", "`replicas` is missing"),
        (step("wait = \"5 sec\"\n"), (7, 8), "step[0].wait", ""),
        (step("checks = [{ measure = \"p96_ms\", service = \"auth\", below = 1 }]\n"), (7, 23), "step[0].checks[0].measure", "is not one of"),
        (step("checks = [{ measure = \"rps\", service = \"auth\" }]\n"), (7, 11), "step[0].checks[0]", "no bound"),
        (step("checks = [{ measure = \"rps\", service = \"auth\", below = 1, above = 0 }]\n"), (7, 67), "step[0].checks[0].above", "one bound a check"),
        (step("checks = [{ measure = \"rps\", edge = \"a -> b\", below = 1 }]\n"), (7, 37), "step[0].checks[0]", "`rps` takes a `service`"),
        (step("checks = [{ measure = \"edge_rps\", edge = \"gateway\", below = 1 }]\n"), (7, 42), "step[0].checks[0].edge", "is not an edge"),
        (step("checks = [{ measure = \"p95_ms\", service = \"auth\", below = { step = \"loaded\" } }]\n"), (4, 1), "step[0].checks[0]", "not an earlier step"),
        (step("actions = [{ knobs = \"auth\", error_rate = 1.5 }]\n"), (7, 43), "step[0].actions[0].error_rate", "out of range"),
        (step("actions = [{ start_load = \"browse\" }]\n"), (7, 12), "step[0].actions[0].rate", "`rate` is missing"),
        (format!("{head}[[step]]\nname = \"s\"\ntext = \"t\"\n[[step]]\nname = \"s\"\ntext = \"u\"\n"), (7, 1), "step[1].name", "already step[0]"),
        (step("checks = [{ measure = \"rps\", service = \"auth\", below = \"3\" }]\n"), (7, 56), "step[0].checks[0].below", "found a string"),
        ("name = \"x\"\ntitle = \"X\n".into(), (2, 11), "title", "TOML syntax"),
        (step("actions = [{ knobs = \"auth\" }]\n"), (7, 12), "step[0].actions[0]", "no knob set"),
    ];
    assert!(cases.len() >= 10);
    let mut wrong = Vec::new();
    for (text, (line, column), key, message) in &cases {
        let err = match parse_lesson(text.as_bytes(), "bad.toml") {
            Ok(l) => panic!("accepted:\n{text}\nas {l:?}"),
            Err(LessonError::Invalid { diagnostics, .. }) => diagnostics,
            Err(e) => panic!("{e}"),
        };
        let d = &err[0];
        if ((d.line, d.column), d.key.as_str()) != ((*line, *column), *key) || !d.message.contains(message) {
            wrong.push(format!("want {line}:{column}: {key}: …{message}…\n got {d}\n in:\n{text}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "name = \"x\"\ntitle = \"X\"\nclaim = \"c\"\n[[step]]\nname = \"s\"\ntext = \"t\"\nactions = [{ scale = \"a\", replicas = -1 }, { restrat = \"b\" }]\nchecks = [{ measure = \"nope\", service = \"a\", below = 1 }]\n";
    let Err(LessonError::Invalid { diagnostics, .. }) = parse_lesson(text.as_bytes(), "f.toml") else { panic!("accepted") };
    let keys: Vec<&str> = diagnostics.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["step[0].actions[0].replicas", "step[0].actions[1]", "step[0].checks[0].measure"], "{diagnostics:?}");
    assert!(diagnostics[1].hint.as_deref().unwrap_or_default().contains("restart"), "{:?}", diagnostics[1]);
}

#[test]
fn files_that_are_not_lessons_are_refused_with_a_reason() {
    assert!(matches!(parse_lesson(b"", "e.toml"), Err(LessonError::Invalid { .. })));
    assert!(matches!(parse_lesson(b"\x00\x01\x02", "b.toml"), Err(LessonError::Invalid { .. })));
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
    for path in [big.as_path(), Path::new("/dev/zero")] {
        match load_lesson_file(path) {
            Err(e @ LessonError::Unreadable { .. }) => assert!(e.to_string().contains("at most 1 MiB"), "{e}"),
            other => panic!("{}: {other:?}", path.display()),
        }
    }
    assert!(matches!(load_lesson_file(&dir.path().join("missing.toml")), Err(LessonError::Unreadable { .. })));
    assert!(looks_like_lesson(GOOD));
    assert!(!looks_like_lesson("name = \"c\"\n[services.a]\ncommand = \"x\"\n"));
}
