//! What a cluster leaves on disk: private folders and files, an event file kept within
//! its size like the logs, and no folder another user planted where `$HOME` would be.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use microdeck::snapshot::{Event, EventKind};
use microdeck_tests::bins;

use super::util::*;
use super::LONG;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// Every folder and file under `dir` (itself included), skipping the folders in `skip`.
fn tree(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() && !skip.contains(&path) {
            tree(&path, skip, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn a_real_start_keeps_its_folders_and_files_private() {
    let up = Up::start("name = \"private\"\n[services.web]\ncommand = \"mdk-testsvc\"\nhealth = { http = \"/health\" }\n");
    up.wait_all_ready(LONG);
    poll_until("the ready event in events.jsonl", LONG, || up.events().iter().any(|e| e.kind == EventKind::Ready).then_some(()));
    let run = up.run_dir();
    poll_until("the first line in web.log", LONG, || {
        std::fs::read_to_string(run.join("logs/web.log")).ok().filter(|t| t.contains("listening")).map(|_| ())
    });
    let data = up.dir.path().join("data");
    // What the service writes in its own folder is its business.
    let mut paths = Vec::new();
    tree(&run, &[], &mut paths);
    tree(&data, &[data.join("web")], &mut paths);
    for want in ["run", "run/logs", "run/logs/web.log", "run/events.jsonl", "run/snapshot.json", "data", "data/web", "data/.microdeck.lock"] {
        assert!(paths.contains(&up.dir.path().join(want)), "{want} was not created: {paths:?}");
    }
    let loose: Vec<String> = paths
        .iter()
        .filter(|p| mode(p) != if p.is_dir() { 0o700 } else { 0o600 })
        .map(|p| format!("{} {:o}", p.display(), mode(p)))
        .collect();
    assert!(loose.is_empty(), "readable by other users: {loose:#?}");
}

/// The events of `events.jsonl` and its rotated files, oldest first, each file's size.
fn event_files(run_dir: &Path) -> (Vec<Event>, Vec<(PathBuf, u64)>) {
    let mut files: Vec<PathBuf> = (1..10).rev().map(|n| run_dir.join(format!("events.jsonl.{n}"))).filter(|p| p.exists()).collect();
    files.push(run_dir.join("events.jsonl"));
    let mut events = Vec::new();
    let mut sizes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for line in text.lines() {
            events.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: `{line}`: {e}", f.display())));
        }
        sizes.push((f, text.len() as u64));
    }
    (events, sizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_file_rotates_like_the_logs_and_loses_no_event() {
    const FILE_BYTES: u64 = 1024;
    let template = "name = \"rotate-events\"\n[services.web]\ncommand = \"sleep\"\nargs = [\"1000\"]\nstop_grace = \"1s\"\n";
    let (cluster, dir) = cluster_with(template, |o| {
        o.log_file_bytes = FILE_BYTES;
        o.log_files = 3;
    })
    .await;
    let c = &cluster;
    let ready = |n: u32| move || (c.snapshot().services[0].ready == n).then_some(());
    // Each round is a dozen events, some 1.5 KB of JSON lines.
    for _ in 0..3 {
        cluster.scale("web", 4).await.expect("scale up");
        poll_until_async("4 ready", LONG, ready(4)).await;
        cluster.scale("web", 0).await.expect("scale down");
        poll_until_async("0 ready", LONG, ready(0)).await;
    }
    // A replica's `stopped` event comes after the scale-down's: the newest is read once all are gone.
    poll_until_async("every replica stopped", LONG, || c.snapshot().services[0].replicas.is_empty().then_some(())).await;
    let run = dir.path().join("run");
    let newest = cluster.events().await.last().map(|e| e.seq).expect("events");
    // Later events (a replica's exit after its scale-down) may follow it onto the disk.
    let (events, sizes) = poll_until_async("the newest event on disk", LONG, || {
        let (events, sizes) = event_files(&run);
        events.last().is_some_and(|e| e.seq >= newest).then_some((events, sizes))
    })
    .await;
    assert_eq!(sizes.len(), 3, "events.jsonl and two rotated files: {sizes:?}");
    assert!(!run.join("events.jsonl.3").exists());
    for (f, size) in &sizes {
        assert!(*size <= FILE_BYTES, "{} is {size} bytes", f.display());
    }
    // Whatever the oldest kept event, every later one is there once, in order.
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let first = seqs[0];
    assert!(first > 1, "nothing was rotated out: {seqs:?}");
    let last = seqs[seqs.len() - 1];
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>(), "events lost or repeated across the files");
    cluster.shutdown().await;
}

#[test]
fn without_home_a_folder_another_user_planted_in_tmp_is_refused() {
    // SAFETY: getuid(2) has no preconditions.
    let uid = unsafe { libc::getuid() };
    if uid != 0 {
        eprintln!("skipped: only root can give a link to another user");
        return;
    }
    let other = 65534;
    // A folder like /tmp, where every user can create entries.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    // Where a folder standing for `$HOME` could go: each a link of the other user's.
    for name in [format!("microdeck-{uid}"), ".local".to_string()] {
        let link = tmp.path().join(name);
        std::os::unix::fs::symlink(elsewhere.path(), &link).expect("symlink");
        std::os::unix::fs::lchown(&link, Some(other), None).expect("lchown");
    }
    let manifest = tmp.path().join("cluster.toml");
    std::fs::write(&manifest, "name = \"planted\"\n[services.web]\ncommand = \"sleep\"\nargs = [\"1000\"]\n").expect("write");
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut child = Command::new(bins::bin("microdeck"))
        .args(["up", "--web-port", "0", "--manifest"])
        .arg(&manifest)
        .env_remove("HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn microdeck up");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            child.wait().expect("reap");
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr).expect("read stderr");
    let made: Vec<_> = std::fs::read_dir(elsewhere.path()).expect("read").map(|e| e.expect("entry").path()).collect();
    assert!(made.is_empty(), "folders made where another user's link leads: {made:?}");
    assert_eq!(status.and_then(|s| s.code()), Some(5), "{stderr}");
    assert!(stderr.contains("cannot create the run folder") && stderr.contains(&format!("belongs to another user (uid {other})")), "{stderr}");
}
