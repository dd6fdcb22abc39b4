//! Draining a replica's pipes: one thread per stream doing large blocking reads, so a child
//! is read as fast as it writes, whatever the file or the ring cost. What was read waits
//! for the writer thread inside a hub-wide byte budget; only a spent budget makes a
//! reader wait, and only then does the child block on a full pipe.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crossbeam_channel::Sender;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::events::now_ms;
use super::writer::{Source, ToWriter};

/// Bytes asked of a pipe per read: a whole default pipe (64 KiB) at once.
pub const READ_BYTES: usize = 64 * 1024;
/// A captured pipe's capacity: Linux's default ceiling for an unprivileged process
/// (`/proc/sys/fs/pipe-max-size`), 16 times the default pipe.
pub const PIPE_BYTES: i32 = 1024 * 1024;
/// A reader thread only reads and copies; its stack needs little.
const READER_STACK: usize = 128 * 1024;

/// Bytes read from children but not yet written to their files, hub-wide.
#[derive(Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    /// A budget of `bytes`, at least one full read.
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(bytes.max(READ_BYTES))))
    }

    /// Holds `n` bytes of the budget until the permit is dropped, waiting while it is spent.
    fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        match self.0.clone().try_acquire_many_owned(n) {
            Ok(permit) => Some(permit),
            Err(TryAcquireError::NoPermits) => futures_executor::block_on(self.0.clone().acquire_many_owned(n)).ok(),
            Err(TryAcquireError::Closed) => None,
        }
    }

    /// Ends the budget for good: a reader waiting in it, or asking later, goes on without
    /// a permit. Called when the writer thread ends, since reads it left queued in its
    /// channel keep their permits until every sender is gone, and would hold a reader forever.
    pub fn close(&self) {
        self.0.close();
    }

    /// A guard that closes the budget when dropped, on any exit of its holder.
    pub fn close_on_drop(self) -> CloseOnDrop {
        CloseOnDrop(self)
    }

    /// Bytes of the budget free right now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// Closes its budget when dropped (see [`Budget::close`]).
