//! A cluster's data folder: the lock a running cluster holds on it, and `reset-data`, which
//! wipes services' folders only while no cluster holds that lock.

use std::path::{Path, PathBuf};

/// Held on `<data_dir>/.microdeck.lock` by a running cluster, so `reset-data` can tell
/// that the folders are in use (the lock goes with the process, however it ends).
pub struct DataLock {
    _held: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the data folder's lock: `Ok(None)` when another process holds it.
pub fn lock_data(data_dir: &Path) -> std::io::Result<Option<DataLock>> {
    crate::private_fs::create_dir(data_dir)?;
    let file = crate::private_fs::open_append(&data_dir.join(".microdeck.lock"))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Some(DataLock { _held: held })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(std::io::Error::from(e)),
    }
}

/// `microdeck reset-data`: refuses while a cluster holds the folder's lock.
pub fn reset_unless_running(data_dir: &Path, services: &[String]) -> Result<(), ResetError> {
    let _lock = lock_data(data_dir).map_err(ResetError::Io)?.ok_or_else(|| ResetError::Running(data_dir.to_path_buf()))?;
    reset_data(data_dir, services).map_err(ResetError::Io)
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("a cluster is running with its data in {0}; stop it first")]
    Running(PathBuf),
    #[error("{0}")]
    Io(std::io::Error),
}

/// Wipes each service's data folder (`data_dir/<service>`); the services re-seed at their
/// next start. Run it while the cluster is stopped. A folder that is already gone is fine.
pub fn reset_data(data_dir: &Path, services: &[String]) -> std::io::Result<()> {
    for service in services {
        // A name is one path segment: never let it reach outside `data_dir`.
        if service.is_empty() || service.contains(['/', '\\']) || service == "." || service == ".." {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a service name: `{service}`")));
        }
        match std::fs::remove_dir_all(data_dir.join(service)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_data_wipes_only_the_named_services() {
        let dir = std::env::temp_dir().join(format!("mdk-reset-{}", std::process::id()));
        for s in ["users", "media", "keep"] {
            std::fs::create_dir_all(dir.join(s).join("objects")).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join(s).join("objects/a.txt"), b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        reset_data(&dir, &["users".into(), "media".into(), "absent".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!dir.join("users").exists());
        assert!(!dir.join("media").exists());
        assert!(dir.join("keep/objects/a.txt").exists());
        assert!(reset_data(&dir, &["..".into()]).is_err());
        assert!(dir.join("keep").exists());
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }
}
