//! The local API options of `microdeck up`, and starting it beside the cluster.

use std::path::PathBuf;

use crate::cluster::Cluster;
use crate::web::{self, WebError, WebHandle, WebOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// The built dashboard to serve. Default: `ui/` next to the executable, else the source tree's ui/dist.
    #[arg(long)]
    pub ui_dir: Option<PathBuf>,
    /// The local API's port on 127.0.0.1 (a busy one falls back to a free port; 0 = any).
    #[arg(long, default_value_t = web::DEFAULT_PORT)]
    pub web_port: u16,
}

impl WebArgs {
    /// Serves the API and dashboard for `cluster` and prints the URL to open.
    pub async fn serve(&self, cluster: &Cluster) -> Result<WebHandle, WebError> {
        let options = WebOptions { port: self.web_port, ui_dir: self.ui_dir.clone(), ..WebOptions::default() };
        let handle = web::serve_for(cluster.clone(), options).await?;
        println!("microdeck: dashboard at {}", handle.login_url());
        Ok(handle)
    }
}
