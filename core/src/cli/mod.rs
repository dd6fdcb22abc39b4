//! The headless commands behind the `microdeck` binary; `main` only parses and calls.
//!
//! - `up`: run a cluster in the foreground with a status table;
//! - `verbs`: the client verbs (`status`, `logs`, `scale`, `restart`, `stop`, `start`,
//!   `kill`) against a running cluster; `client`: their HTTP client of the local API;
//!   `format`: what they and `up` print;
//! - `web_args`: the local API options of `up` (`--ui-dir`, `--web-port`);
//! - `load`: open-loop load from a manifest scenario, a line a second and a summary;
//! - `lesson`: the bundled lessons, and a lesson run in the running cluster, watched;
//! - `autoscale`: `microdeck autoscale SERVICE on|off|status`;
//! - `fault`: `microdeck fault SERVICE --delay … --abort … | --clear`;
//! - `rollout`: `deploy` and `rollout status|history|undo`, what they print.

pub mod autoscale;
pub mod client;
pub mod fault;
pub mod format;
pub mod lesson;
pub mod load;
pub mod rollout;
pub mod up;
pub mod verbs;
pub mod web_args;

/// Exit codes shared by the verbs (listed in `microdeck up --help`).
pub mod exit {
    /// Stopped on request (Ctrl-C, SIGTERM).
    pub const OK: u8 = 0;
    /// Bad arguments, or the manifest cannot be read.
    pub const USAGE: u8 = 2;
    /// The manifest is invalid.
    pub const INVALID_MANIFEST: u8 = 3;
    /// A service's port is already in use.
    pub const PORT_IN_USE: u8 = 4;
    /// The cluster could not start (folders, the shim, the runtime).
    pub const START_FAILED: u8 = 5;
    /// `reset-data` refused: a running cluster uses the data folder.
    pub const IN_USE: u8 = 6;
}
