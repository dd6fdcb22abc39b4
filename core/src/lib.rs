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
//! - [`bundled`]: the sample cluster's manifest, built in, and `reset_data`.

pub mod manifest;
pub mod snapshot;
pub mod cluster;
pub mod bundled;
