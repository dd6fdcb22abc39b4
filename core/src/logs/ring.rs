//! The in-memory ring of one service's newest lines, and the query filter over it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::chunk::Chunk;
use crate::snapshot::{Level, LogLine};

/// A ring never holds more text than this, whatever `ring_lines` says (16 KiB lines add up).
pub const RING_MAX_BYTES: usize = 32 * 1024 * 1024;

/// A filter over the in-memory log rings, newest `limit` lines returned oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogQuery {
    pub service: Option<String>,
    pub replica: Option<u32>,
    /// Lines at this level or above (lines with no level are kept).
    pub level: Option<Level>,
    /// Case-insensitive substring.
    pub text: Option<String>,
    pub limit: Option<usize>,
}

/// Newest lines of one service, bounded by count and by bytes: whole chunks, each with
/// the number of its oldest lines already dropped, so keeping a line costs no allocation.
#[derive(Debug)]
pub struct Ring {
    blocks: VecDeque<Block>,
    max_lines: usize,
    lines: usize,
    bytes: usize,
}

#[derive(Debug)]
struct Block {
    /// The sequence number of the chunk's first line.
    first_seq: u64,
    chunk: Chunk,
    /// Lines dropped from the front of the chunk.
    skip: usize,
}

impl Ring {
    pub fn new(max_lines: usize) -> Self {
        Self {
            blocks: VecDeque::new(),
            max_lines: max_lines.max(1),
            lines: 0,
            bytes: 0,
        }
    }

    /// Keeps `chunk`, whose first line is numbered `first_seq`, dropping the oldest lines
    /// past the bounds.
    pub fn push(&mut self, first_seq: u64, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        self.lines += chunk.len();
        self.bytes += chunk.text_bytes_from(0);
        self.blocks.push_back(Block { first_seq, chunk, skip: 0 });
        while self.lines > self.max_lines || self.bytes > RING_MAX_BYTES {
            let Some(front) = self.blocks.front_mut() else { break };
            self.bytes -= front.chunk.line(front.skip).0.len();
            front.skip += 1;
            self.lines -= 1;
            if front.skip == front.chunk.len() {
                self.blocks.pop_front();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// The newest `limit` lines of `service` matching `filter`, oldest first.
    pub fn newest(&self, service: &str, filter: &Filter, limit: usize) -> Vec<LogLine> {
        if !filter.service_matches(service) {
            return Vec::new();
        }
        let mut out: Vec<LogLine> = Vec::new();
        'blocks: for b in self.blocks.iter().rev() {
            for i in (b.skip..b.chunk.len()).rev() {
                if out.len() >= limit {
                    break 'blocks;
                }
                let (text, level) = b.chunk.line(i);
                if filter.matches_line(b.chunk.replica, level, text) {
                    out.push(b.chunk.log_line(i, b.first_seq + i as u64, service));
                }
            }
        }
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

    pub fn service_matches(&self, service: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
    }

    /// The filter on one line of a service that [`service_matches`](Self::service_matches).
    pub fn matches_line(&self, replica: u32, level: Option<Level>, text: &str) -> bool {
        self.replica.is_none_or(|r| r == replica)
            // Lines that state no level are kept by a level filter.
            && self.level.is_none_or(|min| level.is_none_or(|l| l >= min))
            && self.text.as_ref().is_none_or(|t| contains_ignore_case(text, t))
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

    /// A one-line chunk, numbered `seq`, to push as `ring.push(seq, chunk)`.
    fn line(seq: u64, replica: u32, level: Option<Level>, text: &str) -> (u64, Chunk) {
        let mut c = Chunk::with_capacity(seq, replica, Stream::Stdout, 0, 0);
        c.push_with_level(text, level);
        (seq, c)
    }

    fn push(ring: &mut Ring, (seq, chunk): (u64, Chunk)) {
        ring.push(seq, chunk);
    }

    #[test]
    fn ring_keeps_the_newest_lines() {
        let mut ring = Ring::new(3);
        for i in 0..10 {
            push(&mut ring, line(i, 0, None, "x"));
        }
        assert_eq!(ring.len(), 3);
        let seqs: Vec<u64> = ring
            .newest("api", &Filter::new(&LogQuery::default()), 10)
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
            push(&mut ring, line(i, 0, None, &big));
            assert!(ring.bytes <= RING_MAX_BYTES);
        }
        assert_eq!(ring.len(), RING_MAX_BYTES / big.len());
        assert_eq!(ring.blocks.back().map(|b| b.first_seq), Some(99));
    }

    #[test]
    fn lines_are_dropped_one_by_one_from_whole_chunks() {
        let mut ring = Ring::new(5);
        let mut seq = 1;
        for n in [3, 4, 2] {
            let mut c = Chunk::with_capacity(seq, 0, Stream::Stdout, 0, 0);
            for i in 0..n {
                c.push(&format!("l{}", seq + i));
            }
            ring.push(seq, c);
            seq += n;
        }
        let all = Filter::new(&LogQuery::default());
        let got: Vec<(u64, String)> = ring.newest("api", &all, 10).into_iter().map(|l| (l.seq, l.text)).collect();
        let want: Vec<(u64, String)> = (5..=9).map(|s| (s, format!("l{s}"))).collect();
        assert_eq!(got, want);
        assert_eq!(ring.blocks.len(), 2, "the first chunk is gone once all its lines are");
        assert_eq!(ring.bytes, 10);
        let newest2: Vec<u64> = ring.newest("api", &all, 2).iter().map(|l| l.seq).collect();
        assert_eq!(newest2, [8, 9]);
    }

    #[test]
    fn filter_by_replica_level_and_text() {
        let mut ring = Ring::new(100);
        push(&mut ring, line(1, 0, Some(Level::Debug), "debug chatter"));
        push(&mut ring, line(2, 1, Some(Level::Error), "Database DOWN"));
        push(&mut ring, line(3, 0, None, "plain database line"));
        push(&mut ring, line(4, 0, Some(Level::Warn), "Ünïcode Database"));
        push(&mut ring, line(5, 0, Some(Level::Info), "other"));
        let seqs = |q: LogQuery, limit| -> Vec<u64> {
            ring.newest("api", &Filter::new(&q), limit)
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
