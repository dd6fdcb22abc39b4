//! The backend set of one service and how a request picks from it, without a lock:
//! the set lives in an `ArcSwap`, round-robin is an `AtomicUsize`, and each backend
//! counts its in-flight requests (for least-in-flight, and for the drain before a replica stops).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hyper::header::HeaderValue;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::manifest::Balance;

/// A ready replica the proxy may send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    pub replica: u32,
    pub addr: SocketAddr,
}

/// Counters of one backend; they outlive a `set_backends` that keeps the backend.
#[derive(Debug)]
pub struct BackendCounters {
    /// `host:port`, for a request that names no `Host` (built once, not per request).
    pub authority: HeaderValue,
    pub in_flight: AtomicUsize,
    pub requests: AtomicU64,
    /// Connect failures, resets and other upstream errors (the 502s).
    pub failures: AtomicU64,
    /// Set while someone waits for this backend to go idle; only then does the last
    /// request out wake them, so the hot path stays one atomic.
    draining: AtomicBool,
    idle: Notify,
}

#[derive(Debug)]
pub struct BackendEntry {
    pub backend: Backend,
    pub counters: Arc<BackendCounters>,
}

/// What a caller can read about one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub replica: u32,
    pub addr: SocketAddr,
    pub in_flight: usize,
    pub requests: u64,
    pub failures: u64,
}

/// Marks one request (or TCP connection) in flight on a backend until dropped.
#[derive(Debug)]
pub struct InFlight {
    counters: Arc<BackendCounters>,
    pub backend: Backend,
}

impl InFlight {
    pub fn counters(&self) -> &BackendCounters {
        &self.counters
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let before = self.counters.in_flight.fetch_sub(1, Ordering::AcqRel);
        if before == 1 && self.counters.draining.load(Ordering::Acquire) {
            self.counters.idle.notify_waiters();
        }
    }
}

impl BackendCounters {
    fn new(backend: Backend) -> BackendCounters {
        BackendCounters {
            authority: HeaderValue::from_str(&backend.addr.to_string()).unwrap_or(HeaderValue::from_static("localhost")),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            idle: Notify::new(),
        }
    }

    /// Waits until nothing is in flight here, until `deadline`; true if it got idle.
    async fn idle_by(&self, deadline: Instant) -> bool {
        self.draining.store(true, Ordering::Release);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between the two is not lost.
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return self.in_flight.load(Ordering::Acquire) == 0,
            }
        }
    }
}

/// The current backends of one service and the picking policy.
#[derive(Debug)]
pub struct Balancer {
    set: ArcSwap<Vec<BackendEntry>>,
    /// Backends removed while requests were still in flight on them, for `drain`.
    leaving: ArcSwap<Vec<BackendEntry>>,
    next: AtomicUsize,
    balance: Balance,
}

impl Balancer {
    pub fn new(balance: Balance) -> Self {
        Self {
            set: ArcSwap::from_pointee(Vec::new()),
            leaving: ArcSwap::from_pointee(Vec::new()),
            next: AtomicUsize::new(0),
            balance,
        }
    }

    /// Replaces the set with the ready backends; a backend that stays (or comes back) keeps
    /// its counters.
    pub fn set(&self, backends: Vec<Backend>) {
        let current = self.set.load_full();
        let leaving = self.leaving.load_full();
        let known = || current.iter().chain(leaving.iter());
        let slots: Vec<BackendEntry> = backends
            .into_iter()
            .map(|backend| {
                let counters = known()
                    .find(|s| s.backend == backend)
                    .map(|s| s.counters.clone())
                    .unwrap_or_else(|| Arc::new(BackendCounters::new(backend)));
                BackendEntry { backend, counters }
            })
            .collect();
        let still_busy: Vec<BackendEntry> = known()
            .filter(|s| !slots.iter().any(|n| n.backend == s.backend))
            .filter(|s| s.counters.in_flight.load(Ordering::Acquire) > 0)
            .map(|s| BackendEntry {
                backend: s.backend,
                counters: s.counters.clone(),
            })
            .collect();
        self.set.store(Arc::new(slots));
        self.leaving.store(Arc::new(still_busy));
    }

