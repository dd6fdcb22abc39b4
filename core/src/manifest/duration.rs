//! Durations as people write them: "250ms", "2s", "1.5s", "1m", "1h".

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration; write a number and a unit, e.g. \"250ms\", \"2s\", \"1m\"")]
pub struct DurationError {
    pub input: String,
}

pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError { input: input.to_string() };
    let s = input.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(err()),
    };
    if !secs.is_finite() || secs < 0.0 || secs > 86_400.0 * 365.0 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The shortest way to write `d` back, e.g. 250ms, 2s, 1m30s → "90s".
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
