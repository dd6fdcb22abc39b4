//! Faults injected at a service's address: a delay (with jitter) for a share of requests, an
//! abort with a chosen status for a share, optionally on one replica only. [`Fault`] is the
//! pure description a user gives (checked by [`Fault::validate`]); [`Armed`] is it ready for
//! the request path, which draws from a per-thread generator and asks [`Armed::decide`].
//! [`FaultSlot`] holds the armed fault of one address: with none set, a request pays one
//! relaxed load and a branch.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::metrics::Injected;

/// The longest delay (and delay plus jitter) a fault may ask for.
pub const MAX_DELAY: Duration = Duration::from_secs(600);
/// The status an abort answers when none is named.
pub const DEFAULT_STATUS: u16 = 503;

/// A fault as a user asks for it. Durations are in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Added before a request is forwarded (0: none).
    #[serde(default)]
    pub delay_ms: u64,
    /// Each delayed request waits `delay_ms` ± up to this, uniformly.
    #[serde(default)]
    pub jitter_ms: u64,
    /// The share of requests delayed, 0–100.
    #[serde(default = "all")]
    pub delay_percent: f64,
    /// The share of requests answered `abort_status` by the address itself, 0–100.
    #[serde(default)]
    pub abort_percent: f64,
    /// 400–599; TCP services abort with a reset instead.
    #[serde(default = "default_status")]
    pub abort_status: u16,
    /// Only requests sent to this replica; every replica when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
    /// Cleared by the cluster after this long; until cleared when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
}

fn all() -> f64 {
    100.0
}

fn default_status() -> u16 {
    DEFAULT_STATUS
}

impl Default for Fault {
    fn default() -> Fault {
        Fault { delay_ms: 0, jitter_ms: 0, delay_percent: 100.0, abort_percent: 0.0, abort_status: DEFAULT_STATUS, replica: None, for_ms: None }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("a percentage is between 0 and 100, not {0}")]
    Percent(f64),
    #[error("an abort answers a status from 400 to 599, not {0}")]
    Status(u16),
    #[error("a delay is at most 10 minutes (with its jitter), not {0}ms")]
    DelayTooLong(u64),
    #[error("a jitter of {jitter}ms is more than the delay of {delay}ms it varies")]
    JitterPastDelay { jitter: u64, delay: u64 },
    #[error("the fault injects nothing: give a delay or an abort percentage above 0")]
    Nothing,
    #[error("a fault lasts more than 0ms and at most a day")]
    Duration,
}

impl Fault {
    /// Every rule a fault must meet, but the replica's existence (the cluster checks it).
    pub fn validate(&self) -> Result<(), FaultError> {
        for p in [self.delay_percent, self.abort_percent] {
            if !(0.0..=100.0).contains(&p) {
                return Err(FaultError::Percent(p));
            }
        }
        if !(400..=599).contains(&self.abort_status) {
            return Err(FaultError::Status(self.abort_status));
        }
        let longest = self.delay_ms.saturating_add(self.jitter_ms);
        if longest > MAX_DELAY.as_millis() as u64 {
            return Err(FaultError::DelayTooLong(longest));
        }
        if self.jitter_ms > self.delay_ms {
            return Err(FaultError::JitterPastDelay { jitter: self.jitter_ms, delay: self.delay_ms });
        }
        let delays = self.delay_ms > 0 && self.delay_percent > 0.0;
        if !delays && self.abort_percent <= 0.0 {
            return Err(FaultError::Nothing);
        }
        if self.for_ms.is_some_and(|ms| ms == 0 || ms > crate::manifest::duration::MAX.as_millis() as u64) {
            return Err(FaultError::Duration);
        }
        Ok(())
    }

    /// One line for events and the CLI: "delay 200ms ±50ms on 100% and abort 503 on 10% of replica 1's requests".
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if self.delay_ms > 0 && self.delay_percent > 0.0 {
            let jitter = if self.jitter_ms > 0 { format!(" ±{}ms", self.jitter_ms) } else { String::new() };
            parts.push(format!("delay {}ms{jitter} on {}%", self.delay_ms, self.delay_percent));
        }
        if self.abort_percent > 0.0 {
            parts.push(format!("abort {} on {}%", self.abort_status, self.abort_percent));
        }
        let whose = match self.replica {
            Some(r) => format!("replica {r}'s requests"),
            None => "requests".to_string(),
        };
        format!("{} of {whose}", parts.join(" and "))
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    pub delay: Duration,
    /// Answer this status instead of forwarding.
    pub abort: Option<u16>,
}

