//! `microdeck-bench` (`make bench`): measures Microdeck's speed and cost (figures P1–P9)
//! side by side with nginx, PM2 and wrk, and prints one Markdown table.
//!
//! # Layout
//! - `report`: samples (median, min, max) and the table;
//! - `http`: a small timed HTTP/1.1 client and closed-loop load;
//! - `procfs`: CPU and memory from /proc;
//! - `engine`: `microdeck up` run as a user would; `pm2`: the PM2 peer;
//! - `browser`: Xvfb, WebDriver servers and a WebDriver client for the UI figures;
//! - `figures`: one function per figure.

mod browser;
mod engine;
mod figures;
mod http;
mod pm2;
mod procfs;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use figures::Ctx;
use report::Row;

#[derive(Debug, Parser)]
#[command(about = "Microdeck's speed and cost figures, as one Markdown table")]
struct Args {
    /// Folder of the built binaries (microdeck, mdk-*), e.g. $CARGO_TARGET_DIR/release.
    #[arg(long)]
    bin_dir: PathBuf,
    /// One short run of each figure, no peers: proves the harness works, says nothing about speed.
    #[arg(long)]
    quick: bool,
    /// Runs per figure (full mode).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// P5's supervision window in seconds (full mode; quick: 5).
    #[arg(long, default_value_t = 120)]
    p5_secs: u64,
    /// Only these figures (e.g. P3,P6); default all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the table.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("microdeck-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("microdeck-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every figure `--only` may name.
const FIGURES: [&str; 9] = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"];

/// Runs the figures; false if one could not be measured.
async fn run(args: Args) -> Result<bool> {
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = bench_dir.parent().map(PathBuf::from).unwrap_or_else(|| bench_dir.clone());
    let ctx = Ctx {
        bins: engine::Bins { dir: std::fs::canonicalize(&args.bin_dir)? },
        root,
        bench_dir,
        quick: args.quick,
        runs: if args.quick { 1 } else { args.runs.max(1) },
        peers: !args.quick,
        p5_secs: if args.quick { 5 } else { args.p5_secs },
    };
    // A name that matches no figure would run nothing and report success: refuse it.
    if let Some(unknown) = args.only.iter().find(|o| !FIGURES.iter().any(|f| f.eq_ignore_ascii_case(o))) {
        anyhow::bail!("--only {unknown}: no such figure (known: {})", FIGURES.join(", "));
    }
    let wanted = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let mut rows: Vec<Row> = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    macro_rules! figure {
        ($id:literal, $f:expr) => {
            if wanted($id) {
                let t = std::time::Instant::now();
                eprintln!("microdeck-bench: {} …", $id);
                match $f.await {
                    Ok(r) => rows.extend(r),
                    Err(e) => {
                        failed.push($id);
                        eprintln!("microdeck-bench: {} could not be measured: {e:#}", $id);
                        rows.push(Row::new($id, "could not be measured", format!("error: {e:#}")));
                    }
                }
                eprintln!("microdeck-bench: {} took {:.1} s", $id, t.elapsed().as_secs_f64());
            }
        };
    }
    figure!("P1", figures::supervise::p1(&ctx));
    figure!("P2", figures::supervise::p2(&ctx));
    figure!("P3", figures::supervise::p3(&ctx));
    figure!("P4", figures::proxy::p4(&ctx));
    figure!("P5", figures::cost::p5(&ctx));
    figure!("P6", figures::cost::p6(&ctx));
    figure!("P7", figures::ui::p7(&ctx));
    figure!("P8", figures::logflood::p8(&ctx));
    figure!("P8", figures::logflood::p8_desktop(&ctx));
    figure!("P9", figures::load::p9(&ctx));
    let mode = if ctx.quick { "quick mode (one short run each, debug build, no peers; says nothing about speed)" } else { "full mode" };
    let table = report::render(&rows, &format!("Microdeck benchmarks — {mode}; binaries from {}", ctx.bins.dir.display()));
    println!("{table}");
    if let Some(out) = &args.out {
        if let Some(d) = out.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(out, &table)?;
        eprintln!("microdeck-bench: table written to {}", out.display());
    }
    if !failed.is_empty() {
        eprintln!("microdeck-bench: FAILED: could not measure {} (reasons above)", failed.join(", "));
    }
    Ok(failed.is_empty())
}
