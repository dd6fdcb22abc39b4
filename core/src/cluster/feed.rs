//! The live feed's contract, one for every viewer (the web API's server-sent events, the
//! desktop app's channel), so the two cannot drift apart:
//!
//! - at most [`MAX_FLUSHES_PER_SEC`] flushes a second; a flush carries the events since the
//!   last one, one log batch and the snapshot if it changed (events before the snapshot);
//! - a log batch holds at most [`MAX_LINES`] lines and [`MAX_LOG_BYTES`] bytes: the newest are
//!   kept, the older counted as skipped (every line is in the service's log file);
//! - a viewer that reads slowly is sent less, never more: what arrives meanwhile is coalesced
//!   in a bounded [`LogBacklog`], not queued;
//! - a transport that does not push back by itself (the desktop channel, whose messages
//!   WebKit would queue without limit) keeps at most [`IN_FLIGHT`] flushes unacknowledged
//!   ([`Credit`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::snapshot::LogLine;

pub const MAX_FLUSHES_PER_SEC: u32 = 10;
/// The least time between two flushes.
pub const FLUSH_GAP: Duration = Duration::from_millis(1000 / MAX_FLUSHES_PER_SEC as u64);
/// Lines in one flush's log batch: a viewer keeps up with 20,000 lines a second.
pub const MAX_LINES: usize = 2000;
/// Bytes in one flush's log batch (as counted by [`line_bytes`]).
pub const MAX_LOG_BYTES: usize = 512 * 1024;
/// Events held for a slow viewer; older ones are still in `Cluster::events`.
pub const MAX_EVENTS: usize = 256;
/// Flushes a page may hold unacknowledged on a transport without backpressure.
pub const IN_FLIGHT: u64 = 2;
/// Updates queued between a subscription's task and its reader: about two flushes, so a slow
/// reader holds back the next flush (which coalesces meanwhile) and what it reads is recent.
pub const QUEUE: usize = 4;

/// What a line costs a viewer, about: its text and service name plus its JSON fields.
pub fn line_bytes(line: &LogLine) -> usize {
    line.text.len() + line.service.len() + 96
}

/// The log lines waiting for a viewer's next flush: the newest within [`MAX_LINES`] and
/// [`MAX_LOG_BYTES`], shared with the hub's batches (a line dropped here is never copied).
#[derive(Debug, Default)]
pub struct LogBacklog {
    /// Batches and the index of their first line still kept, oldest first.
    parts: VecDeque<(Arc<[LogLine]>, usize)>,
    lines: usize,
    bytes: usize,
    skipped: u64,
}

impl LogBacklog {
    /// Adds a batch (oldest first) that came after `skipped` lines this viewer never received.
    pub fn push(&mut self, batch: Arc<[LogLine]>, skipped: u64) {
        self.skipped += skipped;
        // Only the batch's own newest lines can fit: skip the rest without touching them.
        let mut start = batch.len().saturating_sub(MAX_LINES);
        let mut bytes: usize = batch[start..].iter().map(line_bytes).sum();
        while bytes > MAX_LOG_BYTES {
            bytes -= line_bytes(&batch[start]);
            start += 1;
        }
        self.skipped += start as u64;
        if start == batch.len() {
            return;
        }
        self.lines += batch.len() - start;
        self.bytes += bytes;
        self.parts.push_back((batch, start));
        self.evict();
    }

