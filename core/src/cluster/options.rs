//! Default folders and the shim's location.

use std::path::PathBuf;

use super::{ClusterError, ClusterOptions};
use crate::manifest::Manifest;

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => {
            // No `$HOME` (a bare service manager): a folder of this user's in /tmp, checked as it is made.
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
            home.unwrap_or_else(crate::private_fs::home_fallback).join(fallback)
        }
    }
}

/// A cluster name made safe as a folder name.
fn folder_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if s.is_empty() {
        "cluster".into()
    } else {
        s
    }
}

impl ClusterOptions {
    /// Run folder under `$XDG_STATE_HOME/microdeck/<cluster>`, data under
    /// `$XDG_DATA_HOME/microdeck/<cluster>`; programs looked up next to the running
    /// executable first; logs kept 5,000 lines in memory and 10 MiB × 5 files on disk.
    pub fn default_for(manifest: &Manifest) -> ClusterOptions {
        let name = folder_name(&manifest.name);
        let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
        ClusterOptions {
            run_dir: xdg("XDG_STATE_HOME", ".local/state").join("microdeck").join(&name),
            data_dir: xdg("XDG_DATA_HOME", ".local/share").join("microdeck").join(&name),
            port_offset: 0,
            program_dirs: exe_dir.into_iter().collect(),
            log_ring_lines: 5000,
            log_file_bytes: 10 * 1024 * 1024,
            log_files: 5,
            shim: None,
        }
    }
}

/// The shim executable: the option, else `$MICRODECK_SHIM`, else the running executable.
pub(super) fn shim_path(options: &ClusterOptions) -> Result<PathBuf, ClusterError> {
    if let Some(p) = &options.shim {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("MICRODECK_SHIM").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(|e| ClusterError::NoShim(std::sync::Arc::new(e)))
}
