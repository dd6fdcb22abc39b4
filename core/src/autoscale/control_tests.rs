//! The loop against a fake cluster, on paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::manifest::AutoscaleTarget;

#[derive(Default)]
struct World {
    desired: u32,
    /// The p95 every second of the next series reads.
    p95: Option<f64>,
    scales: Vec<u32>,
    events: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl Fake {
    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.0.lock().expect("world"))
    }
}

impl Plant for Fake {
    fn replicas(&self, _: &str) -> Option<(u32, u32, bool)> {
        self.with(|w| Some((w.desired, w.desired, false)))
    }
    async fn series(&self, _: &str, window: Duration) -> Option<Series> {
        let p95 = self.with(|w| w.p95);
        let n = window.as_secs() as usize;
        let rps = if p95.is_some() { 10.0 } else { 0.0 };
        Some(Series { t: vec![0.0; n], rps: vec![rps; n], p95_ms: vec![p95; n], in_flight: vec![0; n], ..Series::default() })
    }
    async fn scale(&self, _: &str, replicas: u32) -> Result<(), ClusterError> {
        self.with(|w| {
            w.desired = replicas;
            w.scales.push(replicas);
        });
        Ok(())
    }
    fn event(&self, _: &str, message: String) {
        self.with(|w| w.events.push(message));
    }
    fn changed(&self) {}
}

fn config(enabled: bool) -> Autoscale {
    Autoscale {
        enabled,
        min: 1,
        max: 4,
        target: AutoscaleTarget::P95Ms(100.0),
        period: Duration::from_secs(2),
        window: Duration::from_secs(10),
    }
}

struct Running {
    fake: Fake,
    tx: mpsc::Sender<Command>,
    view: watch::Receiver<AutoscalerView>,
    cancel: CancellationToken,
}

fn start(enabled: bool) -> Running {
    let fake = Fake::default();
    fake.with(|w| w.desired = 1);
    let c = config(enabled);
    let (view_tx, view) = watch::channel(AutoscalerView::new("auth", &c));
    let (tx, rx) = mpsc::channel(QUEUE);
    let cancel = CancellationToken::new();
    tokio::spawn(run(fake.clone(), "auth".into(), c, rx, view_tx, cancel.clone()));
    Running { fake, tx, view, cancel }
}

#[tokio::test(start_paused = true)]
async fn over_target_it_scales_up_each_period_within_the_limit_and_down_only_after_the_window() {
    let r = start(true);
    r.fake.with(|w| w.p95 = Some(900.0));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(r.fake.with(|w| w.scales.clone()), vec![4], "9 × target on 1: 5 by the up limit, 4 by max");
    let events = r.fake.with(|w| w.events.clone());
    assert!(events.iter().any(|e| e.starts_with("auth p95 900 ms over target 100 ms with 1 replica ready → 4")), "{events:?}");
    assert_eq!(r.view.borrow().last.as_ref().map(|d| d.decision.to), Some(4));

    // Idle from t = 2 s: the busy recommendation (at 2 s) leaves the 10 s window at 12 s.
    r.fake.with(|w| w.p95 = None);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(r.fake.with(|w| w.desired), 4, "held by the window at 10 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.fake.with(|w| w.desired), 1, "down to min once the window has passed");
    r.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_users_scale_switches_it_off_with_a_note_and_it_scales_no_more() {
    let r = start(true);
    let (reply, answer) = oneshot::channel();
    r.tx.send(Command::UserScale { replicas: 3, reply }).await.expect("send");
    let note = answer.await.expect("reply").expect("scaled").expect("a note");
    assert!(note.contains("switched off") && note.contains("microdeck autoscale auth on"), "{note}");
    assert!(!r.view.borrow().on);
    assert_eq!(r.view.borrow().note.as_deref(), Some(note.as_str()));
    assert!(r.fake.with(|w| w.events.contains(&note)));
    r.fake.with(|w| w.p95 = Some(900.0));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(r.fake.with(|w| w.scales.clone()), vec![3], "off: only the user's scale");

    // Off, a user's scale says nothing; on again, it decides from the next period.
    let (reply, answer) = oneshot::channel();
    r.tx.send(Command::UserScale { replicas: 2, reply }).await.expect("send");
    assert_eq!(answer.await.expect("reply").expect("scaled"), None);
    let (reply, answer) = oneshot::channel();
    r.tx.send(Command::Switch { on: true, why: None, reply }).await.expect("send");
    let view = answer.await.expect("reply");
    assert!(view.on && view.note.is_none());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(r.fake.with(|w| w.desired), 4);
    r.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn off_at_start_it_never_scales() {
    let r = start(false);
    r.fake.with(|w| w.p95 = Some(900.0));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(r.fake.with(|w| w.scales.is_empty() && w.events.is_empty()));
    r.cancel.cancel();
}
