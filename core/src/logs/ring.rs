//! The in-memory ring of one service's newest lines, and the query filter over it.

use std::collections::VecDeque;

use crate::cluster::LogQuery;
use crate::snapshot::{Level, LogLine};

/// A ring never holds more text than this, whatever `ring_lines` says (16 KiB lines add up).
pub const RING_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Newest lines of one service, bounded by count and by bytes.
#[derive(Debug)]
pub struct Ring {
    lines: VecDeque<LogLine>,
    max_lines: usize,
    bytes: usize,
}

impl Ring {
    pub fn new(max_lines: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(max_lines.min(1024)),
            max_lines: max_lines.max(1),
            bytes: 0,
        }
    }

    pub fn push(&mut self, line: LogLine) {
        self.bytes += line.text.len();
        self.lines.push_back(line);
        while self.lines.len() > self.max_lines || self.bytes > RING_MAX_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.text.len(),
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The newest `limit` lines matching `filter`, oldest first.
    pub fn newest(&self, filter: &Filter, limit: usize) -> Vec<LogLine> {
        let mut out: Vec<LogLine> = self
            .lines
            .iter()
            .rev()
            .filter(|l| filter.matches(l))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// A [`LogQuery`] prepared for matching many lines.
#[derive(Debug, Clone)]
pub struct Filter {
    service: Option<String>,
    replica: Option<u32>,
    level: Option<Level>,
    text: Option<String>,
}

impl Filter {
    pub fn new(query: &LogQuery) -> Self {
        Self {
            service: query.service.clone(),
            replica: query.replica,
            level: query.level,
            text: query
                .text
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(str::to_lowercase),
        }
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        self.service.as_ref().is_none_or(|s| *s == line.service)
            && self.replica.is_none_or(|r| r == line.replica)
            // Lines that state no level are kept by a level filter.
            && self.level.is_none_or(|min| line.level.is_none_or(|l| l >= min))
            && self.text.as_ref().is_none_or(|t| contains_ignore_case(&line.text, t))
    }
}

fn contains_ignore_case(haystack: &str, lower_needle: &str) -> bool {
    if haystack.is_ascii() && lower_needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), lower_needle.as_bytes());
        return n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(lower_needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Stream;

    fn line(seq: u64, replica: u32, level: Option<Level>, text: &str) -> LogLine {
        LogLine {
            seq,
            at: seq,
            service: "api".into(),
            replica,
            stream: Stream::Stdout,
            level,
            text: text.into(),
        }
    }

    #[test]
    fn ring_keeps_the_newest_lines() {
        let mut ring = Ring::new(3);
        for i in 0..10 {
            ring.push(line(i, 0, None, "x"));
        }
        assert_eq!(ring.len(), 3);
        let seqs: Vec<u64> = ring
            .newest(&Filter::new(&LogQuery::default()), 10)
            .iter()
            .map(|l| l.seq)
            .collect();
        assert_eq!(seqs, [7, 8, 9]);
    }

    #[test]
    fn ring_memory_is_bounded_by_bytes_too() {
        let mut ring = Ring::new(5000);
        let big = "x".repeat(1024 * 1024);
        for i in 0..100 {
            ring.push(line(i, 0, None, &big));
            assert!(ring.bytes <= RING_MAX_BYTES);
        }
        assert_eq!(ring.len(), RING_MAX_BYTES / big.len());
        assert_eq!(ring.lines.back().map(|l| l.seq), Some(99));
    }

    #[test]
    fn filter_by_replica_level_and_text() {
        let mut ring = Ring::new(100);
        ring.push(line(1, 0, Some(Level::Debug), "debug chatter"));
        ring.push(line(2, 1, Some(Level::Error), "Database DOWN"));
        ring.push(line(3, 0, None, "plain database line"));
        ring.push(line(4, 0, Some(Level::Warn), "Ünïcode Database"));
        ring.push(line(5, 0, Some(Level::Info), "other"));
        let seqs = |q: LogQuery, limit| -> Vec<u64> {
            ring.newest(&Filter::new(&q), limit)
                .iter()
                .map(|l| l.seq)
                .collect()
        };
        assert_eq!(
            seqs(
                LogQuery {
                    level: Some(Level::Warn),
                    ..Default::default()
                },
                10
            ),
            [2, 3, 4]
        );
        assert_eq!(
            seqs(
                LogQuery {
                    replica: Some(0),
                    ..Default::default()
                },
                10
            ),
            [1, 3, 4, 5]
        );
        assert_eq!(
            seqs(
                LogQuery {
                    text: Some("database".into()),
                    ..Default::default()
                },
                10
            ),
            [2, 3, 4]
        );
        assert_eq!(
            seqs(
                LogQuery {
                    text: Some("ÜNÏ".into()),
                    ..Default::default()
                },
                10
            ),
            [4]
        );
        assert_eq!(
            seqs(
                LogQuery {
                    text: Some("ünï".into()),
                    ..Default::default()
                },
                10
            ),
            [4]
        );
        assert_eq!(seqs(LogQuery::default(), 2), [4, 5]);
        assert_eq!(
            seqs(
                LogQuery {
                    service: Some("web".into()),
                    ..Default::default()
                },
                10
            ),
            Vec::<u64>::new()
        );
    }
}
