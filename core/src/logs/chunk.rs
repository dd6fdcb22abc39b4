//! A chunk of lines: what one read of a child's stream yields, stored as one text buffer
//! plus a small record per line, so a flood costs no allocation per line.

use super::level::parse_level;
use crate::snapshot::{Level, LogLine, Stream};

/// Where a line ends in [`Chunk::text`] and the level it states.
#[derive(Debug, Clone, Copy)]
struct LineEnd {
    end: u32,
    level: Option<Level>,
}

/// Lines of one replica's stream, read together (so they share a time), in order.
#[derive(Debug)]
pub struct Chunk {
    pub at: u64,
    pub replica: u32,
    pub stream: Stream,
    /// The lines back to back, without separators.
    text: String,
    ends: Vec<LineEnd>,
}

impl Chunk {
    /// An empty chunk with room for about `bytes` of text in `lines` lines.
    pub fn with_capacity(at: u64, replica: u32, stream: Stream, bytes: usize, lines: usize) -> Self {
        Self { at, replica, stream, text: String::with_capacity(bytes), ends: Vec::with_capacity(lines) }
    }

    /// Appends a line, reading its level from the text.
    pub fn push(&mut self, text: &str) {
        self.push_with_level(text, parse_level(text));
    }

    pub fn push_with_level(&mut self, text: &str, level: Option<Level>) {
        self.text.push_str(text);
        // A chunk holds one read (at most a few MiB), far below u32::MAX.
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.ends.push(LineEnd { end, level });
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of text in lines `from..`.
    pub fn text_bytes_from(&self, from: usize) -> usize {
        let start = if from == 0 { 0 } else { self.ends.get(from - 1).map_or(self.text.len(), |e| e.end as usize) };
        self.text.len() - start
    }

    /// Line `i`: its text and level.
    pub fn line(&self, i: usize) -> (&str, Option<Level>) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].end as usize };
        let e = self.ends[i];
        (self.text.get(start..e.end as usize).unwrap_or(""), e.level)
    }

    /// Every line in order: (text, level).
    pub fn lines(&self) -> impl DoubleEndedIterator<Item = (&str, Option<Level>)> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.line(i))
    }

    /// Line `i` as a [`LogLine`] numbered `seq` of `service`.
    pub fn log_line(&self, i: usize, seq: u64, service: &str) -> LogLine {
        let (text, level) = self.line(i);
        LogLine {
            seq,
            at: self.at,
            service: service.to_string(),
            replica: self.replica,
            stream: self.stream,
            level,
            text: text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_with_their_levels() {
        let mut c = Chunk::with_capacity(5, 1, Stream::Stderr, 0, 0);
        c.push("ERROR boom");
        c.push("");
        c.push_with_level("note", Some(Level::Warn));
        let got: Vec<_> = c.lines().collect();
        assert_eq!(got, [("ERROR boom", Some(Level::Error)), ("", None), ("note", Some(Level::Warn))]);
        assert_eq!(c.text_bytes_from(0), 14);
        assert_eq!(c.text_bytes_from(2), 4);
        assert_eq!(c.text_bytes_from(3), 0);
        let l = c.log_line(2, 9, "api");
        assert_eq!((l.seq, l.at, l.replica, l.service.as_str(), l.text.as_str()), (9, 5, 1, "api", "note"));
    }
}
