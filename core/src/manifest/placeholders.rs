//! Placeholder expansion in `args`, `shell` and `env`, done per replica at launch:
//!
//! - `{{NAME.url}}` → `http://127.0.0.1:PORT`, `{{NAME.port}}` → `PORT`,
//!   `{{NAME.host}}` → `127.0.0.1`, `{{NAME.addr}}` → `127.0.0.1:PORT`, where PORT is
//!   service NAME's stable address (so calls go through its proxy and are seen);
//! - `{{self.port}}` (and `self.url`, `self.addr`), `$PORT` and `${PORT}` → the
//!   replica's own port (`$PORTAL` is left alone);
//! - `{{name}}` (no dot) is a load-scenario variable, filled by [`fill`] from a setup
//!   response.
//!
//! Anything else — an unknown service, `{{` without `}}`, `{{.Go}}` templates — is
//! left exactly as written; validation reports references to unknown services.

use std::collections::BTreeMap;

/// The host every stable address and replica listens on.
pub const HOST: &str = "127.0.0.1";

/// The fields a `{{NAME.field}}` placeholder may ask for.
pub const FIELDS: [&str; 4] = ["url", "port", "host", "addr"];

/// What a placeholder can refer to when one replica is launched.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// service name → its stable address port.
    pub addresses: BTreeMap<String, u16>,
    pub self_port: u16,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// `{{name.field}}`; `raw` is the whole placeholder as written.
    Ref { name: &'a str, field: &'a str, raw: &'a str },
    /// `{{name}}`.
    Var { name: &'a str, raw: &'a str },
    /// `$PORT` or `${PORT}`, as written.
    Port(&'a str),
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn classify<'a>(inner: &'a str, raw: &'a str) -> Option<Piece<'a>> {
    match inner.split_once('.') {
        Some((name, field)) if is_name(name) && is_name(field) => Some(Piece::Ref { name, field, raw }),
        Some(_) => None,
        None if is_name(inner) => Some(Piece::Var { name: inner, raw }),
        None => None,
    }
}

/// Splits a template into text and placeholders, in one left-to-right pass.
fn pieces(t: &str) -> Vec<Piece<'_>> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut text_start) = (0, 0);
    // Every index sliced at below sits on an ASCII byte (`{`, `$`, `}`, `T`), so on a char boundary.
    while i < b.len() {
        let found = if b[i..].starts_with(b"{{") {
            t[i + 2..].find("}}").and_then(|end| {
                let raw = &t[i..i + 2 + end + 2];
                classify(t[i + 2..i + 2 + end].trim(), raw).map(|p| (p, raw.len()))
            })
        } else if b[i..].starts_with(b"${PORT}") {
            Some((Piece::Port(&t[i..i + 7]), 7))
        } else if b[i..].starts_with(b"$PORT") {
            let next = b.get(i + 5).copied().unwrap_or(b' ');
            (!(next.is_ascii_alphanumeric() || next == b'_')).then(|| (Piece::Port(&t[i..i + 5]), 5))
        } else {
            None
        };
        match found {
            Some((piece, len)) => {
                if text_start < i {
                    out.push(Piece::Text(&t[text_start..i]));
                }
                out.push(piece);
                i += len;
                text_start = i;
            }
            None => i += 1,
        }
    }
    if text_start < t.len() {
        out.push(Piece::Text(&t[text_start..]));
    }
    out
}

/// Expands every known placeholder; unknown ones are left as written (validation reports them).
pub fn expand(template: &str, ctx: &Context) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(s) | Piece::Var { raw: s, .. } => out.push_str(s),
            Piece::Port(_) => out.push_str(&ctx.self_port.to_string()),
            Piece::Ref { name, field, raw } => out.push_str(&resolve(name, field, ctx).unwrap_or_else(|| raw.to_string())),
        }
    }
    out
}

fn resolve(name: &str, field: &str, ctx: &Context) -> Option<String> {
    let port = if name == "self" { ctx.self_port } else { *ctx.addresses.get(name)? };
    match field {
        "port" => Some(port.to_string()),
        "url" => Some(format!("http://{HOST}:{port}")),
        "host" => Some(HOST.to_string()),
        "addr" => Some(format!("{HOST}:{port}")),
        _ => None,
    }
}

