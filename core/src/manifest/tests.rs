//! Behaviour of `parse_manifest` / `parse_procfile` as a whole: defaults, order,
//! every error at once, cycles, and what a Procfile becomes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn ok(text: &str) -> Manifest {
    match parse_manifest(text.as_bytes(), "m.toml", Path::new("/srv/demo")) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse_manifest(text.as_bytes(), "m.toml", Path::new(".")) {
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        other => panic!("expected errors, got {other:?}"),
    }
}

fn procfile(text: &str) -> Result<Manifest, Vec<Diagnostic>> {
    match parse_procfile(text.as_bytes(), "Procfile", Path::new("/srv/app")) {
        Ok(m) => Ok(m),
        Err(LoadError::Invalid { diagnostics, .. }) => Err(diagnostics),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn defaults_are_what_a_newcomer_expects() {
    let m = ok("[services.web]\ncommand = \"./web\"\n");
    assert_eq!(m.name, "demo", "named after its folder");
    let s = &m.services[0];
    assert_eq!(s.run, Run::Command { program: "./web".into(), args: vec![] });
    assert_eq!(s.cwd, Some(PathBuf::from("/srv/demo")));
    assert_eq!((s.replicas, s.port, s.protocol, s.restart), (1, None, Protocol::Http, RestartPolicy::Always));
    assert_eq!(s.stop_grace, Duration::from_secs(5));
    assert_eq!(s.health, Health::default());
    assert_eq!(s.health.check, HealthCheck::Process);
    assert_eq!((s.health.interval, s.health.timeout), (Duration::from_secs(1), Duration::from_millis(500)));
    assert_eq!((s.health.failure_threshold, s.health.success_threshold), (3, 1));
    assert_eq!(s.health.start_period, Duration::from_secs(10));
    assert!(!s.optional && s.depends_on.is_empty() && s.env.is_empty());
    assert_eq!(s.balance, Balance::RoundRobin);
    assert_eq!((s.response_timeout, s.idle_timeout), (Duration::from_secs(60), Duration::from_secs(600)));
    assert_eq!((s.progress_deadline, s.rollback), (Duration::from_secs(30), Rollback::Auto));
}

#[test]
fn rollout_keys_are_read() {
    let m = ok("[services.web]\ncommand = \"./web\"\nprogress_deadline = \"5s\"\nrollback = \"manual\"\n");
    assert_eq!((m.services[0].progress_deadline, m.services[0].rollback), (Duration::from_secs(5), Rollback::Manual));
}

#[test]
fn services_keep_manifest_order_and_start_after_their_dependencies() {
    let m = ok(r#"
[services.zeta]
command = "z"
depends_on = ["alpha"]
cwd = "z"
[services.alpha]
shell = "a --port $PORT"
env = { B = "{{zeta.url}}" }
"#);
    let names: Vec<&str> = m.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    assert_eq!(m.start_order(), ["alpha", "zeta"]);
    assert_eq!(m.services[0].cwd, Some(PathBuf::from("/srv/demo/z")));
    assert_eq!(m.services[1].env["B"], "{{zeta.url}}", "env stays a template until launch");
}

#[test]
fn every_error_of_a_file_is_reported_in_source_order() {
    let d = errors(
        r#"
[services.a]
command = "a"
replicas = 17
depends_on = ["b"]
[services.b]
command = "b"
depends_on = ["c"]
protocol = "udp"
[services.c]
command = "c"
depends_on = ["a"]
stop_grace = "soon"
"#,
    );
    let got: Vec<(usize, &str)> = d.iter().map(|d| (d.line, d.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "services.a.replicas"),
            (5, "services.a.depends_on"),
            (9, "services.b.protocol"),
            (13, "services.c.stop_grace"),
        ]
    );
    assert_eq!(d[1].message, "dependency cycle: a → b → c → a");
}

#[test]
fn two_cycles_are_two_errors() {
    let d = errors(
        r#"
[services.a]
command = "a"
depends_on = ["b"]
[services.b]
command = "b"
depends_on = ["a"]
[services.c]
command = "c"
depends_on = ["c"]
"#,
    );
    let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages, ["dependency cycle: a → b → a", "dependency cycle: c → c"]);
}

#[test]
fn a_syntax_error_does_not_hide_the_rest_of_the_file() {
    let d = errors("[services.a]\ncommand = \"a\"\nport = 80 80\n[services.b]\ncommand = \"b\"\nreplicas = 99\n");
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.starts_with("TOML syntax") && d[0].line == 3 && d[0].key == "services.a.port");
    assert_eq!((d[1].line, d[1].key.as_str()), (6, "services.b.replicas"));
}

