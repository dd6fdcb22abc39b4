//! Fire-and-forget events to the analytics service: spawned, short timeout, never failing
//! (or slowing) the request that caused them — analytics being down is invisible to callers.

use std::time::Duration;

/// Posts `{source, kind, ...}` to `ANALYTICS_URL/events`; does nothing without one.
#[derive(Clone, Debug)]
pub struct Analytics {
    url: Option<String>,
    source: String,
    client: reqwest::Client,
}

impl Analytics {
    /// From `ANALYTICS_URL` (absent = events are dropped).
    pub fn from_env(source: &str) -> Analytics {
        Analytics::new(crate::env_url("ANALYTICS_URL"), source)
    }

    pub fn new(url: Option<String>, source: &str) -> Analytics {
        Analytics { url, source: source.into(), client: crate::client(source, Duration::from_secs(1)) }
    }

    /// Sends one event in the background; `fields` (an object) is merged into it.
    pub fn event(&self, kind: &str, fields: serde_json::Value) {
        let Some(url) = &self.url else { return };
        let mut body = serde_json::json!({ "source": self.source, "kind": kind });
        if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), fields) {
            b.extend(extra);
        }
        let (client, url) = (self.client.clone(), format!("{url}/events"));
        tokio::spawn(async move {
            if let Err(e) = client.post(&url).json(&body).send().await.and_then(|r| r.error_for_status()) {
                tracing::debug!(error = %e, "analytics event dropped");
            }
        });
    }
}
