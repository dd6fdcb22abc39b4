//! The slot state machine, driven by hand: no processes, paused time.

use std::time::Duration;

use tokio::time::{advance, Instant};

use super::*;
use crate::supervisor::backoff::{BACKOFF_MIN, BACKOFF_RESET};

fn cfg(policy: RestartPolicy) -> SlotConfig {
    SlotConfig { policy, failure_threshold: 2, success_threshold: 1, start_period: Duration::ZERO }
}

fn spawn_epoch(actions: &[ReplicaAction]) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            ReplicaAction::Spawn { epoch } => Some(*epoch),
            _ => None,
        })
        .expect("a spawn action")
}

fn restart_after(actions: &[ReplicaAction]) -> Option<(u64, Duration)> {
    actions.iter().find_map(|a| match a {
        ReplicaAction::RestartAfter { epoch, delay } => Some((*epoch, *delay)),
        _ => None,
    })
}

fn state(s: &Slot) -> ReplicaState {
    s.current.as_ref().expect("a process").state
}

/// The process of `epoch` is running and its pid known, as the actor reports it.
fn launched(s: &mut Slot, epoch: u64) {
    s.spawned(epoch, 4000, 0, Instant::now());
    s.program_pid(epoch, 100 + epoch as u32);
}

/// Starts a slot and makes its process ready; returns its epoch.
fn start_ready(s: &mut Slot) -> u64 {
    let e = spawn_epoch(&s.start(Instant::now()));
    launched(s, e);
    s.probe(e, Ok(()), Instant::now());
    e
}

#[tokio::test(start_paused = true)]
async fn start_probe_ready() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = spawn_epoch(&s.start(Instant::now()));
    assert_eq!(state(&s), ReplicaState::Starting);
    s.spawned(e, 5000, 0, Instant::now());
    let started = s.program_pid(e, 42);
    assert_eq!(started, vec![ReplicaAction::Event { kind: EventKind::Started, message: "started (pid 42, port 5000)".into() }]);
    assert!(s.program_pid(e, 43).is_empty(), "one started event per process");
    let out = s.probe(e, Ok(()), Instant::now());
    assert_eq!(state(&s), ReplicaState::Ready);
    assert!(out.contains(&ReplicaAction::Event { kind: EventKind::Ready, message: "ready".into() }));
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_passes_before_the_pid_is_known_makes_the_replica_ready_right_after_started() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = spawn_epoch(&s.start(Instant::now()));
    s.spawned(e, 5000, 0, Instant::now());
    assert!(s.probe(e, Ok(()), Instant::now()).is_empty(), "no ready before started");
    assert_eq!(state(&s), ReplicaState::Starting);
    let out = s.program_pid(e, 42);
    let kinds: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            ReplicaAction::Event { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![EventKind::Started, EventKind::Ready]);
    assert_eq!(state(&s), ReplicaState::Ready);
}

#[tokio::test(start_paused = true)]
async fn crash_series_backs_off_and_stale_timers_do_nothing() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let mut e = start_ready(&mut s);
    // First crash: restarted at once.
    let out = s.exited(e, Some(1), None, 0, Instant::now());
    assert_eq!(restart_after(&out), None);
    e = spawn_epoch(&out);
    // Second: 250 ms, then 500 ms.
    let out = s.exited(e, Some(1), None, 0, Instant::now());
    let (t1, d1) = restart_after(&out).expect("scheduled");
    assert_eq!(d1, BACKOFF_MIN);
    assert!(s.pending_restart.is_some());
    // A stale timer (wrong epoch) cannot restart.
    assert!(s.restart_due(t1 + 100, Instant::now()).is_empty());
    advance(d1).await;
    e = spawn_epoch(&s.restart_due(t1, Instant::now()));
    let out = s.exited(e, None, Some(9), 0, Instant::now());
    let (t2, d2) = restart_after(&out).expect("scheduled");
    assert_eq!(d2, BACKOFF_MIN * 2);
    assert!(s.crash_looping(), "waiting for the next attempt");
    // The same timer firing twice restarts once.
    assert!(!s.restart_due(t2, Instant::now()).is_empty());
    assert!(s.crash_looping(), "still crash-looping while the next attempt starts");
    assert!(s.restart_due(t2, Instant::now()).is_empty());
    assert_eq!(s.restarts, 3);
    let e = s.current.as_ref().map(|p| p.epoch).expect("current");
    launched(&mut s, e);
    s.probe(e, Ok(()), Instant::now());
    assert!(!s.crash_looping(), "ready again");
}

