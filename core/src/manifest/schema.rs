//! The manifest's JSON Schema, generated from [`super::raw`] and checked in at
//! `core/schema/manifest.schema.json` so editors (Taplo's `#:schema` comment) can
//! complete and check a manifest. Draft-07 (the dialect every TOML editor reads), and
//! optional keys are simply not required: TOML has no null.
//!
//! A manifest references it with a Taplo first-line comment, relative to itself: the
//! bundled `services/cluster.toml` starts with
//! `#:schema ../core/schema/manifest.schema.json`. Checks that need the whole file
//! (cycles, unknown `depends_on`, placeholders, duplicate ports) are `microdeck check`'s.

use schemars::generate::SchemaSettings;

use super::raw::RawManifest;

/// Where the checked-in schema lives, relative to the `core/` crate.
pub const SCHEMA_PATH: &str = "schema/manifest.schema.json";

/// The schema as a JSON value.
pub fn json_schema() -> serde_json::Value {
    let mut v = SchemaSettings::draft07().into_generator().into_root_schema_for::<RawManifest>().to_value();
    strip_null(&mut v);
    v
}

/// `Option<T>` reads as "T or null"; in TOML it means "may be left out", which
/// `required` already says.
fn strip_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let kept: Vec<Value> = any.iter().filter(|s| s.get("type") != Some(&Value::from("null"))).cloned().collect();
                if kept.len() == 1 {
                    map.remove("anyOf");
                    if let Some(Value::Object(inner)) = kept.into_iter().next() {
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}

/// The schema as the checked-in file spells it: pretty JSON and a final newline.
pub fn render() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{scenario, validate};
    use super::*;

    fn properties(schema: &serde_json::Value, def: Option<&str>) -> Vec<String> {
        let node = match def {
            Some(d) => &schema["definitions"][d],
            None => schema,
        };
        let mut keys: Vec<String> = node["properties"].as_object().expect("properties").keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn schema_file_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let generated = render();
        if std::env::var_os("MICRODECK_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().expect("schema folder")).expect("create schema folder");
            std::fs::write(&path, &generated).expect("write schema");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{} differs from the schema generated from core/src/manifest/raw.rs;\n\
             regenerate it with: MICRODECK_BLESS=1 cargo test -p microdeck schema",
            path.display()
        );
    }

    #[test]
    fn schema_and_validator_know_the_same_keys() {
        let s = json_schema();
        assert_eq!(properties(&s, None), sorted(validate::TOP_KEYS));
        assert_eq!(properties(&s, Some("RawService")), sorted(validate::SERVICE_KEYS));
        assert_eq!(properties(&s, Some("RawHealth")), sorted(validate::HEALTH_KEYS));
        assert_eq!(properties(&s, Some("RawAutoscale")), sorted(super::super::autoscale::AUTOSCALE_KEYS));
        assert_eq!(properties(&s, Some("RawAutoscaleTarget")), sorted(super::super::autoscale::TARGET_KEYS));
        assert_eq!(properties(&s, Some("RawLoad")), sorted(scenario::LOAD_KEYS));
        assert_eq!(properties(&s, Some("RawScenario")), sorted(scenario::SCENARIO_KEYS));
        assert_eq!(properties(&s, Some("RawRequest")), sorted(scenario::REQUEST_KEYS));
        assert_eq!(properties(&s, Some("RawSetup")), sorted(scenario::SETUP_KEYS));
    }

    #[test]
    fn good_fixtures_fit_the_schema_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/good");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("good fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let raw: Result<RawManifest, _> = toml::from_str(&text);
                assert!(raw.is_ok(), "{}: {:?}", path.display(), raw.err());
                assert!(text.starts_with("#:schema "), "{} should reference the schema on its first line", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected good manifests in {}", dir.display());
    }
}
