//! `Client`: the local API of a running cluster (headless or desktop), found through its state file.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::cluster::{LogQuery, ReloadReport, Update};
use crate::lessons::progress::LessonProgress;
use crate::snapshot::{ClusterSnapshot, DeployOutcome, LogLine, RevisionView, ServiceView};
use crate::web::files::{self, StateFile};
use crate::web::ErrorBody;

/// Why a verb could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no running Microdeck found (looked in {}); start one with `microdeck up`", .0.display())]
    NotRunning(PathBuf),
    #[error("no running Microdeck found ({} names pid {pid}, which has exited); start one with `microdeck up`", .path.display())]
    Stale { path: PathBuf, pid: u32 },
    #[error(transparent)]
    File(#[from] files::FileError),
    #[error("cannot reach Microdeck at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// The cluster answered with an error (`code` is e.g. `unknown-service`).
    #[error("{message}")]
    Api { status: StatusCode, code: String, message: String },
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
}

/// A connection to one running cluster's local API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Result<Client, ClientError> {
        let base = base.into();
        match crate::loopback::client() {
            Ok(http) => Ok(Client { base, token: token.into(), http }),
            Err(source) => Err(ClientError::Unreachable { url: base, source }),
        }
    }

    /// The cluster named by the state file (`$XDG_RUNTIME_DIR/microdeck/api.json`).
    pub fn discover() -> Result<Client, ClientError> {
        let path = files::state_path();
        let state = StateFile::read(&path)?.ok_or_else(|| ClientError::NotRunning(path.clone()))?;
        if !state.owner_alive() {
            return Err(ClientError::Stale { path, pid: state.pid });
        }
        Client::new(state.url, state.token)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|source| ClientError::Unreachable { url: url.clone(), source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) => ClientError::Api { status, code: e.code, message: e.message },
            Err(_) => ClientError::Api { status, code: "http".into(), message: format!("{status}: {text}") },
        })
    }

    async fn json<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self.send(method, path, body).await?;
        response.json().await.map_err(|e| ClientError::Protocol { url, detail: e.to_string() })
    }

    async fn command(&self, path: &str, body: Option<Value>) -> Result<(), ClientError> {
        self.json::<Value>(Method::POST, path, body).await.map(drop)
    }

    pub async fn snapshot(&self) -> Result<ClusterSnapshot, ClientError> {
        self.json(Method::GET, "/api/snapshot", None).await
    }

    pub async fn logs(&self, query: &LogQuery) -> Result<Vec<LogLine>, ClientError> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &query.service {
            pairs.push(("service", s.clone()));
        }
        if let Some(r) = query.replica {
            pairs.push(("replica", r.to_string()));
        }
        if let Some(l) = query.level {
            pairs.push(("level", serde_json::to_value(l).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()));
        }
        if let Some(t) = &query.text {
            pairs.push(("text", t.clone()));
        }
        if let Some(n) = query.limit {
            pairs.push(("limit", n.to_string()));
        }
        let qs = serde_urlencoded::to_string(&pairs).map_err(|e| ClientError::Protocol { url: self.base.clone(), detail: e.to_string() })?;
        self.json(Method::GET, &format!("/api/logs?{qs}"), None).await
    }

    pub async fn start_service(&self, name: &str) -> Result<(), ClientError> {
        self.command(&format!("/api/services/{}/start", segment(name)), None).await
    }
    pub async fn stop_service(&self, name: &str) -> Result<(), ClientError> {
        self.command(&format!("/api/services/{}/stop", segment(name)), None).await
    }
    pub async fn restart_service(&self, name: &str) -> Result<(), ClientError> {
        self.command(&format!("/api/services/{}/restart", segment(name)), None).await
    }
    /// Scales; an autoscaled service's autoscaler switches off, and the answer says so.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<Option<String>, ClientError> {
        let path = format!("/api/services/{}/scale", segment(name));
        let answer: Value = self.json(Method::POST, &path, Some(json!({ "replicas": replicas }))).await?;
        Ok(answer.get("autoscaler_off").and_then(Value::as_str).map(str::to_string))
    }
    /// Switches a service's autoscaler on or off (`Some`), or reads it (`None`).
    pub async fn autoscale(&self, name: &str, on: Option<bool>) -> Result<crate::autoscale::AutoscalerView, ClientError> {
        let path = format!("/api/services/{}/autoscale", segment(name));
        match on {
            Some(on) => self.json(Method::POST, &path, Some(json!({ "on": on }))).await,
            None => self.json(Method::GET, &path, None).await,
        }
    }
    /// The fault at a service's address now.
    pub async fn fault(&self, name: &str) -> Result<Option<crate::cluster::FaultView>, ClientError> {
        let answer: FaultAnswer = self.json(Method::GET, &format!("/api/services/{}/fault", segment(name)), None).await?;
        Ok(answer.fault)
    }
    pub async fn set_fault(&self, name: &str, fault: &crate::proxy::fault::Fault) -> Result<crate::cluster::FaultView, ClientError> {
        let path = format!("/api/services/{}/fault", segment(name));
        let body = serde_json::to_value(fault).map_err(|e| ClientError::Protocol { url: path.clone(), detail: e.to_string() })?;
        let answer: FaultAnswer = self.json(Method::PUT, &path, Some(body)).await?;
        answer.fault.ok_or_else(|| ClientError::Protocol { url: path, detail: "no fault in the answer".into() })
    }
    /// Clears a service's fault; the one cleared, if any.
    pub async fn clear_fault(&self, name: &str) -> Result<Option<crate::cluster::FaultView>, ClientError> {
        let answer: FaultAnswer = self.json(Method::DELETE, &format!("/api/services/{}/fault", segment(name)), None).await?;
        Ok(answer.fault)
    }
    pub async fn kill_replica(&self, name: &str, index: u32) -> Result<(), ClientError> {
        self.command(&format!("/api/services/{}/replicas/{index}/kill", segment(name)), None).await
    }

    pub async fn deploy(&self, name: &str, change: &crate::supervisor::revision::EnvChange) -> Result<DeployOutcome, ClientError> {
        let body = json!({ "env": change.set, "unset": change.unset });
        self.json(Method::POST, &format!("/api/services/{}/deploy", segment(name)), Some(body)).await
    }
    pub async fn rollout_status(&self, name: &str) -> Result<ServiceView, ClientError> {
        self.json(Method::GET, &format!("/api/services/{}/rollout", segment(name)), None).await
    }
    pub async fn rollout_history(&self, name: &str) -> Result<Vec<RevisionView>, ClientError> {
        self.json(Method::GET, &format!("/api/services/{}/revisions", segment(name)), None).await
    }
    pub async fn rollout_undo(&self, name: &str, to_revision: Option<u32>) -> Result<DeployOutcome, ClientError> {
        let body = json!({ "to_revision": to_revision });
        self.json(Method::POST, &format!("/api/services/{}/rollout/undo", segment(name)), Some(body)).await
    }

    /// Reads the manifest again from its file and applies it.
    pub async fn reload(&self) -> Result<ReloadReport, ClientError> {
        self.json(Method::POST, "/api/reload", None).await
    }

    /// Starts a lesson: `{ "name": … }` (bundled) or `{ "toml": …, "file": … }`.
    pub async fn start_lesson(&self, body: Value) -> Result<LessonProgress, ClientError> {
        self.json(Method::POST, "/api/lessons/start", Some(body)).await
    }
    pub async fn stop_lesson(&self) -> Result<LessonProgress, ClientError> {
        self.json(Method::POST, "/api/lessons/stop", None).await
    }
    /// The running lesson's progress, or the last one's.
    pub async fn lesson_progress(&self) -> Result<Option<LessonProgress>, ClientError> {
        self.json(Method::GET, "/api/lessons/current", None).await
    }

    /// The SSE feed; read it with [`UpdateStream::next`].
    pub async fn subscribe(&self) -> Result<UpdateStream, ClientError> {
        let response = self.send(Method::GET, "/api/subscribe", None).await?;
        Ok(UpdateStream { response, buffer: String::new(), url: format!("{}/api/subscribe", self.base) })
    }
}