/// A validated fault, ready for the request path: shares as thresholds on a 32-bit draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Armed {
    pub fault: Fault,
    /// Tells one setting from the next, so a stale expiry clears nothing.
    pub id: u64,
    /// When it was set, in milliseconds since the Unix epoch.
    pub since: u64,
    delay_below: u64,
    abort_below: u64,
}

/// The draws a decision takes, each uniform over `u32`.
pub type Draws = [u32; 3];

fn threshold(percent: f64) -> u64 {
    ((percent / 100.0) * (u32::MAX as f64 + 1.0)).round() as u64
}

impl Armed {
    pub fn new(fault: Fault, id: u64) -> Armed {
        let delay_below = if fault.delay_ms > 0 { threshold(fault.delay_percent) } else { 0 };
        Armed { fault, id, since: crate::events::now_ms(), delay_below, abort_below: threshold(fault.abort_percent) }
    }

    /// Whether requests to `replica` are subject to the fault.
    #[inline]
    pub fn touches(&self, replica: u32) -> bool {
        self.fault.replica.is_none_or(|r| r == replica)
    }

    /// The fault's decision for one request to `replica`, from three uniform draws.
    pub fn decide(&self, replica: u32, [d, j, a]: Draws) -> Decision {
        if !self.touches(replica) {
            return Decision::default();
        }
        let mut decision = Decision::default();
        if u64::from(d) < self.delay_below {
            let (delay, jitter) = (self.fault.delay_ms, self.fault.jitter_ms);
            // Uniform over [delay - jitter, delay + jitter].
            let offset = (u64::from(j) * (2 * jitter + 1)) >> 32;
            decision.delay = Duration::from_millis(delay - jitter + offset);
        }
        if u64::from(a) < self.abort_below {
            decision.abort = Some(self.fault.abort_status);
        }
        decision
    }

    /// [`decide`](Self::decide) with this thread's generator.
    pub fn draw(&self, replica: u32) -> Decision {
        self.decide(replica, [next_u32(), next_u32(), next_u32()])
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
}

/// xorshift64*: a few instructions a draw, no lock, good enough for shares of requests.
fn next_u32() -> u32 {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    })
}

/// The armed fault of one address, read on the request path without a lock.
#[derive(Debug, Default)]
pub struct FaultSlot {
    /// Set while a fault is armed: the one load a request pays when none is.
    on: AtomicBool,
    armed: ArcSwapOption<Armed>,
    next_id: AtomicU64,
}

