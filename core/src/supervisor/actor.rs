//! The service actor: owns a service's replica slots, turns their [`ReplicaAction`]s into
//! processes, signals and timers, and publishes the service's view after every message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ClusterError;
use crate::events::{now_ms, EventDraft};
use crate::health::ProbeReport;
use crate::manifest::{HealthCheck, Service};
use crate::snapshot::{DeployOutcome, EventKind, Level, ReplicaState, ServiceView};

use super::members::{Leaving, ReplicaSet};
use super::replica::{ReplicaAction, Slot, SlotConfig};
use super::revision::{EnvChange, History};
use super::rollout::Rollout;
use super::spawn::{self, ServiceEnv};
use super::view::{build_view, replica_set};
use super::{ServiceCommand, ServiceHandle, Shared, MAX_REPLICAS};

/// What the actor's own tasks (process waiters, timers) tell it.
pub(super) enum Internal {
    Pid { index: u32, epoch: u64, pid: u32 },
    /// `port_taken`: another process holds the replica's port now (named if it can be).
    Exited { index: u32, epoch: u64, code: Option<i32>, signal: Option<i32>, port_taken: Option<String> },
    RestartDue { index: u32, epoch: u64 },
    GraceOver { index: u32, epoch: u64 },
    /// A rollout step's `progress_deadline` passed.
    RolloutDeadline { id: u64, index: u32, epoch: u64 },
}

/// A live process as the actor knows it.
pub(super) struct ProcRt {
    pub(super) pgid: i32,
    pub(super) port: u16,
    pub(super) revision: u32,
    /// Stops its probe loop.
    pub(super) probes: CancellationToken,
    /// Set once it is terminated: it leaves the address, drained, before its SIGTERM.
    pub(super) leaving: Option<Leaving>,
}

pub struct ServiceActor {
    /// The definition of the current revision: `base` with `deployed` on top.
    pub(super) service: Service,
    /// The manifest's definition.
    pub(super) base: Service,
    /// The deploys' changes on top of `base`, kept across reloads.
    pub(super) deployed: EnvChange,
    pub(super) history: History,
    /// The knobs' variables, for every replica started from now on (not part of a revision).
    pub(super) knob_env: BTreeMap<String, String>,
    pub(super) senv: ServiceEnv,
    /// The stable address's port.
    pub(super) port: u16,
    pub(super) shared: Arc<Shared>,
    pub(super) deps: Vec<watch::Receiver<ServiceView>>,
    pub(super) slots: BTreeMap<u32, Slot>,
    pub(super) desired: u32,
    pub(super) running: bool,
    pub(super) waiting_deps: bool,
    pub(super) problem: Option<String>,
    pub(super) started_ms: Option<u64>,
    pub(super) procs: HashMap<(u32, u64), ProcRt>,
    pub(super) roll: VecDeque<u32>,
    pub(super) rolling: Option<u32>,
    /// The revision the queued slots are replaced with.
    pub(super) roll_to: u32,
    pub(super) rollout: Option<Rollout>,
    pub(super) rollout_ids: u64,
    pub(super) internal_tx: mpsc::Sender<Internal>,
    pub(super) probe_tx: mpsc::Sender<ProbeReport>,
    view_tx: watch::Sender<ServiceView>,
    pub(super) members_tx: watch::Sender<ReplicaSet>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    shutting_down: bool,
}

