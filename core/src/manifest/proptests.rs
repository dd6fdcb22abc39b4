//! Property tests: whatever the bytes — random, or a valid manifest with bytes
//! flipped, cut short or lines dropped — the parsers return, never panic, and every
//! error they give is located inside the file.

use std::path::Path;

use proptest::prelude::*;

use super::{parse_manifest, parse_procfile, LoadError};

const GOOD: &str = include_str!("../../../tests/fixtures/good/full.toml");
const GOOD_PROCFILE: &str = include_str!("../../../tests/fixtures/good/Procfile");

/// Parses both ways; asserts every diagnostic points at a line that exists.
fn parse_all(bytes: &[u8]) {
    let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    for result in [parse_manifest(bytes, "f", Path::new(".")), parse_procfile(bytes, "f", Path::new("."))] {
        if let Err(LoadError::Invalid { diagnostics, .. }) = result {
            assert!(!diagnostics.is_empty(), "an invalid file has at least one error");
            for d in diagnostics {
                assert!(d.line >= 1 && d.line <= lines && d.column >= 1, "{d} is outside a {lines}-line file");
            }
        }
    }
}

/// An edit of a valid file: flip a byte, cut it short, drop or duplicate a line.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Truncate(usize),
    DropLine(usize),
    DupLine(usize),
    Insert(usize, String),
}

fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Flip(i, b) => {
                if let Some(x) = bytes.get_mut(i % n) {
                    *x ^= b | 1;
                }
            }
            Edit::Truncate(i) => bytes.truncate(i % n),
            Edit::DropLine(i) | Edit::DupLine(i) => {
                let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let at = i % lines.len().max(1);
                if matches!(e, Edit::DropLine(_)) {
                    if at < lines.len() {
                        lines.remove(at);
                    }
                } else if let Some(l) = lines.get(at).cloned() {
                    lines.insert(at, l);
                }
                bytes = lines.join(&b'\n');
            }
            Edit::Insert(i, s) => {
                let at = i % n;
                bytes.splice(at.min(bytes.len())..at.min(bytes.len()), s.bytes());
            }
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::DropLine),
        any::<usize>().prop_map(Edit::DupLine),
        (any::<usize>(), prop::sample::select(vec!["{{", "}}", "\"", "[", "]]", "=", "\n", "é", "\u{0}", "$PORT", "{{x.y}}", "[services.a]\n"]))
            .prop_map(|(i, s)| Edit::Insert(i, s.to_string())),
    ]
}

proptest! {
    // 512 cases a run; `PROPTEST_CASES=100000` for a long soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[\\[\\]{}=\"'.a-z0-9_$\n #:-]{0,300}") {
        parse_all(text.as_bytes());
    }

    #[test]
    fn mutated_manifests_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        parse_all(&apply(GOOD, &edits));
    }

    #[test]
    fn mutated_procfiles_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        parse_all(&apply(GOOD_PROCFILE, &edits));
    }
}

#[test]
fn the_unmutated_inputs_are_valid() {
    assert!(parse_manifest(GOOD.as_bytes(), "full.toml", Path::new(".")).is_ok());
    assert!(parse_procfile(GOOD_PROCFILE.as_bytes(), "Procfile", Path::new(".")).is_ok());
}
