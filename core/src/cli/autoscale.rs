//! `microdeck autoscale SERVICE on|off|status`: a service's autoscaler, switched or shown.

use clap::{Args, ValueEnum};

use super::client::{Client, ClientError};
use crate::autoscale::measure::quantity;
use crate::autoscale::AutoscalerView;

#[derive(Debug, Args)]
pub struct AutoscaleArgs {
    pub service: String,
    /// `on`, `off`, or `status` (default) to show it.
    #[arg(value_enum, default_value_t = Switch::Status)]
    pub switch: Switch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
    Status,
}

pub async fn run(client: &Client, args: AutoscaleArgs) -> Result<(), ClientError> {
    let on = match args.switch {
        Switch::On => Some(true),
        Switch::Off => Some(false),
        Switch::Status => None,
    };
    print!("{}", describe(&client.autoscale(&args.service, on).await?));
    Ok(())
}

/// A few lines: on or off with the target and bounds, the last decision, the window.
pub fn describe(v: &AutoscalerView) -> String {
    let target = quantity(v.target, v.target.value());
    let mut out = format!(
        "{}: autoscaler {} · target {target} · {}..={} replicas · every {} s · scale-down window {} s\n",
        v.service,
        if v.on { "on" } else { "off" },
        v.min,
        v.max,
        v.period_ms as f64 / 1000.0,
        v.window_ms as f64 / 1000.0
    );
    if let Some(note) = &v.note {
        out.push_str(&format!("  {note}\n"));
    }
    if let Some(d) = &v.last {
        out.push_str(&format!("  last decision: {}\n", d.message));
    }
    if !v.window.is_empty() {
        let recs: Vec<String> = v.window.iter().map(u32::to_string).collect();
        out.push_str(&format!("  window: {} (a scale-down goes no lower than the largest)\n", recs.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::AutoscaleTarget;

    #[test]
    fn the_status_names_the_switch_the_target_and_how_it_was_switched_off() {
        let mut v = AutoscalerView {
            service: "auth".into(),
            on: false,
            min: 1,
            max: 4,
            target: AutoscaleTarget::P95Ms(300.0),
            period_ms: 5000,
            window_ms: 30000,
            last: None,
            window: vec![],
            note: Some("auth's autoscaler switched off: a manual scale to 3 wins".into()),
        };
        let text = describe(&v);
        assert!(text.starts_with("auth: autoscaler off · target 300 ms · 1..=4 replicas · every 5 s · scale-down window 30 s\n"), "{text}");
        assert!(text.contains("manual scale to 3"), "{text}");
        v.on = true;
        v.window = vec![4, 2];
        assert!(describe(&v).contains("window: 4 2"), "{}", describe(&v));
    }
}