/// Starts a service's actor (idle: send `Start`). `deps` are the views of its `depends_on`.
/// The replica set is for the service's address to follow; while someone holds it, a
/// leaving replica is signalled only after that follower drained it.
/// `before`: the history of the service this one takes over at a new address, which goes on
/// (the file's definition as its next revision, with what was deployed on top).
pub fn spawn_service(
    base: Service,
    senv: ServiceEnv,
    port: u16,
    deps: Vec<watch::Receiver<ServiceView>>,
    shared: Arc<Shared>,
    before: Option<History>,
) -> (ServiceHandle, watch::Receiver<ReplicaSet>) {
    let (tx, cmd_rx) = mpsc::channel(32);
    let (internal_tx, internal_rx) = mpsc::channel(256);
    let (probe_tx, probe_rx) = mpsc::channel(256);
    let history = match before {
        Some(mut history) => {
            let deployed = history.current().deployed.clone();
            let on_top = if deployed.is_empty() { String::new() } else { format!(" (deployed {} kept on top)", deployed.describe()) };
            let _same = history.record(base.clone(), deployed, format!("manifest reloaded at a new address{on_top}"), now_ms());
            history
        }
        None => History::new(base.clone(), EnvChange::default(), now_ms()),
    };
    let (service, deployed) = (history.current().service.clone(), history.current().deployed.clone());
    let desired = service.replicas;
    let mut actor = ServiceActor {
        slots: BTreeMap::new(),
        desired,
        running: false,
        waiting_deps: false,
        problem: None,
        started_ms: None,
        procs: HashMap::new(),
        roll: VecDeque::new(),
        rolling: None,
        roll_to: history.current_number(),
        rollout: None,
        rollout_ids: 0,
        history,
        base,
        deployed,
        knob_env: BTreeMap::new(),
        internal_tx,
        probe_tx,
        view_tx: watch::channel(placeholder_view(&service, port)).0,
        members_tx: watch::channel(ReplicaSet::default()).0,
        shutdown_waiters: vec![],
        shutting_down: false,
        service,
        senv,
        port,
        shared,
        deps,
    };
    for i in 0..desired {
        actor.slots.insert(i, Slot::new(i, SlotConfig::of(&actor.service)));
    }
    let initial = build_view(&actor);
    actor.view_tx.send_replace(initial);
    let view = actor.view_tx.subscribe();
    let members = actor.members_tx.subscribe();
    let name = actor.service.name.clone();
    let tracker = actor.shared.tracker.clone();
    tracker.spawn(actor.run(cmd_rx, internal_rx, probe_rx));
    (ServiceHandle { name, tx, view }, members)
}

fn placeholder_view(service: &Service, port: u16) -> ServiceView {
    ServiceView {
        name: service.name.clone(),
        state: crate::snapshot::ServiceState::Stopped,
        desired: service.replicas,
        ready: 0,
        address: format!("127.0.0.1:{port}"),
        port,
        protocol: String::new(),
        restarts: 0,
        next_restart_at: None,
        problem: None,
        optional: service.optional,
        started_at: None,
        cpu_percent: 0.0,
        rss_bytes: 0,
        replicas: vec![],
        revision: 1,
        rollout: None,
        deployed: EnvChange::default(),
    }
}