/// Fills `{{name}}` variables (a scenario's extracted values); the rest is left as written.
pub fn fill(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Var { name, raw } => out.push_str(vars.get(name).map_or(raw, String::as_str)),
            Piece::Text(s) | Piece::Ref { raw: s, .. } | Piece::Port(s) => out.push_str(s),
        }
    }
    out
}

/// The `{{NAME.field}}` references in a template, for validation.
pub fn references(template: &str) -> Vec<(String, String)> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref { name, field, .. } => Some((name.to_string(), field.to_string())),
            _ => None,
        })
        .collect()
}

/// The `{{name}}` variables in a template, for validation.
pub fn variables(template: &str) -> Vec<String> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var { name, .. } => Some(name.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context { addresses: [("users".to_string(), 7001), ("auth".to_string(), 7002)].into(), self_port: 40123 }
    }

    #[test]
    fn port_in_args_in_every_spelling() {
        let c = ctx();
        assert_eq!(expand("--port=$PORT", &c), "--port=40123");
        assert_eq!(expand("${PORT}", &c), "40123");
        assert_eq!(expand("{{self.port}}", &c), "40123");
        assert_eq!(expand("{{ self.port }}", &c), "40123");
        assert_eq!(expand("$PORT/$PORT", &c), "40123/40123");
        assert_eq!(expand("http://{{self.addr}}", &c), "http://127.0.0.1:40123");
    }

    #[test]
    fn port_is_a_whole_word() {
        let c = ctx();
        assert_eq!(expand("$PORTAL", &c), "$PORTAL");
        assert_eq!(expand("$PORT_X", &c), "$PORT_X");
        assert_eq!(expand("$PORT.", &c), "40123.");
        assert_eq!(expand("$POR", &c), "$POR");
        assert_eq!(expand("${PORT", &c), "${PORT");
    }

    #[test]
    fn other_services_resolve_to_their_stable_address() {
        let c = ctx();
        assert_eq!(expand("{{users.url}}/v1", &c), "http://127.0.0.1:7001/v1");
        assert_eq!(expand("{{auth.port}}", &c), "7002");
        assert_eq!(expand("{{auth.host}}:{{auth.port}}", &c), "127.0.0.1:7002");
        assert_eq!(expand("a={{users.addr}} b={{auth.url}}", &c), "a=127.0.0.1:7001 b=http://127.0.0.1:7002");
    }

    #[test]
    fn unknown_and_malformed_placeholders_are_left_alone() {
        let c = ctx();
        for t in [
            "{{nobody.url}}",
            "{{users.nope}}",
            "{{ users.url",
            "{{",
            "}}",
            "{{}}",
            "{{.Names}}",
            "{{token}}",
            "{{a b.url}}",
            "héllo {{ wörld }}",
            "",
        ] {
            assert_eq!(expand(t, &c), t);
        }
        assert_eq!(expand("{{{users.port}}}", &c), "{7001}");
        assert_eq!(expand("{{ users.url {{users.port}}", &c), "{{ users.url 7001");
        assert_eq!(expand("ünï {{users.port}} çødé", &c), "ünï 7001 çødé");
    }

    #[test]
    fn references_and_variables_are_listed_for_validation() {
        assert_eq!(
            references("{{users.url}} {{self.port}} {{x}} {{.Go}} {{Auth.port}}"),
            vec![("users".into(), "url".into()), ("self".into(), "port".into()), ("Auth".into(), "port".into())]
        );
        assert_eq!(variables("Bearer {{token}} {{ id }} {{users.url}}"), vec!["token".to_string(), "id".to_string()]);
    }

    #[test]
    fn fill_sets_scenario_variables_only() {
        let vars: BTreeMap<String, String> = [("token".to_string(), "abc".to_string())].into();
        assert_eq!(fill("Bearer {{token}}", &vars), "Bearer abc");
        assert_eq!(fill("{{other}} {{users.url}} $PORT ${PORT}", &vars), "{{other}} {{users.url}} $PORT ${PORT}");
    }
}
