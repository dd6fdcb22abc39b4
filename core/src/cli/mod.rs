//! The headless commands behind the `microdeck` binary; `main` only parses and calls.
//!
//! - `load`: open-loop load from a manifest scenario, a line a second and a summary.

pub mod load;
