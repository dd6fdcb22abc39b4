//! The file as text: reads at most [`MAX_FILE_BYTES`], refuses empty and binary input, maps
//! byte offsets to line:column, and collects diagnostics in source order.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use super::Diagnostic;

/// The largest manifest, Procfile or lesson file read: text a person writes, not data.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The file's bytes, refused once past [`MAX_FILE_BYTES`]: `/dev/zero` or a big file picked by
/// mistake costs one MiB of reading, never all the memory.
pub fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let message = format!("more than {MAX_FILE_BYTES} bytes; a manifest, Procfile or lesson is at most 1 MiB of text");
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, message));
    }
    Ok(bytes)
}

/// Decoded text with its line index; columns count characters, both 1-based.
pub(crate) struct Text<'a> {
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Text<'a> {
    /// Checks the bytes are non-empty UTF-8 text; `empty_hint` says what to write instead.
    pub fn decode(bytes: &'a [u8], file: &str, empty_hint: &str) -> Result<Text<'a>, Diagnostic> {
        // Editors on Windows may prefix a byte-order mark; it is not content.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let at = |offset: usize, message: String, hint: &str| {
            let before = &bytes[..offset];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
            Diagnostic { file: file.to_string(), line, column, key: String::new(), message, hint: Some(hint.to_string()) }
        };
        if let Some(nul) = bytes.iter().position(|b| *b == 0) {
            return Err(at(nul, "binary file: NUL byte".into(), "expected UTF-8 text; is this the right file?"));
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let off = e.valid_up_to();
                let byte = bytes.get(off).copied().unwrap_or_default();
                return Err(at(off, format!("not UTF-8 text: byte 0x{byte:02x}"), "save the file as UTF-8"));
            }
        };
        if text.trim().is_empty() {
            return Err(Diagnostic {
                file: file.to_string(),
                line: 1,
                column: 1,
                key: String::new(),
                message: "empty file".into(),
                hint: Some(empty_hint.to_string()),
            });
        }
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Ok(Text { text, line_starts })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self.text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    fn line(&self, index: usize) -> &'a str {
        let start = self.line_starts.get(index).copied().unwrap_or(self.text.len());
        let end = self.line_starts.get(index + 1).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    /// Best guess at the dotted key a syntax error sits in: the last table header
    /// above it, plus the key left of `=` on its own line.
    pub fn key_near(&self, offset: usize) -> String {
        let (line, _) = self.position(offset);
        let here = self.line(line - 1).trim();
        if let Some(header) = header_key(here) {
            return header;
        }
        let mut parts = Vec::new();
        if let Some(table) = (0..line - 1).rev().find_map(|i| header_key(self.line(i).trim())) {
            parts.push(table);
        }
        if let Some((k, _)) = here.split_once('=') {
            if let Some(k) = dotted(k) {
                parts.push(k);
            }
        }
        parts.join(".")
    }
}

impl Text<'_> {
    /// `key = some text` is the commonest slip of TOML newcomers; say to quote it.
    pub fn unquoted_hint(&self, offset: usize) -> Option<String> {
        let (line, _) = self.position(offset);
        let (_, value) = self.line(line - 1).split_once('=')?;
        let value = value.trim();
        let first = value.chars().next()?;
        // Quoted values, arrays, tables, booleans, numbers and dates have their own mistakes.
        let typed = "\"'[{+-".contains(first) || first.is_ascii_digit() || matches!(value, "true" | "false" | "inf" | "nan");
        (!typed).then(|| format!("quote text values: \"{}\"", value.replace('"', "\\\"")))
    }
}

/// `[a.b]` / `[[a.b]]` → `a.b`.
fn header_key(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    dotted(&inner[..end])
}

/// A plausible TOML key path, normalised: `a . "b"` → `a.b`.
fn dotted(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw.split('.').map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'')).collect();
    let ok = parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || "_-$ ".contains(c)));
    ok.then(|| parts.join("."))
}

/// Collects a file's diagnostics; syntax errors win over checks on the same line.
pub(crate) struct Report<'t> {
    pub file: String,
    pub text: &'t Text<'t>,
    diags: Vec<Diagnostic>,
    syntax_lines: Vec<usize>,
}

impl<'t> Report<'t> {
    pub fn new(file: &str, text: &'t Text<'t>) -> Self {
        Report { file: file.to_string(), text, diags: Vec::new(), syntax_lines: Vec::new() }
    }

