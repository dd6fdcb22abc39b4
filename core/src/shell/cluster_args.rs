//! Which cluster to run and where its files go: the options `microdeck up` and the desktop
//! app share (`#[command(flatten)]`), so both read a manifest and lay out folders alike.

use std::path::PathBuf;

use crate::cluster::ClusterOptions;
use crate::manifest::Origin;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// The cluster manifest (TOML). Default: the bundled sample cluster.
    #[arg(long, conflicts_with = "procfile")]
    pub manifest: Option<PathBuf>,
    /// A Procfile (`name: command` lines) instead of a manifest.
    #[arg(long)]
    pub procfile: Option<PathBuf>,
    /// Logs and run state. Default: $XDG_STATE_HOME/microdeck/<cluster>.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Services' data folders. Default: $XDG_DATA_HOME/microdeck/<cluster>.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Added to every fixed port, to run a second cluster beside the first.
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
}

impl ClusterArgs {
    /// Where the manifest comes from (no file: the sample cluster built into the binary).
    pub fn origin(&self) -> Origin {
        Origin::of_args(self.manifest.as_deref(), self.procfile.as_deref())
    }

    /// The folders and port shift given on the command line, over `options`' defaults.
    pub fn apply(&self, options: &mut ClusterOptions) {
        if let Some(d) = &self.run_dir {
            options.run_dir = d.clone();
        }
        if let Some(d) = &self.data_dir {
            options.data_dir = d.clone();
        }
        options.port_offset = self.port_offset;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterArgs,
    }

    #[test]
    fn a_manifest_and_a_procfile_conflict() {
        assert!(Cli::try_parse_from(["x", "--manifest", "a", "--procfile", "b"]).is_err());
        let c = Cli::try_parse_from(["x", "--procfile", "b"]).unwrap().cluster;
        assert_eq!(c.origin(), Origin::of_args(None, Some("b".as_ref())));
    }

    #[test]
    fn given_folders_and_offset_replace_the_defaults() {
        let c = Cli::try_parse_from(["x", "--run-dir", "/r", "--port-offset", "7"]).unwrap().cluster;
        let mut options = ClusterOptions::default_for(&crate::bundled::manifest().unwrap());
        let data = options.data_dir.clone();
        c.apply(&mut options);
        assert_eq!((options.run_dir.as_path(), options.data_dir.clone(), options.port_offset), ("/r".as_ref(), data, 7));
    }
}
