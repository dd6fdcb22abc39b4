//! The services running now — each actor's handle, its address and the definition it
//! runs — with the manifest they came from. Kept in an `ArcSwap`: a reload builds the
//! next set and swaps it in whole, so readers (snapshots, the resource sampler) take no lock.

use std::collections::BTreeMap;
use std::path::Path;

use crate::manifest::{Manifest, Service};
use crate::proxy::ServiceProxy;
use crate::supervisor::spawn::ServiceEnv;
use crate::supervisor::ServiceHandle;

use super::ClusterOptions;

/// One running service.
#[derive(Clone)]
pub(super) struct Running {
    pub handle: ServiceHandle,
    /// Its stable address.
    pub proxy: ServiceProxy,
    /// The definition its actor runs (what the next reload compares against).
    pub service: Service,
}

pub(super) struct ServiceSet {
    pub manifest: Manifest,
    /// In manifest order.
    pub services: Vec<Running>,
}

impl ServiceSet {
    pub fn get(&self, name: &str) -> Option<&Running> {
        self.services.iter().find(|r| r.handle.name == name)
    }

    /// The pids of every replica, for the resource sampler.
    pub fn pids(&self) -> Vec<u32> {
        self.services.iter().flat_map(|r| r.handle.view.borrow().replicas.iter().filter_map(|p| p.pid).collect::<Vec<_>>()).collect()
    }
}

/// Where a service's replicas run: the manifest's folder, the cluster's folders, and the
/// stable address of every service (for `{{name.url}}` placeholders).
pub(super) fn service_env(options: &ClusterOptions, base_dir: &Path, ports: &BTreeMap<String, u16>) -> ServiceEnv {
    ServiceEnv {
        base_dir: base_dir.to_path_buf(),
        program_dirs: options.program_dirs.clone(),
        data_dir: options.data_dir.clone(),
        addresses: ports.clone(),
    }
}
