//! Placeholder expansion in `args`, `shell` and `env`:
//! `{{NAME.url}}` → `http://127.0.0.1:PORT` of service NAME's stable address,
//! `{{NAME.port}}` / `{{NAME.host}}`, `{{self.port}}` and `$PORT` / `${PORT}` → the replica's own port.

use std::collections::BTreeMap;

/// What a placeholder can refer to when one replica is launched.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// service name → its stable address port.
    pub addresses: BTreeMap<String, u16>,
    pub self_port: u16,
}

/// Expands every known placeholder; unknown ones are left as written (validation reports them).
pub fn expand(template: &str, ctx: &Context) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let inner = after[..end].trim();
                match resolve(inner, ctx) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let port = ctx.self_port.to_string();
    out.replace("${PORT}", &port).replace("$PORT", &port)
}

fn resolve(inner: &str, ctx: &Context) -> Option<String> {
    let (name, field) = inner.split_once('.')?;
    let port = if name == "self" { ctx.self_port } else { *ctx.addresses.get(name)? };
    match field {
        "port" => Some(port.to_string()),
        "url" if name != "self" => Some(format!("http://127.0.0.1:{port}")),
        "url" => Some(format!("http://127.0.0.1:{port}")),
        "host" => Some(format!("127.0.0.1:{port}")),
        _ => None,
    }
}

/// The `{{NAME.field}}` references in a template, for validation.
pub fn references(template: &str) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Some((n, f)) = after[..end].trim().split_once('.') {
            refs.push((n.to_string(), f.to_string()));
        }
        rest = &after[end + 2..];
    }
    refs
}
