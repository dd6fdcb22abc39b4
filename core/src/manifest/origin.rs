//! Where a manifest was read from — the bundled sample, `--manifest F`, `--procfile F`, or
//! a file opened later — so both shells start from it and File → Reload reads it again.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{load_file_as, Format, LoadError, Manifest};

/// The source of a manifest, kept in [`Manifest::origin`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// The sample cluster built into the binary.
    Bundled,
    /// A file read as `format` (a Procfile given by `--procfile` keeps that format whatever its name).
    File { path: PathBuf, format: Format },
}

impl Origin {
    /// What the command line names: `--manifest F`, else `--procfile F`, else the bundled sample.
    pub fn of_args(manifest: Option<&Path>, procfile: Option<&Path>) -> Origin {
        match (manifest, procfile) {
            (Some(m), _) => Origin::File { path: m.to_path_buf(), format: Format::Manifest },
            (None, Some(p)) => Origin::File { path: p.to_path_buf(), format: Format::Procfile },
            (None, None) => Origin::Bundled,
        }
    }

    /// A file the user picked (File → Open…): a Procfile by its name, else a manifest.
    pub fn picked(path: &Path) -> Origin {
        Origin::File { path: path.to_path_buf(), format: Format::guess(path) }
    }

    /// Reads and validates the manifest now; the result remembers this origin.
    pub fn load(&self) -> Result<Manifest, LoadError> {
        match self {
            Origin::Bundled => crate::bundled::manifest(),
            Origin::File { path, format } => load_file_as(path, *format),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Bundled => write!(f, "the bundled sample cluster"),
            Origin::File { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_origin() {
        let (m, p) = (Path::new("a.toml"), Path::new("web.procs"));
        assert_eq!(Origin::of_args(Some(m), None), Origin::File { path: m.into(), format: Format::Manifest });
        assert_eq!(Origin::of_args(None, Some(p)), Origin::File { path: p.into(), format: Format::Procfile });
        assert_eq!(Origin::of_args(None, None), Origin::Bundled);
        assert_eq!(Origin::picked(Path::new("x/Procfile.dev")), Origin::File { path: "x/Procfile.dev".into(), format: Format::Procfile });
    }

    #[test]
    fn a_loaded_manifest_remembers_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("procs");
        std::fs::write(&file, "web: sleep 1000\n").unwrap_or_else(|e| panic!("{e}"));
        let origin = Origin::of_args(None, Some(&file));
        let m = origin.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.origin, Some(origin));
        assert_eq!(m.services[0].name, "web");
        let bundled = Origin::Bundled.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bundled.origin, Some(Origin::Bundled));
        let missing = Origin::of_args(Some(&dir.path().join("gone.toml")), None).load();
        assert!(matches!(missing, Err(LoadError::Unreadable { .. })));
    }
}
