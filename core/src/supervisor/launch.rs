//! Processes of the service actor: a replica's launch (its revision's definition, the knobs'
//! variables, its probes and the task that waits for its exit), its stop through the drain,
//! and the actor's timers.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::actor::{Internal, ProcRt, ServiceActor};
use super::members::{Leaving, Member};
use super::spawn::{self, SpawnError};
use crate::events::now_ms;
use crate::health::{self, ProbeTarget};
use crate::manifest::HealthCheck;

impl ServiceActor {
    /// Takes the replica out of the service's address (it is published as leaving) and,
    /// once the address has drained it, SIGTERM, then SIGKILL after the grace period. The
    /// wait runs in a task so the actor keeps answering.
    pub(super) fn terminate(&mut self, index: u32, epoch: u64) {
        let limit = self.service.stop_grace.min(super::DRAIN_LIMIT);
        // No follower (an actor without an address): nothing to drain.
        let followed = self.members_tx.receiver_count() > 0;
        let Some(rt) = self.procs.get_mut(&(index, epoch)) else { return };
        if rt.leaving.is_some() {
            return;
        }
        let drained = CancellationToken::new();
        rt.leaving = Some(Leaving { member: Member { replica: index, port: rt.port, revision: rt.revision }, limit, drained: drained.clone() });
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

    pub(super) fn timer(&self, delay: Duration, msg: Internal) {
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
    pub(super) fn launch(&mut self, index: u32, epoch: u64) {
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
        // Its slot's revision: during a rollout, a restart of an old replica runs the old definition.
        let revision = self.slots.get(&index).and_then(|s| s.current.as_ref()).map_or_else(|| self.start_revision(), |p| p.revision);
        let definition = self.definition(revision).clone();
        let mut spec = spawn::launch_spec(&definition, &self.senv, index, port)?;
        spec.env.extend(self.knob_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let launched = spawn::launch(&self.shared.shim, &spec)?;
        let pgid = launched.pgid;
        self.shared.output.capture(&self.service.name, index, launched.stdout, launched.stderr);
        let probes = self.shared.cancel.child_token();
        self.procs.insert((index, epoch), ProcRt { pgid, port, revision, probes: probes.clone(), leaving: None });

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

        if definition.health.check != HealthCheck::Process {
            let target = ProbeTarget { index, epoch, port, health: definition.health.clone() };
            let probe_tx = self.probe_tx.clone();
            self.shared.tracker.spawn(health::probe_loop(target, probes, probe_tx));
        }

        if let Some(slot) = self.slots.get_mut(&index) {
            slot.spawned(epoch, port, now_ms(), Instant::now());
        }
        Ok(())
    }
}
