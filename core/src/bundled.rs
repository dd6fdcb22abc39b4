//! The bundled sample cluster: its manifest, embedded in the binary so `microdeck up`
//! with no file runs it, and the wiping of its data folders (`microdeck reset-data`).

use std::path::Path;

/// `services/cluster.toml`, as built into this binary.
pub const BUNDLED_MANIFEST: &str = include_str!("../../services/cluster.toml");

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
    fn bundled_manifest_parses_with_five_services() {
        let m = crate::manifest::parse_manifest(BUNDLED_MANIFEST.as_bytes(), "cluster.toml", Path::new("."));
        let m = m.unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = m.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(m.name, "microdeck-sample");
        for s in ["gateway", "auth", "users", "media", "analytics"] {
            assert!(names.contains(&s), "{s} missing from {names:?}");
        }
        let scenarios: Vec<_> = m.load.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(scenarios, ["browse", "login-storm", "media", "mixed"]);
    }

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