impl FaultSlot {
    /// The armed fault, if any.
    #[inline]
    pub fn current(&self) -> Option<Arc<Armed>> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        self.armed.load_full()
    }

    /// Arms `fault` (validated by the caller) in place of any other; its id.
    pub fn set(&self, fault: Fault) -> Arc<Armed> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let armed = Arc::new(Armed::new(fault, id));
        self.armed.store(Some(armed.clone()));
        self.on.store(true, Ordering::SeqCst);
        armed
    }

    /// Clears the fault armed now if `id` is none or its id; the fault cleared.
    pub fn clear(&self, id: Option<u64>) -> Option<Arc<Armed>> {
        let current = self.armed.load_full()?;
        if id.is_some_and(|id| id != current.id) {
            return None;
        }
        let swapped = self.armed.compare_and_swap(&current, None);
        if !swapped.as_ref().is_some_and(|s| Arc::ptr_eq(s, &current)) {
            return None;
        }
        self.on.store(false, Ordering::SeqCst);
        // A fault set between the swap and the store above stays on.
        if self.armed.load().is_some() {
            self.on.store(true, Ordering::SeqCst);
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(delay_ms: u64, jitter_ms: u64, abort_percent: f64) -> Fault {
        Fault { delay_ms, jitter_ms, abort_percent, ..Fault::default() }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let ok = fault(200, 50, 10.0);
        let cases: Vec<(Fault, Result<(), FaultError>)> = vec![
            (ok, Ok(())),
            (fault(0, 0, 100.0), Ok(())),
            (Fault { abort_percent: 100.5, ..ok }, Err(FaultError::Percent(100.5))),
            (Fault { delay_percent: -1.0, ..ok }, Err(FaultError::Percent(-1.0))),
            (Fault { delay_percent: f64::NAN, ..ok }, Err(FaultError::Percent(f64::NAN))),
            (Fault { abort_status: 399, ..ok }, Err(FaultError::Status(399))),
            (Fault { abort_status: 600, ..ok }, Err(FaultError::Status(600))),
            (Fault { abort_status: 599, ..ok }, Ok(())),
            (fault(600_000, 0, 0.0), Ok(())),
            (fault(600_000, 1, 0.0), Err(FaultError::DelayTooLong(600_001))),
            (fault(10, 20, 0.0), Err(FaultError::JitterPastDelay { jitter: 20, delay: 10 })),
            (fault(0, 0, 0.0), Err(FaultError::Nothing)),
            (Fault { delay_percent: 0.0, ..fault(100, 0, 0.0) }, Err(FaultError::Nothing)),
            (Fault { for_ms: Some(0), ..ok }, Err(FaultError::Duration)),
            (Fault { for_ms: Some(30_000), ..ok }, Ok(())),
        ];
        for (f, want) in cases {
            let got = f.validate();
            // NaN is never equal to itself: compare the message.
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{f:?}");
        }
    }

    #[test]
    fn decisions_follow_the_draws_and_the_replica() {
        let f = Fault { replica: Some(1), delay_percent: 50.0, ..fault(200, 50, 25.0) };
        let armed = Armed::new(f, 1);
        let half = 1u32 << 31;
        let quarter = 1u32 << 30;
        let ms = Duration::from_millis;
        // (replica, draws, delay, abort)
        let cases = [
            (0, [0, 0, 0], ms(0), None),
            (1, [0, 0, 0], ms(150), Some(503)),
            (1, [half - 1, u32::MAX, quarter], ms(250), None),
            (1, [half, 0, quarter - 1], ms(0), Some(503)),
            (1, [u32::MAX, 0, u32::MAX], ms(0), None),
            (1, [0, half, u32::MAX], ms(200), None),
        ];
        for (replica, draws, delay, abort) in cases {
            assert_eq!(armed.decide(replica, draws), Decision { delay, abort }, "{replica} {draws:?}");
        }
        let every = Armed::new(Fault { abort_percent: 100.0, ..fault(0, 0, 0.0) }, 2);
        assert_eq!(every.decide(7, [u32::MAX; 3]), Decision { delay: ms(0), abort: Some(503) });
    }

    #[test]
    fn the_generator_gives_each_share_within_a_point() {
        let armed = Armed::new(fault(10, 0, 30.0), 1);
        let n = 100_000;
        let aborted = (0..n).filter(|_| armed.draw(0).abort.is_some()).count();
        let share = aborted as f64 * 100.0 / n as f64;
        assert!((share - 30.0).abs() < 1.0, "{share}% aborted");
    }

    #[test]
    fn a_stale_clear_leaves_the_next_fault_armed() {
        let slot = FaultSlot::default();
        assert!(slot.current().is_none());
        let first = slot.set(fault(100, 0, 0.0));
        let second = slot.set(fault(200, 0, 0.0));
        assert!(slot.clear(Some(first.id)).is_none());
        assert_eq!(slot.current().map(|a| a.fault.delay_ms), Some(200));
        assert_eq!(slot.clear(Some(second.id)).map(|a| a.id), Some(second.id));
        assert!(slot.current().is_none());
        assert!(slot.clear(None).is_none());
    }

    #[test]
    fn a_description_says_what_and_whose() {
        let f = Fault { replica: Some(1), ..fault(200, 50, 10.0) };
        assert_eq!(f.describe(), "delay 200ms ±50ms on 100% and abort 503 on 10% of replica 1's requests");
        assert_eq!(fault(0, 0, 5.5).describe(), "abort 503 on 5.5% of requests");
    }
}
