//! # Microdeck tests
//!
//! Tests of the real binaries, started as a user would. `bins` builds the workspace
//! binaries once and finds them (Cargo sets `CARGO_BIN_EXE_*` only for a package's own);
//! `rundir` reads what `microdeck up` writes (also used by `make bench`).

pub mod bins;
pub mod rundir;
