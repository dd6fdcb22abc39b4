//! One replica slot's state machine: plain synchronous code, driven by the service
//! actor (which turns [`ReplicaAction`]s into processes, signals and timers) and unit-tested
//! without processes. Every process and timer carries an epoch; a message with a stale
//! epoch is ignored, so an old backoff timer can never restart a new process.
//!
//! A slot keeps its `REPLICA` index across restarts; during a rolling restart it holds
//! the old process (`outgoing`) until the new one (`current`) is ready.

use std::time::Duration;

use tokio::time::Instant;

use crate::manifest::{RestartPolicy, Service};
use crate::snapshot::{EventKind, ExitInfo, ReplicaState};

use super::backoff::{Backoff, BACKOFF_RESET};

/// Starts in a row on a fresh port after another process took the port given to the replica.
pub const PORT_RETRIES: u32 = 3;

/// What the slot needs from the manifest.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    pub policy: RestartPolicy,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub start_period: Duration,
}

impl SlotConfig {
    pub fn of(service: &Service) -> SlotConfig {
        SlotConfig {
            policy: service.restart,
            failure_threshold: service.health.failure_threshold.max(1),
            success_threshold: service.health.success_threshold.max(1),
            start_period: service.health.start_period,
        }
    }
}

/// One process of a slot.
#[derive(Debug, Clone)]
pub struct Proc {
    pub epoch: u64,
    /// The service revision it runs.
    pub revision: u32,
    /// The program's pid (reported by the shim; the shim's if it could not tell).
    pub pid: Option<u32>,
    pub port: u16,
    pub state: ReplicaState,
    pub started_at: Instant,
    /// Wall clock of `started_at`, for views.
    pub started_ms: u64,
    pub ready_since: Option<Instant>,
    pub last_probe_error: Option<String>,
    successes: u32,
    failures: u32,
    /// SIGTERM sent because it stayed unhealthy: its exit is a failure to restart from.
    unhealthy_restart: bool,
}

impl Proc {
    pub fn is_running(&self) -> bool {
        matches!(self.state, ReplicaState::Starting | ReplicaState::Ready | ReplicaState::Unhealthy | ReplicaState::Stopping)
    }
}

/// Something the actor must do for the slot.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaAction {
    Spawn { epoch: u64 },
    /// SIGTERM to the process group, then SIGKILL after the grace period.
    Terminate { epoch: u64 },
    /// SIGKILL to the process group now.
    Kill { epoch: u64 },
    /// Call [`Slot::restart_due`] with this epoch after `delay`.
    RestartAfter { epoch: u64, delay: Duration },
    Event { kind: EventKind, message: String },
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub index: u32,
    /// The revision its next process runs (a restart keeps the revision that ran).
    pub revision: u32,
    cfg: SlotConfig,
    next_epoch: u64,
    pub current: Option<Proc>,
    /// The process being replaced by a rolling restart; stopped once `current` is ready.
    pub outgoing: Option<Proc>,
    /// Whether the slot should be running.
    pub wanted: bool,
    pub restarts: u32,
    pub last_exit: Option<(ExitInfo, Instant)>,
    backoff: Backoff,
    /// (timer epoch, when, when on the wall clock) of a scheduled restart.
    pub pending_restart: Option<(u64, Instant, u64)>,
    /// Starts since the last ready one that found their port taken.
    port_retries: u32,
}

fn event(kind: EventKind, message: impl Into<String>) -> ReplicaAction {
    ReplicaAction::Event { kind, message: message.into() }
}

/// "exited with code 1" / "exited with signal 9 (SIGKILL)".
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (_, Some(s)) => {
            let name = nix::sys::signal::Signal::try_from(s).map(|s| s.as_str()).unwrap_or("?");
            format!("exited with signal {s} ({name})")
        }
        (Some(c), None) => format!("exited with code {c}"),
        (None, None) => "exited".to_string(),
    }
}

pub fn describe_delay(d: Duration) -> String {
    if d.is_zero() {
        "restarting now".to_string()
    } else if d < Duration::from_secs(1) {
        format!("restart in {}ms", d.as_millis())
    } else {
        format!("restart in {}s", d.as_secs_f32())
    }
}

impl Slot {
    pub fn new(index: u32, cfg: SlotConfig) -> Slot {
        Slot {
            index,
            revision: 1,
            cfg,
            next_epoch: 1,
            current: None,
            outgoing: None,
            wanted: false,
            restarts: 0,
            last_exit: None,
            backoff: Backoff::default(),
            pending_restart: None,
            port_retries: 0,
        }
    }

