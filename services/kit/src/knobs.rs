//! Demo knobs: simulated work per request, a per-replica concurrency limit (so capacity
//! grows with replicas) and an injected error rate; read from env, changed at run time.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// The knob values a replica runs with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Knobs {
    /// Extra time spent on each request of the service's own routes, in ms.
    pub work_ms: u64,
    /// Requests served at once by this replica (the rest wait); 0 = no limit.
    pub max_inflight: u32,
    /// Probability (0..=1) that a request is answered 500.
    pub error_rate: f64,
}

/// A partial update, as posted to `POST /admin/knobs`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    pub work_ms: Option<u64>,
    pub max_inflight: Option<u32>,
    pub error_rate: Option<f64>,
}

impl Knobs {
    /// From `WORK_MS`, `MAX_INFLIGHT`, `ERROR_RATE`; a value that does not parse is ignored with a warning.
    pub fn from_env() -> Knobs {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            let v = std::env::var(name).ok()?;
            match v.trim().parse() {
                Ok(x) => Some(x),
                Err(_) => {
                    tracing::warn!(name, value = %v, "ignoring a knob that does not parse");
                    None
                }
            }
        }
        let patch = KnobsPatch { work_ms: var("WORK_MS"), max_inflight: var("MAX_INFLIGHT"), error_rate: var("ERROR_RATE") };
        Knobs::default().patched(patch).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring knobs from the environment");
            Knobs::default()
        })
    }

    /// These knobs with `patch` applied, or why the patch is refused.
    pub fn patched(self, patch: KnobsPatch) -> Result<Knobs, String> {
        let mut k = self;
        if let Some(w) = patch.work_ms {
            if w > 60_000 {
                return Err("work_ms must be at most 60000".into());
            }
            k.work_ms = w;
        }
        if let Some(m) = patch.max_inflight {
            k.max_inflight = m;
        }
        if let Some(e) = patch.error_rate {
            if !(0.0..=1.0).contains(&e) {
                return Err("error_rate must be between 0 and 1".into());
            }
            k.error_rate = e;
        }
        Ok(k)
    }
}

/// Knobs plus the gate that enforces `max_inflight`; swapped whole on a change, so
/// requests read them without a lock (in-flight ones finish under the old gate).
struct Current {
    knobs: Knobs,
    gate: Option<Arc<Semaphore>>,
}

impl Current {
    fn new(knobs: Knobs) -> Current {
        let gate = (knobs.max_inflight > 0).then(|| Arc::new(Semaphore::new(knobs.max_inflight as usize)));
        Current { knobs, gate }
    }
}

/// The replica's knobs, shared by the middleware and the admin routes.
pub struct KnobState(ArcSwap<Current>);

impl KnobState {
    pub fn new(knobs: Knobs) -> KnobState {
        KnobState(ArcSwap::from_pointee(Current::new(knobs)))
    }

    pub fn get(&self) -> Knobs {
        self.0.load().knobs
    }

    pub fn apply(&self, patch: KnobsPatch) -> Result<Knobs, String> {
        let next = self.get().patched(patch)?;
        let cur = self.0.load();
        // Keep the gate (and its queue) when the limit did not change.
        let gate = if cur.knobs.max_inflight == next.max_inflight { cur.gate.clone() } else { Current::new(next).gate };
        self.0.store(Arc::new(Current { knobs: next, gate }));
        Ok(next)
    }
}

/// Middleware over a service's own routes: wait for a slot, spend `work_ms`, maybe fail.
pub async fn apply_knobs(State(state): State<Arc<KnobState>>, req: Request, next: Next) -> Response {
    let cur = state.0.load_full();
    // The gate is never closed, so acquiring only waits.
    let _permit = match &cur.gate {
        Some(gate) => gate.clone().acquire_owned().await.ok(),
        None => None,
    };
    if cur.knobs.work_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cur.knobs.work_ms)).await;
    }
    if cur.knobs.error_rate > 0.0 && rand::random::<f64>() < cur.knobs.error_rate {
        let body = serde_json::json!({ "error": "injected error (error_rate knob)" });
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_is_partial_and_validated() {
        let k = Knobs { work_ms: 5, max_inflight: 2, error_rate: 0.0 };
        let p = k.patched(KnobsPatch { error_rate: Some(0.5), ..Default::default() }).unwrap();
        assert_eq!(p, Knobs { work_ms: 5, max_inflight: 2, error_rate: 0.5 });
        assert!(k.patched(KnobsPatch { error_rate: Some(1.5), ..Default::default() }).is_err());
        assert!(k.patched(KnobsPatch { work_ms: Some(61_000), ..Default::default() }).is_err());
    }
}
