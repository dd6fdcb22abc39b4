//! `[services.NAME.autoscale]`: bounds, exactly one target, the period and the window, and
//! whether the autoscaler is on at start. Read like the rest of a service: every mistake at
//! its own line and column.

use std::time::Duration;

use toml::de::DeTable;

use super::source::Report;
use super::walk::{self, field, unknown_keys, Item};
use super::{Autoscale, AutoscaleTarget, Protocol, MAX_REPLICAS};

pub(crate) const AUTOSCALE_KEYS: &[&str] = &["enabled", "min", "max", "target", "period", "window"];
pub(crate) const TARGET_KEYS: &[&str] = &["p95", "rps_per_replica", "in_flight_per_replica", "cpu_percent_per_replica"];

/// How often the autoscaler measures and decides (Kubernetes: 15 s).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);
/// How long a scale-down waits for every recommendation to agree (Kubernetes: 300 s).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// The shortest period: the measurements are 1-second buckets.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

const TARGET_HINT: &str = "one of `p95 = \"200ms\"`, `rps_per_replica = 10`, `in_flight_per_replica = 2`, `cpu_percent_per_replica = 70`";

/// Reads the block; `None` when it is not a table (reported).
pub(crate) fn read(r: &mut Report<'_>, item: &Item<'_>, key: &str, protocol: Protocol) -> Option<Autoscale> {
    let hint = "write `[services.NAME.autoscale]` with `min`, `max` and a `target`";
    let t = walk::table(r, item, key, hint)?;
    unknown_keys(r, t, key, AUTOSCALE_KEYS);
    let mut a = Autoscale {
        enabled: false,
        min: 1,
        max: MAX_REPLICAS,
        target: AutoscaleTarget::P95Ms(0.0),
        period: DEFAULT_PERIOD,
        window: DEFAULT_WINDOW,
    };
    let mut clean = true;
    if let Some((item, k)) = field(t, key, "enabled") {
        a.enabled = walk::boolean(r, item, &k).unwrap_or(false);
    }
    let count = |r: &mut Report<'_>, name: &str, low: i64| {
        let (item, k) = field(t, key, name)?;
        let hint = format!("a replica count, {low}..={MAX_REPLICAS}");
        let n = walk::integer(r, item, &k, low..i64::from(MAX_REPLICAS) + 1, &hint);
        Some((n.and_then(|n| u32::try_from(n).ok()), item.span(), k))
    };
    let min = count(r, "min", 1);
    let max = count(r, "max", 1);
    match &max {
        Some((Some(n), _, _)) => a.max = *n,
        Some((None, _, _)) => clean = false,
        None => {
            let hint = format!("the most replicas it may run, at most {MAX_REPLICAS}: `max = 4`");
            r.error(&item.span(), key, "missing `max`", Some(hint));
            clean = false;
        }
    }
    match &min {
        Some((Some(n), _, _)) => a.min = *n,
        Some((None, _, _)) => clean = false,
        None => {}
    }
    if let (Some((Some(lo), span, k)), Some((Some(hi), _, _))) = (&min, &max) {
        if lo > hi {
            r.error(span, k, format!("min {lo} is more than max {hi}"), Some("min is the fewest replicas, max the most".into()));
        }
    }
    match field(t, key, "target") {
        Some((item, k)) => match target(r, item, &k, protocol) {
            Some(target) => a.target = target,
            None => clean = false,
        },
        None => {
            r.error(&item.span(), key, "missing `target`", Some(TARGET_HINT.into()));
            clean = false;
        }
    }
    if let Some((item, k)) = field(t, key, "period") {
        a.period = walk::duration(r, item, &k, MIN_PERIOD).unwrap_or(DEFAULT_PERIOD);
    }
    if let Some((item, k)) = field(t, key, "window") {
        a.window = walk::duration(r, item, &k, Duration::ZERO).unwrap_or(DEFAULT_WINDOW);
    }
    clean.then_some(a)
}

/// `target = { p95 = "200ms" }` and the like: exactly one metric, its value above zero.
fn target(r: &mut Report<'_>, item: &Item<'_>, key: &str, protocol: Protocol) -> Option<AutoscaleTarget> {
    let t: &DeTable<'_> = walk::table(r, item, key, TARGET_HINT)?;
    unknown_keys(r, t, key, TARGET_KEYS);
    let given: Vec<&str> = TARGET_KEYS.iter().copied().filter(|n| t.get(*n).is_some()).collect();
    if given.is_empty() {
        if t.is_empty() {
            r.error(&item.span(), key, "no target", Some(TARGET_HINT.into()));
        }
        return None;
    }
    if given.len() > 1 {
        let (second, k) = field(t, key, given[1])?;
        let message = format!("one target only: `{}` and `{}` are both given", given[0], given[1]);
        r.error(&second.span(), &k, message, Some("the autoscaler follows one number; keep the one your users feel".into()));
        return None;
    }
    let name = given[0];
    let (value, k) = field(t, key, name)?;
    if protocol == Protocol::Tcp && name != "cpu_percent_per_replica" {
        let hint = "a tcp address counts connections, not requests; use `cpu_percent_per_replica`";
        r.error(&value.span(), &k, format!("`{name}` needs an http service"), Some(hint.into()));
        return None;
    }
    match name {
        "p95" => {
            let d = walk::duration(r, value, &k, Duration::ZERO)?;
            if d.is_zero() {
                r.error(&value.span(), &k, "a target of 0 can never be met", Some("e.g. `p95 = \"200ms\"`".into()));
                return None;
            }
            Some(AutoscaleTarget::P95Ms(d.as_secs_f64() * 1000.0))
        }
        "rps_per_replica" => positive(r, value, &k, 1_000_000.0).map(AutoscaleTarget::RpsPerReplica),
        "in_flight_per_replica" => positive(r, value, &k, 10_000.0).map(AutoscaleTarget::InFlightPerReplica),
        _ => positive(r, value, &k, 10_000.0).map(AutoscaleTarget::CpuPercentPerReplica),
    }
}

/// A number above zero and at most `max`, integer or float.
fn positive(r: &mut Report<'_>, item: &Item<'_>, key: &str, max: f64) -> Option<f64> {
    let v = walk::number(r, item, key)?;
    if v <= 0.0 {
        r.error(&item.span(), key, format!("a target of {v} can never be met"), Some("give a number above 0".into()));
        return None;
    }
    if v > max {
        r.error(&item.span(), key, format!("{v} is past the largest target, {max}"), None);
        return None;
    }
    Some(v)
}
