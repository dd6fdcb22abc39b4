//! The native menu: File → Open… (a manifest or Procfile), Reload manifest, Reset sample
//! data, Quit. What a reload did shows as its `reloaded` event in the page; a failure, in a dialog.
//! The file dialog runs on the Rust side only: the page has no dialog permission.

use tauri::menu::{Menu, MenuBuilder, MenuEvent, MenuItemBuilder, PredefinedMenuItem, SubmenuBuilder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{DialogExt, MessageDialogKind};

use crate::launch;
use crate::session::SessionHandle;

const OPEN: &str = "file-open";
const RELOAD: &str = "file-reload";
const RESET: &str = "file-reset-data";
const QUIT: &str = "file-quit";

pub fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let file = SubmenuBuilder::new(app, "File")
        .item(&MenuItemBuilder::with_id(OPEN, "Open…").accelerator("CmdOrCtrl+O").build(app)?)
        .item(&MenuItemBuilder::with_id(RELOAD, "Reload manifest").accelerator("CmdOrCtrl+Shift+R").build(app)?)
        .item(&MenuItemBuilder::with_id(RESET, "Reset sample data").build(app)?)
        .item(&PredefinedMenuItem::separator(app)?)
        .item(&MenuItemBuilder::with_id(QUIT, "Quit").accelerator("CmdOrCtrl+Q").build(app)?)
        .build()?;
    MenuBuilder::new(app).item(&file).build()
}

pub fn handle<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    match event.id().as_ref() {
        OPEN => open(app),
        RELOAD => reload(app),
        RESET => reset(app),
        QUIT => crate::quit::begin(app),
        _ => {}
    }
}

fn session<R: Runtime>(app: &AppHandle<R>) -> Option<SessionHandle> {
    app.try_state::<SessionHandle>().map(|s| s.inner().clone())
}

fn show_error<R: Runtime>(app: &AppHandle<R>, title: &str, message: String) {
    app.dialog().message(message).title(title).kind(MessageDialogKind::Error).show(|_| {});
}

fn open<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    app.dialog()
        .file()
        .set_title("Open a manifest (.toml) or a Procfile")
        .pick_file(move |picked| {
            let Some(path) = picked.and_then(|p| p.into_path().ok()) else { return };
            let manifest = match launch::load_picked(&path) {
                Ok(m) => m,
                Err(e) => return show_error(&handle, "Cannot open this file", e.to_string()),
            };
            let Some(session) = session(&handle) else { return };
            let name = manifest.name.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = session.open(manifest).await {
                    show_error(&handle, "Cannot start this cluster", format!("could not start `{name}`: {e}"));
                }
            });
        });
}

fn reload<R: Runtime>(app: &AppHandle<R>) {
    let Some(session) = session(app) else { return };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = session.reload().await {
            show_error(&handle, "Cannot reload the manifest", e.to_string());
        }
    });
}

fn reset<R: Runtime>(app: &AppHandle<R>) {
    let Some(session) = session(app) else { return };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = session.reset_data().await {
            show_error(&handle, "Reset sample data", e.to_string());
        }
    });
}
