//! The Prometheus text exposition format (version 0.0.4) of the metrics store.

use std::fmt::Write;

use super::store::Store;
use super::tally::{Class, Tally};

/// Upper bounds (seconds) of the latency histogram buckets, `+Inf` added at the end.
pub const LATENCY_BUCKETS_S: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The content type to serve it with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and line feeds escaped, as the format requires.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{a="x",b="y"}` with escaped values.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    format!("{{{}}}", inner.join(","))
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, base: &[(&str, &str)], t: &Tally) {
    for le in LATENCY_BUCKETS_S {
        let le_us = (le * 1_000_000.0) as u64;
        let n = if t.latency.is_empty() { 0 } else { t.latency.count_between(0, le_us) };
        let le = le.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("le", &le));
        let _ = writeln!(out, "{name}_bucket{} {n}", labels(&pairs));
    }
    let mut pairs = base.to_vec();
    pairs.push(("le", "+Inf"));
    let _ = writeln!(out, "{name}_bucket{} {}", labels(&pairs), t.requests());
    let _ = writeln!(out, "{name}_sum{} {}", labels(base), t.latency_sum_s);
    let _ = writeln!(out, "{name}_count{} {}", labels(base), t.requests());
}

/// Everything the store holds, plus the count of samples dropped on a full queue.
pub fn render(store: &Store, dropped: u64) -> String {
    let mut out = String::new();
    header(&mut out, "microdeck_requests_total", "counter", "Requests through a service's address, by replica and status class (failed = no response).");
    for (service, _, replicas) in store.services() {
        for (replica, t) in replicas {
            let replica = replica.map_or_else(|| "none".to_string(), |r| r.to_string());
            let classes = t.classes();
            for class in Class::ALL {
                let l = labels(&[("service", service), ("replica", &replica), ("class", class.label())]);
                let _ = writeln!(out, "microdeck_requests_total{l} {}", classes.get(class));
            }
        }
    }
    header(&mut out, "microdeck_revision_requests_total", "counter", "The same requests by the service revision of the replica that answered, and status class.");
    for (service, revisions) in store.revisions() {
        for r in revisions {
            let revision = r.revision.to_string();
            for class in Class::ALL {
                let l = labels(&[("service", service), ("revision", &revision), ("class", class.label())]);
                let _ = writeln!(out, "microdeck_revision_requests_total{l} {}", r.classes.get(class));
            }
        }
    }
    header(&mut out, "microdeck_request_bytes_total", "counter", "Body bytes through a service's address; in = request, out = response.");
    for (service, t, _) in store.services() {
        for (direction, n) in [("in", t.bytes_in), ("out", t.bytes_out)] {
            let l = labels(&[("service", service), ("direction", direction)]);
            let _ = writeln!(out, "microdeck_request_bytes_total{l} {n}");
        }
    }
    header(&mut out, "microdeck_request_duration_seconds", "histogram", "Request latency seen by a service's proxy, less any injected delay.");
    for (service, t, _) in store.services() {
        histogram(&mut out, "microdeck_request_duration_seconds", &[("service", service)], t);
    }
    header(&mut out, "microdeck_injected_aborts_total", "counter", "Requests answered by a fault injected at a service's address; in no other request count.");
    for (service, injected) in store.injected() {
        let _ = writeln!(out, "microdeck_injected_aborts_total{} {}", labels(&[("service", service)]), injected.aborts);
    }
    header(&mut out, "microdeck_injected_delayed_requests_total", "counter", "Requests held by a delay injected at a service's address.");
    for (service, injected) in store.injected() {
        let _ = writeln!(out, "microdeck_injected_delayed_requests_total{} {}", labels(&[("service", service)]), injected.delayed);
    }
    header(&mut out, "microdeck_injected_delay_seconds_total", "counter", "Delay injected at a service's address, not in its request duration.");
    for (service, injected) in store.injected() {
        let _ = writeln!(out, "microdeck_injected_delay_seconds_total{} {}", labels(&[("service", service)]), injected.delay_us as f64 / 1e6);
    }
    header(&mut out, "microdeck_edge_requests_total", "counter", "Requests from a caller (x-microdeck-caller, else external) to a service.");
    for (caller, callee, t) in store.edges() {
        let l = labels(&[("caller", caller), ("callee", callee)]);
        let _ = writeln!(out, "microdeck_edge_requests_total{l} {}", t.requests());
    }
    header(&mut out, "microdeck_in_flight_requests", "gauge", "Requests a service's proxy is handling now.");
    for (service, n, _, _) in store.gauges() {
        let _ = writeln!(out, "microdeck_in_flight_requests{} {n}", labels(&[("service", service)]));
    }
    header(&mut out, "microdeck_cpu_percent", "gauge", "CPU use of a service's replicas together, in percent of one core.");
    for (service, _, cpu, _) in store.gauges() {
        if let Some(cpu) = cpu {
            let _ = writeln!(out, "microdeck_cpu_percent{} {cpu}", labels(&[("service", service)]));
        }
    }
    header(&mut out, "microdeck_rss_bytes", "gauge", "Resident memory of a service's replicas together.");
    for (service, _, _, rss) in store.gauges() {
        if let Some(rss) = rss {
            let _ = writeln!(out, "microdeck_rss_bytes{} {rss}", labels(&[("service", service)]));
        }
    }
    header(&mut out, "microdeck_metrics_dropped_samples_total", "counter", "Request samples lost because the metrics queue was full.");
    let _ = writeln!(out, "microdeck_metrics_dropped_samples_total {dropped}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain-name_1"), "plain-name_1");
    }
}