impl ServiceActor {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::Receiver<ServiceCommand>,
        mut internal_rx: mpsc::Receiver<Internal>,
        mut probe_rx: mpsc::Receiver<ProbeReport>,
    ) {
        let cancel = self.shared.cancel.clone();
        let mut any_change = self.shared.version.subscribe();
        let mut commands_closed = false;
        let mut reply: Option<Answer> = None;
        loop {
            tokio::select! {
                cmd = cmd_rx.recv(), if !commands_closed => match cmd {
                    Some(cmd) => reply = self.command(cmd),
                    None => {
                        commands_closed = true;
                        self.begin_shutdown(None);
                    }
                },
                Some(msg) = internal_rx.recv() => self.internal(msg),
                Some(report) = probe_rx.recv() => self.probe(report),
                _ = cancel.cancelled(), if !self.shutting_down => self.begin_shutdown(None),
                Ok(()) = any_change.changed(), if self.waiting_deps => self.check_deps(),
            }
            self.advance_roll();
            self.publish();
            if let Some(answer) = reply.take() {
                answer.send();
            }
            if self.shutting_down && self.procs.is_empty() {
                for w in self.shutdown_waiters.drain(..) {
                    let _gone = w.send(());
                }
                break;
            }
        }
    }

    fn publish(&mut self) {
        let members = replica_set(self);
        self.members_tx.send_if_modified(|m| {
            let changed = *m != members;
            if changed {
                *m = members;
            }
            changed
        });
        let view = build_view(self);
        let changed = self.view_tx.send_if_modified(|v| {
            if *v == view {
                false
            } else {
                *v = view;
                true
            }
        });
        if changed {
            self.shared.version.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    pub(super) fn event(&self, replica: Option<u32>, kind: EventKind, message: impl Into<String>) {
        let message = message.into();
        let level = match kind {
            EventKind::Failed | EventKind::Exited | EventKind::Killed => Some(Level::Warn),
            EventKind::Unhealthy | EventKind::RestartScheduled => Some(Level::Info),
            _ => None,
        };
        if let (Some(level), Some(replica)) = (level, replica) {
            self.shared.output.note(&self.service.name, replica, level, message.clone());
        }
        self.shared.events.record(EventDraft { service: self.service.name.clone(), replica, kind, message });
    }

    /// Carries out a command; the reply is sent by the loop after the view is published,
    /// so a caller that awaited it sees the change in the next snapshot.
    fn command(&mut self, cmd: ServiceCommand) -> Option<Answer> {
        let done = |reply, result| Some(Answer::Done(reply, result));
        match cmd {
            ServiceCommand::Start(reply) => done(reply, self.guard().map(|()| self.start())),
            ServiceCommand::Stop(reply) => done(reply, self.guard().map(|()| self.stop())),
            ServiceCommand::Restart(reply) => done(reply, self.guard().map(|()| self.restart())),
            ServiceCommand::Scale(n, reply) => done(reply, self.guard().and_then(|()| self.scale(n))),
            ServiceCommand::Kill(index, reply) => done(reply, self.guard().and_then(|()| self.kill(index))),
            ServiceCommand::Redefine(r, reply) => done(reply, self.guard().and_then(|()| self.redefine(*r))),
            ServiceCommand::SetEnv(vars, reply) => {
                self.knob_env.extend(vars);
                done(reply, self.guard())
            }
            ServiceCommand::Deploy(change, reply) => Some(Answer::Deployed(reply, self.guard().and_then(|()| self.deploy(change)))),
            ServiceCommand::Undo(to, reply) => Some(Answer::Deployed(reply, self.guard().and_then(|()| self.undo(to)))),
            ServiceCommand::History(reply) => {
                let _caller_gone = reply.send(self.history.views());
                None
            }
            ServiceCommand::Handover(reply) => {
                let _caller_gone = reply.send(self.history.clone());
                None
            }
            ServiceCommand::Shutdown(reply) => {
                self.begin_shutdown(Some(reply));
                None
            }
        }
    }

    fn guard(&self) -> Result<(), ClusterError> {
        if self.shutting_down {
            Err(ClusterError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    fn begin_shutdown(&mut self, reply: Option<oneshot::Sender<()>>) {
        self.shutdown_waiters.extend(reply);
        if !self.shutting_down {
            self.shutting_down = true;
            self.stop();
        }
    }

    fn deps_ready(&self) -> bool {
        self.deps.iter().all(|d| d.borrow().ready > 0)
    }

    pub(super) fn check_deps(&mut self) {
        if self.waiting_deps && self.deps_ready() {
            self.waiting_deps = false;
            self.start_slots();
        }
    }

    /// Starts the slots not running (all of them, if the service was stopped or failed).
    pub(super) fn start(&mut self) {
        if !self.running || self.problem.is_some() {
            self.started_ms = Some(now_ms());
        }
        self.running = true;
        self.problem = None;
        if self.deps_ready() {
            self.start_slots();
        } else {
            self.waiting_deps = true;
        }
    }

    pub(super) fn start_slots(&mut self) {
        let revision = self.start_revision();
        let cfg = SlotConfig::of(self.definition(revision));
        for i in 0..self.desired {
            let slot = self.slots.entry(i).or_insert_with(|| Slot::new(i, cfg.clone()));
            if !slot.has_process() && slot.pending_restart.is_none() {
                slot.revision = revision;
            }
        }
        let now = Instant::now();
        let indices: Vec<u32> = self.slots.keys().copied().filter(|i| *i < self.desired).collect();
        for i in indices {
            if self.problem.is_some() {
                break;
            }
            if let Some(slot) = self.slots.get_mut(&i) {
                let actions = slot.start(now);
                self.apply(i, actions);
            }
        }
    }

    fn stop(&mut self) {
        self.running = false;
        self.waiting_deps = false;
        self.started_ms = None;
        self.roll.clear();
        self.rolling = None;
        // A stopped service has no rollout under way; it starts on its current revision.
        self.rollout = None;
        let indices: Vec<u32> = self.slots.keys().copied().collect();
        for i in indices {
            if let Some(slot) = self.slots.get_mut(&i) {
                let actions = slot.stop();
                self.apply(i, actions);
            }
        }
        self.prune_slots();
    }

    fn restart(&mut self) {
        if !self.running || self.waiting_deps || self.problem.is_some() {
            self.start();
            return;
        }
        self.event(None, EventKind::Restarted, format!("rolling restart of {} replica(s)", self.desired));
        // Every replica, on the current revision. A slot being replaced now finishes first
        // (`rolling` is kept), so a second roll never stops a replica before its successor is ready.
        self.roll_to = self.history.current_number();
        self.roll = (0..self.desired).collect();
    }

    pub(super) fn scale(&mut self, n: u32) -> Result<(), ClusterError> {
        if n > MAX_REPLICAS {
            return Err(ClusterError::TooManyReplicas { service: self.service.name.clone(), asked: n });
        }
        let old = self.desired;
        if n == old {
            return Ok(());
        }
        self.desired = n;
        self.event(None, EventKind::Scaled, format!("scaled from {old} to {n} replica(s)"));
        self.roll.retain(|i| *i < n);
        if n > old {
            if self.running && !self.waiting_deps {
                self.start_slots();
            } else {
                let cfg = SlotConfig::of(&self.service);
                for i in old..n {
                    self.slots.entry(i).or_insert_with(|| Slot::new(i, cfg.clone()));
                }
            }
        } else {
            for i in n..old {
                if let Some(slot) = self.slots.get_mut(&i) {
                    let actions = slot.stop();
                    self.apply(i, actions);
                }
            }
            self.prune_slots();
        }
        Ok(())
    }

    fn kill(&mut self, index: u32) -> Result<(), ClusterError> {
        let unknown = || ClusterError::UnknownReplica { service: self.service.name.clone(), index };
        let slot = self.slots.get_mut(&index).ok_or_else(unknown)?;
        let actions = slot.kill();
        if actions.is_empty() {
            return Err(unknown());
        }
        self.apply(index, actions);
        Ok(())
    }

    /// Drops the slots above `desired` whose processes are gone.
    fn prune_slots(&mut self) {
        let desired = self.desired;
        self.slots.retain(|i, s| *i < desired || s.has_process());
    }

    /// Replaces the next replica of the roll once the one before has settled, so at most
    /// [`super::ROLL_SURGE`] process runs beyond the replicas.
    fn advance_roll(&mut self) {
        loop {
            if let Some(i) = self.rolling {
                if self.slots.get(&i).is_some_and(|s| !s.settled()) {
                    return;
                }
                self.rolling = None;
                self.step_done(i);
            }
            let Some(i) = self.roll.pop_front() else {
                self.roll_done();
                return;
            };
            let (to, cfg) = (self.roll_to, SlotConfig::of(self.definition(self.roll_to)));
            if let Some(slot) = self.slots.get_mut(&i) {
                slot.revision = to;
                slot.set_config(cfg);
                let actions = slot.replace(Instant::now());
                let epoch = slot.current_epoch();
                self.apply(i, actions);
                self.rolling = Some(i);
                if let Some(epoch) = epoch {
                    self.step_started(i, epoch);
                }
            }
        }
    }

    /// The definition of revision `number` (the current one if it is no longer kept).
    pub(super) fn definition(&self, number: u32) -> &Service {
        self.history.get(number).map_or(&self.service, |r| &r.service)
    }

    /// Schedules an internal message: a rollout step's deadline.
    pub(super) fn rollout_deadline_after(&self, delay: Duration, id: u64, index: u32, epoch: u64) {
        self.timer(delay, Internal::RolloutDeadline { id, index, epoch });
    }

    pub(super) fn apply_slot(&mut self, index: u32, f: impl FnOnce(&mut Slot) -> Vec<ReplicaAction>) {
        if let Some(slot) = self.slots.get_mut(&index) {
            let actions = f(slot);
            self.apply(index, actions);
        }
    }

    fn internal(&mut self, msg: Internal) {
        let now = Instant::now();
        match msg {
            Internal::Pid { index, epoch, pid } => {
                if let Some(slot) = self.slots.get_mut(&index) {
                    let actions = slot.program_pid(epoch, pid);
                    self.apply(index, actions);
                }
                // A `process` check passes once the program runs: after its `started`, never before.
                let revision = self.slots.get(&index).and_then(|s| s.current.as_ref()).filter(|p| p.epoch == epoch).map(|p| p.revision);
                let health = self.definition(revision.unwrap_or(self.roll_to)).health.clone();
                if health.check == HealthCheck::Process {
                    for _ in 0..health.success_threshold.max(1) {
                        self.probe(ProbeReport { index, epoch, result: Ok(()) });
                    }
                }
            }
            Internal::Exited { index, epoch, code, signal, port_taken } => {
                let revision = self.procs.remove(&(index, epoch)).map(|rt| {
                    rt.probes.cancel();
                    rt.revision
                });
                let current = self.slots.get(&index).and_then(|s| s.current.as_ref()).filter(|p| p.epoch == epoch);
                let last_probe = current.and_then(|p| p.last_probe_error.clone());
                // Only an exit nobody asked for counts against a rollout.
                let unasked = current.is_some_and(|p| p.state != ReplicaState::Stopping);
                if let Some(slot) = self.slots.get_mut(&index) {
                    let actions = match port_taken {
                        Some(by) => slot.exited_port_taken(epoch, (code, signal), &by, now_ms(), now),
                        None => slot.exited(epoch, code, signal, now_ms(), now),
                    };
                    self.apply(index, actions);
                }
                if let (Some(revision), true) = (revision, unasked) {
                    self.step_exited(index, epoch, revision, &super::replica::describe_exit(code, signal), last_probe);
                }
                self.prune_slots();
            }
            Internal::RolloutDeadline { id, index, epoch } => self.step_deadline(id, index, epoch),
            Internal::RestartDue { index, epoch } => {
                if let Some(slot) = self.slots.get_mut(&index) {
                    let actions = slot.restart_due(epoch, now);
                    self.apply(index, actions);
                }
            }
            Internal::GraceOver { index, epoch } => {
                if let Some(rt) = self.procs.get(&(index, epoch)) {
                    spawn::signal_group(rt.pgid, Signal::SIGKILL);
                }
            }
        }
    }

    fn probe(&mut self, report: ProbeReport) {
        if let Some(slot) = self.slots.get_mut(&report.index) {
            let actions = slot.probe(report.epoch, report.result, Instant::now());
            self.apply(report.index, actions);
        }
    }

    pub(super) fn apply(&mut self, index: u32, actions: Vec<ReplicaAction>) {
        for action in actions {
            match action {
                ReplicaAction::Spawn { epoch } => self.launch(index, epoch),
                ReplicaAction::Terminate { epoch } => self.terminate(index, epoch),
                ReplicaAction::Kill { epoch } => {
                    if let Some(rt) = self.procs.get(&(index, epoch)) {
                        spawn::signal_group(rt.pgid, Signal::SIGKILL);
                    }
                }
                ReplicaAction::RestartAfter { epoch, delay } => self.timer(delay, Internal::RestartDue { index, epoch }),
                ReplicaAction::Event { kind, message } => self.event(Some(index), kind, message),
            }
        }
    }
}

/// A command's answer, sent once the view it led to is published.
enum Answer {
    Done(super::Reply, Result<(), ClusterError>),
    Deployed(super::DeployReply, Result<DeployOutcome, ClusterError>),
}

impl Answer {
    fn send(self) {
        // A caller that went away is fine.
        let _gone = match self {
            Answer::Done(to, result) => to.send(result).is_err(),
            Answer::Deployed(to, result) => to.send(result).is_err(),
        };
    }
}
