//! Level parsing: a JSON line's `level`/`severity` field, or a leading level token.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::snapshot::Level;

/// The level a log line states, if it states one.
///
/// JSON lines (`{"level":"INFO",...}`, `severity`, `log.level`, any key case; pino-style
/// numbers too) are read by their field; other lines by their first word, which may sit in
/// brackets or follow a timestamp (`2024-01-01 12:00:00,123 WARNING ...`, `[... INFO x] ...`).
pub fn parse_level(line: &str) -> Option<Level> {
    // Level words and JSON keys are ASCII letters: a line without one (a counter, a
    // number) states no level, and is the common case in a flood.
    if !line.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Some(level) = json_level(trimmed) {
            return Some(level);
        }
    }
    token_level(trimmed)
}

/// A level word, any case: `info`, `WARNING`, `err`, `fatal`...
pub fn level_from_word(word: &str) -> Option<Level> {
    const WORDS: &[(&str, Level)] = &[
        ("trace", Level::Trace),
        ("debug", Level::Debug),
        ("dbg", Level::Debug),
        ("info", Level::Info),
        ("inf", Level::Info),
        ("notice", Level::Info),
        ("warn", Level::Warn),
        ("warning", Level::Warn),
        ("wrn", Level::Warn),
        ("error", Level::Error),
        ("err", Level::Error),
        ("fatal", Level::Error),
        ("critical", Level::Error),
        ("crit", Level::Error),
        ("panic", Level::Error),
    ];
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, level)| *level)
}

/// Pino/bunyan numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50+ error.
fn level_from_number(n: f64) -> Option<Level> {
    match n {
        n if n >= 50.0 => Some(Level::Error),
        n if n >= 40.0 => Some(Level::Warn),
        n if n >= 30.0 => Some(Level::Info),
        n if n >= 20.0 => Some(Level::Debug),
        n if n >= 10.0 => Some(Level::Trace),
        _ => None,
    }
}

fn token_level(line: &str) -> Option<Level> {
    // Up to three words: a timestamp may take two (`2024-01-01 12:00:00,123`).
    for token in line.split_whitespace().take(3) {
        let token = token.trim_start_matches(['[', '(', '<']);
        let word_end = token
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(token.len());
        if let Some(level) = level_from_word(&token[..word_end]) {
            return Some(level);
        }
        // Only a timestamp-looking word may come before the level.
        if !token.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
    }
    None
}

fn json_level(line: &str) -> Option<Level> {
    serde_json::from_str::<JsonLevel>(line).ok()?.0
}

/// The level field of a JSON object, every other field skipped unparsed.
struct JsonLevel(Option<Level>);

impl<'de> serde::Deserialize<'de> for JsonLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(JsonLevelVisitor)
    }
}

struct JsonLevelVisitor;

impl<'de> Visitor<'de> for JsonLevelVisitor {
    type Value = JsonLevel;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonLevel, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let is_level = ["level", "severity", "log.level", "lvl"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key));
            if is_level && found.is_none() {
                found = match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(s) => level_from_word(s.trim()),
                    serde_json::Value::Number(n) => n.as_f64().and_then(level_from_number),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(JsonLevel(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_table() {
        let table: &[(&str, Option<Level>)] = &[
            (
                r#"{"timestamp":"x","level":"INFO","fields":{"message":"hi"}}"#,
                Some(Level::Info),
            ),
            (r#"{"level":"warn","msg":"disk"}"#, Some(Level::Warn)),
            (
                r#"{"Severity":"ERROR","message":"boom"}"#,
                Some(Level::Error),
            ),
            (r#"{"LEVEL":"Debug"}"#, Some(Level::Debug)),
            (r#"{"log.level":"trace"}"#, Some(Level::Trace)),
            (r#"{"level":30,"msg":"pino"}"#, Some(Level::Info)),
            (r#"{"level":50}"#, Some(Level::Error)),
            (r#"{"msg":"no level here"}"#, None),
            (
                r#"{"msg":"INFO inside","level":"warning"}"#,
                Some(Level::Warn),
            ),
            (r#"{"nested":{"level":"error"},"x":1}"#, None),
            (r#"{broken json"#, None),
            ("INFO server started", Some(Level::Info)),
            ("info: lower case", Some(Level::Info)),
            ("WARN slow", Some(Level::Warn)),
            ("WARNING:root:python default", Some(Level::Warn)),
            ("[ERROR] failed", Some(Level::Error)),
            ("[debug] x", Some(Level::Debug)),
            ("  TRACE indented", Some(Level::Trace)),
            (
                "2024-01-01T00:00:00.123Z  INFO app: tracing fmt",
                Some(Level::Info),
            ),
            (
                "2024-01-01 12:00:00,123 ERROR python asctime",
                Some(Level::Error),
            ),
            (
                "[2024-01-01T00:00:00Z WARN  app] env_logger",
                Some(Level::Warn),
            ),
            ("FATAL out of memory", Some(Level::Error)),
            ("INFORMATION is not a level word", None),
            ("Debugging is not either", None),
            ("hello INFO later words do not count", None),
            ("GET /index.html 200", None),
            ("", None),
            ("12345", None),
        ];
        for (line, want) in table {
            assert_eq!(parse_level(line), *want, "line: {line:?}");
        }
    }
}
