//! Durations as people write them: "250ms", "2s", "1.5s", "1m", "1h", "1m30s".

use std::time::Duration;

/// The longest duration accepted: a day; anything longer is a typo for a manifest timer.
pub const MAX: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration")]
pub struct DurationError {
    pub input: String,
    /// What to write instead, e.g. `write "5s"` for a bare `5`.
    pub hint: String,
}

const UNITS: [(&str, f64); 5] = [("ms", 0.001), ("s", 1.0), ("min", 60.0), ("m", 60.0), ("h", 3600.0)];

/// Parses one or more `NUMBER UNIT` segments (units ms, s, m/min, h), summed.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |hint: &str| DurationError { input: input.to_string(), hint: hint.to_string() };
    let general = "write a number and a unit, e.g. \"250ms\", \"2s\", \"1m30s\"";
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(err(general));
    }
    if rest.parse::<f64>().is_ok() {
        return Err(err(&format!("add a unit: \"{rest}s\" or \"{rest}ms\"")));
    }
    let mut secs = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let n: f64 = num.parse().map_err(|_| err(general))?;
        let tail = tail.trim_start();
        // Longest unit first, so "ms" is not read as "m" followed by "s".
        let (unit, factor) = UNITS.iter().find(|(u, _)| tail.starts_with(u)).ok_or_else(|| err(general))?;
        secs += n * factor;
        rest = tail[unit.len()..].trim_start();
    }
    if !secs.is_finite() || secs > MAX.as_secs_f64() {
        return Err(err("at most a day, \"24h\""));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The shortest plain way to write `d` back: whole seconds as "90s", else milliseconds.
pub fn format(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        let ok = |s: &str| parse(s).expect(s);
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("1m"), Duration::from_secs(60));
        assert_eq!(ok("2min"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok(" 2 s "), Duration::from_secs(2));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("24h"), MAX);
    }

    #[test]
    fn rejects_what_is_not_a_duration_with_a_hint() {
        for bad in ["", "5", "1.5", "s", "5 seconds", "-1s", "1e3s", "1.2.3s", "NaNs", "5sec", "2d", "25h", "1s2", "∞s", "5m!"] {
            let e = parse(bad).expect_err(bad);
            assert_eq!(e.input, bad);
            assert!(!e.hint.is_empty());
        }
        assert_eq!(parse("5").expect_err("bare").hint, "add a unit: \"5s\" or \"5ms\"");
    }

    #[test]
    fn formats_back_shortly() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
