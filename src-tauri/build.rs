//! Build script: embeds the built UI and the capabilities through `tauri_build`.

use std::path::Path;

const PLACEHOLDER: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Microdeck</title></head>
<body style="font-family: sans-serif; padding: 2em">
<h1>Microdeck</h1>
<p>The dashboard UI is not built. Run <code>make ui</code> (or <code>make run</code>) and rebuild the app.</p>
</body></html>
"#;

fn main() {
    // `frontendDist` must exist at compile time (tauri embeds it); a placeholder page keeps a
    // bare `cargo build` of the workspace working before the UI is built with `make ui`.
    let dist = Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        // Dated 1970 so that `make ui` still sees it older than the UI sources and builds them.
        let written = std::fs::create_dir_all(dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), PLACEHOLDER))
            .and_then(|()| std::fs::File::options().write(true).open(dist.join("index.html")))
            .and_then(|f| f.set_modified(std::time::UNIX_EPOCH));
        if let Err(e) = written {
            println!("cargo:warning=could not write the placeholder UI in ../ui/dist: {e}");
        }
    }
    // The embed macro only watches files that existed at the last compile: watch the folder.
    println!("cargo:rerun-if-changed=../ui/dist");
    // An app manifest makes each command a permission, so the capability grants exactly these.
    let manifest = tauri_build::AppManifest::new().commands(&COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        panic!("tauri build step failed: {e:#}");
    }
}

/// The commands of `src/commands.rs` (docs/api.md).
const COMMANDS: [&str; 36] = [
    "snapshot",
    "events",
    "logs",
    "start_service",
    "stop_service",
    "restart_service",
    "scale",
    "set_autoscale",
    "set_fault",
    "clear_fault",
    "kill_replica",
    "start_all",
    "stop_all",
    "reload",
    "subscribe",
    "feed_ack",
    "series",
    "topology",
    "replica_spread",
    "load_scenarios",
    "start_load",
    "set_load_rate",
    "stop_load",
    "load_report",
    "set_knobs",
    "crash",
    "lessons",
    "start_lesson",
    "advance_lesson",
    "stop_lesson",
    "lesson_progress",
    "deploy",
    "rollout_status",
    "rollout_history",
    "rollout_undo",
    "revision_series",
];
