//! The service actor's revisions and rollouts: a deploy, an undo or a reload makes the next
//! revision ([`History`](super::revision::History)) and rolls it out one slot at a time
//! through the slots' own surge-then-drain; the rollout's state is [`Rollout`], which says
//! what a stopped one does.

use super::actor::ServiceActor;
use super::replica::SlotConfig;
use super::revision::EnvChange;
use super::rollout::{plan, progress_text, Rollout, Stopped};
use super::Redefinition;
use crate::error::ClusterError;
use crate::events::now_ms;
use crate::snapshot::{DeployOutcome, EventKind, ReplicaState, RolloutState};

impl ServiceActor {
    /// Environment changes on top of the current definition, rolled out as the next revision.
    pub(super) fn deploy(&mut self, change: EnvChange) -> Result<DeployOutcome, ClusterError> {
        let invalid = |reason| ClusterError::InvalidDeploy { service: self.service.name.clone(), reason };
        if change.is_empty() {
            return Err(invalid("give at least one variable to set or unset".into()));
        }
        change.check().map_err(invalid)?;
        let deployed = self.deployed.then(&change);
        let cause = format!("deploy {}", change.describe());
        Ok(self.new_revision(self.base.clone(), deployed, cause))
    }

    /// `kubectl rollout undo`: the definition of revision `to` (else the one before the
    /// current) deployed again, as a new revision.
    pub(super) fn undo(&mut self, to: Option<u32>) -> Result<DeployOutcome, ClusterError> {
        let service = self.service.name.clone();
        let target = match to {
            Some(n) => self.history.get(n).ok_or(ClusterError::UnknownRevision { service, revision: n })?,
            None => self.history.previous().ok_or(ClusterError::NoPreviousRevision { service })?,
        };
        let (base, deployed, number) = (target.base.clone(), target.deployed.clone(), target.number);
        let mut outcome = self.new_revision(base, deployed, format!("undo: revision {number} again"));
        // Undoing a paused rollout to the definition it paused beside still brings that back.
        if outcome.changes.is_empty() && self.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Paused) {
            let to = self.history.current_number();
            outcome.rolling = self.begin_rollout(to, to);
        }
        Ok(outcome)
    }

    /// A reload's new definition: later launches use it (with the deploys' changes on top); a
    /// running service rolls onto it, a failed one tries again with it, a stopped one stays stopped.
    pub(super) fn redefine(&mut self, r: Redefinition) -> Result<(), ClusterError> {
        let replicas = r.service.replicas;
        let replicas_changed = replicas != self.base.replicas;
        self.senv = r.senv;
        self.deps = r.deps;
        // Knobs hold until the manifest redefines the service (a deploy keeps them).
        self.knob_env.clear();
        let on_top = if self.deployed.is_empty() { String::new() } else { format!(" (deployed {} kept on top)", self.deployed.describe()) };
        let outcome = self.new_revision(r.service, self.deployed.clone(), format!("manifest reloaded{on_top}"));
        let cfg = SlotConfig::of(&self.service);
        for slot in self.slots.values_mut() {
            slot.set_config(cfg.clone());
        }
        if replicas_changed {
            self.scale(replicas)?;
        }
        if r.roll && !outcome.rolling && self.running && self.problem.is_some() {
            self.start();
        }
        self.check_deps();
        Ok(())
    }

    /// Makes `base` + `deployed` the current definition; a new revision, rolled out, if it
    /// starts other processes than the current one.
    fn new_revision(&mut self, base: crate::manifest::Service, deployed: EnvChange, cause: String) -> DeployOutcome {
        let name = self.service.name.clone();
        self.base = base;
        self.deployed = deployed;
        self.service = self.deployed.apply(&self.base);
        let current = self.history.current_number();
        let Some(number) = self.history.record(self.base.clone(), self.deployed.clone(), cause.clone(), now_ms()) else {
            return DeployOutcome { service: name, revision: current, changes: vec![], rolling: false };
        };
        let changes = self.history.current().changes.clone();
        self.event(None, EventKind::Deployed, format!("revision {number} ({cause}): {}", changes.join("; ")));
        let rolling = self.begin_rollout(current, number);
        DeployOutcome { service: name, revision: number, changes, rolling }
    }

    /// Starts replacing the replicas that run another revision than `to`; true if it did.
    /// A replacement that had not finished (a paused or superseded rollout) is undone first,
    /// so no slot ever stops its serving process for a new one that is not ready.
    fn begin_rollout(&mut self, from: u32, to: u32) -> bool {
        self.roll.clear();
        let indices: Vec<u32> = self.slots.keys().copied().collect();
        for i in indices {
            self.apply_slot(i, |slot| slot.revert());
        }
        self.rollout = None;
        if !self.running || self.waiting_deps || self.problem.is_some() {
            return false;
        }
        self.rollout_ids += 1;
        let mut rollout = Rollout::new(self.rollout_ids, from, to, &self.service, now_ms());
        self.roll_to = to;
        self.roll = plan(self.slots.iter().filter(|(i, _)| **i < self.desired).map(|(i, s)| (*i, s.revision)), to, false);
        self.event(None, EventKind::Rollout, format!("rollout of revision {to} started: {} replica(s) to replace", self.roll.len()));
        if self.roll.is_empty() && self.rolling.is_none() {
            if let Some(text) = rollout.finish(now_ms()) {
                self.event(None, EventKind::Rollout, text);
            }
        }
        self.rollout = Some(rollout);
        true
    }

    /// The revision a replica with no process of its own starts on (a scale-up, a first
    /// start): the current one, but beside a paused rollout the revision it came from, so a
    /// scale-up never spreads the release that stopped.
    pub(super) fn start_revision(&self) -> u32 {
        match &self.rollout {
            Some(r) if r.state == RolloutState::Paused => r.from,
            _ => self.history.current_number(),
        }
    }

    /// Ready replicas on revision `revision`.
    pub(super) fn ready_on(&self, revision: u32) -> u32 {
        let procs = self.slots.values().flat_map(|s| [s.current.as_ref(), s.outgoing.as_ref()]).flatten();
        procs.filter(|p| p.state == ReplicaState::Ready && p.revision == revision).count() as u32
    }

    /// A slot's replacement began: its new process has `progress_deadline` to be ready.
    pub(super) fn step_started(&mut self, index: u32, epoch: u64) {
        let Some(r) = self.rollout.as_mut() else { return };
        r.step_started(index, epoch);
        if r.is_step(index, epoch) {
            let (deadline, id) = (r.deadline, r.id);
            self.rollout_deadline_after(deadline, id, index, epoch);
        }
    }

    /// A slot's replacement settled.
    pub(super) fn step_done(&mut self, index: u32) {
        let Some(r) = self.rollout.as_ref().filter(|r| r.active()) else { return };
        let to = if r.state == RolloutState::RollingBack { r.from } else { r.to };
        if self.slots.get(&index).is_none_or(|s| s.revision != to) {
            return;
        }
        let text = progress_text(self.ready_on(to), self.desired, to);
        self.event(Some(index), EventKind::Rollout, format!("replica {index} on revision {to}: {text}"));
    }

    /// The queue is empty and the last step settled.
    pub(super) fn roll_done(&mut self) {
        if self.rolling.is_some() {
            return;
        }
        let Some(r) = self.rollout.as_mut().filter(|r| r.active()) else { return };
        if let Some(text) = r.finish(now_ms()) {
            self.event(None, EventKind::Rollout, text);
        }
    }

    pub(super) fn step_exited(&mut self, index: u32, epoch: u64, revision: u32, how: &str, last_probe: Option<String>) {
        let Some(r) = self.rollout.as_mut() else { return };
        if let Some(stopped) = r.exited(index, epoch, revision, &format!("of revision {revision} {how}"), last_probe.as_deref(), now_ms()) {
            self.rollout_stopped(stopped);
        }
    }

    pub(super) fn step_deadline(&mut self, id: u64, index: u32, epoch: u64) {
        let proc = self.slots.get(&index).and_then(|s| s.current.as_ref()).filter(|p| p.epoch == epoch);
        let ready = proc.is_some_and(|p| p.state == ReplicaState::Ready);
        let last_probe = proc.and_then(|p| p.last_probe_error.clone());
        let Some(r) = self.rollout.as_mut() else { return };
        if let Some(stopped) = r.deadline_passed(id, index, epoch, ready, last_probe.as_deref(), now_ms()) {
            self.rollout_stopped(stopped);
        }
    }

    /// A step failed: back to the previous revision (auto), or stay as it is (manual).
    fn rollout_stopped(&mut self, stopped: Stopped) {
        let Some(r) = self.rollout.as_ref() else { return };
        let (failed, reason) = (r.to, r.reason.clone().unwrap_or_default());
        self.history.mark_failed(failed, &reason);
        self.event(None, EventKind::Rollout, reason);
        let step = self.rolling.take();
        self.roll.clear();
        match stopped {
            Stopped::Pause => {
                let text = progress_text(self.ready_on(failed), self.desired, failed);
                self.event(None, EventKind::Rollout, format!("rollout paused ({text}); `rollout undo` or another deploy goes on"));
            }
            Stopped::RollBack { to } => {
                if self.history.set_current(to) {
                    let previous = self.history.current().clone();
                    self.base = previous.base;
                    self.deployed = previous.deployed;
                    self.service = previous.service;
                }
                if let Some(i) = step {
                    self.apply_slot(i, |slot| slot.revert());
                    // Settles once the new process is gone.
                    self.rolling = Some(i);
                }
                self.roll_to = to;
                let slots = self.slots.iter().filter(|(i, _)| **i < self.desired && Some(**i) != step);
                self.roll = plan(slots.map(|(i, s)| (*i, s.revision)), to, false);
                self.event(None, EventKind::Rollout, format!("rolling back to revision {to}: {} replica(s) to replace", self.roll.len()));
            }
        }
    }
}
