//! The bundled sample cluster: its manifest and its lessons, embedded in the binary so
//! `microdeck up` with no file runs it.

use std::path::{Path, PathBuf};

use crate::manifest::{LoadError, Manifest};

/// `services/cluster.toml`, as built into this binary.
pub const BUNDLED_MANIFEST: &str = include_str!("../../services/cluster.toml");

/// The bundled manifest, its programs looked up from the running executable's folder
/// (where the sample programs are installed beside `microdeck`).
pub fn manifest() -> Result<Manifest, LoadError> {
    let base = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("."));
    let mut m = crate::manifest::parse_manifest(BUNDLED_MANIFEST.as_bytes(), "cluster.toml (bundled)", &base)?;
    m.origin = Some(crate::manifest::Origin::Bundled);
    Ok(m)
}

/// `services/lessons/*.toml`, as built into this binary: (file name, text), in teaching order.
pub const BUNDLED_LESSONS: [(&str, &str); 8] = [
    ("fault-isolation.toml", include_str!("../../services/lessons/fault-isolation.toml")),
    ("slow-dependency.toml", include_str!("../../services/lessons/slow-dependency.toml")),
    ("independent-scaling.toml", include_str!("../../services/lessons/independent-scaling.toml")),
    ("autoscaling.toml", include_str!("../../services/lessons/autoscaling.toml")),
    ("freedom-of-technology.toml", include_str!("../../services/lessons/freedom-of-technology.toml")),
    ("independent-deployment.toml", include_str!("../../services/lessons/independent-deployment.toml")),
    ("roll-back.toml", include_str!("../../services/lessons/roll-back.toml")),
    ("data-per-service.toml", include_str!("../../services/lessons/data-per-service.toml")),
];

/// The bundled lessons, parsed (a test keeps them valid; one that is not is left out).
pub fn lessons() -> Vec<crate::lessons::Lesson> {
    BUNDLED_LESSONS
        .iter()
        .filter_map(|(file, text)| crate::lessons::parse_lesson(text.as_bytes(), &format!("{file} (bundled)")).ok())
        .collect()
}

/// The bundled lessons as the list and lesson pages show them.
pub fn lesson_outlines() -> Vec<crate::lessons::LessonOutline> {
    lessons().iter().map(crate::lessons::LessonOutline::of).collect()
}

/// A bundled lesson by name.
pub fn lesson(name: &str) -> Option<crate::lessons::Lesson> {
    lessons().into_iter().find(|l| l.name == name)
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
    fn bundled_lessons_are_valid_and_name_only_what_the_sample_cluster_has() {
        let m = crate::manifest::parse_manifest(BUNDLED_MANIFEST.as_bytes(), "cluster.toml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
        for (file, text) in BUNDLED_LESSONS {
            let lesson = crate::lessons::parse_lesson(text.as_bytes(), file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format!("{}.toml", lesson.name), file, "a lesson's file is named after it");
            for service in &lesson.services {
                assert!(m.service(service).is_some(), "{file} needs `{service}`, which the sample cluster lacks");
            }
            for action in lesson.steps.iter().flat_map(|s| &s.actions) {
                if let crate::lessons::Action::StartLoad { scenario, .. } = action {
                    assert!(m.load.scenarios.iter().any(|s| &s.name == scenario), "{file} starts `{scenario}`, which the sample cluster lacks");
                }
            }
        }
        assert_eq!(lessons().len(), BUNDLED_LESSONS.len(), "none left out");
        assert!(lesson("independent-scaling").is_some() && lesson("no-such").is_none());
    }
}