#[tokio::test(start_paused = true)]
async fn a_long_healthy_spell_resets_the_backoff() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = start_ready(&mut s);
    let e = spawn_epoch(&s.exited(e, Some(1), None, 0, Instant::now()));
    launched(&mut s, e);
    s.probe(e, Ok(()), Instant::now());
    advance(BACKOFF_RESET).await;
    // Ready for a minute: this crash counts as the first again.
    let out = s.exited(e, Some(1), None, 0, Instant::now());
    assert_eq!(restart_after(&out), None);
    spawn_epoch(&out);
}

#[tokio::test(start_paused = true)]
async fn policies_decide_what_restarts() {
    let mut never = Slot::new(0, cfg(RestartPolicy::Never));
    let e = start_ready(&mut never);
    let out = never.exited(e, Some(1), None, 0, Instant::now());
    assert!(out.iter().all(|a| matches!(a, ReplicaAction::Event { .. })));
    assert_eq!(state(&never), ReplicaState::Exited);

    let mut on_failure = Slot::new(0, cfg(RestartPolicy::OnFailure));
    let e = start_ready(&mut on_failure);
    assert!(on_failure.exited(e, Some(0), None, 0, Instant::now()).iter().all(|a| matches!(a, ReplicaAction::Event { .. })));
    let e = start_ready(&mut on_failure);
    spawn_epoch(&on_failure.exited(e, Some(3), None, 0, Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn stop_terminates_and_does_not_restart() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = start_ready(&mut s);
    assert_eq!(s.stop(), vec![ReplicaAction::Terminate { epoch: e }]);
    assert_eq!(state(&s), ReplicaState::Stopping);
    let out = s.exited(e, None, Some(15), 0, Instant::now());
    assert_eq!(out, vec![ReplicaAction::Event { kind: EventKind::Stopped, message: "stopped".into() }]);
    assert_eq!(state(&s), ReplicaState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn unhealthy_after_threshold_then_replaced() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = start_ready(&mut s);
    s.probe(e, Err("connection refused".into()), Instant::now());
    assert_eq!(state(&s), ReplicaState::Ready, "one failure is below the threshold of 2");
    s.probe(e, Err("connection refused".into()), Instant::now());
    assert_eq!(state(&s), ReplicaState::Unhealthy);
    assert_eq!(s.current.as_ref().and_then(|p| p.last_probe_error.clone()).as_deref(), Some("connection refused"));
    // Recovers...
    s.probe(e, Ok(()), Instant::now());
    assert_eq!(state(&s), ReplicaState::Ready);
    // ...or, failing on, is terminated and restarted as a failure.
    for _ in 0..3 {
        s.probe(e, Err("timeout".into()), Instant::now());
    }
    let out = s.probe(e, Err("timeout".into()), Instant::now());
    assert!(out.contains(&ReplicaAction::Terminate { epoch: e }));
    spawn_epoch(&s.exited(e, None, Some(15), 0, Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn failures_in_the_start_period_do_not_count() {
    let mut s = Slot::new(0, SlotConfig { start_period: Duration::from_secs(5), ..cfg(RestartPolicy::Always) });
    let e = spawn_epoch(&s.start(Instant::now()));
    for _ in 0..10 {
        s.probe(e, Err("refused".into()), Instant::now());
    }
    assert_eq!(state(&s), ReplicaState::Starting);
    advance(Duration::from_secs(6)).await;
    s.probe(e, Err("refused".into()), Instant::now());
    s.probe(e, Err("refused".into()), Instant::now());
    assert_eq!(state(&s), ReplicaState::Unhealthy);
}

#[tokio::test(start_paused = true)]
async fn rolling_replace_keeps_the_old_one_until_the_new_one_is_ready() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let old = start_ready(&mut s);
    let new = spawn_epoch(&s.replace(Instant::now()));
    assert_eq!(s.ready_count(), 1, "the old one still serves");
    assert!(!s.settled());
    launched(&mut s, new);
    let out = s.probe(new, Ok(()), Instant::now());
    assert!(out.contains(&ReplicaAction::Terminate { epoch: old }));
    assert_eq!(s.ready_count(), 1, "the new one is ready, the old one stopping");
    s.exited(old, None, Some(15), 0, Instant::now());
    assert!(s.settled());
    assert_eq!(s.current.as_ref().map(|p| p.epoch), Some(new));
}

#[tokio::test(start_paused = true)]
async fn a_reverted_replace_keeps_the_old_process_and_stops_the_new_one() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let old = start_ready(&mut s);
    s.revision = 2;
    let new = spawn_epoch(&s.replace(Instant::now()));
    assert_eq!(s.current.as_ref().map(|p| p.revision), Some(2));
    launched(&mut s, new);
    // The new one crashes twice: the first restart is at once, the second waits for a backoff.
    let respawned = spawn_epoch(&s.exited(new, Some(1), None, 0, Instant::now()));
    launched(&mut s, respawned);
    assert!(restart_after(&s.exited(respawned, Some(1), None, 0, Instant::now())).is_some());
    let out = s.revert();
    assert!(out.is_empty(), "the crashed process needs no signal: {out:?}");
    assert_eq!(s.current.as_ref().map(|p| (p.epoch, p.revision, p.state)), Some((old, 1, ReplicaState::Ready)));
    assert_eq!(s.revision, 1, "its restarts run the old revision again");
    assert!(s.pending_restart.is_none() && s.outgoing.is_none() && s.settled());

    // A new process still starting is stopped, and the old one serves on.
    s.revision = 2;
    let again = spawn_epoch(&s.replace(Instant::now()));
    launched(&mut s, again);
    assert_eq!(s.revert(), vec![ReplicaAction::Terminate { epoch: again }]);
    assert_eq!(s.ready_count(), 1);
    assert!(!s.settled(), "until the new one exits");
    s.exited(again, None, Some(15), 0, Instant::now());
    assert!(s.settled());
    assert_eq!(s.current.as_ref().map(|p| p.epoch), Some(old));
    assert!(s.revert().is_empty(), "nothing left to undo");
}

#[tokio::test(start_paused = true)]
async fn kill_and_spawn_failure() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Always));
    let e = start_ready(&mut s);
    assert!(s.kill().contains(&ReplicaAction::Kill { epoch: e }));
    let out = s.exited(e, None, Some(9), 0, Instant::now());
    let e2 = spawn_epoch(&out);
    let out = s.spawn_failed(e2, "program `x` not found");
    assert!(matches!(&out[0], ReplicaAction::Event { kind: EventKind::Failed, .. }));
    assert!(!s.wanted && s.current.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_port_taken_before_the_first_ready_restarts_at_once_a_few_times_whatever_the_policy() {
    let mut s = Slot::new(0, cfg(RestartPolicy::Never));
    let mut e = spawn_epoch(&s.start(Instant::now()));
    for _ in 0..PORT_RETRIES {
        s.spawned(e, 4000, 0, Instant::now());
        let out = s.exited_port_taken(e, (Some(2), None), "pid 7 (thief)", 0, Instant::now());
        let why = "exited with code 2: port 4000 was taken by pid 7 (thief) before it listened there; starting again on a fresh port";
        assert_eq!(out[0], ReplicaAction::Event { kind: EventKind::Exited, message: why.into() });
        assert!(restart_after(&out).is_none(), "no backoff: {out:?}");
        e = spawn_epoch(&out);
    }
    assert_eq!(s.restarts, 0, "not a crash of the program");
    s.spawned(e, 4000, 0, Instant::now());
    let out = s.exited_port_taken(e, (Some(2), None), "pid 7 (thief)", 0, Instant::now());
    assert_eq!(out, vec![ReplicaAction::Event { kind: EventKind::Exited, message: "exited with code 2 (port 4000 was taken by pid 7 (thief))".into() }]);
    // Ready once: the count starts over, and a ready replica's exit is its own.
    let e = start_ready(&mut s);
    let out = s.exited_port_taken(e, (Some(1), None), "pid 8 (x)", 0, Instant::now());
    assert_eq!(out, vec![ReplicaAction::Event { kind: EventKind::Exited, message: "exited with code 1".into() }]);
    let e = spawn_epoch(&s.start(Instant::now()));
    s.spawned(e, 4001, 0, Instant::now());
    assert!(s.exited_port_taken(e, (Some(2), None), "pid 7", 0, Instant::now()).iter().any(|a| matches!(a, ReplicaAction::Spawn { .. })));
}
