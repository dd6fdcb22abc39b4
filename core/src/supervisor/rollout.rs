//! One rollout of a service: which replicas to replace, which step is under way, and what a
//! stopped rollout does (`rollback`). Plain code, unit-tested without processes; the service
//! actor drives it from the replica slots' events and its own deadline timers.
//!
//! A step is one slot's surge-then-drain (`Slot::replace`): the new process starts beside the
//! old one, which leaves through the drain once the new one is ready. A step fails when its new
//! process exits, or is not ready `progress_deadline` after it started; deadline timers carry
//! the rollout's id and the process's epoch, so a stale one finds nothing to stop.

use std::collections::VecDeque;
use std::time::Duration;

use crate::manifest::{Rollback, Service};
use crate::snapshot::{EpochMs, RolloutState, RolloutView};

/// What the actor does once a rollout stops on a bad replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Undo the step under way and replace the new revision's replicas with revision `to`.
    RollBack { to: u32 },
    /// Leave the replicas as they are.
    Pause,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Tags its deadline timers.
    pub id: u64,
    pub from: u32,
    pub to: u32,
    pub policy: Rollback,
    pub deadline: Duration,
    pub state: RolloutState,
    pub reason: Option<String>,
    pub started_at: EpochMs,
    pub finished_at: Option<EpochMs>,
    /// The slot being replaced and its new process's epoch.
    step: Option<(u32, u64)>,
}

/// The slots to replace for `target`, in slot order: those whose process runs another revision
/// (all of them when `every`, as a rolling restart asks).
pub fn plan(slots: impl IntoIterator<Item = (u32, u32)>, target: u32, every: bool) -> VecDeque<u32> {
    slots.into_iter().filter(|(_, revision)| every || *revision != target).map(|(index, _)| index).collect()
}

/// "2 of 3 replicas on revision 4".
pub fn progress_text(updated: u32, desired: u32, revision: u32) -> String {
    format!("{updated} of {desired} replica{} on revision {revision}", if desired == 1 { "" } else { "s" })
}

impl Rollout {
    pub fn new(id: u64, from: u32, to: u32, service: &Service, now: EpochMs) -> Rollout {
        Rollout {
            id,
            from,
            to,
            policy: service.rollback,
            deadline: service.progress_deadline,
            state: RolloutState::Progressing,
            reason: None,
            started_at: now,
            finished_at: None,
            step: None,
        }
    }

    /// Still replacing replicas (forward or back).
    pub fn active(&self) -> bool {
        matches!(self.state, RolloutState::Progressing | RolloutState::RollingBack)
    }

    /// A step began: slot `replica`'s new process is `epoch`. Only a forward rollout watches
    /// its steps; a rollback goes to a revision that already ran.
    pub fn step_started(&mut self, replica: u32, epoch: u64) {
        if self.state == RolloutState::Progressing {
            self.step = Some((replica, epoch));
        }
    }

    /// The step's slot, if `replica`/`epoch` is its new process.
    pub fn is_step(&self, replica: u32, epoch: u64) -> bool {
        self.state == RolloutState::Progressing && self.step == Some((replica, epoch))
    }

    pub fn step(&self) -> Option<(u32, u64)> {
        self.step
    }

    /// A process exited that was not asked to: the step's new one, or one of the new revision an
    /// earlier step made, stops the rollout (a release that crashes a minute in is as bad).
    pub fn exited(&mut self, replica: u32, epoch: u64, revision: u32, how: &str, last_probe: Option<&str>, now: EpochMs) -> Option<Stopped> {
        let of_the_release = self.state == RolloutState::Progressing && revision == self.to;
        if !self.is_step(replica, epoch) && !of_the_release {
            return None;
        }
        let probe = last_probe.map(|p| format!(" (last probe: {p})")).unwrap_or_default();
        Some(self.fail(format!("replica {replica} {how}{probe}"), now))
    }

    /// A deadline timer fired for `replica`/`epoch`; `ready` says whether that process is.
    pub fn deadline_passed(&mut self, id: u64, replica: u32, epoch: u64, ready: bool, last_probe: Option<&str>, now: EpochMs) -> Option<Stopped> {
        if id != self.id || ready || !self.is_step(replica, epoch) {
            return None;
        }
        let probe = last_probe.map_or_else(|| "no probe passed".to_string(), |p| format!("last probe: {p}"));
        let within = crate::manifest::duration::format(self.deadline);
        Some(self.fail(format!("replica {replica} not ready within {within} ({probe})"), now))
    }

    fn fail(&mut self, why: String, now: EpochMs) -> Stopped {
        self.step = None;
        self.reason = Some(format!("rollout of revision {} failed: {why}", self.to));
        match self.policy {
            Rollback::Auto => {
                self.state = RolloutState::RollingBack;
                Stopped::RollBack { to: self.from }
            }
            Rollback::Manual => {
                self.state = RolloutState::Paused;
                self.finished_at = Some(now);
                Stopped::Pause
            }
        }
    }

    /// Every planned step is done: complete, or back on the previous revision.
    pub fn finish(&mut self, now: EpochMs) -> Option<String> {
        let (state, text) = match self.state {
            RolloutState::Progressing => (RolloutState::Complete, format!("rollout of revision {} complete", self.to)),
            RolloutState::RollingBack => (RolloutState::RolledBack, format!("rolled back to revision {}", self.from)),
            _ => return None,
        };
        self.state = state;
        self.step = None;
        self.finished_at = Some(now);
        Some(text)
    }

