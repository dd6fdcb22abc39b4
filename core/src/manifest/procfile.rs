//! Procfile import: `name: command` lines, accepted in place of a manifest.
//!
//! Each process becomes a service run by `sh -c` with `PORT` set to its replica's port
//! (so `$PORT` works as it does under foreman or Heroku), with the manifest's defaults:
//! one replica, `restart = "always"`, a 5 s stop grace, a free stable address, and a
//! **process-alive** health check. A Procfile does not say which processes listen:
//! a `worker` never binds `$PORT`, so a TCP probe would keep it unready forever, while
//! "alive = healthy" is right for every process and never wrong for a web one.
//!
//! Names follow the manifest's rule (lowercase letters, digits, `-`, `_`), since
//! they appear in placeholders, log file names and URLs; `Web:` gets a hint to lowercase.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::source::{Report, Text};
use super::validate::{self, Draft};
use super::{Diagnostic, LoadConfig, Manifest, Run};

pub(crate) const EMPTY_HINT: &str = "write one `name: command` line per process, e.g. `web: ./server --port $PORT`";

pub(crate) fn parse(text: &Text<'_>, file: &str, base_dir: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    let mut r = Report::new(file, text);
    let mut drafts: Vec<Draft> = Vec::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    let mut offset = 0;
    for (i, raw) in text.text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        let at = start + indent..start + line.len();
        let Some((name_raw, after)) = body.split_once(':') else {
            let hint = "e.g. `web: ./server --port $PORT`; comments start with `#`";
            r.error(&at, "", "not a `name: command` line", Some(hint.into()));
            continue;
        };
        let name = name_raw.trim_end();
        let command = after.trim();
        let name_span = at.start..at.start + name.len();
        let command_start = at.start + name_raw.len() + 1 + (after.len() - after.trim_start().len());
        if let Err((message, hint)) = validate::check_name(name) {
            r.error(&name_span, name, message, Some(hint));
            continue;
        }
        if command.is_empty() {
            let hint = format!("write the command after the colon: `{name}: ./{name}`");
            r.error(&name_span, name, format!("process `{name}` has no command"), Some(hint));
            continue;
        }
        if let Some(first) = first_line.get(name) {
            let message = format!("process `{name}` is already defined on line {first}");
            r.error(&name_span, name, message, Some("give each process its own name".into()));
            continue;
        }
        if drafts.len() == validate::MAX_SERVICES {
            validate::too_many_services(&mut r, &name_span, name);
            break;
        }
        first_line.insert(name.to_string(), i + 1);
        let command_span: Range<usize> = command_start..command_start + command.len();
        let run = Run::Shell { line: command.to_string() };
        drafts.push(Draft {
            service: validate::default_service(name, run, base_dir),
            key: name.to_string(),
                port_span: name_span,
            depends: Vec::new(),
            templates: vec![(name.to_string(), command.to_string(), command_span)],
        });
    }
    validate::cross_checks(&mut r, &drafts);
    if drafts.is_empty() && r.is_clean() {
        r.error(&(0..0), "", "no processes", Some(EMPTY_HINT.into()));
    }
    if !r.is_clean() {
        return Err(r.finish());
    }
    Ok(Manifest {
        name: validate::folder_name(base_dir, "procfile"),
        origin: None,
        base_dir: base_dir.to_path_buf(),
        services: drafts.into_iter().map(|d| d.service).collect(),
        load: LoadConfig::default(),
    })
}
