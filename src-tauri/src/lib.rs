//! # microdeck-desktop
//!
//! The Tauri v2 shell over the engine: it starts a `Cluster` (the bundled sample cluster, or
//! `--manifest F` / `--procfile F`, or one opened from File → Open…), serves the local API
//! beside it so the CLI verbs work, exposes the cluster's commands to the page and stops the
//! cluster before the process exits.
//!
//! ## Layout
//!
//! - [`commands`]: the Tauri commands, one-line wrappers over `Cluster`; `{ code, message }` errors;
//! - [`session`]: the actor owning the running cluster, the local API and the pages' feeds;
//! - [`launch`]: the command line, the manifest and the cluster's options;
//! - [`menu`]: File → Open…, Reload manifest, Reset sample data, Quit;
//! - [`quit`]: closing, quitting and SIGTERM complete the shutdown first.

pub mod commands;
pub mod launch;
pub mod menu;
pub mod quit;
pub mod session;

use std::process::ExitCode;

use clap::Parser;
use tauri::{Builder, Manager, RunEvent, Runtime, WindowEvent};

use launch::{Args, Launch};
use session::SessionHandle;

/// The app's commands, shared by the app and the tests on `tauri::test::mock_builder()`.
pub fn register<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::snapshot,
        commands::events,
        commands::logs,
        commands::start_service,
        commands::stop_service,
        commands::restart_service,
        commands::scale,
        commands::set_autoscale,
        commands::set_fault,
        commands::clear_fault,
        commands::kill_replica,
        commands::start_all,
        commands::stop_all,
        commands::reload,
        commands::subscribe,
        commands::feed_ack,
        commands::series,
        commands::topology,
        commands::replica_spread,
        commands::load_scenarios,
        commands::start_load,
        commands::set_load_rate,
        commands::stop_load,
        commands::load_report,
        commands::set_knobs,
        commands::crash,
        commands::lessons,
        commands::start_lesson,
        commands::advance_lesson,
        commands::stop_lesson,
        commands::lesson_progress,
        commands::deploy,
        commands::rollout_status,
        commands::rollout_history,
        commands::rollout_undo,
        commands::revision_series,
    ])
}

/// Runs the app until it quits; the cluster is stopped by then.
pub fn run() -> ExitCode {
    launch::set_webkit_defaults();
    let _no_subscriber = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _unprintable = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let manifest = match launch::manifest_of(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("microdeck-desktop: {e}");
            return ExitCode::from(2);
        }
    };
    let name = manifest.name.clone();
    let signals = match tauri::async_runtime::block_on(async { microdeck::shell::Signals::catch() }) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("microdeck-desktop: cannot catch SIGTERM/SIGINT: {e}");
            None
        }
    };
    let started = tauri::async_runtime::block_on(SessionHandle::start(Launch::from_args(&args), manifest));
    let session = match started {
        Ok((session, login)) => {
            if let Some(url) = login {
                println!("microdeck-desktop: cluster `{name}`; dashboard and API at {url}");
            }
            session
        }
        Err(e) => {
            eprintln!("microdeck-desktop: cannot start `{name}`: {e}");
            return ExitCode::from(5);
        }
    };
    let app = register(Builder::default())
        .plugin(tauri_plugin_dialog::init())
        .manage(session.clone())
        .manage(quit::QuitState::default())
        .menu(menu::build)
        .on_menu_event(menu::handle)
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // The window stays until the services have stopped, showing what it waits for.
                api.prevent_close();
                quit::begin(window.app_handle());
            }
        })
        .setup(move |app| {
            if let Some(signals) = signals {
                quit::quit_on_signal(signals, app.handle().clone());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("microdeck-desktop: cannot open the window: {e}");
            tauri::async_runtime::block_on(session.shutdown());
            return ExitCode::from(5);
        }
    };
    let code = app.run_return(|app, event| {
        if let RunEvent::ExitRequested { api, .. } = event {
            if !quit::done(app) {
                api.prevent_exit();
                quit::begin(app);
            }
        }
    });
    // Whatever ended the loop, no service outlives the app.
    tauri::async_runtime::block_on(session.shutdown());
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