#[test]
fn scenarios_are_read_with_their_defaults() {
    let m = ok(r#"
[services.gw]
command = "gw"
[[load.scenario]]
name = "login"
target = "gw"
setup = { method = "POST", path = "/login", body = "{}", extract = { token = "/token" } }
[[load.scenario.request]]
path = "/me"
headers = { Authorization = "Bearer {{token}}" }
[[load.scenario.request]]
method = "DELETE"
path = "/me"
weight = 3
"#);
    let s = &m.load.scenarios[0];
    assert_eq!((s.name.as_str(), s.target.as_str()), ("login", "gw"));
    let setup = s.setup.as_ref().expect("setup");
    assert_eq!((setup.request.method.as_str(), setup.extract["token"].as_str()), ("POST", "/token"));
    assert_eq!((s.requests[0].method.as_str(), s.requests[0].weight), ("GET", 1));
    assert_eq!((s.requests[1].method.as_str(), s.requests[1].weight), ("DELETE", 3));
}

#[test]
fn procfile_services_get_the_manifest_defaults_and_a_shell() {
    let m = procfile("# comment\n\nweb: ./web --port $PORT\r\nworker:   ./work  \n").expect("valid");
    assert_eq!(m.name, "app");
    assert_eq!(m.services.len(), 2);
    let web = &m.services[0];
    assert_eq!(web.run, Run::Shell { line: "./web --port $PORT".into() });
    assert_eq!(m.services[1].run, Run::Shell { line: "./work".into() });
    assert_eq!(web.health.check, HealthCheck::Process, "a Procfile does not say who listens");
    assert_eq!((web.replicas, web.restart, web.stop_grace), (1, RestartPolicy::Always, Duration::from_secs(5)));
    assert_eq!(web.cwd, Some(PathBuf::from("/srv/app")));
}

#[test]
fn procfile_errors_name_their_lines() {
    let d = procfile("web: a\nnonsense\nweb: b\nApi: c\nq:\nx: {{nope.url}}   \n").expect_err("invalid");
    let got: Vec<(usize, usize, &str)> = d.iter().map(|d| (d.line, d.column, d.key.as_str())).collect();
    assert_eq!(got, [(2, 1, ""), (3, 1, "web"), (4, 1, "Api"), (5, 1, "q"), (6, 4, "x")]);
}

#[test]
fn empty_and_binary_input_get_one_clear_error() {
    for bytes in [&b""[..], b"\n\n", b"\x00\x01", b"\xff\xfe[services]"] {
        for result in [parse_manifest(bytes, "f", Path::new(".")), parse_procfile(bytes, "f", Path::new("."))] {
            match result {
                Err(LoadError::Invalid { diagnostics, .. }) => assert_eq!(diagnostics.len(), 1, "{bytes:?}: {diagnostics:?}"),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn diagnostics_print_as_file_line_column_key_message_hint() {
    let d = Diagnostic {
        file: "m.toml".into(),
        line: 3,
        column: 1,
        key: "services.web.depend_on".into(),
        message: "unknown key `depend_on`".into(),
        hint: Some("did you mean `depends_on`?".into()),
    };
    assert_eq!(d.to_string(), "m.toml:3:1: services.web.depend_on: unknown key `depend_on` (did you mean `depends_on`?)");
}
