//! Samples, their median/min/max, and the one Markdown table `make bench` prints.

use std::fmt::Write;

/// The values of one figure over its runs.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// Nearest-rank percentile (`p` in 0..=100).
    pub fn percentile(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v[rank.min(v.len()) - 1]
    }

    /// "12.3 (11.9–13.0)" with a unit, or one value when there was one run.
    pub fn show(&self, unit: &str) -> String {
        if self.0.len() == 1 {
            return format!("{}{unit}", num(self.median()));
        }
        format!("{}{unit} ({}–{}, n={})", num(self.median()), num(self.min()), num(self.max()), self.0.len())
    }
}

/// Per-run ratios of two sample lists taken in the same runs (a[i] / b[i]).
pub fn ratios(a: &Samples, b: &Samples) -> Samples {
    Samples(a.0.iter().zip(&b.0).map(|(x, y)| x / y).collect())
}

/// Three significant digits, no exponent.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    // From 100 up three digits reach the units; a whole number needs no decimals at any size.
    if a >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: &'static str,
    pub figure: String,
    pub microdeck: String,
    pub peer: String,
    pub target: String,
    /// `Some(true)` met, `Some(false)` missed, `None` nothing to judge (informational).
    pub met: Option<bool>,
}

impl Row {
    pub fn new(id: &'static str, figure: impl Into<String>, microdeck: impl Into<String>) -> Row {
        Row { id, figure: figure.into(), microdeck: microdeck.into(), peer: "—".into(), target: "—".into(), met: None }
    }

    pub fn peer(mut self, peer: impl Into<String>) -> Row {
        self.peer = peer.into();
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }
}

/// The Markdown table, with a line saying how it was run.
pub fn render(rows: &[Row], header: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}\n");
    out.push_str("| id | figure | Microdeck: median (min–max, runs) | compared with (same runs) | target | met |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(out, "| {} | {} | {} | {} | {} | {} |", r.id, r.figure, r.microdeck, r.peer, r.target, met);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_percentile() {
        let s = Samples(vec![5.0, 1.0, 3.0, 4.0, 2.0]);
        assert_eq!((s.median(), s.min(), s.max()), (3.0, 1.0, 5.0));
        assert_eq!(Samples(vec![1.0, 2.0, 3.0, 4.0]).median(), 2.5);
        let hundred = Samples((1..=100).map(f64::from).collect());
        assert_eq!(hundred.percentile(95.0), 95.0);
        assert_eq!(hundred.percentile(0.0), 1.0);
    }

    #[test]
    fn numbers_keep_three_significant_digits_and_whole_ones_none() {
        let shown: Vec<String> = [1234.4, 120.0, 42.0, 12.34, 3.0, 1.234, 0.1234, -5.5, 2e9, f64::NAN].map(num).into();
        assert_eq!(shown, ["1234", "120", "42", "12.3", "3", "1.23", "0.123", "-5.50", "2000000000", "—"]);
    }

    #[test]
    fn ratios_pair_runs() {
        let r = ratios(&Samples(vec![2.0, 9.0]), &Samples(vec![1.0, 3.0]));
        assert_eq!(r.0, vec![2.0, 3.0]);
    }
}
