//! Deploys and rollouts through the CLI and the local API.

use anyhow::{ensure, Result};
use serde_json::json;

use super::*;

/// `microdeck deploy` and `rollout status|history|undo`, as a user types them, and the routes
/// under them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_rollout_verbs_change_show_and_undo_a_revision() -> Result<()> {
    let r = start("deploy").await?;
    let state_dir = r.state_dir();
    let run = |args: &'static [&'static str]| {
        let d = state_dir.clone();
        tokio::task::spawn_blocking(move || cli(&d, args))
    };
    let result = async {
        wait_snapshot(&r, "sleeper ready", |s| sleeper(s)["state"] == "ready").await?;
        let (ok, out, err) = run(&["deploy", "sleeper", "--env", "VERSION=2", "--env", "COLOR=blue"]).await??;
        ensure!(ok, "deploy failed: {err}");
        ensure!(out.contains("sleeper: revision 2 rolling out") && out.contains("env VERSION: (unset) → 2"), "{out}");
        ensure!(out.contains("a restart of Microdeck returns to the file"), "{out}");
        let (ok, out, err) = run(&["rollout", "status", "sleeper", "--wait"]).await??;
        ensure!(ok, "status --wait failed: {err}\n{out}");
        ensure!(out.contains("rollout 1 → 2: complete, 1 of 1 replica on revision 2"), "{out}");
        ensure!(out.contains("deployed on top of the file: COLOR=blue, VERSION=2"), "{out}");
        let (ok, _, err) = run(&["deploy", "sleeper", "--unset", "COLOR"]).await??;
        ensure!(ok, "unset failed: {err}");
        let (ok, out, err) = run(&["rollout", "history", "sleeper"]).await??;
        ensure!(ok, "history failed: {err}");
        let firsts: Vec<&str> = out.lines().filter(|l| !l.starts_with("       ")).collect();
        ensure!(firsts.len() == 3 && firsts[0].contains("  3  ") && firsts[0].contains("deploy unset COLOR (current)"), "{out}");
        ensure!(out.contains("env COLOR: blue → (unset)") && out.contains("start"), "{out}");
        let (ok, out, err) = run(&["rollout", "undo", "sleeper"]).await??;
        ensure!(ok && out.contains("sleeper: revision 4 rolling out") && out.contains("env COLOR: (unset) → blue"), "{out}{err}");
        let (ok, _, err) = run(&["deploy", "sleeper", "--env", "PORT=1"]).await??;
        ensure!(!ok && err.contains("PORT is set by microdeck"), "{err}");
        let (ok, _, err) = run(&["rollout", "undo", "sleeper", "--to-revision", "42"]).await??;
        ensure!(!ok && err.contains("keeps no revision 42"), "{err}");
        let (status, body) = call(&r, "POST", "/api/services/sleeper/deploy", Some(json!({ "env": {}, "unset": [] }))).await?;
        ensure!(status == 400 && body["code"] == "invalid-argument", "{status} {body}");
        let (status, body) = call(&r, "GET", "/api/services/nope/revisions", None).await?;
        ensure!(status == 404 && body["code"] == "unknown-service", "{status} {body}");
        Ok(())
    }
    .await;
    r.stop().await;
    result
}
