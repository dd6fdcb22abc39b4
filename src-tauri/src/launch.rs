//! What the app runs: the command line (`--manifest F` / `--procfile F`, else the bundled
//! sample cluster) and the cluster's options (programs and shim found next to the executable).

use std::path::{Path, PathBuf};

use clap::Parser;

use microdeck::shell::ClusterArgs;
use microdeck::cluster::ClusterOptions;
use microdeck::manifest::{LoadError, Manifest, Origin};
use microdeck::web::WebOptions;

/// The desktop dashboard for a local microservice cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "microdeck-desktop", version)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The local API's port on 127.0.0.1, for the CLI verbs and a browser (busy: any free one).
    #[arg(long, default_value_t = microdeck::web::DEFAULT_PORT)]
    pub web_port: u16,
    /// Passed by WebKitWebDriver when a test drives the app; nothing to do with it.
    #[arg(long, hide = true)]
    pub automation: bool,
}

/// Folders and shifts that apply to whichever manifest the app runs (also one opened later).
#[derive(Debug, Clone)]
pub struct Launch {
    /// The folders and port shift of the command line (its manifest is read once, at start).
    pub cluster: ClusterArgs,
    pub exe_dir: Option<PathBuf>,
    /// The replicas' shim; `None`: `microdeck` in `exe_dir` if there, else this executable.
    pub shim: Option<PathBuf>,
    /// `None` in tests: no local API.
    pub web: Option<WebOptions>,
}

impl Launch {
    pub fn from_args(args: &Args) -> Launch {
        Launch {
            cluster: args.cluster.clone(),
            exe_dir: std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)),
            shim: None,
            web: Some(WebOptions { port: args.web_port, ..WebOptions::default() }),
        }
    }

    /// The engine's defaults for `manifest`, with programs looked up next to the executable
    /// and each replica led by the `microdeck` binary found there (else by this executable).
    pub fn options_for(&self, manifest: &Manifest) -> ClusterOptions {
        let mut options = ClusterOptions::default_for(manifest);
        self.cluster.apply(&mut options);
        if let Some(dir) = &self.exe_dir {
            options.program_dirs = vec![dir.clone()];
            let shim = dir.join("microdeck");
            options.shim = shim.is_file().then_some(shim);
        }
        if let Some(shim) = &self.shim {
            options.shim = Some(shim.clone());
        }
        options
    }
}

/// WebKitGTK's GPU paths, off unless the user chose otherwise: a dashboard of lists and
/// small charts gains nothing from them, and at launch they cost ~1 s of GL set-up and
/// ~100 MB across the app's processes (the bench's P7; the figures are in the README).
pub const WEBKIT_DEFAULTS: [(&str, &str); 2] = [("WEBKIT_DISABLE_DMABUF_RENDERER", "1"), ("WEBKIT_DISABLE_COMPOSITING_MODE", "1")];

/// Sets [`WEBKIT_DEFAULTS`] where the environment has no value of its own. Call before any
/// thread starts (the variables are read when GTK and WebKit start).
pub fn set_webkit_defaults() {
    for (name, value) in WEBKIT_DEFAULTS {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// The manifest the command line names, else the bundled sample cluster (whose programs
/// sit next to the executable); File → Reload manifest reads it again from there.
pub fn manifest_of(args: &Args) -> Result<Manifest, LoadError> {
    args.cluster.origin().load()
}

/// A file the user picked in File → Open…: a Procfile by its name, else a manifest.
pub fn load_picked(path: &Path) -> Result<Manifest, LoadError> {
    Origin::picked(path).load()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_accept_the_webdriver_flag_and_the_e2e_options() {
        let a = Args::try_parse_from(["microdeck-desktop", "--port-offset", "3100", "--automation"]).unwrap();
        assert_eq!(a.cluster.port_offset, 3100);
        assert!(a.cluster.manifest.is_none());
        assert!(Args::try_parse_from(["microdeck-desktop", "--manifest", "a", "--procfile", "b"]).is_err());
    }

    #[test]
    fn the_bundled_manifest_loads() {
        let m = manifest_of(&Args::try_parse_from(["microdeck-desktop"]).unwrap()).unwrap();
        assert_eq!(m.origin, Some(Origin::Bundled));
        assert!(m.services.iter().any(|s| s.name == "gateway"));
    }
}
