//! The live feed's contract on a real flood: a service that writes as fast as it can, read by
//! a viewer far slower than the flood.

use std::time::{Duration, Instant};

use microdeck::cluster::feed::{line_bytes, MAX_FLUSHES_PER_SEC, MAX_LINES, MAX_LOG_BYTES};
use microdeck::cluster::Update;

use super::util::*;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// At most 10 log batches a second, each within the contract's bounds; every line between two
/// batches is counted as skipped, exactly (the service numbers its lines); the newest lines
/// are the ones delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_reaches_a_slow_viewer_paced_bounded_newest_first_and_counted_exactly() {
    let (cluster, _dir) = cluster(
        r#"
name = "flood"
[services.yes]
command = "yes"
args = ["a line of the flood"]
"#,
    )
    .await;
    let mut sub = cluster.subscribe();
    let watched = Duration::from_secs(6);
    let start = Instant::now();
    let (mut batches, mut delivered, mut skipped_between) = (0u64, 0u64, 0u64);
    let mut last_seq: Option<u64> = None;
    let mut oldest_newest = 0u64;
    while start.elapsed() < watched {
        let update = tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.expect("an update in time").expect("the feed is open");
        let Update::Logs { lines, skipped } = update else { continue };
        batches += 1;
        assert!(lines.len() <= MAX_LINES, "{} lines in one batch", lines.len());
        let bytes: usize = lines.iter().map(line_bytes).sum();
        assert!(bytes <= MAX_LOG_BYTES, "{bytes} bytes in one batch");
        assert!(lines.windows(2).all(|w| w[1].seq == w[0].seq + 1), "a batch's lines are contiguous");
        if let (Some(prev), Some(first)) = (last_seq, lines.first()) {
            assert_eq!(first.seq - prev - 1, skipped, "skipped count against the service's own line numbers");
            skipped_between += skipped;
        }
        if let Some(l) = lines.last() {
            last_seq = Some(l.seq);
            // Newest first: what a slow viewer gets is recent, not the flood's backlog.
            let age = now_ms().saturating_sub(l.at);
            oldest_newest = oldest_newest.max(age);
        }
        delivered += lines.len() as u64;
        // A viewer four times slower than the feed's pace.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{batches} log batches in {secs:.1} s: {delivered} lines shown, {skipped_between} skipped between them; newest line at most {oldest_newest} ms old");
    assert!(batches >= 3, "the flood reached the viewer: {batches} batches");
    assert!(batches as f64 <= secs * f64::from(MAX_FLUSHES_PER_SEC) + 1.0, "{batches} batches in {secs:.1} s");
    assert!(skipped_between > delivered, "a flood outruns a slow viewer: {skipped_between} skipped, {delivered} shown");
    assert!(oldest_newest <= 5_000, "a batch's newest line was {oldest_newest} ms old");
    drop(sub);
    cluster.shutdown().await;
}
