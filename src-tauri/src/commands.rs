//! The Tauri commands of docs/api.md: one-line wrappers over the current `Cluster`.
//! Errors cross as `{ code, message }`.

use std::time::Duration;

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{Runtime, State, Webview};

use microdeck::autoscale::AutoscalerView;
use microdeck::cluster::{load_duration, Cluster, ClusterError, FaultView, LessonStart, LogQuery, ReloadReport, Update};
use microdeck::lessons::progress::LessonProgress;
use microdeck::lessons::LessonOutline;
use microdeck::loadgen::LoadReport;
use microdeck::manifest::ScenarioOutline;
use microdeck::proxy::fault::Fault;
use microdeck::metrics::{ReplicaShare, RevisionSeries, Series, Topology};
use microdeck::snapshot::{ClusterSnapshot, DeployOutcome, Event, LogLine, RevisionView, ServiceView};
use microdeck::supervisor::revision::EnvChange;

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

/// `Some(note)` when the scale switched the service's autoscaler off (the note says how to switch it on).
#[tauri::command]
pub async fn scale(session: State<'_, SessionHandle>, name: String, replicas: u32) -> Answer<Option<String>> {
    Ok(cluster(&session).scale_and_say(&name, replicas).await?)
}

#[tauri::command]
pub async fn set_autoscale(session: State<'_, SessionHandle>, name: String, on: bool) -> Answer<AutoscalerView> {
    Ok(cluster(&session).set_autoscale(&name, on).await?)
}

#[tauri::command]
pub async fn set_fault(session: State<'_, SessionHandle>, name: String, fault: Fault) -> Answer<FaultView> {
    Ok(cluster(&session).set_fault(&name, fault).await?)
}

