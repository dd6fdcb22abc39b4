//! Each client connection's watch: a task beside the connection that closes it once it has
//! been idle too long, tells it when the address stops, and marks the request under way
//! overdue when no answer has begun within the response timeout. One timer per connection,
//! looked at a few times per limit, and none per request: a request only counts itself in
//! and out and notes when it began to wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

/// What a client connection is doing, shared by its requests and its watch.
#[derive(Default)]
pub struct Activity {
    /// Request arrivals and ends, since the connection opened.
    changes: AtomicU64,
    /// Requests not yet recorded.
    open: AtomicU64,
    /// When the request under way began, on [`clock_ms`], while it waits for an answer; 0 otherwise.
    waiting_since: AtomicU64,
    /// Set by the watch when that wait has lasted the response timeout.
    overdue: AtomicBool,
    /// The waiting request's task, woken when it is overdue.
    waiter: AtomicWaker,
    /// What the watch decided: [`Close`] as a number, 0 while the connection goes on.
    close: AtomicU8,
    /// The connection's task, woken when the watch decides.
    connection: AtomicWaker,
}

impl Activity {
    /// Counts a request in until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Busy {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Waits for `answer` for the request that arrived at `since`; `None` once the watch
    /// finds it overdue.
    pub fn answer_within<'a, F: Future>(&'a self, since: Instant, answer: Pin<&'a mut F>) -> AnswerWithin<'a, F> {
        self.overdue.store(false, Ordering::Relaxed);
        self.waiting_since.store(clock_ms(since), Ordering::Release);
        AnswerWithin { activity: self, answer }
    }

    /// Ready with the reason once the watch says the connection should close.
    pub fn closing(&self) -> Closing<'_> {
        Closing(self)
    }

    /// The watch has said the connection should close.
    pub fn decided(&self) -> bool {
        self.close.load(Ordering::Acquire) != 0
    }

    fn decide(&self, why: Close) {
        self.close.store(why as u8, Ordering::Release);
        self.connection.wake();
    }
}

/// See [`Activity::answer_within`]. It holds the answer by reference so that the answer's
/// (large) future is not moved into it.
pub struct AnswerWithin<'a, F> {
    activity: &'a Activity,
    answer: Pin<&'a mut F>,
}

impl<F: Future> Future for AnswerWithin<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if let Poll::Ready(answered) = self.answer.as_mut().poll(cx) {
            return Poll::Ready(Some(answered));
        }
        self.activity.waiter.register(cx.waker());
        match self.activity.overdue.load(Ordering::Acquire) {
            true => Poll::Ready(None),
            false => Poll::Pending,
        }
    }
}

impl<F> Drop for AnswerWithin<'_, F> {
    fn drop(&mut self) {
        self.activity.waiting_since.store(0, Ordering::Relaxed);
    }
}

/// See [`Activity::closing`]: an atomic load per poll, cheap enough to poll at every wake of
/// the connection.
pub struct Closing<'a>(&'a Activity);

impl Future for Closing<'_> {
    type Output = Close;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Close> {
        self.0.connection.register(cx.waker());
        match self.0.close.load(Ordering::Acquire) {
            1 => Poll::Ready(Close::Idle),
            2 => Poll::Ready(Close::Stop),
            _ => Poll::Pending,
        }
    }
}

/// One request of a connection, counted in until dropped.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.changes.fetch_add(1, Ordering::Relaxed);
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Milliseconds since the first reading, plus one: never 0, which means "not waiting".
fn clock_ms(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| at);
    u64::try_from(at.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Why a connection's watch ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Nothing came for too long: closed at once.
    Idle = 1,
    /// The address stops: the request under way may finish.
    Stop = 2,
}

/// The limits a watch keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No request arriving or ending, and none open, for this long: the connection closes.
    pub idle: Duration,
    /// No answer begun this long after a request arrived: it is overdue (504).
    pub response: Duration,
}

impl Limits {
    /// How often the watch looks: a limit is kept to within a quarter of the response
    /// timeout and half the idle limit (a 60 s timeout answers 504 after 60 to 75 s).
    fn period(self) -> Duration {
        (self.idle / 2).min(self.response / 4).max(Duration::from_millis(10))
    }
}

/// Runs beside a connection until it ends (`ended` cancelled); tells it why it should close.
pub async fn watch(activity: Arc<Activity>, limits: Limits, stop: CancellationToken, ended: CancellationToken) {
    let why = tokio::select! {
        () = keep(&activity, limits) => Close::Idle,
        _ = stop.cancelled() => Close::Stop,
        _ = ended.cancelled() => return,
    };
    activity.decide(why);
}

/// Marks overdue answers as it goes; ends once the connection has been idle for `limits.idle`.
async fn keep(activity: &Activity, limits: Limits) {
    let period = limits.period();
    // The last change came at most when the look that saw it was made, so as many quiet looks
    // as cover the idle limit never cut it short, and exceed it by a period at most.
    let quiet_needed = limits.idle.as_millis().div_ceil(period.as_millis().max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut seen, mut quiet) = (activity.changes.load(Ordering::Relaxed), 0);
    loop {
        tick.tick().await;
        let since = activity.waiting_since.load(Ordering::Acquire);
        if since != 0 && clock_ms(Instant::now()).saturating_sub(since) >= limits.response.as_millis() as u64 {
            activity.overdue.store(true, Ordering::Release);
            activity.waiter.wake();
        }
        let changes = activity.changes.load(Ordering::Relaxed);
        quiet = if changes == seen && activity.open.load(Ordering::Relaxed) == 0 { quiet + 1 } else { 0 };
        if quiet >= quiet_needed {
            return;
        }
        seen = changes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_looks_often_enough_for_the_tighter_limit() {
        let secs = Duration::from_secs;
        // (idle, response, period)
        let cases = [
            (secs(30), secs(60), secs(15)),
            (secs(30), secs(8), secs(2)),
            (secs(2), secs(60), secs(1)),
            (Duration::from_millis(1), Duration::from_millis(1), Duration::from_millis(10)),
        ];
        for (idle, response, period) in cases {
            assert_eq!(Limits { idle, response }.period(), period, "{idle:?} {response:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_no_sooner_than_its_limit_and_a_busy_one_not_at_all() {
        let limits = Limits { idle: Duration::from_secs(30), response: Duration::from_secs(60) };
        let activity = Arc::new(Activity::default());
        let started = tokio::time::Instant::now();
        keep(&activity, limits).await;
        let waited = started.elapsed();
        assert!(waited >= limits.idle && waited <= limits.idle + limits.period(), "closed after {waited:?}");

        let busy = activity.enter();
        let kept = tokio::time::timeout(limits.idle * 4, keep(&activity, limits)).await;
        assert!(kept.is_err(), "a connection with a request open was closed");
        drop(busy);
    }
}
