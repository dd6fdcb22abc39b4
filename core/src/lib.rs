//! # Microdeck engine
//!
//! The GUI-free engine behind both shells (the Tauri app and `microdeck up`).
//!
//! ## Layout
//!
//! - [`manifest`]: the cluster manifest (TOML) and Procfile import, validated with
//!   errors that name the file, line, column and key;
//! - [`snapshot`]: the serde views the shells render (services, replicas, logs, events);
//! - [`logs`]: line capture from children, level parsing, the per-service ring, rotated
//!   log files and the batched feed for viewers;
//! - [`proxy`]: each service's stable address, forwarding HTTP or TCP to its ready
//!   replicas;
//! - [`cluster`]: `Cluster`, the one API of every shell.

pub mod manifest;
pub mod snapshot;
pub mod cluster;
pub mod logs;
pub mod proxy;
