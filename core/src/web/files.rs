//! The two files of the local API: the per-user token (`$XDG_CONFIG_HOME/microdeck/token`)
//! and the state file of a running cluster (`$XDG_RUNTIME_DIR/microdeck/api.json`), both 0600.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::private_fs;

/// A file of the local API could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid state file: {source}")]
    Invalid { path: PathBuf, source: serde_json::Error },
    #[error("neither $XDG_CONFIG_HOME nor $HOME is set: nowhere to keep the token")]
    NoHome,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_owned(), source }
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> Option<PathBuf> {
    env_dir("HOME")
}

/// `$XDG_CONFIG_HOME/microdeck/token`, else `~/.config/microdeck/token`.
pub fn token_path() -> Result<PathBuf, FileError> {
    env_dir("XDG_CONFIG_HOME")
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|d| d.join("microdeck").join("token"))
        .ok_or(FileError::NoHome)
}

/// `$XDG_RUNTIME_DIR/microdeck/api.json`, else `$XDG_STATE_HOME/microdeck/api.json`
/// (`~/.local/state/…`, with [`private_fs::home_fallback`] standing for an unset `$HOME`).
pub fn state_path() -> PathBuf {
    let dir = env_dir("XDG_RUNTIME_DIR")
        .or_else(|| env_dir("XDG_STATE_HOME"))
        .unwrap_or_else(|| home().unwrap_or_else(private_fs::home_fallback).join(".local").join("state"));
    dir.join("microdeck").join("api.json")
}

/// Writes `contents` to `path` readable by the owner only, replacing it atomically.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    if let Some(dir) = path.parent() {
        // The file holds the token: never in a folder another user chose.
        private_fs::create_dir(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// The user's token: read from `path`, or generated (32 random bytes, hex) and kept there.
pub fn load_or_create_token(path: &Path) -> Result<String, FileError> {
    match fs::read_to_string(path) {
        Ok(t) if is_token(t.trim()) => {
            // An owner-only secret: tighten a file someone loosened.
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
            return Ok(t.trim().to_owned());
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    let token = hex(&rand::random::<[u8; 32]>());
    write_private(path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

fn is_token(t: &str) -> bool {
    t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a running cluster leaves for the CLI verbs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// e.g. `http://127.0.0.1:7300`
    pub url: String,
    pub token: String,
    pub pid: u32,
}

impl StateFile {
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let json = serde_json::to_vec_pretty(self).map_err(|source| FileError::Invalid { path: path.to_owned(), source })?;
        write_private(path, &json)
    }

    /// `Ok(None)` when there is no file.
    pub fn read(path: &Path) -> Result<Option<StateFile>, FileError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| FileError::Invalid { path: path.to_owned(), source }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Removes the file at `path` if it is still this process's (another cluster may have replaced it).
    pub fn remove_if_ours(path: &Path) {
        if let Ok(Some(state)) = StateFile::read(path) {
            if state.pid == std::process::id() {
                if let Err(e) = fs::remove_file(path) {
                    tracing::warn!("could not remove {}: {e}", path.display());
                }
            }
        }
    }

    /// Whether the process that wrote the file still runs.
    pub fn owner_alive(&self) -> bool {
        i32::try_from(self.pid)
            .is_ok_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mdk-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn token_is_generated_once_and_kept_owner_only() {
        let dir = scratch("token");
        let path = dir.join("microdeck").join("token");
        let first = load_or_create_token(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(is_token(&first));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create_token(&path).unwrap(), first);
        assert_eq!(mode(&path), 0o600);
        let other = load_or_create_token(&scratch("token2").join("t")).unwrap();
        assert_ne!(other, first);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_state_file_is_never_written_through_a_folder_another_user_planted() {
        // A folder like /tmp, where another user made the folder the state file would go in.
        let shared = tempfile::tempdir().unwrap();
        fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        let planted = shared.path().join("microdeck-state");
        fs::create_dir(&planted).unwrap();
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o777)).unwrap();
        let state = StateFile { url: "http://127.0.0.1:1".into(), token: "secret".into(), pid: std::process::id() };
        let e = state.write(&planted.join("api.json")).expect_err("the token went into a folder others can write");
        assert!(e.to_string().contains("other users can write in it"), "{e}");
        assert!(!planted.join("api.json").exists());
        let e = load_or_create_token(&planted.join("token")).expect_err("the token went into a folder others can write");
        assert!(e.to_string().contains("other users can write in it"), "{e}");
    }

    #[test]
    fn state_file_round_trips_owner_only_and_is_removed_only_by_its_writer() {
        let dir = scratch("state");
        let path = dir.join("api.json");
        assert_eq!(StateFile::read(&path).unwrap(), None);
        let ours = StateFile { url: "http://127.0.0.1:1".into(), token: "t".into(), pid: std::process::id() };
        ours.write(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(StateFile::read(&path).unwrap(), Some(ours.clone()));
        assert!(ours.owner_alive());
        let theirs = StateFile { pid: ours.pid + 1_000_000, ..ours.clone() };
        theirs.write(&path).unwrap();
        StateFile::remove_if_ours(&path);
        assert!(path.exists());
        ours.write(&path).unwrap();
        StateFile::remove_if_ours(&path);
        assert!(!path.exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
