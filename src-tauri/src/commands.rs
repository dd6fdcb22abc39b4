//! The Tauri commands of docs/api.md: one-line wrappers over the current `Cluster`.
//! Errors cross as `{ code, message }`.

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{Runtime, State, Webview};

use microdeck::cluster::{Cluster, ClusterError, LogQuery, Update};
use microdeck::snapshot::{ClusterSnapshot, Event, LogLine};

use crate::session::SessionHandle;

/// What a failed command returns to the page (the HTTP API's error body, same codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

impl From<ClusterError> for CommandError {
    fn from(e: ClusterError) -> CommandError {
        CommandError { code: e.code().to_owned(), message: e.to_string() }
    }
}

type Answer<T> = Result<T, CommandError>;

fn cluster(session: &State<'_, SessionHandle>) -> Cluster {
    session.cluster()
}

#[tauri::command]
pub fn snapshot(session: State<'_, SessionHandle>) -> ClusterSnapshot {
    cluster(&session).snapshot()
}

#[tauri::command]
pub async fn events(session: State<'_, SessionHandle>) -> Answer<Vec<Event>> {
    Ok(cluster(&session).events().await)
}

#[tauri::command]
pub async fn logs(session: State<'_, SessionHandle>, query: LogQuery) -> Answer<Vec<LogLine>> {
    Ok(cluster(&session).logs(&query).await)
}

#[tauri::command]
pub async fn start_service(session: State<'_, SessionHandle>, name: String) -> Answer<()> {
    Ok(cluster(&session).start_service(&name).await?)
}

#[tauri::command]
pub async fn stop_service(session: State<'_, SessionHandle>, name: String) -> Answer<()> {
    Ok(cluster(&session).stop_service(&name).await?)
}

#[tauri::command]
pub async fn restart_service(session: State<'_, SessionHandle>, name: String) -> Answer<()> {
    Ok(cluster(&session).restart_service(&name).await?)
}

#[tauri::command]
pub async fn scale(session: State<'_, SessionHandle>, name: String, replicas: u32) -> Answer<()> {
    Ok(cluster(&session).scale(&name, replicas).await?)
}

#[tauri::command]
pub async fn kill_replica(session: State<'_, SessionHandle>, name: String, index: u32) -> Answer<()> {
    Ok(cluster(&session).kill_replica(&name, index).await?)
}

#[tauri::command]
pub async fn start_all(session: State<'_, SessionHandle>) -> Answer<()> {
    Ok(cluster(&session).start_all().await?)
}

#[tauri::command]
pub async fn stop_all(session: State<'_, SessionHandle>) -> Answer<()> {
    Ok(cluster(&session).stop_all().await?)
}

/// Streams a snapshot, then updates (snapshots, log batches, events) over `on_update`; returns
/// at once. A page that subscribes again (a reload) replaces its previous feed.
#[tauri::command]
pub fn subscribe<R: Runtime>(webview: Webview<R>, session: State<'_, SessionHandle>, on_update: Channel<Update>) {
    session.subscribe(webview.label().to_owned(), on_update);
}
