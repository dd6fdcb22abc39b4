//! Quitting: closing the window, File → Quit, or SIGTERM/SIGINT all complete
//! `Cluster::shutdown()` before the process exits, showing what they still wait for.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use microdeck::shell::{stop_reporting, Signals};

use crate::session::SessionHandle;

/// Whether a quit has begun, and whether it is done (then exit may proceed).
#[derive(Default)]
pub struct QuitState {
    started: AtomicBool,
    done: AtomicBool,
}

/// The `quitting` event the page may show: what the shutdown still waits for.
#[derive(Debug, Clone, Serialize)]
pub struct Quitting {
    pub waiting: String,
}

/// Whether the shutdown has completed, so an exit request may go through.
pub fn done<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<QuitState>().is_none_or(|q| q.done.load(Ordering::SeqCst))
}

/// Starts the shutdown once; the app exits when it completes.
pub fn begin<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<QuitState>() else { return };
    if state.started.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(session) = app.try_state::<SessionHandle>().map(|s| s.inner().clone()) else {
        state.done.store(true, Ordering::SeqCst);
        app.exit(0);
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        stop_reporting(&session.cluster(), session.shutdown(), |waiting| report(&app, waiting)).await;
        if let Some(state) = app.try_state::<QuitState>() {
            state.done.store(true, Ordering::SeqCst);
        }
        app.exit(0);
    });
}

/// Shows what the shutdown waits for in the window title and as a `quitting` event.
fn report<R: Runtime>(app: &AppHandle<R>, waiting: &str) {
    let title = if waiting.is_empty() { "Microdeck — quitting…".to_owned() } else { format!("Microdeck — quitting: waiting for {waiting}…") };
    if let Some(window) = app.get_webview_window("main") {
        if let Err(e) = window.set_title(&title) {
            tracing::debug!("cannot set the title: {e}");
        }
    }
    if let Err(e) = app.emit("quitting", Quitting { waiting: waiting.to_owned() }) {
        tracing::debug!("cannot emit `quitting`: {e}");
    }
}

/// From now on, SIGTERM and SIGINT (caught since start-up) quit like a closed window does;
/// a second one exits at once.
pub fn quit_on_signal<R: Runtime>(mut signals: Signals, app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        signals.recv().await;
        begin(&app);
        signals.exit_on_next().await;
    });
}