    /// Waits (until `deadline`) for the requests in flight on `backend` to finish;
    /// call it after removing the backend from the set. True if it is idle.
    pub async fn drain(&self, backend: Backend, deadline: Instant) -> bool {
        let counters = {
            let current = self.set.load();
            let leaving = self.leaving.load();
            current
                .iter()
                .chain(leaving.iter())
                .find(|s| s.backend == backend)
                .map(|s| s.counters.clone())
        };
        match counters {
            Some(counters) => counters.idle_by(deadline).await,
            None => true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.load().is_empty()
    }

    pub fn status(&self) -> Vec<BackendStatus> {
        self.set
            .load()
            .iter()
            .map(|s| BackendStatus {
                replica: s.backend.replica,
                addr: s.backend.addr,
                in_flight: s.counters.in_flight.load(Ordering::Acquire),
                requests: s.counters.requests.load(Ordering::Relaxed),
                failures: s.counters.failures.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Picks a backend other than `exclude` and counts a request in flight on it.
    pub fn pick(&self, exclude: Option<Backend>) -> Option<InFlight> {
        let set = self.set.load();
        let n = set.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut candidates = (0..n)
            .map(|k| &set[(start + k) % n])
            .filter(|s| Some(s.backend) != exclude);
        let slot = match self.balance {
            Balance::RoundRobin => candidates.next(),
            // Ties go to the round-robin order, so equal loads still spread.
            Balance::LeastInflight => {
                candidates.min_by_key(|s| s.counters.in_flight.load(Ordering::Acquire))
            }
        }?;
        slot.counters.in_flight.fetch_add(1, Ordering::AcqRel);
        slot.counters.requests.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            counters: slot.counters.clone(),
            backend: slot.backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(replica: u32) -> Backend {
        Backend {
            replica,
            addr: SocketAddr::from(([127, 0, 0, 1], 9000 + replica as u16)),
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_excluded() {
        let b = Balancer::new(Balance::RoundRobin);
        assert!(b.pick(None).is_none());
        b.set(vec![backend(0), backend(1), backend(2)]);
        let picks: Vec<u32> = (0..6)
            .map(|_| b.pick(None).expect("pick").backend.replica)
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        for _ in 0..6 {
            assert_ne!(b.pick(Some(backend(1))).expect("pick").backend.replica, 1);
        }
        b.set(vec![backend(1)]);
        assert!(b.pick(Some(backend(1))).is_none());
    }

    #[test]
    fn least_in_flight_prefers_the_idle_backend() {
        let b = Balancer::new(Balance::LeastInflight);
        b.set(vec![backend(0), backend(1)]);
        let held = b.pick(None).expect("pick");
        let busy = held.backend.replica;
        for _ in 0..5 {
            let other = b.pick(None).expect("pick");
            assert_ne!(other.backend.replica, busy);
        }
        drop(held);
        let status = b.status();
        assert!(status.iter().all(|s| s.in_flight == 0), "{status:?}");
        assert_eq!(status.iter().map(|s| s.requests).sum::<u64>(), 6);
    }

    #[tokio::test]
    async fn drain_waits_for_the_last_request_of_a_removed_backend() {
        let b = Arc::new(Balancer::new(Balance::RoundRobin));
        b.set(vec![backend(0), backend(1)]);
        let first = b.pick(None).expect("pick");
        let second = b.pick(None).expect("pick");
        assert_eq!((first.backend, second.backend), (backend(0), backend(1)));
        b.set(vec![backend(1)]);
        for _ in 0..4 {
            assert_eq!(b.pick(None).expect("pick").backend, backend(1));
        }
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert!(
            !b.drain(backend(0), soon).await,
            "busy: not idle by the deadline"
        );
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                b.drain(
                    backend(0),
                    Instant::now() + std::time::Duration::from_secs(30),
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        let idle = tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
            .await
            .expect("woken")
            .expect("join");
        assert!(idle);
        // Unknown or idle backends drain at once.
        assert!(b.drain(backend(9), Instant::now()).await);
        drop(second);
    }

    #[test]
    fn a_kept_backend_keeps_its_counters() {
        let b = Balancer::new(Balance::RoundRobin);
        b.set(vec![backend(0), backend(1)]);
        let held = b.pick(None).expect("pick");
        b.set(vec![held.backend, backend(2)]);
        let status = b.status();
        assert_eq!(status[0].in_flight, 1);
        drop(held);
        assert_eq!(b.status()[0].in_flight, 0);
        assert_eq!(b.status()[0].requests, 1);
    }
}