pub struct CloseOnDrop(Budget);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A child's pipe end as a blocking file, for a reader thread (tokio hands it non-blocking).
/// The pipe is widened to [`PIPE_BYTES`] where the system allows, so a child writing in
/// bursts rarely waits while its reader thread is off the CPU.
pub fn blocking_pipe(fd: OwnedFd) -> io::Result<std::fs::File> {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    // Best effort: past the per-user pipe allowance the kernel refuses, and 64 KiB still works.
    let _kept_default = fcntl(&fd, FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
    Ok(std::fs::File::from(fd))
}

/// Starts a thread reading `reader` to its end; the receiver resolves when it has.
pub fn spawn_reader<R>(reader: R, source: Source, to_writer: Sender<ToWriter>, budget: Budget) -> io::Result<oneshot::Receiver<()>>
where
    R: Read + Send + 'static,
{
    let (done, finished) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("microdeck-log-read".into())
        .stack_size(READER_STACK)
        .spawn(move || {
            read_to_end(reader, source, &to_writer, &budget);
            drop(done);
        })?;
    Ok(finished)
}

fn read_to_end<R: Read>(mut reader: R, source: Source, to_writer: &Sender<ToWriter>, budget: &Budget) {
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // The time the bytes arrived, not the time the budget let them through.
        let at = now_ms();
        let permit = budget.take(n);
        // Exact size: the copy of a small read must not hold a whole read buffer.
        let bytes = buf[..n].to_vec();
        if to_writer.send(ToWriter::Bytes { source, at, bytes, permit }).is_err() {
            // The hub has stopped: keep reading, so the child never blocks on a full pipe.
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        }
    }
    let _stopped = to_writer.send(ToWriter::End(source));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const DEADLINE: Duration = Duration::from_secs(60);

    fn poll(what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_captured_pipe_blocks_and_is_widened_where_the_system_allows() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let before = fcntl(&read, FcntlArg::F_GETPIPE_SZ).expect("size");
        let file = blocking_pipe(read).expect("a pipe the system will not widen still works");
        let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL).expect("flags"));
        assert!(!flags.contains(OFlag::O_NONBLOCK), "the reader thread gets a blocking pipe");
        // Widening is best effort (the kernel refuses past the per-user pipe allowance): the
        // pipe is the full size or keeps its own, never anything else.
        let after = fcntl(&file, FcntlArg::F_GETPIPE_SZ).expect("size");
        assert!(after == PIPE_BYTES || after == before, "pipe of {after} bytes (was {before})");
        if after != PIPE_BYTES {
            eprintln!("the system kept this pipe at {after} bytes");
        }
        // Whatever its size, a burst that fills it goes in with nobody reading.
        let flags = OFlag::from_bits_truncate(fcntl(&write, FcntlArg::F_GETFL).expect("flags"));
        fcntl(&write, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).expect("non-blocking");
        let mut w = std::fs::File::from(write);
        let size = usize::try_from(after).expect("a size");
        assert!(w.write_all(&vec![b'x'; size]).is_ok(), "a {size}-byte burst fits without a reader");
    }

    #[test]
    fn the_budget_bounds_what_is_held_and_the_child_waits_only_past_it() {
        let budget_bytes = 4 * READ_BYTES;
        let budget = Budget::new(budget_bytes);
        let (tx, rx) = crossbeam_channel::bounded(1024);
        let (pipe_out, mut pipe_in) = std::io::pipe().expect("pipe");
        let source = Source { service: 0, reader: 0, replica: 0, stream: crate::snapshot::Stream::Stdout };
        let ended = spawn_reader(pipe_out, source, tx, budget.clone()).expect("reader");
        // Far more than the budget, a pipe and a read buffer hold together.
        let input: Vec<u8> = (0..200_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        assert!(input.len() > budget_bytes + 3 * READ_BYTES);
        let finished = std::sync::Arc::new(AtomicBool::new(false));
        let child = {
            let (input, finished) = (input.clone(), finished.clone());
            std::thread::spawn(move || {
                pipe_in.write_all(&input).expect("write");
                finished.store(true, Ordering::SeqCst);
            })
        };
        // Nobody writes the reads out: the reader stops once the budget is spent…
        poll("the budget spent", || budget.available() < READ_BYTES);
        let mut got: Vec<u8> = Vec::with_capacity(input.len());
        let mut permits = Vec::new();
        for message in rx.try_iter() {
            if let ToWriter::Bytes { bytes, permit, .. } = message {
                assert_eq!(permit.as_ref().map(|p| p.num_permits()), Some(bytes.len()));
                got.extend_from_slice(&bytes);
                // Kept: the budget stays spent.
                permits.push(permit);
            }
        }
        assert!(got.len() <= budget_bytes, "{} bytes held", got.len());
        // …and the child is held back by the full pipe.
        assert!(!finished.load(Ordering::SeqCst), "the child was never held back");
        // Written out (permits returned), the rest flows, in order, to the last byte.
        drop(permits);
        loop {
            match rx.recv_timeout(DEADLINE).expect("a read") {
                ToWriter::Bytes { bytes, .. } => got.extend_from_slice(&bytes),
                ToWriter::End(_) => break,
                _ => {}
            }
        }
        child.join().expect("child");
        assert_eq!(got.len(), input.len());
        assert!(got == input, "bytes reordered");
        assert_eq!(budget.available(), budget_bytes);
        drop(ended);
    }

    #[test]
    fn a_reader_never_waits_on_the_budget_once_the_writer_has_ended() {
        let budget = Budget::new(READ_BYTES);
        let (tx, rx) = crossbeam_channel::bounded(16);
        // Stands for the window between the writer's last drain and its end: a read sent
        // then stays queued, its permit with it, until every sender is gone.
        let queue = rx.clone();
        let (_opens, opens_rx) = crossbeam_channel::bounded(1);
        let writer = super::super::writer::spawn(rx, opens_rx, budget.clone(), tokio_util::sync::CancellationToken::new())
            .expect("writer");
        tx.send(ToWriter::Stop).expect("stop");
        writer.join().expect("writer ends");
        let source = Source { service: 0, reader: 0, replica: 0, stream: crate::snapshot::Stream::Stdout };
        let late = budget.take(READ_BYTES);
        tx.send(ToWriter::Bytes { source, at: 0, bytes: vec![b'x'; READ_BYTES], permit: late }).expect("queued late");
        // A child still writing: its reader must neither stop nor hold it back.
        let (pipe_out, mut pipe_in) = std::io::pipe().expect("pipe");
        let ended = spawn_reader(pipe_out, source, tx.clone(), budget.clone()).expect("reader");
        let child = std::thread::spawn(move || {
            pipe_in.write_all(&vec![b'y'; 8 * READ_BYTES]).expect("write");
        });
        poll("the child's writes taken", || child.is_finished());
        child.join().expect("child");
        let start = Instant::now();
        let mut ended = ended;
        while ended.try_recv() == Err(oneshot::error::TryRecvError::Empty) {
            assert!(start.elapsed() < DEADLINE, "the reader never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(queue);
    }

}
