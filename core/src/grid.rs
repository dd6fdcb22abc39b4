//! One clock grid for the engine's periodic idle work (health probes of ready replicas,
//! resource sampling): each timer fires on the next multiple of its period counted from
//! one shared start, so timers of the same period fire in the same tick and an idle
//! engine wakes once a second, not once per probe.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// The first grid point of `period` strictly after now.
pub fn next(period: Duration) -> Instant {
    let start = *START.get_or_init(Instant::now);
    let now = Instant::now();
    let period_ns = period.as_nanos().max(1);
    let since = now.saturating_duration_since(start).as_nanos();
    let steps = since / period_ns + 1;
    let at = steps.saturating_mul(period_ns);
    start + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timers_of_one_period_meet_on_the_same_point() {
        let p = Duration::from_millis(1000);
        let a = next(p);
        tokio::time::advance(Duration::from_millis(337)).await;
        let b = next(p);
        assert_eq!(a, b);
        assert!(a > Instant::now() && a - Instant::now() <= p);
        tokio::time::sleep_until(a).await;
        let c = next(p);
        assert_eq!(c - a, p, "on a grid point, the next one is a full period on");
    }
}
