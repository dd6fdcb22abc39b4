//! The built dashboard (`ui/dist`), found at run time: never a compile-time need of the engine.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The UI folder to serve: `explicit` (`--ui-dir`), else `ui/` next to the executable,
/// else the repository's `ui/dist` (a source checkout). The first holding an `index.html` wins.
pub fn resolve_ui_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_owned());
    }
    let beside_exe = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("ui")));
    let in_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("ui").join("dist");
    beside_exe.into_iter().chain([in_repo]).find(|d| d.join("index.html").is_file())
}

/// Adds the UI as the fallback of `router`: files of the UI folder, `index.html` for any other
/// path (the app routes on the client), or a page saying how to build it when there is none.
/// The folder is looked up per request, so a `make ui` while the server runs is picked up.
pub fn with_ui<S: Clone + Send + Sync + 'static>(router: Router<S>, explicit: Option<PathBuf>) -> Router<S> {
    router.fallback_service(serve_ui.with_state(explicit))
}

async fn serve_ui(State(explicit): State<Option<PathBuf>>, request: Request) -> Response {
    let Some(dir) = resolve_ui_dir(explicit.as_deref()).filter(|d| d.join("index.html").is_file()) else {
        return (StatusCode::OK, Html(NOT_BUILT)).into_response();
    };
    let index = ServeFile::new(dir.join("index.html"));
    match ServeDir::new(dir).fallback(index).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

const NOT_BUILT: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Microdeck</title></head>
<body style="font-family: sans-serif; padding: 2em; max-width: 40em">
<h1>Microdeck</h1>
<p>The API is running, but the dashboard is not built. In the source folder run
<code>make ui</code>, then reload this page (or start with <code>microdeck up --ui-dir PATH</code>).</p>
<p>The JSON API answers at <code>/api/snapshot</code>, with the header <code>Authorization: Bearer TOKEN</code>.</p>
</body></html>
"#;