/// The fault cleared, if there was one.
#[tauri::command]
pub fn clear_fault(session: State<'_, SessionHandle>, name: String) -> Answer<Option<FaultView>> {
    Ok(cluster(&session).clear_fault(&name)?)
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

/// Reads the manifest again from its file and applies it (what File → Reload manifest does).
#[tauri::command]
pub async fn reload(session: State<'_, SessionHandle>) -> Answer<ReloadReport> {
    Ok(session.reload().await?)
}

/// Streams a snapshot, then the engine's flushes (events, a log batch, a snapshot), each a
/// message, over `on_update`; returns at once. A page that subscribes again (a reload)
/// replaces its previous feed. The page acknowledges the messages it handled with `feed_ack`.
#[tauri::command]
pub fn subscribe<R: Runtime>(webview: Webview<R>, session: State<'_, SessionHandle>, on_update: Channel<Vec<Update>>) {
    session.subscribe(webview.label().to_owned(), on_update);
}

/// The page has handled `received` messages of its feed in all (a running total).
#[tauri::command]
pub async fn feed_ack<R: Runtime>(webview: Webview<R>, session: State<'_, SessionHandle>, received: u64) -> Answer<()> {
    session.ack(webview.label().to_owned(), received).await;
    Ok(())
}

/// The service's 1-second series over the last `window_s` seconds (an empty one before traffic).
#[tauri::command]
pub async fn series(session: State<'_, SessionHandle>, name: String, window_s: u64) -> Answer<Series> {
    let series = cluster(&session).series(&name, Duration::from_secs(window_s)).await?;
    Ok(series.unwrap_or_else(|| Series { service: name, ..Series::default() }))
}

#[tauri::command]
pub async fn topology(session: State<'_, SessionHandle>) -> Answer<Topology> {
    Ok(cluster(&session).topology().await?)
}

#[tauri::command]
pub async fn replica_spread(session: State<'_, SessionHandle>, name: String, window_s: u64) -> Answer<Vec<ReplicaShare>> {
    Ok(cluster(&session).replica_spread(&name, Duration::from_secs(window_s)).await?)
}

/// Sets and unsets environment variables of a service and rolls it out as a new revision
/// (kept until Microdeck stops: a restart returns to the manifest).
#[tauri::command]
pub async fn deploy(session: State<'_, SessionHandle>, name: String, change: EnvChange) -> Answer<DeployOutcome> {
    Ok(cluster(&session).deploy(&name, change).await?)
}

/// The service's revision, its last rollout and its replicas' revisions.
#[tauri::command]
pub fn rollout_status(session: State<'_, SessionHandle>, name: String) -> Answer<ServiceView> {
    Ok(cluster(&session).rollout_status(&name)?)
}

/// The service's kept revisions, newest first, each with what changed.
#[tauri::command]
pub async fn rollout_history(session: State<'_, SessionHandle>, name: String) -> Answer<Vec<RevisionView>> {
    Ok(cluster(&session).rollout_history(&name).await?)
}

/// Rolls out revision `to_revision`'s definition (else the previous one's) as a new revision.
#[tauri::command]
pub async fn rollout_undo(session: State<'_, SessionHandle>, name: String, to_revision: Option<u32>) -> Answer<DeployOutcome> {
    Ok(cluster(&session).rollout_undo(&name, to_revision).await?)
}

/// Each revision's requests a second, error % and p95 over the last `window_s` seconds.
#[tauri::command]
pub async fn revision_series(session: State<'_, SessionHandle>, name: String, window_s: u64) -> Answer<Vec<RevisionSeries>> {
    Ok(cluster(&session).revision_series(&name, Duration::from_secs(window_s)).await?)
}

/// The manifest's load scenarios (for the Load panel's picker).
#[tauri::command]
pub fn load_scenarios(session: State<'_, SessionHandle>) -> Vec<ScenarioOutline> {
    cluster(&session).load_scenarios()
}

#[tauri::command]
pub fn start_load(session: State<'_, SessionHandle>, scenario: String, rate: f64, duration_s: Option<f64>) -> Answer<LoadReport> {
    let duration = duration_s.map(load_duration).transpose()?;
    Ok(cluster(&session).start_load(&scenario, rate, duration)?)
}

#[tauri::command]
pub fn set_load_rate(session: State<'_, SessionHandle>, rate: f64) -> Answer<LoadReport> {
    Ok(cluster(&session).set_load_rate(rate)?)
}

#[tauri::command]
pub fn stop_load(session: State<'_, SessionHandle>) -> Answer<LoadReport> {
    Ok(cluster(&session).stop_load()?)
}

#[tauri::command]
pub fn load_report(session: State<'_, SessionHandle>) -> Option<LoadReport> {
    cluster(&session).load_report()
}

/// The sample kit's knobs on every ready replica; answers how many took them.
#[tauri::command]
pub async fn set_knobs(session: State<'_, SessionHandle>, name: String, knobs: serde_json::Value) -> Answer<usize> {
    Ok(cluster(&session).set_knobs(&name, &knobs).await?)
}

#[tauri::command]
pub async fn crash(session: State<'_, SessionHandle>, name: String) -> Answer<()> {
    Ok(cluster(&session).crash(&name).await?)
}

/// The bundled lessons, as the Lessons view lists them.
#[tauri::command]
pub fn lessons() -> Vec<LessonOutline> {
    microdeck::bundled::lesson_outlines()
}

/// Starts a lesson (bundled by `name`, or a file's `toml`) at its `pace`.
#[tauri::command]
pub fn start_lesson(session: State<'_, SessionHandle>, request: LessonStart) -> Answer<LessonProgress> {
    Ok(cluster(&session).run_lesson(&request)?)
}

/// Runs the next step of a lesson run step by step, or (`rest`) every step left.
#[tauri::command]
pub fn advance_lesson(session: State<'_, SessionHandle>, rest: bool) -> Answer<LessonProgress> {
    Ok(cluster(&session).advance_lesson(rest)?)
}

#[tauri::command]
pub fn stop_lesson(session: State<'_, SessionHandle>) -> Answer<LessonProgress> {
    Ok(cluster(&session).stop_lesson()?)
}

#[tauri::command]
pub fn lesson_progress(session: State<'_, SessionHandle>) -> Option<LessonProgress> {
    cluster(&session).lesson_progress()
}
