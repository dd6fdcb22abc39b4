//! Typed reads from the span-carrying TOML tree: each getter reports a wrong type,
//! an unknown key or a value out of range where it sits, and carries on.

use std::ops::Range;
use std::time::Duration;

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::source::Report;
use super::{duration, suggest};

pub(crate) type Item<'i> = Spanned<DeValue<'i>>;

/// `parent.child`, quoting a child that is not a bare TOML key.
pub(crate) fn join(parent: &str, child: &str) -> String {
    let bare = !child.is_empty() && child.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let child = if bare { child.to_string() } else { format!("{child:?}") };
    if parent.is_empty() {
        child
    } else {
        format!("{parent}.{child}")
    }
}

fn article(kind: &str) -> &'static str {
    match kind {
        "integer" | "array" => "an",
        _ => "a",
    }
}

fn type_error(r: &mut Report<'_>, item: &Item<'_>, key: &str, want: &str, hint: Option<String>) {
    let found = item.get_ref().type_str();
    let message = format!("expected {} {want}, found {} {found}", article(want), article(found));
    r.error(&item.span(), key, message, hint);
}

/// Reports every key of `table` that is not in `known`, with the likeliest meant one.
pub(crate) fn unknown_keys(r: &mut Report<'_>, table: &DeTable<'_>, key: &str, known: &[&str]) {
    for (k, _) in table.iter() {
        let name = k.get_ref().as_ref();
        if known.contains(&name) {
            continue;
        }
        let hint = if name == "$schema" {
            Some("editors find the schema through a first-line comment: `#:schema ./manifest.schema.json`".into())
        } else {
            suggest::did_you_mean(name, known.iter().copied()).or_else(|| Some(format!("known keys: {}", known.join(", "))))
        };
        r.error(&k.span(), &join(key, name), format!("unknown key `{name}`"), hint);
    }
}

/// The item under `name` with its dotted key.
pub(crate) fn field<'a, 'i>(table: &'a DeTable<'i>, parent: &str, name: &str) -> Option<(&'a Item<'i>, String)> {
    table.get(name).map(|item| (item, join(parent, name)))
}

pub(crate) fn string<'a>(r: &mut Report<'_>, item: &'a Item<'_>, key: &str) -> Option<&'a str> {
    match item.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        DeValue::Integer(i) => {
            let hint = Some(format!("quote it: \"{}\"", i.as_str()));
            type_error(r, item, key, "string", hint);
            None
        }
        DeValue::Boolean(b) => {
            type_error(r, item, key, "string", Some(format!("quote it: \"{b}\"")));
            None
        }
        _ => {
            type_error(r, item, key, "string", None);
            None
        }
    }
}

/// A non-empty string.
pub(crate) fn text<'a>(r: &mut Report<'_>, item: &'a Item<'_>, key: &str) -> Option<&'a str> {
    let s = string(r, item, key)?;
    if s.trim().is_empty() {
        r.error(&item.span(), key, "must not be empty", None);
        return None;
    }
    Some(s)
}

pub(crate) fn integer(r: &mut Report<'_>, item: &Item<'_>, key: &str, range: Range<i64>, what: &str) -> Option<i64> {
    let n = match item.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => n,
            Err(_) => {
                r.error(&item.span(), key, "number too large", Some(what.to_string()));
                return None;
            }
        },
        DeValue::String(s) if s.trim().parse::<i64>().is_ok() => {
            type_error(r, item, key, "integer", Some(format!("drop the quotes: {}", s.trim())));
            return None;
        }
        _ => {
            type_error(r, item, key, "integer", Some(what.to_string()));
            return None;
        }
    };
    if !range.contains(&n) {
        r.error(&item.span(), key, format!("{n} is out of range {}..={}", range.start, range.end - 1), Some(what.to_string()));
        return None;
    }
    Some(n)
}

/// A number, integer or float, finite; a number in quotes is refused with a hint.
pub(crate) fn number(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<f64> {
    let v = match item.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|v| v.is_finite()),
        DeValue::String(s) if s.trim().parse::<f64>().is_ok() => {
            r.error(&item.span(), key, "expected a number, found a string", Some(format!("drop the quotes: {}", s.trim())));
            return None;
        }
        _ => None,
    };
    if v.is_none() {
        r.error(&item.span(), key, format!("expected a number, found {}", item.get_ref().type_str()), None);
    }
    v
}

pub(crate) fn boolean(r: &mut Report<'_>, item: &Item<'_>, key: &str) -> Option<bool> {
    match item.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        DeValue::String(s) if s == "true" || s == "false" => {
            type_error(r, item, key, "boolean", Some(format!("drop the quotes: {s}")));
            None
        }
        _ => {
            type_error(r, item, key, "boolean", Some("write true or false".into()));
            None
        }
    }
}

pub(crate) fn table<'a, 'i>(r: &mut Report<'_>, item: &'a Item<'i>, key: &str, hint: &str) -> Option<&'a DeTable<'i>> {
    match item.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            type_error(r, item, key, "table", Some(hint.to_string()));
            None
        }
    }
}

pub(crate) fn array<'a, 'i>(r: &mut Report<'_>, item: &'a Item<'i>, key: &str, hint: &str) -> Option<&'a DeArray<'i>> {
    match item.get_ref() {
        DeValue::Array(a) => Some(a),
        _ => {
            type_error(r, item, key, "array", Some(hint.to_string()));
            None
        }
    }
}

/// An array of strings, each with its span; wrong elements are reported and skipped.
pub(crate) fn strings(r: &mut Report<'_>, item: &Item<'_>, key: &str, hint: &str) -> Option<Vec<(String, Range<usize>)>> {
    let a = array(r, item, key, hint)?;
    let mut out = Vec::new();
    for (i, el) in a.iter().enumerate() {
        if let Some(s) = string(r, el, &format!("{key}[{i}]")) {
            out.push((s.to_string(), el.span()));
        }
    }
    Some(out)
}

/// One of a fixed set of words, with the likeliest meant one on a miss.
pub(crate) fn choice<T: Copy>(r: &mut Report<'_>, item: &Item<'_>, key: &str, options: &[(&str, T)]) -> Option<T> {
    let s = string(r, item, key)?;
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
        return Some(*v);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let hint = suggest::did_you_mean(s, names.iter().copied());
    r.error(&item.span(), key, format!("`{s}` is not one of {}", names.join(", ")), hint);
    None
}

/// A duration string such as "2s"; `min` is the smallest sensible value.
pub(crate) fn duration(r: &mut Report<'_>, item: &Item<'_>, key: &str, min: Duration) -> Option<Duration> {
    let s = match item.get_ref() {
        DeValue::Integer(i) => {
            type_error(r, item, key, "string", Some(format!("write \"{}s\" or \"{}ms\"", i.as_str(), i.as_str())));
            return None;
        }
        _ => string(r, item, key)?,
    };
    match duration::parse(s) {
        Ok(d) if d < min => {
            r.error(&item.span(), key, format!("must be at least {}", duration::format(min)), None);
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            r.error(&item.span(), key, e.to_string(), Some(e.hint));
            None
        }
    }
}
