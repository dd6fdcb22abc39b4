//! `microdeck fault SERVICE --delay 200ms [--jitter 50ms] [--abort 10% --status 503]
//! [--replica N] [--for 30s]`, `--clear`, or no option to show the fault there now.

use std::time::Duration;

use clap::Args;

use super::client::{Client, ClientError};
use crate::cluster::FaultView;
use crate::manifest::duration;
use crate::proxy::fault::{Fault, DEFAULT_STATUS};

#[derive(Debug, Args)]
pub struct FaultArgs {
    pub service: String,
    /// Hold requests this long before forwarding them, e.g. `200ms`.
    #[arg(long, value_parser = parse_duration)]
    pub delay: Option<Duration>,
    /// Vary each delay by up to this much either way, e.g. `50ms`.
    #[arg(long, value_parser = parse_duration, requires = "delay")]
    pub jitter: Option<Duration>,
    /// Delay only this share of requests (default: all), e.g. `50%`.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, requires = "delay")]
    pub delay_share: Option<f64>,
    /// Answer this share of requests with `--status` from the address, e.g. `10%`.
    /// (A TCP service resets the connection instead.)
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub abort: Option<f64>,
    /// The status an abort answers, 400–599 (default 503).
    #[arg(long, requires = "abort")]
    pub status: Option<u16>,
    /// Only requests sent to this replica.
    #[arg(long, value_name = "N")]
    pub replica: Option<u32>,
    /// Clear the fault after this long, e.g. `30s` (default: until `--clear`).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub lasting: Option<Duration>,
    /// Clear the service's fault.
    #[arg(long, conflicts_with_all = ["delay", "abort", "replica", "lasting"])]
    pub clear: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    duration::parse(s).map_err(|e| format!("{e}: {}", e.hint))
}

/// `10%`, `10` or `2.5%`.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        Ok(_) => Err(format!("`{s}` is not between 0% and 100%")),
        Err(_) => Err(format!("`{s}` is not a percentage; write e.g. `10%`")),
    }
}

/// The fault the options describe; `None` when they ask for none (show or clear).
pub fn fault_of(args: &FaultArgs) -> Option<Fault> {
    if args.clear || (args.delay.is_none() && args.abort.is_none()) {
        return None;
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Some(Fault {
        delay_ms: args.delay.map_or(0, ms),
        jitter_ms: args.jitter.map_or(0, ms),
        delay_percent: args.delay_share.unwrap_or(100.0),
        abort_percent: args.abort.unwrap_or(0.0),
        abort_status: args.status.unwrap_or(DEFAULT_STATUS),
        replica: args.replica,
        for_ms: args.lasting.map(ms),
    })
}

pub async fn run(client: &Client, args: FaultArgs) -> Result<(), ClientError> {
    let service = args.service.clone();
    if args.clear {
        match client.clear_fault(&service).await? {
            Some(v) => println!("{service}: cleared ({})", v.summary),
            None => println!("{service}: no fault to clear"),
        }
        return Ok(());
    }
    match fault_of(&args) {
        Some(fault) => println!("{}", describe(&client.set_fault(&service, &fault).await?)),
        None => match client.fault(&service).await? {
            Some(v) => println!("{}", describe(&v)),
            None => println!("{service}: no fault"),
        },
    }
    Ok(())
}

/// "users: delay 200ms on 100% of requests, for 30s" (or "until cleared").
pub fn describe(v: &FaultView) -> String {
    let lasting = match v.fault.for_ms {
        Some(ms) => format!("for {}", duration::format(Duration::from_millis(ms))),
        None => "until cleared".to_string(),
    };
    format!("{}: {}, {lasting}", v.service, v.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: FaultArgs,
    }

    fn parse(line: &str) -> Result<FaultArgs, String> {
        Cli::try_parse_from(std::iter::once("fault").chain(line.split_whitespace())).map(|c| c.args).map_err(|e| e.to_string())
    }

    #[test]
    fn the_options_make_the_fault_they_say() {
        let args = parse("users --delay 200ms --jitter 50ms --abort 10% --status 502 --replica 1 --for 30s").expect("valid");
        let want = Fault { delay_ms: 200, jitter_ms: 50, abort_percent: 10.0, abort_status: 502, replica: Some(1), for_ms: Some(30_000), ..Fault::default() };
        assert_eq!(fault_of(&args), Some(want));
        assert_eq!(fault_of(&parse("users --abort 5").expect("valid")), Some(Fault { abort_percent: 5.0, ..Fault::default() }));
        assert_eq!(fault_of(&parse("users").expect("show")), None);
        assert_eq!(fault_of(&parse("users --clear").expect("clear")), None);
    }

    #[test]
    fn bad_options_are_refused_with_what_to_write() {
        // (line, a part of the error)
        let cases = [
            ("users --abort 120%", "not between 0% and 100%"),
            ("users --abort ten", "not a percentage"),
            ("users --delay 200", "add a unit"),
            ("users --jitter 5ms", "--delay"),
            ("users --status 500", "--abort"),
            ("users --clear --delay 1s", "cannot be used with"),
        ];
        for (line, part) in cases {
            let error = parse(line).expect_err(line);
            assert!(error.contains(part), "{line}: {error}");
        }
    }

    #[test]
    fn the_answer_says_what_and_how_long() {
        let fault = Fault { delay_ms: 200, for_ms: Some(30_000), ..Fault::default() };
        let view = FaultView { service: "users".into(), fault, summary: fault.describe(), since: 0, until: Some(30_000) };
        assert_eq!(describe(&view), "users: delay 200ms on 100% of requests, for 30s");
    }
}