    pub fn view(&self, updated: u32, desired: u32) -> RolloutView {
        RolloutView {
            from: self.from,
            to: self.to,
            state: self.state,
            updated,
            desired,
            reason: self.reason.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            deadline_ms: self.deadline.as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Run;

    fn service(policy: Rollback) -> Service {
        let mut s = crate::manifest::validate::default_service("users", Run::Shell { line: "x".into() }, std::path::Path::new("."));
        s.rollback = policy;
        s.progress_deadline = Duration::from_secs(3);
        s
    }

    /// (slot, revision) pairs, the target, every slot or not, the slots to replace.
    type PlanCase = (&'static [(u32, u32)], u32, bool, &'static [u32]);

    #[test]
    fn the_plan_replaces_what_runs_another_revision() {
        let cases: [PlanCase; 4] = [
            (&[(0, 1), (1, 1), (2, 1)], 2, false, &[0, 1, 2]),
            (&[(0, 2), (1, 1), (2, 2)], 2, false, &[1]),
            (&[(0, 2), (1, 2)], 2, false, &[]),
            (&[(0, 2), (1, 2)], 2, true, &[0, 1]),
        ];
        for (slots, target, every, want) in cases {
            assert_eq!(Vec::from(plan(slots.iter().copied(), target, every)), want.to_vec(), "{slots:?} → {target}");
        }
    }

    #[test]
    fn a_step_that_exits_stops_the_rollout_as_the_policy_says() {
        let cases = [(Rollback::Auto, Stopped::RollBack { to: 3 }, RolloutState::RollingBack), (Rollback::Manual, Stopped::Pause, RolloutState::Paused)];
        for (policy, want, state) in cases {
            let mut r = Rollout::new(7, 3, 4, &service(policy), 0);
            r.step_started(0, 5);
            assert_eq!(r.exited(1, 5, 3, "exited with code 1", None, 10), None, "another slot's old process");
            assert_eq!(r.exited(0, 4, 3, "exited with code 1", None, 10), None, "the slot's old process");
            assert_eq!(r.exited(0, 5, 4, "exited with code 1", Some("HTTP 503"), 10), Some(want));
            assert_eq!(r.state, state);
            assert_eq!(r.reason.as_deref(), Some("rollout of revision 4 failed: replica 0 exited with code 1 (last probe: HTTP 503)"));
            assert_eq!(r.exited(0, 5, 4, "exited with code 1", None, 11), None, "stopped once");
        }
    }

    #[test]
    fn only_the_steps_own_deadline_stops_it_and_only_if_not_ready() {
        let mut r = Rollout::new(7, 1, 2, &service(Rollback::Auto), 0);
        r.step_started(1, 9);
        assert_eq!(r.deadline_passed(6, 1, 9, false, None, 5), None, "an older rollout's timer");
        assert_eq!(r.deadline_passed(7, 1, 8, false, None, 5), None, "an older process's timer");
        assert_eq!(r.deadline_passed(7, 1, 9, true, None, 5), None, "ready in time");
        assert_eq!(r.deadline_passed(7, 1, 9, false, Some("HTTP 503"), 5), Some(Stopped::RollBack { to: 1 }));
        assert_eq!(r.reason.as_deref(), Some("rollout of revision 2 failed: replica 1 not ready within 3s (last probe: HTTP 503)"));
    }

    #[test]
    fn a_rollout_finishes_complete_or_rolled_back_and_a_rollback_watches_no_step() {
        let mut done = Rollout::new(1, 1, 2, &service(Rollback::Auto), 0);
        assert_eq!(done.finish(9).as_deref(), Some("rollout of revision 2 complete"));
        assert_eq!((done.state, done.finished_at), (RolloutState::Complete, Some(9)));
        assert_eq!(done.finish(10), None);

        let mut back = Rollout::new(1, 1, 2, &service(Rollback::Auto), 0);
        back.step_started(0, 3);
        back.deadline_passed(1, 0, 3, false, None, 4);
        back.step_started(1, 4);
        assert!(!back.is_step(1, 4), "the way back is not watched");
        assert!(back.active());
        assert_eq!(back.finish(9).as_deref(), Some("rolled back to revision 1"));
        assert!(!back.active());

        let mut paused = Rollout::new(1, 1, 2, &service(Rollback::Manual), 0);
        paused.step_started(0, 3);
        paused.exited(0, 3, 2, "exited with code 1", None, 4);
        assert!(!paused.active());
        assert_eq!(paused.finish(9), None, "a paused rollout waits for the user");
    }

    #[test]
    fn a_process_of_the_release_that_exits_stops_the_rollout_and_one_of_the_old_revision_does_not() {
        // (replica, epoch, revision of the exited process, stops)
        let cases = [(1, 9, 2, true), (0, 4, 2, true), (0, 4, 1, false), (1, 8, 1, false)];
        for (replica, epoch, revision, stops) in cases {
            let mut r = Rollout::new(1, 1, 2, &service(Rollback::Auto), 0);
            r.step_started(1, 9);
            let stopped = r.exited(replica, epoch, revision, "exited with code 1", None, 5);
            assert_eq!(stopped.is_some(), stops, "{replica} {epoch} {revision}");
        }
        let mut r = Rollout::new(1, 1, 2, &service(Rollback::Auto), 0);
        r.exited(0, 4, 2, "exited with code 3", None, 5);
        assert_eq!(r.reason.as_deref(), Some("rollout of revision 2 failed: replica 0 exited with code 3"));
        // On the way back, revision 2's processes are meant to go.
        assert_eq!(r.exited(1, 5, 2, "exited with code 1", None, 6), None);
    }

    #[test]
    fn progress_reads_as_a_sentence() {
        assert_eq!(progress_text(2, 3, 4), "2 of 3 replicas on revision 4");
        assert_eq!(progress_text(1, 1, 2), "1 of 1 replica on revision 2");
    }
}