/// Service names are plain words, but a stray `/` must not change the route.
fn segment(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F").replace('?', "%3F").replace('#', "%23").replace(' ', "%20")
}

/// `Update`s read from an SSE response (`event: update`, `data: JSON`).
pub struct UpdateStream {
    response: reqwest::Response,
    buffer: String,
    url: String,
}

impl UpdateStream {
    /// The next update; `None` when the server ends the feed.
    pub async fn next(&mut self) -> Result<Option<Update>, ClientError> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(update) = parse_frame(&frame).map_err(|detail| ClientError::Protocol { url: self.url.clone(), detail })? {
                    return Ok(Some(update));
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                Ok(None) => return Ok(None),
                Err(source) => return Err(ClientError::Unreachable { url: self.url.clone(), source }),
            }
        }
    }
}

/// One SSE frame: an `update` event's JSON, or `None` for keep-alive comments and other events.
fn parse_frame(frame: &str) -> Result<Option<Update>, String> {
    let mut event = "message";
    let mut data = Vec::new();
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if event != "update" || data.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&data.join("\n")).map(Some).map_err(|e| format!("bad update: {e}"))
}

/// The body of every fault route.
#[derive(Debug, serde::Deserialize)]
struct FaultAnswer {
    fault: Option<crate::cluster::FaultView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_parse_updates_and_skip_comments() {
        assert!(parse_frame(":\n\n").unwrap().is_none());
        let frame = "event: update\ndata: {\"type\":\"logs\",\"lines\":[],\"skipped\":3}\n\n";
        match parse_frame(frame).unwrap() {
            Some(Update::Logs { lines, skipped }) => assert!(lines.is_empty() && skipped == 3),
            other => panic!("{other:?}"),
        }
        assert!(parse_frame("event: update\ndata: {nope\n\n").is_err());
    }

    #[test]
    fn names_cannot_escape_their_path_segment() {
        assert_eq!(segment("users"), "users");
        assert_eq!(segment("a/../b?x"), "a%2F..%2Fb%3Fx");
    }
}