    /// A reload's new policy and thresholds; they apply from the next probe or exit.
    pub fn set_config(&mut self, cfg: SlotConfig) {
        self.cfg = cfg;
    }

    fn epoch(&mut self) -> u64 {
        let e = self.next_epoch;
        self.next_epoch += 1;
        e
    }

    fn spawn_new(&mut self, now: Instant) -> ReplicaAction {
        let epoch = self.epoch();
        self.current = Some(Proc {
            epoch,
            revision: self.revision,
            pid: None,
            port: 0,
            state: ReplicaState::Starting,
            started_at: now,
            started_ms: 0,
            ready_since: None,
            last_probe_error: None,
            successes: 0,
            failures: 0,
            unhealthy_restart: false,
        });
        ReplicaAction::Spawn { epoch }
    }

    fn current_running(&self) -> bool {
        self.current.as_ref().is_some_and(Proc::is_running)
    }

    /// Any process of this slot still alive (or being stopped).
    pub fn has_process(&self) -> bool {
        self.current_running() || self.outgoing.is_some()
    }

    pub fn proc_mut(&mut self, epoch: u64) -> Option<&mut Proc> {
        if self.current.as_ref().is_some_and(|p| p.epoch == epoch) {
            return self.current.as_mut();
        }
        self.outgoing.as_mut().filter(|p| p.epoch == epoch)
    }

    pub fn start(&mut self, now: Instant) -> Vec<ReplicaAction> {
        self.wanted = true;
        if self.current_running() || self.pending_restart.is_some() {
            return vec![];
        }
        self.backoff.reset();
        self.port_retries = 0;
        vec![self.spawn_new(now)]
    }

    /// The process is up, listening (soon) on `port`; its pid comes with [`Slot::program_pid`].
    pub fn spawned(&mut self, epoch: u64, port: u16, at_ms: u64, now: Instant) {
        if let Some(p) = self.proc_mut(epoch) {
            p.port = port;
            p.started_at = now;
            p.started_ms = at_ms;
        }
    }

    /// The shim told the program's own pid: the one the `started` event and views show.
    pub fn program_pid(&mut self, epoch: u64, pid: u32) -> Vec<ReplicaAction> {
        let Some(p) = self.proc_mut(epoch) else { return vec![] };
        if p.pid.is_some() || !p.is_running() {
            return vec![];
        }
        p.pid = Some(pid);
        let mut out = vec![event(EventKind::Started, format!("started (pid {pid}, port {})", p.port))];
        // Probes run from the spawn on and may pass before the pid arrives: ready comes after started.
        if p.state == ReplicaState::Starting && p.successes >= self.cfg.success_threshold {
            out.extend(self.become_ready(epoch, Instant::now()));
        }
        out
    }

    /// The probes passed and the program's start is known: the process takes traffic.
    fn become_ready(&mut self, epoch: u64, now: Instant) -> Vec<ReplicaAction> {
        let is_current = self.current.as_ref().is_some_and(|p| p.epoch == epoch);
        let Some(p) = self.proc_mut(epoch) else { return vec![] };
        p.state = ReplicaState::Ready;
        p.ready_since = Some(now);
        p.last_probe_error = None;
        self.port_retries = 0;
        let mut out = vec![event(EventKind::Ready, "ready")];
        if is_current {
            out.extend(self.retire_outgoing());
        }
        out
    }

    /// The program could not be started at all: no restart, the service shows why.
    pub fn spawn_failed(&mut self, epoch: u64, reason: &str) -> Vec<ReplicaAction> {
        if self.current.as_ref().is_some_and(|p| p.epoch == epoch) {
            self.current = None;
        }
        self.wanted = false;
        self.pending_restart = None;
        vec![event(EventKind::Failed, reason.to_string())]
    }

    pub fn probe(&mut self, epoch: u64, result: Result<(), String>, now: Instant) -> Vec<ReplicaAction> {
        let cfg = self.cfg.clone();
        let Some(p) = self.proc_mut(epoch) else { return vec![] };
        if !matches!(p.state, ReplicaState::Starting | ReplicaState::Ready | ReplicaState::Unhealthy) {
            return vec![];
        }
        let mut out = vec![];
        match result {
            Ok(()) => {
                p.failures = 0;
                p.successes += 1;
                if p.state != ReplicaState::Ready && p.successes >= cfg.success_threshold && p.pid.is_some() {
                    return self.become_ready(epoch, now);
                }
            }
            Err(e) => {
                p.successes = 0;
                p.last_probe_error = Some(e.clone());
                if p.state == ReplicaState::Starting && now.saturating_duration_since(p.started_at) < cfg.start_period {
                    return out;
                }
                p.failures += 1;
                if p.state != ReplicaState::Unhealthy && p.failures >= cfg.failure_threshold {
                    p.state = ReplicaState::Unhealthy;
                    p.ready_since = None;
                    out.push(event(EventKind::Unhealthy, format!("unhealthy: {e}")));
                } else if p.state == ReplicaState::Unhealthy && p.failures >= 2 * cfg.failure_threshold {
                    // Still failing after another threshold's worth of probes: replace it.
                    p.unhealthy_restart = true;
                    p.state = ReplicaState::Stopping;
                    out.push(event(EventKind::Restarted, format!("restarting: still unhealthy ({e})")));
                    out.push(ReplicaAction::Terminate { epoch });
                }
            }
        }
        out
    }

