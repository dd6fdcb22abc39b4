//! What `microdeck up` leaves in its run folder, read back as a user's script would: the
//! latest snapshot (`snapshot.json`) and the event timeline (`events.jsonl`).

use std::path::Path;

use microdeck::snapshot::{ClusterSnapshot, Event, ServiceState};

/// The latest snapshot, if written and whole.
pub fn snapshot(run_dir: &Path) -> Option<ClusterSnapshot> {
    serde_json::from_slice(&std::fs::read(run_dir.join("snapshot.json")).ok()?).ok()
}

/// Every event so far, oldest first (a line still being written is skipped).
pub fn events(run_dir: &Path) -> Vec<Event> {
    std::fs::read_to_string(run_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every service ready with all its replicas.
pub fn all_ready(s: &ClusterSnapshot) -> bool {
    !s.services.is_empty() && s.services.iter().all(|v| v.state == ServiceState::Ready && v.ready == v.desired)
}