    /// Drops the oldest lines until the limits hold.
    fn evict(&mut self) {
        while self.lines > MAX_LINES || self.bytes > MAX_LOG_BYTES {
            let Some((batch, start)) = self.parts.front_mut() else { break };
            self.lines -= 1;
            self.bytes -= line_bytes(&batch[*start]);
            self.skipped += 1;
            *start += 1;
            if *start == batch.len() {
                self.parts.pop_front();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0 && self.skipped == 0
    }

    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The lines kept (oldest first) and how many were skipped before and among them; empties it.
    pub fn take(&mut self) -> Option<(Vec<LogLine>, u64)> {
        if self.is_empty() {
            return None;
        }
        let mut lines = Vec::with_capacity(self.lines);
        for (batch, start) in self.parts.drain(..) {
            lines.extend_from_slice(&batch[start..]);
        }
        let skipped = std::mem::take(&mut self.skipped);
        self.lines = 0;
        self.bytes = 0;
        Some((lines, skipped))
    }
}

/// The sending side's count of flushes against the page's count of those it has handled.
/// The page acknowledges with a running total, so a lost or late acknowledgement is made
/// good by the next one.
#[derive(Debug)]
pub struct Credit {
    sent: u64,
    /// The page's total, never past what was sent when it arrived.
    acked: u64,
    /// The last total the page sent, so one seen already is not counted again.
    last_total: u64,
    acks: watch::Receiver<u64>,
}

/// Where the page's acknowledgements go (the desktop app's `feed_ack` command).
#[derive(Debug)]
pub struct Acks(watch::Sender<u64>);

impl Acks {
    /// Records that the page has handled `received` flushes in all; never goes back.
    pub fn ack(&self, received: u64) {
        self.0.send_if_modified(|n| {
            let newer = received > *n;
            if newer {
                *n = received;
            }
            newer
        });
    }
}

impl Credit {
    pub fn new() -> (Credit, Acks) {
        let (tx, acks) = watch::channel(0);
        (Credit { sent: 0, acked: 0, last_total: 0, acks }, Acks(tx))
    }

    /// Waits until fewer than [`IN_FLIGHT`] flushes are unacknowledged; `false` once the
    /// acknowledging side is gone.
    pub async fn ready(&mut self) -> bool {
        loop {
            let total = *self.acks.borrow_and_update();
            if total != self.last_total {
                // An acknowledgement past what was sent (a confused page) grants no more credit.
                self.last_total = total;
                self.acked = self.acked.max(total.min(self.sent));
            }
            if self.unacknowledged() < IN_FLIGHT {
                return true;
            }
            if self.acks.changed().await.is_err() {
                return false;
            }
        }
    }

    /// Counts one flush as sent; called before the send, so its acknowledgement cannot
    /// arrive first.
    pub fn sent(&mut self) {
        self.sent += 1;
    }

    pub fn unacknowledged(&self) -> u64 {
        self.sent - self.acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Stream;

    fn line(seq: u64, text_len: usize) -> LogLine {
        LogLine { seq, at: 0, service: "yes".into(), replica: 0, stream: Stream::Stdout, level: None, text: "y".repeat(text_len) }
    }

    fn batch(first: u64, n: usize, text_len: usize) -> Arc<[LogLine]> {
        (first..first + n as u64).map(|s| line(s, text_len)).collect()
    }

    /// A producer far faster than its consumer: 2,000,000 lines in hub-sized batches, with the
    /// consumer taking one flush for every 500 batches and the hub skipping some on its own.
    #[test]
    fn a_fast_producer_and_a_slow_viewer_bounded_newest_kept_skipped_exact() {
        let mut backlog = LogBacklog::default();
        let (mut produced, mut delivered, mut skipped) = (0u64, 0u64, 0u64);
        let mut peak_lines = 0;
        let mut peak_bytes = 0;
        let (mut rounds, mut until_lost, mut until_take) = (0u64, 7, 500);
        while produced < 2_000_000 {
            rounds += 1;
            until_lost -= 1;
            until_take -= 1;
            // Every 7th batch the hub's broadcast overflowed: the viewer never sees 1,000 lines.
            let lost = if until_lost == 0 { 1000 } else { 0 };
            if until_lost == 0 {
                until_lost = 7;
            }
            produced += lost;
            let b = batch(produced, 1000, 5);
            produced += 1000;
            backlog.push(b, lost);
            peak_lines = peak_lines.max(backlog.len());
            peak_bytes = peak_bytes.max(backlog.bytes());
            if until_take == 0 {
                until_take = 500;
                let (lines, s) = backlog.take().expect("a backlog after 500 batches");
                assert_eq!(lines.last().map(|l| l.seq), Some(produced - 1), "the newest line is delivered");
                assert!(lines.windows(2).all(|w| w[1].seq == w[0].seq + 1), "lines kept are contiguous and in order");
                delivered += lines.len() as u64;
                skipped += s;
            }
        }
        if let Some((lines, s)) = backlog.take() {
            delivered += lines.len() as u64;
            skipped += s;
        }
        assert!(peak_lines <= MAX_LINES && peak_bytes <= MAX_LOG_BYTES, "{peak_lines} lines, {peak_bytes} bytes");
        assert_eq!(delivered + skipped, produced, "every line is delivered or counted as skipped");
        assert!(delivered <= (rounds / 500 + 1) * MAX_LINES as u64);
    }

    #[test]
    fn long_lines_are_bounded_by_bytes_and_the_newest_kept() {
        let mut backlog = LogBacklog::default();
        // 16 KiB lines: only 31 fit in 512 KiB with their overhead.
        backlog.push(batch(0, 40, 16 * 1024), 0);
        backlog.push(batch(40, 40, 16 * 1024), 0);
        assert!(backlog.bytes() <= MAX_LOG_BYTES);
        let (lines, skipped) = backlog.take().unwrap();
        let fit = MAX_LOG_BYTES / line_bytes(&line(0, 16 * 1024));
        assert_eq!(lines.len(), fit);
        assert_eq!(lines.last().unwrap().seq, 79);
        assert_eq!(skipped, 80 - fit as u64);
        assert!(backlog.take().is_none(), "taking empties it");
    }

    #[test]
    fn a_backlog_within_its_limits_delivers_every_line_with_the_skips_it_was_told() {
        // (batches as (skipped before, lines), lines delivered, skipped reported)
        type Case = (&'static [(u64, usize)], usize, u64);
        let cases: &[Case] = &[
            (&[(0, 10)], 10, 0),
            (&[(3, 10), (0, 5)], 15, 3),
            (&[(0, 1200), (0, 1200)], MAX_LINES, 2400 - MAX_LINES as u64),
            (&[(0, 2500)], MAX_LINES, 2500 - MAX_LINES as u64),
            (&[(7, 0)], 0, 7),
        ];
        for (batches, want_lines, want_skipped) in cases {
            let mut backlog = LogBacklog::default();
            let mut seq = 0;
            for (skip, n) in batches.iter() {
                seq += skip;
                backlog.push(batch(seq, *n, 10), *skip);
                seq += *n as u64;
            }
            let (lines, skipped) = backlog.take().unwrap();
            assert_eq!((lines.len(), skipped), (*want_lines, *want_skipped), "{batches:?}");
        }
        assert!(LogBacklog::default().take().is_none());
    }

    #[tokio::test]
    async fn credit_allows_in_flight_flushes_and_waits_for_the_page() {
        let (mut credit, acks) = Credit::new();
        for _ in 0..IN_FLIGHT {
            assert!(credit.ready().await);
            credit.sent();
        }
        assert_eq!(credit.unacknowledged(), IN_FLIGHT);
        let waited = tokio::time::timeout(Duration::from_millis(50), credit.ready()).await;
        assert!(waited.is_err(), "no credit while the page has handled nothing");
        // A stale acknowledgement changes nothing; a running total frees what it covers.
        acks.ack(1);
        acks.ack(0);
        assert!(credit.ready().await);
        credit.sent();
        assert!(tokio::time::timeout(Duration::from_millis(50), credit.ready()).await.is_err());
        // An acknowledgement past what was sent grants nothing extra.
        acks.ack(100);
        assert!(credit.ready().await);
        credit.sent();
        credit.sent();
        assert_eq!(credit.unacknowledged(), 2);
        assert!(tokio::time::timeout(Duration::from_millis(50), credit.ready()).await.is_err());
        // An acknowledgement that arrives while the sender waits wakes it.
        let waiting = tokio::spawn(async move {
            let ready = credit.ready().await;
            (ready, credit)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        acks.ack(101);
        let (ready, mut credit) = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").expect("no panic");
        assert!(ready);
        assert_eq!(credit.unacknowledged(), 0);
        credit.sent();
        credit.sent();
        drop(acks);
        assert!(!credit.ready().await, "the page is gone");
    }
}