    pub fn syntax(&mut self, span: Option<Range<usize>>, message: &str) {
        let offset = span.map_or(self.text.text.len(), |s| s.start);
        let key = self.text.key_near(offset);
        let (line, column) = self.text.position(offset);
        // The parser's recovery often adds a cascade on the same line; the first says it.
        if self.syntax_lines.contains(&line) {
            return;
        }
        self.syntax_lines.push(line);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            key,
            message: format!("TOML syntax: {message}"),
            hint: self.text.unquoted_hint(offset),
        });
    }

    pub fn error(&mut self, span: &Range<usize>, key: &str, message: impl Into<String>, hint: Option<String>) {
        let (line, column) = self.text.position(span.start);
        self.diags.push(Diagnostic { file: self.file.clone(), line, column, key: key.to_string(), message: message.into(), hint });
    }

    /// Parses the text as TOML, reporting its syntax errors; the tree is partial when the
    /// second value is false (a key then "missing" may only be unreadable).
    pub fn parse(&mut self) -> (toml::Spanned<toml::de::DeTable<'t>>, bool) {
        let (root, errors) = toml::de::DeTable::parse_recoverable(self.text.text);
        for e in &errors {
            self.syntax(e.span(), e.message());
        }
        (root, errors.is_empty())
    }

    pub fn is_clean(&self) -> bool {
        self.diags.is_empty()
    }

    /// The diagnostics in source order, minus checks shadowed by a syntax error on their line.
    pub fn finish(self) -> Vec<Diagnostic> {
        let syntax = self.syntax_lines;
        let mut diags: Vec<Diagnostic> = self
            .diags
            .into_iter()
            .filter(|d| d.message.starts_with("TOML syntax") || !syntax.contains(&d.line))
            .collect();
        diags.sort_by_key(|d| (d.line, d.column));
        diags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_one_byte_past_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at_cap = dir.path().join("at-cap.toml");
        std::fs::write(&at_cap, vec![b'#'; MAX_FILE_BYTES as usize]).expect("write");
        assert_eq!(read_capped(&at_cap).expect("at the cap").len() as u64, MAX_FILE_BYTES);
        let over = dir.path().join("over.toml");
        std::fs::write(&over, vec![b'#'; MAX_FILE_BYTES as usize + 1]).expect("write");
        for path in [over.as_path(), Path::new("/dev/zero")] {
            let e = read_capped(path).err().unwrap_or_else(|| panic!("{} was read", path.display()));
            assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{}: {e}", path.display());
            assert!(e.to_string().contains("at most 1 MiB"), "{e}");
        }
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let t = Text::decode("a = 1\nbé = \"x\"\n".as_bytes(), "f", "").expect("text");
        assert_eq!(t.position(0), (1, 1));
        assert_eq!(t.position(6), (2, 1));
        // `=` after a two-byte character is the fourth character.
        assert_eq!(t.position(t.text.rfind('=').expect("an =")), (2, 4));
        assert_eq!(t.position(10_000), (3, 1));
    }

    #[test]
    fn empty_binary_and_non_utf8_input_are_located() {
        let e = Text::decode(b"  \n\t", "f", "hint").err().expect("empty");
        assert_eq!((e.line, e.message.as_str()), (1, "empty file"));
        let e = Text::decode(b"a = 1\nb\x00c", "f", "").err().expect("nul");
        assert_eq!((e.line, e.column), (2, 2));
        assert!(e.message.contains("binary"));
        let e = Text::decode(b"ok\n\xff", "f", "").err().expect("latin1");
        assert_eq!((e.line, e.column), (2, 1));
        assert!(Text::decode(b"\xEF\xBB\xBFa = 1", "f", "").is_ok());
    }

    #[test]
    fn syntax_errors_name_the_enclosing_key() {
        let t = Text::decode(b"[services.web]\ncommand = \"a\"\nport = 80 80\n", "f", "").expect("text");
        assert_eq!(t.key_near(t.text.len() - 3), "services.web.port");
        assert_eq!(t.key_near(3), "services.web");
    }

    #[test]
    fn unquoted_text_gets_a_quoting_hint() {
        let t = Text::decode(b"a = ./web\nb = 80 80\nc = web server\n", "f", "").expect("text");
        assert_eq!(t.unquoted_hint(4).as_deref(), Some("quote text values: \"./web\""));
        assert_eq!(t.unquoted_hint(14), None);
        assert_eq!(t.unquoted_hint(24).as_deref(), Some("quote text values: \"web server\""));
    }
}
