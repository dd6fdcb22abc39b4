//! Restart backoff: the first restart at once, then doubling from [`BACKOFF_MIN`] to
//! [`BACKOFF_MAX`]; a replica that stayed ready for [`BACKOFF_RESET`] starts over.

use std::time::Duration;

/// The delay before the second restart in a row.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// No restart waits longer than this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Ready this long and the next crash counts as the first again.
pub const BACKOFF_RESET: Duration = Duration::from_secs(60);

/// The delay before restart number `attempt` (0-based) of a crash series.
pub fn backoff_delay(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    // 2^(attempt-1) × MIN, saturating well before overflow.
    let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
    BACKOFF_MIN.saturating_mul(factor).min(BACKOFF_MAX)
}

/// The crash series of one replica slot.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The delay for the next restart; advances the series.
    pub fn next_delay(&mut self) -> Duration {
        let d = backoff_delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_doubles_to_the_cap() {
        let got: Vec<u64> = (0..10).map(|a| backoff_delay(a).as_millis() as u64).collect();
        assert_eq!(got, vec![0, 250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff_delay(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn series_advances_and_resets() {
        let mut b = Backoff::default();
        assert_eq!(b.next_delay(), Duration::ZERO);
        assert_eq!(b.next_delay(), BACKOFF_MIN);
        assert_eq!(b.next_delay(), BACKOFF_MIN * 2);
        b.reset();
        assert_eq!(b.next_delay(), Duration::ZERO);
    }
}
