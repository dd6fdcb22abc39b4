//! `render_prometheus` checked by the reference parser (Python's `prometheus_client`,
//! installed by `make test`): the text parses, label values with quotes, backslashes
//! and line feeds come back exactly, and the counts are the samples recorded.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use microdeck::metrics::{Metrics, RequestSample};
use microdeck_tests::bins::workspace_root;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const WEIRD: &str = "we\"ird\\svc\nline2";

/// Runs the reference parser over `text`; panics with its message if it rejects it.
fn parse(text: &str) -> Vec<Value> {
    let script = workspace_root().join("tests/tools/parse_prometheus.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "install the parser: python3 -m pip install prometheus_client (make test does)"
    );
    assert!(out.status.success(), "the parser rejected the text: {stderr}\n---\n{text}");
    serde_json::from_slice(&out.stdout).expect("parser json")
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no family {name}"))
}

fn samples<'a>(f: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    f["samples"].as_array().expect("samples").iter().filter(move |s| s["name"] == name)
}

#[test]
fn metrics_text_parses_with_the_reference_parser_and_counts_every_request() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let text = rt.block_on(async {
        let m = Metrics::spawn(CancellationToken::new()).expect("metrics");
        // Both services are known before traffic, as a cluster's are: a caller that is no
        // service counts as external.
        let _known = (m.in_flight("users").await.expect("gauge"), m.in_flight(WEIRD).await.expect("gauge"));
        // Users' replica 1 runs revision 2, the others revision 1; the current one is 2.
        let map = microdeck::metrics::RevisionMap { current: 2, replicas: [(0, 1), (1, 2), (2, 1)].into_iter().collect() };
        m.set_revisions("users", map).await.expect("revisions");
        let statuses = [200, 200, 404, 500, 0];
        for i in 0..500u32 {
            m.record(RequestSample {
                service: if i % 2 == 0 { "users".into() } else { WEIRD.into() },
                replica: if i % 10 == 9 { None } else { Some(i % 3) },
                caller: if i % 5 == 0 { WEIRD.into() } else { "external".into() },
                status: statuses[(i % 5) as usize],
                latency: Duration::from_micros(u64::from(i) * 997),
                bytes_in: 3,
                bytes_out: 7,
                injected: Default::default(),
            });
        }
        m.record_resources("users", 12.5, 4096);
        let _gauge = m.in_flight("users").await.expect("gauge").enter();
        tokio::time::timeout(Duration::from_secs(10), m.render_prometheus()).await.expect("in time").expect("text")
    });
    let families = parse(&text);

    let requests = family(&families, "microdeck_requests");
    assert_eq!(requests["type"], "counter");
    let total: f64 = samples(requests, "microdeck_requests_total").map(|s| s["value"].as_f64().expect("value")).sum();
    assert_eq!(total, 500.0);
    let class = |service: &str, class: &str| -> f64 {
        samples(requests, "microdeck_requests_total")
            .filter(|s| s["labels"]["service"] == service && s["labels"]["class"] == class)
            .map(|s| s["value"].as_f64().expect("value"))
            .sum()
    };
    // Statuses cycle with period 5 and services with period 2, so each pair gets 50.
    assert_eq!(class("users", "2xx") + class(WEIRD, "2xx"), 200.0);
    assert_eq!(class(WEIRD, "4xx") + class("users", "4xx"), 100.0);
    assert_eq!(class("users", "failed") + class(WEIRD, "failed"), 100.0);
    assert_eq!(class(WEIRD, "5xx"), 50.0, "the escaped service name comes back exactly");
    assert!(samples(requests, "microdeck_requests_total").any(|s| s["labels"]["replica"] == "none"));

    // By revision: users' requests add up to its total, split as its replicas ran.
    let by_revision = family(&families, "microdeck_revision_requests");
    let users_on = |revision: &str| -> f64 {
        samples(by_revision, "microdeck_revision_requests_total")
            .filter(|s| s["labels"]["service"] == "users" && s["labels"]["revision"] == revision)
            .map(|s| s["value"].as_f64().expect("value"))
            .sum()
    };
    // Users gets the even i, all with a replica: those with i % 3 == 1 reached replica 1 (revision 2).
    let (on_2, users_total) = ((0..500u32).filter(|i| i % 2 == 0 && i % 10 != 9 && i % 3 == 1).count() as f64, 250.0);
    assert_eq!((users_on("1") + users_on("2"), users_on("2")), (users_total, on_2));

    let edges = family(&families, "microdeck_edge_requests");
    let from_weird: f64 = samples(edges, "microdeck_edge_requests_total")
        .filter(|s| s["labels"]["caller"] == WEIRD)
        .map(|s| s["value"].as_f64().expect("value"))
        .sum();
    assert_eq!(from_weird, 100.0, "the escaped caller comes back exactly");

    let latency = family(&families, "microdeck_request_duration_seconds");
    assert_eq!(latency["type"], "histogram");
    for service in ["users", WEIRD] {
        let buckets: Vec<(String, f64)> = samples(latency, "microdeck_request_duration_seconds_bucket")
            .filter(|s| s["labels"]["service"] == service)
            .map(|s| (s["labels"]["le"].as_str().expect("le").to_string(), s["value"].as_f64().expect("value")))
            .collect();
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative buckets: {buckets:?}");
        assert_eq!(buckets.last().map(|b| (b.0.as_str(), b.1)), Some(("+Inf", 250.0)));
        let count = samples(latency, "microdeck_request_duration_seconds_count")
            .find(|s| s["labels"]["service"] == service)
            .and_then(|s| s["value"].as_f64());
        assert_eq!(count, Some(250.0));
    }

    let gauge = |name: &str| -> Option<f64> {
        samples(family(&families, name), name).find(|s| s["labels"]["service"] == "users").and_then(|s| s["value"].as_f64())
    };
    assert_eq!(gauge("microdeck_in_flight_requests"), Some(1.0));
    assert_eq!(gauge("microdeck_cpu_percent"), Some(12.5));
    assert_eq!(gauge("microdeck_rss_bytes"), Some(4096.0));
    assert!(family(&families, "microdeck_requests")["documentation"].as_str().is_some_and(|d| !d.is_empty()));
}
