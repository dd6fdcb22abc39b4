//! # Microdeck engine
//!
//! The GUI-free engine behind both shells (the Tauri app and `microdeck up`).
//!
//! ## Layout
//!
//! - [`manifest`]: the cluster manifest (TOML) and Procfile import, validated with
//!   errors that name the file, line, column and key;
//! - [`error`]: `ClusterError`, what an engine command can fail with, below both the
//!   supervisor that answers commands and the `cluster` that hands them out;
//! - [`snapshot`]: the serde views the shells render (services, replicas, logs, events);
//! - [`supervisor`]: one actor per service owning its replicas (processes, restarts,
//!   backoff, scaling, rolling restarts);
//! - [`shim`]: the hidden `microdeck __shim` mode that leads each replica's process
//!   group and stops it when the engine dies;
//! - [`health`]: per-replica probes (HTTP, TCP, process-alive);
//! - [`resources`]: CPU and memory per replica and of the engine;
//! - [`grid`]: the shared clock grid that makes idle timers fire together;
//! - [`fd_limit`]: the engine's open-file limit raised at start, its programs' given back;
//! - [`events`]: the bounded cluster event log, also kept in the run folder's `events.jsonl`;
//! - [`private_fs`]: folders (0700) and files (0600) only this user reads, and the checked
//!   stand-in for an unset `$HOME`;
//! - [`logs`]: line capture from children, level parsing, the per-service ring, rotated
//!   log files and the batched feed for viewers;
//! - `http1`: HTTP/1.1 request encoding and response framing on the wire, for the load
//!   workers and the proxy's connections to replicas;
//! - `conn_cap`: the cap on a listener's open connections (service addresses, local API);
//! - [`proxy`]: each service's stable address, forwarding HTTP or TCP to its ready
//!   replicas;
//! - [`cluster`]: `Cluster`, the one API of every shell;
//! - [`metrics`]: traffic per service, replica and caller→callee edge; 1-second series
//!   kept 15 minutes; Prometheus text;
//! - [`loadgen`]: the open-loop load generator over the manifest's scenarios;
//! - [`autoscale`]: the HPA rule (pure) and the control loop per autoscaled service, a
//!   client of `cluster` that scales like a user;
//! - [`lessons`]: lessons as data (a claim, steps of actions and checks), validated with
//!   errors like the manifest's, and each check's outcome;
//! - [`bundled`]: the sample cluster's manifest and lessons, built in;
//! - [`web`]: the local HTTP API + SSE + the built UI, on 127.0.0.1 behind a token;
//! - [`loopback`]: the one HTTP client for calls to loopback addresses, never through a proxy;
//! - [`shell`]: what both shells share around a `Cluster`: its arguments, a stop that
//!   says what it waits for, and the signals that start it;
//! - [`cli`]: the commands behind the `microdeck` binary (`up`, and the client verbs
//!   `status`, `logs`, `scale`, … that talk to a running cluster over `web`).

pub mod error;
pub mod manifest;
pub mod snapshot;
pub mod supervisor;
pub mod shim;
pub mod health;
pub mod resources;
pub mod grid;
pub mod fd_limit;
pub mod events;
pub mod private_fs;
pub mod logs;
mod http1;
mod conn_cap;
pub mod proxy;
pub mod cluster;
pub mod metrics;
pub mod loadgen;
pub mod autoscale;
pub mod lessons;
pub mod web;
pub mod loopback;
pub mod shell;
pub mod cli;
pub mod bundled;
