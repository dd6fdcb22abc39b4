//! The service actor: owns a service's replica slots, turns their [`ReplicaAction`]s into
//! processes, signals and timers, and publishes the service's view after every message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ClusterError;
use crate::events::{now_ms, EventDraft};
use crate::health::{self, ProbeReport, ProbeTarget};
use crate::manifest::{HealthCheck, Service};
use crate::snapshot::{EventKind, Level, ServiceView};

use super::members::{Leaving, Member, ReplicaSet};
use super::replica::{ReplicaAction, Slot, SlotConfig};
use super::spawn::{self, ServiceEnv, SpawnError};
use super::view::{build_view, replica_set};
use super::{ServiceCommand, ServiceHandle, Shared, MAX_REPLICAS};

/// What the actor's own tasks (process waiters, timers) tell it.
enum Internal {
    Pid { index: u32, epoch: u64, pid: u32 },
    /// `port_taken`: another process holds the replica's port now (named if it can be).
    Exited { index: u32, epoch: u64, code: Option<i32>, signal: Option<i32>, port_taken: Option<String> },
    RestartDue { index: u32, epoch: u64 },
    GraceOver { index: u32, epoch: u64 },
}

/// A live process as the actor knows it.
pub(super) struct ProcRt {
    pgid: i32,
    port: u16,
    /// Stops its probe loop.
    probes: CancellationToken,
    /// Set once it is terminated: it leaves the address, drained, before its SIGTERM.
    pub(super) leaving: Option<Leaving>,
}

pub struct ServiceActor {
    pub(super) service: Service,
    senv: ServiceEnv,
    /// The stable address's port.
    pub(super) port: u16,
    shared: Arc<Shared>,
    deps: Vec<watch::Receiver<ServiceView>>,
    pub(super) slots: BTreeMap<u32, Slot>,
    pub(super) desired: u32,
    pub(super) running: bool,
    pub(super) waiting_deps: bool,
    pub(super) problem: Option<String>,
    pub(super) started_ms: Option<u64>,
    pub(super) procs: HashMap<(u32, u64), ProcRt>,
    roll: VecDeque<u32>,
    rolling: Option<u32>,
    internal_tx: mpsc::Sender<Internal>,
    probe_tx: mpsc::Sender<ProbeReport>,
    view_tx: watch::Sender<ServiceView>,
    members_tx: watch::Sender<ReplicaSet>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    shutting_down: bool,
}

