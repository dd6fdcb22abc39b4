//! The engine's open-file limit. Every address, connection, log pipe and file holds a
//! descriptor, and a desktop session's soft limit is often 1,024, so the engine raises its
//! own to the hard limit once at start; the programs it runs get the limit it started with
//! back (a program built on `select()` breaks past descriptor 1,024).

use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// (soft, hard) as the process started with them; `None` when they could not be read.
static STARTED_WITH: OnceLock<Option<(u64, u64)>> = OnceLock::new();

/// Raises the soft limit to the hard one, once per process; a refusal leaves it as it was.
pub fn raise() {
    STARTED_WITH.get_or_init(|| {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("open files stay limited to {soft}: raising the limit to {hard} failed: {e}");
            }
        }
        Some((soft, hard))
    });
}

/// Gives a child, between fork and exec, the limit the engine started with.
/// Async-signal-safe: one atomic read and one system call.
pub fn restore_in_child() -> std::io::Result<()> {
    match STARTED_WITH.get() {
        Some(Some((soft, hard))) => setrlimit(Resource::RLIMIT_NOFILE, *soft, *hard).map_err(std::io::Error::from),
        _ => Ok(()),
    }
}
