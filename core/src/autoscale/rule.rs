//! The HPA rule as one pure function: the numbers in, the replica count out, with why.
//!
//! desired = ceil(ready × measured / target), unchanged within [`TOLERANCE`]; a missing
//! measurement holds; a scale-up goes at most to max(2 × current, current + 4) a period; a
//! scale-down goes only as low as the largest recommendation of the stabilization window;
//! the result is clamped to `min..=max`.

use std::collections::VecDeque;
use std::time::Duration;

/// No change while measured / target is within 1 ± this (Kubernetes' default).
pub const TOLERANCE: f64 = 0.1;
/// A scale-up adds at most this many replicas a period, or doubles, whichever is more.
pub const UP_STEP: u32 = 4;

/// What the rule needs of a service, read at one period's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    /// The replica count asked for now.
    pub current: u32,
    /// Replicas ready now: only they are capacity (the measurement comes from them).
    pub ready: u32,
    /// The period's measurement of the target's metric; `None` when there is none.
    pub measured: Option<f64>,
}

/// The bounds and the target value the rule works within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
    pub target: f64,
}

/// Why the count is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// ceil(ready × measured / target).
    Ratio,
    /// measured / target within 1 ± [`TOLERANCE`].
    Tolerance,
    /// No measurement (or no ready replica to measure): hold.
    Missing,
    /// Over target but replicas are still starting: they are the capacity on its way.
    Starting,
    /// A larger recommendation within the window holds a scale-down.
    Window,
    /// The scale-up limit per period.
    UpLimit,
    /// `min` or `max`.
    Bounds,
}

/// One period's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub from: u32,
    pub to: u32,
    /// This period's recommendation (clamped to the bounds): what the window remembers.
    pub recommended: u32,
    pub why: Why,
}

/// The Kubernetes rule; `recent` holds the recommendations of the window before now.
pub fn decide(bounds: Bounds, input: Input, recent: &[u32]) -> Decision {
    let Input { current, ready, measured } = input;
    let clamp = |n: u32| n.clamp(bounds.min, bounds.max);
    let (raw, why) = match measured {
        _ if ready == 0 => (current, Why::Missing),
        None => (current, Why::Missing),
        Some(m) if !(m.is_finite() && m >= 0.0) || bounds.target <= 0.0 => (current, Why::Missing),
        Some(m) => {
            let ratio = m / bounds.target;
            if (ratio - 1.0).abs() <= TOLERANCE {
                (current, Why::Tolerance)
            } else {
                // A hair under an integer stays that integer: 3 × 0.1 / 0.1 is 3, not 4.
                let want = (f64::from(ready) * ratio - 1e-9).ceil().clamp(0.0, f64::from(u32::MAX)) as u32;
                if ratio > 1.0 && want < current {
                    (current, Why::Starting)
                } else if ratio < 1.0 && want > current {
                    (current, Why::Tolerance)
                } else {
                    (want, Why::Ratio)
                }
            }
        }
    };
    let recommended = clamp(raw);
    let (to, why) = if recommended > current {
        let limit = current.saturating_mul(2).max(current.saturating_add(UP_STEP));
        if recommended > limit {
            (limit, Why::UpLimit)
        } else {
            (recommended, if raw == recommended { why } else { Why::Bounds })
        }
    } else if recommended < current {
        let largest = recent.iter().copied().max().unwrap_or(0).max(recommended);
        if largest > recommended {
            (largest.min(current), Why::Window)
        } else {
            (recommended, if raw == recommended { why } else { Why::Bounds })
        }
    } else {
        (current, if raw == recommended { why } else { Why::Bounds })
    };
    let bounded = clamp(to);
    let why = if bounded != to { Why::Bounds } else { why };
    Decision { from: current, to: bounded, recommended, why }
}

/// The recommendations of the last `window`, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Window {
    kept: VecDeque<(Duration, u32)>,
}

impl Window {
    /// The recommendations made after `now - window` (`now` on any monotonic clock).
    pub fn recent(&mut self, now: Duration, window: Duration) -> Vec<u32> {
        while self.kept.front().is_some_and(|(at, _)| *at + window <= now) {
            self.kept.pop_front();
        }
        self.kept.iter().map(|(_, n)| *n).collect()
    }

    pub fn push(&mut self, now: Duration, recommended: u32) {
        self.kept.push_back((now, recommended));
    }

    /// The largest recommendation kept, if any.
    pub fn largest(&self) -> Option<u32> {
        self.kept.iter().map(|(_, n)| *n).max()
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
