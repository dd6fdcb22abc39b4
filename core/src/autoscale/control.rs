//! The control loop of one autoscaled service: each period it reads the service's replicas
//! and series from its [`Plant`], applies [`rule::decide`], and scales through the plant,
//! telling each change as an event. It owns its on/off switch, so a user's scale and its
//! own never interleave: both are carried out here, one after the other.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::measure::{describe, measure};
use super::rule::{self, Bounds, Input, Window};
use super::{how_to_switch_on, AutoscalerView, DecisionView};
use crate::error::ClusterError;
use crate::events::now_ms;
use crate::manifest::Autoscale;
use crate::metrics::Series;

/// Commands waiting for the loop; a few are plenty (each is a user's click).
pub(crate) const QUEUE: usize = 16;

/// What the loop reads and acts on: the cluster, or a fake in tests. `None` and errors
/// from a gone cluster end the loop.
pub(crate) trait Plant: Send + Sync + 'static {
    /// Desired and ready replicas, and whether the service is stopped.
    fn replicas(&self, service: &str) -> Option<(u32, u32, bool)>;
    fn series(&self, service: &str, window: Duration) -> impl Future<Output = Option<Series>> + Send;
    /// The same scale command a user sends.
    fn scale(&self, service: &str, replicas: u32) -> impl Future<Output = Result<(), ClusterError>> + Send;
    fn event(&self, service: &str, message: String);
    /// The view changed: viewers get a new snapshot.
    fn changed(&self);
}

pub(crate) enum Command {
    /// A switch by hand, or (with `why`) one the cluster makes, saying why.
    Switch { on: bool, why: Option<String>, reply: oneshot::Sender<AutoscalerView> },
    /// A user's scale: carried out, then the autoscaler is off; the reply holds what to tell the user.
    UserScale { replicas: u32, reply: oneshot::Sender<Result<Option<String>, ClusterError>> },
}

/// The loop's state between periods.
struct Loop<P: Plant> {
    plant: P,
    service: String,
    config: Autoscale,
    window: Window,
    started: Instant,
    view: watch::Sender<AutoscalerView>,
}

/// Runs until `cancel`, the last command sender dropped, or the cluster gone.
pub(crate) async fn run<P: Plant>(
    plant: P,
    service: String,
    config: Autoscale,
    mut commands: mpsc::Receiver<Command>,
    view: watch::Sender<AutoscalerView>,
    cancel: CancellationToken,
) {
    let period = config.period;
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut l = Loop { plant, service, config, window: Window::default(), started: Instant::now(), view };
    if l.view.borrow().on {
        l.plant.event(&l.service, l.switched_on_message());
    }
    loop {
        let on = l.view.borrow().on;
        tokio::select! {
            _ = cancel.cancelled() => break,
            cmd = commands.recv() => match cmd {
                None => break,
                Some(Command::Switch { on: want, why, reply }) => {
                    if want != on {
                        l.switch(want, why);
                        tick.reset();
                    }
                    let _gone = reply.send(l.view.borrow().clone());
                }
                Some(Command::UserScale { replicas, reply }) => {
                    let result = l.plant.scale(&l.service, replicas).await;
                    let note = match (&result, on) {
                        (Ok(()), true) => {
                            let note = format!(
                                "{}'s autoscaler switched off: a manual scale to {replicas} wins; {}",
                                l.service,
                                how_to_switch_on(&l.service)
                            );
                            l.switch(false, Some(note.clone()));
                            Some(note)
                        }
                        _ => None,
                    };
                    let _gone = reply.send(result.map(|()| note));
                }
            },
            _ = tick.tick(), if on => {
                if !l.period().await {
                    break;
                }
            }
        }
    }
}

impl<P: Plant> Loop<P> {
    fn switched_on_message(&self) -> String {
        let v = self.view.borrow();
        let target = super::measure::quantity(v.target, v.target.value());
        format!(
            "{}'s autoscaler on: target {target}, {}..={} replicas, every {} s, scale-down window {} s",
            self.service,
            v.min,
            v.max,
            self.config.period.as_secs_f64(),
            self.config.window.as_secs_f64()
        )
    }

    /// On or off, with its event; a fresh start forgets the window and the last decision.
    fn switch(&mut self, on: bool, note: Option<String>) {
        self.window = Window::default();
        self.view.send_modify(|v| {
            v.on = on;
            v.window.clear();
            v.last = None;
            v.note = note.clone();
        });
        let message = match (on, note) {
            (true, _) => self.switched_on_message(),
            (false, Some(note)) => note,
            (false, None) => format!("{}'s autoscaler off: its replicas stay as they are", self.service),
        };
        self.plant.event(&self.service, message);
        self.plant.changed();
    }

    /// One period: measure, decide, scale if the count changes. False once the cluster is gone.
    async fn period(&mut self) -> bool {
        let Some((desired, ready, stopped)) = self.plant.replicas(&self.service) else { return false };
        if stopped {
            return true;
        }
        let series = self.plant.series(&self.service, self.config.period).await;
        let measured = measure(self.config.target, series.as_ref(), ready);
        let now = self.started.elapsed();
        let recent = self.window.recent(now, self.config.window);
        let bounds = Bounds { min: self.config.min, max: self.config.max, target: self.config.target.value() };
        let d = rule::decide(bounds, Input { current: desired, ready, measured }, &recent);
        self.window.push(now, d.recommended);
        let message = describe(&self.service, self.config.target, self.config.min, measured, ready, &d);
        if d.to != d.from {
            self.plant.event(&self.service, message.clone());
            if let Err(e) = self.plant.scale(&self.service, d.to).await {
                if matches!(e, ClusterError::ShuttingDown) {
                    return false;
                }
                self.plant.event(&self.service, format!("the autoscaler could not scale {} to {}: {e}", self.service, d.to));
            }
        }
        let kept = self.window.recent(now, self.config.window);
        self.view.send_modify(|v| {
            v.last = Some(DecisionView { at: now_ms(), measured, ready, decision: d, message });
            v.window = kept;
        });
        self.plant.changed();
        true
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
