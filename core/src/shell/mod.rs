//! What both shells (`microdeck up` and the desktop app) need around a `Cluster`, written
//! once so they start and stop a cluster alike.
//!
//! - `cluster_args`: which cluster to run and where (`--manifest`, `--run-dir`, …);
//! - `stopping`: the shutdown that reports which services it still waits for, the
//!   SIGTERM/SIGINT that start it, and the second one that ends the process at once.

pub mod cluster_args;
pub mod stopping;

pub use cluster_args::ClusterArgs;
pub use stopping::{still_running, stop_reporting, Signals, EXIT_AT_ONCE, PROGRESS_EVERY};
