//! A cap on a listener's open connections, shared by the service addresses and the local
//! API: past it a new connection waits in the kernel's backlog, where it holds no file
//! descriptor of the engine's, until one closes; one line says so, at most once a minute.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The line saying the cap is reached is written at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub struct ConnectionCap {
    slots: Arc<Semaphore>,
    most: usize,
    /// Names the listener in the log line ("the local API", "the address of users").
    listener: String,
    logged: Option<Instant>,
}

impl ConnectionCap {
    pub fn new(most: usize, listener: impl Into<String>) -> ConnectionCap {
        ConnectionCap { slots: Arc::new(Semaphore::new(most)), most, listener: listener.into(), logged: None }
    }

    /// A slot for the next connection, held until the connection ends; waits for one to be
    /// given back when all are taken.
    pub async fn slot(&mut self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return slot;
        }
        if self.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::error!("{} has {} connections open, its most: new ones wait until one closes", self.listener, self.most);
            self.logged = Some(Instant::now());
        }
        loop {
            // The semaphore is never closed: every permit comes back when its connection ends.
            if let Ok(slot) = self.slots.clone().acquire_owned().await {
                return slot;
            }
        }
    }
}