/// Starts a service's actor (idle: send `Start`). `deps` are the views of its `depends_on`.
/// The replica set is for the service's address to follow; while someone holds it, a
/// leaving replica is signalled only after that follower drained it.
pub fn spawn_service(
    service: Service,
    senv: ServiceEnv,
    port: u16,
    deps: Vec<watch::Receiver<ServiceView>>,
    shared: Arc<Shared>,
) -> (ServiceHandle, watch::Receiver<ReplicaSet>) {
    let (tx, cmd_rx) = mpsc::channel(32);
    let (internal_tx, internal_rx) = mpsc::channel(256);
    let (probe_tx, probe_rx) = mpsc::channel(256);
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
        let mut reply = None;
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
            if let Some((to, result)) = reply.take() {
                let _caller_gone = to.send(result);
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

    fn event(&self, replica: Option<u32>, kind: EventKind, message: impl Into<String>) {
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
    fn command(&mut self, cmd: ServiceCommand) -> Option<(super::Reply, Result<(), ClusterError>)> {
        match cmd {
            ServiceCommand::Start(reply) => Some((reply, self.guard().map(|()| self.start()))),
            ServiceCommand::Stop(reply) => Some((reply, self.guard().map(|()| self.stop()))),
            ServiceCommand::Restart(reply) => Some((reply, self.guard().map(|()| self.restart()))),
            ServiceCommand::Scale(n, reply) => Some((reply, self.guard().and_then(|()| self.scale(n)))),
            ServiceCommand::Kill(index, reply) => Some((reply, self.guard().and_then(|()| self.kill(index)))),
            ServiceCommand::Redefine(r, reply) => Some((reply, self.guard().and_then(|()| self.redefine(*r)))),
            ServiceCommand::SetEnv(vars, reply) => {
                self.service.env.extend(vars);
                Some((reply, self.guard()))
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

    fn check_deps(&mut self) {
        if self.waiting_deps && self.deps_ready() {
            self.waiting_deps = false;
            self.start_slots();
        }
    }

    /// Starts the slots not running (all of them, if the service was stopped or failed).
    fn start(&mut self) {
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

    fn start_slots(&mut self) {
        let cfg = SlotConfig::of(&self.service);
        for i in 0..self.desired {
            self.slots.entry(i).or_insert_with(|| Slot::new(i, cfg.clone()));
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
        self.begin_roll("rolling restart");
    }

    /// Queues every replica for replacement. A slot being replaced now finishes first
    /// (`rolling` is kept), so a second roll never stops a replica before its successor is ready.
    fn begin_roll(&mut self, why: &str) {
        self.event(None, EventKind::Restarted, format!("{why} of {} replica(s)", self.desired));
        self.roll = (0..self.desired).collect();
    }

    /// A reload's new definition: later launches use it; a running service rolls onto it,
    /// a failed one tries again with it, a stopped one stays stopped.
    fn redefine(&mut self, r: super::Redefinition) -> Result<(), ClusterError> {
        let replicas = r.service.replicas;
        let replicas_changed = replicas != self.service.replicas;
        self.service = r.service;
        self.senv = r.senv;
        self.deps = r.deps;
        let cfg = SlotConfig::of(&self.service);
        for slot in self.slots.values_mut() {
            slot.set_config(cfg.clone());
        }
        if replicas_changed {
            self.scale(replicas)?;
        }
        if r.roll && self.running {
            if self.problem.is_some() {
                self.start();
            } else if !self.waiting_deps {
                self.begin_roll("definition changed: rolling restart");
            }
        }
        self.check_deps();
        Ok(())
    }

    fn scale(&mut self, n: u32) -> Result<(), ClusterError> {
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
            }
            let Some(i) = self.roll.pop_front() else { return };
            if let Some(slot) = self.slots.get_mut(&i) {
                let actions = slot.replace(Instant::now());
                self.apply(i, actions);
                self.rolling = Some(i);
            }
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
                if self.service.health.check == HealthCheck::Process {
                    for _ in 0..self.service.health.success_threshold.max(1) {
                        self.probe(ProbeReport { index, epoch, result: Ok(()) });
                    }
                }
            }
            Internal::Exited { index, epoch, code, signal, port_taken } => {
                if let Some(rt) = self.procs.remove(&(index, epoch)) {
                    rt.probes.cancel();
                }
                if let Some(slot) = self.slots.get_mut(&index) {
                    let actions = match port_taken {
                        Some(by) => slot.exited_port_taken(epoch, (code, signal), &by, now_ms(), now),
                        None => slot.exited(epoch, code, signal, now_ms(), now),
                    };
                    self.apply(index, actions);
                }
                self.prune_slots();
            }
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

    fn apply(&mut self, index: u32, actions: Vec<ReplicaAction>) {
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

    /// Takes the replica out of the service's address (it is published as leaving) and,
    /// once the address has drained it, SIGTERM, then SIGKILL after the grace period. The
    /// wait runs in a task so the actor keeps answering.
    fn terminate(&mut self, index: u32, epoch: u64) {
        let limit = self.service.stop_grace.min(super::DRAIN_LIMIT);
        // No follower (an actor without an address): nothing to drain.
        let followed = self.members_tx.receiver_count() > 0;
        let Some(rt) = self.procs.get_mut(&(index, epoch)) else { return };
        if rt.leaving.is_some() {
            return;
        }
        let drained = CancellationToken::new();
        rt.leaving = Some(Leaving { member: Member { replica: index, port: rt.port }, limit, drained: drained.clone() });
        let pgid = rt.pgid;
        let (tx, grace) = (self.internal_tx.clone(), self.service.stop_grace);
        self.shared.tracker.spawn(async move {
            if followed {
                tokio::select! {
                    _ = drained.cancelled() => {}
                    // The follower bounds its drain by the same limit; this is for a follower that went away.
                    _ = tokio::time::sleep(limit) => {}
                }
            }
            spawn::signal_group(pgid, Signal::SIGTERM);
            tokio::select! {
                _ = tx.closed() => {}
                _ = tokio::time::sleep(grace) => {
                    let _ended = tx.send(Internal::GraceOver { index, epoch }).await;
                }
            }
        });
    }

    fn timer(&self, delay: Duration, msg: Internal) {
        let tx = self.internal_tx.clone();
        self.shared.tracker.spawn(async move {
            // Ends with the actor (which outlives the token during shutdown, for the grace timers).
            tokio::select! {
                _ = tx.closed() => {}
                _ = tokio::time::sleep(delay) => {
                    let _ended = tx.send(msg).await;
                }
            }
        });
    }

    /// Starts the process for `epoch` of slot `index`, or fails the service if it cannot.
    fn launch(&mut self, index: u32, epoch: u64) {
        match self.try_launch(index, epoch) {
            Ok(()) => {}
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(service = %self.service.name, replica = index, "{reason}");
                self.problem = Some(reason.clone());
                if let Some(slot) = self.slots.get_mut(&index) {
                    let actions = slot.spawn_failed(epoch, &reason);
                    self.apply(index, actions);
                }
            }
        }
    }

    fn try_launch(&mut self, index: u32, epoch: u64) -> Result<(), SpawnError> {
        let port = spawn::free_port().map_err(|source| SpawnError::Io { program: "a free port".into(), source })?;
        let spec = spawn::launch_spec(&self.service, &self.senv, index, port)?;
        let launched = spawn::launch(&self.shared.shim, &spec)?;
        let pgid = launched.pgid;
        self.shared.output.capture(&self.service.name, index, launched.stdout, launched.stderr);
        let probes = self.shared.cancel.child_token();
        self.procs.insert((index, epoch), ProcRt { pgid, port, probes: probes.clone(), leaving: None });

        let tx = self.internal_tx.clone();
        let mut child = launched.child;
        let mut control = launched.control;
        self.shared.tracker.spawn(async move {
            // The shim leads the group: its pid stands in if it cannot tell the program's.
            let pid = spawn::read_program_pid(&mut control).await.unwrap_or(pgid as u32);
            let _ended = tx.send(Internal::Pid { index, epoch, pid }).await;
            let status = child.wait().await;
            // Whatever the program left in its group (grandchildren) goes with it.
            spawn::signal_group(pgid, Signal::SIGKILL);
            drop(control);
            let (code, signal) = match status {
                Ok(s) => (s.code(), s.signal()),
                Err(_) => (None, None),
            };
            let port_taken = spawn::taken_by(port).await;
            let _ended = tx.send(Internal::Exited { index, epoch, code, signal, port_taken }).await;
        });

        if self.service.health.check != HealthCheck::Process {
            let target = ProbeTarget { index, epoch, port, health: self.service.health.clone() };
            let probe_tx = self.probe_tx.clone();
            self.shared.tracker.spawn(health::probe_loop(target, probes, probe_tx));
        }

        if let Some(slot) = self.slots.get_mut(&index) {
            slot.spawned(epoch, port, now_ms(), Instant::now());
        }
        Ok(())
    }
}
