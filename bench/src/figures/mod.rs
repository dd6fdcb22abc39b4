//! The figures P1–P9, each a function returning its table rows (`ui`: P7, the desktop app;
//! `logflood`: P8, the dashboard under a log flood in Chromium and in the desktop app).

pub mod cost;
pub mod load;
pub mod logflood;
pub mod proxy;
pub mod supervise;
pub mod ui;

use std::path::PathBuf;

use crate::engine::Bins;

/// What every figure needs to know about the run.
pub struct Ctx {
    pub bins: Bins,
    /// The repository (for the bundled cluster and the UI).
    pub root: PathBuf,
    /// `bench/` (PM2 lives in its node_modules).
    pub bench_dir: PathBuf,
    pub quick: bool,
    /// Runs per figure (1 in quick mode).
    pub runs: usize,
    /// Compare with nginx, PM2, wrk.
    pub peers: bool,
    /// P5's supervision window.
    pub p5_secs: u64,
}
