//! The service's view (what snapshots show) and its replica set (what its address
//! follows), both built from the actor's slots.

use crate::manifest::Protocol;
use crate::snapshot::{ReplicaState, ReplicaView, ServiceState, ServiceView};

use super::actor::ServiceActor;
use super::members::{Leaving, Member, ReplicaSet};
use super::replica::Proc;

fn replica_view(index: u32, p: Option<&Proc>, slot: &super::replica::Slot) -> ReplicaView {
    ReplicaView {
        index,
        pid: p.and_then(|p| p.pid),
        port: p.map(|p| p.port).unwrap_or(0),
        state: p.map(|p| p.state).unwrap_or(ReplicaState::Stopped),
        restarts: slot.restarts,
        started_at: p.filter(|p| p.is_running() && p.started_ms > 0).map(|p| p.started_ms),
        last_exit: slot.last_exit.as_ref().map(|(e, _)| e.clone()),
        last_probe_error: p.and_then(|p| p.last_probe_error.clone()),
        cpu_percent: 0.0,
        rss_bytes: 0,
        revision: p.map_or(slot.revision, |p| p.revision),
    }
}

pub(super) fn build_view(a: &ServiceActor) -> ServiceView {
    let mut replicas = vec![];
    let mut ready = 0;
    let mut restarts = 0;
    let mut next_restart_at: Option<u64> = None;
    let mut any_unhealthy = false;
    let mut crash_looping = false;
    for slot in a.slots.values() {
        ready += slot.ready_count();
        crash_looping |= slot.crash_looping();
        restarts += slot.restarts;
        if let Some((_, _, at)) = slot.pending_restart {
            next_restart_at = Some(next_restart_at.map_or(at, |n| n.min(at)));
        }
        if let Some(o) = &slot.outgoing {
            replicas.push(replica_view(slot.index, Some(o), slot));
        }
        if let Some(p) = &slot.current {
            any_unhealthy |= p.state == ReplicaState::Unhealthy;
        }
        replicas.push(replica_view(slot.index, slot.current.as_ref(), slot));
    }
    let state = if a.problem.is_some() {
        ServiceState::Failed
    } else if !a.running {
        // Replicas still stopping show as `stopping` in their own rows.
        ServiceState::Stopped
    } else if a.waiting_deps {
        ServiceState::Starting
    } else if crash_looping {
        ServiceState::CrashLooping
    } else if ready >= a.desired {
        ServiceState::Ready
    } else if ready > 0 {
        ServiceState::Degraded
    } else if any_unhealthy {
        ServiceState::Unhealthy
    } else {
        ServiceState::Starting
    };
    ServiceView {
        name: a.service.name.clone(),
        state,
        desired: a.desired,
        ready,
        address: format!("127.0.0.1:{}", a.port),
        port: a.port,
        protocol: match a.service.protocol {
            Protocol::Http => "http".into(),
            Protocol::Tcp => "tcp".into(),
        },
        restarts,
        next_restart_at,
        problem: a.problem.clone(),
        optional: a.service.optional,
        started_at: a.started_ms,
        cpu_percent: 0.0,
        rss_bytes: 0,
        replicas,
        revision: a.history.current_number(),
        rollout: a.rollout.as_ref().map(|r| r.view(a.ready_on(r.to), a.desired)),
        deployed: a.deployed.clone(),
    }
}

/// The processes by what the address must do with them: leaving ones (terminated, not
/// exited yet) take precedence over the state their slot still shows.
pub(super) fn replica_set(a: &ServiceActor) -> ReplicaSet {
    let mut set = ReplicaSet { revision: a.history.current_number(), ..ReplicaSet::default() };
    for slot in a.slots.values() {
        for p in [slot.outgoing.as_ref(), slot.current.as_ref()].into_iter().flatten() {
            if a.procs.get(&(slot.index, p.epoch)).is_some_and(|rt| rt.leaving.is_some()) {
                continue;
            }
            let member = Member { replica: slot.index, port: p.port, revision: p.revision };
            match p.state {
                ReplicaState::Ready => set.ready.push(member),
                ReplicaState::Starting => set.starting.push(member),
                _ => {}
            }
        }
    }
    let mut leaving: Vec<&Leaving> = a.procs.values().filter_map(|rt| rt.leaving.as_ref()).collect();
    leaving.sort_by_key(|l| (l.member.replica, l.member.port));
    set.leaving = leaving.into_iter().cloned().collect();
    set
}
