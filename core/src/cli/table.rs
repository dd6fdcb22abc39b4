//! The compact status table `microdeck up` prints when something changes.

use crate::events::now_ms;
use crate::snapshot::{ClusterSnapshot, ReplicaState, ServiceState, ServiceView};

fn state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Starting => "starting",
        ServiceState::Ready => "ready",
        ServiceState::Degraded => "degraded",
        ServiceState::Unhealthy => "unhealthy",
        ServiceState::CrashLooping => "crash-looping",
        ServiceState::Stopped => "stopped",
        ServiceState::Failed => "FAILED",
    }
}

fn note(s: &ServiceView) -> String {
    if let Some(p) = &s.problem {
        return p.clone();
    }
    if let Some(at) = s.next_restart_at {
        let ms = at.saturating_sub(now_ms());
        // Rounded to whole seconds so the table does not change every tick.
        return format!("next restart in {}s", ms.div_ceil(1000));
    }
    s.replicas.iter().find_map(|r| r.last_probe_error.clone()).unwrap_or_default()
}

/// One line per service: state, ready/desired, restarts, address, and why if not fine.
pub fn render(snap: &ClusterSnapshot) -> String {
    let width = snap.services.iter().map(|s| s.name.len()).max().unwrap_or(7).max(7);
    let mut out = String::new();
    out.push_str(&format!("{:width$}  {:13}  {:5}  {:8}  {:21}  NOTE\n", "SERVICE", "STATE", "READY", "RESTARTS", "ADDRESS"));
    for s in &snap.services {
        let ready = format!("{}/{}", s.ready, s.desired);
        out.push_str(&format!(
            "{:width$}  {:13}  {:5}  {:8}  {:21}  {}\n",
            s.name,
            state_name(s.state),
            ready,
            s.restarts,
            s.address,
            note(s)
        ));
    }
    out
}

/// "users (2 replicas), auth (1 replica)": what a shutdown still waits for.
pub fn still_running(snap: &ClusterSnapshot) -> String {
    snap.services
        .iter()
        .filter_map(|s| {
            let n = s.replicas.iter().filter(|r| r.pid.is_some() && r.state != ReplicaState::Stopped && r.state != ReplicaState::Exited).count();
            (n > 0).then(|| format!("{} ({n} replica{})", s.name, if n == 1 { "" } else { "s" }))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
