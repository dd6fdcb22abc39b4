//! The bundled sample cluster (services/cluster.toml) run for real: every sample is a
//! real process under the engine, reached through the services' stable addresses.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use microdeck::snapshot::ServiceState;
use microdeck_tests::bins;
use util::*;

#[test]
fn microdeck_check_says_the_bundled_manifest_is_ok() {
    let out = Command::new(bins::bin("microdeck")).arg("check").arg(manifest_path()).stderr(Stdio::piped()).output().expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("ok: microdeck-sample (5 services"), "{stdout}");
}

#[test]
fn microdeck_up_with_no_manifest_brings_all_five_bundled_samples_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No --manifest, run from a folder without services/: the manifest built into the binary.
    let mut child = Command::new(bins::bin("microdeck"))
        .current_dir(dir.path())
        .arg("up")
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--port-offset")
        .arg(free_offset().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start microdeck up");
    let snapshot = dir.path().join("run/snapshot.json");
    let end = Instant::now() + DEADLINE;
    let ready = loop {
        let snap = std::fs::read(&snapshot).ok().and_then(|b| serde_json::from_slice::<microdeck::snapshot::ClusterSnapshot>(&b).ok());
        if let Some(s) = snap.filter(all_ready) {
            break Some(s);
        }
        if Instant::now() > end || child.try_wait().expect("wait").is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SIGTERM: the engine stops every sample within its grace, and exits 0.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let stopped_by = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > stopped_by {
            let _gone = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ready = ready.expect("all five samples ready under `microdeck up`");
    let names: Vec<_> = ready.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(status.expect("microdeck up exits after SIGTERM").success());
}

#[tokio::test]
async fn home_through_the_gateway_reaches_auth_users_and_media_and_analytics_counts() {
    let (cluster, _dir) = bundled_cluster().await;
    wait_all_ready(&cluster).await;
    let gw = url_of(&cluster, "gateway");
    let token = login(&format!("{gw}/api/auth/login")).await;
    let home = send(client().get(format!("{gw}/api/home")).bearer_auth(&token)).await;
    assert_eq!(home.status, 200, "{}", home.json);
    assert_eq!(home.json["user"], "demo");
    assert_eq!(home.json["profile"]["display_name"], "Demo User");
    assert!(home.json["media"].as_array().is_some_and(|m| m.iter().any(|o| o["name"] == "sunset.png")), "{}", home.json);
    for (service, replica) in [("auth", "auth-0"), ("users", "users-0"), ("media", "media-0")] {
        assert_eq!(home.json["served_by"][service], replica, "{}", home.json);
    }
    // Events are fire-and-forget: poll until analytics has counted both sources.
    let analytics = url_of(&cluster, "analytics");
    let stats = poll("analytics counts users and media", async || {
        let s = send(client().get(format!("{analytics}/stats"))).await.json;
        let counted = |src: &str| s["by_source"][src].as_u64().unwrap_or(0) >= 1;
        (counted("users") && counted("media")).then_some(s)
    })
    .await;
    assert!(stats["by_source_kind"]["users"]["read"].as_u64() >= Some(1), "{stats}");
    assert!(stats["by_source_kind"]["media"]["list"].as_u64() >= Some(1), "{stats}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn with_auth_stopped_home_fails_fast_naming_auth_while_media_serves() {
    let (cluster, _dir) = bundled_cluster().await;
    wait_all_ready(&cluster).await;
    let gw = url_of(&cluster, "gateway");
    let token = login(&format!("{gw}/api/auth/login")).await;
    cluster.stop_service("auth").await.expect("stop auth");
    wait_stopped(&cluster, "auth").await;

    let start = Instant::now();
    let home = send(client().get(format!("{gw}/api/home")).bearer_auth(&token)).await;
    let took = start.elapsed();
    assert_eq!((home.status, home.json["service"].as_str()), (503, Some("auth")), "{}", home.json);
    assert!(took < Duration::from_secs(3), "the 503 took {took:?}");

    let image = send(client().get(format!("{gw}/api/media/objects/sunset.png"))).await;
    assert_eq!(image.status, 200);
    assert_eq!(&image.bytes[1..4], b"PNG");

    // And it recovers by itself once auth is back.
    cluster.start_service("auth").await.expect("start auth");
    wait_state(&cluster, "auth", ServiceState::Ready, 1).await;
    let home = send(client().get(format!("{gw}/api/home")).bearer_auth(&token)).await;
    assert_eq!(home.status, 200, "{}", home.json);
    cluster.shutdown().await;
}

#[tokio::test]
async fn with_users_held_past_the_gateways_timeout_home_answers_504_naming_users_in_time() {
    let (cluster, _dir) = bundled_cluster().await;
    wait_all_ready(&cluster).await;
    let gw = url_of(&cluster, "gateway");
    let token = login(&format!("{gw}/api/auth/login")).await;
    let fault = microdeck::proxy::fault::Fault { delay_ms: 5000, ..Default::default() };
    cluster.set_fault("users", fault).await.expect("slow users");

    let start = Instant::now();
    let home = send(client().get(format!("{gw}/api/home")).bearer_auth(&token)).await;
    let took = start.elapsed();
    assert_eq!((home.status, home.json["service"].as_str()), (504, Some("users")), "{}", home.json);
    // The gateway's own 2 s timeout, not the 5 s users takes.
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(3), "the 504 took {took:?}");
    let image = send(client().get(format!("{gw}/api/media/objects/sunset.png"))).await;
    assert_eq!(image.status, 200, "media is not held");

    cluster.clear_fault("users").expect("clear");
    let start = Instant::now();
    let home = send(client().get(format!("{gw}/api/home")).bearer_auth(&token)).await;
    assert_eq!(home.status, 200, "{}", home.json);
    assert!(start.elapsed() < Duration::from_secs(1), "home took {:?} once cleared", start.elapsed());
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_user_created_before_users_restarts_is_still_there_after() {
    let (cluster, _dir) = bundled_cluster().await;
    wait_all_ready(&cluster).await;
    let gw = url_of(&cluster, "gateway");
    let created = send(client().post(format!("{gw}/api/users/users")).json(&serde_json::json!({ "name": "erin", "bio": "kept on disk" }))).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let pid_before = cluster.snapshot().services.iter().find(|s| s.name == "users").and_then(|s| s.replicas[0].pid);

    // Stopped entirely (no replica alive in between), then started: only the disk remembers.
    cluster.stop_service("users").await.expect("stop users");
    wait_stopped(&cluster, "users").await;
    cluster.start_service("users").await.expect("start users");
    wait_state(&cluster, "users", ServiceState::Ready, 1).await;
    let pid_after = cluster.snapshot().services.iter().find(|s| s.name == "users").and_then(|s| s.replicas[0].pid);
    assert_ne!(pid_before, pid_after, "users was not restarted");

    let read = send(client().get(format!("{gw}/api/users/users/erin"))).await;
    assert_eq!((read.status, read.json["bio"].as_str()), (200, Some("kept on disk")), "{}", read.json);
    cluster.shutdown().await;
}

#[tokio::test]
async fn with_auth_scaled_to_3_a_token_from_one_replica_is_accepted_by_the_others() {
    let (cluster, _dir) = bundled_cluster().await;
    wait_all_ready(&cluster).await;
    cluster.scale("auth", 3).await.expect("scale auth");
    wait_state(&cluster, "auth", ServiceState::Ready, 3).await;
    let snap = cluster.snapshot();
    let ports: Vec<u16> = snap.services.iter().find(|s| s.name == "auth").expect("auth").replicas.iter().map(|r| r.port).collect();
    assert_eq!(ports.len(), 3);

    // Each replica directly (not through the balancer), so the issuer and verifier are known.
    for (i, issuer) in ports.iter().enumerate() {
        let token = login(&format!("http://127.0.0.1:{issuer}/login")).await;
        for (j, verifier) in ports.iter().enumerate().filter(|(j, _)| *j != i) {
            let r = send(client().post(format!("http://127.0.0.1:{verifier}/verify")).bearer_auth(&token)).await;
            assert_eq!((r.status, r.json["username"].as_str()), (200, Some("demo")), "token of replica {i} at replica {j}: {}", r.json);
        }
    }
    cluster.shutdown().await;
}

/// `microdeck up` on the bundled cluster with `data`; its snapshot once all five are ready.
fn up_bundled(dir: &std::path::Path, data: &std::path::Path) -> (std::process::Child, bool) {
    let mut child = Command::new(bins::bin("microdeck"))
        .current_dir(dir)
        .arg("up")
        .arg("--run-dir")
        .arg(dir.join("run"))
        .arg("--data-dir")
        .arg(data)
        .arg("--port-offset")
        .arg(free_offset().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start microdeck up");
    let snapshot = dir.join("run/snapshot.json");
    let end = Instant::now() + DEADLINE;
    let ready = loop {
        let snap = std::fs::read(&snapshot).ok().and_then(|b| serde_json::from_slice::<microdeck::snapshot::ClusterSnapshot>(&b).ok());
        // This run's snapshot (a previous run's file may still be there).
        if snap.filter(|s| all_ready(s) && s.engine.pid == child.id()).is_some() {
            break true;
        }
        if Instant::now() > end || child.try_wait().expect("wait").is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (child, ready)
}

fn stop_up(child: &mut std::process::Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < end, "microdeck up did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reset_data(data: &std::path::Path) -> std::process::Output {
    Command::new(bins::bin("microdeck")).arg("reset-data").arg("--data-dir").arg(data).output().expect("run reset-data")
}

#[test]
fn reset_data_is_refused_while_the_cluster_runs_and_wipes_once_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (mut child, ready) = up_bundled(dir.path(), &data);
    let refused = reset_data(&data);
    stop_up(&mut child);
    assert!(ready, "all five ready");
    assert_eq!(refused.status.code(), Some(6), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("a cluster is running with its data in"));
    let users = data.join("users");
    assert!(users.read_dir().expect("users data").next().is_some(), "users kept its database while running");

    let done = reset_data(&data);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(!users.exists(), "users data wiped");
    // The next start seeds it again.
    let (mut child, ready) = up_bundled(dir.path(), &data);
    stop_up(&mut child);
    assert!(ready, "all five ready after the reset");
    assert!(users.read_dir().expect("users data").next().is_some(), "users seeded again");
}

/// A sample started on its own; killed on drop if a check failed before it exited.
struct Sample(std::process::Child);

impl Drop for Sample {
    fn drop(&mut self) {
        let _already_gone = self.0.kill();
        let _reaped = self.0.wait();
    }
}

#[tokio::test]
async fn crash_replies_then_exits() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut sample = Sample(
        Command::new(bins::bin("mdk-users"))
            .env("PORT", port.to_string())
            .env("MICRODECK_DATA_DIR", data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mdk-users"),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    poll("mdk-users to answer /health", async || {
        client.get(format!("{base}/health")).timeout(REQUEST_DEADLINE).send().await.ok().filter(|r| r.status().is_success())
    })
    .await;
    // An answer at all means it came before the exit: a process that has exited answers nothing.
    let reply = client.post(format!("{base}/admin/crash")).timeout(REQUEST_DEADLINE).send().await.expect("a reply to the crash request");
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.expect("a JSON reply");
    assert_eq!(body["crashing"], true, "{body}");
    let status = poll("mdk-users to exit", async || sample.0.try_wait().expect("wait")).await;
    assert_eq!(status.code(), Some(1), "a crash exits with status 1, as a failure: {status}");
}
