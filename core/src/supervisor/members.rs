//! A service's replica set as its address must see it — ready, starting, leaving — published
//! by the service's actor after every change. The address follows it; a leaving replica is
//! signalled once the follower says its requests in flight are done (or its limit passed).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// One replica process, by its slot index and the port it listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    pub replica: u32,
    pub port: u16,
    /// The service revision it runs, so its traffic is counted for that revision.
    pub revision: u32,
}

/// A replica about to be signalled: out of the address now, its requests in flight drained.
#[derive(Debug, Clone)]
pub struct Leaving {
    pub member: Member,
    /// Most the drain may take (the service's `stop_grace`, capped by `DRAIN_LIMIT`).
    pub limit: Duration,
    /// Cancelled by the follower once the drain is over; the actor signals the process then.
    pub drained: CancellationToken,
}

impl PartialEq for Leaving {
    fn eq(&self, other: &Self) -> bool {
        self.member == other.member && self.limit == other.limit
    }
}

/// Every process of a service, in slot order. A member is in at most one list: a replica
/// that is leaving is never also ready.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaSet {
    /// The revision the service runs or rolls out now.
    pub revision: u32,
    pub ready: Vec<Member>,
    pub starting: Vec<Member>,
    pub leaving: Vec<Leaving>,
}
