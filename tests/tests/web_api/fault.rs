//! Faults through the CLI and the local API.

use anyhow::{ensure, Result};
use serde_json::json;

use super::*;

/// `microdeck fault` as a user types it, and the routes under it: set, show, refuse, clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_verb_and_routes_set_show_refuse_and_clear_a_fault() -> Result<()> {
    let r = start("fault").await?;
    let state_dir = r.state_dir();
    let run = |args: &'static [&'static str]| {
        let d = state_dir.clone();
        tokio::task::spawn_blocking(move || cli(&d, args))
    };
    let result = async {
        let (ok, out, err) = run(&["fault", "sleeper", "--delay", "200ms", "--jitter", "50ms", "--abort", "10%", "--status", "502", "--for", "5m"]).await??;
        ensure!(ok, "fault failed: {err}");
        ensure!(out.trim() == "sleeper: delay 200ms ±50ms on 100% and abort 502 on 10% of requests, for 300s", "{out}");
        let snap = wait_snapshot(&r, "the fault in the snapshot", |s| s["faults"][0]["service"] == "sleeper").await?;
        ensure!(snap["faults"][0]["fault"]["abort_status"] == 502, "{snap:#}");
        let (ok, out, _) = run(&["fault", "sleeper"]).await??;
        ensure!(ok && out.contains("sleeper: delay 200ms"), "{out}");
        let (status, body) = call(&r, "GET", "/api/events", None).await?;
        let said = body.as_array().is_some_and(|events| events.iter().any(|e| e["kind"] == "fault" && e["message"].as_str().is_some_and(|m| m.ends_with("for 300s"))));
        ensure!(status == 200 && said, "no fault event: {body:#}");

        let (ok, _, err) = run(&["fault", "sleeper", "--abort", "50%", "--status", "200"]).await??;
        ensure!(!ok && err.contains("an abort answers a status from 400 to 599, not 200"), "{err}");
        let (ok, _, err) = run(&["fault", "sleeper", "--delay", "1s", "--replica", "3"]).await??;
        ensure!(!ok && err.contains("sleeper has no replica 3"), "{err}");
        let (ok, _, err) = run(&["fault", "sleeper", "--abort", "150%"]).await??;
        ensure!(!ok && err.contains("not between 0% and 100%"), "{err}");
        let (status, body) = call(&r, "PUT", "/api/services/sleeper/fault", Some(json!({ "delay_ms": 700000 }))).await?;
        ensure!(status == 400 && body["code"] == "invalid-argument" && body["message"].as_str().is_some_and(|m| m.contains("at most 10 minutes")), "{status} {body}");
        let (status, body) = call(&r, "PUT", "/api/services/sleeper/fault", Some(json!({ "delay": 7 }))).await?;
        ensure!(status == 400 && body["code"] == "invalid-argument", "an unknown field: {status} {body}");
        let (status, body) = call(&r, "DELETE", "/api/services/nope/fault", None).await?;
        ensure!(status == 404 && body["code"] == "unknown-service", "{status} {body}");

        let (ok, out, err) = run(&["fault", "sleeper", "--clear"]).await??;
        ensure!(ok && out.trim() == "sleeper: cleared (delay 200ms ±50ms on 100% and abort 502 on 10% of requests)", "{out}{err}");
        let (status, body) = call(&r, "DELETE", "/api/services/sleeper/fault", None).await?;
        ensure!(status == 200 && body["fault"].is_null(), "{status} {body}");
        let snap = wait_snapshot(&r, "no fault in the snapshot", |s| s.get("faults").is_none()).await?;
        ensure!(snap["services"][0]["name"] == "sleeper");
        let (status, body) = call(&r, "POST", "/api/services/sleeper/fault", Some(json!({ "abort_percent": 5 }))).await?;
        ensure!(status == 200 && body["fault"]["summary"] == "abort 503 on 5% of requests", "{status} {body}");
        Ok(())
    }
    .await;
    r.stop().await;
    result
}