    /// Stops the outgoing process of a rolling restart.
    fn retire_outgoing(&mut self) -> Vec<ReplicaAction> {
        match self.outgoing.as_mut() {
            Some(o) if o.state != ReplicaState::Stopping => {
                o.state = ReplicaState::Stopping;
                vec![ReplicaAction::Terminate { epoch: o.epoch }]
            }
            _ => vec![],
        }
    }

    pub fn exited(&mut self, epoch: u64, code: Option<i32>, signal: Option<i32>, at_ms: u64, now: Instant) -> Vec<ReplicaAction> {
        let how = describe_exit(code, signal);
        if self.outgoing.as_ref().is_some_and(|p| p.epoch == epoch) {
            let was_stopping = self.outgoing.as_ref().is_some_and(|p| p.state == ReplicaState::Stopping);
            self.outgoing = None;
            let kind = if was_stopping { EventKind::Stopped } else { EventKind::Exited };
            return vec![event(kind, if was_stopping { "stopped (replaced)".to_string() } else { how })];
        }
        let Some(p) = self.current.as_mut().filter(|p| p.epoch == epoch) else { return vec![] };
        let stopping = p.state == ReplicaState::Stopping && !p.unhealthy_restart;
        let unhealthy_restart = p.unhealthy_restart;
        let ready_since = p.ready_since;
        p.state = if stopping { ReplicaState::Stopped } else { ReplicaState::Exited };
        p.pid = None;
        self.last_exit = Some((ExitInfo { code, signal, at: at_ms }, now));
        if stopping {
            let mut out = vec![event(EventKind::Stopped, "stopped")];
            // Started again while it was stopping: the start waited for this exit.
            if self.wanted && self.pending_restart.is_none() {
                self.backoff.reset();
                out.push(self.spawn_new(now));
            }
            return out;
        }
        let mut out = vec![event(EventKind::Exited, how)];
        let failed = code != Some(0) || signal.is_some() || unhealthy_restart;
        let restart = self.wanted
            && match self.cfg.policy {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => failed,
                RestartPolicy::Never => false,
            };
        if !restart {
            return out;
        }
        if ready_since.is_some_and(|r| now.saturating_duration_since(r) >= BACKOFF_RESET) {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        out.push(event(EventKind::RestartScheduled, describe_delay(delay)));
        if delay.is_zero() {
            self.restarts += 1;
            out.push(self.spawn_new(now));
        } else {
            let timer = self.epoch();
            self.pending_restart = Some((timer, now + delay, at_ms + delay.as_millis() as u64));
            out.push(ReplicaAction::RestartAfter { epoch: timer, delay });
        }
        out
    }

    /// Exited while another process (`by`) holds the port it was given: if it never got
    /// ready, that process took the port before the program could listen there. Not the
    /// program's failure: it starts again at once on a fresh port, whatever the policy, up
    /// to [`PORT_RETRIES`] times in a row; after that an exit that names the port's holder.
    /// A replica that was ready held the port itself: its exit is an exit.
    pub fn exited_port_taken(&mut self, epoch: u64, exit: (Option<i32>, Option<i32>), by: &str, at_ms: u64, now: Instant) -> Vec<ReplicaAction> {
        let (code, signal) = exit;
        let never_ready = self.current.as_ref().is_some_and(|p| p.epoch == epoch && p.state == ReplicaState::Starting);
        let port = self.current.as_ref().map_or(0, |p| p.port);
        if !never_ready || !self.wanted || self.port_retries >= PORT_RETRIES {
            let mut out = self.exited(epoch, code, signal, at_ms, now);
            for action in out.iter_mut().filter(|_| never_ready) {
                if let ReplicaAction::Event { kind: EventKind::Exited, message } = action {
                    message.push_str(&format!(" (port {port} was taken by {by})"));
                }
            }
            return out;
        }
        if let Some(p) = self.current.as_mut() {
            p.state = ReplicaState::Exited;
            p.pid = None;
        }
        self.last_exit = Some((ExitInfo { code, signal, at: at_ms }, now));
        self.port_retries += 1;
        let why = format!("{}: port {port} was taken by {by} before it listened there; starting again on a fresh port", describe_exit(code, signal));
        vec![event(EventKind::Exited, why), self.spawn_new(now)]
    }

    /// A backoff timer fired.
    pub fn restart_due(&mut self, epoch: u64, now: Instant) -> Vec<ReplicaAction> {
        match self.pending_restart {
            Some((e, _, _)) if e == epoch && self.wanted => {
                self.pending_restart = None;
                self.restarts += 1;
                vec![self.spawn_new(now)]
            }
            _ => vec![],
        }
    }

    pub fn stop(&mut self) -> Vec<ReplicaAction> {
        self.wanted = false;
        self.pending_restart = None;
        let mut out = vec![];
        for p in [self.current.as_mut(), self.outgoing.as_mut()].into_iter().flatten() {
            if p.is_running() && p.state != ReplicaState::Stopping {
                p.state = ReplicaState::Stopping;
                out.push(ReplicaAction::Terminate { epoch: p.epoch });
            }
            p.unhealthy_restart = false;
        }
        out
    }

    /// SIGKILL the current process (a demo crash); the restart policy brings it back.
    pub fn kill(&mut self) -> Vec<ReplicaAction> {
        match self.current.as_ref().filter(|p| p.is_running()) {
            Some(p) => vec![
                event(EventKind::Killed, format!("killed with SIGKILL (pid {})", p.pid.unwrap_or(0))),
                ReplicaAction::Kill { epoch: p.epoch },
            ],
            None => vec![],
        }
    }

    /// One step of a rolling restart: start a new process; the old one keeps serving
    /// until the new one is ready.
    pub fn replace(&mut self, now: Instant) -> Vec<ReplicaAction> {
        self.wanted = true;
        self.pending_restart = None;
        self.backoff.reset();
        let old = self.current.take().filter(|p| p.is_running() && p.state != ReplicaState::Stopping);
        if let Some(old) = old {
            // A second replace before the first finished: stop the older one now.
            let mut out = self.retire_outgoing_now();
            self.outgoing = Some(old);
            out.push(self.spawn_new(now));
            out
        } else {
            vec![self.spawn_new(now)]
        }
    }

    /// Undoes a replacement that has not finished: the outgoing process, still serving, is the
    /// slot's process again, and the new one (not ready) is stopped. Nothing to undo: no action.
    pub fn revert(&mut self) -> Vec<ReplicaAction> {
        let Some(old) = self.outgoing.take() else { return vec![] };
        if old.state == ReplicaState::Stopping || self.current.as_ref().is_some_and(|p| p.state == ReplicaState::Ready) {
            self.outgoing = Some(old);
            return vec![];
        }
        self.pending_restart = None;
        self.backoff.reset();
        self.revision = old.revision;
        let mut out = vec![];
        if let Some(mut new) = self.current.take() {
            if new.is_running() {
                new.unhealthy_restart = false;
                if new.state != ReplicaState::Stopping {
                    new.state = ReplicaState::Stopping;
                    out.push(ReplicaAction::Terminate { epoch: new.epoch });
                }
                self.outgoing = Some(new);
            }
        }
        self.current = Some(old);
        out
    }

    /// The epoch of the slot's current process, if it has one.
    pub fn current_epoch(&self) -> Option<u64> {
        self.current.as_ref().map(|p| p.epoch)
    }

    fn retire_outgoing_now(&mut self) -> Vec<ReplicaAction> {
        match self.outgoing.take() {
            Some(o) if o.state != ReplicaState::Stopping => vec![ReplicaAction::Terminate { epoch: o.epoch }],
            _ => vec![],
        }
    }

    /// No rolling step in progress: the new process is ready (or the slot is not wanted).
    pub fn settled(&self) -> bool {
        self.outgoing.is_none()
            && (!self.wanted || self.current.as_ref().is_some_and(|p| p.state == ReplicaState::Ready))
    }

    /// Restarted more than once in a row and not ready since: shown as crash-looping
    /// also while the next attempt starts, not only while it waits.
    pub fn crash_looping(&self) -> bool {
        self.wanted
            && (self.pending_restart.is_some()
                || (self.backoff.attempt() >= 2 && self.current.as_ref().is_some_and(|p| p.state != ReplicaState::Ready)))
    }

    pub fn ready_count(&self) -> u32 {
        [self.current.as_ref(), self.outgoing.as_ref()]
            .into_iter()
            .flatten()
            .filter(|p| p.state == ReplicaState::Ready)
            .count() as u32
    }
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
