//! `microdeck load` run as a user would: against an in-test HTTP server on port 0,
//! found through a manifest (port + offset) or `--target`; exit codes as documented.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use microdeck_tests::bins::bin;

const TOKEN: &str = "demo-token-42";

#[derive(Default)]
struct Seen {
    logins: AtomicU64,
    home: AtomicU64,
    other: AtomicU64,
    unauthorized: AtomicU64,
}

/// A server with `POST /login` → `{"token": …}` and two pages that need the token.
fn server(rt: &tokio::runtime::Runtime) -> (u16, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let authorized = move |h: &HeaderMap, seen: &Seen, page: &AtomicU64| {
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}")) {
            page.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        } else {
            seen.unauthorized.fetch_add(1, Ordering::SeqCst);
            StatusCode::UNAUTHORIZED
        }
    };
    let app = Router::new()
        .route(
            "/login",
            post(move || async move {
                s1.logins.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({ "token": TOKEN }))
            }),
        )
        .route("/api/home", get(move |h: HeaderMap| async move { authorized(&h, &s2, &s2.home) }))
        .route("/api/other", get(move |h: HeaderMap| async move { authorized(&h, &s3, &s3.other) }));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

/// A manifest whose `gateway` sits at `port` and whose `browse` logs in first.
fn manifest(name: &str, port: u16) -> PathBuf {
    let path = std::env::temp_dir().join(format!("microdeck-load-{}-{name}.toml", std::process::id()));
    let text = format!(
        r#"name = "loadtest"

[services.gateway]
command = "true"
port = {port}

[[load.scenario]]
name = "browse"
target = "gateway"

[load.scenario.setup]
method = "POST"
path = "/login"
extract = {{ token = "/token" }}

[[load.scenario.request]]
path = "/api/home"
headers = {{ authorization = "Bearer {{{{token}}}}" }}
weight = 3

[[load.scenario.request]]
path = "/api/other"
headers = {{ authorization = "Bearer {{{{token}}}}" }}
"#
    );
    std::fs::write(&path, text).expect("write manifest");
    path
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn load(args: &[&str]) -> Run {
    let mut child = Command::new(bin("microdeck"))
        .arg("load")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn microdeck load");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("microdeck load {args:?} ran past 60s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn load_reads_the_manifest_logs_in_once_and_reports_every_request() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (port, seen) = server(&rt);
    // The manifest says port - 1; the cluster runs with offset 1.
    let file = manifest("ok", port - 1);
    let f = file.to_str().expect("utf-8 path");
    let r = load(&["--manifest", f, "--scenario", "browse", "--rate", "40", "--for", "2500ms", "--port-offset", "1"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(seen.logins.load(Ordering::SeqCst), 1);
    assert_eq!((seen.home.load(Ordering::SeqCst), seen.other.load(Ordering::SeqCst)), (75, 25));
    assert_eq!(seen.unauthorized.load(Ordering::SeqCst), 0);
    assert!(r.stdout.contains("sent 100, ok 100, errors 0\n"), "{}", r.stdout);
    // A line a second: a 2.5 s run prints one at 1 s and one at 2 s, each at a later second.
    let seconds: Vec<u64> = r
        .stdout
        .lines()
        .filter(|l| l.contains(" rps (asked 40)") && !l.starts_with("achieved"))
        .map(|l| l.trim_start().split('s').next().and_then(|n| n.parse().ok()).expect("a progress line starts with its second"))
        .collect();
    assert!(seconds.len() >= 2, "a line a second:\n{}", r.stdout);
    assert!(seconds.windows(2).all(|w| w[1] > w[0]), "one line per second, in order: {seconds:?}\n{}", r.stdout);
    let _ = std::fs::remove_file(file);
}

#[test]
fn errors_are_data_setup_failure_and_bad_arguments_are_not() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (port, _seen) = server(&rt);
    let file = manifest("codes", port);
    let f = file.to_str().expect("utf-8 path");

    // A refused connection for every request: the load ran, so exit 0 with the errors counted.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let mut text = std::fs::read_to_string(&file).expect("read");
    text = text.replace("[load.scenario.setup]\nmethod = \"POST\"\npath = \"/login\"\nextract = { token = \"/token\" }\n", "");
    let no_setup = std::env::temp_dir().join(format!("microdeck-load-{}-nosetup.toml", std::process::id()));
    std::fs::write(&no_setup, text.replace("{{token}}", "x")).expect("write");
    let ns = no_setup.to_str().expect("utf-8 path");
    let r = load(&["--manifest", ns, "--scenario", "browse", "--rate", "20", "--for", "1s", "--target", &dead]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("sent 20, ok 0, errors 20 (connect 20)"), "{}", r.stdout);

    // The setup cannot log in: nothing was sent, exit 1.
    let r = load(&["--manifest", f, "--scenario", "browse", "--rate", "20", "--for", "1s", "--target", &dead]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("setup request POST /login"), "{}", r.stderr);

    let r = load(&["--manifest", f, "--scenario", "nope", "--rate", "20"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no scenario `nope`; it has: browse"), "{}", r.stderr);
    // No --manifest: the bundled sample cluster's scenarios.
    let r = load(&["--scenario", "nope", "--rate", "20"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("the bundled manifest has no scenario `nope`; it has: browse, login-storm, media, mixed"), "{}", r.stderr);
    let r = load(&["--manifest", f, "--scenario", "browse", "--rate", "-5", "--for", "1s"]);
    assert_eq!(r.code, 2, "negative rate: {}", r.stderr);
    let _ = (std::fs::remove_file(file), std::fs::remove_file(no_setup));
}
