//! # Microdeck engine
//!
//! The GUI-free engine behind both shells (the Tauri app and `microdeck up`).
//!
//! ## Layout
//!
//! - [`manifest`]: the cluster manifest (TOML) and Procfile import, validated with
//!   errors that name the file, line, column and key;
//! - [`snapshot`]: the serde views the shells render (services, replicas, logs, events);
//! - [`cluster`]: `Cluster`, the one API of every shell;
//! - [`metrics`]: traffic per service, replica and caller→callee edge; 1-second series
//!   kept 15 minutes; Prometheus text;
//! - [`loadgen`]: the open-loop load generator over the manifest's scenarios;
//! - [`cli`]: verbs of the `microdeck` binary that hold more than argument parsing.

pub mod manifest;
pub mod snapshot;
pub mod cluster;
pub mod metrics;
pub mod loadgen;
pub mod cli;
